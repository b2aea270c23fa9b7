"""Alert rules: a notice in the report and the email, and alert-only recipients."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reportc import load_project
from reportc.cli import main
from reportc.delivery import OutboxTransport
from reportc.dispatch import send
from tests.conftest import FIXED_NOW, SEND_YAML, MakeProject, pdf_text

ALERTS = SEND_YAML.replace(
    "    title: CEO Report\n",
    "    title: CEO Report\n"
    "    alerts:\n"
    "      - when: total_sales > 1000\n"
    "        notice: 'Sales passed {{ total_sales | currency }}.'\n"
    "        cc: [cro@example.com]\n"
    "      - when: orders > 100\n"
    "        notice: Never shown.\n"
    "        to: nobody@example.com\n",
)


@pytest.mark.slow
def test_a_firing_alert_adds_its_notice_and_recipients(
    make_project: MakeProject, tmp_path: Path
) -> None:
    root = make_project({"reports.yaml": ALERTS})
    assert CliRunner().invoke(main, ["-C", str(root), "build", "--jobs", "1"]).exit_code == 0
    text = pdf_text(root / "dist/ceo.pdf")
    assert "ALERT  Sales passed $2,500." in text  # the badge, then the notice
    assert "Never shown." not in text
    assert "Sales passed" not in pdf_text(root / "dist/cfo.pdf")
    result = send(
        load_project(root, environ={}),
        transport=OutboxTransport(tmp_path / "b"),
        clock=lambda: FIXED_NOW,
        sleep=lambda s: None,
        reports=["ceo"],
    )
    message = result.messages[0]
    assert message.to == ("ceo@example.com",) and message.cc == ("cro@example.com",)
    eml = next((tmp_path / "b").glob("ceo-*.eml")).read_text()
    assert "ALERT: Sales passed $2,500." in eml.replace("=\n", "")


def test_alert_rules_are_validated(make_project: MakeProject) -> None:
    bad = ALERTS.replace("when: orders > 100", "when: order > 100").replace(
        "cc: [cro@example.com]", "cc: [cro-at-example.com]"
    )
    result = CliRunner().invoke(main, ["-C", str(make_project({"reports.yaml": bad})), "validate"])
    assert result.exit_code == 3
    assert (
        "personas.ceo.alerts[1].when: unknown metric 'order' (did you mean 'orders'?)"
        in result.output
    )
    assert (
        "personas.ceo.alerts[0].cc[0]: 'cro-at-example.com' is not a valid email address"
        in result.output
    )
