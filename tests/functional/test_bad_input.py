"""Every class of bad input gets a clear, positioned error and no traceback."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from reportc.cli import main
from tests.conftest import MakeProject
from tests.functional.bad_cases import CASES, Case


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_validate_explains_bad_input(make_project: MakeProject, case: Case) -> None:
    root = make_project(case.files)
    result = CliRunner().invoke(main, ["-C", str(root), "validate"], env={"CEO_EMAIL": ""})
    assert result.exit_code == case.exit_code, result.output
    errors = [
        line.removeprefix("error: ")
        for line in result.output.splitlines()
        if line.startswith("error: ")
    ]
    assert errors == case.expected
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_there_are_at_least_twenty_cases() -> None:
    assert len(CASES) >= 20


def test_schema_violations_are_all_reported_at_once(make_project: MakeProject) -> None:
    from tests.conftest import MINIMAL_YAML

    text = (
        MINIMAL_YAML.replace("  name: Example Org", "  nme: Example Org")
        .replace("    title: CEO Report", "    title: 12")
        .replace("    type: csv", "    type: xls")
    )
    root = make_project({"reports.yaml": text})
    result = CliRunner().invoke(main, ["-C", str(root), "validate"])
    assert result.exit_code == 3
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert errors == [
        "error: reports.yaml:3:3: organisation: missing required key 'name'",
        "error: reports.yaml:3:3: organisation: unknown key 'nme' (did you mean 'name'?)",
        "error: reports.yaml:11:11: sources.sales.type: "
        "'xls' is not one of: csv, json, yaml, sql, inline",
        "error: reports.yaml:37:12: personas.ceo.title: expected a string, got a number",
    ]
    assert "4 problems found." in result.output


def test_build_with_invalid_config_writes_nothing(make_project: MakeProject) -> None:
    root = make_project({"reports.yaml": "version: 2\n"})
    result = CliRunner().invoke(main, ["-C", str(root), "build"])
    assert result.exit_code == 3
    assert not (root / "dist").exists()
