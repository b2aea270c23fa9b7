"""``reportc schema``: print the JSON Schema of reports.yaml."""

from __future__ import annotations

import json
from typing import Any

import click

import reportc


@click.command(name="schema")
def command() -> None:
    """Print the JSON Schema of reports.yaml (for editors and CI linting)."""
    data: dict[str, Any] = reportc.project_schema()
    click.echo(json.dumps(data, indent=2))
