"""Transports from plugins: a tiny package found through its entry point, used by send."""

from __future__ import annotations

import email
import textwrap
from email import policy
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportc import load_project
from reportc.cli import main
from reportc.delivery.registry import GROUP, plugins
from reportc.dispatch import send
from reportc.errors import DeliveryError
from tests.conftest import FIXED_NOW, SEND_YAML, MakeProject

PLUGIN = '''\
"""A transport that keeps each message as a file named after its recipients."""
from pathlib import Path


class Pigeon:
    name = "pigeon"
    max_message_bytes = 10_000_000

    def __init__(self, loft):
        self.loft = loft
        loft.mkdir(parents=True, exist_ok=True)

    def preflight(self, sender, recipients):
        from reportc.delivery import Preflight

        return Preflight(True, notes=("pigeons are ready",))

    def send(self, envelope):
        path = self.loft / (envelope.report + ".eml")
        path.write_bytes(envelope.raw)
        return "pigeon-" + envelope.report

    def close(self):
        return None


def make_transport(project, outbox):
    return Pigeon(project.root / "loft")
'''


@pytest.fixture
def pigeon_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Install the plugin the way pip leaves a package: a module and its .dist-info."""
    site = tmp_path / "site"
    (site / "reportc_pigeon-0.1.dist-info").mkdir(parents=True)
    (site / "reportc_pigeon.py").write_text(PLUGIN)
    (site / "reportc_pigeon-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: reportc-pigeon\nVersion: 0.1\n"
    )
    (site / "reportc_pigeon-0.1.dist-info" / "entry_points.txt").write_text(
        textwrap.dedent(
            f"""\
            [{GROUP}]
            pigeon = reportc_pigeon:make_transport
            ses = reportc_pigeon:make_transport
            """
        )
    )
    monkeypatch.syspath_prepend(str(site))
    return site


def test_a_plugin_transport_delivers_through_the_ledger(
    make_project: MakeProject, pigeon_installed: Path
) -> None:
    assert list(plugins()) == ["pigeon"]  # a plugin cannot take a built-in name
    root = make_project({"reports.yaml": SEND_YAML.replace("max_attempts: 4", "transport: pigeon")})
    result = send(load_project(root, environ={}), clock=lambda: FIXED_NOW, sleep=lambda s: None)
    assert [m.state for m in result.messages] == ["sent"] * 3
    assert result.transport == "pigeon" and result.notes == ("pigeons are ready",)
    msg = email.message_from_bytes((root / "loft/cfo.eml").read_bytes(), policy=policy.default)
    assert msg["X-Reportc-Report"] == "cfo" and msg["Bcc"] is None
    again = CliRunner().invoke(main, ["-C", str(root), "send"])
    assert again.exit_code == 0, again.output
    assert "via pigeon: 3 skipped" in again.output  # the same exactly-once ledger


def test_an_unknown_transport_is_a_positioned_error(make_project: MakeProject) -> None:
    root = make_project({"reports.yaml": SEND_YAML.replace("max_attempts: 4", "transport: pigeno")})
    with pytest.raises(DeliveryError) as info:
        send(load_project(root, environ={}), clock=lambda: FIXED_NOW, sleep=lambda s: None)
    problem = info.value.problems[0]
    assert problem.format().startswith(
        "reports.yaml:9:14: delivery.transport: unknown transport 'pigeno'\n"
    )
    option = CliRunner().invoke(main, ["-C", str(root), "send", "--transport", "smpt"])
    assert option.exit_code == 6
    assert "error: --transport: unknown transport 'smpt' (did you mean 'smtp'?)" in option.output
    assert "built in: ses, smtp, outbox" in problem.hint
