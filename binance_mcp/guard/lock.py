"""The account lock: the checks that depend on the account and the dispatch run under it.

Two orders must not both pass a check meant for one (`max_open_orders`, the daily budget, a
reused client order id), whether they come from one process or from several sharing the state:
the lock is the store's (`binance_mcp.stores.account_lock`: a lock file per account for SQLite
state, a PostgreSQL advisory lock for PostgreSQL state). `held()` says whether the caller had to
wait for it, since a call that waited is decided again with what is true now.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

WAITED_S = 0.002
"""Longer than taking a free lock (a lock file or an advisory lock) takes: the lock was held."""


class AccountLock:
    """One account's lock, across every process that shares the state."""

    def __init__(self, account: str, open_lock: Callable[[], Any]) -> None:
        self._account = account
        self._open_lock = open_lock
        self._holders = 0

    @asynccontextmanager
    async def held(self) -> AsyncIterator[bool]:
        """Hold the lock; yields True when this call had to wait for it."""
        busy_here = self._holders > 0
        self._holders += 1
        try:
            started = time.perf_counter()
            async with self._open_lock().held(self._account):
                yield busy_here or time.perf_counter() - started > WAITED_S
        finally:
            self._holders -= 1
