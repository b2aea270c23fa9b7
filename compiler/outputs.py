"""Outputs on S3: ``build --out s3://bucket/prefix``, and ``send``/``archive`` reading
them from there.

A command works on a local staging folder: it pulls the manifests (and, to send or
archive, the files they list) from the prefix, runs as it would on ``dist/``, and a
build pushes what it wrote back: **every file first, the manifests last**. A reader
trusts only what a manifest lists, so a build (or a shard) is visible once its manifest
is written, and one killed halfway leaves nothing a reader would use: run it again.
Each S3 ``PutObject`` is atomic, and a file's bytes are its name's, so a shard run
twice uploads the same objects twice, never two versions of a report.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from .aws import aws_client
from .config.model import Project
from .errors import ArchiveError, Problem
from .manifest import read_manifest
from .stores import S3Store
from .writer import write_atomic

_S3 = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/[^\s]*)?$")
_MANIFEST = re.compile(r"^manifest(\.shard-\d+-of-\d+)?\.json$")


def is_remote(location: str | Path | None) -> bool:
    return isinstance(location, str) and location.startswith("s3://")


def output_store(project: Project, url: str, *, s3_client: Any = None) -> S3Store:
    """The S3 prefix ``url`` as a store (the client from the project's environment)."""
    if not _S3.match(url):
        raise ArchiveError(
            Problem(
                f"'{url}' is not an S3 location",
                hint="use --out s3://bucket/prefix (a lower-case bucket name)",
            )
        )
    return S3Store.at(url, s3_client or aws_client(project.env, "s3"))


def _manifests(store: S3Store) -> list[str]:
    return [k for k in store.list_keys() if "/" not in k and _MANIFEST.match(k)]


def pull(store: S3Store, stage: Path, *, files: bool) -> dict[str, str]:
    """The prefix's manifests into ``stage``, and with ``files`` every file they list.
    Returns each fetched key's sha256 (what :func:`push` need not send back)."""
    fetched: dict[str, str] = {}

    def fetch(key: str) -> None:
        data = store.get(key)
        write_atomic(stage / key, data)
        fetched[key] = hashlib.sha256(data).hexdigest()

    for key in _manifests(store):
        fetch(key)
        if files:
            for entry in read_manifest(stage / key).reports.values():
                for record in entry.files.values():
                    if record.path not in fetched:
                        fetch(_inside(record.path, store, key))
    return fetched


def _inside(path: str, store: S3Store, manifest: str) -> str:
    """A file a manifest lists, refused unless it is a plain path under the prefix (a
    manifest from the bucket must not make reportc write outside its staging folder)."""
    parts = PurePosixPath(path).parts
    if not parts or path.startswith("/") or "\\" in path or ".." in parts or ":" in parts[0]:
        raise ArchiveError(
            Problem(
                f"{store.url}/{manifest} lists '{path}', which is not a file under the prefix",
                hint="rebuild into this prefix with reportc build --out; do not edit manifests",
            )
        )
    return path


def push(stage: Path, store: S3Store, pulled: dict[str, str] | None = None) -> int:
    """What changed under ``stage`` since ``pulled`` to the prefix, the manifests last
    (another shard's manifest, pulled and untouched, is never written back over a newer
    one). Returns how many objects were written."""
    pulled = pulled or {}
    changed = []
    for path in sorted(p for p in stage.rglob("*") if p.is_file()):
        key = path.relative_to(stage).as_posix()
        if pulled.get(key) != hashlib.sha256(path.read_bytes()).hexdigest():
            changed.append((key, path))
    last = [(k, p) for k, p in changed if "/" not in k and _MANIFEST.match(k)]
    for key, path in [c for c in changed if c not in last] + last:
        store.put(key, path.read_bytes())
    return len(changed)


@contextlib.contextmanager
def staged_outputs(
    project: Project, url: str, *, files: bool, publish: bool, s3_client: Any = None
) -> Iterator[Path]:
    """A local folder standing in for ``url`` while the block runs: pulled first (the
    manifests; with ``files`` also what they list), pushed after (``publish``) unless
    the block raised."""
    store = output_store(project, url, s3_client=s3_client)
    with tempfile.TemporaryDirectory(prefix="reportc-out-") as tmp:
        stage = Path(tmp)
        pulled = pull(store, stage, files=files)
        yield stage
        if publish:
            push(stage, store, pulled)
