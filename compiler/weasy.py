"""Importing WeasyPrint without its library search: its native libraries are looked up
in one read of the ld.so cache instead of one compiler run per name it tries.

WeasyPrint loads Pango, HarfBuzz, fontconfig and GObject by trying several names for
each (``libgobject-2.0-0``, ``gobject-2.0-0``, ``gobject-2.0``, ...). Through cffi, every
name that is not a file runs :func:`ctypes.util.find_library`, which on Linux runs
``ldconfig -p`` and, when that does not know the name, ``gcc`` and ``ld``: 22 lookups,
16 of them misses at ~15 ms each, about 0.27 s of every build's import of WeasyPrint
(and of the PDF workers' template, before its first PDF).

:func:`load_weasyprint` imports WeasyPrint with :func:`ctypes.util.find_library` answered
from one ``ldconfig -p`` listing, read the way the standard library reads it, for the
time of the import only. It does so only where that listing already names every library
WeasyPrint needs; anywhere else (no ldconfig, libraries found only through
``LIBRARY_PATH`` or a compiler's search path) WeasyPrint is imported as it always is.
What differs: an *optional* library (HarfBuzz's subsetter or vector library) that only
``gcc`` could find is not used; ``reportc build`` says when the subsetter is missing.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import gc
import os
import re
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from functools import cache
from types import ModuleType

#: what WeasyPrint cannot import without (it finds each of these by one of its names)
REQUIRED = ("gobject-2.0", "pango-1.0", "harfbuzz", "fontconfig", "pangoft2-1.0")

#: the ABI tag ldconfig prints for this machine (as ctypes.util reads it)
_ABI = {
    "x86_64-64": "libc6,x86-64",
    "ppc64-64": "libc6,64bit",
    "sparc64-64": "libc6,64bit",
    "s390x-64": "libc6,64bit",
    "ia64-64": "libc6,IA-64",
}


def ldconfig_listing() -> bytes:
    """``ldconfig -p`` as ctypes.util runs it (b"" where there is none)."""
    if not sys.platform.startswith("linux"):
        return b""
    try:
        done = subprocess.run(
            ["/sbin/ldconfig", "-p"],
            stdin=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            env={"LC_ALL": "C", "LANG": "C"},
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return b""
    return done.stdout


def lookup_in(listing: bytes) -> Callable[[str], str | None]:
    """find_library's answer from an ``ldconfig -p`` listing: the same regular
    expression ctypes.util searches that listing with, and None where it finds nothing."""
    bits = "-32" if struct.calcsize("l") == 4 else "-64"
    abi = _ABI.get(os.uname().machine + bits, "libc6")

    @cache
    def find(name: str) -> str | None:
        pattern = rb"\s+(lib%s\.[^\s]+)\s+\(%s" % (re.escape(name).encode(), abi.encode())
        found = re.search(pattern, listing)
        return os.fsdecode(found.group(1)) if found else None

    return find


@contextlib.contextmanager
def quick_lookup(listing: bytes) -> Iterator[bool]:
    """For the ``with`` block, answer find_library from ``listing`` if it names every
    required library (yields whether it does; if not, nothing changes)."""
    find = lookup_in(listing)
    if not listing or not all(find(name) for name in REQUIRED):
        yield False
        return
    original = ctypes.util.find_library
    ctypes.util.find_library = find  # type: ignore[assignment]
    try:
        yield True
    finally:
        ctypes.util.find_library = original


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """For the ``with`` block, no cyclic garbage collection (then as it was before)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@cache
def load_weasyprint() -> ModuleType:
    """WeasyPrint, imported once per process with the quick library lookup and with
    the collector paused: the import makes ~100,000 long-lived objects and no garbage,
    and the collector's ~130 passes over them cost ~60 ms (10% of the import) on a
    build's critical path, in the workers' template or the building process."""
    if "weasyprint" not in sys.modules:
        with collector_paused(), quick_lookup(ldconfig_listing()):
            import weasyprint  # noqa: F401 - what this function is for
    return sys.modules["weasyprint"]
