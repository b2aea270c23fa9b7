"""A parallel build's workers start warm with the stylesheets the last build's PDFs used:
the template (zygote) parses them and lays out a page with each before it forks a worker
whose task has not come yet. The promise tested here: nothing of that changes a PDF's
bytes, a bad or hostile warm-up message costs nothing but the head start, and no font
file is left behind, whoever exits first."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from reportc import load_project, pdf, warmstyles
from reportc.forkloop import MAX_WARM_BYTES
from reportc.rendered import RenderedReport
from reportc.workers import PdfPool, PdfTask, warm_message
from reportc.zygote import Zygote

from ..conftest import REPO, copy_example

WHEN = dt.datetime(2026, 10, 31, tzinfo=dt.timezone.utc)
STYLE = (
    '@font-face { font-family: "Inter"; src: url("assets/fonts/Inter-Bold.otf"); '
    "font-weight: 700; }\n"
    '@page { size: A6; margin: 1cm } h1 { font: 700 18pt "Inter" } p { color: #123456 }'
)
PAGE = "<!DOCTYPE html><html><head><style>{style}</style></head><body><h1>{n}</h1><p>{n}</p>"


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "assets").mkdir(parents=True)
    shutil.copytree(REPO / "assets" / "fonts", root / "assets" / "fonts")
    return root


def _cold(root: Path, html: str) -> bytes:
    """The PDF a process that has warmed nothing makes."""
    pdf.release_shared_styles()
    try:
        return pdf.make_pdf(RenderedReport("r", "r", html, "en"), root, when=WHEN).pdf
    finally:
        pdf.release_shared_styles()


@pytest.mark.slow
def test_a_warmed_stylesheet_gives_the_same_bytes_as_a_cold_one(tmp_path: Path) -> None:
    root = _project(tmp_path)
    html = PAGE.format(style=STYLE, n="Sales 1 234")
    cold = _cold(root, html)
    pdf.release_shared_styles()
    try:
        pdf.warm_styles(root, [STYLE, "p { color: red } </style><link href=x>", "{{{"])
        assert pdf._shared_style.cache_info().currsize == 2  # the unshareable one skipped
        warm = pdf.make_pdf(RenderedReport("r", "r", html, "en"), root, when=WHEN).pdf
    finally:
        pdf.release_shared_styles()
    assert warm == cold


def _tasks(root: Path, out: Path, names: list[str]) -> list[PdfTask]:
    return [
        PdfTask(
            name=n,
            html=PAGE.format(style=STYLE, n=n),
            project_root=root,
            target=out / f"{n}.pdf",
            when=WHEN,
        )
        for n in names
    ]


@pytest.mark.slow
def test_workers_forked_after_the_warm_up_make_the_same_pdfs_and_leave_nothing(
    tmp_path: Path,
) -> None:
    root = _project(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    zygote = Zygote.start(None)
    assert zygote is not None
    try:
        zygote.warm(warm_message(root, [STYLE]))
        # one pool, then another from the same zygote: the first pool's worker leaves
        # (deleting the font files it made) without touching the zygote's, which the
        # second pool's workers use
        for names in (["a", "b"], ["c"]):
            with PdfPool(2, zygote=zygote) as pool:
                assert all(r.error is None for r in pool.run(_tasks(root, out, names)))
        folders = list(Path(zygote.scratch).glob("weasyprint-*"))
        assert folders, "the zygote loaded the stylesheet's font"
    finally:
        zygote.close()
    assert not Path(zygote.scratch).exists()  # the zygote's font copies went with it
    for name in "abc":
        assert (out / f"{name}.pdf").read_bytes() == _cold(root, PAGE.format(style=STYLE, n=name))


@pytest.mark.slow
@pytest.mark.parametrize(
    "message",
    [b"not json", b'{"root": 1, "styles": "x"}', json.dumps({"styles": ["p{}"]}).encode()],
)
def test_a_bad_warm_up_message_costs_nothing_but_the_head_start(
    tmp_path: Path, message: bytes
) -> None:
    root = _project(tmp_path)
    zygote = Zygote.start(None)
    assert zygote is not None
    try:
        zygote.warm(message)
        with PdfPool(1, zygote=zygote) as pool:
            results = list(pool.run(_tasks(root, tmp_path, ["a"])))
    finally:
        zygote.close()
    assert results[0].error is None and (tmp_path / "a.pdf").exists()


@pytest.mark.slow
def test_a_garbled_message_stops_the_zygote_and_plain_workers_take_over(tmp_path: Path) -> None:
    """A length the zygote would not read: it stops; the pool starts plain workers."""
    root = _project(tmp_path)
    zygote = Zygote.start(None)
    assert zygote is not None
    try:
        zygote.sock.sendall(b"W" + (MAX_WARM_BYTES + 1).to_bytes(4, "big"))
        zygote.process.wait(timeout=60)
        with PdfPool(1, zygote=zygote) as pool:
            results = list(pool.run(_tasks(root, tmp_path, ["a"])))
    finally:
        zygote.close()
    assert results[0].error is None and (tmp_path / "a.pdf").exists()


def test_the_stylesheets_are_remembered_bounded_and_only_when_they_change(
    tmp_path: Path,
) -> None:
    project = load_project(copy_example(tmp_path / "example"), environ={})
    assert warmstyles.remembered(project) == ()
    log = warmstyles.StyleLog()
    for n in range(40):  # only the first LOOK_AT documents are looked at
        log.add(PAGE.format(style=f"p {{ order: {n} }}", n=n))
    log.add(PAGE.format(style="p {} </style><style>", n=0))  # not shareable
    assert log.styles == [f"p {{ order: {n} }}" for n in range(warmstyles.MAX_STYLES)]
    warmstyles.remember(project, log.styles)
    assert warmstyles.remembered(project) == tuple(log.styles)
    path = warmstyles.styles_file(project)
    stamp = path.stat().st_mtime_ns
    warmstyles.remember(project, log.styles)
    assert path.stat().st_mtime_ns == stamp  # the same: not written again
    for garbage in ("{", "[]", '{"styles": [1, "a"]}', '{"styles": ["' + "x" * 300_000 + '"]}'):
        path.write_text(garbage)
        assert warmstyles.remembered(project) in ((), ("a",))


def test_the_warm_up_message_fits_the_zygotes_buffer(tmp_path: Path) -> None:
    """Sending it never waits for the zygote: stylesheets that would not fit are left out."""
    big = "p { color: red }" + " " * (warmstyles.MAX_CHARS - 20)
    message = warm_message(tmp_path, ["h1 {}", big, big, "h2 {}"])
    assert len(message) <= MAX_WARM_BYTES
    assert json.loads(message)["styles"] == ["h1 {}", big]  # the first ones that fit
    assert warm_message(tmp_path, []) == b""
    assert warm_message(tmp_path, ["x" * MAX_WARM_BYTES]) == b""
