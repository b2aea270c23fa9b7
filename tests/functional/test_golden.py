"""The example's output against its reviewed golden copy: HTML and every PDF page.

A change of CSS, template or layout fails here. To review a change, run
``python -m tests.golden`` (actual pages and diff images in tests/golden/review/);
to accept it after looking at every changed page, ``python -m tests.golden --update``.
"""

from __future__ import annotations

import reportc
from tests.golden import GOLDEN, compare


def test_example_output_matches_the_golden_copy(example_build: reportc.BuildResult) -> None:
    assert sorted(p.name for p in (GOLDEN / "html").glob("*.html")) == [
        "accounting.html",
        "ceo.html",
        "cfo.html",
        "cmo.html",
        "cto.html",
    ]
    problems = compare(example_build.out_dir)
    assert problems == [], "\n".join(
        [*problems, "review: python -m tests.golden; accept: python -m tests.golden --update"]
    )


def test_a_layout_change_is_caught(example_build: reportc.BuildResult, tmp_path: object) -> None:
    """The comparison is not blind: a page shifted by a few points fails it."""
    from PIL import Image, ImageChops

    from tests.golden import changed_fraction

    page = Image.open(GOLDEN / "pages" / "cfo-3.png").convert("L")
    shifted = ImageChops.offset(page, 0, 6)
    assert changed_fraction(page, page) == 0.0
    assert changed_fraction(page, shifted) > 0.003
