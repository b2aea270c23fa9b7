"""Shared fixtures: inline sample projects, the example project, PDF text."""

from __future__ import annotations

import datetime as dt
import shutil
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from pypdf import PdfReader

from reportc import pipeline
from reportc.config import load_project

REPO = Path(__file__).resolve().parent.parent
FIXED_NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.timezone.utc)

MINIMAL_YAML = """\
version: 1
organisation:
  name: Example Org
  entities: [North, South]
period: "2026-10"
delivery:
  from: reports@example.com
  audit_bcc: audit@example.org
sources:
  sales:
    type: csv
    path: data/sales.csv
metrics:
  total_sales:
    sql: SELECT sum(amount) FROM sales
    format: currency
  orders:
    sql: SELECT count(*) FROM sales
    format: integer
  average_order:
    expr: total_sales / orders
    format: currency
sections:
  summary:
    type: markdown
    title: Summary
    text: "Sales were {{ total_sales | currency }} from {{ orders }} orders."
  sales_table:
    type: table
    title: Sales
    source: sales
    columns:
      - {field: region, label: Region}
      - {field: amount, label: Amount, format: currency, total: sum}
personas:
  ceo:
    title: CEO Report
    sections: [summary, sales_table]
    recipients:
      to: ceo@example.com
"""

MINIMAL_CSV = "region,amount\nNorth,1200\nSouth,800\nNorth,500\n"


def write_files(root: Path, files: Mapping[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(
                textwrap.dedent(content) if content.startswith("\n") else content, encoding="utf-8"
            )


MakeProject = Callable[..., Path]


@pytest.fixture
def make_project(tmp_path: Path) -> MakeProject:
    """Write a project into tmp_path: the minimal one, with ``files`` added or replaced."""

    def make(files: Mapping[str, str | bytes] | None = None, *, minimal: bool = True) -> Path:
        root = tmp_path / "project"
        root.mkdir(exist_ok=True)
        base: dict[str, str | bytes] = (
            {"reports.yaml": MINIMAL_YAML, "data/sales.csv": MINIMAL_CSV} if minimal else {}
        )
        base.update(files or {})
        write_files(root, base)
        return root

    return make


@pytest.fixture(scope="session")
def example_build(tmp_path_factory: pytest.TempPathFactory) -> pipeline.BuildResult:
    """The example project (a copy), built once for the whole session."""
    root = tmp_path_factory.mktemp("example")
    for name in ("reports.yaml", "data"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, root / name)
        else:
            shutil.copy(src, root / name)
    project = load_project(root, environ={})
    return pipeline.build(project, clock=lambda: FIXED_NOW)


def pdf_text(path: Path) -> str:
    reader = PdfReader(str(path))
    return "\n".join(page.extract_text() or "" for page in reader.pages)


def pdf_pages(path: Path) -> int:
    return len(PdfReader(str(path)).pages)
