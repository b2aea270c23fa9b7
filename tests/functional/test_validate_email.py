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
        "reports.yaml:38:14: personas.ceo.subject: email subject: the rendered subject has "
        "a line break"
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
