"""One lock per account, honoured by every process that shares the state.

The checks that depend on the account (a reused client order id, `max_open_orders`, the budget)
and the order's dispatch must run one at a time per account — not per process: four servers on one
state dir each holding an in-process lock placed three orders under one client order id. So:

- `FileAccountLock` (SQLite state, the state dir): an `fcntl.flock` on `locks/<account>.lock` in the
  state dir. The kernel releases it when the holder dies, so a crash never leaves it held. It is
  taken in a worker thread (the event loop never blocks on another process), behind an in-process
  `anyio.Lock` per account, so the tasks of one process queue fairly and only one thread per process
  waits on the file.
- `PostgresAccountLock` (PostgreSQL state): `pg_advisory_lock` on a connection kept for that
  account; the server releases it if the connection drops.

Both are used the same way: `async with lock.held(account): ...`.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import anyio
import anyio.to_thread

__all__ = ["AccountLock", "FileAccountLock", "PostgresAccountLock", "advisory_key"]

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class AccountLock(Protocol):
    def held(self, account: str) -> AbstractAsyncContextManager[None]: ...

    def close(self) -> None: ...


class _Queues:
    """An `anyio.Lock` per account (fair: FIFO), made on first use."""

    def __init__(self) -> None:
        self._locks: dict[str, anyio.Lock] = {}

    def of(self, account: str) -> anyio.Lock:
        lock = self._locks.get(account)
        if lock is None:
            lock = self._locks[account] = anyio.Lock()
        return lock


class FileAccountLock:
    """`fcntl.flock` on a file per account under `state_dir/locks` (created 0o700)."""

    def __init__(self, state_dir: Path) -> None:
        self.directory = Path(state_dir) / "locks"
        self._queues = _Queues()
        self._files: dict[str, int] = {}
        self._guard = threading.Lock()

    def path_for(self, account: str) -> Path:
        """The lock file of `account` (its text made safe for a file name)."""
        return self.directory / f"{_SAFE.sub('_', account)}.lock"

    @asynccontextmanager
    async def held(self, account: str) -> AsyncIterator[None]:
        import fcntl

        async with self._queues.of(account):
            fd = self._fd(account)
            try:
                # Shielded: a cancelled waiter still takes the lock, and gives it back below.
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(fcntl.flock, fd, fcntl.LOCK_EX)
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._guard:
            for fd in self._files.values():
                os.close(fd)
            self._files.clear()

    def _fd(self, account: str) -> int:
        with self._guard:
            fd = self._files.get(account)
            if fd is None:
                self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
                fd = os.open(self.path_for(account), os.O_RDWR | os.O_CREAT, 0o600)
                self._files[account] = fd
            return fd


def advisory_key(account: str) -> int:
    """A signed 64-bit key for `pg_advisory_lock`, from the account text."""
    digest = hashlib.sha256(b"binance-mcp account lock:" + account.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresAccountLock:
    """`pg_advisory_lock` per account, each account on a connection of its own (opened on first
    use from `conninfo`, kept open), behind an in-process lock per account."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._queues = _Queues()
        self._connections: dict[str, Any] = {}
        self._guard = threading.Lock()

    @asynccontextmanager
    async def held(self, account: str) -> AsyncIterator[None]:
        key = advisory_key(account)
        async with self._queues.of(account):
            locked = False
            try:
                with anyio.CancelScope(shield=True):  # a cancelled waiter still locks, then unlocks below
                    conn = await anyio.to_thread.run_sync(self._connection, account)
                    await anyio.to_thread.run_sync(
                        lambda: conn.execute("SELECT pg_advisory_lock(%s)", (key,))
                    )
                    locked = True
                yield
            finally:
                if locked:
                    with anyio.CancelScope(shield=True):
                        await anyio.to_thread.run_sync(self._unlock, account, key)

    def close(self) -> None:
        with self._guard:
            for conn in self._connections.values():
                conn.close()
            self._connections.clear()

    def _connection(self, account: str) -> Any:
        import psycopg

        with self._guard:
            conn = self._connections.get(account)
            if conn is None or conn.closed:
                conn = self._connections[account] = psycopg.connect(self._conninfo, autocommit=True)
            return conn

    def _unlock(self, account: str, key: int) -> None:
        conn = self._connections.get(account)
        if conn is None:
            return
        try:
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        except Exception:
            # The session is gone (and with it the lock); the next use opens a new one.
            with self._guard:
                self._connections.pop(account, None)
            raise
