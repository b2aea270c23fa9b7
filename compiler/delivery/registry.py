"""Delivery transports by name: the built-ins, and those installed plugins add.

A plugin package adds a transport with an entry point in the group
``reportc.transports``; the object it names is called with the project and the
outbox folder (or None) and returns a :class:`~reportc.delivery.transports.Transport`::

    # the plugin's pyproject.toml
    [project.entry-points."reportc.transports"]
    pigeon = "reportc_pigeon:make_transport"

    # reportc_pigeon.py
    def make_transport(project, outbox):
        return PigeonTransport(...)   # name, max_message_bytes, preflight, send, close

It is then chosen like a built-in: ``delivery.transport: pigeon`` or ``--transport
pigeon``, and goes through the same ledger, rate limiter and retry policy. A plugin
cannot replace a built-in name. Entry points are only read when a name is not
built in, so a plain ``send`` never scans the installed packages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from ..config.model import Project
from ..errors import DeliveryError, Location, Problem, did_you_mean
from .transports import (
    OutboxTransport,
    SesTransport,
    SmtpTransport,
    Transport,
    make_ses_clients,
)

GROUP = "reportc.transports"
TransportFactory = Callable[[Project, "Path | None"], Transport]


def _outbox(project: Project, outbox: Path | None) -> Transport:
    return OutboxTransport(project.root / (outbox or project.delivery.outbox))


def _smtp(project: Project, outbox: Path | None) -> Transport:
    smtp = project.delivery.smtp
    if smtp is None:
        raise DeliveryError(
            Problem(
                "the smtp transport needs delivery.smtp.host",
                hint="add delivery: smtp: {host: ..., port: 587}",
            )
        )
    port = smtp.port or {"tls": 465, "starttls": 587}.get(smtp.security, 25)
    return SmtpTransport(
        host=smtp.host,
        port=port,
        security=smtp.security,
        username=project.env.get(smtp.username_env, ""),
        password=project.env.get(smtp.password_env, ""),
        timeout=smtp.timeout,
        max_message_bytes=smtp.max_message_bytes,
    )


def _ses(project: Project, outbox: Path | None) -> Transport:
    delivery = project.delivery
    v2, v1 = make_ses_clients(delivery.region, delivery.endpoint_url, project.env)
    return SesTransport(v2, v1, delivery.configuration_set, dict(delivery.tags))


BUILTIN: Mapping[str, TransportFactory] = {"ses": _ses, "smtp": _smtp, "outbox": _outbox}


def plugins() -> dict[str, metadata.EntryPoint]:
    """Transports that installed packages declare (built-in names excluded)."""
    found = {ep.name: ep for ep in metadata.entry_points(group=GROUP)}
    return {name: ep for name, ep in sorted(found.items()) if name not in BUILTIN}


def make_transport(
    project: Project, name: str, outbox: Path | None = None, *, from_option: bool = False
) -> Transport:
    """The transport called ``name`` (from ``--transport`` or ``delivery.transport``)."""
    factory: Any = BUILTIN.get(name)
    if factory is None:
        entry = plugins().get(name)
        if entry is None:
            known = [*BUILTIN, *plugins()]
            raise DeliveryError(
                Problem(
                    f"unknown transport '{name}'{did_you_mean(name, known)}",
                    Location("--transport")
                    if from_option
                    else project.positions.at(("delivery", "transport")),
                    "" if from_option else "delivery.transport",
                    hint="built in: ses, smtp, outbox; plugins add others through the "
                    f"'{GROUP}' entry point group",
                )
            )
        try:
            factory = entry.load()
        except Exception as exc:  # a broken plugin is the plugin's problem, said clearly
            raise DeliveryError(
                Problem(f"the transport plugin '{name}' ({entry.value}) failed to load: {exc}")
            ) from None
    transport: Transport = factory(project, Path(outbox) if outbox is not None else None)
    return transport
