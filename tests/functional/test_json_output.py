"""``--json`` output: one document per command, valid against the schema that ships."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
from click.testing import CliRunner

from reportc.cli import main
from reportc.resources import builtin_dir
from tests.conftest import MINIMAL_YAML, MakeProject


def _schema(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((builtin_dir("schema") / name).read_text("utf-8"))
    return data


def test_validate_json_is_valid_and_carries_positioned_problems(
    make_project: MakeProject,
) -> None:
    root = make_project()
    ok = CliRunner().invoke(main, ["-C", str(root), "validate", "--json"])
    assert ok.exit_code == 0, ok.output
    doc = json.loads(ok.output)
    jsonschema.validate(doc, _schema("output-validate-v1.schema.json"))
    assert (doc["ok"], doc["reports"], doc["burst"], doc["problems"]) == (True, 1, 0, [])

    bad = make_project({"reports.yaml": MINIMAL_YAML.replace("[summary, sales_table]", "[sumary]")})
    failed = CliRunner().invoke(main, ["-C", str(bad), "validate", "--json"])
    assert failed.exit_code == 3
    doc = json.loads(failed.output)
    jsonschema.validate(doc, _schema("output-validate-v1.schema.json"))
    assert (doc["ok"], doc["error"], doc["exit_code"]) == (False, "config", 3)
    problem = doc["problems"][0]
    assert problem["message"] == "unknown section 'sumary' (did you mean 'summary'?)"
    assert (problem["file"], problem["line"], problem["path"]) == (
        "reports.yaml",
        38,
        "personas.ceo.sections[0]",
    )


def test_list_json_is_valid_and_masks_addresses(make_project: MakeProject) -> None:
    root = make_project()
    out = CliRunner().invoke(main, ["-C", str(root), "list", "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    jsonschema.validate(doc, _schema("output-list-v1.schema.json"))
    assert doc["personas"][0]["recipients"]["to"] == ["c***@example.com"]
    assert doc["audit_bcc"] == ["a***@example.org"]
    assert "ceo@example.com" not in out.output


def test_status_json_lists_each_recipient_masked(make_project: MakeProject) -> None:
    root = make_project()
    empty = CliRunner().invoke(main, ["-C", str(root), "status", "--json"])
    assert json.loads(empty.output)["recipients"] == []
    sent = CliRunner().invoke(main, ["-C", str(root), "send", "--transport", "outbox"])
    assert sent.exit_code == 0, sent.output
    out = CliRunner().invoke(main, ["-C", str(root), "status", "--json"])
    doc = json.loads(out.output)
    jsonschema.validate(doc, _schema("output-status-v1.schema.json"))
    seen = {(r["recipient"], r["as"], r["state"]) for r in doc["recipients"]}
    assert seen == {("c***@example.com", "to", "sent"), ("a***@example.org", "bcc", "sent")}


def test_schedule_json_gives_the_next_runs(make_project: MakeProject) -> None:
    yaml = MINIMAL_YAML.replace(
        "    title: CEO Report\n",
        '    title: CEO Report\n    schedule: {cron: "0 7 2 * *", timezone: America/Los_Angeles}\n',
    )
    out = CliRunner().invoke(
        main,
        ["-C", str(make_project({"reports.yaml": yaml})), "schedule", "--json", "--count", "2"],
    )
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    jsonschema.validate(doc, _schema("output-schedule-v1.schema.json"))
    (ceo,) = doc["reports"]
    assert ceo["cron"] == "0 7 2 * *" and len(ceo["next_runs"]) == 2
    assert ceo["next_runs"][0].endswith(("-08:00", "-07:00"))


def test_build_and_send_json_are_valid(make_project: MakeProject) -> None:
    root = make_project()
    built = CliRunner().invoke(main, ["-C", str(root), "build", "--json", "--jobs", "1"])
    assert built.exit_code == 0, built.output
    doc = json.loads(built.output)
    jsonschema.validate(doc, _schema("output-build-v1.schema.json"))
    (ceo,) = doc["reports"]
    assert (ceo["name"], ceo["state"], ceo["files"]["pdf"]["pages"]) == ("ceo", "built", 2)
    again = json.loads(CliRunner().invoke(main, ["-C", str(root), "build", "--json"]).output)
    assert again["reports"][0]["state"] == "unchanged"

    sent = CliRunner().invoke(main, ["-C", str(root), "send", "--dry-run", "--json"])
    assert sent.exit_code == 0, sent.output
    doc = json.loads(sent.output)
    jsonschema.validate(doc, _schema("output-send-v1.schema.json"))
    (message,) = doc["messages"]
    assert (message["state"], message["to"], message["bcc_count"]) == (
        "dry-run",
        ["c***@example.com"],
        1,
    )


def test_a_failed_build_is_a_json_document_too(make_project: MakeProject) -> None:
    root = make_project({"reports.yaml": MINIMAL_YAML.replace("version: 1", "version: 9")})
    out = CliRunner().invoke(main, ["-C", str(root), "build", "--json"])
    assert out.exit_code == 3
    doc = json.loads(out.output)
    jsonschema.validate(doc, _schema("output-build-v1.schema.json"))
    assert doc["error"] == "config" and doc["problems"][0]["file"] == "reports.yaml"
