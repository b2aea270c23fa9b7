"""A report's stylesheet is parsed once per process and shared by every PDF with the
same one (a burst's rows): the PDFs must be byte-for-byte what laying out each HTML on
its own gives, the cascade must not change, and a refused URL in the stylesheet is
still reported for every report that uses it."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

import reportc
from reportc import pdf, warmstyles
from reportc.config.pdfoptions import PdfOptions
from reportc.rendered import RenderedReport
from reportc.workers import PdfPool, PdfTask
from reportc.zygote import ForkedWorker

from ..conftest import REPO, copy_example, worker_source

WHEN = dt.datetime(2026, 10, 31, tzinfo=dt.timezone.utc)


def _unshared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf, "_split_style", lambda html: (html, None))


def _pdf(html: str, root: Path, options: PdfOptions | None = None) -> pdf.Artifact:
    return pdf.make_pdf(RenderedReport("r", "r", html, "en"), root, options=options, when=WHEN)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ceo", "cfo", "cto"])
def test_the_examples_pdfs_are_the_same_bytes_with_the_shared_stylesheet(
    example_build: reportc.BuildResult, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = example_build.out_dir.parent
    html = (example_build.out_dir / f"{name}.html").read_text("utf-8")
    spec = reportc.load_project(root, environ={}).personas[name]
    assert pdf._split_style(html)[1] is not None  # the example takes the shared path
    shared = [_pdf(html, root, spec.pdf).pdf for _ in range(2)]
    _unshared(monkeypatch)
    alone = _pdf(html, root, spec.pdf).pdf
    assert shared[0] == shared[1] == alone


BURST = """<!DOCTYPE html><html><head><style>
@page {{ size: A6; margin: 1cm; @bottom-center {{ content: "p. " counter(page); }} }}
h1 {{ color: {colour}; font-size: 20pt }} .n {{ font-weight: bold }}
</style></head><body><h1>Store {n}</h1><p class="n">Sales {n}</p>{extra}</body></html>"""


def test_rows_with_one_stylesheet_or_several_match_their_own_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pages = [
        BURST.format(n=n, colour=colour, extra="")
        for n, colour in [(1, "red"), (2, "red"), (3, "#123456"), (4, "red")]
    ]
    shared = [_pdf(html, tmp_path).pdf for html in pages]
    _unshared(monkeypatch)
    assert shared == [_pdf(html, tmp_path).pdf for html in pages]


@pytest.mark.parametrize(
    "extra",
    [
        "<style>h1 { color: blue }</style>",  # a second sheet: author, after ours
        '<link rel="stylesheet" href="x.css">',
        '<p style="color: green !important">important</p>',
        '<p style="color: green ! IMPORTANT">important</p>',
    ],
)
def test_a_document_whose_cascade_would_change_is_laid_out_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str
) -> None:
    html = BURST.format(n=1, colour="red", extra=extra)
    assert pdf._split_style(html) == (html, None)
    shared = _pdf(html, tmp_path).pdf
    _unshared(monkeypatch)
    assert shared == _pdf(html, tmp_path).pdf


def test_a_document_too_big_to_copy_cheaply_is_laid_out_as_written() -> None:
    """Cutting the sheet out copies the text: a report with a big image inline (tens of
    MB of data: URL) keeps its stylesheet and is not held twice."""
    html = BURST.format(n=1, colour="red", extra="x" * pdf.SHARE_MAX_CHARS)
    assert pdf._split_style(html) == (html, None)


def test_text_that_looks_like_a_style_end_inside_the_sheet_is_not_cut(tmp_path: Path) -> None:
    html = BURST.replace("</style>", "h2::after {{ content: '</styl' }}</style>").format(
        n=1, colour="red", extra=""
    )
    _, style = pdf._split_style(html)
    assert style is not None and style.endswith("'</styl' }")


def test_a_refused_url_in_a_shared_sheet_is_reported_for_every_report(tmp_path: Path) -> None:
    sheet = "@font-face {{ font-family: X; src: url(file:///etc/passwd) }}"
    html = BURST.replace("<style>", f"<style>{sheet}").format(n=1, colour="red", extra="")
    first, second = _pdf(html, tmp_path), _pdf(html, tmp_path)
    assert first.refused_urls == second.refused_urls == ("file:///etc/passwd",)


@pytest.mark.slow
def test_a_build_with_font_faces_exits_cleanly_and_leaves_no_font_files(tmp_path: Path) -> None:
    """The shared font configuration holds the project's fonts in a temporary folder:
    the process lets go of it before exit, so nothing is printed and nothing is left.
    ``--jobs 1`` remembers the stylesheet; the ``--jobs 2`` build's template (forked from
    the command) warms up with it: the PDFs are the same bytes, cold and warm."""
    root = copy_example(tmp_path / "example")
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "SOURCE_DATE_EPOCH": "1793491200"}
    made = {}
    for jobs in ("1", "2"):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "reportc",
                "-C",
                str(root),
                "build",
                "--force",
                "--jobs",
                jobs,
                "--no-archive",
                "--format",
                "pdf",
                "--persona",
                "ceo",
                "--persona",
                "cto",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
        assert list(temp.iterdir()) == []
        made[jobs] = [(root / "dist" / f"{n}.pdf").read_bytes() for n in ("ceo", "cto")]
        assert len(warmstyles.remembered(reportc.load_project(root, environ={}))) == 1
    assert made["1"] == made["2"]


FONT_HTML = """<html><head><style>
@font-face { font-family: Inter; src: url(assets/fonts/Inter-Bold.otf); }
body { font-family: Inter; }
</style></head><body><p>{name}</p></body></html>"""


@pytest.fixture
def font_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path]]:
    """(a project folder with an ``@font-face`` font, the temporary folder every process
    of the test writes its temporary files to, TMPDIR included)."""
    root = tmp_path / "project"
    (root / "assets" / "fonts").mkdir(parents=True)
    shutil.copy(REPO / "assets/fonts/Inter-Bold.otf", root / "assets/fonts")
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))  # the workers' temporary folder
    tempfile.tempdir = None  # (this process's own temporary files: ask again)
    try:
        yield root, temp
    finally:
        tempfile.tempdir = None


@pytest.mark.slow
@pytest.mark.parametrize("forked", [False, True], ids=["plain", "zygote"])
def test_workers_delete_their_font_folders_without_collecting_and_exit_cleanly(
    tmp_path: Path, font_project: tuple[Path, Path], forked: bool
) -> None:
    """A worker deletes its shared stylesheets' font folders itself and leaves with
    os._exit (no teardown, no collection of its heap for the build to wait for)."""
    root, temp = font_project
    tasks = [
        PdfTask(n, FONT_HTML.replace("{name}", n), root, tmp_path / f"{n}.pdf")
        for n in ("a", "b", "c")
    ]
    with worker_source(forked, None) as zygote, PdfPool(2, zygote=zygote) as pool:
        results = list(pool.run(tasks))
        slots = list(pool.slots)
    assert all(r.error is None and r.pages == 1 for r in results)
    assert {type(s.process) is ForkedWorker for s in slots} == {forked}
    assert [s.process.returncode for s in slots] == [0, 0]
    assert not [p for p in temp.iterdir() if p.name.startswith("weasyprint-")]
    resources: Any = PdfReader(tmp_path / "a.pdf").pages[0]["/Resources"]
    fonts = resources["/Font"].values()
    assert any("Inter" in str(font.get_object()["/BaseFont"]) for font in fonts)


@pytest.mark.slow
@pytest.mark.parametrize("forked", [False, True], ids=["plain", "zygote"])
def test_a_worker_killed_for_its_time_leaves_no_font_folder(
    tmp_path: Path, font_project: tuple[Path, Path], forked: bool
) -> None:
    """A worker killed mid-layout cannot delete its copies of the project's fonts; they
    live in a scratch folder the pool (or the template's owner) removes at the end."""
    root, temp = font_project
    rows = "".join(f"<tr><td>{i}</td><td>{'x' * 40}</td></tr>" for i in range(6000))
    big = FONT_HTML.replace("<p>{name}</p>", f"<table>{rows}</table>")
    tasks = [
        PdfTask(n, h, root, tmp_path / f"{n}.pdf")
        for n, h in (("big", big), ("a", FONT_HTML.replace("{name}", "a")))
    ]
    with worker_source(forked, None) as zygote, PdfPool(2, timeout=1.5, zygote=zygote) as pool:
        results = {r.name: r for r in pool.run(tasks)}
    big_error = results["big"].error
    assert big_error is not None and "gave up after" in big_error.problems[0].message
    assert results["a"].error is None and results["a"].pages == 1
    assert list(temp.iterdir()) == []
