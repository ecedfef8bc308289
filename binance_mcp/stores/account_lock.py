"""One lock per account, honoured by every process that shares the state.

The checks that depend on the account (a reused client order id, `max_open_orders`, the budget)
and the order's dispatch must run one at a time per account — not per process: four servers on one
state dir each holding an in-process lock placed three orders under one client order id. So:

- `FileAccountLock` (SQLite state, the state dir): an `fcntl.flock` on `locks/<account>.lock` in the
  state dir. The kernel releases it when the holder dies, so a crash never leaves it held. It is
  taken in a worker thread (the event loop never blocks on another process), behind an in-process
  `anyio.Lock` per account, so the tasks of one process queue fairly (FIFO) and only one thread per
  process waits on the file. A cancelled wait gives the lock back as soon as its thread gets it.
- `PostgresAccountLock` (PostgreSQL state): `pg_advisory_lock` on a connection kept for that
  account; the server releases it if the connection drops.

Both are used the same way: `async with lock.held(account): ...`.
"""

from __future__ import annotations

import contextlib
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


class _Attempt:
    """One wait for a lock file, shared by the waiting task and its worker thread: a waiter
    cancelled while the thread still blocks marks it abandoned, and the thread, once it gets the
    lock, lets go of it at once."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.guard = threading.Lock()
        self.abandoned = False
        self.taken = False

    def take(self) -> None:
        import fcntl

        fcntl.flock(self.fd, fcntl.LOCK_EX)
        with self.guard:
            if self.abandoned:
                self._let_go()
            else:
                self.taken = True

    def abandon(self) -> None:
        with self.guard:
            self.abandoned = True
            if self.taken:
                self._let_go()

    def _let_go(self) -> None:
        import fcntl

        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


class FileAccountLock:
    """`fcntl.flock` on a file per account under `state_dir/locks` (created 0o700).

    Each wait opens the file anew (a lock belongs to an open file, so an abandoned wait can never
    hand its lock to the next one); waiting may be cancelled (`anyio.move_on_after`) without ever
    leaving the lock held.
    """

    def __init__(self, state_dir: Path) -> None:
        self.directory = Path(state_dir) / "locks"
        self._queues = _Queues()

    def path_for(self, account: str) -> Path:
        """The lock file of `account` (its text made safe for a file name)."""
        return self.directory / f"{_SAFE.sub('_', account)}.lock"

    @asynccontextmanager
    async def held(self, account: str) -> AsyncIterator[None]:
        import fcntl

        async with self._queues.of(account):
            attempt = _Attempt(self._open(account))
            try:
                await anyio.to_thread.run_sync(attempt.take, abandon_on_cancel=True)
            except BaseException:
                attempt.abandon()
                raise
            try:
                yield
            finally:
                fcntl.flock(attempt.fd, fcntl.LOCK_UN)
                os.close(attempt.fd)

    def close(self) -> None:
        """Nothing stays open between uses."""

    def _open(self, account: str) -> int:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        return os.open(self.path_for(account), os.O_RDWR | os.O_CREAT, 0o600)


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
            conn = await anyio.to_thread.run_sync(self._connection, account)
            state = {"abandoned": False, "taken": False}
            guard = threading.Lock()

            def take() -> None:
                try:
                    conn.execute("SELECT pg_advisory_lock(%s)", (key,))
                except Exception:
                    with guard:
                        if state["abandoned"]:
                            conn.close()
                            return
                    raise
                with guard:
                    if state["abandoned"]:
                        conn.close()  # its session ends, and the lock it just got with it
                    else:
                        state["taken"] = True

            try:
                await anyio.to_thread.run_sync(take, abandon_on_cancel=True)
            except BaseException:
                with guard:
                    state["abandoned"] = True
                    taken = state["taken"]
                if taken:
                    await anyio.to_thread.run_sync(self._unlock, account, key)
                else:
                    # The wait was given up: that connection is never used again (the next caller
                    # opens its own), and the server is told to stop waiting. A cancel that arrives
                    # late can then only reach the abandoned session, never an unlock or another
                    # caller's wait; the session's close releases whatever it took meanwhile.
                    self._forget(account, conn)
                    with contextlib.suppress(Exception):
                        conn.cancel()
                raise
            try:
                yield
            finally:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(self._unlock, account, key)

    def close(self) -> None:
        with self._guard:
            for conn in self._connections.values():
                conn.close()
            self._connections.clear()

    def _forget(self, account: str, conn: Any) -> None:
        with self._guard:
            if self._connections.get(account) is conn:
                del self._connections[account]

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
