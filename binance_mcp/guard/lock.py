"""The account lock: the checks that depend on the account and the dispatch run under it.

Two orders must not both pass a check meant for one (`max_open_orders`, the daily budget, a
reused client order id). `held()` says whether the caller had to wait for it, since a call that
waited is decided again with what is true now.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio


class AccountLock:
    """One account's lock within this process."""

    def __init__(self) -> None:
        self._lock = anyio.Lock()

    @asynccontextmanager
    async def held(self) -> AsyncIterator[bool]:
        """Hold the lock; yields True when another call held it first (this one waited)."""
        waited = self._lock.locked()
        async with self._lock:
            yield waited
