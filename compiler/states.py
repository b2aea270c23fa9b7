"""Every state a report or a message can be in, as string enums.

Each member equals its string (``MessageState.SENT == "sent"``) and prints as it, so
states read the same in the manifest, the ledger, JSON and the terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from enum import Enum

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # Python 3.10: the same behaviour

    class StrEnum(str, Enum):
        def __str__(self) -> str:
            return str(self.value)

        def __format__(self, spec: str) -> str:
            return format(str(self.value), spec)


class ReportState(StrEnum):
    """How a report came out of its build (recorded in the manifest)."""

    OK = "ok"
    BLOCKED = "blocked"  # built, but a quality check failed: must not be sent
    FAILED = "failed"

    @classmethod
    def of(cls, ok: bool, blocked: Sequence[str]) -> ReportState:
        """A report's state from its build: failed, else blocked if any check failed."""
        if not ok:
            return cls.FAILED
        return cls.BLOCKED if blocked else cls.OK


class BuildState(StrEnum):
    """What this build did with a report."""

    BUILT = "built"
    UNCHANGED = "unchanged"  # incremental: its inputs did not change, not rebuilt
    FAILED = "failed"


class LedgerState(StrEnum):
    """A message's state in the delivery ledger."""

    PENDING = "pending"  # planned, or to be retried
    SENDING = "sending"  # handed to the transport: uncertain if the run stops here
    SENT = "sent"
    FAILED = "failed"


class MessageState(StrEnum):
    """What a send run did with a message."""

    SENT = "sent"
    SKIPPED = "skipped"  # the ledger says it was sent already, or held back
    FAILED = "failed"
    UNCERTAIN = "uncertain"  # may have been delivered: never re-sent without asking
    NOT_SENT = "not-sent"  # stopped by --limit, a quota or the provider
    DRY_RUN = "dry-run"
