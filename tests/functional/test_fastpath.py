"""The no-change build's fast path: answered from a stamp, and never when anything changed.

The promise is that a stamp only ever repeats what the normal path would print: every
input change (a data file's bytes or time, a new or removed file, an output deleted, a
variable the project reads, another reportc), every option that changes the work
(``--force``, ``-v``, ``--json``) and every doubt (a damaged stamp) takes the normal
path, which decides for itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportc import fastpath
from reportc.cli import main
from reportc.cli.common import Invocation
from tests.conftest import MINIMAL_YAML, MakeProject


def _build(root: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    """A build through the CLI as the console command runs it (``run`` hands the
    command line as given to the CLI: what the stamp records)."""
    argv = ["-C", str(root), "build", "--format", "html", "--jobs", "1", *args]
    result = CliRunner().invoke(main, argv, obj=Invocation(tuple(argv)))
    assert result.exit_code == 0, result.output
    return result.stdout


def _replay(root: Path, *args: str, environ: dict[str, str] | None = None) -> str | None:
    argv = ["-C", str(root), "build", "--format", "html", "--jobs", "1", *args]
    replayed = fastpath.replay(argv, Path.cwd(), environ if environ is not None else os.environ)
    return None if replayed is None else replayed[0]


def _age(root: Path, seconds: float = 10) -> None:
    """Every file of the project as if last written ``seconds`` ago (a stamp does not
    vouch for a file written within two seconds of it)."""
    then = time.time_ns() - int(seconds * 1e9)
    for path in root.rglob("*"):
        if path.is_file() and ".reportc" not in path.parts:
            os.utime(path, ns=(then, then))


def _stamped(root: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    _build(root, monkeypatch)  # builds
    _age(root)
    printed = _build(root, monkeypatch)  # nothing to do: stamped
    assert "unchanged: 1 report up to date" in printed
    assert _replay(root) == printed
    return printed


def test_a_build_run_as_a_library_call_is_never_stamped(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the console command's own command line there is nothing to key a stamp
    on (sys.argv may be anybody's): the CLI invoked directly never stamps."""
    root = make_project()
    argv = ["-C", str(root), "build", "--format", "html", "--jobs", "1"]
    monkeypatch.setattr(sys, "argv", ["reportc", *argv])
    for _ in range(2):
        assert CliRunner().invoke(main, argv).exit_code == 0
    assert not (root / fastpath.STAMP).exists()


def test_a_build_that_did_something_is_not_stamped(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project()
    _build(root, monkeypatch)
    assert not (root / fastpath.STAMP).exists() and _replay(root) is None


@pytest.mark.slow
def test_any_change_to_the_inputs_or_outputs_takes_the_normal_path(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project()
    _stamped(root, monkeypatch)
    csv = root / "data" / "sales.csv"
    stat = csv.stat()
    os.utime(csv, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # touched only
    assert _replay(root) is None
    _stamped(root, monkeypatch)
    csv.write_text(csv.read_text() + "South,1\n")  # new bytes
    assert _replay(root) is None
    assert "1 of 1 report built" in _build(root, monkeypatch)  # and the normal path rebuilds
    _stamped(root, monkeypatch)
    (root / "data" / "extra.csv").write_text("a\n1\n")  # a new file
    assert _replay(root) is None
    _stamped(root, monkeypatch)
    (root / "dist" / "ceo.html").unlink()  # an output gone
    assert _replay(root) is None
    assert "1 of 1 report built" in _build(root, monkeypatch)


def test_options_and_variables_that_matter_take_the_normal_path(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    yaml = MINIMAL_YAML.replace("name: Example Org", "name: ${ORG_NAME:-Example Org}")
    root = make_project({"reports.yaml": yaml})
    _stamped(root, monkeypatch)
    assert _replay(root, "--force") is None
    assert _replay(root, "--json") is None
    assert fastpath.replay(["-v", "-C", str(root), "build"], Path.cwd(), os.environ) is None
    assert _replay(root, environ={**os.environ, "ORG_NAME": "Other Org"}) is None
    assert _replay(root, environ={**os.environ, "REPORTC_NO_FAST_PATH": "1"}) is None
    assert _replay(root) is not None  # and the same command still replays


def test_a_file_written_just_before_the_stamp_is_not_vouched_for(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project()
    _build(root, monkeypatch)
    _build(root, monkeypatch)  # stamped, but the outputs are a moment old
    assert (root / fastpath.STAMP).exists() and _replay(root) is None


def test_a_damaged_stamp_takes_the_normal_path(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project()
    _stamped(root, monkeypatch)
    (root / fastpath.STAMP).write_text('{"version": 1, "argv": ')
    assert _replay(root) is None
    (root / fastpath.STAMP).write_text("[1, 2]")
    assert _replay(root) is None


def test_a_project_with_a_database_or_notices_is_never_stamped(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    yaml = MINIMAL_YAML + "notify: {email: ops@example.com}\n"
    root = make_project({"reports.yaml": yaml})
    _build(root, monkeypatch)
    _build(root, monkeypatch)
    assert not (root / fastpath.STAMP).exists()


@pytest.mark.slow
def test_the_console_command_replays_without_loading_the_project(
    make_project: MakeProject,
) -> None:
    root = make_project()
    command = [sys.executable, "-X", "importtime", "-m", "reportc", "-C", str(root), "build"]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    first = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    then = time.time_ns() - 10_000_000_000
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, ns=(then, then))
    second = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    assert "reportc.config" in second.stderr  # the first no-change build takes the normal path
    started = time.perf_counter()
    third = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    elapsed = time.perf_counter() - started
    assert third.stdout == second.stdout != first.stdout
    imported = [line.rsplit("|", 1)[-1].strip() for line in third.stderr.splitlines()]
    assert "reportc.fastpath" in imported
    assert not {"reportc.config", "reportc.cli", "click", "yaml", "jinja2"} & set(imported)
    assert elapsed < 5  # (the real figure is in BENCHMARKS.md)


def test_a_project_too_large_to_check_cheaply_is_not_stamped(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project()
    monkeypatch.setattr(fastpath, "MAX_FILES", 3)
    _build(root, monkeypatch)
    _age(root)
    _build(root, monkeypatch)
    assert not (root / fastpath.STAMP).exists()


def test_verbose_or_json_logs_are_never_replayed(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project()
    _stamped(root, monkeypatch)
    for extra in (["-v"], ["--log-format", "json"], ["--log-format=json"], ["--verbose"]):
        assert _replay(root, *extra) is None
