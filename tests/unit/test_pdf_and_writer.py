"""The URL fetcher policy, atomic writes and the confined writer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reportc.errors import ReportcError
from reportc.pdf import SafeFetcher
from reportc.writer import Writer, write_atomic


def test_fetcher_serves_project_files_only(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "img").mkdir(parents=True)
    (project / "img/logo.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (tmp_path / "secret.txt").write_text("secret")
    os.symlink(tmp_path / "secret.txt", project / "img/link.txt")
    fetcher = SafeFetcher([project])
    response = fetcher.fetch((project / "img/logo.svg").as_uri())
    assert response.read().startswith(b"<svg")
    assert response.content_type == "image/svg+xml"
    for url in [
        (tmp_path / "secret.txt").as_uri(),
        (project / "img/link.txt").as_uri(),  # a symlink out of the project
        (project / "img/../../secret.txt").as_uri(),
        "file:///etc/passwd",
        "https://example.com/x.png",
        "http://127.0.0.1:1/x.css",
        "ftp://example.com/x",
        "file://otherhost/etc/passwd",
    ]:
        with pytest.raises(ValueError, match="refused to fetch"):
            fetcher.fetch(url)
    assert len(fetcher.refused) == 8


def test_fetcher_allows_data_urls(tmp_path: Path) -> None:
    response = SafeFetcher([tmp_path]).fetch("data:text/plain;base64,aGk=")
    assert response.read() == b"hi"


def test_write_atomic_replaces_whole_files(tmp_path: Path) -> None:
    target = tmp_path / "out" / "a.pdf"
    write_atomic(target, b"one")
    write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.pdf"]


def test_write_atomic_leaves_nothing_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "a.pdf"
    target.write_bytes(b"old")

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pdf"]


def test_writer_refuses_escapes_and_double_writes(tmp_path: Path) -> None:
    writer = Writer(tmp_path / "dist")
    writer.write("a.pdf", b"x")
    with pytest.raises(ReportcError, match="outside"):
        writer.write("../evil.pdf", b"x")
    with pytest.raises(ReportcError, match="two outputs"):
        writer.write("a.pdf", b"y")


def test_file_digests_are_remembered_by_stat_and_never_trusted_when_racy_or_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import time

    from reportc import writer

    reads: list[Path] = []
    real = writer.file_sha256

    def counted(path: Path) -> str:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(writer, "file_sha256", counted)
    data = tmp_path / "ledger.csv"
    data.write_text("a,b\n1,2\n")
    cache = tmp_path / "cache.json"
    first = writer.FileDigests(cache).sha256(data)
    assert len(reads) == 1  # (a file just written is racy: hashed again next time)
    old = time.time_ns() - 10_000_000_000
    os.utime(data, ns=(old, old))  # (moves ctime to now: still racy once more)
    digests = writer.FileDigests(cache)
    digests.sha256(data)
    digests.entries[str(data.absolute())]["seen_ns"] = time.time_ns() + 5_000_000_000
    digests.save()
    again = writer.FileDigests(cache)
    assert again.sha256(data) == first and len(reads) == 2  # remembered: not read
    data.write_text("a,b\n1,3\n")  # new bytes: size equal, mtime and ctime new
    assert writer.FileDigests(cache).sha256(data) != first and len(reads) == 3
    assert writer.FileDigests(cache, trust_stat=False).sha256(data) and len(reads) == 4


def test_a_corrupt_digest_cache_is_ignored(tmp_path: Path) -> None:
    from reportc import writer

    cache = tmp_path / "cache.json"
    cache.write_text("[not json")
    data = tmp_path / "x.csv"
    data.write_text("a\n1\n")
    assert len(writer.FileDigests(cache).sha256(data)) == 64
