"""reportc: a declarative report compiler.

The public API, in one place:

- :func:`load_project` reads and validates ``reports.yaml`` -> :class:`Project`
- :func:`validate` binds data and renders HTML without writing, raising every problem
- :func:`build` writes HTML/PDF reports and ``manifest.json`` -> :class:`BuildResult`
- :func:`archive_run` stores a build as a run in the archive (``reportc.archive``
  reads runs back, and diffs them)
- :func:`send` emails them exactly once (SES, SMTP or an outbox folder) -> :class:`SendResult`
- :class:`ReportcError` and its subclasses are the only errors shown to users

The CLI (:mod:`reportc.cli`) is a thin layer over these functions.
"""

from .config import Period, Project, load_project
from .errors import (
    ArchiveError,
    BuildFailed,
    ConfigError,
    DataError,
    DeliveryError,
    Problem,
    RenderError,
    ReportcError,
)
from .pipeline import BuildResult, ReportResult, archive_run, build, validate


def __getattr__(name: str) -> object:
    # ``send`` pulls in the delivery stack; load it only when asked for.
    if name in ("send", "SendResult"):
        from . import dispatch

        return getattr(dispatch, name)
    raise AttributeError(name)


__all__ = [
    "ArchiveError",
    "BuildFailed",
    "BuildResult",
    "ConfigError",
    "DataError",
    "DeliveryError",
    "Period",
    "Problem",
    "Project",
    "RenderError",
    "ReportResult",
    "ReportcError",
    "SendResult",
    "archive_run",
    "build",
    "load_project",
    "send",
    "validate",
]
