"""Outputs on S3 (``--out s3://bucket/prefix``) against moto's server over HTTP.

The promises: ``build`` writes the files, then the manifest (a shard's manifest for a
shard); ``send`` and ``archive`` read them from there; a build killed between its files
and its manifest leaves nothing a reader uses; a shard's upload never overwrites
another shard's newer manifest.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reportc.cli import main
from reportc.outputs import pull, push
from reportc.stores import S3Store
from tests.conftest import MotoServer, SmtpSink
from tests.functional.test_exactly_once import parse
from tests.functional.test_scale import burst_project
from tests.functional.test_shared_ledger import _yaml

BUCKET = "reports-out"


@pytest.fixture
def s3(moto: MotoServer) -> Iterator[Any]:
    client = moto.client("s3")
    client.create_bucket(Bucket=BUCKET)
    yield client


def _keys(s3: Any, prefix: str) -> list[str]:
    found = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", ())
    return sorted(o["Key"] for o in found)


@pytest.mark.slow
def test_build_to_s3_then_send_and_archive_from_it(
    make_project: Any, s3: Any, moto: MotoServer, smtp_server: tuple[SmtpSink, int]
) -> None:
    sink, port = smtp_server
    yaml = _yaml(port, "").replace(
        "delivery:\n", "archive: {location: .reportc/archive}\ndelivery:\n"
    )
    root = make_project({"reports.yaml": yaml})
    runner = CliRunner(env=moto.env())
    out = f"s3://{BUCKET}/2026-10"
    built = runner.invoke(
        main, ["-C", str(root), "build", "--out", out, "--jobs", "1", "--no-archive"]
    )
    assert built.exit_code == 0, built.output
    assert f"{out}/ceo.pdf" in built.output
    assert _keys(s3, "2026-10/") == [
        f"2026-10/{n}"
        for n in sorted(
            ["ceo.html", "ceo.pdf", "cfo.html", "cfo.pdf", "cmo.html", "cmo.pdf", "manifest.json"]
        )
    ]
    assert not (root / "dist").exists()  # nothing local
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key="2026-10/manifest.json")["Body"].read())
    pdf = s3.get_object(Bucket=BUCKET, Key="2026-10/cfo.pdf")["Body"].read()
    assert manifest["reports"]["cfo"]["files"]["pdf"]["bytes"] == len(pdf)

    sent = runner.invoke(main, ["-C", str(root), "send", "--out", out])
    assert sent.exit_code == 0, sent.output
    assert len(sink.messages) == 3
    cfo = next(raw for _, _, raw in sink.messages if b"X-Reportc-Report: cfo" in raw)
    attached = [p.get_content() for p in parse(cfo).iter_attachments()]
    assert attached == [pdf]  # the very PDF the build put in S3
    again = runner.invoke(main, ["-C", str(root), "send", "--out", out])
    assert again.exit_code == 0 and len(sink.messages) == 3  # nothing twice

    archived = runner.invoke(main, ["-C", str(root), "archive", "--out", out])
    assert archived.exit_code == 0, archived.output
    history = runner.invoke(main, ["-C", str(root), "history", "--json"])
    assert [sorted(r["reports"]) for r in json.loads(history.output)] == [["ceo", "cfo", "cmo"]]


@pytest.mark.slow
def test_shards_write_their_own_manifests_and_send_merges_them(
    make_project: Any, s3: Any, moto: MotoServer
) -> None:
    root = burst_project(make_project)
    out = f"s3://{BUCKET}/burst"
    for index in ("0", "1"):
        env = {**moto.env(), "JOB_COMPLETION_INDEX": index, "REPORTC_SHARD_COUNT": "2"}
        result = CliRunner(env=env).invoke(
            main, ["-C", str(root), "build", "--shard", "auto", "--out", out, "--jobs", "1"]
        )
        assert result.exit_code == 0, result.output
    keys = _keys(s3, "burst/")
    assert "burst/manifest.shard-1-of-2.json" in keys and "burst/manifest.shard-2-of-2.json" in keys
    dry = CliRunner(env=moto.env()).invoke(
        main, ["-C", str(root), "send", "--out", out, "--dry-run"]
    )
    assert dry.exit_code == 0, dry.output
    assert "DRY RUN: nothing was sent; 5 messages written" in dry.output


class _Recording:
    """A store that records puts, and can fail on the n-th (a build killed mid-upload)."""

    url = "s3://recording"

    def __init__(self, fail_at: int = 0) -> None:
        self.objects: dict[str, bytes] = {}
        self.order: list[str] = []
        self.fail_at = fail_at

    def put(self, key: str, data: bytes) -> None:
        if self.fail_at and len(self.order) + 1 == self.fail_at:
            raise OSError("killed")
        self.order.append(key)
        self.objects[key] = data

    def get(self, key: str) -> bytes:
        return self.objects[key]

    def list_keys(self) -> list[str]:
        return sorted(self.objects)


def _stage(tmp: Path, shard: int, body: str) -> Path:
    stage = tmp / f"stage{shard}"
    (stage / "sub").mkdir(parents=True)
    (stage / f"r{shard}.pdf").write_text(body)
    (stage / "sub" / "x.csv").write_text(body)
    (stage / f"manifest.shard-{shard}-of-2.json").write_text(json.dumps({"reports": {}}))
    return stage


def test_the_manifest_is_written_last(tmp_path: Path) -> None:
    store = _Recording()
    push(_stage(tmp_path, 1, "a"), store)  # type: ignore[arg-type]
    assert store.order[-1] == "manifest.shard-1-of-2.json"
    assert set(store.order[:-1]) == {"r1.pdf", "sub/x.csv"}


def test_a_build_killed_mid_upload_publishes_no_manifest(tmp_path: Path) -> None:
    store = _Recording(fail_at=3)  # the two files went, the manifest did not
    with pytest.raises(OSError):
        push(_stage(tmp_path, 1, "a"), store)  # type: ignore[arg-type]
    assert not any(k.startswith("manifest") for k in store.objects)
    reader = tmp_path / "reader"
    assert pull(store, reader, files=True) == {}  # type: ignore[arg-type]


def test_a_shard_never_writes_back_another_shards_manifest(tmp_path: Path) -> None:
    store = _Recording()
    push(_stage(tmp_path, 2, "old"), store)  # type: ignore[arg-type]
    stage = tmp_path / "shard1"
    pulled = pull(store, stage, files=False)  # type: ignore[arg-type]
    assert "manifest.shard-2-of-2.json" in pulled
    store.objects["manifest.shard-2-of-2.json"] = b'{"reports": {"newer": {}}}'  # shard 2 again
    (stage / "r1.pdf").write_text("a")
    (stage / "manifest.shard-1-of-2.json").write_text("{}")
    store.order.clear()
    push(stage, store, pulled)  # type: ignore[arg-type]
    assert store.order == ["r1.pdf", "manifest.shard-1-of-2.json"]
    assert b"newer" in store.objects["manifest.shard-2-of-2.json"]


def test_a_bad_s3_location_is_refused(make_project: Any, moto: MotoServer) -> None:
    root = burst_project(make_project)
    result = CliRunner(env=moto.env()).invoke(
        main, ["-C", str(root), "build", "--out", "s3://Bad_Bucket/x"]
    )
    assert result.exit_code == 7
    assert "'s3://Bad_Bucket/x' is not an S3 location" in result.output


def test_s3_store_type_is_what_push_expects() -> None:
    assert hasattr(S3Store, "list_keys") and hasattr(S3Store, "put")


@pytest.mark.parametrize("path", ["../escape.pdf", "/etc/passwd", "a/../../b.pdf", "C:\\x.pdf"])
def test_a_hostile_manifest_cannot_make_reportc_write_outside_its_staging(
    tmp_path: Path, path: str
) -> None:
    from reportc.errors import ArchiveError

    store = _Recording()
    manifest = {
        "schema_version": 2,
        "reports": {
            "r": {
                "state": "ok",
                "files": {"pdf": {"path": path, "sha256": "0" * 64, "bytes": 1, "pages": 1}},
            }
        },
    }
    store.objects["manifest.json"] = json.dumps(manifest).encode()
    store.objects[path] = b"x"
    stage = tmp_path / "stage"
    with pytest.raises(ArchiveError, match="which is not a file under the prefix"):
        pull(store, stage, files=True)  # type: ignore[arg-type]
    assert not (tmp_path / "escape.pdf").exists()
