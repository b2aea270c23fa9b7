"""What makes a build start sooner: WeasyPrint's libraries found in one read of the
ld.so cache, YAML texts compiled once, and a PDF worker that imports only what it
uses."""

from __future__ import annotations

import ctypes.util
import subprocess
import sys

import jinja2
import pytest

from reportc.render import markdown_literal
from reportc.sandbox import TEXT_MEMO, BoundedSandbox
from reportc.weasy import REQUIRED, ldconfig_listing, lookup_in, quick_lookup

LISTING = b"""\
1234 libs found in cache `/etc/ld.so.cache'
\tlibpangoft2-1.0.so.0 (libc6,x86-64) => /lib/x86_64-linux-gnu/libpangoft2-1.0.so.0
\tlibpango-1.0.so.0 (libc6,x86-64) => /lib/x86_64-linux-gnu/libpango-1.0.so.0
\tlibharfbuzz.so.0 (libc6,x86-64) => /lib/x86_64-linux-gnu/libharfbuzz.so.0
\tlibharfbuzz-subset.so.0 (libc6,x86-64) => /lib/x86_64-linux-gnu/libharfbuzz-subset.so.0
\tlibgobject-2.0.so.0 (libc6,x86-64) => /lib/x86_64-linux-gnu/libgobject-2.0.so.0
\tlibfontconfig.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libfontconfig.so.1
\tlibfoo.so.1 (libc6) => /usr/lib32/libfoo.so.1
"""

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ldconfig is Linux's")


@linux
@pytest.mark.skipif(__import__("platform").machine() != "x86_64", reason="the listing is x86-64's")
def test_names_are_found_as_ctypes_finds_them_in_the_same_listing() -> None:
    find = lookup_in(LISTING)
    assert find("gobject-2.0") == "libgobject-2.0.so.0"
    assert find("harfbuzz") == "libharfbuzz.so.0"  # not libharfbuzz-subset
    assert find("harfbuzz-subset") == "libharfbuzz-subset.so.0"
    # WeasyPrint's other spellings, and another ABI's library, are not there
    assert find("libgobject-2.0-0") is None and find("gobject-2.0-0") is None
    assert find("foo") is None
    assert all(find(name) for name in REQUIRED)


@linux
def test_the_quick_lookup_agrees_with_ctypes_on_this_machine() -> None:
    listing = ldconfig_listing()
    find = lookup_in(listing)
    for name in (*REQUIRED, "harfbuzz-subset", "c", "no-such-library-here"):
        assert find(name) == ctypes.util.find_library(name), name


def test_the_lookup_is_swapped_in_only_while_importing_and_only_when_complete() -> None:
    original = ctypes.util.find_library
    with quick_lookup(LISTING.replace(b"libpango-1.0", b"libother-1.0")) as swapped:
        assert not swapped and ctypes.util.find_library is original
    with quick_lookup(b"") as swapped:
        assert not swapped and ctypes.util.find_library is original
    if __import__("platform").machine() == "x86_64":
        with quick_lookup(LISTING) as swapped:
            assert swapped and ctypes.util.find_library("libgobject-2.0-0") is None
        assert ctypes.util.find_library is original
    with pytest.raises(RuntimeError), quick_lookup(LISTING):
        raise RuntimeError  # put back even when the import fails
    assert ctypes.util.find_library is original


def test_a_text_is_compiled_once_per_environment_and_options() -> None:
    env = BoundedSandbox(undefined=jinja2.StrictUndefined)
    assert env.text_template("{{ a }}") is env.text_template("{{ a }}")
    plain = env.variant(autoescape=False)
    assert plain is env.variant(autoescape=False)
    marked = env.variant(autoescape=False, finalize=markdown_literal)
    # the same text compiled under other options is another template, not the memo's
    assert plain.text_template("{{ a }}").render(a="*x*") == "*x*"
    assert marked.text_template("{{ a }}").render(a="*x*") == r"\*x\*"
    assert env.text_template("{{ a }}").render(a="<b>") == "<b>"  # not autoescaped
    escaped = env.overlay(autoescape=True)
    assert escaped.text_template("{{ a }}").render(a="<b>") == "&lt;b&gt;"
    assert env.text_template("{{ a }}").render(a="<b>") == "<b>"


def test_the_memo_of_texts_is_bounded() -> None:
    env = BoundedSandbox()
    first = env.text_template("0 {{ a }}")
    for i in range(1, TEXT_MEMO + 5):
        env.text_template(f"{i} {{{{ a }}}}")
    assert len(env._texts) == TEXT_MEMO
    assert env.text_template("0 {{ a }}") is not first  # the oldest went first


def test_a_pdf_worker_imports_neither_the_model_nor_the_rendering_stage() -> None:
    """What a worker's template imports before WeasyPrint is on its critical path."""
    code = (
        "import sys, reportc.workers; "
        "print(sorted(m for m in ('reportc.config.model', 'reportc.render', "
        "'reportc.graph', 'jinja2', 'markdown_it', 'duckdb', 'yaml') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("enabled", [True, False])
def test_weasyprint_is_imported_with_the_collector_paused_and_left_as_it_was(
    enabled: bool,
) -> None:
    """Importing WeasyPrint makes ~100,000 objects and no garbage; the collector's ~130
    passes over them are skipped (~60 ms), and it is left enabled or disabled as it was
    (enabled again, it makes one pass, at the next allocation)."""
    code = (
        "import gc, reportc.weasy as w\n"
        f"{'' if enabled else 'gc.disable()'}\n"
        "seen = []\n"
        "gc.callbacks.append(lambda phase, info: seen.append(phase))\n"
        "w.load_weasyprint()\n"
        "print(gc.isenabled(), len(seen) // 2)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    state, passes = done.stdout.split()
    assert state == str(enabled) and int(passes) <= 1
