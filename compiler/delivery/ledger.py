"""The delivery ledger (SQLite) and the send lock.

One row per message, keyed by the idempotency key (report + recipients + PDF
sha256): ``pending`` -> ``sending`` (committed *before* the provider is called)
-> ``sent`` (with the provider's message id) or ``failed`` (with the reason).
A row left in ``sending`` means a crash or a timeout at the worst moment: the
message may or may not have gone, so it is reported as *uncertain* and never
re-sent without ``--resend``. Every state change is also appended to
``events``, the audit trail.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from ..addresses import address_key
from ..config.model import Project
from ..errors import DeliveryError, Location, Problem
from ..mime import Envelope
from ..states import LedgerState
from .ledger_db import Cursor, advisory_lock, connect, is_postgres, shown


@dataclass(frozen=True)
class LedgerRow:
    key: str
    report: str
    period: str
    run_id: str
    transport: str
    sender: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    redirected_to: str
    subject: str
    pdf_sha256: str
    state: LedgerState
    message_id: str
    error: str
    attempts: int
    override: str
    updated_at: str
    values_sha256: str = ""

    @property
    def uncertain(self) -> bool:
        return self.state is LedgerState.SENDING

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every address the message went (or may have gone) to, as compared (none for a
        Slack or webhook post: its target is no one's address)."""
        keys = (address_key(a) for a in (*self.to, *self.cc, *self.bcc))
        return tuple(k for k in keys if k)


class LedgerError(DeliveryError):
    """The ledger cannot be read or written: nothing more is sent until it can."""


def _ledger_error(path: Path | str, exc: BaseException) -> LedgerError:
    text = str(exc)
    low = text.lower()
    if "not a database" in low or "malformed" in low:
        hint = "the file is damaged: move it aside (keep it for the record) and check what was sent"
    elif "readonly" in low or "read-only" in low or isinstance(exc, PermissionError):
        hint = "make the file and its folder writable by this user"
    elif "full" in low or "no space" in low:
        hint = "free some disk space, then run again: what was recorded is kept"
    else:
        hint = "check the file and its folder, then run again"
    return LedgerError(
        Problem(
            f"the delivery ledger cannot be used: {text}; nothing more was sent",
            Location(shown(path)),
            hint=hint + " (a message in flight is reported as uncertain next time)",
        )
    )


class Ledger:
    """The ledger, on SQLite (a path) or PostgreSQL (a ``postgresql://`` URL)."""

    def __init__(self, location: Path | str, clock: Callable[[], dt.datetime]) -> None:
        self.path = location
        self.clock = clock
        try:
            self.db = connect(location)
        except Exception as exc:  # the engine's own errors, and the driver's
            raise _ledger_error(location, exc) from None

    def close(self) -> None:
        with contextlib.suppress(*self.db.errors):
            self.db.close()

    def _now(self) -> str:
        return self.clock().isoformat(timespec="seconds")

    def get(self, key: str) -> LedgerRow | None:
        cur = self.db.execute("SELECT * FROM messages WHERE key = ?", (key,))
        row = cur.fetchone()
        return _row(cur, row) if row else None

    def rows(self, report: str | None = None) -> list[LedgerRow]:
        sql = "SELECT * FROM messages"
        args: tuple[Any, ...] = ()
        if report:
            sql += " WHERE report = ?"
            args = (report,)
        cur = self.db.execute(sql + " ORDER BY updated_at, report", args)
        return [_row(cur, r) for r in cur.fetchall()]

    def last_sent(self, report: str) -> LedgerRow | None:
        """The report's most recent real send (not a ``--redirect-to`` test)."""
        cur = self.db.execute(
            f"""SELECT * FROM messages WHERE report = ? AND state = 'sent' AND redirected_to = ''
               ORDER BY updated_at DESC, {self.db.tiebreak} DESC LIMIT 1""",
            (report,),
        )
        row = cur.fetchone()
        return _row(cur, row) if row else None

    def copies(self, report: str, pdf_sha256: str, redirected_to: str = "") -> list[LedgerRow]:
        """Messages of this PDF of the report that were sent, or may have been (sending)."""
        cur = self.db.execute(
            """SELECT * FROM messages WHERE report = ? AND pdf_sha256 = ? AND redirected_to = ?
               AND state IN ('sent', 'sending') ORDER BY updated_at""",
            (report, pdf_sha256, redirected_to),
        )
        return [_row(cur, r) for r in cur.fetchall()]

    def sent_copies(self, report: str, pdf_sha256: str) -> list[LedgerRow]:
        """Real sends of this exact PDF of the report."""
        cur = self.db.execute(
            """SELECT * FROM messages WHERE report = ? AND pdf_sha256 = ? AND state = 'sent'
               AND redirected_to = '' ORDER BY updated_at""",
            (report, pdf_sha256),
        )
        return [_row(cur, r) for r in cur.fetchall()]

    def events(self, key: str) -> list[tuple[str, str, str, str]]:
        cur = self.db.execute(
            "SELECT run_id, at, state, detail FROM events WHERE key = ? ORDER BY id", (key,)
        )
        return [(r[0], r[1], r[2], r[3]) for r in cur.fetchall()]

    def _event(self, key: str, run_id: str, state: str, detail: str = "") -> None:
        self.db.execute(
            "INSERT INTO events (key, run_id, at, state, detail) VALUES (?, ?, ?, ?, ?)",
            (key, run_id, self._now(), state, detail),
        )

    def plan(
        self,
        env: Envelope,
        *,
        period: str,
        run_id: str,
        transport: str,
        override: str = "",
        values_sha256: str = "",
    ) -> None:
        """Record the message as pending (a re-send keeps its history in events)."""
        with self._tx():
            self.db.execute(
                """INSERT INTO messages (key, report, period, run_id, transport, sender, to_addrs,
                       cc_addrs, bcc_addrs, redirected_to, subject, pdf_sha256, state, override,
                       updated_at, values_sha256, links)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)
                   ON CONFLICT(key) DO UPDATE SET run_id = excluded.run_id,
                       transport = excluded.transport, state = 'pending', error = '',
                       override = excluded.override, updated_at = excluded.updated_at,
                       values_sha256 = excluded.values_sha256, links = excluded.links""",
                (
                    env.key,
                    env.report,
                    period,
                    run_id,
                    transport,
                    env.sender,
                    json.dumps(env.to),
                    json.dumps(env.cc),
                    json.dumps(env.bcc),
                    env.redirected_to,
                    env.subject,
                    env.pdf_sha256,
                    override,
                    self._now(),
                    values_sha256,
                    json.dumps(list(env.links)) if env.links else "",
                ),
            )
            self._event(env.key, run_id, LedgerState.PENDING, override)

    def mark(
        self, key: str, run_id: str, state: LedgerState, *, message_id: str = "", error: str = ""
    ) -> None:
        with self._tx(durable=state is LedgerState.SENDING):
            self.db.execute(
                """UPDATE messages SET state = ?, message_id = CASE WHEN ? != '' THEN ?
                       ELSE message_id END, error = ?, updated_at = ?,
                       attempts = attempts + CASE WHEN ? = 'sending' THEN 1 ELSE 0 END
                   WHERE key = ?""",
                (state, message_id, message_id, error, self._now(), state, key),
            )
            self._event(key, run_id, state, message_id or error)

    def by_message_id(self, message_id: str) -> LedgerRow | None:
        """The message the provider knows by this id; never one that has no id yet."""
        if not message_id.strip():
            return None
        cur = self.db.execute("SELECT * FROM messages WHERE message_id = ?", (message_id,))
        row = cur.fetchone()
        return _row(cur, row) if row else None

    def delivery(self, message_id: str, recipient: str, state: str, detail: str, at: str) -> None:
        """What the provider reported for one recipient of a sent message (latest wins)."""
        with self._tx():
            self.db.execute(
                """INSERT INTO deliveries (message_id, recipient, state, detail, at)
                   VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT(message_id, recipient) DO UPDATE SET state = excluded.state,
                       detail = excluded.detail, at = excluded.at
                   WHERE excluded.at >= deliveries.at""",
                (message_id, recipient.lower(), state, detail, at),
            )

    def deliveries(self) -> dict[tuple[str, str], tuple[str, str]]:
        cur = self.db.execute("SELECT message_id, recipient, state, detail FROM deliveries")
        return {(m, r): (s, d) for m, r, s, d in cur.fetchall()}

    def suppress(self, address: str, reason: str, at: str) -> None:
        with self._tx():
            self.db.execute(
                "INSERT INTO suppressions (address, reason, at) VALUES (?, ?, ?) "
                "ON CONFLICT(address) DO UPDATE SET reason = excluded.reason, at = excluded.at",
                (address.lower(), reason, at),
            )

    def unsuppress(self, address: str) -> bool:
        with self._tx():
            cur = self.db.execute(
                "DELETE FROM suppressions WHERE address = ?", (address_key(address),)
            )
        return cur.rowcount > 0

    def suppressed(self) -> dict[str, str]:
        cur = self.db.execute("SELECT address, reason FROM suppressions")
        return dict(cur.fetchall())

    def note(self, key: str, run_id: str, error: str) -> None:
        """Record why a message's fate is unknown, leaving its state as it is."""
        with self._tx():
            self.db.execute(
                "UPDATE messages SET error = ?, updated_at = ? WHERE key = ?",
                (error, self._now(), key),
            )
            self._event(key, run_id, "note", error)

    def notified(self, key: str, channel: str) -> bool:
        """Whether this notice already went out on this channel."""
        cur = self.db.execute(
            "SELECT 1 FROM notices WHERE key = ? AND channel = ? AND state = 'sent'",
            (key, channel),
        )
        return cur.fetchone() is not None

    def notice(
        self, key: str, channel: str, *, command: str, period: str, run_id: str, state: str
    ) -> None:
        """Record a notice's state on a channel: 'sending' before, 'sent' after."""
        with self._tx(durable=state == "sent"):
            self.db.execute(
                """INSERT INTO notices (key, channel, command, period, run_id, state, at)
                   VALUES (?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (key, channel) DO UPDATE SET command = excluded.command,
                       period = excluded.period, run_id = excluded.run_id,
                       state = excluded.state, at = excluded.at""",
                (key, channel, command, period, run_id, state, self._now()),
            )

    def clear_notices(self, command: str, period: str) -> int:
        """Forget the period's notices for ``command`` (it succeeded: the next failure
        is news again). Returns how many were forgotten."""
        with self._tx():
            cur = self.db.execute(
                "DELETE FROM notices WHERE command = ? AND period = ?", (command, period)
            )
        return cur.rowcount

    @contextlib.contextmanager
    def _tx(self, durable: bool = False) -> Iterator[None]:
        try:
            self.db.begin(durable)
        except self.db.errors as exc:
            raise _ledger_error(self.path, exc) from None
        try:
            yield
            self.db.commit()
        except BaseException as exc:
            with contextlib.suppress(*self.db.errors):
                self.db.rollback()
            if isinstance(exc, self.db.errors):
                raise _ledger_error(self.path, exc) from None
            raise


def _row(cur: Cursor, row: Sequence[Any]) -> LedgerRow:
    data = dict(zip([d[0] for d in cur.description], row, strict=True))
    return LedgerRow(
        key=data["key"],
        report=data["report"],
        period=data["period"],
        run_id=data["run_id"],
        transport=data["transport"],
        sender=data["sender"],
        to=tuple(json.loads(data["to_addrs"])),
        cc=tuple(json.loads(data["cc_addrs"])),
        bcc=tuple(json.loads(data["bcc_addrs"])),
        redirected_to=data["redirected_to"],
        subject=data["subject"],
        pdf_sha256=data["pdf_sha256"],
        state=LedgerState(data["state"]),
        message_id=data["message_id"],
        error=data["error"],
        attempts=data["attempts"],
        override=data["override"],
        updated_at=data["updated_at"],
        values_sha256=data.get("values_sha256", ""),
    )


def ledger_path(project: Project) -> Path:
    """Where the SQLite ledger is (or would be) kept."""
    return project.root / project.delivery.state_dir / "ledger.sqlite"


def ledger_location(project: Project) -> Path | str:
    """The project's ledger: ``delivery.ledger`` (a PostgreSQL URL), else SQLite."""
    return project.delivery.ledger or ledger_path(project)


def open_ledger(project: Project, clock: Callable[[], dt.datetime]) -> Ledger:
    """The project's ledger for writing (created if need be)."""
    return Ledger(ledger_location(project), clock)


@contextlib.contextmanager
def existing_ledger(project: Project) -> Iterator[Ledger | None]:
    """The project's ledger for reading, or None if nothing was ever sent (no SQLite
    file is made; a PostgreSQL ledger is always opened)."""
    location = ledger_location(project)
    if not is_postgres(location) and not Path(location).is_file():
        yield None
        return
    ledger = Ledger(location, lambda: dt.datetime.now(dt.timezone.utc))
    try:
        yield ledger
    finally:
        ledger.close()


def unsuppress(project: Project, addresses: Iterable[str]) -> list[str]:
    """Take addresses off the suppression list; those that were on it."""
    with existing_ledger(project) as ledger:
        return [a for a in addresses if ledger is not None and ledger.unsuppress(a)]


@contextlib.contextmanager
def send_lock(state_dir: Path) -> Iterator[None]:
    """Only one ``reportc send`` per project at a time: an OS lock on
    ``<state_dir>/send.lock`` (the filelock package: fcntl on POSIX, msvcrt on Windows),
    freed by the OS when the process dies, however it dies."""
    path = state_dir / "send.lock"
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(path, timeout=0)
        lock.acquire()
    except Timeout:
        raise _busy(f"lock: {path}; its process id: {_holder(path)}") from None
    except OSError as exc:
        raise _ledger_error(path, exc) from None
    try:
        with contextlib.suppress(OSError):  # the pid is for people; the lock is the OS's
            (state_dir / "send.pid").write_text(str(os.getpid()))
        yield
    finally:
        lock.release()


def _busy(where: str) -> DeliveryError:
    return DeliveryError(
        Problem(
            "another 'reportc send' is running for this project",
            hint=f"wait for it to finish ({where})",
        )
    )


@contextlib.contextmanager
def project_lock(project: Project) -> Iterator[None]:
    """The send lock that goes with the project's ledger: PostgreSQL's advisory lock
    (named after the organisation, so every host running this project shares it) for a
    shared ledger, else the file lock beside the SQLite ledger."""
    location = ledger_location(project)
    if not is_postgres(location):
        with send_lock(project.root / project.delivery.state_dir):
            yield
        return
    lock = advisory_lock(str(location), f"send:{project.organisation}")
    try:
        held = lock.__enter__()
    except Exception as exc:  # the driver's errors: the ledger cannot be reached
        raise _ledger_error(location, exc) from None
    try:
        if not held:
            raise _busy(f"PostgreSQL advisory lock on {shown(location)}")
        yield
    finally:
        lock.__exit__(None, None, None)


def _holder(path: Path) -> str:
    try:
        return (path.parent / "send.pid").read_text().strip() or "unknown"
    except OSError:
        return "unknown"
