"""``reportc init``: a first project that validates, builds and dry-runs at once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportc import init_project
from reportc.cli import main
from reportc.resources import builtin_dir
from tests.conftest import pdf_text


@pytest.mark.slow
def test_init_writes_a_project_that_builds_and_sends_a_dry_run(tmp_path: Path) -> None:
    target = tmp_path / "my-reports"
    out = CliRunner().invoke(main, ["init", str(target)])
    assert out.exit_code == 0, out.output
    written = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert written == [
        ".gitignore",
        "data/sales.csv",
        "reports.yaml",
        "repos.env.example",
        "schema/reportc-v1.schema.json",
    ]
    first_line = (target / "reports.yaml").read_text().splitlines()[0]
    assert first_line == "# yaml-language-server: $schema=./schema/reportc-v1.schema.json"
    schema = target / "schema/reportc-v1.schema.json"
    assert schema.read_bytes() == (builtin_dir("schema") / schema.name).read_bytes()

    runner = CliRunner()
    built = runner.invoke(main, ["-C", str(target), "build", "--jobs", "1"])
    assert built.exit_code == 0, built.output
    text = " ".join(pdf_text(target / "dist/team.pdf").split())
    assert "Revenue was $4,200 from 7 orders, $600 per order on average." in text
    assert "South 2 $2,880" in text and "Total 7 $4,200" in text
    sent = runner.invoke(main, ["-C", str(target), "send", "--dry-run"])
    assert sent.exit_code == 0, sent.output
    assert "1 message written to" in sent.output


def test_init_dates_its_data_in_the_project_period(tmp_path: Path) -> None:
    init_project(tmp_path, today=dt.date(2027, 3, 15))
    assert 'period: "2027-02"' in (tmp_path / "reports.yaml").read_text()
    assert (tmp_path / "data/sales.csv").read_text().splitlines()[1].startswith("2027-02-02,")


def test_init_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "reports.yaml").write_text("mine\n")
    out = CliRunner().invoke(main, ["-C", str(tmp_path), "init"])
    assert out.exit_code == 3, out.output
    assert f"error: {tmp_path / 'reports.yaml'}: the file already exists; nothing was written" in (
        out.output
    )
    assert (tmp_path / "reports.yaml").read_text() == "mine\n"
    assert not (tmp_path / "data").exists()
