"""Atomic, confined file output: every artifact goes through :class:`Writer`.

A file is written to a temporary name in the same folder, flushed and fsynced,
then renamed over the target, so a crash never leaves a half-written PDF. The
writer refuses paths outside its output folder and writing one path twice in a
run (two reports claiming the same file name is a bug, not a race to win).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

from .errors import Problem, ReportcError


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in 1 MB chunks (data files can be large)."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


#: a file changed this close to when its digest was taken may change again unseen
#: within one timestamp tick: its digest is not trusted next time ("racy git")
RACY_NS = 2_000_000_000


class FileDigests:
    """sha256 of files, remembered in a JSON file by (size, mtime, ctime, inode).

    A file whose stat is unchanged since it was hashed is not read again. ctime moves
    on every write (tools that restore mtime cannot restore it), and a file modified
    within two seconds of its hashing is hashed again. ``trust_stat=False`` (the
    environment's ``REPORTC_TRUST_STAT=0``) always reads every file.
    """

    def __init__(self, path: Path | None, *, trust_stat: bool = True) -> None:
        self.path, self.trust = path, trust_stat
        self.entries: dict[str, dict[str, object]] = {}
        self.dirty = False
        if path is not None and trust_stat:
            with contextlib.suppress(OSError, ValueError):
                loaded = json.loads(path.read_text("utf-8"))
                if isinstance(loaded, dict):
                    self.entries = {k: v for k, v in loaded.items() if isinstance(v, dict)}

    def sha256(self, file: Path) -> str:
        st = file.stat()
        stat = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
        key = str(file.absolute())
        entry = self.entries.get(key)
        if self.trust and entry is not None and entry.get("stat") == stat:
            seen = entry.get("seen_ns")
            if isinstance(seen, int) and seen - max(st.st_mtime_ns, st.st_ctime_ns) > RACY_NS:
                return str(entry.get("sha256"))
        digest = file_sha256(file)
        self.entries[key] = {"stat": stat, "sha256": digest, "seen_ns": time.time_ns()}
        self.dirty = True
        return digest

    def save(self) -> None:
        """Keep what was learnt (best effort: a cache that cannot be written is none)."""
        if self.dirty and self.path is not None and self.trust:
            with contextlib.suppress(OSError):
                write_atomic(self.path, json.dumps(self.entries).encode("utf-8"))
            self.dirty = False


def project_digests(root: Path, state_dir: str) -> FileDigests:
    """A project's remembered file digests (``<state_dir>/cache/sha256.json``), unless
    ``REPORTC_TRUST_STAT=0`` says to read every file every time."""
    trust = os.environ.get("REPORTC_TRUST_STAT", "1").strip() != "0"
    return FileDigests(root / state_dir / "cache" / "sha256.json", trust_stat=trust)


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class Writer:
    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir.resolve()
        self.written: set[Path] = set()

    def reserve(self, relative: str) -> Path:
        """Claim a path inside the output folder for this run (written by someone else)."""
        target = (self.out_dir / relative).resolve()
        if not target.is_relative_to(self.out_dir):
            raise ReportcError(Problem(f"refusing to write '{relative}' outside {self.out_dir}"))
        if target in self.written:
            raise ReportcError(Problem(f"two outputs of this run are named '{relative}'"))
        self.written.add(target)
        return target

    def write(self, relative: str, data: bytes) -> Path:
        target = self.reserve(relative)
        write_atomic(target, data)
        return target
