"""Where the ledger lives: SQLite on the project's disk (the default) or PostgreSQL
(``delivery.ledger: ${LEDGER_URL}``) shared by every host, behind one small interface.

The ledger's SQL is written once in the dialect both share (``ON CONFLICT ... DO
UPDATE``, ``?`` placeholders); a :class:`Db` runs it on its engine and owns what
differs: the schema's auto-increment, placeholders, transactions and durability.

The send lock goes with the ledger: a file lock (the filelock package) beside a
SQLite ledger, a session-level advisory lock (``pg_try_advisory_lock``) on
PostgreSQL, so two ``send`` runs on different hosts cannot both send. Either is freed
when its holder dies: the OS closes the file, PostgreSQL ends the session.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from ..config.model import LEDGER_SCHEMES
from ..logs import Masker

#: columns added to ``messages`` since its first version (send_if: changed; links)
ADDED_COLUMNS = ("values_sha256", "links")

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    key TEXT PRIMARY KEY,
    report TEXT NOT NULL,
    period TEXT NOT NULL,
    run_id TEXT NOT NULL,
    transport TEXT NOT NULL,
    sender TEXT NOT NULL,
    to_addrs TEXT NOT NULL,
    cc_addrs TEXT NOT NULL,
    bcc_addrs TEXT NOT NULL,
    redirected_to TEXT NOT NULL DEFAULT '',
    subject TEXT NOT NULL,
    pdf_sha256 TEXT NOT NULL,
    state TEXT NOT NULL,
    message_id TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    override TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL,
    values_sha256 TEXT NOT NULL DEFAULT '',
    links TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS deliveries (
    message_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    state TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL,
    PRIMARY KEY (message_id, recipient)
);
CREATE TABLE IF NOT EXISTS suppressions (
    address TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS notices (
    key TEXT NOT NULL,
    channel TEXT NOT NULL,
    command TEXT NOT NULL,
    period TEXT NOT NULL,
    run_id TEXT NOT NULL,
    state TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (key, channel)
);
CREATE TABLE IF NOT EXISTS events (
    id {serial},
    key TEXT NOT NULL,
    run_id TEXT NOT NULL,
    at TEXT NOT NULL,
    state TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
"""


def is_postgres(location: str | Path) -> bool:
    return isinstance(location, str) and location.startswith(LEDGER_SCHEMES)


def shown(location: str | Path) -> str:
    """The location as errors show it: a URL without its password."""
    return Masker()(str(location)) if is_postgres(location) else str(location)


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    @property
    def description(self) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Db(Protocol):
    """A ledger database connection: SQLite or PostgreSQL."""

    #: the engine's error classes (an error there is a ledger error)
    errors: tuple[type[BaseException], ...]
    #: what orders rows written in the same second (insertion order where there is one)
    tiebreak: str

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Cursor: ...

    def begin(self, durable: bool) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def close(self) -> None: ...


class _Connection:
    """What both engines' connections do alike (``conn`` is set by each)."""

    conn: Any

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        self.conn.execute("ROLLBACK")

    def close(self) -> None:
        self.conn.close()


class SqliteDb(_Connection):
    """The ledger in a SQLite file (WAL) on this machine's disk."""

    errors: tuple[type[BaseException], ...] = (sqlite3.Error, OSError)
    tiebreak = "rowid"

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(path), isolation_level=None, timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.executescript(SCHEMA.format(serial="INTEGER PRIMARY KEY AUTOINCREMENT"))
        columns = {r[1] for r in self.conn.execute("PRAGMA table_info(messages)")}
        for column in ADDED_COLUMNS:  # a ledger from before the column was added
            if column not in columns:
                self.conn.execute(
                    f"ALTER TABLE messages ADD COLUMN {column} TEXT NOT NULL DEFAULT ''"
                )

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Cursor:
        cur: Cursor = self.conn.execute(sql, tuple(args))
        return cur

    def begin(self, durable: bool) -> None:
        # 'sending' must survive even a power loss before the provider is called: it
        # is what stops a second send. Other changes only need to survive a crash of
        # this process, which WAL with synchronous=NORMAL guarantees, far cheaper.
        self.conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self.conn.execute("BEGIN IMMEDIATE")


class PostgresDb(_Connection):
    """The ledger on PostgreSQL (psycopg 3; ``pip install 'reportc[postgres]'``).
    Every commit is durable (PostgreSQL's default ``synchronous_commit``)."""

    tiebreak = "key"

    def __init__(self, url: str) -> None:
        import psycopg

        self.errors: tuple[type[BaseException], ...] = (psycopg.Error, OSError)
        self.conn = psycopg.connect(_libpq(url), autocommit=True, connect_timeout=15)
        with self.conn.transaction():
            # one schema creation at a time (a fresh database, two hosts at once)
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key("schema"),))
            for statement in SCHEMA.format(serial="BIGSERIAL PRIMARY KEY").split(";"):
                if statement.strip():
                    self.conn.execute(statement.encode())
            for column in ADDED_COLUMNS:
                self.conn.execute(
                    f"ALTER TABLE messages ADD COLUMN IF NOT EXISTS {column} "
                    "TEXT NOT NULL DEFAULT ''".encode()
                )

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Cursor:
        values = tuple(str(a) if isinstance(a, str) else a for a in args)
        cur: Cursor = self.conn.execute(_placeholders(sql).encode(), values)
        return cur

    def begin(self, durable: bool) -> None:
        self.conn.execute("BEGIN")


def _placeholders(sql: str) -> str:
    """``?`` -> ``%s`` (the ledger's SQL has no literal ``?`` or ``%``)."""
    return sql.replace("%", "%%").replace("?", "%s")


def _libpq(url: str) -> str:
    """A SQLAlchemy-style URL (``postgresql+psycopg://``) as libpq reads it."""
    return re.sub(r"^postgresql\+psycopg://", "postgresql://", url)


def _lock_key(name: str) -> int:
    """A signed 64-bit advisory lock key for ``name`` (the same on every host)."""
    digest = hashlib.sha256(f"reportc:{name}".encode()).digest()[:8]
    return int.from_bytes(digest, "big", signed=True)


def connect(location: str | Path) -> Db:
    return PostgresDb(location) if isinstance(location, str) else SqliteDb(location)


@contextlib.contextmanager
def advisory_lock(url: str, name: str) -> Iterator[bool]:
    """Hold PostgreSQL's session advisory lock ``name`` while the block runs; yields
    False (and holds nothing) when another session holds it."""
    import psycopg

    with psycopg.connect(_libpq(url), autocommit=True, connect_timeout=15) as conn:
        cur = conn.execute("SELECT pg_try_advisory_lock(%s)", (_lock_key(name),))
        row = cur.fetchone()
        if not row or not row[0]:
            yield False
            return
        try:
            yield True
        finally:
            with contextlib.suppress(psycopg.Error):
                conn.execute("SELECT pg_advisory_unlock(%s)", (_lock_key(name),))
