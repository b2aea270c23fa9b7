"""``reportc events``: record SES delivery events (ingest, pull) and unsuppress."""

from __future__ import annotations

from typing import Any

import click

import reportc

from .common import Settings, pass_settings, plural, say


@click.group(name="events")
def group() -> None:
    """SES delivery events (bounces, complaints, deliveries)."""


@group.command(name="ingest")
@click.argument("source", type=click.File("rb"), default="-")
@click.option(
    "--signing-cert",
    type=click.File("rb"),
    default=None,
    help="PEM certificate to check SNS signatures with, instead of fetching SigningCertURL.",
)
@click.option(
    "--unsigned",
    is_flag=True,
    help="Take the records as they are, unsigned (you vouch for where this file came from).",
)
@pass_settings
def ingest(settings: Settings, source: Any, signing_cert: Any, unsigned: bool) -> None:
    """Record SES events from signed SNS notifications (FILE, or - for stdin)."""
    project = settings.load()
    verifier = None if unsigned else reportc.Verifier(signing_cert.read() if signing_cert else None)
    name = getattr(source, "name", "-")
    summary, refused = reportc.ingest_events(
        project,
        source.read(),
        "<stdin>" if name in ("-", "<stdin>") else name,
        verifier=verifier,
    )
    _show_ingest(summary)
    if refused:
        raise reportc.DataError(
            [*refused, reportc.Problem(f"{plural(len(refused), 'notification')} refused")]
        )


@group.command(name="pull")
@click.option("--queue-url", required=True, help="The SQS queue subscribed to the SNS topic.")
@click.option(
    "--wait",
    type=click.IntRange(min=0, max=20),
    default=1,
    show_default=True,
    help="Seconds to long-poll for each batch.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Read at most N queue messages.",
)
@pass_settings
def pull(settings: Settings, queue_url: str, wait: int, limit: int) -> None:
    """Record SES events from an SQS queue (SNS -> SQS), deleting each once recorded."""
    project = settings.load()
    result = reportc.pull_events(project, queue_url, wait=wait, limit=limit)
    say(
        f"received {plural(result.received, 'queue message')}, deleted {result.deleted}"
        + (f", {result.kept} left in the queue (not JSON)" if result.kept else "")
    )
    _show_ingest(result.summary)


@group.command(name="unsuppress")
@click.argument("addresses", nargs=-1, required=True)
@pass_settings
def unsuppress(settings: Settings, addresses: tuple[str, ...]) -> None:
    """Take addresses off the suppression list (after fixing the mailbox)."""
    removed = reportc.unsuppress(settings.load(), addresses)
    for a in addresses:
        state = "no longer suppressed" if a in removed else "was not suppressed"
        say(f"{reportc.mask(a)}: {state}")


def _show_ingest(summary: Any) -> None:
    states = ", ".join(f"{n} {s}" for s, n in sorted(summary.by_state.items())) or "nothing"
    say(f"ingested {plural(summary.events, 'event')}: {states}")
    if summary.suppressed:
        say("suppressed from now on: " + ", ".join(reportc.mask(a) for a in summary.suppressed))
    notes = (
        (summary.unknown_messages, "for messages this ledger did not send (ignored)"),
        (summary.ignored, "of other kinds (send, open, click ...) ignored"),
        (summary.malformed, "malformed (no message id, or fields of the wrong type; ignored)"),
    )
    for count, text in notes:
        if count:
            say(f"note: {plural(count, 'event')} {text}", err=True)
    if summary.foreign:
        say(
            f"note: {plural(summary.foreign, 'recipient')} named by events but not by their "
            "message (ignored)",
            err=True,
        )
