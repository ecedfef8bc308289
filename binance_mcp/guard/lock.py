"""The lock dispatch holds: one call at a time per account changes it, across every process.

Two orders must not both pass a check meant for one (`max_open_orders`, the daily budget, a
reused client order id), whether they come from one process or from several sharing the state:
the lock is the store's lease (`binance_mcp.stores.account_lease`: a row per account in the state's
SQLite or PostgreSQL). Here it becomes what the agent reads: a wait longer than the lock wait
(`--lock-wait`) is `account_busy`, naming the holder and when to try again, with nothing sent; a
lease lost before the send (the process was paused past it) is `account_busy` too. `fence` proves
the lease just before each request that changes the account leaves (`exchange.client.SendWindow`).
Whether a call must be decided again once it holds the lock is not this module's guess: it is the
account's epoch (`epoch.py`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

from binance_mcp.refusals import Refusal, RefusalKind
from binance_mcp.stores.account_lease import DEFAULT_WAIT_S, AccountBusy, Lease, LeaseLost

if TYPE_CHECKING:
    from binance_mcp.stores.account_lease import AccountLock

logger = logging.getLogger(__name__)

STORE_RETRY_S = 5.0
"""What a refusal for an unreachable lock store suggests waiting."""


class DispatchLock:
    """One account's store lock as dispatch takes it; `waiting` counts this process's calls that
    wait for it (what the operator sees as lock waits)."""

    def __init__(
        self, account: str, open_lock: Callable[[], AccountLock], *, wait_s: float = DEFAULT_WAIT_S
    ) -> None:
        self._account = account
        self._open_lock = open_lock
        self.wait_s = wait_s
        self.waiting = 0

    @asynccontextmanager
    async def held(self) -> AsyncIterator[HeldLock]:
        async with AsyncExitStack() as stack:
            self.waiting += 1
            try:
                lock = self._open_lock()
                lease = await stack.enter_async_context(lock.held(self._account, self.wait_s))
            except AccountBusy as busy:
                raise busy_refusal(busy) from None
            except Refusal:
                raise
            except Exception as exc:
                logger.warning("could not take the account lock of %s: %s", self._account, exc)
                raise Refusal(
                    RefusalKind.STORE_UNAVAILABLE,
                    "the account lock could not be taken: the state store is unreachable "
                    f"({exc.__class__.__name__}); nothing was sent, call again once it is back",
                    retry_after_s=STORE_RETRY_S,
                    store=store_name(self._open_lock),
                ) from None
            finally:
                self.waiting -= 1
            yield HeldLock(lock, lease)


class HeldLock:
    """The lease a call holds, and the proof that it still does (`fence`)."""

    def __init__(self, lock: AccountLock, lease: Lease) -> None:
        self._lock = lock
        self.lease = lease

    @property
    def generation(self) -> int:
        return self.lease.generation

    @property
    def holder(self) -> str:
        return self.lease.holder

    async def fence(self) -> float:
        """Prove against the store that this call still holds the account's lock (and extend it);
        returns until when it is sure to (`time.monotonic()`). Raises `account_busy` when it lost it:
        nothing may be sent."""
        try:
            lease = await self._lock.fence(self.lease)
        except LeaseLost as lost:
            taken = f" and {lost.holder} holds it now" if lost.holder else ""
            raise Refusal(
                RefusalKind.ACCOUNT_BUSY,
                f"this server's hold on the account lock ran out before the request could be sent (the process "
                f"was stalled past its {self.lease.lease_s:g} s lease{taken}); nothing was sent: call again",
                retry_after_s=1.0,
                holder=lost.holder or None,
            ) from None
        except Exception as exc:
            raise Refusal(
                RefusalKind.STORE_UNAVAILABLE,
                "the account lock could not be checked before the send: the state store is unreachable "
                f"({exc.__class__.__name__}); nothing was sent, call again once it is back",
                retry_after_s=STORE_RETRY_S,
                store=getattr(self._lock, "store_name", "state"),
            ) from None
        return lease.sure_until


def store_name(open_lock: Callable[[], AccountLock]) -> str:
    """The store the lock lives in, as a refusal names it (`PostgreSQL`, `SQLite state`)."""
    try:
        return str(getattr(open_lock(), "store_name", "state"))
    except Exception:
        return "state"


def busy_refusal(busy: AccountBusy) -> Refusal:
    """`account_busy`: who holds the lock, how long this call waited, when to try again."""
    retry = max(1.0, math.ceil(min(busy.lease_left_s, busy.waited_s or busy.lease_left_s) or 1.0))
    return Refusal(
        RefusalKind.ACCOUNT_BUSY,
        f"another call holds this account's lock (server process {busy.holder}) and did not let go within "
        f"{busy.waited_s:g} s (the lock wait, --lock-wait); its lease runs {busy.lease_left_s:.1f} s more "
        "unless renewed. Nothing was sent: call again later",
        retry_after_s=retry,
        holder=busy.holder,
    )
