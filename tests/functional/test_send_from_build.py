"""Send uses the build: an up-to-date build is packaged without loading data or rendering."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reportc import build, load_project
from reportc.ready import prepare_reports
from tests.conftest import FIXED_NOW, MakeProject, copy_example
from tests.functional.test_scale import burst_project

PROBE = """
import sys
from reportc.cli import main
try:
    main.main(args=sys.argv[1:], standalone_mode=False)
finally:
    print("LOADED", "duckdb" in sys.modules, "weasyprint" in sys.modules, file=sys.stderr)
"""


def _example(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "example")


@pytest.mark.slow
def test_dry_run_of_an_up_to_date_example_imports_neither_duckdb_nor_weasyprint(
    tmp_path: Path,
) -> None:
    root = _example(tmp_path)
    built = subprocess.run(
        [sys.executable, "-c", PROBE, "-C", str(root), "build", "--no-archive"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    assert "LOADED True" in built.stderr  # building loads the data
    sent = subprocess.run(
        [sys.executable, "-c", PROBE, "-C", str(root), "send", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert sent.returncode == 0, sent.stderr
    assert "DRY RUN: nothing was sent; 5 messages and 1 channel post written to" in sent.stdout
    assert "LOADED False False" in sent.stderr


@pytest.mark.slow
def test_a_stale_report_is_rebuilt_once_and_the_others_come_from_the_build(
    make_project: MakeProject,
) -> None:
    root = burst_project(make_project)
    build(load_project(root, environ={}), clock=lambda: FIXED_NOW)
    project = load_project(root, environ={})
    ready, failed, personas = prepare_reports(project, ["store"], root / "dist", lambda: FIXED_NOW)
    assert not failed and list(ready) == [f"store-S{i}" for i in range(1, 6)]
    s2 = ready["store-S2"]
    assert s2.spec.title == "Store report: Midway" and s2.spec.recipients.to == ("m@example.com",)
    assert s2.rendered.html == ""  # packaged from the manifest: nothing was rendered
    assert personas == {n: "store" for n in ready}
    # A data change makes the persona stale: it is built once, then packaged from the build.
    manifest = root / "dist/manifest.json"
    old_pdf = s2.pdf
    sales = root / "data/sales.csv"
    sales.write_text(sales.read_text() + "S2,999\n")
    ready, failed, _ = prepare_reports(
        load_project(root, environ={}), ["store"], root / "dist", lambda: FIXED_NOW
    )
    assert not failed and ready["store-S2"].pdf != old_pdf
    assert ready["store-S2"].rendered.html == ""
    stamp = manifest.stat().st_mtime_ns
    ready, _, _ = prepare_reports(
        load_project(root, environ={}), ["store"], root / "dist", lambda: FIXED_NOW
    )
    assert manifest.stat().st_mtime_ns == stamp  # up to date: nothing built this time
