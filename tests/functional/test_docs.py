"""The documentation can't drift: the references are generated, complete, and build.

- The YAML reference documents 100% of the properties of the project schema and of
  every built-in section type's schema (by JSON pointer).
- The CLI reference names every command and every option.
- ``mkdocs build --strict`` succeeds (no broken link or anchor), with both references.
- The README's links point at files that exist; the changelog keeps its format.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import click
import pytest

import reportc
from reportc.cli import main
from tests.conftest import REPO, load_script


def _gen() -> ModuleType:
    return load_script("tools/docs_gen.py")


def test_the_yaml_reference_covers_every_property_of_the_schema() -> None:
    gen = _gen()
    schema, types = reportc.project_schema(), gen.section_schemas()
    wanted = set(gen.all_properties(schema))
    for name, type_schema in types.items():
        wanted |= {f"section:{name}{p}" for p in gen.all_properties(type_schema)}
    assert len(wanted) > 200
    missing = wanted - gen.documented(schema, types)
    assert sorted(missing) == [], f"{len(missing)} of {len(wanted)} properties undocumented"
    text = gen.yaml_reference()
    for key in ("`notify`", "`webhook`", "`for_each`", "`audit_bcc`", "`highlight`"):
        assert key in text


def test_a_property_added_to_the_schema_is_in_the_reference() -> None:
    gen = _gen()
    schema = reportc.project_schema()
    schema["properties"]["archive"]["properties"]["brand_new_key"] = {
        "type": "integer",
        "default": 3,
        "description": "A key added for this test.",
    }
    text = gen.yaml_reference(schema, {})
    assert "| `brand_new_key` | integer | `3` | A key added for this test. |" in text


def _options(cmd: click.Command) -> set[str]:
    return {o for p in cmd.params if isinstance(p, click.Option) for o in p.opts}


def test_the_cli_reference_names_every_command_and_option() -> None:
    text = _gen().cli_reference()
    ctx = click.Context(main)
    for name in main.list_commands(ctx):
        cmd = main.get_command(ctx, name)
        assert cmd is not None
        assert f"### `reportc {name}`" in text
        commands = [cmd]
        if isinstance(cmd, click.Group):
            commands += [c for s in cmd.list_commands(ctx) if (c := cmd.get_command(ctx, s))]
        for c in commands:
            for option in _options(c):
                assert f"`{option}" in text or f", {option}" in text, (name, option)
    for option in ("--log-format", "--quiet", "--verbose"):
        assert option in text


@pytest.mark.slow
def test_the_site_builds_strictly(tmp_path: Path) -> None:
    mkdocs = shutil.which("mkdocs") or ""
    command = [mkdocs] if mkdocs else [sys.executable, "-m", "mkdocs"]
    site = tmp_path / "site"
    result = subprocess.run(
        [*command, "build", "--strict", "--site-dir", str(site)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr
    reference = (site / "reference" / "index.html").read_text()
    assert "brand_new_key" not in reference and "notify" in reference
    assert "reportc events pull" in (site / "cli" / "index.html").read_text()


def test_the_readme_is_short_and_its_links_resolve() -> None:
    readme = (REPO / "README.md").read_text()
    assert len(readme) < 8000  # the pitch, the Quickstart, each feature's YAML, links
    assert readme.count("```sh") == 2  # the Quickstart's two commands
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme):
        if not target.startswith("http"):
            assert (REPO / target).exists(), target


def test_the_changelog_keeps_a_changelog() -> None:
    text = (REPO / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in text
    for version in re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", text, re.M):
        assert f"[{version}]: " in text
    assert reportc.reportc_version() in text
