"""The one SQLite store base: connection, lock, WAL, migrations and close, for every store.

The audit log, budgets, approvals, tokens and the shared rate-limit counters each keep one
database in the state dir. What they share lives here, once: `SqliteDatabase` opens the file the
way `binance_mcp.state.connect` says (WAL, `synchronous=FULL`, a busy timeout, explicit
transactions), brings its schema up to date with `migrate`, and hands its single connection out
under one thread lock — `reading()` for queries, `writing()` for a `BEGIN IMMEDIATE` transaction,
`statement()` for one atomic autocommitted write. `close()` is idempotent; use after it raises
`StateError`.

`binance_mcp.stores.postgres.PostgresDatabase` has the same methods, so a store written against
this interface runs unchanged on either (SQL is written with `?` placeholders; the PostgreSQL side
translates them). Each store gives its schema per dialect: `{"sqlite": (...), "postgresql": (...)}`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from binance_mcp.state import StateError, connect, migrate, write_transaction

if TYPE_CHECKING:
    import sqlite3

__all__ = ["Cursor", "Database", "Migrations", "Rows", "Session", "SqliteDatabase", "StoreConflict"]

Migrations = Mapping[str, Sequence[str]]
"""Schema steps per dialect (`"sqlite"`, `"postgresql"`): step N is the script `steps[N - 1]`."""


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
