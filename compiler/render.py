"""Render stage: BoundReport -> self-contained HTML (:class:`RenderedReport`).

Templates run in Jinja's sandbox with autoescaping and ``StrictUndefined``: a
missing value is an error naming the report, the section and the template
line, never a blank. The loader looks in the project's ``templates/`` and
``sections/`` first and in the built-in ones second, so a project overrides a
built-in template by dropping a file with the same name. Narrative text from
YAML is itself a (sandboxed) template, then Markdown with raw HTML disabled.
"""

from __future__ import annotations

import base64
import datetime as dt
import mimetypes
import re
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from markdown_it import MarkdownIt
from markupsafe import Markup

from .bound import BoundReport, BoundSection
from .config.model import Project, Theme, frozen_map
from .errors import Location, Problem, RenderError, ReportcError
from .formatting import CHIP_COLOURS, FORMATS, TONE_COLOURS, Formatter
from .limits import TimeLimitExceeded, time_limit
from .rendered import RenderedReport
from .resources import builtin_dir
from .sandbox import BoundedSandbox
from .section_types import SectionType, Summary, plugin_type, section_type
from .section_types.findings import DEFAULT_SEVERITIES
from .section_types.kpis import STATUS_LABELS

LAYOUT = "report.html.j2"
#: the longest a narrative text may grow to once its values are filled in
MAX_TEXT = 200_000


def _filter(kind: str) -> Any:
    @jinja2.pass_context
    def apply(ctx: jinja2.runtime.Context, value: Any, decimals: int | None = None) -> str:
        if decimals is not None and not (isinstance(decimals, int) and 0 <= decimals <= 12):
            raise ValueError(f"{kind}({decimals!r:.20}): decimals must be a whole number 0-12")
        fmt: Formatter = ctx.get("fmt") or Formatter()
        return fmt.filters()[kind](value, decimals)

    return apply


class _ConfinedLoader(jinja2.FileSystemLoader):
    """A template must really live in its folder: a symlink out of it (to the env file,
    say) is not followed."""

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Any]:
        source, filename, uptodate = super().get_source(environment, template)
        real = Path(filename).resolve()
        if not any(real.is_relative_to(Path(p).resolve()) for p in self.searchpath):
            raise jinja2.TemplateError(  # not NotFound: no falling back to the built-in
                f"template '{template}' is a link to a file outside the templates and "
                "sections folders; reportc does not follow it"
            )
        return source, filename, uptodate


class _PluginTemplates(jinja2.BaseLoader):
    """``<type>.html.j2`` of a section type an installed plugin adds (looked up last)."""

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        name = template.removesuffix(".html.j2")
        plugin = plugin_type(name) if template.endswith(".html.j2") and "/" not in name else None
        path = plugin.template if plugin is not None else None
        if path is None or not path.is_file():
            raise jinja2.TemplateNotFound(template)
        mtime = path.stat().st_mtime
        return path.read_text("utf-8"), str(path), lambda: path.stat().st_mtime == mtime


def make_environment(root: Path) -> BoundedSandbox:
    """The sandboxed environment: project templates first, built-ins second."""
    loader = jinja2.ChoiceLoader(
        [
            _ConfinedLoader([str(root / "templates"), str(root / "sections")]),
            _ConfinedLoader([str(builtin_dir("templates")), str(builtin_dir("sections"))]),
            _PluginTemplates(),
        ]
    )
    env = BoundedSandbox(
        loader=loader,
        # Plain-text templates (*.txt.j2) are not HTML; everything else is escaped.
        autoescape=lambda name: not (name or "").endswith(".txt.j2"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    for kind in FORMATS:
        env.filters[kind] = _filter(kind)
    env.filters["css_string"] = css_string
    return env


def css_string(value: object) -> Markup:
    """Text for inside a CSS string ("..."): every character but letters, digits, spaces
    and safe punctuation as a CSS escape, so no value can end the string or the style."""
    out = []
    for ch in str(value):
        if (ch.isalnum() and ch.isascii()) or ch in " .,:;-_()/&+":
            out.append(ch)
        else:
            out.append(f"\\{ord(ch):x} ")
    return Markup("".join(out))


_MARKDOWN = MarkdownIt("commonmark", {"html": False, "typographer": True}).enable(
    ["table", "strikethrough", "replacements", "smartquotes"]
)


_MD_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")


def markdown_literal(value: Any) -> str:
    """A value as Markdown that renders exactly as its text (ASCII punctuation escaped)."""
    text = "" if value is None else str(value)
    # Line breaks would let a value start a block (a heading, a list): keep it inline.
    text = " ".join(text.splitlines()) if "\n" in text or "\r" in text else text
    return _MD_SPECIAL.sub(r"\\\1", text)


def _template_frame(exc: BaseException) -> tuple[str, int] | None:
    """The innermost template file and line in a Jinja traceback."""
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.endswith((".j2", ".html", ".css")) or frame.filename == "<template>":
            found = (frame.filename, frame.lineno or 0)
    return found


def template_location(exc: BaseException, root: Path) -> Location | None:
    """Where in a template file (project or built-in) a Jinja error happened, if known."""
    if isinstance(exc, jinja2.TemplateSyntaxError) and exc.filename:
        return Location(_display(exc.filename, root), exc.lineno)
    frame = _template_frame(exc)
    if frame and frame[0] != "<template>":
        return Location(_display(frame[0], root), frame[1])
    return None


def _display(path: str, root: Path) -> str:
    p = Path(path)
    for base, prefix in ((root, ""), (builtin_dir("sections").parent, "(built-in) ")):
        try:
            return prefix + str(p.relative_to(base))
        except ValueError:
            continue
    return path


def logo_uri(root: Path, theme: Theme) -> str:
    """The logo as a data: URI, so the HTML stays self-contained."""
    if not theme.logo:
        return ""
    path = root / theme.logo
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


_FONT_FORMATS = {"otf": "opentype", "ttf": "truetype", "woff": "woff", "woff2": "woff2"}


def font_faces(theme: Theme) -> list[dict[str, Any]]:
    """@font-face entries; URLs are relative to the project (resolved for the PDF)."""
    faces = []
    for font in theme.fonts:
        ext = Path(font.path).suffix.lower().lstrip(".")
        faces.append(
            {
                "family": font.family,
                "url": quote(font.path),
                "weight": font.weight,
                "style": font.style,
                "format": _FONT_FORMATS.get(ext, ext),
            }
        )
    return faces


def font_stack(theme: Theme) -> Markup:
    """CSS font-family list (the family name is schema-checked: letters, digits, spaces)."""
    base = '"DejaVu Sans", "Liberation Sans", Arial, sans-serif'
    return Markup(f'"{theme.font_family}", {base}' if theme.font_family else base)


class _Renderer:
    """Renders one bound report: each section, the alerts, the page layout."""

    def __init__(
        self, env: BoundedSandbox, root: Path, bound: BoundReport, generated: dt.datetime
    ) -> None:
        self.env = env
        self.root = root
        self.bound = bound
        spec = bound.spec
        self.fmt = Formatter(spec.locale, spec.currency)
        self.highlights: list[Mapping[str, Any]] = []
        self.findings: list[Mapping[str, Any]] = []
        self.base: dict[str, Any] = {
            "report": {
                "name": spec.name,
                "title": spec.title,
                "subtitle": spec.subtitle,
                "prepared_for": spec.prepared_for,
                "classification": spec.cover.classification,
            },
            "org": {
                "name": bound.organisation,
                "legal_name": bound.legal_name or bound.organisation,
                "entities": list(
                    bound.entities if spec.cover.entities is None else spec.cover.entities
                ),
            },
            "period": {
                "label": bound.period.label,
                "title": bound.period.title,
                "start": bound.period.start,
                "end": bound.period.end,
                "kind": bound.period.kind,
            },
            "metrics": dict(bound.metrics),
            "row": dict(spec.row),
            "fmt": self.fmt,
            "generated": generated,
            "status_labels": STATUS_LABELS,
            # The previous archived run's figures (None before the first run), for
            # narrative such as {{ previous_run.metrics.monthly_burn | currency }}.
            "previous_run": (
                {
                    "run_id": bound.history[-1].run_id,
                    "label": bound.history[-1].label,
                    "period": bound.history[-1].period,
                    "metrics": dict(bound.history[-1].values.get("metrics", {})),
                }
                if bound.history
                else None
            ),
        }

    def error(self, message: str, section: BoundSection | None, exc: BaseException) -> RenderError:
        where = template_location(exc, self.root)
        prefix = f"report '{self.bound.spec.name}'"
        if section is not None:
            prefix += f", section '{section.spec.name}'"
        hint = ""
        if isinstance(exc, jinja2.UndefinedError):
            hint = "check the name's spelling, or that the metric/column exists"
        return RenderError(Problem(f"{prefix}: {message}", where, hint=hint))

    def text(self, source: str, section: BoundSection, key: str) -> Markup:
        """YAML narrative: a sandboxed template over metrics, then Markdown.

        The author's text is Markdown; a value it shows (a metric, a row's field) is
        literal text: every value is Markdown-escaped before Markdown runs, so data
        can never become a link, an image or emphasis. Markdown itself escapes HTML.
        """
        env = self.env.variant(autoescape=False, finalize=markdown_literal)
        text = self._fill(source, section, key, env)
        if len(text) > MAX_TEXT:
            raise RenderError(
                Problem(
                    f"report '{self.bound.spec.name}', section '{section.spec.name}': the "
                    f"text in '{key}' grew to {len(text):,} characters (at most {MAX_TEXT:,})",
                    section.spec.location,
                    f"sections.{section.spec.name}.{key}",
                    hint="a loop in the text repeats too much; show the rows as a table",
                )
            )
        return Markup(_MARKDOWN.render(text))

    def inline(self, source: str, section: BoundSection, key: str) -> str:
        """A short YAML string (a section title) with values; escaped later, once."""
        if "{{" not in source and "{%" not in source:
            return source
        return self._fill(source, section, key, self.env.variant(autoescape=False)).strip()

    def _fill(self, source: str, section: BoundSection, key: str, env: BoundedSandbox) -> str:
        context = {**dict(self.bound.metrics), **self.base}
        try:
            return env.text_template(source).render(context)
        except jinja2.TemplateSyntaxError as exc:
            raise RenderError(
                Problem(
                    f"report '{self.bound.spec.name}', section '{section.spec.name}': "
                    f"template syntax error in '{key}' (line {exc.lineno} of the text): "
                    f"{exc.message}",
                    section.spec.location,
                    f"sections.{section.spec.name}.{key}",
                )
            ) from None
        except jinja2.UndefinedError as exc:
            raise RenderError(
                Problem(
                    f"report '{self.bound.spec.name}', section '{section.spec.name}': "
                    f"{exc.message} in '{key}'",
                    section.spec.location,
                    f"sections.{section.spec.name}.{key}",
                    hint="use a metric name declared under 'metrics:'",
                )
            ) from None
        except jinja2.TemplateError as exc:
            raise self.error(str(exc), section, exc) from None
        except (ArithmeticError, ValueError, TypeError) as exc:  # range(10**9), number(10**8)
            raise RenderError(
                Problem(
                    f"report '{self.bound.spec.name}', section '{section.spec.name}': "
                    f"{type(exc).__name__} in '{key}': {str(exc)[:200]}",
                    section.spec.location,
                    f"sections.{section.spec.name}.{key}",
                    hint="the text asks for a value or loop too large to render",
                )
            ) from None

    def kind(self, type_name: str) -> SectionType:
        """The section's type; an unknown one (already refused by validate) shows its rows."""
        return section_type(type_name, self.root) or SectionType(type_name)

    def section(self, bound: BoundSection) -> Markup:
        spec = bound.spec
        template_name = f"{spec.type}.html.j2"
        kind = self.kind(spec.type)
        prepared = dict(kind.prepare(bound, self.bound, self.fmt))
        self.collect(kind.summary(prepared))
        context = {
            **self.base,
            "section": {"name": spec.name, "type": spec.type, **dict(spec.options)},
            "rows": list(bound.rows),
            "columns": list(bound.columns),
            **prepared,
        }
        for key in ("intro", "note", "text"):
            if isinstance(spec.options.get(key), str):
                context[f"{key}_html"] = self.text(spec.options[key], bound, key)
        try:
            template = self.env.get_template(template_name)
            return Markup(template.render(context))
        except jinja2.TemplateSyntaxError as exc:
            raise self.error(f"template syntax error: {exc.message}", bound, exc) from None
        except jinja2.UndefinedError as exc:
            raise self.error(str(exc.message), bound, exc) from None
        except jinja2.TemplateError as exc:
            raise self.error(str(exc), bound, exc) from None
        except ReportcError:
            raise
        except Exception as exc:  # a bug in a project's template, e.g. a bad filter arg
            raise self.error(f"{type(exc).__name__}: {exc}", bound, exc) from None

    def collect(self, summary: Summary) -> None:
        self.highlights.extend(summary.highlights)
        self.findings.extend(summary.findings)

    def summary(self) -> Mapping[str, Any]:
        order = {s: i for i, s in enumerate(DEFAULT_SEVERITIES)}
        top = sorted(
            self.findings,
            key=lambda f: (order.get(f["severity"], len(order)), str(f["entity"]), str(f["title"])),
        )
        return frozen_map(
            {
                "highlights": tuple(self.highlights[:6]),
                "findings": tuple(
                    {k: f[k] for k in ("severity", "title", "entity")} for f in top[:5]
                ),
                "findings_total": len(self.findings),
            }
        )

    def alerts(self) -> list[dict[str, str]]:
        out = []
        notice = self.env.variant(autoescape=False)
        for alert in self.bound.alerts:
            context = {**dict(self.bound.metrics), **self.base}
            try:
                text = notice.text_template(alert.notice).render(context)
            except jinja2.TemplateError as exc:
                raise RenderError(
                    Problem(
                        f"report '{self.bound.spec.name}': alert notice: {exc}",
                        self.bound.spec.location,
                    )
                ) from None
            out.append({"style": alert.style, "text": text.strip()})
        return out

    def render(self) -> RenderedReport:
        spec = self.bound.spec
        alerts = self.alerts()
        bodies = []
        for bound in self.bound.sections:
            title = self.inline(bound.spec.title, bound, "title")
            bodies.append(
                {
                    "name": bound.spec.name,
                    "type": bound.spec.type,
                    "title": title,
                    "page_break_before": bound.spec.options.get("page_break_before", False),
                    "html": self.section(bound),
                }
            )
        lang = spec.locale.replace("_", "-")
        metadata = {
            "title": f"{spec.title} — {self.bound.period.title}",
            "author": self.bound.organisation,
            "subject": spec.subtitle or spec.title,
            "keywords": ", ".join([spec.name, self.bound.period.label, *self.bound.entities]),
            "created": self.bound.period.end.isoformat(),
        }
        context = {
            **self.base,
            "sections": bodies,
            "theme": spec.theme,
            "tones": TONE_COLOURS,
            "chips": CHIP_COLOURS,
            "lang": lang,
            "meta": metadata,
            "logo_uri": logo_uri(self.root, spec.theme),
            "alerts": alerts,
            "font_faces": font_faces(spec.theme),
            "font_stack": font_stack(spec.theme),
        }
        try:
            html = self.env.get_template(LAYOUT).render(context)
        except jinja2.TemplateError as exc:
            message = exc.message if isinstance(exc, jinja2.TemplateSyntaxError) else str(exc)
            raise self.error(f"layout: {message}", None, exc) from None
        return RenderedReport(
            name=spec.name,
            title=spec.title,
            html=html,
            lang=lang,
            outline=tuple(b["title"] for b in bodies if b["title"]),
            metadata=frozen_map(metadata),
            summary=frozen_map({**self.summary(), "alerts": tuple(alerts)}),
        )


def render_report(
    bound: BoundReport,
    project: Project,
    *,
    env: BoundedSandbox | None = None,
    generated: dt.datetime | None = None,
    timeout: float | None = 300.0,
) -> RenderedReport:
    """Render one bound report to standalone HTML. Raises :class:`RenderError`.

    Bounded: at most ``timeout`` seconds (in the main thread), and templates run in
    :class:`BoundedSandbox`.
    """
    env = env or make_environment(project.root)
    when = generated or dt.datetime.now(dt.timezone.utc)
    try:
        with time_limit(timeout, f"rendering report '{bound.spec.name}'"):
            return _Renderer(env, project.root, bound, when).render()
    except ReportcError:
        raise
    except TimeLimitExceeded as exc:
        raise RenderError(
            Problem(str(exc), hint="a template loops too long; simplify it or raise --timeout")
        ) from None
    except RecursionError:
        raise RenderError(
            Problem(f"report '{bound.spec.name}': a template includes itself, or nests too deeply")
        ) from None
    except (ArithmeticError, MemoryError, ValueError, TypeError) as exc:
        # e.g. range(10**9), number(10**30): a value no report can show
        raise RenderError(
            Problem(
                f"report '{bound.spec.name}': {type(exc).__name__}: {str(exc)[:200]}",
                hint="a template or narrative asked for a value or loop too large to render",
            )
        ) from None
