"""The CLI end to end with CliRunner; results checked on the real artifacts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportc.cli import main
from reportc.config import load_project
from reportc.errors import ConfigError
from tests.conftest import MINIMAL_YAML, MakeProject, pdf_text

TWO_REPORTS = (
    MINIMAL_YAML
    + """\
  cfo:
    title: CFO Report
    sections: [summary]
    recipients:
      to: "Chief Financial Officer <cfo@example.com>"
      cc: [ceo@example.com]
"""
)


def test_build_minimal_project(make_project: MakeProject) -> None:
    root = make_project()
    result = CliRunner().invoke(main, ["-C", str(root), "build"])
    assert result.exit_code == 0, result.output
    assert "1 of 1 report built for October 2026" in result.output
    text = pdf_text(root / "dist/ceo.pdf")
    assert "Sales were $2,500 from 3 orders." in text
    assert "Total $2,500" in text
    assert "Example Org" in text


def test_persona_format_and_out_options(make_project: MakeProject, tmp_path: Path) -> None:
    root = make_project({"reports.yaml": TWO_REPORTS})
    out = tmp_path / "elsewhere"
    result = CliRunner().invoke(
        main, ["-C", str(root), "build", "--persona", "cfo", "--format", "html", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["cfo.html", "manifest.json"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert list(manifest["reports"]) == ["cfo"]
    assert list(manifest["reports"]["cfo"]["files"]) == ["html"]


def test_unknown_persona_is_a_clear_error(make_project: MakeProject) -> None:
    root = make_project({"reports.yaml": TWO_REPORTS})
    result = CliRunner().invoke(main, ["-C", str(root), "build", "--persona", "cfp"])
    assert result.exit_code == 3
    assert "error: --persona: no persona 'cfp' (did you mean 'cfo'?)" in result.output


def test_manifest_merges_partial_builds(make_project: MakeProject) -> None:
    root = make_project({"reports.yaml": TWO_REPORTS})
    assert CliRunner().invoke(main, ["-C", str(root), "build", "--format", "html"]).exit_code == 0
    assert (
        CliRunner()
        .invoke(main, ["-C", str(root), "build", "--persona", "cfo", "--format", "html"])
        .exit_code
        == 0
    )
    manifest = json.loads((root / "dist/manifest.json").read_text())
    assert sorted(manifest["reports"]) == ["ceo", "cfo"]


def test_one_failing_report_does_not_stop_the_others(make_project: MakeProject) -> None:
    text = TWO_REPORTS.replace(
        "      - {field: amount, label: Amount, format: currency, total: sum}",
        "      - {field: amount, label: Amount, format: currency, total: sum}\n"
        "      - {field: discount, label: Discount}",
    )
    root = make_project({"reports.yaml": text})
    result = CliRunner().invoke(main, ["-C", str(root), "build"])
    assert result.exit_code == 1
    assert "ok      cfo" in result.output
    assert (
        "error: reports.yaml:35:9: sections.sales_table.columns[2]: report 'ceo', section "
        "'sales_table': no column 'discount'; columns are: region, amount" in result.output
    )
    assert (root / "dist/cfo.pdf").exists()
    assert not (root / "dist/ceo.pdf").exists()
    manifest = json.loads((root / "dist/manifest.json").read_text())
    assert manifest["reports"]["ceo"]["status"] == "failed"
    assert manifest["reports"]["cfo"]["status"] == "ok"


@pytest.mark.slow
def test_failed_rebuild_keeps_the_previous_pdf_intact(make_project: MakeProject) -> None:
    root = make_project()
    assert CliRunner().invoke(main, ["-C", str(root), "build"]).exit_code == 0
    before = (root / "dist/ceo.pdf").read_bytes()
    (root / "data/sales.csv").write_text("region,amount\nNorth,1,2\n")
    result = CliRunner().invoke(main, ["-C", str(root), "build"])
    assert result.exit_code == 1
    assert (root / "dist/ceo.pdf").read_bytes() == before
    assert [p.name for p in (root / "dist").iterdir() if p.name.startswith(".")] == []


def test_html_and_script_in_data_are_escaped(make_project: MakeProject) -> None:
    csv_text = (
        'region,amount\n"<script>alert(1)</script>",100\n'
        '"<img src=\'file:///etc/passwd\'>",200\n"Tom & Jerry <b>",5\n'
    )
    root = make_project({"data/sales.csv": csv_text})
    result = CliRunner().invoke(main, ["-C", str(root), "build"])
    assert result.exit_code == 0, result.output
    html = (root / "dist/ceo.html").read_text()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=" not in html
    assert "Tom &amp; Jerry &lt;b&gt;" in html
    text = pdf_text(root / "dist/ceo.pdf")
    assert "<script>alert(1)</script>" in text  # shown as text, not run


def test_hostile_template_cannot_fetch_remote_or_local_files(make_project: MakeProject) -> None:
    template = (
        '<img src="file:///etc/passwd">\n'
        '<img src="https://example.com/tracker.png">\n'
        '<img src="../../../../etc/hostname">\n'
        '<link rel="stylesheet" href="http://127.0.0.1:9/evil.css">\n'
        "<p>{{ section.title }}</p>\n"
    )
    text = MINIMAL_YAML.replace("    type: table", "    type: evil")
    root = make_project({"reports.yaml": text, "sections/evil.html.j2": template})
    result = CliRunner().invoke(main, ["-C", str(root), "build"])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert warnings[:3] == [
        "warning: report 'ceo': refused to fetch http://127.0.0.1:9/evil.css",
        "warning: report 'ceo': refused to fetch file:///etc/passwd",
        "warning: report 'ceo': refused to fetch https://example.com/tracker.png",
    ]
    assert warnings[3].endswith("/etc/hostname")
    assert len(warnings) == 4
    assert "root:" not in pdf_text(root / "dist/ceo.pdf")


@pytest.mark.slow
def test_project_template_overrides_builtin(make_project: MakeProject) -> None:
    override = "<p class='custom'>Custom table with {{ rows | length }} rows</p>\n"
    root = make_project({"sections/table.html.j2": override})
    assert CliRunner().invoke(main, ["-C", str(root), "build"]).exit_code == 0
    assert "Custom table with 3 rows" in pdf_text(root / "dist/ceo.pdf")


def test_list_masks_addresses(make_project: MakeProject) -> None:
    root = make_project({"reports.yaml": TWO_REPORTS})
    result = CliRunner().invoke(main, ["-C", str(root), "list"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "ceo: CEO Report",
        "  sections: summary (markdown), sales_table (table)",
        "  to: c***@example.com",
        "cfo: CFO Report",
        "  sections: summary (markdown)",
        "  to: c***@example.com",
        "  cc: c***@example.com",
        "audit bcc (all reports): a***@example.org",
    ]
    assert "cfo@example.com" not in result.output


def test_schema_command_prints_the_schema() -> None:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "urn:reportc:schema:v1:reports"


def test_env_file_and_environment(make_project: MakeProject, tmp_path: Path) -> None:
    text = MINIMAL_YAML.replace("to: ceo@example.com", "to: ${CEO_EMAIL}")
    root = make_project({"reports.yaml": text, "repos.env": "CEO_EMAIL=boss@example.com\n"})
    result = CliRunner().invoke(main, ["-C", str(root), "list"], env={"CEO_EMAIL": ""})
    assert "  to: b***@example.com" in result.output
    other = tmp_path / "other.env"
    other.write_text("export CEO_EMAIL='chief@example.org'\n")
    result = CliRunner().invoke(
        main, ["-C", str(root), "--env-file", str(other), "list"], env={"CEO_EMAIL": ""}
    )
    assert "  to: c***@example.org" in result.output
    result = CliRunner().invoke(
        main, ["-C", str(root), "list"], env={"CEO_EMAIL": "env@example.net"}
    )
    assert "  to: e***@example.net" in result.output


def test_malformed_env_file(make_project: MakeProject) -> None:
    root = make_project({"repos.env": "GOOD=1\nthis is not a pair\n"})
    result = CliRunner().invoke(main, ["-C", str(root), "validate"])
    assert result.exit_code == 3
    assert "error: repos.env:2:1: expected KEY=value" in result.output


@pytest.mark.slow
def test_period_option_and_sql_parameters(make_project: MakeProject) -> None:
    text = MINIMAL_YAML.replace(
        "  orders:\n    sql: SELECT count(*) FROM sales",
        "  orders:\n    sql: SELECT count(*) FROM sales WHERE $period_start <= DATE '2026-09-30'",
    )
    root = make_project({"reports.yaml": text})
    result = CliRunner().invoke(main, ["-C", str(root), "build", "--period", "2026-09"])
    assert result.exit_code == 0, result.output
    assert "for September 2026" in result.output
    assert "from 3 orders" in pdf_text(root / "dist/ceo.pdf")
    result = CliRunner().invoke(main, ["-C", str(root), "build", "--period", "2026-10"])
    assert "from 0 orders" in pdf_text(root / "dist/ceo.pdf")
    result = CliRunner().invoke(main, ["-C", str(root), "validate", "--period", "2026-9"])
    assert result.exit_code == 3
    assert "error: --period: '2026-9' is not a period" in result.output


def test_validate_ok_message(make_project: MakeProject) -> None:
    root = make_project()
    result = CliRunner().invoke(main, ["-C", str(root), "validate"])
    assert result.exit_code == 0
    assert result.output == (
        "reports.yaml: valid — 1 report, 1 source, 3 metrics, period 2026-10\n"
    )
    assert not (root / "dist").exists()


def test_missing_project_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["-C", str(tmp_path), "validate"])
    assert result.exit_code == 3
    assert f"error: reports.yaml: no reports.yaml in {tmp_path}" in result.output


@pytest.mark.slow
def test_long_tables_repeat_their_header_on_every_page(make_project: MakeProject) -> None:
    from pypdf import PdfReader

    rows = "".join(f"Region {i:03d},{i * 10}\n" for i in range(150))
    root = make_project({"data/sales.csv": "region,amount\n" + rows})
    assert CliRunner().invoke(main, ["-C", str(root), "build", "--format", "pdf"]).exit_code == 0
    reader = PdfReader(str(root / "dist/ceo.pdf"))
    texts = [page.extract_text() or "" for page in reader.pages]
    first = next(i for i, t in enumerate(texts) if "Region 000" in t)
    assert len(texts) - first >= 3
    for text in texts[first:]:
        assert "Region Amount" in text
    last = reader.pages[-1].extract_text() or ""
    assert f"Total ${sum(i * 10 for i in range(150)):,}" in last


def test_relative_project_and_output_dirs(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project()
    monkeypatch.chdir(root.parent)
    result = CliRunner().invoke(
        main, ["-C", root.name, "build", "--format", "html", "--out", "out"]
    )
    assert result.exit_code == 0, result.output
    assert (root.parent / "out" / "ceo.html").exists()
    assert "out/ceo.html" in result.output


def test_a_known_good_file_skips_the_schema_check_but_a_changed_one_does_not(
    make_project: MakeProject,
) -> None:
    import subprocess
    import sys

    root = make_project()
    load_project(root, environ={})
    markers = list((root / ".reportc/cache/validated").iterdir())
    assert len(markers) == 1
    probe = (
        "import sys; from reportc import load_project; load_project(sys.argv[1], environ={}); "
        "print('jsonschema' in sys.modules, 'croniter' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(root)], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "False"]  # the same document: not re-checked
    config = root / "reports.yaml"
    config.write_text(config.read_text().replace("format: integer", "format: integr"))
    with pytest.raises(ConfigError, match="'integr' is not one of"):
        load_project(root, environ={})
    assert len(list((root / ".reportc/cache/validated").iterdir())) == 1  # not remembered


@pytest.mark.parametrize(
    ("given", "read"),
    [
        (["build", "-q"], ["-q", "build"]),
        (
            ["-C", "x", "build", "--jobs", "1", "-v", "--log-format", "json"],
            ["-C", "x", "-v", "--log-format", "json", "build", "--jobs", "1"],
        ),
        (
            ["send", "--log-format=json", "--persona", "cfo"],
            ["--log-format=json", "send", "--persona", "cfo"],
        ),
        (["--config", "build", "status"], ["--config", "build", "status"]),
        (["build", "--", "-q"], ["build", "--", "-q"]),
        (["nonsense", "-q"], ["nonsense", "-q"]),
    ],
)
def test_global_options_may_come_after_the_command(given: list[str], read: list[str]) -> None:
    from reportc.cli import globals_first

    assert globals_first(given) == read
