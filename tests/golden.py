"""Golden output of the example project: normalised HTML and page images.

The example's five reports are built with a fixed clock, and compared with what is
committed under ``tests/golden/``:

- ``html/<report>.html``: the standalone HTML, with each embedded ``data:`` URI (the
  logo, the charts) replaced by its length and sha256, so a diff stays readable;
- ``pages/<report>-<n>.png``: every PDF page rendered by pdfium (pypdfium2) at 50 dpi in
  grey, compared within a tolerance (a page differs when more than 0.3% of its
  pixels differ by more than 48 levels out of 255), so a CSS or layout regression
  fails while anti-aliasing noise does not.

Review and update (look at every changed page before committing it)::

    python -m tests.golden            # writes tests/golden/review/: actual + diff images
    python -m tests.golden --update   # accepts the current output as the new baseline
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import sys
import tempfile
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden"
DPI = 50
LEVELS = 48
MAX_CHANGED = 0.003
_DATA_URI = re.compile(r"data:([\w/+.-]+)(;[\w=-]+)*,([A-Za-z0-9+/=%._-]+)")


def normalise_html(html: str) -> str:
    def short(match: re.Match[str]) -> str:
        payload = match.group(3)
        digest = hashlib.sha256(payload.encode()).hexdigest()[:16]
        return f"data:{match.group(1)};len={len(payload)};sha256={digest}"

    return _DATA_URI.sub(short, html)


def page_images(pdf: Path) -> list[object]:
    import pypdfium2 as pdfium

    from tests.conftest import EXAMPLE_ENV

    doc = pdfium.PdfDocument(str(pdf), password=EXAMPLE_ENV.get("CMO_PDF_PASSWORD"))
    try:
        return [doc[i].render(scale=DPI / 72).to_pil().convert("L") for i in range(len(doc))]
    finally:
        doc.close()


def changed_fraction(a: object, b: object) -> float:
    """The share of pixels that differ by more than LEVELS (1.0 if the sizes differ)."""
    from PIL import Image, ImageChops

    assert isinstance(a, Image.Image) and isinstance(b, Image.Image)
    if a.size != b.size:
        return 1.0
    diff = ImageChops.difference(a, b).point(lambda v: 255 if v > LEVELS else 0)
    histogram = diff.histogram()
    return histogram[255] / float(a.size[0] * a.size[1])


def build_example(into: Path) -> Path:
    """Build a copy of the example project with the tests' fixed clock; its dist/."""
    from reportc import pipeline
    from reportc.config import load_project
    from tests.conftest import FIXED_NOW, copy_example

    root = copy_example(into / "example")
    result = pipeline.build(load_project(root, environ={}), clock=lambda: FIXED_NOW)
    assert all(r.ok for r in result.reports), [r.error for r in result.reports]
    return result.out_dir


def compare(dist: Path) -> list[str]:
    """Every difference from the committed baselines, one line each ([] when none)."""
    problems: list[str] = []
    for expected in sorted((GOLDEN / "html").glob("*.html")):
        actual = dist / expected.name
        if not actual.is_file():
            problems.append(f"{expected.name}: not built")
        elif normalise_html(actual.read_text("utf-8")) != expected.read_text("utf-8"):
            problems.append(f"{expected.name}: the HTML differs from the golden copy")
    for pdf in sorted(dist.glob("*.pdf")):
        baselines = sorted(GOLDEN.glob(f"pages/{pdf.stem}-*.png"))
        pages = page_images(pdf)
        if len(pages) != len(baselines):
            problems.append(f"{pdf.name}: {len(pages)} pages, the baseline has {len(baselines)}")
            continue
        from PIL import Image

        for n, (page, base) in enumerate(zip(pages, baselines, strict=True), start=1):
            share = changed_fraction(page, Image.open(base).convert("L"))
            if share > MAX_CHANGED:
                problems.append(f"{pdf.name} page {n}: {share:.2%} of the pixels changed")
    return problems


def _write(dist: Path, target: Path, diff_against: Path | None = None) -> None:
    from PIL import ImageChops

    (target / "html").mkdir(parents=True, exist_ok=True)
    (target / "pages").mkdir(parents=True, exist_ok=True)
    for html in sorted(dist.glob("*.html")):
        (target / "html" / html.name).write_text(normalise_html(html.read_text("utf-8")))
    for pdf in sorted(dist.glob("*.pdf")):
        for n, page in enumerate(page_images(pdf), start=1):
            name = f"{pdf.stem}-{n}.png"
            page.save(target / "pages" / name, optimize=True)  # type: ignore[attr-defined]
            base = diff_against / "pages" / name if diff_against else None
            if base is not None and base.is_file():
                from PIL import Image

                old = Image.open(base).convert("L")
                if old.size == page.size:  # type: ignore[attr-defined]
                    diff = ImageChops.invert(ImageChops.difference(old, page))  # type: ignore[arg-type]
                    diff.save(target / "pages" / f"{pdf.stem}-{n}.diff.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.golden", description=__doc__)
    parser.add_argument("--update", action="store_true", help="accept the current output")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        dist = build_example(Path(tmp))
        if args.update:
            for sub in ("html", "pages"):
                shutil.rmtree(GOLDEN / sub, ignore_errors=True)
            _write(dist, GOLDEN)
            print(f"baselines updated in {GOLDEN}: review them with 'git diff' before committing")
            return 0
        problems = compare(dist)
        review = GOLDEN / "review"
        shutil.rmtree(review, ignore_errors=True)
        _write(dist, review, diff_against=GOLDEN)
    for line in problems:
        print(line)
    print(f"{len(problems)} difference(s); actual output and diff images in {review}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
