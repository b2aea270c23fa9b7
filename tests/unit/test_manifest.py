"""The manifest as typed, versioned records; today's older files stay readable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from reportc.cli import main
from reportc.manifest import (
    SCHEMA_VERSION,
    FileRecord,
    Manifest,
    read_manifest,
)
from reportc.states import ReportState
from tests.conftest import MakeProject

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "manifest-v1.json"


def test_a_version_1_manifest_reads_as_typed_records() -> None:
    """tests/fixtures/manifest-v1.json was written by reportc before manifests had a
    schema_version (commit 47e21f5, the example project)."""
    assert "schema_version" not in json.loads(FIXTURE.read_text())
    manifest = read_manifest(FIXTURE)
    assert sorted(manifest.reports) == ["accounting", "ceo", "cfo", "cmo", "cto"]
    cfo = manifest.reports["cfo"]
    assert cfo.state is ReportState.OK and cfo.built and cfo.persona == "cfo"
    pdf = cfo.files["pdf"]
    assert pdf == FileRecord("cfo.pdf", pdf.sha256, pdf.bytes, 4) and pdf.bytes > 10_000
    assert cfo.values is not None and "metrics" in cfo.values
    # written back, it is the current version with the same report entries
    again = manifest.to_json()
    assert again["schema_version"] == SCHEMA_VERSION
    old = json.loads(FIXTURE.read_text())["reports"]
    assert again["reports"] == old


def test_missing_broken_or_newer_manifests_read_as_empty(tmp_path: Path) -> None:
    assert read_manifest(tmp_path / "none.json") == Manifest()
    (tmp_path / "broken.json").write_text("{not json")
    assert read_manifest(tmp_path / "broken.json") == Manifest()
    newer = json.loads(FIXTURE.read_text()) | {"schema_version": SCHEMA_VERSION + 1}
    (tmp_path / "newer.json").write_text(json.dumps(newer))
    assert read_manifest(tmp_path / "newer.json").reports == {}


def test_a_build_over_a_version_1_manifest_keeps_working(make_project: MakeProject) -> None:
    root = make_project()
    (root / "dist").mkdir(exist_ok=True)
    shutil.copy(FIXTURE, root / "dist/manifest.json")
    result = CliRunner().invoke(main, ["-C", str(root), "build", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    doc = json.loads((root / "dist/manifest.json").read_text())
    assert doc["schema_version"] == SCHEMA_VERSION
    assert doc["reports"]["ceo"]["status"] == "ok"
    assert "cfo" in doc["reports"]  # entries of other reports are kept, as before


ARCHIVE_V1 = FIXTURE.parent / "archive-v1"


def test_a_version_1_archive_run_reads_and_its_figures_load(tmp_path: Path) -> None:
    """tests/fixtures/archive-v1 holds run.json and values.json of a run archived by
    reportc before they carried a schema_version (47e21f5, the example project)."""
    from reportc.archive import ARCHIVE_SCHEMA_VERSION, list_runs, load_values
    from reportc.stores import LocalStore

    store = LocalStore(ARCHIVE_V1)
    (run,) = list_runs(store)
    assert run.run_id == "20261201T225026Z-14f48c" and run.period == "2026-10"
    assert sorted(run.reports) == ["accounting", "ceo", "cfo", "cmo", "cto"]
    values = load_values(store, run)
    assert "metrics" in values["cfo"]
    assert run.to_json()["schema_version"] == ARCHIVE_SCHEMA_VERSION
    newer = tmp_path / "2026-10" / "x"
    newer.mkdir(parents=True)
    data = json.loads((ARCHIVE_V1 / "2026-10" / run.run_id / "run.json").read_text())
    (newer / "run.json").write_text(json.dumps(data | {"schema_version": 99}))
    import pytest

    from reportc.errors import ArchiveError

    with pytest.raises(ArchiveError) as info:
        list_runs(LocalStore(tmp_path))
    assert "newer than this reportc reads (2); upgrade reportc" in info.value.problems[0].message
