"""Load stage: reports.yaml (+ env file) -> a validated, frozen :class:`Project`.

Order: read the file, interpolate ``${VAR}`` from the env file and the process
environment, validate against the versioned JSON Schema (every violation at
once, each at ``file:line:col``), validate each section against its type's
schema fragment, then check meaning: references resolve (with "did you mean"),
data files exist inside the project, addresses are valid, metric expressions
parse, and sources/metrics have no dependency cycle.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
import time
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from .. import expr as expr_lang
from ..addresses import address_problem
from ..cron import schedule_problem
from ..errors import ConfigError, Location, Problem, byte_location, did_you_mean, format_path
from ..graph import ROW_PREFIX, DependencyGraph
from ..resources import builtin_dir, project_schema
from ..section_types import BUILTIN_TYPES, section_type
from ..sqlrefs import sql_params
from .envfile import merged_environment, read_env_file
from .model import (
    AlertSpec,
    ArchiveSpec,
    AttachmentSpec,
    DatabaseSpec,
    Delivery,
    ForEach,
    MetricSpec,
    PdfOptions,
    Period,
    Project,
    Recipients,
    ReportSpec,
    ScheduleSpec,
    SectionSpec,
    SmtpSettings,
    SourceSpec,
    Theme,
    frozen_map,
)
from .yamlpos import LoadedYaml, PathT, PositionMap, load_yaml

DEFAULT_CONFIG = "reports.yaml"
DEFAULT_ENV_FILE = "repos.env"
PERIOD_PARAMS = frozenset({"period", "period_start", "period_end"})
#: Burst reports pass each row's columns as ``$row_<column>``.
#: Section types whose rows come from ``source`` or ``query``.
ROW_TYPES = frozenset({"table", "findings", "actions", "chart"})

COMMON_SECTION_PROPS: dict[str, Any] = {
    "type": {"type": "string"},
    "title": {"type": "string"},
    "intro": {"type": "string", "description": "Markdown shown above the section."},
    "note": {"type": "string", "description": "A footnote shown below the section."},
    "source": {"type": "string", "description": "A source name; its rows feed the section."},
    "query": {"type": "string", "description": "DuckDB SQL whose rows feed the section."},
    "where": {"type": "string", "description": "SQL condition applied to 'source'."},
    "order_by": {"type": "string", "description": "SQL ordering applied to 'source'."},
    "limit": {"type": "integer", "minimum": 1},
    "page_break_before": {"type": "boolean"},
}

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing",
}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (int, float)):
        return "a number"
    if value is None:
        return "nothing (null)"
    return type(value).__name__


def load_project(
    root: Path | str = ".",
    *,
    config: str = DEFAULT_CONFIG,
    env_file: Path | str | None = None,
    environ: Mapping[str, str] | None = None,
    period: str | None = None,
    today: dt.date | None = None,
) -> Project:
    """Read, validate and type a project. Raises :class:`ConfigError` with every problem."""
    root = Path(root).resolve()
    config_path = (root / config).resolve()
    display = os.path.relpath(config_path, root) if config_path.is_relative_to(root) else config
    if not config_path.is_file():
        raise ConfigError(
            Problem(
                f"no {config} in {root}",
                Location(display),
                hint="run reportc in the project folder, or pass -C DIR",
            )
        )
    raw = config_path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            Problem(
                f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
                byte_location(raw, exc.start, display),
                hint="save the file as UTF-8",
            )
        ) from None
    environ = dict(os.environ if environ is None else environ)
    env_values = _read_env(root, env_file, _declared_env_file(text))
    env = merged_environment(env_values, environ)
    loaded = load_yaml(text, display, env)
    project = _validate(root, config_path, loaded, period=period, today=today or dt.date.today())
    return dataclasses.replace(project, env=frozen_map(env))


_ENV_FILE_RE = re.compile(r"""^env_file:[ \t]*["']?([^"'#\r\n]+?)["']?[ \t]*(?:#.*)?$""", re.M)


def _declared_env_file(text: str) -> str | None:
    """The top-level ``env_file:`` value, found before the file is parsed (it decides
    which variables the parse interpolates)."""
    match = _ENV_FILE_RE.search(text)
    return match.group(1).strip() if match else None


def _read_env(root: Path, env_file: Path | str | None, declared: str | None) -> dict[str, str]:
    if env_file is not None:
        path = Path(env_file)
        path = path if path.is_absolute() else Path.cwd() / path
        return read_env_file(path, str(env_file))
    if isinstance(declared, str):
        return read_env_file(root / declared, declared)
    default = root / DEFAULT_ENV_FILE
    if default.is_file():
        return read_env_file(default, DEFAULT_ENV_FILE)
    return {}


# --------------------------------------------------------------------------- schema


def schema_problems(
    schema: Mapping[str, Any], data: Any, positions: PositionMap, base: PathT = ()
) -> list[Problem]:
    """Every JSON Schema violation of ``data``, as positioned, readable problems."""
    import jsonschema  # here, not at import: a no-change build of a known file skips it

    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for error in validator.iter_errors(data):
        problems.extend(_explain(error, positions, base))
    return problems


def _explain(error: Any, positions: PositionMap, base: PathT) -> list[Problem]:
    """One jsonschema error (typed Any: its stub types every field as maybe-unset)."""
    path: PathT = (*base, *error.absolute_path)
    where = positions.at(path)
    shown = format_path(path)
    v = error.validator
    inst = error.instance
    if v == "additionalProperties" and isinstance(inst, dict):
        allowed = set(error.schema.get("properties", {}))
        extras = sorted(set(inst) - allowed)
        return [
            Problem(
                f"unknown key '{key}'{did_you_mean(key, allowed)}",
                positions.at((*path, key), key=True),
                shown,
                "" if did_you_mean(key, allowed) else "allowed here: " + ", ".join(sorted(allowed)),
            )
            for key in extras
        ]
    if v == "required":
        missing = [r for r in error.validator_value if r not in inst]
        return [Problem(f"missing required key '{key}'", where, shown) for key in missing]
    if v == "type":
        expected = error.validator_value
        names = [expected] if isinstance(expected, str) else list(expected)
        want = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        return [Problem(f"expected {want}, got {_kind(inst)}", where, shown)]
    if v == "enum":
        options = [str(o) for o in error.validator_value]
        return [
            Problem(
                f"'{inst}' is not one of: {', '.join(options)}{did_you_mean(str(inst), options)}",
                where,
                shown,
            )
        ]
    if v == "const":
        return [Problem(f"must be {error.validator_value!r}, got {inst!r}", where, shown)]
    if (
        v == "pattern"
        and error.relative_schema_path
        and "propertyNames" in (error.relative_schema_path)
    ):
        return [
            Problem(
                f"invalid name '{inst}': use lower-case letters, digits and underscores, "
                "starting with a letter",
                positions.at((*path, inst), key=True),
                shown,
            )
        ]
    if v == "pattern":
        desc = error.schema.get("x-error") or error.schema.get("description", "")
        return [
            Problem(f"'{inst}' is not valid here" + (f": {desc}" if desc else ""), where, shown)
        ]
    if v == "oneOf" and error.context:
        # Prefer the branch whose type matched: its errors say what is wrong.
        branch_errors = [
            e for e in error.context if e.validator not in ("type", "oneOf", "pattern")
        ]
        if branch_errors:
            out: list[Problem] = []
            for e in branch_errors:
                out.extend(_explain(e, positions, base))
            return out
        kinds = []
        for sub in error.validator_value:
            t = sub.get("type")
            if t:
                kinds.append(_TYPE_NAMES.get(t, t))
            elif "$ref" in sub:
                kinds.append("a name")
        return [Problem(f"expected {' or '.join(kinds)}, got {_kind(inst)}", where, shown)]
    if v in ("minItems", "minProperties"):
        return [Problem("must not be empty", where, shown)]
    if v in ("minimum", "maximum", "minLength", "maxLength"):
        return [Problem(f"{error.message}", where, shown)]
    return [Problem(error.message, where, shown)]


# --------------------------------------------------------------------------- sections


def section_template_paths(
    root: Path, type_name: str
) -> tuple[Path | None, Mapping[str, Any] | Path | None]:
    """(template, options schema) of a section type: the project's own files first."""
    own = root / "sections"
    template = own / f"{type_name}.html.j2"
    kind = section_type(type_name, root)
    schema: Mapping[str, Any] | Path | None = own / f"{type_name}.schema.json"
    if not (own / f"{type_name}.schema.json").is_file():
        schema = kind.schema if kind is not None else None
    if not template.is_file():
        if kind is None or (kind.template is not None and not kind.template.is_file()):
            return None, schema
        builtin = builtin_dir("sections") / f"{type_name}.html.j2"
        template = kind.template or builtin
    return template, schema


@cache
def _fragment(path: Path, mtime: float) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


def _common_section_props() -> dict[str, Any]:
    """Keys every section type accepts, ``checks`` (as on a source) among them."""
    checks = dict(project_schema()["$defs"]["source_checks"])
    checks["description"] = (
        "Quality gates on the rows the section shows: a failed check blocks the reports "
        "that show it."
    )
    return {**COMMON_SECTION_PROPS, "checks": checks}


def section_schema(options: Mapping[str, Any] | Path | None) -> dict[str, Any]:
    """The effective schema of a section: common keys + the type's own options."""
    if options is None:
        return {"type": "object", "properties": _common_section_props()}
    fragment = _fragment(options, options.stat().st_mtime) if isinstance(options, Path) else options
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {**_common_section_props(), **fragment.get("properties", {})},
        "required": ["type", *fragment.get("required", [])],
        "additionalProperties": False,
    }
    if "$defs" in fragment:
        schema["$defs"] = fragment["$defs"]
    return schema


# --------------------------------------------------------------------------- validation


class _Checker:
    def __init__(self, root: Path, loaded: LoadedYaml, trusted: bool = False) -> None:
        self.root = root
        self.data: dict[str, Any] = loaded.data
        self.pos = loaded.positions
        self.problems: list[Problem] = []
        #: This very document passed the schema and schedule checks before (see
        #: :func:`_validation_key`): those two pure checks are skipped.
        self.trusted = trusted

    def add(self, message: str, path: PathT, hint: str = "", *, key: bool = False) -> None:
        self.problems.append(Problem(message, self.pos.at(path, key=key), format_path(path), hint))

    def section(self, name: str) -> dict[str, Any]:
        value: dict[str, Any] = self.data.get("sections", {}).get(name, {})
        return value


_VALIDATED = Path(".reportc/cache/validated")


def _validation_key(root: Path, data: Any) -> str:
    """A digest of everything the schema and schedule checks depend on: the document
    (after interpolation), every schema file that could apply, and this code."""
    digest = hashlib.sha256()
    digest.update(json.dumps(data, sort_keys=True, default=str).encode())
    folders = [builtin_dir("schema"), builtin_dir("sections"), root / "sections"]
    files = [Path(__file__), Path(__file__).parent.parent / "cron.py"]
    files += sorted(p for d in folders if d.is_dir() for p in d.glob("*.json"))
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _remember(root: Path, key: str) -> None:
    """Mark the document as checked; where the project is read-only, simply don't."""
    try:
        folder = root / _VALIDATED
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():  # keep the few latest versions only
            if old.stat().st_mtime < time.time() - 7 * 86400:
                old.unlink(missing_ok=True)
        (folder / key).touch()
    except OSError:
        pass


def _validate(
    root: Path, config_path: Path, loaded: LoadedYaml, *, period: str | None, today: dt.date
) -> Project:
    pos = loaded.positions
    data = loaded.data
    key = _validation_key(root, data)
    trusted = (root / _VALIDATED / key).is_file()
    problems = [] if trusted else schema_problems(project_schema(), data, pos)
    if problems:
        raise ConfigError(_sorted(problems))
    c = _Checker(root, loaded, trusted)
    sources = _check_sources(c)
    metrics, metric_exprs = _check_metrics(c)
    sections = _check_sections(c, sources, metrics)
    reports = _check_reports(c, sections, metrics)
    delivery = _check_delivery(c)
    _check_theme_files(c)
    databases = _check_databases(c)
    _check_schedules(c)
    archive = _check_archive(c)
    graph = _check_graph(c, sources, metrics, metric_exprs)
    try:
        chosen = (
            Period.parse(period)
            if period
            else (Period.parse(data["period"]) if "period" in data else Period.default_for(today))
        )
    except ValueError as exc:
        c.problems.append(Problem(str(exc), Location("--period")))
        chosen = Period.default_for(today)
    if c.problems:
        raise ConfigError(_sorted(c.problems))
    if not trusted:
        _remember(root, key)
    org = data["organisation"]
    theme = Theme().merged(data.get("theme"))
    pdf = PdfOptions().merged(data.get("pdf"))
    return Project(
        root=root,
        config_path=config_path,
        organisation=org["name"],
        legal_name=org.get("legal_name", org["name"]),
        entities=tuple(org.get("entities", ())),
        locale=org.get("locale", "en_US"),
        currency=org.get("currency", "USD"),
        period=chosen,
        theme=theme,
        delivery=delivery,
        sources=frozen_map(sources),
        metrics=frozen_map(metrics),
        sections=frozen_map(sections),
        reports=frozen_map(_reports(c, reports, sections, org, theme, pdf)),
        databases=frozen_map(databases),
        positions=pos,
        archive=archive,
        graph=graph,
    )


def _sorted(problems: Iterable[Problem]) -> list[Problem]:
    def key(p: Problem) -> tuple[str, int, int]:
        loc = p.location
        return (
            loc.file if loc else "",
            (loc.line or 0) if loc else 0,
            (loc.col or 0) if loc else 0,
        )

    seen: set[str] = set()
    out = []
    for p in sorted(problems, key=key):
        text = p.format()
        if text not in seen:
            seen.add(text)
            out.append(p)
    return out


def _check_sources(c: _Checker) -> dict[str, SourceSpec]:
    out: dict[str, SourceSpec] = {}
    for name, spec in c.data.get("sources", {}).items():
        path_key: PathT = ("sources", name)
        file_path: Path | None = None
        if "path" in spec:
            file_path = _check_file(c, spec["path"], (*path_key, "path"))
        out[name] = SourceSpec(
            name=name,
            type=spec["type"],
            location=c.pos.at(path_key, key=True),
            path=file_path,
            records=spec.get("records"),
            query=spec.get("query"),
            rows=tuple(spec.get("rows", ())),
            types=frozen_map(spec.get("types")),
            delimiter=spec.get("delimiter", ","),
            encoding=spec.get("encoding", "utf-8"),
            description=spec.get("description", ""),
            database=spec.get("database", ""),
            checks=frozen_map(spec.get("checks")),
        )
    return out


def _private(root: Path, path: Path) -> str:
    """Why a project path is off limits to data, fonts and logos ('' if it is not)."""
    parts = path.relative_to(root).parts
    if not parts:
        return "the project folder"
    if any(p.startswith(".") for p in parts):
        return "hidden (state, version control or secrets)"
    if parts[0] == "dist":
        return "in dist/, the output folder"
    if path.name.endswith(".env") or (path.suffix in (".yaml", ".yml") and len(parts) == 1):
        return "project configuration or an env file"
    return ""


def _check_file(c: _Checker, rel: str, path: PathT, what: str = "data file") -> Path | None:
    if "://" in rel:
        c.add(f"'{rel}' is a URL; sources read files inside the project", path)
        return None
    candidate = (c.root / rel).resolve()
    if not candidate.is_relative_to(c.root):
        c.add(
            f"'{rel}' is outside the project folder",
            path,
            f"{what}s must live inside the project (e.g. under data/ or assets/)",
        )
        return None
    private = _private(c.root, candidate)
    if private:
        c.add(
            f"'{rel}' is {private}; reportc never reads it as {what}",
            path,
            "data files go under data/, fonts and logos under assets/",
        )
        return None
    if not candidate.is_file():
        near = ""
        if candidate.parent.is_dir():
            near = did_you_mean(candidate.name, [p.name for p in candidate.parent.iterdir()])
        c.add(f"{what} '{rel}' not found{near}", path)
        return None
    return candidate


def _check_metrics(c: _Checker) -> tuple[dict[str, MetricSpec], dict[str, expr_lang.Expression]]:
    out: dict[str, MetricSpec] = {}
    exprs: dict[str, expr_lang.Expression] = {}
    sources = c.data.get("sources", {})
    for name, spec in c.data.get("metrics", {}).items():
        path: PathT = ("metrics", name)
        if name in sources:
            c.add(
                f"'{name}' is both a source and a metric; names must be unique",
                path,
                key=True,
            )
        has_sql, has_expr = "sql" in spec, "expr" in spec
        if has_sql == has_expr:
            c.add("a metric needs exactly one of 'sql' or 'expr'", path)
        if has_expr:
            try:
                exprs[name] = expr_lang.parse(spec["expr"])
            except expr_lang.ExprError as exc:
                c.add(str(exc), (*path, "expr"))
        out[name] = MetricSpec(
            name=name,
            location=c.pos.at(path, key=True),
            sql=spec.get("sql"),
            expr=spec.get("expr"),
            label=spec.get("label", name.replace("_", " ").capitalize()),
            description=spec.get("description", ""),
            format=spec.get("format", "number"),
            decimals=spec.get("decimals"),
            unit=spec.get("unit", ""),
            database=spec.get("database", ""),
            checks=frozen_map(spec.get("checks")),
        )
    return out, exprs


def _check_row_feed(
    c: _Checker,
    spec: Mapping[str, Any],
    path: PathT,
    sources: Mapping[str, Any],
    metrics: Mapping[str, Any],
) -> None:
    """Where rows come from (a section's or a burst's): a known source, or valid SQL."""
    if "source" in spec and spec["source"] not in sources:
        c.add(
            f"unknown source '{spec['source']}'{did_you_mean(spec['source'], sources)}",
            (*path, "source"),
        )
    if "query" in spec:
        _check_sql(c, spec["query"], (*path, "query"), metrics)


def _check_sql(c: _Checker, sql: str, path: PathT, metrics: Mapping[str, Any]) -> None:
    allowed = set(metrics) | PERIOD_PARAMS
    for param in sorted(sql_params(sql)):
        if param not in allowed and not param.startswith(ROW_PREFIX):
            c.add(
                f"unknown parameter '${param}'{did_you_mean(param, allowed)}",
                path,
                "parameters are $period, $period_start, $period_end, metric names and, "
                "in burst reports, $row_<column>",
            )


def _check_sections(
    c: _Checker, sources: Mapping[str, SourceSpec], metrics: Mapping[str, MetricSpec]
) -> dict[str, SectionSpec]:
    out: dict[str, SectionSpec] = {}
    for name, spec in c.data.get("sections", {}).items():
        path: PathT = ("sections", name)
        if _check_section_options(c, spec, path, sources, metrics):
            out[name] = SectionSpec(name, spec["type"], c.pos.at(path, key=True), frozen_map(spec))
    return out


def _check_section_options(
    c: _Checker,
    spec: Mapping[str, Any],
    path: PathT,
    sources: Mapping[str, Any],
    metrics: Mapping[str, Any],
) -> bool:
    """Validate a section's options; ``path`` is where they (or the override) stand."""
    type_name = spec["type"]
    template, fragment = section_template_paths(c.root, type_name)
    if template is None:
        known = set(BUILTIN_TYPES)
        if (c.root / "sections").is_dir():
            known |= {
                p.name.removesuffix(".html.j2") for p in (c.root / "sections").glob("*.html.j2")
            }
        c.add(
            f"unknown section type '{type_name}'{did_you_mean(type_name, known)}",
            (*path, "type"),
            "built-in types: "
            + ", ".join(BUILTIN_TYPES)
            + "; or add sections/"
            + type_name
            + ".html.j2 to the project, or install a plugin that adds it "
            + "(entry point group reportc.section_types)",
        )
        return False
    before = len(c.problems)
    if not c.trusted:
        c.problems.extend(schema_problems(section_schema(fragment), dict(spec), c.pos, path))
    if len(c.problems) > before:
        return False
    if "source" in spec and "query" in spec:
        c.add("give either 'source' or 'query', not both", path)
    _check_row_feed(c, spec, path, sources, metrics)
    has_rows = (
        "source" in spec
        or "query" in spec
        or (type_name == "kpis" and "items" in spec)
        or (type_name == "chart" and "vega_lite" in spec)
    )
    if type_name == "chart" and "vega_lite" not in spec:
        for key in ("x", "y"):
            if key not in spec:
                c.add(f"missing required key '{key}' (or give a full 'vega_lite' spec)", path)
        if spec.get("kind") == "combo" and "line" not in spec:
            c.add("a combo chart needs 'line' (the column drawn as a line)", path)
    if type_name in ROW_TYPES | {"kpis"} and not has_rows:
        what = "'items', 'source' or 'query'" if type_name == "kpis" else "'source' or 'query'"
        c.add(f"a {type_name} section needs {what}", path)
    for i, item in enumerate(spec.get("items", ()) if type_name in ("kpis", "digest") else ()):
        for key in ("value", "target"):
            ref = item.get(key)
            if isinstance(ref, str) and ref not in metrics:
                c.add(
                    f"unknown metric '{ref}'{did_you_mean(ref, metrics)}",
                    (*path, "items", i, key),
                )
    return True


def _section_refs(c: _Checker) -> Iterable[tuple[str, PathT, Any]]:
    for pname, persona in c.data.get("personas", {}).items():
        for i, ref in enumerate(persona.get("sections", ())):
            yield pname, ("personas", pname, "sections", i), ref


def _check_reports(
    c: _Checker, sections: Mapping[str, SectionSpec], metrics: Mapping[str, MetricSpec]
) -> dict[str, Any]:
    declared = c.data.get("sections", {})
    sources = {n: True for n in c.data.get("sources", {})}
    for _pname, path, ref in _section_refs(c):
        name = ref if isinstance(ref, str) else ref["use"]
        ref_path = path if isinstance(ref, str) else (*path, "use")
        if name not in declared:
            c.add(f"unknown section '{name}'{did_you_mean(name, declared)}", ref_path)
            continue
        if isinstance(ref, dict) and name in sections:
            merged = {**declared[name], **{k: v for k, v in ref.items() if k != "use"}}
            if "type" in ref and ref["type"] != declared[name]["type"]:
                c.add("an override cannot change the section's type", (*path, "type"))
                continue
            _check_section_options(c, merged, path, sources, metrics)
    personas = c.data.get("personas", {})
    for pname, persona in personas.items():
        used = [r if isinstance(r, str) else r["use"] for r in persona.get("sections", ())]
        for n, att in enumerate(persona.get("attachments", ())):
            name = att["section"]
            where: PathT = ("personas", pname, "attachments", n, "section")
            if name not in used:
                c.add(f"section '{name}' is not in this report{did_you_mean(name, used)}", where)
            elif not {"source", "query"} & set(declared.get(name, {})):
                c.add(
                    f"section '{name}' has no rows to attach (it needs 'source' or 'query')", where
                )
        for n, alert in enumerate(persona.get("alerts", ())):
            at: PathT = ("personas", pname, "alerts", n)
            try:
                names = expr_lang.parse(alert["when"]).names
            except expr_lang.ExprError as exc:
                c.add(str(exc), (*at, "when"))
            else:
                for ref in sorted(names - set(metrics)):
                    c.add(f"unknown metric '{ref}'{did_you_mean(ref, metrics)}", (*at, "when"))
            for kind in ("to", "cc"):
                for i, addr in _addresses(alert.get(kind)):
                    problem = address_problem(addr)
                    if problem:
                        c.add(problem, (*at, kind, *((i,) if i is not None else ())))
        burst = "for_each" in persona
        if burst:
            _check_for_each(c, pname, persona["for_each"], metrics)
        elif "filename" in persona:
            c.add(
                "'filename' is for burst reports (with for_each)",
                ("personas", pname, "filename"),
                key=True,
            )
        for kind in ("to", "cc", "bcc"):
            for i, addr in _addresses(persona.get("recipients", {}).get(kind)):
                if burst and "{{" in addr:
                    continue  # rendered and checked for each row when binding
                problem = address_problem(addr)
                if problem:
                    idx: PathT = (i,) if i is not None else ()
                    c.add(problem, ("personas", pname, "recipients", kind, *idx))
    for section_name, spec in declared.items():
        for i, item in enumerate(spec.get("items", ()) if spec.get("type") == "digest" else ()):
            report = item.get("report") if isinstance(item, dict) else None
            if report and report not in personas:
                c.add(
                    f"unknown report '{report}'{did_you_mean(report, personas)}",
                    ("sections", section_name, "items", i, "report"),
                )
    return dict(personas)


def _check_for_each(
    c: _Checker, pname: str, spec: Mapping[str, Any], metrics: Mapping[str, Any]
) -> None:
    path: PathT = ("personas", pname, "for_each")
    has = [k for k in ("source", "query") if k in spec]
    if len(has) != 1:
        c.add("for_each needs exactly one of 'source' or 'query'", path)
    _check_row_feed(c, spec, path, c.data.get("sources", {}), metrics)


_S3_RE = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/.*)?$")


def _check_archive(c: _Checker) -> ArchiveSpec | None:
    """The archive's location; ``compare``/``trend`` on a KPI section need an archive."""
    spec = c.data.get("archive")
    if spec is None:
        places: list[tuple[PathT, Mapping[str, Any]]] = [
            (("sections", name), s) for name, s in c.data.get("sections", {}).items()
        ]
        for pname, persona in c.data.get("personas", {}).items():
            places.extend(
                (("personas", pname, "sections", i), ref)
                for i, ref in enumerate(persona.get("sections", ()))
                if isinstance(ref, dict)
            )
        for path, options in places:
            for key in ("compare", "trend"):
                if key in options:
                    c.add(
                        f"'{key}' compares against archived runs, but the project has no archive",
                        (*path, key),
                        hint="add 'archive: {location: .reportc/archive}' at the top level",
                        key=True,
                    )
        return None
    location = str(spec.get("location", ".reportc/archive"))
    if location.startswith("s3:") and not _S3_RE.match(location):
        c.add(
            f"'{location}' is not an S3 location",
            ("archive", "location"),
            hint="use s3://bucket or s3://bucket/prefix (a lower-case bucket name)",
        )
    elif "://" in location and not location.startswith("s3://"):
        c.add(
            f"'{location}': only folders and s3:// locations are supported",
            ("archive", "location"),
        )
    return ArchiveSpec(location=location, compare=spec.get("compare", "previous_run"))


def _schedule(spec: Mapping[str, Any] | None) -> ScheduleSpec | None:
    return ScheduleSpec(spec["cron"], spec.get("timezone", "UTC")) if spec else None


def _addresses(value: Any) -> Iterable[tuple[int | None, str]]:
    if isinstance(value, str):
        yield None, value
    elif isinstance(value, list):
        yield from enumerate(value)


def _check_databases(c: _Checker) -> dict[str, DatabaseSpec]:
    """Database references resolve; URLs look like SQLAlchemy URLs (never echoed)."""
    declared = c.data.get("databases", {})
    out = {}
    for name, spec in declared.items():
        url = spec["url"]
        if "://" not in url:
            c.add(
                "not a database URL (expected e.g. postgresql+psycopg://host/db)",
                ("databases", name, "url"),
                "set it in the env file: url: ${WAREHOUSE_URL}",
            )
        out[name] = DatabaseSpec(name, url, c.pos.at(("databases", name), key=True))
    for kind in ("sources", "metrics"):
        for name, spec in c.data.get(kind, {}).items():
            ref = spec.get("database")
            if ref and ref not in declared:
                c.add(
                    f"unknown database '{ref}'{did_you_mean(ref, declared)}",
                    (kind, name, "database"),
                    "declare it under databases:",
                )
    return out


def _check_schedules(c: _Checker) -> None:
    if c.trusted:
        return
    places: list[tuple[PathT, Any]] = [(("schedule",), c.data.get("schedule"))]
    for pname, persona in c.data.get("personas", {}).items():
        places.append((("personas", pname, "schedule"), persona.get("schedule")))
    for base, spec in places:
        if isinstance(spec, dict):
            problem = schedule_problem(spec["cron"], spec.get("timezone", "UTC"))
            if problem:
                key = "timezone" if "time zone" in problem else "cron"
                c.add(problem, (*base, key))


def _check_theme_files(c: _Checker) -> None:
    """Logo and font files must exist inside the project."""
    themes: list[tuple[PathT, Any]] = [(("theme",), c.data.get("theme"))]
    for pname, persona in c.data.get("personas", {}).items():
        themes.append((("personas", pname, "theme"), persona.get("theme")))
    for base, theme in themes:
        if not isinstance(theme, dict):
            continue
        if "logo" in theme:
            _check_file(c, theme["logo"], (*base, "logo"), "logo file")
        for i, font in enumerate(theme.get("fonts", ())):
            _check_file(c, font["path"], (*base, "fonts", i, "path"), "font file")


def _check_delivery(c: _Checker) -> Delivery:
    spec = c.data.get("delivery", {})
    for key in ("from", "reply_to", "audit_bcc"):
        for i, addr in _addresses(spec.get(key)):
            problem = address_problem(addr)
            if problem:
                c.add(problem, ("delivery", key, *((i,) if i is not None else ())))
    bcc = spec.get("audit_bcc", ())
    smtp = spec.get("smtp")
    return Delivery(
        sender=spec.get("from", ""),
        reply_to=spec.get("reply_to", ""),
        audit_bcc=(bcc,) if isinstance(bcc, str) else tuple(bcc),
        subject=spec.get("subject", Delivery.subject),
        transport=spec.get("transport", "ses"),
        region=spec.get("region", ""),
        endpoint_url=spec.get("endpoint_url", ""),
        configuration_set=spec.get("configuration_set", ""),
        tags=frozen_map(spec.get("tags")),
        rate_limit=spec.get("rate_limit"),
        max_attempts=spec.get("max_attempts", 5),
        list_unsubscribe=spec.get("list_unsubscribe", ""),
        outbox=spec.get("outbox", "dist/outbox"),
        state_dir=spec.get("state_dir", ".reportc"),
        smtp=SmtpSettings(**smtp) if smtp else None,
    )


def _check_graph(
    c: _Checker,
    sources: Mapping[str, SourceSpec],
    metrics: Mapping[str, MetricSpec],
    exprs: Mapping[str, expr_lang.Expression],
) -> DependencyGraph:
    """References inside SQL and expressions, and cycles among sources and metrics;
    the project's dependency graph."""
    for name, src in sources.items():
        if src.query is not None:
            _check_sql(c, src.query, ("sources", name, "query"), metrics)
    for name, metric in metrics.items():
        if metric.sql is not None:
            _check_sql(c, metric.sql, ("metrics", name, "sql"), metrics)
        if name in exprs:
            for ref in sorted(exprs[name].names):
                if ref not in metrics:
                    c.add(
                        f"unknown metric '{ref}'{did_you_mean(ref, metrics)}",
                        ("metrics", name, "expr"),
                    )
    graph = DependencyGraph.build(sources, metrics, exprs)
    cycle = graph.cycle()
    if cycle:
        first = cycle[0]
        kind = "metrics" if first in metrics else "sources"
        c.add(
            "dependency cycle: " + " -> ".join([*cycle, first]),
            (kind, first),
            "a metric or query cannot depend on itself, directly or through others",
            key=True,
        )
    return graph


def _reports(
    c: _Checker,
    personas: Mapping[str, Any],
    sections: Mapping[str, SectionSpec],
    org: Mapping[str, Any],
    theme: Theme,
    pdf: PdfOptions,
) -> dict[str, ReportSpec]:
    out: dict[str, ReportSpec] = {}
    for pname, persona in personas.items():
        resolved = []
        for i, ref in enumerate(persona["sections"]):
            name = ref if isinstance(ref, str) else ref["use"]
            base = sections[name]
            if isinstance(ref, dict):
                opts = {**base.options, **{k: v for k, v in ref.items() if k != "use"}}
                loc = c.pos.at(("personas", pname, "sections", i))
                resolved.append(SectionSpec(name, base.type, loc, frozen_map(opts)))
            else:
                resolved.append(base)
        rec = persona.get("recipients", {})
        out[pname] = ReportSpec(
            name=pname,
            title=persona["title"],
            subtitle=persona.get("subtitle", ""),
            prepared_for=persona.get("prepared_for", ""),
            location=c.pos.at(("personas", pname), key=True),
            sections=tuple(resolved),
            recipients=Recipients(
                to=tuple(a for _, a in _addresses(rec.get("to"))),
                cc=tuple(a for _, a in _addresses(rec.get("cc"))),
                bcc=tuple(a for _, a in _addresses(rec.get("bcc"))),
            ),
            locale=persona.get("locale", org.get("locale", "en_US")),
            currency=persona.get("currency", org.get("currency", "USD")),
            theme=theme.merged(persona.get("theme")),
            subject=persona.get("subject", ""),
            attachments=tuple(AttachmentSpec(**a) for a in persona.get("attachments", ())),
            send=persona.get("send", True),
            pdf=pdf.merged(persona.get("pdf")),
            for_each=ForEach(**persona["for_each"]) if "for_each" in persona else None,
            schedule=_schedule(persona.get("schedule") or c.data.get("schedule")),
            alerts=tuple(
                AlertSpec(
                    when=a["when"],
                    notice=a["notice"],
                    style=a.get("style", "warn"),
                    to=tuple(x for _, x in _addresses(a.get("to"))),
                    cc=tuple(x for _, x in _addresses(a.get("cc"))),
                )
                for a in persona.get("alerts", ())
            ),
            filename=persona.get("filename", ""),
            send_if=persona.get("send_if", "always"),
            persona=pname,
        )
    return out
