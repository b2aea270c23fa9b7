"""Finding the project like git: -C, then REPORTC_PROJECT, then this folder and its parents."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MakeProject


def _reportc(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "REPORTC_PROJECT"}
    return subprocess.run(
        [sys.executable, "-m", "reportc", *args],
        cwd=cwd,
        env={**environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )


def test_python_m_reportc_finds_the_project_from_a_subfolder(make_project: MakeProject) -> None:
    root = make_project()
    out = _reportc(root / "data", "validate")
    assert out.returncode == 0, out.stderr
    assert "valid — 1 report" in out.stdout


@pytest.mark.slow
def test_reportc_project_names_the_folder_and_c_still_wins(
    make_project: MakeProject, tmp_path: Path
) -> None:
    root = make_project()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    named = _reportc(elsewhere, "validate", env={"REPORTC_PROJECT": str(root)})
    assert named.returncode == 0, named.stderr
    wins = _reportc(elsewhere, "-C", str(elsewhere), "validate", env={"REPORTC_PROJECT": str(root)})
    assert wins.returncode == 3
    assert "no reports.yaml in" in wins.stderr and "set REPORTC_PROJECT" in wins.stderr


@pytest.mark.slow
def test_init_in_a_subfolder_writes_there_not_over_the_project(make_project: MakeProject) -> None:
    root = make_project()
    sub = root / "new-project"
    sub.mkdir()
    out = _reportc(sub, "init")
    assert out.returncode == 0, out.stderr
    assert (sub / "reports.yaml").is_file()
