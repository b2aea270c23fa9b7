"""The no-change build's fast path: ``reportc build`` run again with nothing changed is
answered from a stamp, without loading the project or importing the CLI.

When a ``build`` finds every report up to date (and archives nothing new), the CLI
writes ``.reportc/build-stamp.json``: the command line, the folder it ran in, the day,
the values of the environment variables the project reads, the size, modification
time and inode of every file in the project (outputs included) and of reportc's own
files, and what the command printed. The next identical command checks all of that
with ``stat`` calls only; if anything differs (a file added, removed or touched, a
variable changed, another day, another reportc), or a file was modified within two
seconds of the stamp (a file system with coarse timestamps could hide a second change
in the same tick), it takes the normal path, which decides for itself. ``--force``
never uses it; ``REPORTC_NO_FAST_PATH=1`` turns it off.

Stdlib only, by design: this module is all a no-change build imports.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

STAMP = Path(".reportc") / "build-stamp.json"
VERSION = 1
#: a project with more files than this is not stamped (the check would not be cheap)
MAX_FILES = 5000
#: folders whose contents are not inputs (the stamp itself lives in .reportc)
SKIP_DIRS = {
    ".reportc",
    ".git",
    "__pycache__",
    ".hypothesis",
    ".pytest_cache",
    ".mypy_cache",
    ".venv",
    "venv",
    "node_modules",
}
#: global options the fast path understands (each takes a value, or is a flag)
_GLOBAL_VALUE = {"-C", "--config", "--env-file"}
_GLOBAL_FLAG = {"-q", "--quiet"}
#: a file modified this close to the stamp may change again unseen within the same
#: timestamp tick (coarse file systems): the stamp does not vouch for it ("racy git")
RACY_NS = 2_000_000_000
#: options that change what a build does or prints each time: never answered from a stamp
_NEVER = {"--force", "--json", "--help", "-h", "-v", "-vv", "-vvv", "--verbose"}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
_ABSOLUTE = re.compile(r"""(?<![\w$:])(/[^\s'"{}\[\],]+)""")


def build_arguments(
    argv: Sequence[str], values: Iterable[str], flags: Iterable[str]
) -> tuple[dict[str, str], list[str]] | None:
    """(global options, the ``build`` command's arguments) of a command line whose
    global options are all among ``values`` (each followed by its value) and ``flags``;
    None for another command, or a global option not among them."""
    options: dict[str, str] = {}
    i = 0
    while i < len(argv) and argv[i] != "build":
        if argv[i] in values and i + 1 < len(argv):
            options[argv[i]] = argv[i + 1]
            i += 2
        elif argv[i] in flags:
            options[argv[i]] = ""
            i += 1
        else:
            return None
    return (options, list(argv[i + 1 :])) if i < len(argv) else None


def _parse(argv: Sequence[str]) -> tuple[dict[str, str], list[str]] | None:
    """(global options, the build command's arguments), or None if not a plain build."""
    parsed = build_arguments(argv, _GLOBAL_VALUE, _GLOBAL_FLAG)
    if parsed is None or any(a in _NEVER or a.startswith("--log-format") for a in parsed[1]):
        return None
    return parsed


def find_project(start: Path, config: str, environ: Mapping[str, str]) -> tuple[Path, bool]:
    """The project folder, as git finds its repository: ``REPORTC_PROJECT`` if set, else
    the first of ``start`` and its parents that holds ``config``, else ``start``; and
    whether it was named or found (rather than assumed). Here, stdlib only, so that the
    fast path finds the project exactly as the CLI does (``reportc.find_project``)."""
    named = environ.get("REPORTC_PROJECT", "").strip()
    if named:
        return Path(named), True
    for folder in (start, *start.parents):
        if (folder / config).is_file():
            return folder, True
    return start, False


def _root(options: Mapping[str, str], cwd: Path, environ: Mapping[str, str]) -> Path | None:
    """The project folder as ``reportc`` finds it; None when it would only be assumed."""
    if "-C" in options:
        return (cwd / options["-C"]).resolve()
    folder, found = find_project(cwd, options.get("--config", "reports.yaml"), environ)
    return (cwd / folder).resolve() if found else None


def _walk(root: Path) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in sorted(files):
            yield Path(folder) / name


def _stat(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _environment(text: str, environ: Mapping[str, str]) -> dict[str, str | None]:
    names = set(_VAR.findall(text)) | {k for k in environ if k.startswith("REPORTC_")}
    names |= {"TZ", "NO_COLOR"}
    return {n: environ.get(n) for n in sorted(names)}


def _files(root: Path, config_text: str, package: Path) -> dict[str, list[int]] | None:
    """Every file of the project, files named by absolute paths in the project file, and
    reportc's own files, with their stat; None when there are too many to be cheap."""
    trees = [root, package]
    for builtin in ("schema", "sections", "templates"):  # an editable install's built-ins
        if (package.parent / builtin).is_dir() and not (package / "_builtin").is_dir():
            trees.append(package.parent / builtin)
    paths = [Path(p) for p in _ABSOLUTE.findall(config_text) if Path(p).is_file()]
    for tree in trees:
        for path in _walk(tree):
            paths.append(path)
            if len(paths) > MAX_FILES:  # not cheap to check: the normal path decides
                return None
    out = {}
    for path in paths:
        stat = _stat(path)
        if stat is not None:
            out[str(path)] = stat
    archive = root / ".reportc" / "archive"  # runs added or removed change a folder
    for folder in [archive, *(p for p in archive.glob("*") if p.is_dir())]:
        stat = _stat(folder)
        if stat is not None:
            out[str(folder)] = stat
    return out


def _key(
    argv: Sequence[str],
    cwd: Path,
    environ: Mapping[str, str],
    root: Path,
    options: Mapping[str, str],
) -> dict[str, object] | None:
    config = root / options.get("--config", "reports.yaml")
    try:
        text = config.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
    files = _files(root, text, Path(__file__).resolve().parent)
    if files is None:
        return None
    return {
        "version": VERSION,
        "argv": list(argv),
        "cwd": str(cwd),
        "date": dt.datetime.now(dt.timezone.utc).date().isoformat(),
        "env": _environment(text, environ),
        "files": files,
    }


def write_stamp(
    argv: Sequence[str], cwd: Path, environ: Mapping[str, str], stdout: str, stderr: str
) -> bool:
    """Record a no-change build for the next identical one. False if not stamped."""
    parsed = _parse(argv)
    root = _root(parsed[0], cwd, environ) if parsed else None
    if parsed is None or root is None or environ.get("REPORTC_NO_FAST_PATH"):
        return False
    key = _key(argv, cwd, environ, root, parsed[0])
    if key is None:
        return False
    path = root / STAMP
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        written = time.time_ns()
        doc = {**key, "written_ns": written, "stdout": stdout, "stderr": stderr}
        tmp.write_text(json.dumps(doc), "utf-8")
        os.replace(tmp, path)
    except OSError:
        return False
    return True


def forget(root: Path) -> None:
    """Drop the stamp (any build that did something, or failed)."""
    with contextlib.suppress(OSError):
        (root / STAMP).unlink()


def replay(argv: Sequence[str], cwd: Path, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """(stdout, stderr) of the stamped no-change build if this command is the same one
    with nothing changed since; else None (take the normal path)."""
    parsed = _parse(argv)
    if parsed is None or environ.get("REPORTC_NO_FAST_PATH"):
        return None
    root = _root(parsed[0], cwd, environ)
    if root is None:
        return None
    try:
        stamp = json.loads((root / STAMP).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stamp, dict) or stamp.get("version") != VERSION:
        return None
    if stamp.get("argv") != list(argv) or stamp.get("cwd") != str(cwd):
        return None
    key = _key(argv, cwd, environ, root, parsed[0])
    if key is None or any(stamp.get(k) != v for k, v in key.items()):
        return None
    racy = int(stamp.get("written_ns", 0)) - RACY_NS
    if any(st[1] >= racy for st in stamp["files"].values()):
        return None  # the normal path decides, and stamps again
    return str(stamp.get("stdout", "")), str(stamp.get("stderr", ""))
