"""PostgreSQL for shared state: the same database interface as `SqliteDatabase`, on a pool.

Several replicas of the server (and the CLI) share one PostgreSQL database: `--state-url
postgresql://…`. Each store keeps its tables there exactly as it does in its SQLite file, written
against the interface of `binance_mcp.stores.sqlite` (SQL with `?` placeholders, translated here to
psycopg's `%s`). The differences are handled here, once:

- connections come from one `psycopg_pool.ConnectionPool` per process, in autocommit mode; a
  `writing()` block is one transaction; each connection is checked before it is handed out
  (`check_connection`), so the connections a PostgreSQL restart left dead are replaced rather
  than fail the first calls after it (`connection_lost` says which errors are such a loss);
- SQLite's `BEGIN IMMEDIATE` (one writer at a time) becomes `pg_advisory_xact_lock` on the key a
  store names (`serialise=`): a budget check-and-reserve holds it per account and asset;
- `durable=False` is `SET LOCAL synchronous_commit = off` (committed, fsynced a moment later);
- schema versions are kept per store in `binance_mcp_schema`, each step applied once, in one
  transaction, under an advisory lock (two replicas starting at once migrate once).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from binance_mcp.state_dir import StateError
from binance_mcp.stores.sqlite import Cursor, Migrations, Rows, Session, StoreConflict
from binance_mcp.url_secrets import shown_url

logger = logging.getLogger(__name__)
T = TypeVar("T")

QUICK_FAILURE_S = 1.0
"""A lost connection reported faster than this was a dead pooled connection, worth one more try."""

__all__ = ["PostgresDatabase", "connection_lost", "open_pool", "safe_url"]

_SCHEMA_TABLE = """
CREATE TABLE IF NOT EXISTS binance_mcp_schema (
    component TEXT PRIMARY KEY,
    version INTEGER NOT NULL
)
"""
_translations: dict[str, str] = {}


def _sql(sql: str) -> str:
    """`?` placeholders as psycopg's `%s` (and a literal `%` escaped), cached."""
    translated = _translations.get(sql)
    if translated is None:
        translated = _translations[sql] = sql.replace("%", "%%").replace("?", "%s")
    return translated


def lock_key(text: str) -> int:
    """A signed 64-bit advisory-lock key for `text`."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


def safe_url(url: str) -> str:
    """The URL without its password (in its userinfo or its query), for messages."""
    return shown_url(url)


class _PgSession:
    __slots__ = ("_conn",)

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        import psycopg.errors

        try:
            return self._conn.execute(_sql(sql), tuple(params))
        except psycopg.errors.UniqueViolation as exc:
            raise StoreConflict(str(exc).splitlines()[0]) from None


def connect_hint(reason: str) -> str:
    """What to do next for the usual connection failures (none for the others)."""
    text = reason.lower()
    if "no password supplied" in text or "password authentication failed" in text:
        return (
            " — give the password: export PGPASSWORD=…, or a line in ~/.pgpass "
            "(host:port:database:user:password, mode 600), or the full URL postgresql://USER:PASSWORD@HOST/DB"
        )
    if "does not exist" in text and "database" in text:
        return " — create it first (createdb NAME, or CREATE DATABASE NAME; as its owner), or fix the URL's database name"
    if "connection refused" in text:
        return " — is PostgreSQL running on that host and port (pg_isready -h HOST -p PORT)?"
    return ""


def once_more_if_dropped(what: str, fn: Callable[[], T]) -> T:
    """`fn()`, made once more when it failed at once on a lost connection: a pooled connection
    PostgreSQL closed (restarted, its backend ended) fails at once, and the pool replaces it. A
    slow failure (no connection within the pool's timeout: the store is away, and a second wait
    would only double it), any other error, and a second failure are raised as they are."""
    started = time.monotonic()
    try:
        return fn()
    except Exception as exc:
        if time.monotonic() - started > QUICK_FAILURE_S or not connection_lost(exc):
            raise
        logger.warning("%s failed on a lost connection (%s); trying once more", what, exc)
    return fn()


def connection_lost(exc: BaseException) -> bool:
    """Whether `exc` says PostgreSQL cannot be reached: a refused or lost connection, a server
    shutting down or starting, a pool that found no connection in time (not a constraint, a
    syntax error or a serialisation failure, which a working server raised)."""
    psycopg = sys.modules.get("psycopg")
    if psycopg is None:
        return False
    if isinstance(exc, psycopg.InterfaceError):
        return True  # "the connection is closed"
    if isinstance(exc, psycopg.OperationalError):
        state = getattr(exc, "sqlstate", None)
        # no SQLSTATE: the client lost (or never had) the connection; 08: connection exception;
        # 57P: admin or crash shutdown, cannot connect now (starting up)
        return state is None or state.startswith(("08", "57P"))
    return False


def open_pool(url: str, *, max_size: int = 20, timeout: float = 10.0) -> Any:
    """A connection pool on `url` (autocommit connections), checked by connecting once.
    Raises `StateError` saying what is wrong, without the password."""
    import psycopg
    from psycopg_pool import ConnectionPool, PoolTimeout

    try:  # once, directly: a clear one-line error instead of the pool's retries in the log
        psycopg.connect(url, connect_timeout=max(1, int(timeout))).close()
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[-1 if "failed:" not in str(exc) else 0]
        raise StateError(
            f"cannot connect to PostgreSQL at {safe_url(url)}: {reason.strip()}{connect_hint(reason)}"
        ) from None
    pool = ConnectionPool(
        url,
        min_size=1,
        max_size=max_size,
        kwargs={"autocommit": True},
        open=False,
        timeout=timeout,
        check=ConnectionPool.check_connection,  # one round trip: no dead connection after a restart
    )
    try:
        pool.open(wait=True, timeout=timeout)
    except PoolTimeout:
        pool.close()
        raise StateError(
            f"cannot connect to PostgreSQL at {safe_url(url)} within {timeout:g} s: is it running, and the URL right?"
        ) from None
    return pool


class PostgresDatabase:
    """One store's tables in PostgreSQL, on a shared pool; migrated on construction."""

    dialect = "postgresql"

    def __init__(self, pool: Any, migrations: Migrations, *, name: str) -> None:
        self.pool = pool
        self.name = name
        self._versions = itertools.count()
        self._migrate(migrations["postgresql"])

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self.pool.connection() as conn:
            yield _PgSession(conn)

    @contextmanager
    def writing(self, *, durable: bool = True, serialise: str | None = None) -> Iterator[Session]:
        with self.pool.connection() as conn, conn.transaction():
            if not durable:
                conn.execute("SET LOCAL synchronous_commit = off")
            if serialise is not None:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(serialise),))
            yield _PgSession(conn)

    def statement(self, sql: str, params: Sequence[Any] = (), *, durable: bool = True) -> Cursor:
        with self.writing(durable=durable) as session:
            cursor: Any = session.execute(sql, params)
            rows = cursor.fetchall() if cursor.description is not None else []
            return Rows(rows, cursor.rowcount)

    def data_version(self) -> int:
        """Never the same twice: PostgreSQL has no cheap "did anyone commit" (read again each time)."""
        return next(self._versions)

    def close(self) -> None:
        """The pool is the `Stores`' to close; a store's close leaves it open."""

    def _migrate(self, steps: Sequence[str]) -> None:
        from binance_mcp.stores.sqlite import split_statements

        target = len(steps)
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("binance-mcp schema"),))
            conn.execute(_SCHEMA_TABLE)
            row = conn.execute(
                "SELECT version FROM binance_mcp_schema WHERE component = %s", (self.name,)
            ).fetchone()
            current = int(row[0]) if row else 0
            if current > target:
                raise StateError(
                    f"{self.name} in PostgreSQL has schema version {current}; this binance-mcp knows up to {target}: upgrade it"
                )
            for version in range(current, target):
                for statement in split_statements(steps[version]):
                    conn.execute(statement)
            conn.execute(
                "INSERT INTO binance_mcp_schema (component, version) VALUES (%s, %s)"
                " ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version",
                (self.name, target),
            )
