"""``reportc init``: a first project that builds at once.

Writes a ``reports.yaml`` with one persona and two sections over one data file, an
example env file, a ``.gitignore``, and a copy of the JSON Schema so that the
``yaml-language-server`` line at the top of ``reports.yaml`` resolves in an editor.
Nothing is overwritten: if any of the files exists, nothing is written.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from .config.model import Period
from .errors import ConfigError, Location, Problem
from .resources import SCHEMA_FILE, builtin_dir
from .writer import write_atomic

REPORTS_YAML = """\
# yaml-language-server: $schema=./schema/reportc-v1.schema.json
#
# A first reportc project. Edit the data in data/ or this file, then run:
#   reportc validate        check everything, write nothing
#   reportc build           write dist/team.pdf and dist/team.html
#   reportc send --dry-run  write the email to dist/outbox/, send nothing
version: 1
organisation:
  name: Example Co
  currency: USD
  locale: en_US
# The month the example data is from; remove it to report on the last complete month.
period: "{period}"

sources:
  sales:
    type: csv
    path: data/sales.csv
    types:
      date: DATE
      amount: DECIMAL(12,2)
  this_period:              # the period's rows ($period_start and $period_end are given)
    type: sql
    query: SELECT * FROM sales WHERE date BETWEEN $period_start AND $period_end

metrics:
  revenue:
    sql: SELECT sum(amount) FROM this_period
    label: Revenue
    format: currency
  orders:
    sql: SELECT count(*) FROM this_period
    label: Orders
    format: integer
  average_order:
    expr: revenue / orders
    label: Average order
    format: currency

sections:
  summary:
    type: markdown
    title: Summary
    text: >-
      Revenue was **{{ revenue | currency }}** from {{ orders }} orders,
      {{ average_order | currency }} per order on average.
  by_region:
    type: table
    title: Revenue by region
    query: >-
      SELECT region, count(*) AS orders, sum(amount) AS revenue
      FROM this_period GROUP BY region ORDER BY revenue DESC
    columns:
      - {field: region, label: Region}
      - {field: orders, label: Orders, format: integer, total: sum}
      - {field: revenue, label: Revenue, format: currency, total: sum}

personas:
  team:
    title: Sales Report
    sections: [summary, by_region]
    recipients:
      to: ${TEAM_EMAIL:-team@example.com}

delivery:
  from: ${REPORTC_FROM:-Example Co Reports <reports@example.com>}
"""

SALES_CSV = """\
date,region,product,amount
{month}-02,North,Starter plan,120.00
{month}-05,South,Team plan,480.00
{month}-09,North,Team plan,480.00
{month}-14,West,Starter plan,120.00
{month}-18,South,Enterprise plan,2400.00
{month}-23,North,Starter plan,120.00
{month}-27,West,Team plan,480.00
"""

ENV_EXAMPLE = """\
# Copy to repos.env (git-ignored) and fill in real addresses; the process
# environment overrides anything set here.
REPORTC_FROM=Example Co Reports <reports@example.com>
TEAM_EMAIL=team@example.com
# SES (reportc send): credentials come from the usual AWS chain (AWS_PROFILE, ...).
# AWS_REGION=us-east-1
"""

GITIGNORE = """\
dist/
.reportc/
repos.env
"""


def init_project(directory: Path, today: dt.date | None = None) -> list[Path]:
    """Write the first project into ``directory`` (created if missing); the files written.

    Its data is dated in the last complete month before ``today``, the project's period.
    Raises :class:`ConfigError` naming the files that exist, and then writes nothing.
    """
    period = Period.default_for(today or dt.date.today()).label
    files = {
        "reports.yaml": REPORTS_YAML.replace("{period}", period).encode(),
        "data/sales.csv": SALES_CSV.replace("{month}", period).encode(),
        "repos.env.example": ENV_EXAMPLE.encode(),
        ".gitignore": GITIGNORE.encode(),
        f"schema/{SCHEMA_FILE}": (builtin_dir("schema") / SCHEMA_FILE).read_bytes(),
    }
    existing = [name for name in files if (directory / name).exists()]
    if existing:
        raise ConfigError(
            [
                Problem(
                    "the file already exists; nothing was written",
                    Location(str(directory / name)),
                    hint="run 'reportc init' in an empty folder, or name a new one: "
                    "reportc init my-reports",
                )
                for name in existing
            ]
        )
    written = []
    for name, data in files.items():
        write_atomic(directory / name, data)
        written.append(directory / name)
    return written
