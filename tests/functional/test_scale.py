"""Bursting, parallel and incremental builds, sharding."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from reportc import build, load_project
from reportc.cli import main
from reportc.delivery import OutboxTransport
from reportc.dispatch import send
from reportc.plan import Shard
from reportc.workers import PdfPool, PdfTask
from reportc.zygote import ForkedWorker, Zygote
from tests.conftest import FIXED_NOW, MINIMAL_YAML, REPO, MakeProject, pdf_text, worker_source

STORES = (
    "store_id,store,manager_email,city\nS1,Harbor,h@example.com,Alpha\n"
    "S2,Midway,m@example.com,Bravo\nS3,Uptown,u@example.com,Charlie\n"
    "S4,Seaside,s@example.com,Delta\nS5,Old Town,o@example.com,Echo\n"
)
SALES = "store_id,amount\n" + "".join(f"S{i % 5 + 1},{100 + i * 7}\n" for i in range(40))
BURST_YAML = """\
version: 1
organisation: {name: Example Stores}
period: "2026-10"
delivery: {from: reports@example.com, audit_bcc: audit@example.org}
theme: {cover: false}
sources:
  stores: {type: csv, path: data/stores.csv}
  sales: {type: csv, path: data/sales.csv}
  my_sales:
    type: sql
    query: SELECT * FROM sales WHERE store_id = $row_store_id
metrics:
  store_total:
    sql: SELECT sum(amount) FROM my_sales
    format: currency
  all_stores_total:
    sql: SELECT sum(amount) FROM sales
    format: currency
sections:
  summary:
    type: markdown
    title: "{{ row.store }} summary"
    text: "{{ row.store }} in {{ row.city }} sold {{ store_total | currency }}."
  lines:
    type: table
    query: SELECT amount FROM my_sales ORDER BY amount
    columns: [{field: amount, format: currency, total: sum}]
personas:
  store:
    title: "Store report: {{ row.store }}"
    for_each: {source: stores, key: store_id}
    filename: "store-{{ row.store_id }}"
    sections: [summary, lines]
    recipients:
      to: "{{ row.manager_email }}"
"""


def burst_project(
    make_project: MakeProject, yaml_text: str = BURST_YAML, stores: str = STORES
) -> Path:
    return make_project(
        {"reports.yaml": yaml_text, "data/stores.csv": stores, "data/sales.csv": SALES},
        minimal=False,
    )


def store_totals() -> dict[str, int]:
    totals: dict[str, int] = {}
    for line in SALES.splitlines()[1:]:
        store, amount = line.split(",")
        totals[store] = totals.get(store, 0) + int(amount)
    return totals


@pytest.mark.slow
def test_burst_builds_one_report_per_row_with_only_its_data(make_project: MakeProject) -> None:
    root = burst_project(make_project)
    result = CliRunner().invoke(main, ["-C", str(root), "build", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert "5 of 5 reports built" in result.output
    names = {"S1": "Harbor", "S2": "Midway", "S3": "Uptown", "S4": "Seaside", "S5": "Old Town"}
    cities = {"S1": "Alpha", "S2": "Bravo", "S3": "Charlie", "S4": "Delta", "S5": "Echo"}
    totals = store_totals()
    for sid, name in names.items():
        text = pdf_text(root / f"dist/store-{sid}.pdf")
        assert f"Store report: {name}" in text
        assert f"{name} in {cities[sid]} sold ${totals[sid]:,}." in text
        for other, other_name in names.items():
            if other != sid:  # no other row's values anywhere in this report
                assert other_name not in text and cities[other] not in text
                assert f"${totals[other]:,}" not in text
    manifest = json.loads((root / "dist/manifest.json").read_text())
    assert sorted(manifest["reports"]) == [f"store-S{i}" for i in range(1, 6)]
    assert {e["persona"] for e in manifest["reports"].values()} == {"store"}


def test_burst_recipients_come_from_the_row_and_send_keeps_its_guarantees(
    make_project: MakeProject, tmp_path: Path
) -> None:
    root = burst_project(make_project)
    project = load_project(root, environ={})
    box = OutboxTransport(tmp_path / "box")
    first = send(project, transport=box, clock=lambda: FIXED_NOW, sleep=lambda s: None)
    assert [m.state for m in first.messages] == ["sent"] * 5
    assert [m.to for m in first.messages][:2] == [("h@example.com",), ("m@example.com",)]
    again = send(
        load_project(root, environ={}), transport=box, clock=lambda: FIXED_NOW, sleep=lambda s: None
    )
    assert [m.state for m in again.messages] == ["skipped"] * 5
    assert len(list((tmp_path / "box").glob("*.eml"))) == 5


def test_burst_validation_names_missing_columns(make_project: MakeProject) -> None:
    bad = BURST_YAML.replace("{{ row.city }}", "{{ row.cty }}")
    root = burst_project(make_project, bad)
    result = CliRunner().invoke(main, ["-C", str(root), "validate"])
    assert result.exit_code == 4
    assert (
        "report 'store': no column 'cty' in the for_each rows (did you mean 'city'?) "
        "(used in sections.summary.text); columns are: store_id, store, manager_email, "
        "city"
    ) in result.output
    param = BURST_YAML.replace("$row_store_id", "$row_store")
    result = CliRunner().invoke(main, ["-C", str(burst_project(make_project, param)), "validate"])
    assert "no column 'store' in the for_each rows" not in result.output  # 'store' exists
    typo = BURST_YAML.replace("$row_store_id", "$row_shop_id")
    result = CliRunner().invoke(main, ["-C", str(burst_project(make_project, typo)), "validate"])
    assert "no column 'shop_id' in the for_each rows" in result.output
    assert "(used in sources.my_sales)" in result.output


def test_row_parameters_need_for_each(make_project: MakeProject) -> None:
    text = MINIMAL_YAML.replace(
        "sql: SELECT count(*) FROM sales",
        "sql: SELECT count(*) FROM sales WHERE region = $row_region",
    )
    root = make_project({"reports.yaml": text})
    result = CliRunner().invoke(main, ["-C", str(root), "validate"])
    assert result.exit_code == 4
    assert (
        "uses orders, which need $row_ parameters, but the report has no for_each" in result.output
    )


def test_a_bad_row_fails_alone(make_project: MakeProject) -> None:
    stores = STORES.replace("m@example.com", "not-an-address")
    root = burst_project(make_project, stores=stores)
    result = CliRunner().invoke(main, ["-C", str(root), "build", "--jobs", "1", "--format", "html"])
    assert result.exit_code == 1
    assert (
        "report 'store-S2' (row 'S2'): to address: 'not-an-address' is not a valid" in result.output
    )
    assert "4 of 5 reports built" in result.output


def test_duplicate_file_names_are_an_error(make_project: MakeProject) -> None:
    text = BURST_YAML.replace(
        'filename: "store-{{ row.store_id }}"', 'filename: "store-{{ row.city[:1] }}"'
    )
    stores = STORES.replace("Bravo", "Alpine")
    root = burst_project(make_project, text, stores)
    result = CliRunner().invoke(main, ["-C", str(root), "build", "--format", "html"])
    assert result.exit_code == 1
    assert "rows 'S1' and 'S2' both give the report name 'store-A'" in result.output


@pytest.mark.slow
def test_parallel_build_matches_serial_build(make_project: MakeProject) -> None:
    root = burst_project(make_project)
    project = load_project(root, environ={})
    one = build(project, out_dir=root / "one", jobs=1, clock=lambda: FIXED_NOW)
    two = build(project, out_dir=root / "two", jobs=2, clock=lambda: FIXED_NOW)
    assert one.ok and two.ok
    for sid in range(1, 6):
        a = (root / f"one/store-S{sid}.pdf").read_bytes()
        assert a == (root / f"two/store-S{sid}.pdf").read_bytes()


@pytest.mark.slow
def test_incremental_builds(make_project: MakeProject) -> None:
    text = MINIMAL_YAML + "  cfo:\n    title: CFO Report\n    sections: [summary]\n"
    root = make_project({"reports.yaml": text})
    runner = CliRunner()
    first = runner.invoke(main, ["-C", str(root), "build", "--jobs", "1"])
    assert "2 of 2 reports built" in first.output
    pdf_time = (root / "dist/ceo.pdf").stat().st_mtime_ns
    second = runner.invoke(main, ["-C", str(root), "build", "--jobs", "1"])
    assert second.exit_code == 0
    assert "unchanged: 2 reports up to date" in second.output
    assert (root / "dist/ceo.pdf").stat().st_mtime_ns == pdf_time
    # One persona's section changes: only that persona is rebuilt.
    (root / "reports.yaml").write_text(
        text.replace(
            "      - {field: amount, label: Amount, format: currency, total: sum}",
            "      - {field: amount, label: Amount sold, format: currency, total: sum}",
        )
    )
    third = runner.invoke(main, ["-C", str(root), "build", "--jobs", "1"])
    assert "unchanged: 1 report up to date" in third.output
    assert "1 of 1 report built" in third.output and "ok      ceo" in third.output
    # Data change: both use the data (metrics read it), both rebuild.
    (root / "data/sales.csv").write_text("region,amount\nNorth,1\n")
    fourth = runner.invoke(main, ["-C", str(root), "build", "--jobs", "1"])
    assert "2 of 2 reports built" in fourth.output
    forced = runner.invoke(main, ["-C", str(root), "build", "--jobs", "1", "--force"])
    assert "2 of 2 reports built" in forced.output
    # A deleted output is rebuilt.
    (root / "dist/cfo.pdf").unlink()
    fifth = runner.invoke(main, ["-C", str(root), "build", "--jobs", "1"])
    assert "ok      cfo" in fifth.output and (root / "dist/cfo.pdf").exists()


@pytest.mark.slow
def test_shards_split_the_reports_and_send_merges_them(
    make_project: MakeProject, tmp_path: Path
) -> None:
    root = burst_project(make_project)
    runner = CliRunner()
    built: list[set[str]] = []
    for i in (1, 2):
        out = runner.invoke(main, ["-C", str(root), "build", "--shard", f"{i}/2", "--jobs", "1"])
        assert out.exit_code == 0, out.output
        manifest = json.loads((root / f"dist/manifest.shard-{i}-of-2.json").read_text())
        built.append(set(manifest["reports"]))
    assert built[0] and built[1] and not built[0] & built[1]
    assert built[0] | built[1] == {f"store-S{i}" for i in range(1, 6)}
    assert all(Shard(1, 2).owns(n) for n in built[0])
    result = send(
        load_project(root, environ={}),
        transport=OutboxTransport(tmp_path / "b"),
        clock=lambda: FIXED_NOW,
        sleep=lambda s: None,
    )
    assert [m.state for m in result.messages] == ["sent"] * 5
    bad = runner.invoke(main, ["-C", str(root), "build", "--shard", "3/2"])
    assert bad.exit_code == 2 and "I must be between 1 and N" in bad.output


@pytest.mark.parametrize(
    ("environ", "text", "expected"),
    [
        ({"AWS_BATCH_JOB_ARRAY_INDEX": "0", "AWS_BATCH_JOB_ARRAY_SIZE": "4"}, "auto", (1, 4)),
        ({"AWS_BATCH_JOB_ARRAY_INDEX": "3"}, "auto/4", (4, 4)),
        ({"JOB_COMPLETION_INDEX": "2", "REPORTC_SHARD_COUNT": "3"}, "auto", (3, 3)),
        ({"JOB_COMPLETION_INDEX": "0"}, "auto/1", (1, 1)),
    ],
)
def test_shard_auto_reads_the_engines_0_based_index(
    environ: dict[str, str], text: str, expected: tuple[int, int]
) -> None:
    shard = Shard.parse(text, environ)
    assert (shard.index, shard.count) == expected


@pytest.mark.parametrize(
    ("environ", "text", "message"),
    [
        ({}, "auto", "neither AWS_BATCH_JOB_ARRAY_INDEX (AWS Batch) nor JOB_COMPLETION_INDEX"),
        ({"JOB_COMPLETION_INDEX": "1"}, "auto", "give it as auto/N or set REPORTC_SHARD_COUNT"),
        (
            {"JOB_COMPLETION_INDEX": "4"},
            "auto/4",
            "JOB_COMPLETION_INDEX=4 is not an index from 0 to 3",
        ),
        ({"AWS_BATCH_JOB_ARRAY_INDEX": "-1"}, "auto/2", "is not an index from 0 to 1"),
    ],
)
def test_shard_auto_says_what_is_missing(environ: dict[str, str], text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Shard.parse(text, environ)


def test_shard_auto_builds_the_same_shards_as_i_of_n(make_project: MakeProject) -> None:
    root = burst_project(make_project)
    for index in ("0", "1"):
        env = {"JOB_COMPLETION_INDEX": index, "REPORTC_SHARD_COUNT": "2"}
        out = CliRunner(env=env).invoke(
            main, ["-C", str(root), "build", "--shard", "auto", "--jobs", "1", "--format", "html"]
        )
        assert out.exit_code == 0, out.output
    one = json.loads((root / "dist/manifest.shard-1-of-2.json").read_text())["reports"]
    two = json.loads((root / "dist/manifest.shard-2-of-2.json").read_text())["reports"]
    assert set(one) == {n for n in one if Shard(1, 2).owns(n)}
    assert set(one) | set(two) == {f"store-S{i}" for i in range(1, 6)}
    bad = CliRunner(env={"JOB_COMPLETION_INDEX": "0"}).invoke(
        main, ["-C", str(root), "build", "--shard", "auto"]
    )
    assert bad.exit_code == 2 and "REPORTC_SHARD_COUNT" in bad.output


@pytest.mark.slow
@pytest.mark.parametrize("forked", [False, True], ids=["plain", "zygote"])
def test_a_runaway_report_times_out_alone(tmp_path: Path, forked: bool) -> None:
    small = "<html><body><p>small</p></body></html>"
    rows = "".join(f"<tr><td>{i}</td><td>{'x' * 40}</td></tr>" for i in range(4000))
    big = f"<html><body><table>{rows}</table></body></html>"
    tasks = [
        PdfTask(name=n, html=h, project_root=tmp_path, target=tmp_path / f"{n}.pdf")
        for n, h in (("big", big), ("a", small), ("b", small))
    ]
    with worker_source(forked, None) as zygote, PdfPool(2, timeout=2.0, zygote=zygote) as pool:
        results = {r.name: r for r in pool.run(tasks)}
        # the worker that ran out of time was killed and replaced from the same source
        assert {type(s.process) is ForkedWorker for s in pool.slots} == {forked}
    assert results["a"].error is None and results["b"].error is None
    assert results["a"].pages == 1 and (tmp_path / "a.pdf").exists()
    error = results["big"].error
    assert error is not None and "gave up after 2 s" in error.problems[0].message


@pytest.mark.slow
@pytest.mark.parametrize("forked", [False, True], ids=["plain", "zygote"])
def test_a_worker_that_dies_fails_only_its_report(tmp_path: Path, forked: bool) -> None:
    tasks = [
        PdfTask(name=n, html="<p>x</p>", project_root=tmp_path, target=tmp_path / n)
        for n in ("a", "b", "c")
    ]
    # 64 MB is not enough to even start WeasyPrint: every worker dies, and each
    # report is reported as such instead of hanging the build.
    with worker_source(forked, 64) as zygote, PdfPool(2, memory_mb=64, zygote=zygote) as pool:
        results = list(pool.run(tasks))
    assert sorted(r.name for r in results) == ["a", "b", "c"]
    for r in results:
        assert r.error is not None
        assert "the PDF worker died" in r.error.problems[0].message


@pytest.mark.slow
def test_a_zygote_that_dies_before_forking_costs_no_report(tmp_path: Path) -> None:
    """The tasks written to workers it never forked go to plain workers instead."""
    tasks = [
        PdfTask(name=n, html="<p>x</p>", project_root=tmp_path, target=tmp_path / f"{n}.pdf")
        for n in ("a", "b", "c")
    ]
    with worker_source(True, None) as zygote:
        assert zygote is not None
        zygote.process.kill()
        with PdfPool(2, zygote=zygote) as pool:
            results = list(pool.run(tasks))
        assert all(type(s.process) is not ForkedWorker for s in pool.slots)
    assert sorted(r.name for r in results if r.error is None and r.pages == 1) == ["a", "b", "c"]


def test_forked_workers_report_their_exit_codes(tmp_path: Path) -> None:
    with worker_source(True, None) as zygote:
        assert zygote is not None
        first, second = zygote.spawn(), zygote.spawn()
        assert first is not None and second is not None
        second.kill()  # asked before it is forked: nothing to kill yet, nothing breaks
        assert first.stdin is not None
        first.stdin.close()  # a worker ends when its task pipe closes
        assert first.wait(60) == 0 and first.pid is not None
        assert first.pidfd is None  # let go of once its exit is known
        while second.pid is None:
            zygote.read(1)
        if second.pidfd is None:  # no pidfds here: the pid it is
            assert not hasattr(os, "pidfd_open")
            os.kill(second.pid, signal.SIGKILL)
            assert second.wait(60) == -signal.SIGKILL
            return
        # kill() signals the process the template forked, through the pidfd the template
        # sent with its pid, never whatever holds that number now (as if it were reused)
        victim = subprocess.Popen(["sleep", "60"])
        forked, second.pid = second.pid, victim.pid
        try:
            second.kill()
            second.pid = forked
            assert second.wait(60) == -signal.SIGKILL
            assert victim.poll() is None and second.pidfd is None
        finally:
            victim.kill()
            victim.wait()


@pytest.mark.slow
def test_the_console_command_forks_the_workers_from_the_template_it_started(
    make_project: MakeProject,
) -> None:
    root = burst_project(make_project)
    entry = [sys.executable, "-c", "from reportc.entry import main; main()", "-C", str(root)]
    done = subprocess.run(
        [*entry, "-v", "build", "--jobs", "2", "--force"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "forked from the warm template the command started" in done.stderr
    assert "5 of 5 reports built" in done.stdout
    assert pdf_text(root / "dist/store-S3.pdf").count("Uptown") >= 1


def _tagged() -> tuple[str, dict[str, str]]:
    """A tag for one test's processes, and the environment that carries it: every
    process the command starts or forks inherits it, and no other test's has it (the
    suite runs tests side by side)."""
    tag = f"{os.getpid()}-{time.monotonic_ns()}"
    return tag, {**os.environ, "REPORTC_TEST_TAG": tag}


def _processes_left(tag: str) -> list[int]:
    """Processes still running with ``tag`` in their environment, after a moment to end."""
    needle = f"REPORTC_TEST_TAG={tag}".encode()
    for _ in range(50):
        found = []
        for entry in Path("/proc").iterdir():
            with contextlib.suppress(OSError):
                if entry.name.isdigit() and needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
        if not found:
            return []
        time.sleep(0.1)
    return found


def _python_start_up() -> float:
    """How long Python takes here to start and run nothing (median of three)."""
    took = []
    for _ in range(3):
        start = time.monotonic()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        took.append(time.monotonic() - start)
    return sorted(took)[1]


@pytest.mark.slow
@pytest.mark.parametrize("after", ["start-up", 0.4, 1.5])
def test_ctrl_c_at_any_moment_of_a_parallel_build_ends_it_cleanly(
    make_project: MakeProject, after: float | str
) -> None:
    """Ctrl-C goes to the whole process group: the command, the workers' template and
    the workers. The command says "Aborted!" (no traceback, also while it is still
    loading its code: the first moment is just after Python's own start-up, which is
    Python's to answer) and no process is left behind."""
    if after == "start-up":
        after = 1.5 * _python_start_up() + 0.02
    root = burst_project(make_project)
    command = [sys.executable, "-c", "from reportc.entry import main; main()", "-C", str(root)]
    tag, env = _tagged()
    proc = subprocess.Popen(
        [*command, "build", "--jobs", "2", "--force"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=env,
    )
    time.sleep(float(after))
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err, err
    assert proc.returncode in (0, 1), err  # 0: it had finished
    assert proc.returncode == 0 or "Aborted!" in err
    assert _processes_left(tag) == []


@pytest.mark.slow
@pytest.mark.parametrize("after", [0.2, 0.8, 1.5])
def test_a_parallel_build_killed_at_any_moment_leaves_no_process_behind(
    make_project: MakeProject, after: float
) -> None:
    """kill -9 reaches the command alone: the workers' template (warming up, or forking)
    and the workers see their pipes close and end on their own."""
    root = burst_project(make_project)
    command = [sys.executable, "-c", "from reportc.entry import main; main()", "-C", str(root)]
    tag, env = _tagged()
    proc = subprocess.Popen(
        [*command, "build", "--jobs", "2", "--force"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    time.sleep(after)
    proc.kill()
    proc.wait(timeout=60)
    assert _processes_left(tag) == []


@pytest.mark.slow
def test_a_template_with_another_memory_limit_is_not_used_nor_stopped(
    make_project: MakeProject,
) -> None:
    root = burst_project(make_project)
    with worker_source(True, 1024) as given:
        assert given is not None
        project = load_project(root, environ={})
        result = build(project, jobs=2, memory_mb=2048, zygote=given, clock=lambda: FIXED_NOW)
        assert result.ok and len(result.reports) == 5
        assert given.process.poll() is None  # the caller's, and still running
        worker = given.spawn()
        assert worker is not None and worker.stdin is not None
        worker.stdin.close()
        assert worker.wait(60) == 0  # and it still forks workers


@pytest.mark.slow
def test_example_burst_project_builds_and_sends(tmp_path: Path) -> None:
    root = tmp_path / "burst"
    shutil.copytree(REPO / "examples/burst", root, ignore=shutil.ignore_patterns("dist"))
    result = CliRunner().invoke(main, ["-C", str(root), "build", "--jobs", "2"])
    assert result.exit_code == 0, result.output
    assert "60 of 60 reports built" in result.output
    reader = PdfReader(str(root / "dist/territory-T007.pdf"))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    assert "Vista North — territory report" in text and "Riley Patel" in text
    assert "San Diego North" not in text
    sent = CliRunner().invoke(main, ["-C", str(root), "send", "--transport", "outbox"])
    assert sent.exit_code == 0, sent.output
    assert "60 sent" in sent.output
    again = CliRunner().invoke(main, ["-C", str(root), "send", "--transport", "outbox"])
    assert "60 skipped" in again.output


@pytest.mark.slow
def test_validating_a_large_burst_streams_its_rows(make_project: MakeProject) -> None:
    """3,000 rows are validated (bound and rendered) one at a time, within a 400 MB cap."""
    import os
    import subprocess
    import sys

    n = 3000
    stores = "store_id,store,manager_email,city\n" + "".join(
        f"S{i},Store {i},m{i}@example.com,City{i}\n" for i in range(n)
    )
    root = burst_project(make_project, BURST_YAML, stores)
    result = subprocess.run(
        [sys.executable, "-c", "from reportc.cli import run; run()", "-C", str(root), "validate"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "REPORTC_MAX_MEMORY": "400"},
    )
    assert result.returncode == 0, result.stderr
    assert "valid — 0 reports (+3000 burst)" in result.stdout


FORKED_ZYGOTE = """
import os, select, sys
from pathlib import Path
from reportc.workers import PdfPool, PdfTask
from reportc.zygote import Zygote

root = Path(sys.argv[1])
r, w = os.pipe()  # a descriptor this process holds when it forks: the zygote drops it
zygote = Zygote.fork(None)
assert zygote is not None
os.close(w)
assert select.select([r], [], [], 10)[0] and os.read(r, 1) == b"", "the zygote kept it"
tasks = [
    PdfTask(name=n, html=f"<p>{n}</p>", project_root=root, target=root / f"{n}.pdf")
    for n in ("a", "b", "c")
]
with PdfPool(2, zygote=zygote) as pool:
    done = sorted((d.name, d.pages, d.error is None) for d in pool.run(tasks))
    print(sorted({type(s.process).__name__ for s in pool.slots}), done)
zygote.close()
print("zygote exit", zygote.process.poll())
"""


@pytest.mark.slow
def test_a_zygote_forked_from_the_command_lays_out_pdfs_and_keeps_no_descriptor(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", FORKED_ZYGOTE, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "['ForkedWorker'] [('a', 1, True), ('b', 1, True), ('c', 1, True)]"
    assert lines[1] in ("zygote exit 0", "zygote exit -9")  # it ended, and was reaped
    assert "a" in pdf_text(tmp_path / "a.pdf")


def test_a_process_with_threads_is_never_forked() -> None:
    """A second thread (DuckDB's, vl-convert's, any) could hold a lock the child
    would wait on forever: then the zygote is started as a fresh process instead."""
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert Zygote.fork(None) is None
    finally:
        stop.set()
        thread.join()
