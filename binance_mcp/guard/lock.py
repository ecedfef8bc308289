"""The lock dispatch holds: one call at a time per account changes it, across every process.

Two orders must not both pass a check meant for one (`max_open_orders`, the daily budget, a
reused client order id), whether they come from one process or from several sharing the state:
the lock is the store's (`binance_mcp.stores.account_lock`: a lock file per account for SQLite
state, a PostgreSQL advisory lock for PostgreSQL state). Whether a call must be decided again once
it holds the lock is not this module's guess: it is the account's epoch (`epoch.py`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from binance_mcp.stores.account_lock import AccountLock


class DispatchLock:
    """One account's store lock as dispatch takes it; `waiting` counts this process's calls that
    wait for it (what the operator sees as lock waits)."""

    def __init__(self, account: str, open_lock: Callable[[], AccountLock]) -> None:
        self._account = account
        self._open_lock = open_lock
        self.waiting = 0

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            self.waiting += 1
            try:
                await stack.enter_async_context(self._open_lock().held(self._account))
            finally:
                self.waiting -= 1
            yield
