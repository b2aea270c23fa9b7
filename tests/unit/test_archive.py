"""The archive's pieces: baselines, diff, value snapshots, sparklines, the ledger column."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from decimal import Decimal
from pathlib import Path

from reportc.archive import (
    Baselines,
    Run,
    diff,
    list_runs,
    resolve,
)
from reportc.config.model import Period
from reportc.delivery import Ledger
from reportc.figures import json_value as _plain
from reportc.figures import values_digest
from reportc.section_types.kpis import sparkline
from reportc.stores import LocalStore

UTC = dt.timezone.utc


def _run(store: LocalStore, period: str, when: dt.datetime, total: float) -> Run:
    run = Run(
        run_id=f"{when:%Y%m%dT%H%M%SZ}-abc{total:03.0f}",
        period=period,
        created_at=when,
        reports={"ceo": {"status": "ok", "pdf_sha256": "x"}},
    )
    store.put(f"{run.key}/values.json", json.dumps({"ceo": {"metrics": {"total": total}}}).encode())
    store.put(f"{run.key}/run.json", json.dumps(run.to_json()).encode())
    return run


def test_baselines_by_run_and_by_period(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "archive")
    sept_a = _run(store, "2026-09", dt.datetime(2026, 10, 2, 7, tzinfo=UTC), 100)
    sept_b = _run(store, "2026-09", dt.datetime(2026, 10, 9, 7, tzinfo=UTC), 110)
    oct_a = _run(store, "2026-10", dt.datetime(2026, 11, 2, 7, tzinfo=UTC), 120)
    (tmp_path / "archive/2026-10/incomplete").mkdir()  # no run.json: ignored
    october = Period.parse("2026-10")
    build = dt.datetime(2026, 11, 9, 7, tzinfo=UTC)

    by_run = Baselines(store, "previous_run")
    points = by_run.points("ceo", october, build, 5)
    assert [p.run_id for p in points] == [sept_a.run_id, sept_b.run_id, oct_a.run_id]
    assert points[-1].values["metrics"]["total"] == 120
    assert points[-1].label == "2 Nov 2026"
    # a run archived less than 12 hours before the build is this cycle's, not the last one
    soon = oct_a.created_at + dt.timedelta(hours=11)
    assert [p.run_id for p in by_run.points("ceo", october, soon, 1)] == [sept_b.run_id]

    by_period = Baselines(store, "previous_period")
    # the latest run of each earlier period only
    assert [p.run_id for p in by_period.points("ceo", october, build, 5)] == [sept_b.run_id]
    assert by_period.points("cfo", october, build, 5) == ()  # not in those runs
    assert by_period.digest(october, build) != by_run.digest(october, build)

    runs = list_runs(store)
    assert resolve(runs, "latest") == oct_a
    assert resolve(runs, "previous") == sept_b
    assert resolve(runs, oct_a.run_id[:10]) == oct_a


def test_diff_lists_changed_added_and_removed() -> None:
    before = {
        "ceo": {"metrics": {"a": 1, "b": 2.5}, "kpis": {"gaps": {"North": 3}}},
        "old": {"metrics": {}},
    }
    after = {
        "ceo": {"metrics": {"a": 1, "b": 3.0, "c": 7}, "kpis": {"gaps": {"North": 4}}},
        "new": {"metrics": {}},
    }
    changes = [(c.report, c.kind, c.name, c.before, c.after) for c in diff(before, after)]
    assert changes == [
        ("ceo", "kpi", "gaps: North", 3, 4),
        ("ceo", "metric", "b", 2.5, 3.0),
        ("ceo", "metric", "c", None, 7),
        ("new", "report", "new", None, "present"),
        ("old", "report", "old", "present", None),
    ]
    assert len(diff(before, before, include_same=True)) == 3
    assert diff(before, before) == []


def test_values_are_plain_json_and_their_digest_is_stable() -> None:
    assert _plain(Decimal("1200.00")) == 1200
    assert _plain(Decimal("12.34")) == 12.34
    assert _plain(3.0) == 3
    assert _plain(dt.date(2026, 10, 31)) == "2026-10-31"
    assert _plain(None) is None and _plain(True) is True
    one = {"metrics": {"b": 1, "a": 2}}
    assert values_digest(one) == values_digest({"metrics": {"a": 2, "b": 1}})


def test_sparkline_is_a_small_svg_line() -> None:
    svg = str(sparkline([1, 3, 2, None, 5], "#1b7f3b"))
    assert svg.startswith('<svg class="trend"') and 'stroke="#1b7f3b"' in svg
    assert svg.count(",") == 4 + 0  # four points with values
    assert sparkline([1]) is None and sparkline([None, None]) is None
    flat = str(sparkline([2, 2]))
    assert 'points="3.0,11.0 93.0,11.0"' in flat


def test_an_old_ledger_gains_the_figures_column(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE messages (key TEXT PRIMARY KEY, report TEXT NOT NULL, period TEXT NOT NULL,"
        " run_id TEXT NOT NULL, transport TEXT NOT NULL, sender TEXT NOT NULL,"
        " to_addrs TEXT NOT NULL, cc_addrs TEXT NOT NULL, bcc_addrs TEXT NOT NULL,"
        " redirected_to TEXT NOT NULL DEFAULT '', subject TEXT NOT NULL,"
        " pdf_sha256 TEXT NOT NULL, state TEXT NOT NULL, message_id TEXT NOT NULL DEFAULT '',"
        " error TEXT NOT NULL DEFAULT '', attempts INTEGER NOT NULL DEFAULT 0,"
        " override TEXT NOT NULL DEFAULT '', updated_at TEXT NOT NULL)"
    )
    db.execute(
        "INSERT INTO messages (key, report, period, run_id, transport, sender, to_addrs,"
        " cc_addrs, bcc_addrs, subject, pdf_sha256, state, updated_at) VALUES"
        " ('k', 'ceo', '2026-10', 'r', 'ses', 'a@example.com', '[]', '[]', '[]', 's', 'p',"
        " 'sent', '2026-11-01T07:00:00+00:00')"
    )
    db.commit()
    db.close()
    ledger = Ledger(path, lambda: dt.datetime(2026, 11, 30, tzinfo=UTC))
    try:
        last = ledger.last_sent("ceo")
        assert last is not None and last.values_sha256 == ""
        assert [r.key for r in ledger.sent_copies("ceo", "p")] == ["k"]
    finally:
        ledger.close()
