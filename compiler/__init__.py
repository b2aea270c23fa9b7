"""reportc: a declarative report compiler. This module is its public API.

Projects and stages:

- :func:`load_project` reads and validates ``reports.yaml`` -> :class:`Project`
- :func:`validate` binds data and renders HTML without writing, raising every problem
- :func:`plan_build` decides what is up to date; :func:`build` writes HTML/PDF reports
  and ``manifest.json`` -> :class:`BuildResult`
- :func:`archive_run` stores a build as a run; :func:`list_runs`, :func:`resolve_run`,
  :func:`load_values` and :func:`diff_runs` read runs back and compare them
- :func:`send` emails the reports exactly once (SES, SMTP, an outbox folder or a
  plugin's transport) -> :class:`SendResult`; :func:`existing_ledger` reads what was
  sent; :func:`ingest_events`, :func:`pull_events` and :func:`unsuppress` record SES
  events
- :func:`plan_schedules` and :func:`emit_schedule` say when reports go out
- :class:`Preview` and :class:`PreviewServer` serve the live preview
- :class:`ReportcError` and its subclasses are the only errors shown to users

The CLI (:mod:`reportc.cli`) uses nothing else. Names load on first use (PEP 562):
``import reportc`` is cheap, and a command loads only the stages it calls, so a build
with nothing to do never imports the binding, rendering or PDF stages.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the same names, for type checkers; at run time see _EXPORTS
    from .addresses import address_key, mask
    from .archive import ArchiveResult, list_runs, load_values
    from .archive import diff as diff_runs
    from .archive import resolve as resolve_run
    from .config import DEFAULT_CONFIG, Period, Project, find_project, load_project
    from .deliver import SendResult
    from .delivery.events import ingest_events, pull_events
    from .delivery.ledger import existing_ledger, ledger_path, unsuppress
    from .delivery.sns import Verifier
    from .deploy import TARGETS as DEPLOY_TARGETS
    from .deploy import DeployOptions, emit_deploy
    from .dispatch import send
    from .errors import (
        ArchiveError,
        BuildFailed,
        ConfigError,
        DataError,
        DeliveryError,
        Location,
        Problem,
        RenderError,
        ReportcError,
        SendFailed,
    )
    from .fastpath import forget as forget_build_stamp
    from .fastpath import write_stamp as write_build_stamp
    from .limits import DEFAULT_BUILD_MEMORY_MB, DEFAULT_MEMORY_MB, default_jobs, limit_memory
    from .logs import Masker, get_logger, new_run_id, secret_values
    from .logs import configure as configure_logging
    from .notices import NoticeResult, Outcome, build_outcome, error_outcome, notify, send_outcome
    from .outputs import is_remote, staged_outputs
    from .pipeline import build
    from .plan import (
        FORMATS,
        MANIFEST,
        BuildPlan,
        BuildResult,
        Progress,
        ReportResult,
        Shard,
        archive_run,
        plan_build,
        reportc_version,
        utc_now,
    )
    from .preview import Preview
    from .preview_server import PreviewServer
    from .resources import project_schema
    from .scaffold import init_project
    from .schedule import emit_schedule, running_executable
    from .schedule import plan as plan_schedules
    from .stores import open_store
    from .validation import Validated, validate
    from .zygote import Zygote

#: public name -> (module, its name there)
_EXPORTS: dict[str, tuple[str, str]] = {
    **{n: ("addresses", n) for n in ("address_key", "mask")},
    "ArchiveResult": ("archive", "ArchiveResult"),
    "diff_runs": ("archive", "diff"),
    "resolve_run": ("archive", "resolve"),
    **{n: ("archive", n) for n in ("list_runs", "load_values")},
    "open_store": ("stores", "open_store"),
    **{
        n: ("config", n)
        for n in ("DEFAULT_CONFIG", "Period", "Project", "find_project", "load_project")
    },
    **{n: ("delivery.events", n) for n in ("ingest_events", "pull_events")},
    **{n: ("delivery.ledger", n) for n in ("existing_ledger", "ledger_path", "unsuppress")},
    "Verifier": ("delivery.sns", "Verifier"),
    "SendResult": ("deliver", "SendResult"),
    "DEPLOY_TARGETS": ("deploy", "TARGETS"),
    **{n: ("deploy", n) for n in ("DeployOptions", "emit_deploy")},
    "send": ("dispatch", "send"),
    **{
        n: ("errors", n)
        for n in (
            "ArchiveError",
            "BuildFailed",
            "ConfigError",
            "DataError",
            "DeliveryError",
            "Location",
            "Problem",
            "RenderError",
            "ReportcError",
            "SendFailed",
        )
    },
    **{
        n: ("limits", n)
        for n in ("DEFAULT_BUILD_MEMORY_MB", "DEFAULT_MEMORY_MB", "default_jobs", "limit_memory")
    },
    "forget_build_stamp": ("fastpath", "forget"),
    "write_build_stamp": ("fastpath", "write_stamp"),
    "configure_logging": ("logs", "configure"),
    **{n: ("logs", n) for n in ("Masker", "get_logger", "new_run_id", "secret_values")},
    **{
        n: ("notices", n)
        for n in (
            "NoticeResult",
            "Outcome",
            "build_outcome",
            "error_outcome",
            "notify",
            "send_outcome",
        )
    },
    **{n: ("outputs", n) for n in ("is_remote", "staged_outputs")},
    "build": ("pipeline", "build"),
    **{n: ("validation", n) for n in ("Validated", "validate")},
    **{
        n: ("plan", n)
        for n in (
            "FORMATS",
            "MANIFEST",
            "BuildPlan",
            "BuildResult",
            "Progress",
            "ReportResult",
            "Shard",
            "archive_run",
            "plan_build",
            "reportc_version",
            "utc_now",
        )
    },
    "Preview": ("preview", "Preview"),
    "PreviewServer": ("preview_server", "PreviewServer"),
    "project_schema": ("resources", "project_schema"),
    "init_project": ("scaffold", "init_project"),
    "emit_schedule": ("schedule", "emit_schedule"),
    "running_executable": ("schedule", "running_executable"),
    "plan_schedules": ("schedule", "plan"),
    "Zygote": ("zygote", "Zygote"),
}

__all__ = [
    "DEFAULT_BUILD_MEMORY_MB",
    "DEFAULT_CONFIG",
    "DEFAULT_MEMORY_MB",
    "DEPLOY_TARGETS",
    "FORMATS",
    "MANIFEST",
    "ArchiveError",
    "ArchiveResult",
    "BuildFailed",
    "BuildPlan",
    "BuildResult",
    "ConfigError",
    "DataError",
    "DeliveryError",
    "DeployOptions",
    "Location",
    "Masker",
    "NoticeResult",
    "Outcome",
    "Period",
    "Preview",
    "PreviewServer",
    "Problem",
    "Progress",
    "Project",
    "RenderError",
    "ReportResult",
    "ReportcError",
    "SendFailed",
    "SendResult",
    "Shard",
    "Validated",
    "Verifier",
    "Zygote",
    "address_key",
    "archive_run",
    "build",
    "build_outcome",
    "configure_logging",
    "default_jobs",
    "diff_runs",
    "emit_deploy",
    "emit_schedule",
    "error_outcome",
    "existing_ledger",
    "find_project",
    "forget_build_stamp",
    "get_logger",
    "ingest_events",
    "init_project",
    "is_remote",
    "ledger_path",
    "limit_memory",
    "list_runs",
    "load_project",
    "load_values",
    "mask",
    "new_run_id",
    "notify",
    "open_store",
    "plan_build",
    "plan_schedules",
    "project_schema",
    "pull_events",
    "reportc_version",
    "resolve_run",
    "running_executable",
    "secret_values",
    "send",
    "send_outcome",
    "staged_outputs",
    "unsuppress",
    "utc_now",
    "validate",
    "write_build_stamp",
]


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'reportc' has no attribute '{name}'")
    module, attr = _EXPORTS[name]
    value = getattr(import_module(f".{module}", __name__), attr)
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
