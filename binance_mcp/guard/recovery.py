"""Crash recovery: complete the `pending` audit records a dead process left behind, from the exchange.

README *Reliability*: an order's intent is committed as a `pending` audit record before it
leaves, and gets its outcome afterwards. A server killed in between leaves the record pending.
Before an order leaves (the guard awaits `PendingRecovery` under the account lock), each pending
record of this account that is orphaned is looked up on the exchange by its client order id and
finished: `ok` with the order id when the order there is the order sent, `unknown` when Binance
does not know it or has another order under that id. Records of another account (another
network, another key) are never looked up here. Records whose lookup failed (Binance unreachable,
a ban) stay pending and are tried again before the next order.

Orphaned means: its owner (host, process, start) is not this process, and either that process is
gone (same host, pid not running) or its lease ran out (`stores.lease`): a live neighbour sharing
the state renews its leases, so its orders in flight are never taken over. Since a neighbour can
die at any time, recovery looks again before an order at most every `RECHECK_S`.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import anyio.to_thread

from binance_mcp.exchange.errors import ExchangeFailure
from binance_mcp.timestamps import utc_now_text

if TYPE_CHECKING:
    from binance_mcp.exchange.client import ExchangeClient
    from binance_mcp.stores.audit import AuditLog, AuditRecord

logger = logging.getLogger(__name__)

RECHECK_S = 1.0
"""After a pass that left nothing pending, the next order skips recovery for this long."""

PLACE_ORDER = "place_order"
CANCEL_ORDER = "cancel_order"


class RecoveryReport:
    """What one recovery pass did: audit record ids by the outcome they were given."""

    def __init__(self) -> None:
        self.ok: list[int] = []
        self.error: list[int] = []
        self.unknown: list[int] = []
        self.still_pending: list[int] = []

    @property
    def completed(self) -> int:
        return len(self.ok) + len(self.error) + len(self.unknown)


class _Verdict(NamedTuple):
    outcome: str | None  # None: leave it pending, try again later
    reason: str
    order_id: int | None = None


class PendingRecovery:
    """Awaitable hook: finishes the pending records of earlier runs, then costs nothing.

    `audit` opens (or returns) the audit store; it is called only when a recovery runs.
    """

    def __init__(
        self,
        audit: Callable[[], AuditLog],
        exchange: ExchangeClient,
        network: str,
        *,
        account: str,
        started: str | None = None,
    ) -> None:
        self._audit = audit
        self._exchange = exchange
        self._network = str(network)
        self._account = account
        self._started = started or utc_now_text()
        self._quiet_until = 0.0
        self.reports: list[RecoveryReport] = []

    async def __call__(self) -> RecoveryReport | None:
        if time.monotonic() < self._quiet_until:
            return None
        try:
            report = await self.recover()
        except Exception:  # never stop an order because the previous run's records could not be read
            logger.exception("crash recovery failed; it will be tried again before the next order")
            return None
        self.reports.append(report)
        if not report.still_pending:
            # Nothing left for now; but a neighbour sharing the state may die later, so look again
            # (one indexed query) before an order once this has passed.
            self._quiet_until = time.monotonic() + RECHECK_S
        return report

    async def recover(self) -> RecoveryReport:
        audit = self._audit()
        records = await anyio.to_thread.run_sync(audit.orphaned_pending, self._account)
        report = RecoveryReport()
        for record in records:
            if record.id is None:
                continue
            verdict = await self._look_up(record)
            if verdict.outcome is None:
                report.still_pending.append(record.id)
                logger.warning("audit record %d stays pending: %s", record.id, verdict.reason)
                continue
            try:
                await anyio.to_thread.run_sync(functools.partial(self._finish, audit, record, verdict))
            except (KeyError, ValueError) as exc:  # finished meanwhile (e.g. by another process)
                logger.info("audit record %d was not completed: %s", record.id, exc)
                continue
            getattr(report, verdict.outcome).append(record.id)
            logger.warning(
                "completed audit record %d (%s) left pending by an earlier run: %s — %s",
                record.id,
                record.tool,
                verdict.outcome,
                verdict.reason,
            )
        return report

    @staticmethod
    def _finish(audit: AuditLog, record: AuditRecord, verdict: _Verdict) -> None:
        assert record.id is not None and verdict.outcome is not None
        audit.finish(record.id, outcome=verdict.outcome, reason=verdict.reason, order_id=verdict.order_id)

    async def _look_up(self, record: AuditRecord) -> _Verdict:
        arguments: dict[str, Any] = record.arguments or {}
        symbol = arguments.get("symbol")
        if record.tool == "place_order_list" and isinstance(symbol, str):
            return await _look_up_order_list(self._exchange, record, symbol)
        if record.tool not in (PLACE_ORDER, CANCEL_ORDER) or not isinstance(symbol, str):
            return _Verdict(
                "unknown",
                f"the server stopped while this {record.tool} call was in flight; "
                "its outcome cannot be looked up: check the account on Binance",
            )
        client_order_id = record.client_order_id or arguments.get("client_order_id")
        order_id = arguments.get("order_id") if record.tool == CANCEL_ORDER else None
        if not client_order_id and order_id is None:
            return _Verdict("unknown", "the server stopped mid-call and the order has no id to look up")
        ident = client_order_id or str(order_id)
        try:
            lookup = await self._exchange.find_order(
                symbol, client_order_id=client_order_id, order_id=order_id, tries=2
            )
        except ExchangeFailure as exc:
            return _Verdict(None, f"could not look order {ident} up: {exc}")
        order = lookup.order
        if order is None:
            if not lookup.missing:
                return _Verdict(None, f"could not look order {ident} up: {lookup.detail}")
            return _Verdict(
                "unknown",
                f"the server stopped while this call was in flight; after the restart Binance does "
                f"not know order {ident} on {symbol}: most likely it never arrived, check it on Binance",
            )
        found_id = order.get("orderId")
        status = order.get("status")
        if record.tool == PLACE_ORDER:
            different = _not_the_order_sent(record, order)
            if different is not None:
                return _Verdict(
                    "unknown",
                    f"the server stopped while this order was in flight; after the restart Binance has an "
                    f"order with client order id {ident}, but not this one ({different}): check the "
                    "account on Binance",
                )
            return _Verdict(
                "ok",
                f"completed after a restart: order {ident} found on Binance by its client order id (status {status})",
                found_id,
            )
        if status == "CANCELED":
            return _Verdict(
                "ok", f"completed after a restart: order {ident} is CANCELED on Binance", found_id
            )
        return _Verdict(
            "error",
            f"completed after a restart: order {ident} is {status} on Binance, so the cancel did not happen",
            found_id,
        )


def _not_the_order_sent(record: AuditRecord, found: dict[str, Any]) -> str | None:
    """How the order found differs from the one the record says was sent (None: it is ours)."""
    from binance_mcp.orders import mismatch
    from binance_mcp.tools import SPECS

    spec = SPECS[record.tool]
    try:
        args = spec.input_model.model_validate(record.arguments or {})
    except ValueError:
        return "the record's arguments could not be read back"
    if spec.order is None:
        return None
    order = spec.order(args)
    return mismatch(order.legs[0], order.symbol, found)


async def _look_up_order_list(exchange: ExchangeClient, record: AuditRecord, symbol: str) -> _Verdict:
    """A place_order_list record: the list looked up by its list client order id, ours only if
    every leg sent is in it (by its client order id, with the same side, type, quantity, prices)."""
    from binance_mcp.tools import SPECS
    from binance_mcp.tools.order_list_inputs import PlaceOrderListInput, legs_of
    from binance_mcp.tools.order_list_match import list_mismatch, with_member_details

    spec = SPECS[record.tool]
    try:
        args = PlaceOrderListInput.model_validate(record.arguments or {})
    except ValueError:
        return _Verdict(
            "unknown", "the server stopped mid-call and the record's arguments could not be read back"
        )
    ident = record.client_order_id or args.list_client_order_id
    if not ident or spec.order is None:
        return _Verdict("unknown", "the server stopped mid-call and the order list has no id to look up")
    try:
        lookup = await exchange.find_order_list(symbol, ident, tries=2)
        found = None if lookup.order is None else await with_member_details(exchange, lookup.order)
    except ExchangeFailure as exc:
        return _Verdict(None, f"could not look order list {ident} up: {exc}")
    if found is None:
        if not lookup.missing:
            return _Verdict(None, f"could not look order list {ident} up: {lookup.detail}")
        return _Verdict(
            "unknown",
            f"the server stopped while this call was in flight; after the restart Binance does not know "
            f"order list {ident} on {symbol}: most likely it never arrived, check it on Binance",
        )
    different = list_mismatch(spec.order(args), legs_of(args), found)
    if different is not None:
        return _Verdict(
            "unknown",
            f"the server stopped while this order list was in flight; after the restart Binance has a list "
            f"with list client order id {ident}, but not this one ({different}): check the account on Binance",
        )
    return _Verdict(
        "ok",
        f"completed after a restart: order list {ident} (id {found.get('orderListId')}) found on Binance by "
        f"its list client order id ({found.get('listOrderStatus')})",
    )
