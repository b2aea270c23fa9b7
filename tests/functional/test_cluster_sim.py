"""A cluster simulated on this machine: shards as separate processes, outputs on S3
(moto's server over HTTP), the ledger in PostgreSQL, mail to aiosmtpd.

N processes with ``JOB_COMPLETION_INDEX`` (as a Kubernetes Indexed Job sets it) build a
burst of reports into ``s3://…`` with ``--shard auto``; one of them is killed with -9
halfway and run again; then one ``archive`` step and one ``send`` step run, and the send
step again. Every report must be built once (in exactly one shard's manifest, one PDF
each in S3) and sent once to each recipient. ``REPORTC_SIM_REPORTS`` sets the burst's
size (default 1,000); the figures are printed (``pytest -s``) for BENCHMARKS.md.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MotoServer, SmtpSink, write_files
from tests.functional.test_scale import BURST_YAML
from tests.functional.test_shared_ledger import fresh_pg_schema

BUCKET = "cluster-out"
SHARDS = 4


def _project(root: Path, reports: int, port: int) -> None:
    stores = "store_id,store,manager_email,city\n" + "".join(
        f"S{i},Store {i},manager.{i}@example.com,City {i % 37}\n" for i in range(1, reports + 1)
    )
    sales = "store_id,amount\n" + "".join(
        f"S{i % reports + 1},{100 + i * 7}\n" for i in range(2 * reports)
    )
    yaml = BURST_YAML.replace(
        "delivery: {from: reports@example.com, audit_bcc: audit@example.org}\n",
        "delivery:\n  from: reports@example.com\n  audit_bcc: audit@example.org\n"
        f"  transport: smtp\n  smtp: {{host: 127.0.0.1, port: {port}, security: none}}\n"
        "  ledger: ${LEDGER_URL}\n"
        "archive: {location: .reportc/archive}\n",
    )
    write_files(root, {"reports.yaml": yaml, "data/stores.csv": stores, "data/sales.csv": sales})


def _reportc(root: Path, *args: str) -> list[str]:
    return [sys.executable, "-c", "from reportc.cli import run; run()", "-C", str(root), *args]


def _build(root: Path, out: str, index: int, env: dict[str, str]) -> subprocess.Popen[str]:
    shard_env = {**env, "JOB_COMPLETION_INDEX": str(index), "REPORTC_SHARD_COUNT": str(SHARDS)}
    command = _reportc(
        root, "build", "--shard", "auto", "--out", out, "--jobs", "1", "--no-archive"
    )
    return subprocess.Popen(
        command, env=shard_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _objects(s3: Any, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        keys.extend(o["Key"][len(prefix) :] for o in page.get("Contents", ()))
    return keys


@pytest.mark.slow
def test_shards_on_s3_then_one_archive_and_one_send_with_the_postgres_ledger(
    tmp_path: Path, moto: MotoServer, smtp_server: tuple[SmtpSink, int]
) -> None:
    reports = int(os.environ.get("REPORTC_SIM_REPORTS", "1000"))
    sink, port = smtp_server
    s3 = moto.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    root = tmp_path / "project"
    _project(root, reports, port)
    out = f"s3://{BUCKET}/2026-10"
    figures: dict[str, float | int] = {"reports": reports, "shards": SHARDS}
    with fresh_pg_schema() as ledger:
        env = {**os.environ, **moto.env(), "LEDGER_URL": ledger, "PYTHONUNBUFFERED": "1"}
        started = time.monotonic()
        procs = {i: _build(root, out, i, env) for i in range(SHARDS)}
        time.sleep(4)  # shard 3 is killed halfway: mid-build, nothing published yet
        procs[2].send_signal(signal.SIGKILL)
        assert procs[2].wait() == -signal.SIGKILL
        procs[2] = _build(root, out, 2, env)  # the engine's retry
        for i, proc in procs.items():
            output, _ = proc.communicate(timeout=1200)
            assert proc.returncode == 0, f"shard {i + 1}: {output[-2000:]}"
        figures["build_s"] = round(time.monotonic() - started, 1)

        keys = _objects(s3, "2026-10/")
        manifests = [k for k in keys if k.startswith("manifest.shard-")]
        assert sorted(manifests) == [f"manifest.shard-{i}-of-{SHARDS}.json" for i in range(1, 5)]
        owners: Counter[str] = Counter()
        for key in manifests:
            body = s3.get_object(Bucket=BUCKET, Key=f"2026-10/{key}")["Body"].read()
            owners.update(list(json.loads(body)["reports"]))
        assert len(owners) == reports and set(owners.values()) == {1}  # each built once
        assert sum(k.endswith(".pdf") for k in keys) == reports

        started = time.monotonic()
        archive = subprocess.run(
            _reportc(root, "archive", "--out", out),
            env=env,
            capture_output=True,
            text=True,
            timeout=1200,
        )
        assert archive.returncode == 0, archive.stdout + archive.stderr
        figures["archive_s"] = round(time.monotonic() - started, 1)

        started = time.monotonic()
        sent = subprocess.run(
            _reportc(root, "-q", "send", "--out", out),
            env=env,
            capture_output=True,
            text=True,
            timeout=1200,
        )
        assert sent.returncode == 0, sent.stdout[-2000:] + sent.stderr[-2000:]
        figures["send_s"] = round(time.monotonic() - started, 1)
        again = subprocess.run(
            _reportc(root, "send", "--out", out),
            env=env,
            capture_output=True,
            text=True,
            timeout=1200,
        )
        assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]

    to = Counter(r for _, rcpts, _ in sink.messages for r in rcpts if r != "audit@example.org")
    assert len(sink.messages) == reports  # the second send sent nothing
    assert len(to) == reports and set(to.values()) == {1}  # each manager exactly once
    audit = sum(1 for _, rcpts, _ in sink.messages if "audit@example.org" in rcpts)
    assert audit == reports
    figures.update(messages=len(sink.messages), duplicates=0, lost=reports - len(to))
    print("cluster simulation:", json.dumps(figures))
