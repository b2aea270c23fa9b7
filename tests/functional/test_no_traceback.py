"""No traceback, ever: hostile and broken input gets a clear, positioned error and a code.

Each case runs the real ``reportc`` entry point in a subprocess (as a user does),
bounded in time (and by reportc's own memory cap), and checks the exit code and the
message.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import MINIMAL_YAML, MakeProject, pdf_text

NARRATIVE = 'text: "Sales were {{ total_sales | currency }} from {{ orders }} orders."'


def reportc(root: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    # bounded by reportc's own memory cap (REPORTC_MAX_MEMORY, default 4096 MB)
    code = "import sys; from reportc.cli import run; sys.argv[0] = 'reportc'; run()"
    env = {k: v for k, v in os.environ.items() if k != "REPORTC_DEBUG"}
    result = subprocess.run(
        [sys.executable, "-c", code, "-C", str(root), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    return result


@pytest.mark.parametrize(
    ("yaml_text", "code", "expected"),
    [
        (
            MINIMAL_YAML.replace(NARRATIVE, 'text: "{% for i in range(10**9) %}x{% endfor %}"'),
            5,
            "reports.yaml:24:3: sections.summary.text: report 'ceo', section 'summary': "
            "OverflowError in 'text': Range too big.",
        ),
        (
            MINIMAL_YAML.replace(NARRATIVE, 'text: "{{ total_sales | number(10**8) }}"'),
            5,
            "report 'ceo'",
        ),
        (
            MINIMAL_YAML.replace(NARRATIVE, "text: \"{{ 'a' * 10**10 }}\""),
            5,
            "is too large",
        ),
        (
            MINIMAL_YAML.replace(NARRATIVE, 'text: "{{ 10 ** 10 ** 10 }}"'),
            5,
            "10000000000 ** 10 is too large",  # Jinja's ** groups from the left
        ),
        (
            MINIMAL_YAML.replace("expr: total_sales / orders", "expr: 10**10**10"),
            4,
            "reports.yaml:21:11: metrics.average_order.expr: cannot compute: 10 ** 10000000000 is "
            "too large (metrics stay within ±10^18)",
        ),
        (
            MINIMAL_YAML + "extra:\n  deep: " + "[" * 5000 + "]" * 5000 + "\n",
            3,
            "reports.yaml",
        ),
        (
            "big: &big '" + "x" * 2_000_000 + "'\nrefs: [" + ", ".join(["*big"] * 5000) + "]\n",
            3,
            "characters of text",
        ),
    ],
    ids=[
        "range",
        "number-decimals",
        "string-repeat",
        "template-power",
        "expr-power",
        "deep-yaml",
        "anchor-bomb",
    ],
)
def test_bounded_and_clear(
    make_project: MakeProject, yaml_text: str, code: int, expected: str
) -> None:
    root = make_project({"reports.yaml": yaml_text})
    result = reportc(root, "validate")
    assert result.returncode == code, result.stderr
    assert expected in result.stderr


def test_hostile_data_files(make_project: MakeProject) -> None:
    text = MINIMAL_YAML.replace(
        "sources:\n", "sources:\n  deep:\n    type: json\n    path: data/deep.json\n"
    ).replace("  sales_table:", "  deep_table:\n    type: table\n    source: deep\n  sales_table:")
    text = text.replace("sections: [summary, sales_table]", "sections: [summary, deep_table]")
    root = make_project({"reports.yaml": text, "data/deep.json": "[" * 100_000 + "]" * 100_000})
    result = reportc(root, "validate")
    assert result.returncode == 4, result.stderr
    assert "data/deep.json: invalid JSON: nested too deeply" in result.stderr
    root = make_project(
        {"reports.yaml": MINIMAL_YAML, "data/sales.csv": "a" * 1_000_000 + ",amount\nx,1\n"}
    )
    result = reportc(root, "validate")
    assert result.returncode == 4, result.stderr
    assert (
        "data/sales.csv:1:1: malformed CSV header: field larger than field limit" in result.stderr
    )


@pytest.mark.slow
def test_a_corrupt_or_read_only_ledger_stops_send_clearly(make_project: MakeProject) -> None:
    root = make_project({})
    state = root / ".reportc"
    state.mkdir()
    (state / "ledger.sqlite").write_bytes(b"this is not a database" * 100)
    result = reportc(root, "send", "--transport", "outbox")
    assert result.returncode == 6, result.stderr
    assert ".reportc/ledger.sqlite: the delivery ledger cannot be used: file is not a database" in (
        result.stderr
    )
    assert not list(root.glob("dist/outbox/*.eml"))


@pytest.mark.slow
def test_a_template_that_loops_too_long_is_stopped(make_project: MakeProject) -> None:
    text = MINIMAL_YAML.replace(
        NARRATIVE,
        'text: "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"',
    )
    root = make_project({"reports.yaml": text})
    result = reportc(root, "build", "--jobs", "1", "--timeout", "2")
    assert result.returncode == 1, result.stderr
    assert "rendering report 'ceo' took longer than 2 s and was stopped" in result.stderr


@pytest.mark.slow
def test_a_narrative_that_grows_without_bound_is_stopped(make_project: MakeProject) -> None:
    text = MINIMAL_YAML.replace(
        'text: "Sales were',
        'text: "{% for r in range(100000) %}{{ total_sales | currency }} and more text '
        "to grow the page {% endfor %}Sales were",
    )
    root = make_project({"reports.yaml": text})
    result = reportc(root, "validate")
    assert result.returncode == 5, result.stderr
    assert (
        "sections.summary.text: report 'ceo', section 'summary': the text in 'text' grew to "
        "4,000,034 characters (at most 200,000)" in result.stderr
    )


@pytest.mark.slow
def test_a_burst_row_named_like_another_persona_fails_validate_with_its_position(
    make_project: MakeProject,
) -> None:
    from tests.functional.test_scale import BURST_YAML, STORES, burst_project

    text = BURST_YAML.replace('filename: "store-{{ row.store_id }}"', 'filename: "{{ row.city }}"')
    text += "  alpha:\n    title: Alpha persona\n    sections: [lines]\n    recipients:\n"
    text += "      to: h@example.com\n"
    text = text.replace(
        "    query: SELECT amount FROM my_sales ORDER BY amount\n",
        "    query: SELECT amount FROM sales ORDER BY amount\n",
    )
    root = burst_project(make_project, text, STORES.replace("Alpha", "alpha"))
    result = reportc(root, "validate")
    assert result.returncode == 4, result.stderr
    assert (
        "reports.yaml:32:15: personas.store.filename: report 'store': row 'S1' gives the report "
        "name 'alpha', which is already the persona 'alpha'" in result.stderr
    )
    build = reportc(root, "build", "--jobs", "1")
    assert build.returncode == 1, build.stderr
    assert (root / "dist/alpha.pdf").exists() and (root / "dist/Bravo.pdf").exists()
    assert "Alpha persona" in pdf_text(root / "dist/alpha.pdf")


@pytest.mark.slow
def test_an_unwritable_chart_cache_is_a_warning_not_a_failed_build(
    make_project: MakeProject,
) -> None:
    from tests.functional.test_design import CHART_YAML

    root = make_project({"reports.yaml": CHART_YAML, ".reportc/cache": "not a folder"})
    result = reportc(root, "build", "--jobs", "1")
    assert result.returncode == 0, result.stderr
    assert "warning: the chart cache could not be written" in result.stderr
    assert "Sales by region" in pdf_text(root / "dist/ceo.pdf")


def test_an_alert_asking_for_an_impossible_value_is_an_error(make_project: MakeProject) -> None:
    text = MINIMAL_YAML.replace(
        "    recipients:\n      to: ceo@example.com\n",
        "    alerts:\n      - when: 10**10**10 > total_sales\n        notice: never\n"
        "    recipients:\n      to: ceo@example.com\n",
    )
    root = make_project({"reports.yaml": text})
    result = reportc(root, "validate")
    assert result.returncode == 4, result.stderr
    assert (
        "reports.yaml:40:15: personas.ceo.alerts[0].when: report 'ceo': alert 'when' cannot be "
        "evaluated: 10 ** 10000000000 is too large" in result.stderr
    )


def test_a_huge_number_in_yaml_is_a_positioned_error(make_project: MakeProject) -> None:
    root = make_project({"reports.yaml": MINIMAL_YAML + "extra: " + "9" * 5000 + "\n"})
    result = reportc(root, "validate")
    assert result.returncode == 3, result.stderr
    assert "reports.yaml:41:8: extra: this value cannot be read: Exceeds the limit" in result.stderr


@pytest.fixture
def tiny_disk(make_project: MakeProject) -> Iterator[Path]:
    """The project's .reportc/ on a 200 KB tmpfs (skipped where mounting is not allowed)."""
    root = make_project({})
    state = root / ".reportc"
    state.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(state)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: " + mounted.stderr.decode()[:100])
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)


@pytest.mark.slow
def test_a_full_or_read_only_disk_under_the_ledger_stops_send_clearly(tiny_disk: Path) -> None:
    root = tiny_disk
    state = root / ".reportc"
    filler = state / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as fh:  # fill the disk
        while True:
            fh.write(b"x" * 4096)
            fh.flush()
    result = reportc(root, "send", "--transport", "outbox")
    assert result.returncode == 6, result.stderr
    assert "the delivery ledger cannot be used" in result.stderr
    assert "free some disk space" in result.stderr
    assert not list(root.glob("dist/outbox/*.eml"))
    # Room again: the ledger works, the report goes once.
    filler.unlink()
    first = reportc(root, "send", "--transport", "outbox")
    assert first.returncode == 0, first.stderr
    # A read-only ledger: nothing more is sent, and it says so.
    (root / "data/sales.csv").write_text("region,amount\nNorth,7\n")  # a new PDF to send
    subprocess.run(["mount", "-o", "remount,ro", str(state)], check=True)
    result = reportc(root, "send", "--transport", "outbox")
    assert result.returncode == 6, result.stderr
    assert "the delivery ledger cannot be used" in result.stderr
    assert len(list(root.glob("dist/outbox/*.eml"))) == 1


_LINES = MINIMAL_YAML.splitlines()


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    data=st.binary(max_size=300),
    line=st.integers(0, len(_LINES) - 1),
    edit=st.text(max_size=40),
)
def test_any_csv_or_yaml_edit_is_a_reportc_error_or_valid(
    data: bytes, line: int, edit: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Property: random CSV bytes and random edits of a YAML line never escape as anything
    but a ReportcError (which the CLI shows as positioned problems)."""
    from reportc import validate
    from reportc.config import load_project
    from reportc.errors import ReportcError
    from tests.conftest import MINIMAL_CSV, write_files

    lines = list(_LINES)
    lines[line] = lines[line][: len(lines[line]) // 2] + edit
    cases: list[dict[str, str | bytes]] = [
        {"reports.yaml": MINIMAL_YAML, "data/sales.csv": data},
        {"reports.yaml": "\n".join(lines) + "\n", "data/sales.csv": MINIMAL_CSV},
    ]
    for files in cases:
        root = tmp_path_factory.mktemp("fuzz")
        write_files(root, files)
        with contextlib.suppress(ReportcError):
            validate(load_project(root, environ={}))
