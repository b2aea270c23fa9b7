"""Burst reports: one report per row of a query (``for_each``), each named, titled and
addressed by that row.

Owns the rows (:func:`burst_rows`), the check that every row column a report uses
exists (:func:`check_row_fields`), and each row's report spec
(:meth:`RowTexts.instance`): its file-system-safe name, its title and its recipients,
rendered from the row in Jinja's sandbox, each bounded in time.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import jinja2

from .addresses import address_problem
from .config.model import Project, Recipients, ReportSpec, frozen_map
from .errors import DataError, Problem, did_you_mean
from .graph import ROW_PREFIX
from .limits import TimeLimitExceeded, time_limit
from .sandbox import BoundedSandbox
from .sources.sql import duck_message, query_params
from .sqlrefs import sql_params
from .workspace import Workspace, plain

_ROW_FIELD_RE = re.compile(r"\brow\.([A-Za-z_][A-Za-z0-9_]*)|\brow\[['\"]([^'\"]+)['\"]\]")


def _texts(spec: ReportSpec) -> list[tuple[str, str]]:
    """(where, text) of every template a burst report renders per row."""
    texts = [
        ("title", spec.title),
        ("subtitle", spec.subtitle),
        ("prepared_for", spec.prepared_for),
        ("filename", spec.filename),
    ]
    for kind in ("to", "cc", "bcc"):
        texts += [(f"recipients.{kind}", a) for a in getattr(spec.recipients, kind)]
    for section in spec.sections:
        for key in ("text", "intro", "note", "title"):
            value = section.options.get(key)
            if isinstance(value, str):
                texts.append((f"sections.{section.name}.{key}", value))
    return texts


def _sql_texts(spec: ReportSpec, project: Project, needs: set[str]) -> list[tuple[str, str]]:
    """(where, SQL) of every query a burst report runs per row."""
    out = [
        (f"sections.{s.name}.query", s.options["query"])
        for s in spec.sections
        if isinstance(s.options.get("query"), str)
    ]
    for node in needs:
        sql = project.sources[node].query if node in project.sources else project.metrics[node].sql
        kind = "sources" if node in project.sources else "metrics"
        out.append((f"{kind}.{node}", sql or ""))
    return out


def row_fields_used(spec: ReportSpec, project: Project, needs: set[str]) -> dict[str, str]:
    """Row columns a burst report uses -> where (for 'no such column' messages)."""
    used: dict[str, str] = {}
    sections: list[tuple[str, str]] = []
    others: list[tuple[str, str]] = []
    for where, sql in _sql_texts(spec, project, needs):
        (sections if where.startswith("sections.") else others).append((where, sql))
    for where, sql in sections:
        for p in sql_params(sql):
            if p.startswith(ROW_PREFIX):
                used.setdefault(p[len(ROW_PREFIX) :], where)
    for where, text in _texts(spec):
        for a, b in _ROW_FIELD_RE.findall(text):
            used.setdefault(a or b, where)
    for where, sql in others:
        for p in sql_params(sql):
            if p.startswith(ROW_PREFIX):
                used.setdefault(p[len(ROW_PREFIX) :], where)
    return used


_SAFE_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


def instance_name(text: str) -> str:
    """A file-system-safe report name: letters, digits, '.', '_' and '-'."""
    return _SAFE_NAME_RE.sub("-", text).strip("-.")[:120]


#: seconds a title, file name or recipient template may take for one row
TEXT_SECONDS = 30.0


def burst_rows(ws: Workspace, spec: ReportSpec) -> tuple[list[str], list[dict[str, Any]]]:
    """The rows a burst report makes one report of, and their columns."""
    fe = spec.for_each
    assert fe is not None
    sql = f'SELECT * FROM "{fe.source}"' if fe.source else fe.query.strip().rstrip(";")
    key = "source" if fe.source else "query"
    try:
        cur = ws.execute(sql, query_params(sql, ws.values))
        columns = [d[0] for d in cur.description or ()]
        rows = [dict(zip(columns, (plain(v) for v in r), strict=True)) for r in cur.fetchall()]
    except Exception as exc:
        raise DataError(
            Problem(
                f"report '{spec.name}': for_each query failed: {duck_message(exc)}",
                ws.at("personas", spec.name, "for_each", key),
                f"personas.{spec.name}.for_each.{key}",
            )
        ) from None
    return columns, rows


def check_row_fields(
    project: Project, spec: ReportSpec, needs: set[str], columns: list[str]
) -> None:
    """Every row column the report uses (in texts, SQL, recipients) is in the rows."""
    assert spec.for_each is not None
    used = row_fields_used(spec, project, needs)
    used.setdefault(spec.for_each.key, "for_each.key")
    problems = [
        Problem(
            f"report '{spec.name}': no column '{col}' in the for_each rows"
            f"{did_you_mean(col, columns)} (used in {where}); columns are: "
            f"{', '.join(columns)}",
            spec.location,
            f"personas.{spec.name}",
        )
        for col, where in sorted(used.items())
        if col not in columns
    ]
    if problems:
        raise DataError(problems)


class RowTexts:
    """Renders a burst report's per-row texts (name, title, recipients) from the row."""

    def __init__(self) -> None:
        self.text_env = BoundedSandbox(undefined=jinja2.StrictUndefined, autoescape=False)

    def text(self, template: str, context: Mapping[str, Any], spec: ReportSpec, what: str) -> str:
        if "{{" not in template and "{%" not in template:
            return template
        try:
            with time_limit(TEXT_SECONDS, f"report '{spec.name}': {what}"):
                return self.text_env.text_template(template).render(context).strip()
        except (
            jinja2.TemplateError,
            ArithmeticError,
            ValueError,
            TypeError,
            TimeLimitExceeded,
        ) as exc:
            raise DataError(
                Problem(
                    f"report '{spec.name}': {what}: {exc}",
                    spec.location,
                    f"personas.{spec.name}.{what}",
                )
            ) from None

    def instance(
        self, spec: ReportSpec, row: Mapping[str, Any], context: Mapping[str, Any]
    ) -> tuple[str, ReportSpec]:
        assert spec.for_each is not None
        default = f"{spec.name}-{{{{ row.{spec.for_each.key} }}}}"
        name = instance_name(self.text(spec.filename or default, context, spec, "filename"))
        if not name:
            raise DataError(
                Problem(
                    f"report '{spec.name}': the file name is empty for row "
                    f"{row.get(spec.for_each.key)!r}",
                    spec.location,
                )
            )
        recipients = {}
        for kind in ("to", "cc", "bcc"):
            addrs = []
            for addr in getattr(spec.recipients, kind):
                value = self.text(addr, context, spec, f"recipients.{kind}")
                if not value:
                    continue
                problem = address_problem(value)
                if problem:
                    raise DataError(
                        Problem(
                            f"report '{name}' (row {row.get(spec.for_each.key)!r}): "
                            f"{kind} address: {problem}",
                            spec.location,
                            f"personas.{spec.name}.recipients.{kind}",
                        )
                    )
                addrs.append(value)
            recipients[kind] = tuple(addrs)
        derived = dataclasses.replace(
            spec,
            name=name,
            title=self.text(spec.title, context, spec, "title"),
            subtitle=self.text(spec.subtitle, context, spec, "subtitle"),
            prepared_for=self.text(spec.prepared_for, context, spec, "prepared_for"),
            recipients=Recipients(**recipients),
            persona=spec.name,
            row=frozen_map(row),
        )
        return name, derived
