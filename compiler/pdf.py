"""PDF stage: RenderedReport -> PDF bytes (:class:`Artifact`) with WeasyPrint.

The URL fetcher serves only ``data:`` URLs and ``file:`` URLs that resolve
(symlinks included) to reportc's own files, to the project's ``assets/`` folder,
or to a font file in the project. Remote URLs and every other path - data files,
``reports.yaml``, the env file, ``.reportc/``, ``.git/``, ``dist/`` - are refused
and recorded, so a hostile template (``<link rel=attachment href=repos.env>``) or
data cell cannot put a secret into a PDF, read ``/etc/passwd`` or call the network.

A report's stylesheet is parsed once per process and shared by every PDF that has the
same one (see :func:`_split_style`): a burst's thousand rows parse it once, not a
thousand times, and each PDF's bytes are what laying it out alone would give.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes.util
import datetime as dt
import gc
import hashlib
import logging
import mimetypes
import os
import re
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from .config.pdfoptions import PdfOptions
from .deepstack import call_deep
from .errors import Problem, RenderError
from .rendered import RenderedReport
from .resources import package_roots
from .weasy import load_weasyprint


@cache
def _fetcher_class() -> type:
    """WeasyPrint's URLFetcher, subclassed on first use (importing WeasyPrint is slow)."""
    load_weasyprint()
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class _SafeFetcher(URLFetcher):  # type: ignore[misc]
        def __init__(self, roots: Iterable[Path], project: Path | None = None) -> None:
            super().__init__(timeout=1, allowed_protocols={"file", "data"}, allow_redirects=False)
            self.roots = tuple(Path(r).resolve() for r in roots)
            self.project = project.resolve() if project is not None else None
            self.refused: list[str] = []

        def allowed(self, path: Path) -> bool:
            if any(path.is_relative_to(root) for root in self.roots):
                return True
            if self.project is None or not path.is_relative_to(self.project):
                return False
            parts = path.relative_to(self.project).parts
            if any(p.startswith(".") for p in parts) or parts[0] == "dist":
                return False
            return parts[0] == "assets" or path.suffix.lower() in FONT_SUFFIXES

        def fetch(self, url: str, headers: Any = None) -> Any:
            parsed = urlparse(url)
            if parsed.scheme == "data":
                return super().fetch(url, headers)
            if parsed.scheme == "file" and parsed.netloc in ("", "localhost"):
                path = Path(unquote(parsed.path)).resolve()
                if self.allowed(path) and path.is_file():
                    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                    return URLFetcherResponse(
                        path.as_uri(), path.read_bytes(), {"Content-Type": mime}
                    )
            self.refused.append(url)
            raise ValueError(
                f"reportc refused to fetch {url!r} (only assets/, fonts and reportc's own files)"
            )

    return _SafeFetcher


@contextlib.contextmanager
def _font_timestamps(when: dt.datetime | None) -> Iterator[None]:
    """Subset fonts dated ``when``, not now: fontTools (WeasyPrint's fallback when
    HarfBuzz subsetting is missing) stamps each subset font with the current time
    unless ``SOURCE_DATE_EPOCH`` is set, which would make every build's bytes differ."""
    if when is None or os.environ.get("SOURCE_DATE_EPOCH"):
        yield
        return
    os.environ["SOURCE_DATE_EPOCH"] = str(int(when.timestamp()))
    try:
        yield
    finally:
        os.environ.pop("SOURCE_DATE_EPOCH", None)


def harfbuzz_subset_missing() -> bool:
    """Whether WeasyPrint will subset fonts with fontTools (slow) instead of HarfBuzz."""
    return ctypes.util.find_library("harfbuzz-subset") is None


FONT_SUBSET_HINT = (
    "HarfBuzz font subsetting (libharfbuzz-subset0) is not installed: PDFs are made with "
    "fontTools instead, several times slower; install it (Debian: apt-get install "
    "libharfbuzz-subset0)"
)

FONT_SUFFIXES = (".otf", ".ttf", ".woff", ".woff2")


def SafeFetcher(roots: Iterable[Path], project: Path | None = None) -> Any:
    """A URL fetcher for data: URLs, files under ``roots``, and ``project``'s assets/fonts."""
    return _fetcher_class()(roots, project)


@dataclass(frozen=True)
class Artifact:
    name: str
    pdf: bytes
    pages: int
    sha256: str
    refused_urls: tuple[str, ...] = ()


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@dataclass(frozen=True)
class DataFile:
    """A file embedded in the PDF (PDF/A-3 ``AFRelationship /Data``)."""

    name: str
    content: bytes
    description: str = ""


def make_pdf(
    rendered: RenderedReport,
    project_root: Path,
    *,
    options: PdfOptions | None = None,
    data_files: Sequence[DataFile] = (),
    when: dt.datetime | None = None,
) -> Artifact:
    """Lay out and write the PDF in memory. Raises :class:`RenderError`.

    ``when`` dates the embedded files (so identical inputs give identical bytes).
    """
    load_weasyprint()  # imported here, and quickly: a no-change build never needs it
    from weasyprint import HTML

    fetcher = SafeFetcher(package_roots(), project_root)
    write_options = _write_options(options or PdfOptions(), data_files, when)
    logger = logging.getLogger("weasyprint")
    collect = _Collect()
    logger.addHandler(collect)
    base_url = project_root.as_uri() + "/"
    refused: tuple[str, ...] = ()
    layout: dict[str, Any] = {}
    try:
        html, style = _split_style(rendered.html)
        if style is not None:
            shared = _shared_style(style, base_url, project_root)
            refused = shared.refused
            layout = {"stylesheets": [shared.css], "font_config": shared.font_config}
        identifier = hashlib.sha256(rendered.html.encode("utf-8")).hexdigest()[:32].encode()
        document, pdf = call_deep(
            _lay_out,
            lambda: HTML(string=html, base_url=base_url, url_fetcher=fetcher),
            layout,
            when,
            {"pdf_identifier": identifier, **write_options},
        )
    except Exception as exc:
        raise RenderError(
            Problem(f"report '{rendered.name}': PDF rendering failed: {type(exc).__name__}: {exc}")
        ) from None
    finally:
        logger.removeHandler(collect)
    assert isinstance(pdf, bytes)
    return Artifact(
        name=rendered.name,
        pdf=pdf,
        pages=len(document.pages),
        sha256=hashlib.sha256(pdf).hexdigest(),
        refused_urls=refused + tuple(fetcher.refused),
    )


def _lay_out(
    parse: Callable[[], Any],
    layout: dict[str, Any],
    when: dt.datetime | None,
    options: dict[str, Any],
) -> tuple[Any, bytes]:
    """The HTML parsed, laid out and written as PDF: WeasyPrint's recursive part, run
    through :func:`call_deep`."""
    document = parse().render(**layout)
    with _font_timestamps(when):
        return document, document.write_pdf(**options)


def _write_options(
    options: PdfOptions, data_files: Sequence[DataFile], when: dt.datetime | None
) -> dict[str, Any]:
    """WeasyPrint's ``write_pdf`` options for the report's PDF variant and attachments."""
    from weasyprint import Attachment

    write_options: dict[str, Any] = {}
    if options.variant:
        write_options["pdf_variant"] = options.variant
    if options.tagged:
        write_options["pdf_tags"] = True
    if data_files:
        stamp = when or dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
        write_options["attachments"] = [
            Attachment(
                string=f.content,
                name=f.name,
                description=f.description or f.name,
                created=stamp,
                modified=stamp,
                relationship="Data",
            )
            for f in data_files
        ]
    return write_options


#: The report's one stylesheet: ``<style>`` then the text up to the first ``</style``.
_STYLE = re.compile(r"<style>([^<]*(?:<(?!/style)[^<]*)*)</style>", re.IGNORECASE)


#: a document bigger than this is laid out as written: sharing its stylesheet saves the
#: same few milliseconds whatever its size, and cutting the sheet out copies the whole
#: text (a report with a 40 MB logo inline would hold it once more)
SHARE_MAX_CHARS = 2_000_000
_STYLE_TAG = re.compile(r"<style", re.IGNORECASE)
_LINK_TAG = re.compile(r"<link", re.IGNORECASE)
_BODY_TAG = re.compile(r"<body", re.IGNORECASE)
_IMPORTANT = re.compile(r"!\s*important", re.IGNORECASE)


def _split_style(html: str) -> tuple[str, str | None]:
    """The HTML without its stylesheet, and the stylesheet, when the stylesheet can be
    parsed once and shared by every document that has the same one (see
    :func:`shared_style_text`). Nothing here copies the text but the one result."""
    match = _shareable(html)
    if match is None:
        return html, None
    return html[: match.start()] + html[match.end() :], match.group(1)


def shared_style_text(html: str) -> str | None:
    """The document's stylesheet if it takes the shared path, without copying the rest.

    A shared stylesheet reaches WeasyPrint as a *user* stylesheet rather than an
    author one. With no other stylesheet in the document the cascade is the same
    (user-agent, then this sheet, then ``style`` attributes), so only a document with
    exactly one ``<style>`` (in its head), no ``<link>``, and no ``!important`` outside
    the sheet (an important user declaration would beat an important ``style``
    attribute) takes this path; any other is laid out as written. The PDF's bytes are
    the same either way (tested)."""
    match = _shareable(html)
    return None if match is None else match.group(1)


def _shareable(html: str) -> re.Match[str] | None:
    if len(html) > SHARE_MAX_CHARS or "\r" in html or "\0" in html:
        return None
    if len(_STYLE_TAG.findall(html)) != 1 or _LINK_TAG.search(html):
        return None
    match = _STYLE.search(html)
    body = _BODY_TAG.search(html)
    if match is None or body is None or match.start() > body.start():
        return None
    if _IMPORTANT.search(html, 0, match.start()) or _IMPORTANT.search(html, match.end()):
        return None
    return match


#: what a stylesheet is warmed up with: text in each weight and style a report uses
_WARM_PAGE = (
    "<!DOCTYPE html><html><head><style>{style}</style></head><body>"
    "<h1>Warm</h1><h2>up</h2><h3>page</h3><p>1 234,5 <b>b</b> <strong>s</strong> "
    "<em>e</em> <i>i</i> <small>s</small> <code>c</code></p><ul><li>l</li></ul>"
    "<table><tr><th>h</th><td>d</td></tr></table></body></html>"
)


def warm_styles(project_root: Path, styles: Sequence[str]) -> None:
    """Parse each stylesheet for sharing and lay out a page with it (fonts loaded,
    glyphs shaped) in this process, as the first PDF with it would: a zygote does this
    before it forks workers, so each worker's first PDF costs what its later ones do.
    A stylesheet that does not take the shared path, or fails, is skipped; nothing is
    written anywhere (the font configuration's folder aside, as for any PDF)."""
    for style in styles:
        page = _WARM_PAGE.format(style=style)
        if shared_style_text(page) != style:
            continue
        with contextlib.suppress(RenderError):
            make_pdf(RenderedReport("warm-up", "warm-up", page, ""), project_root)


@dataclass(frozen=True)
class _SharedStyle:
    css: Any
    font_config: Any
    refused: tuple[str, ...]


@lru_cache(maxsize=8)
def _shared_style(text: str, base_url: str, project_root: Path) -> _SharedStyle:
    """A parsed stylesheet and the font configuration its ``@font-face`` rules were
    loaded into, made once per process for each distinct stylesheet (a burst's
    reports all share one): parsing and matching the stylesheet was about 40% of
    laying out a one-page report. Only the stylesheet's text, the base URL and the
    project decide it, so a memo cannot give one report another's style."""
    load_weasyprint()
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration

    fetcher = SafeFetcher(package_roots(), project_root)
    font_config = FontConfiguration()
    _FONT_CONFIGS[font_config] = os.getpid()
    css = CSS(string=text, base_url=base_url, url_fetcher=fetcher, font_config=font_config)
    return _SharedStyle(css, font_config, tuple(fetcher.refused))


#: the shared stylesheets' font configurations, each with the process that made it
_FONT_CONFIGS: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


def release_shared_styles(*, collect: bool = True) -> None:
    """Let go of the parsed stylesheets and their font configurations now. WeasyPrint's
    font configurations delete their temporary font files when collected; at
    interpreter exit that would run after the modules it needs are gone (a traceback on
    stderr, the files left behind), so this runs as an exit handler, and collects.
    (A process that laid out nothing, the parent of a parallel build say, has nothing
    to let go and collects nothing.)

    A PDF worker, which leaves with ``os._exit`` (no exit handler, no collection ever),
    passes ``collect=False``: the font folders of the configurations *it* made are
    deleted now by WeasyPrint's own clean-up (``FontConfiguration.__del__``) instead of
    collecting the whole heap for it, about 0.1 s the build waited for at its end. Those
    a forked worker inherited from its zygote are the zygote's (other workers use them):
    they are left alone, and so is the memo that holds them."""
    if not _shared_style.cache_info().currsize:
        return
    if not collect:
        for font_config, maker in list(_FONT_CONFIGS.items()):
            if maker == os.getpid():
                font_config.__del__()
        return
    _shared_style.cache_clear()
    gc.collect()


atexit.register(release_shared_styles)
