"""The wheel ships the built-in schema, sections and templates, and works from anywhere."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.conftest import MINIMAL_CSV, MINIMAL_YAML, REPO, pdf_text, write_files


@pytest.mark.slow
def test_wheel_installs_and_builds_a_project_elsewhere(tmp_path: Path) -> None:
    """``python -m build`` makes an sdist, then the wheel from that sdist (so the sdist
    holds everything a wheel needs); the wheel installs and runs from another folder."""
    wheel_dir = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(wheel_dir), str(REPO)],
        check=True,
        capture_output=True,
    )
    sdist = next(wheel_dir.glob("reportc-*.tar.gz"))
    with tarfile.open(sdist) as tar:
        members = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for expected in ("LICENSE", "README.md", "CHANGELOG.md", "schema/reportc-v1.schema.json"):
        assert expected in members, expected
    wheel = next(wheel_dir.glob("reportc-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith("/LICENSE") for n in names)
    for expected in (
        "reportc/__init__.py",
        "reportc/_builtin/schema/reportc-v1.schema.json",
        "reportc/_builtin/sections/table.html.j2",
        "reportc/_builtin/sections/table.html.j2",
        "reportc/_builtin/templates/report.html.j2",
    ):
        assert expected in names

    venv = tmp_path / "venv"
    # Dependencies come from this interpreter's site-packages; reportc itself only from
    # the wheel (a venv's own site-packages come first on sys.path).
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--force-reinstall", "-q", str(wheel)],
        check=True,
        capture_output=True,
    )
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import reportc, reportc.resources as r; "
            "print(reportc.__file__); print(r.builtin_dir('sections'))",
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    ).stdout.splitlines()
    assert where[0].startswith(str(venv))
    assert where[1].startswith(str(venv))

    project = tmp_path / "somewhere" / "else"
    write_files(project, {"reports.yaml": MINIMAL_YAML, "data/sales.csv": MINIMAL_CSV})
    result = subprocess.run(
        [str(venv / "bin" / "reportc"), "-C", str(project), "build"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Sales were $2,500 from 3 orders." in pdf_text(project / "dist" / "ceo.pdf")
