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
from tests.conftest import FIXED_NOW, MINIMAL_YAML, SEND_YAML, MakeProject, pdf_text

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


@pytest.mark.slow
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


BADGE = '''\
"""A section type that shows how many rows its source has, as a badge."""
from pathlib import Path

from reportc.section_types import SectionTypePlugin

HERE = Path(__file__).parent


def prepare(section, report, fmt):
    suffix = section.spec.options.get("suffix", "rows")
    return {"label": f"{len(section.rows)} {suffix}"}


SECTION_TYPE = SectionTypePlugin(
    name="badge",
    template=HERE / "badge.html.j2",
    schema=HERE / "badge.schema.json",
    prepare=prepare,
)
'''


@pytest.fixture
def badge_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A section-type plugin installed the way pip leaves a package."""
    site = tmp_path / "site"
    package = site / "reportc_badge"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(BADGE)
    (package / "badge.html.j2").write_text('<p class="counted">Badge: {{ label }}</p>\n')
    (package / "badge.schema.json").write_text('{"properties": {"suffix": {"type": "string"}}}')
    info = site / "reportc_badge-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: reportc-badge\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[reportc.section_types]\nbadge = reportc_badge:SECTION_TYPE\n"
    )
    monkeypatch.syspath_prepend(str(site))
    return site


BADGE_YAML = MINIMAL_YAML.replace(
    "sections:\n",
    "sections:\n  count:\n    type: badge\n    title: Orders\n    source: sales\n"
    "    suffix: orders on file\n",
).replace("sections: [summary, sales_table]", "sections: [count, summary]")


def test_a_plugin_section_type_renders_with_its_own_options(
    make_project: MakeProject, badge_installed: Path
) -> None:
    root = make_project({"reports.yaml": BADGE_YAML})
    result = CliRunner().invoke(main, ["-C", str(root), "build", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert "Badge: 3 orders on file" in pdf_text(root / "dist/ceo.pdf")
    # its schema fragment validates its options, with positions
    bad = BADGE_YAML.replace("suffix: orders on file", "sufix: orders")
    (root / "reports.yaml").write_text(bad)
    result = CliRunner().invoke(main, ["-C", str(root), "validate"])
    assert result.exit_code == 3
    assert "sections.count: unknown key 'sufix' (did you mean 'suffix'?)" in result.output


def test_an_unknown_section_type_names_the_plugin_route(make_project: MakeProject) -> None:
    root = make_project({"reports.yaml": BADGE_YAML})
    result = CliRunner().invoke(main, ["-C", str(root), "validate"])
    assert result.exit_code == 3
    assert "unknown section type 'badge'" in result.output
    assert "install a plugin that adds it (entry point group reportc.section_types)" in (
        result.output
    )
