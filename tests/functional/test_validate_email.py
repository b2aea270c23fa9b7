"""``validate`` composes every report's email as ``send`` would, and positions what fails."""

from __future__ import annotations

from click.testing import CliRunner

from tests.conftest import MINIMAL_YAML, MakeProject

TWO_PERSONAS = (
    MINIMAL_YAML
    + """\
  cfo:
    title: CFO Report
    sections: [summary]
    recipients:
      to: cfo@example.com
"""
)


def _validate(root: object) -> tuple[int, str]:
    from reportc.cli import main

    result = CliRunner().invoke(main, ["-C", str(root), "validate"])
    return result.exit_code, result.output


def test_a_misspelt_name_in_the_subject_is_one_problem_at_its_key(
    make_project: MakeProject,
) -> None:
    yaml = TWO_PERSONAS.replace(
        "  audit_bcc: audit@example.org\n",
        '  audit_bcc: audit@example.org\n  subject: "{{ report.titel }} for {{ period.title }}"\n',
    )
    code, out = _validate(make_project({"reports.yaml": yaml}))
    assert code == 5, out
    expected = (
        "reports.yaml:9:12: delivery.subject: email subject: 'dict object' has no "
        "attribute 'titel' (did you mean 'title'?)"
    )
    assert expected in out
    assert out.count("has no attribute 'titel'") == 1  # once per template, not per report


def test_a_subject_with_a_line_break_is_refused_at_the_persona_key(
    make_project: MakeProject,
) -> None:
    yaml = MINIMAL_YAML.replace(
        "    title: CEO Report\n",
        '    title: CEO Report\n    subject: "{{ report.title }}\\nBcc: x@example.org"\n',
    )
    code, out = _validate(make_project({"reports.yaml": yaml}))
    assert code == 5, out
    assert (
        "reports.yaml:38:14: personas.ceo.subject: report 'ceo': the subject contains a line "
        "break: 'CEO Report\\nBcc: x***@example.org'"  # every message masks addresses
    ) in out


def test_an_email_body_template_error_points_at_its_line(make_project: MakeProject) -> None:
    body = "Hello {{ org.name }},\n{{ report.sumary }}\n"
    code, out = _validate(make_project({"templates/email.txt.j2": body}))
    assert code == 5, out
    assert (
        "templates/email.txt.j2:2: email body (email.txt.j2): 'dict object' has no "
        "attribute 'sumary' (did you mean 'summary'?)"
    ) in out


def test_a_valid_project_still_validates(make_project: MakeProject) -> None:
    code, out = _validate(make_project())
    assert code == 0, out
    assert "valid — 1 report, 1 source, 3 metrics, period 2026-10" in out


FINDINGS = (
    MINIMAL_YAML.replace(
        "sections:\n",
        """sections:
  risks:
    type: findings
    title: Risks
    source: issues
  more:
    type: findings
    title: More risks
    source: other
""",
    )
    .replace(
        "sources:\n",
        """sources:
  issues:
    type: inline
    rows:
      - {title: Low one, severity: low, entity: Alpha}
      - {title: Critical in Zulu, severity: critical, entity: Zulu}
  other:
    type: inline
    rows:
      - {title: Critical in Beta, severity: critical, entity: Beta}
      - {title: High in Alpha, severity: high, entity: Alpha}
""",
    )
    .replace("sections: [summary, sales_table]", "sections: [summary, risks, more]")
)


def test_the_emails_top_findings_are_by_severity_then_entity(make_project: MakeProject) -> None:
    import json

    from reportc.cli import main

    root = make_project({"reports.yaml": FINDINGS})
    result = CliRunner().invoke(main, ["-C", str(root), "build", "--format", "html"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((root / "dist/manifest.json").read_text())
    top = manifest["reports"]["ceo"]["email"]["summary"]["findings"]
    assert [(f["severity"], f["entity"]) for f in top] == [
        ("critical", "Beta"),
        ("critical", "Zulu"),
        ("high", "Alpha"),
        ("low", "Alpha"),
    ]
