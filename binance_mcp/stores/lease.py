"""Who owns a pending order record, and the lease that says the owner is still alive.

An order's `pending` audit record names its owner — host, process id and process start time, so a
recycled pid on another boot is a different owner — and a lease: a time until which the owner
vouches for the record. A live server renews its leases (`AuditLog.renew_lease`, every third of the
lease) while its orders are in flight; crash recovery in any process that shares the state takes
over only records whose lease ran out (`AuditLog.orphaned_pending`), so a second live replica never
marks a neighbour's in-flight order `unknown`.

The account lock is a lease too (`binance_mcp.stores.account_lease`), named by the same owner text
plus which lock object holds it. Recovery runs under that lock, so it looks a stalled holder's
record up only after the stalled holder's lock lease ran out; and whatever that holder sent carried
a `recvWindow` ending with its lock lease, so by then Binance has either taken the order or will
refuse it: the lookup's answer is final.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime
from typing import Protocol

import anyio
import anyio.to_thread

from binance_mcp.timestamps import utc_text

__all__ = ["DEFAULT_LEASE_S", "LeaseHolder", "keep_leases", "owner_is_gone", "process_owner"]

DEFAULT_LEASE_S = 30.0
"""Long enough to ride out a slow exchange call and a busy loop; short enough for a quick takeover."""

logger = logging.getLogger(__name__)

_STARTED = datetime.now(UTC)  # when this module was first imported: the server's start, near enough


def process_owner() -> str:
    """`host/pid/start time` of this process: the owner written on its pending records."""
    return f"{socket.gethostname()}/{os.getpid()}/{utc_text(_STARTED)}"


def owner_is_gone(owner: str) -> bool:
    """True when `owner` is a process of this host that no longer runs: its records need not wait
    for the lease to run out (a server restarted after a crash recovers at once). An owner on
    another host, or a pid that runs again, is gone only when its lease runs out."""
    host, _, rest = owner.partition("/")
    pid_text, _, _started = rest.partition("/")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists, owned by someone else
        return False
    return False


class LeaseHolder(Protocol):
    lease_s: float

    def renew_lease(self, now: datetime | None = None) -> int: ...


async def keep_leases(store: LeaseHolder, *, every_s: float | None = None) -> None:
    """Renew `store`'s leases every third of the lease, until cancelled (run it in the server's
    task group). A failed renewal is logged and tried again next time; the lease covers the gap."""
    interval = every_s if every_s is not None else store.lease_s / 3
    while True:
        await anyio.sleep(interval)
        try:
            await anyio.to_thread.run_sync(store.renew_lease)
        except Exception:
            logger.exception("could not renew the leases of pending orders")
