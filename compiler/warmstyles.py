"""The stylesheets a build's PDFs shared, remembered for the next build's PDF workers.

A parallel build's workers are forked from a template (:mod:`reportc.zygote`) that
imports WeasyPrint and lays out a page while the building process loads the project and
binds the data. Told which stylesheets the last build's PDFs used, the template also
parses each one and lays out a page with it (:func:`reportc.pdf.warm_styles`: the
project's fonts loaded, glyphs shaped) before it forks, so a worker's first PDF costs what
its later ones do instead of 0.1–0.3 s more, on a core that would otherwise wait.

They are kept in ``<state_dir>/cache/pdf-styles.json``: at most :data:`MAX_STYLES`
stylesheets of at most :data:`MAX_CHARS` characters, from the first :data:`LOOK_AT`
PDFs of the build. This is only a head start: a missing, stale or unreadable file warms
nothing, and a stylesheet that changed is parsed by the first PDF that uses it, as
without it (the parsed sheets are looked up by their exact text). Nothing of it reaches
a PDF: the template's warm-up page is thrown away.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from pathlib import Path

from .config.model import Project
from .pdf import shared_style_text
from .workers import WARM_STYLES
from .writer import write_atomic

#: how many stylesheets are remembered (a project's personas mostly share one)
MAX_STYLES = WARM_STYLES
#: the longest stylesheet remembered (the example's is 11,000 characters; the template
#: is sent at most 64 KiB of them)
MAX_CHARS = 48 * 1024
#: how many of a build's PDFs are looked at for their stylesheets
LOOK_AT = 16
FILE_NAME = "pdf-styles.json"


def styles_file(project: Project) -> Path:
    return project.root / project.delivery.state_dir / "cache" / FILE_NAME


def remembered(project: Project) -> tuple[str, ...]:
    """The stylesheets the last build's PDFs shared (none if there is no usable file)."""
    try:
        data = json.loads(styles_file(project).read_text("utf-8"))
    except (OSError, ValueError):
        return ()
    styles = data.get("styles") if isinstance(data, dict) else None
    if not isinstance(styles, list):
        return ()
    return tuple(s for s in styles if isinstance(s, str) and len(s) <= MAX_CHARS)[:MAX_STYLES]


def remember(project: Project, styles: Sequence[str]) -> None:
    """Keep these for the next build (nothing is written if they are what is kept; a
    folder that cannot be written to only costs the next build its head start)."""
    chosen = list(styles[:MAX_STYLES])
    if not chosen or tuple(chosen) == remembered(project):
        return
    text = json.dumps({"version": 1, "styles": chosen}, ensure_ascii=False)
    with contextlib.suppress(OSError):
        write_atomic(styles_file(project), text.encode("utf-8"))


class StyleLog:
    """The distinct shared stylesheets of the first :data:`LOOK_AT` PDFs of a build."""

    def __init__(self) -> None:
        self.styles: list[str] = []
        self.seen = 0

    def add(self, html: str) -> None:
        if self.seen >= LOOK_AT or len(self.styles) >= MAX_STYLES:
            return
        self.seen += 1
        style = shared_style_text(html)
        if style is not None and len(style) <= MAX_CHARS and style not in self.styles:
            self.styles.append(style)
