"""Where binance-mcp keeps its state, and the one way every SQLite store opens its database.

The audit log, approvals, budgets, tokens and shared rate-limit counts live in the state dir, one
SQLite file each, unless `--state-url` puts them in PostgreSQL (`binance_mcp.stores`). Every
store runs on `binance_mcp.stores.sqlite.SqliteDatabase`, which opens its file with what is here:

- `resolve_state_dir`: `--state-dir`, else `BINANCE_MCP_STATE_DIR`, else the platform's user
  state dir; created private (0o700).
- `connect`: WAL (a reader in another process, such as the CLI, never waits for the server's
  writer), `synchronous=FULL` (a commit is on disk before it returns: money depends on it),
  `busy_timeout` 5000 ms, and autocommit mode (`isolation_level=None`) so that every transaction
  is explicit: `write_transaction` runs `BEGIN IMMEDIATE` … `COMMIT`, taking the write lock at
  the start rather than failing half-way through on a lock upgrade.
- `migrate`: schema versions kept in SQLite's `user_version` pragma, applied in order, once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3

ENV_STATE_DIR = "BINANCE_MCP_STATE_DIR"
APP_NAME = "binance-mcp"
BUSY_TIMEOUT_MS = 5000


class StateError(Exception):
    """The state dir or a state database cannot be used; the message says why, in one line."""


def resolve_state_dir(explicit: str | Path | None, *, create: bool = True) -> Path:
    """The state dir: `explicit` (the `--state-dir` flag) wins, then `BINANCE_MCP_STATE_DIR`,
    else `platformdirs.user_state_dir("binance-mcp")`. An empty value counts as not given.

    With `create` (the default) a missing dir is made with mode 0o700; an existing one is left
    as it is. Readers such as `binance-mcp audit` pass `create=False` so that looking creates
    nothing. Raises `StateError` when the dir cannot be made or is not a directory.
    """
    if explicit is not None and str(explicit) != "":
        path = Path(explicit).expanduser()
    elif os.environ.get(ENV_STATE_DIR):
        path = Path(os.environ[ENV_STATE_DIR]).expanduser()
    else:
        import platformdirs  # only here: the server starts without it when a state dir is given

        path = Path(platformdirs.user_state_dir(APP_NAME))
    if not create:
        return path
    if path.is_dir():
        return path
    try:
        path.mkdir(mode=0o700, parents=True)
        path.chmod(0o700)  # mkdir's mode is filtered by the umask
    except FileExistsError:
        if not path.is_dir():
            raise StateError(f"state dir {path} exists and is not a directory") from None
    except OSError as exc:
        raise StateError(f"cannot create state dir {path}: {exc.strerror or exc}") from None
    return path


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
            for statement in _statements(migrations[current]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {current + 1}")


def _statements(script: str) -> list[str]:
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
