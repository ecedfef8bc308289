"""The one SQLite store base: connection, lock, WAL, migrations and close, for every store.

The audit log, budgets, approvals, tokens and the shared rate-limit counters each keep one
database in the state dir. What they share lives here, once: `SqliteDatabase` opens the file the
way `connect` says (WAL, `synchronous=FULL`, a busy timeout, explicit transactions), brings its schema up to date with `migrate`, and hands its single connection out
under one thread lock — `reading()` for queries, `writing()` for a `BEGIN IMMEDIATE` transaction,
`statement()` for one atomic autocommitted write. `close()` is idempotent; use after it raises
`StateError`.

`binance_mcp.stores.postgres.PostgresDatabase` has the same methods, so a store written against
this interface runs unchanged on either (SQL is written with `?` placeholders; the PostgreSQL side
translates them). Each store gives its schema per dialect: `{"sqlite": (...), "postgresql": (...)}`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from binance_mcp.state_dir import StateError

if TYPE_CHECKING:
    import sqlite3

__all__ = [
    "Cursor",
    "Database",
    "Migrations",
    "Rows",
    "Session",
    "SqliteDatabase",
    "StoreConflict",
    "connect",
    "migrate",
    "split_statements",
    "write_transaction",
]

Migrations = Mapping[str, Sequence[str]]
"""Schema steps per dialect (`"sqlite"`, `"postgresql"`): step N is the script `steps[N - 1]`."""


BUSY_TIMEOUT_MS = 5000


def connect(path: Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """Open (creating it, mode 0o600) the SQLite database at `path` the way every store must.

    - `journal_mode=WAL`: readers and one writer proceed at once, across processes.
    - `synchronous=FULL`: each commit is fsynced before it returns (WAL's NORMAL could lose the
      last commits on power loss; an order's `pending` record must survive that).
    - `busy_timeout=5000`: a writer waits up to 5 s for another's lock instead of failing.
    - `isolation_level=None`: no implicit transactions; write with `write_transaction`.

    A connection is used by one thread at a time: pass `check_same_thread=False` only when the
    caller serialises every use with its own lock (as `AuditLog` does).
    """
    import sqlite3  # here, not at import: the server answers tools/list before any store opens

    path = Path(path)
    try:
        if not path.exists():
            # SQLite gives the -wal and -shm files the database file's permissions.
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        conn = sqlite3.connect(
            str(path),
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=check_same_thread,
        )
    except (OSError, sqlite3.Error) as exc:
        raise StateError(f"cannot open {path}: {exc}") from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = _switch_to_wal(conn)
        if str(mode).lower() != "wal":
            raise StateError(f"{path}: SQLite could not use WAL journal mode here (got {mode!r})")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as exc:
        conn.close()
        raise StateError(f"cannot use {path}: {exc}") from None
    except StateError:
        conn.close()
        raise
    return conn


def _switch_to_wal(conn: sqlite3.Connection) -> str:
    """`PRAGMA journal_mode = WAL`, retried: when two processes open a new database at once, the
    switch can fail with "database is locked" at once, without waiting on the busy timeout."""
    import sqlite3

    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """`BEGIN IMMEDIATE` … `COMMIT` (durable when the block ends), `ROLLBACK` on any exception.

    IMMEDIATE takes the write lock up front, so a read-then-write (a budget check, a migration)
    sees no other writer in between.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # SQLite may already have rolled back (e.g. disk full)
            conn.execute("ROLLBACK")
        raise


def schema_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the database (0 for a new one)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, migrations: Sequence[str], *, name: str = "database") -> int:
    """Bring the schema up to `len(migrations)`: step N (1-based) is the SQL script
    `migrations[N - 1]`, written with `CREATE … IF NOT EXISTS`. Each step runs in one write
    transaction with its `user_version` bump, so a crash leaves a whole version, never half.
    A database newer than this code raises `StateError` (never downgrade what we do not know).
    Returns the version now in force.
    """
    target = len(migrations)
    current = schema_version(conn)
    if current == target:
        return current  # the usual case, no write lock taken (the CLI only reads)
    while True:
        with write_transaction(conn):
            current = schema_version(conn)  # again, under the lock: another process may have migrated
            if current > target:
                raise StateError(
                    f"{name} has schema version {current}; this binance-mcp knows up to {target}: upgrade it"
                )
            if current == target:
                return current
            for statement in split_statements(migrations[current]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {current + 1}")


def split_statements(script: str) -> list[str]:
    import sqlite3

    # executescript() would COMMIT our transaction first; split into complete statements instead.
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        raise ValueError(f"incomplete SQL statement in migration: {buffer.strip()[:60]!r}")
    return statements


class StoreConflict(Exception):
    """A write broke a uniqueness rule (the same name twice, say): the same class on every backend."""


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    @property
    def description(self) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Session(Protocol):
    """One connection inside `reading()` / `writing()`: SQL with `?` placeholders."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...


class Database(Protocol):
    """What a store needs from where its tables live (SQLite file or PostgreSQL)."""

    dialect: str
    name: str

    def reading(self) -> Any: ...  # context manager yielding a Session

    def writing(self, *, durable: bool = True, serialise: str | None = None) -> Any: ...

    def statement(self, sql: str, params: Sequence[Any] = (), *, durable: bool = True) -> Cursor: ...

    def data_version(self) -> int: ...

    def close(self) -> None: ...


class Rows:
    """A statement's rows and row count, read while the connection was held."""

    __slots__ = ("_rows", "rowcount")
    description = None

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return self._rows


class _SqliteSession:
    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        import sqlite3

        try:
            return self._conn.execute(sql, tuple(params))
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc) or "PRIMARY KEY" in str(exc):
                raise StoreConflict(str(exc)) from None
            raise


class SqliteDatabase:
    """One SQLite database file of the state dir, migrated, its one connection under one lock.

    Thread safe: every use of the connection holds the lock (SQLite takes one writer at a time
    anyway; other processes wait on the file lock up to the busy timeout). `name` names the store
    in error messages ("audit log /x/audit.sqlite3").
    """

    dialect = "sqlite"

    def __init__(self, path: Path, migrations: Migrations, *, name: str) -> None:
        self.path = Path(path)
        self.name = f"{name} {self.path}"
        self._lock = threading.Lock()
        self._full_sync = True  # what state.connect sets
        self._conn: sqlite3.Connection | None = connect(self.path, check_same_thread=False)
        try:
            migrate(self._conn, migrations["sqlite"], name=self.name)
        except BaseException:
            self._conn.close()
            self._conn = None
            raise

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """The connection for queries, under the lock (WAL: never waits for another process's writer)."""
        with self._locked() as conn:
            yield _SqliteSession(conn)

    @contextmanager
    def writing(self, *, durable: bool = True, serialise: str | None = None) -> Iterator[Session]:
        """One `BEGIN IMMEDIATE` … `COMMIT` transaction: no other writer, in any process, between
        its reads and writes (`serialise` is for PostgreSQL; SQLite already serialises writers).
        `durable=False` commits without an fsync (survives a killed process, not a power loss)."""
        with self._locked() as conn:
            self._synchronous(conn, full=durable)
            with write_transaction(conn):
                yield _SqliteSession(conn)

    def statement(self, sql: str, params: Sequence[Any] = (), *, durable: bool = True) -> Cursor:
        """One write statement, atomic on its own (autocommit): cheaper than a transaction. Its
        rows (`RETURNING …`) are read before the lock is let go."""
        with self._locked() as conn:
            self._synchronous(conn, full=durable)
            cursor = _SqliteSession(conn).execute(sql, params)
            rows = cursor.fetchall() if cursor.description is not None else []
            return Rows(rows, cursor.rowcount)

    def data_version(self) -> int:
        """Changes when another connection committed (SQLite's `PRAGMA data_version`, no disk read)."""
        with self._locked() as conn:
            return int(conn.execute("PRAGMA data_version").fetchone()[0])

    def close(self) -> None:
        """Close the connection; later use raises `StateError`. Closing twice is harmless."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                raise StateError(f"{self.name} is closed")
            yield self._conn

    def _synchronous(self, conn: sqlite3.Connection, *, full: bool) -> None:
        """Durability for the next write: a connection-level pragma, switched only on change."""
        if self._full_sync != full:
            conn.execute("PRAGMA synchronous = FULL" if full else "PRAGMA synchronous = NORMAL")
            self._full_sync = full
