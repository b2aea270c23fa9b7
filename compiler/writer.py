"""Atomic, confined file output: every artifact goes through :class:`Writer`.

A file is written to a temporary name in the same folder, flushed and fsynced,
then renamed over the target, so a crash never leaves a half-written PDF. The
writer refuses paths outside its output folder and writing one path twice in a
run (two reports claiming the same file name is a bug, not a race to win).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from .errors import Problem, ReportcError


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in 1 MB chunks (data files can be large)."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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
