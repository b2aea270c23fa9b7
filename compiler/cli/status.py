"""``reportc status``: the delivery ledger, per report and recipient."""

from __future__ import annotations

import os

import click

import reportc

from .common import Settings, addr, pass_settings


@click.command(name="status")
@click.option("--persona", default=None, metavar="NAME", help="Only this persona.")
@click.option("--show-addresses", is_flag=True, help="Print full addresses (masked by default).")
@pass_settings
def command(settings: Settings, persona: str | None, show_addresses: bool) -> None:
    """Show the delivery ledger: per report and recipient, state, time, message id, error."""
    project = settings.load()
    with reportc.existing_ledger(project) as ledger:
        if ledger is None:
            where = os.path.relpath(reportc.ledger_path(project))
            click.echo(f"no messages sent yet (no ledger at {where})")
            return
        rows = ledger.rows(persona)
        delivered = ledger.deliveries()
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
