"""The archive: runs by period, comparisons with earlier runs, history, diff, send_if."""

from __future__ import annotations

import datetime as dt
import email
import json
from email import policy
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reportc import archive_run, build, load_project
from reportc.archive import diff, list_runs, load_values, resolve
from reportc.cli import main
from reportc.delivery import OutboxTransport
from reportc.dispatch import send
from reportc.errors import ArchiveError, ConfigError
from reportc.stores import LocalStore, open_store
from tests.conftest import SEND_YAML, MakeProject, MotoServer, pdf_text

WEEK1 = dt.datetime(2026, 11, 16, 7, 0, tzinfo=dt.timezone.utc)
WEEK2 = WEEK1 + dt.timedelta(days=7)
WEEK3 = WEEK2 + dt.timedelta(days=7)

ARCHIVE_YAML = (
    SEND_YAML.replace(
        "sections:\n  summary:\n",
        "sections:\n"
        "  headline:\n"
        "    type: kpis\n"
        "    title: Headline\n"
        "    compare: archive\n"
        "    trend: 4\n"
        "    items:\n"
        "      - {label: Total sales, value: total_sales}\n"
        "      - {label: Orders, value: orders}\n"
        "  by_region:\n"
        "    type: kpis\n"
        "    title: By region\n"
        "    compare: archive\n"
        "    query: SELECT region AS label, sum(amount) AS value FROM sales GROUP BY 1 ORDER BY 1\n"
        "  summary:\n",
    )
    .replace(
        "    sections: [summary, sales_table]\n    recipients:\n      to: ceo@example.com\n",
        "    sections: [headline, by_region, summary]\n    send_if: changed\n"
        "    recipients:\n      to: ceo@example.com\n",
    )
    .replace('period: "2026-10"\n', 'period: "2026-10"\narchive:\n  location: ${ARCHIVE}\n')
    .replace(
        '{{ orders }} orders."',
        "{{ orders }} orders.{% if previous_run %} Last run ({{ previous_run.label }}): "
        '{{ previous_run.metrics.total_sales | currency }}.{% endif %}"',
    )
)

SALES_1 = "region,amount\nNorth,1200\nSouth,800\nNorth,500\n"  # 2,500 from 3 orders
SALES_2 = "region,amount\nNorth,1200\nSouth,800\nNorth,500\nSouth,500\n"  # 3,000 from 4


def _project(root: Path, location: str, env: dict[str, str] | None = None) -> Any:
    return load_project(root, environ={"ARCHIVE": location, **(env or {})})


def _week(project: Any, when: dt.datetime) -> Any:
    result = build(project, clock=lambda: when)
    assert result.ok, [r.error for r in result.reports if r.error]
    return archive_run(project, clock=lambda: when)


@pytest.mark.slow
def test_a_weekly_cycle_archives_compares_lists_and_diffs(
    make_project: MakeProject, tmp_path: Path
) -> None:
    root = make_project({"reports.yaml": ARCHIVE_YAML, "data/sales.csv": SALES_1})
    project = _project(root, ".reportc/archive")

    first = _week(project, WEEK1)
    assert first.state == "archived"
    assert first.run.run_id.startswith("20261116T070000Z-")
    folder = root / ".reportc/archive/2026-10" / first.run.run_id
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [
            "run.json",
            "values.json",
            "manifest.json",
            *(f"{n}.{k}" for n in ("ceo", "cfo", "cmo") for k in ("pdf", "html")),
        ]
    )
    assert (folder / "ceo.pdf").read_bytes() == (root / "dist/ceo.pdf").read_bytes()
    doc = json.loads((folder / "values.json").read_text())
    assert doc["schema_version"] == 2
    values = doc["reports"]
    assert values["ceo"]["metrics"]["total_sales"] == 2500
    assert values["ceo"]["kpis"]["by_region"] == {"North": 1700, "South": 800}
    # only the metrics a report shows (average_order is shown by none), and its tables
    assert set(values["ceo"]["metrics"]) == {"orders", "total_sales"}
    assert set(values["cmo"]["rows"]) == {"sales_table"}
    # the first run has nothing to compare with
    assert "vs " not in pdf_text(root / "dist/ceo.pdf")
    assert "Last run" not in pdf_text(root / "dist/ceo.pdf")

    # The same data archived again (a re-run in the same week) stores nothing new.
    again = archive_run(project, clock=lambda: WEEK1 + dt.timedelta(hours=1))
    assert (again.state, again.run.run_id) == ("unchanged", first.run.run_id)

    (root / "data/sales.csv").write_text(SALES_2)
    second = _week(project, WEEK2)
    assert second.state == "archived"
    text = " ".join(pdf_text(root / "dist/ceo.pdf").split())
    assert "20.0% vs 16 Nov 2026" in text  # total sales 2,500 -> 3,000
    assert "33.3% vs 16 Nov 2026" in text  # orders 3 -> 4
    assert "62.5% vs 16 Nov 2026" in text  # South 800 -> 1,300 (a KPI from rows)
    assert "Last run (16 Nov 2026): $2,500." in text  # narrative: previous_run
    html = (root / "dist/ceo.html").read_text()
    assert html.count('<svg class="trend"') == 2  # the items' trends (two points each)

    # A third week: the trend has three points, oldest first, ending at this run.
    _week(project, WEEK3)
    html = (root / "dist/ceo.html").read_text()
    line = html.split('<svg class="trend"', 1)[1].split("points=", 1)[1].split('"')[1]
    assert len(line.split()) == 3

    runs = list_runs(LocalStore(root / ".reportc/archive"))
    assert [r.run_id for r in runs][:2] == [first.run.run_id, second.run.run_id]
    changes = diff(
        load_values(open_store(project), runs[0]), load_values(open_store(project), runs[1])
    )
    moved = {(c.report, c.name): (c.before, c.after) for c in changes}
    assert moved[("ceo", "total_sales")] == (2500, 3000)
    assert moved[("ceo", "by_region: South")] == (800, 1300)
    assert ("ceo", "by_region: North") not in moved

    _history_and_diff_commands(root, [r.run_id for r in runs], first.run.run_id)


def _history_and_diff_commands(root: Path, run_ids: list[str], first_id: str) -> None:
    """``reportc history`` and ``reportc diff`` over the three archived weeks."""
    env = {"ARCHIVE": ".reportc/archive"}
    out = CliRunner().invoke(main, ["-C", str(root), "history"], env=env)
    assert out.exit_code == 0, out.output
    assert out.output.index(run_ids[2]) < out.output.index(first_id)  # newest first
    assert "3 reports, 0 sent" in out.output
    shown = CliRunner().invoke(main, ["-C", str(root), "diff", first_id[:20], run_ids[1]], env=env)
    assert shown.exit_code == 0, shown.output
    assert "total_sales" in shown.output and "2,500 -> 3,000" in shown.output
    assert "+500 (+20.0%)" in shown.output
    assert "by_region: North" not in shown.output
    same = CliRunner().invoke(main, ["-C", str(root), "diff", "latest", "latest"], env=env)
    assert "no figures changed" in same.output
    as_json = CliRunner().invoke(main, ["-C", str(root), "diff", "--json"], env=env)
    assert json.loads(as_json.output)["to"] == run_ids[-1]


@pytest.mark.slow
def test_a_rebuild_within_12_hours_compares_with_the_run_before(
    make_project: MakeProject,
) -> None:
    root = make_project({"reports.yaml": ARCHIVE_YAML, "data/sales.csv": SALES_1})
    project = _project(root, ".reportc/archive")
    _week(project, WEEK1)
    (root / "data/sales.csv").write_text(SALES_2)
    _week(project, WEEK2)
    # fix something and rebuild the same morning: still compared with week 1, not itself
    (root / "data/sales.csv").write_text(SALES_2 + "North,100\n")
    _week(project, WEEK2 + dt.timedelta(hours=2))
    assert "vs 16 Nov 2026" in " ".join(pdf_text(root / "dist/ceo.pdf").split())


@pytest.mark.slow
def test_send_if_changed_skips_a_report_whose_figures_did_not_move(
    make_project: MakeProject, tmp_path: Path
) -> None:
    root = make_project({"reports.yaml": ARCHIVE_YAML, "data/sales.csv": SALES_1})
    project = _project(root, ".reportc/archive")
    box = OutboxTransport(tmp_path / "box")

    def week(when: dt.datetime) -> dict[str, str]:
        _week(project, when)
        result = send(project, transport=box, clock=lambda: when, sleep=lambda s: None)
        return {m.report: f"{m.state}: {m.detail}" for m in result.messages}

    assert all(s.startswith("sent") for s in week(WEEK1).values())
    (root / "data/sales.csv").write_text(SALES_2)
    assert all(s.startswith("sent") for s in week(WEEK2).values())
    # the email's key figures carry the change too
    newest = max((tmp_path / "box").glob("ceo-*.eml"), key=lambda p: p.stat().st_mtime_ns)
    msg = email.message_from_bytes(newest.read_bytes(), policy=policy.default)
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "- Total sales: $3,000, ▲ 20.0% vs 16 Nov 2026" in text
    # sending again: the very PDF already sent is the ledger's "already sent"
    repeat = send(project, transport=box, clock=lambda: WEEK2, sleep=lambda s: None)
    assert {m.report: m.detail[:12] for m in repeat.messages}["ceo"] == "already sent"
    # Week 3: the same data. Every PDF is new (the narrative names the previous run's
    # date, the CEO's trend has one more point), but the figures are the same: the CEO
    # report (send_if: changed) is held back, the others (send_if: always) go.
    third = week(WEEK3)
    assert third["ceo"].startswith("skipped: figures unchanged since it was sent 2026-11-23")
    assert third["cfo"].startswith("sent")
    # history says which runs' PDFs went out
    out = CliRunner().invoke(
        main, ["-C", str(root), "history"], env={"ARCHIVE": ".reportc/archive"}
    )
    lines = out.output.splitlines()
    assert "3 reports, 2 sent" in lines[1]  # week 3: ceo held back
    assert "3 reports, 3 sent" in out.output
    assert "sent 2026-11-16 07:00 UTC (1 recipient)" in out.output


@pytest.mark.slow
def test_a_build_that_failed_or_is_blocked_is_not_archived(make_project: MakeProject) -> None:
    blocked = ARCHIVE_YAML.replace(
        "    path: data/sales.csv\n", "    path: data/sales.csv\n    checks: {min_rows: 10}\n"
    )
    root = make_project({"reports.yaml": blocked, "data/sales.csv": SALES_1})
    env = {"ARCHIVE": ".reportc/archive"}
    out = CliRunner().invoke(main, ["-C", str(root), "build", "--jobs", "1"], env=env)
    assert out.exit_code == 1
    assert "archive: not archived (the build failed or is blocked)" in out.output
    assert not (root / ".reportc/archive").exists()
    with pytest.raises(ArchiveError, match="report 'ceo' is blocked by a failed check"):
        archive_run(_project(root, ".reportc/archive"))
    forced = CliRunner().invoke(
        main, ["-C", str(root), "build", "--jobs", "1", "--allow-failed-checks"], env=env
    )
    assert forced.exit_code == 0, forced.output
    assert "archive: run " in forced.output
    runs = list_runs(LocalStore(root / ".reportc/archive"))
    assert runs[0].reports["ceo"]["status"] == "blocked"


@pytest.mark.slow
def test_archive_problems_are_clear(make_project: MakeProject) -> None:
    root = make_project({"reports.yaml": ARCHIVE_YAML, "data/sales.csv": SALES_1})
    project = _project(root, ".reportc/archive")
    with pytest.raises(ArchiveError, match="nothing was built for 2026-10"):
        archive_run(project)
    build(project, clock=lambda: WEEK1)
    good = (root / "dist/ceo.pdf").read_bytes()
    (root / "dist/ceo.pdf").write_bytes(b"%PDF-1.7 tampered")
    with pytest.raises(ArchiveError, match=r"ceo\.pdf does not match the manifest"):
        archive_run(project, clock=lambda: WEEK1)
    assert not (root / ".reportc/archive").exists()  # nothing stored
    (root / "dist/ceo.pdf").write_bytes(good)
    archive_run(project, clock=lambda: WEEK1)
    runs = list_runs(open_store(project))
    with pytest.raises(ArchiveError, match="no run 'nope'"):
        resolve(runs, "nope")
    with pytest.raises(ArchiveError, match="only one run; there is no 'previous'"):
        resolve(runs, "previous")
    out = CliRunner().invoke(
        main, ["-C", str(root), "diff", "2025"], env={"ARCHIVE": ".reportc/archive"}
    )
    assert out.exit_code == 7
    assert "Error" in out.output or "error" in out.output
    # compare: archive without an archive is a configuration error, with its position
    plain = ARCHIVE_YAML.replace("archive:\n  location: ${ARCHIVE}\n", "")
    (root / "reports.yaml").write_text(plain)
    with pytest.raises(ConfigError) as info:
        load_project(root, environ={})
    text = str(info.value)
    assert (
        "reports.yaml:28:5: sections.headline.compare: 'compare' compares against archived" in text
    )
    bad_s3 = ARCHIVE_YAML.replace("${ARCHIVE}", "s3://Bad_Bucket")
    (root / "reports.yaml").write_text(bad_s3)
    with pytest.raises(ConfigError, match="'s3://Bad_Bucket' is not an S3 location"):
        load_project(root, environ={})


@pytest.mark.slow
def test_s3_archive_over_http(make_project: MakeProject, moto: MotoServer) -> None:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=moto.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket="reports-archive")
    root = make_project({"reports.yaml": ARCHIVE_YAML, "data/sales.csv": SALES_1})
    env = {**moto.env(), "ARCHIVE": "s3://reports-archive/jada"}
    project = load_project(root, environ=env)
    first = _week(project, WEEK1)
    (root / "data/sales.csv").write_text(SALES_2)
    second = _week(project, WEEK2)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="reports-archive")["Contents"])
    assert f"jada/2026-10/{first.run.run_id}/run.json" in keys
    assert f"jada/2026-10/{second.run.run_id}/ceo.pdf" in keys
    body = s3.get_object(Bucket="reports-archive", Key=f"jada/2026-10/{second.run.run_id}/ceo.pdf")
    assert body["Body"].read() == (root / "dist/ceo.pdf").read_bytes()
    assert body["ContentType"] == "application/pdf"
    assert "20.0% vs 16 Nov 2026" in " ".join(pdf_text(root / "dist/ceo.pdf").split())
    out = CliRunner().invoke(main, ["-C", str(root), "history", "--json"], env=env)
    assert out.exit_code == 0, out.output
    assert [r["run_id"] for r in json.loads(out.output)] == [
        second.run.run_id,
        first.run.run_id,
    ]
    # A bucket that does not exist: a clear error, not a traceback. The build needs the
    # archive for its comparisons, so it stops too rather than print reports without them.
    missing = load_project(root, environ={**env, "ARCHIVE": "s3://no-such-bucket"})
    with pytest.raises(ArchiveError, match="cannot list s3://no-such-bucket: The specified"):
        build(missing, clock=lambda: WEEK3)
    with pytest.raises(ArchiveError, match="s3://no-such-bucket"):
        archive_run(missing, clock=lambda: WEEK3)
