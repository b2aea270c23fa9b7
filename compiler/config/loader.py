"""Load stage: reports.yaml (+ env file) -> a validated, frozen :class:`Project`.

Order: read the file, interpolate ``${VAR}`` from the env file and the process
environment, validate against the versioned JSON Schema (:mod:`.schema`: every
violation at once, each at ``file:line:col``), then check meaning (:mod:`.checks`
for sources, metrics, sections and the graph; :mod:`.reports` for the reports and
their delivery, archive, database and schedule settings) and assemble the project.
A document that passed the schema and schedule checks before is remembered by digest
(``.reportc/cache/validated``) so that those pure checks are not repeated.
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
from pathlib import Path
from typing import Any

from ..errors import ConfigError, Location, Problem, byte_location
from ..resources import builtin_dir, project_schema
from .checks import Checker, check_graph, check_metrics, check_sections, check_sources
from .envfile import merged_environment, read_env_file
from .model import (
    Period,
    Project,
    ReportSpec,
    Theme,
    frozen_map,
)
from .pdfoptions import PdfOptions
from .protection import check_protection
from .reports import (
    check_archive,
    check_databases,
    check_delivery,
    check_notify,
    check_reports,
    check_schedules,
    check_theme_files,
    report_specs,
)
from .schema import schema_problems
from .yamlpos import LoadedYaml, load_yaml

DEFAULT_CONFIG = "reports.yaml"
DEFAULT_ENV_FILE = "repos.env"


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
                hint="run reportc in the project folder (or below it), set REPORTC_PROJECT, "
                "or pass -C DIR; reportc init writes a first project",
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
    project = _validate(
        root, config_path, loaded, env, period=period, today=today or dt.date.today()
    )
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


# --------------------------------------------------------------------------- validation


_VALIDATED = Path(".reportc/cache/validated")


def _validation_key(root: Path, data: Any) -> str:
    """A digest of everything the schema and schedule checks depend on: the document
    (after interpolation), every schema file that could apply, and the code that checks
    (this package, the built-in section types with their option schemas, cron.py)."""
    digest = hashlib.sha256()
    digest.update(json.dumps(data, sort_keys=True, default=str).encode())
    folders = [builtin_dir("schema"), builtin_dir("sections"), root / "sections"]
    package = Path(__file__).parent.parent
    files = [*sorted(Path(__file__).parent.glob("*.py")), package / "cron.py"]
    files += sorted((package / "section_types").glob("*.py"))
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
    root: Path,
    config_path: Path,
    loaded: LoadedYaml,
    env: Mapping[str, str],
    *,
    period: str | None,
    today: dt.date,
) -> Project:
    pos = loaded.positions
    data = loaded.data
    key = _validation_key(root, data)
    trusted = (root / _VALIDATED / key).is_file()
    problems = [] if trusted else schema_problems(project_schema(), data, pos)
    if problems:
        raise ConfigError(_sorted(problems))
    c = Checker(root, loaded, trusted)
    sources = check_sources(c)
    metrics, metric_exprs = check_metrics(c)
    sections = check_sections(c, sources, metrics)
    reports = check_reports(c, sections, metrics)
    check_protection(c, env)
    delivery = check_delivery(c)
    check_theme_files(c)
    databases = check_databases(c)
    check_schedules(c)
    archive = check_archive(c)
    notify = check_notify(c)
    graph = check_graph(c, sources, metrics, metric_exprs)
    chosen = _chosen_period(c, period, today)
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
        locale=org.get("locale", ReportSpec.locale),
        currency=org.get("currency", ReportSpec.currency),
        period=chosen,
        theme=theme,
        delivery=delivery,
        sources=frozen_map(sources),
        metrics=frozen_map(metrics),
        sections=frozen_map(sections),
        personas=frozen_map(report_specs(c, reports, sections, org, theme, pdf)),
        databases=frozen_map(databases),
        positions=pos,
        archive=archive,
        notify=notify,
        graph=graph,
    )


def _chosen_period(c: Checker, period: str | None, today: dt.date) -> Period:
    """``--period``, else the file's ``period:``, else the last complete month."""
    try:
        if period:
            return Period.parse(period)
        return Period.parse(c.data["period"]) if "period" in c.data else Period.default_for(today)
    except ValueError as exc:
        c.problems.append(Problem(str(exc), Location("--period")))
        return Period.default_for(today)


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
