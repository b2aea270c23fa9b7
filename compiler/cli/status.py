"""``reportc status``: the delivery ledger, per report and recipient."""

from __future__ import annotations

import json
import os
from typing import Any

import click

import reportc

from .common import Settings, addr, pass_settings


@click.command(name="status")
@click.option("--persona", default=None, metavar="NAME", help="Only this persona.")
@click.option("--show-addresses", is_flag=True, help="Print full addresses (masked by default).")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON document (schema: output-status-v1.schema.json).",
)
@pass_settings
def command(settings: Settings, persona: str | None, show_addresses: bool, as_json: bool) -> None:
    """Show the delivery ledger: per report and recipient, state, time, message id, error."""
    project = settings.load()
    with reportc.existing_ledger(project) as ledger:
        if ledger is None:
            if as_json:
                click.echo(json.dumps(_document([], {}, show_addresses), indent=2))
                return
            where = os.path.relpath(reportc.ledger_path(project))
            click.echo(f"no messages sent yet (no ledger at {where})")
            return
        rows = ledger.rows(persona)
        delivered = ledger.deliveries()
    if as_json:
        click.echo(json.dumps(_document(rows, delivered, show_addresses), indent=2))
        return
    click.echo(
        f"{'report':<12} {'recipient':<28} {'as':<4} {'state':<10} {'updated':<20} "
        "message id / error"
    )
    for row in rows:
        state = "uncertain" if row.uncertain else row.state
        detail = row.message_id if row.state == "sent" else row.error
        if row.redirected_to:
            detail += f" (redirected to {addr(row.redirected_to, show_addresses)})"
        for kind, addrs in (("to", row.to), ("cc", row.cc), ("bcc", row.bcc)):
            for address in addrs:
                shown = detail
                outcome = delivered.get((row.message_id, reportc.address_key(address)))
                if outcome is not None:  # what SES said happened (reportc events ingest)
                    shown = f"{row.message_id} — {outcome[0]}" + (
                        f" ({outcome[1]})" if outcome[1] else ""
                    )
                click.echo(
                    f"{row.report:<12} {addr(address, show_addresses):<28} {kind:<4} "
                    f"{state:<10} {row.updated_at:<20} {shown}"
                )


def _document(rows: Any, delivered: Any, show: bool) -> dict[str, Any]:
    """One entry per message and recipient: as the table shows, for machines."""
    out = []
    for row in rows:
        for kind, addrs in (("to", row.to), ("cc", row.cc), ("bcc", row.bcc)):
            for address in addrs:
                outcome = delivered.get((row.message_id, reportc.address_key(address)))
                out.append(
                    {
                        "report": row.report,
                        "recipient": addr(address, show),
                        "as": kind,
                        "state": "uncertain" if row.uncertain else str(row.state),
                        "updated_at": row.updated_at,
                        "message_id": row.message_id,
                        "error": row.error,
                        "delivery": outcome[0] if outcome else None,
                    }
                )
    return {"schema_version": 1, "command": "status", "recipients": out}
