"""Page flow of the example reports, measured on WeasyPrint's own layout boxes.

- No table of 12 rows or fewer is split across pages (a longer one splits between rows).
- No page carries only the closing line.
- A page other than the last is at least ``MIN_FILL`` full, unless the page after it
  starts with a section heading (it is the last page of a section that ends there).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import reportc
from reportc.pdf import SafeFetcher
from reportc.resources import package_roots

REPORTS = ("ceo", "cto", "cfo", "cmo", "accounting")
MIN_FILL = 0.5


def _boxes(box: Any) -> Iterator[Any]:
    yield box
    for child in getattr(box, "children", ()):
        yield from _boxes(child)


@pytest.fixture(scope="module")
def layouts(example_build: reportc.BuildResult) -> dict[str, Any]:
    from weasyprint import HTML

    root = example_build.out_dir.parent
    out = {}
    for name in REPORTS:
        html = (example_build.out_dir / f"{name}.html").read_text("utf-8")
        fetcher = SafeFetcher(package_roots(), root)
        out[name] = HTML(string=html, base_url=root.as_uri() + "/", url_fetcher=fetcher).render()
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", REPORTS)
def test_short_tables_are_never_split(layouts: dict[str, Any], name: str) -> None:
    pages_of: dict[int, set[int]] = {}
    rows_of: dict[int, int] = {}
    for number, page in enumerate(layouts[name].pages, start=1):
        for box in _boxes(page._page_box):
            element = getattr(box, "element", None)
            if getattr(box, "element_tag", "") == "table" and element is not None:
                pages_of.setdefault(id(element), set()).add(number)
                rows_of[id(element)] = sum(
                    1 for tr in element.iter("tr") if tr.find("td") is not None
                )
    split = {key: sorted(p) for key, p in pages_of.items() if len(p) > 1 and rows_of[key] <= 12}
    assert not split, f"{name}: tables of <= 12 rows split over pages {list(split.values())}"
    assert pages_of, "no tables found"


def _content(page: Any) -> list[Any]:
    """The page's laid-out boxes that come from the report body (<main>)."""
    html = next(b for b in _boxes(page._page_box) if getattr(b, "element_tag", "") == "html")
    main = next(html.element.iter("main"), None)
    inside = {id(e) for e in main.iter()} if main is not None else set()
    return [
        b
        for b in _boxes(page._page_box)
        if id(getattr(b, "element", None)) in inside and getattr(b, "height", None) is not None
    ]


@pytest.mark.slow
@pytest.mark.parametrize("name", REPORTS)
def test_no_page_is_left_nearly_empty(layouts: dict[str, Any], name: str) -> None:
    pages = layouts[name].pages
    for number in range(2, len(pages) + 1):  # page 1 is the cover
        page = pages[number - 1]
        content = _content(page)
        assert content, f"{name} p.{number} carries only the closing line"
        if number == len(pages):
            continue
        box = page._page_box
        bottom = max(b.position_y + b.margin_height() for b in content)
        fill = (bottom - box.content_box_y()) / box.height
        following = sorted(_content(pages[number]), key=lambda b: b.position_y)
        starts_section = bool(following) and following[0].element_tag in ("section", "h2")
        assert fill >= MIN_FILL or starts_section, (
            f"{name} p.{number} is {fill:.0%} full and the next page does not start a section"
        )
