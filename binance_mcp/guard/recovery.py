"""Crash recovery: complete the `pending` audit records a dead process left behind, from the exchange.

README *Reliability*: an order's intent is committed as a `pending` audit record before it
leaves, and gets its outcome afterwards. A server killed in between leaves the record pending.
Before an order leaves (the guard awaits `PendingRecovery` under the account lock), each pending
record of this account that is orphaned is looked up on the exchange by its client id, as a tool
looks an order up after a lost answer (`exchange.order_kinds`), and finished: `ok` with the order
id when the order (or list) there is the one sent, `unknown` when Binance does not know it or has
another one under that id; a cancel's record by the status of the order (or list) it named. Records of another account (another
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
from typing import TYPE_CHECKING, NamedTuple

import anyio.to_thread

from binance_mcp.timestamps import utc_now_text

if TYPE_CHECKING:
    from binance_mcp.exchange.client import ExchangeClient
    from binance_mcp.stores.audit import AuditLog, AuditRecord

logger = logging.getLogger(__name__)

RECHECK_S = 1.0
"""After a pass that left nothing pending, the next order skips recovery for this long."""


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
        audit.finish(
            record.id,
            outcome=verdict.outcome,
            reason=verdict.reason,
            order_id=verdict.order_id,
            result={"recovered": True},  # completed by crash recovery, by the replica this record names
        )

    async def _look_up(self, record: AuditRecord) -> _Verdict:
        """The record's order or list (or what its cancel named) looked up by its id, and judged,
        the way a tool does after a lost answer (`binance_mcp.exchange.order_kinds`)."""
        from binance_mcp.exchange.order_kinds import LIST, SINGLE, Ref, kind_of
        from binance_mcp.tools import SPECS

        stopped = _why_taken_over(record)
        spec = SPECS.get(record.tool)
        cancels = {
            "cancel_order": (SINGLE, "client_order_id", "order_id"),
            "cancel_order_list": (LIST, "list_client_order_id", "order_list_id"),
        }
        if spec is not None and not spec.changes_account:
            return _Verdict("unknown", f"{stopped}; a read changes nothing on the account")
        if spec is None or (spec.order is None and record.tool not in cancels):
            reason = f"{stopped}; its outcome cannot be looked up: check the account on Binance"
            return _Verdict("unknown", reason)
        try:
            arguments = record.arguments or {}
            if record.tool == "place_order_list":  # a record written before legs reads as today's
                from binance_mcp.tools.order_list_inputs import from_flat

                arguments = from_flat(arguments)
            args = spec.input_model.model_validate(arguments)
        except ValueError:
            return _Verdict("unknown", f"{stopped} and the record's arguments could not be read back")
        order = spec.order(args) if spec.order is not None else None
        if order is not None:
            kind, ref = kind_of(order), Ref(order.symbol, record.client_order_id or order.client_order_id)
        else:
            kind, client_field, id_field = cancels[record.tool]
            ids = (getattr(args, client_field), getattr(args, id_field))
            ref = Ref(getattr(args, "symbol", ""), *ids)
        if ref.client_id is None and ref.exchange_id is None:
            return _Verdict("unknown", f"{stopped} and the {kind.noun} has no id to look up")
        lookup = await kind.look_up(self._exchange, ref, tries=2)
        found, what = lookup.order, f"{kind.noun} {ref}"
        if found is None and not lookup.missing:
            return _Verdict(None, f"could not look {what} up: {lookup.detail}")
        if found is None:
            reason = f"{stopped}; Binance does not know {what} on {ref.symbol}: most likely it never arrived, check it on Binance"
            return _Verdict("unknown", reason)
        status, order_id = kind.status(found), found.get("orderId")
        if order is None:  # a cancel: long after the crash, one that arrived is done by now
            if kind.cancelled(found):
                return _Verdict("ok", f"completed by recovery: {what} is {status} on Binance", order_id)
            reason = f"completed by recovery: {what} is {status} on Binance, so the cancel did not happen"
            return _Verdict("error", reason, order_id)
        different = kind.difference(order, found, _not_before_ms(record, self._exchange))
        if different is not None:
            reason = f"{stopped}; Binance has an {kind.noun} with {kind.id_name} {ref}, but not this one ({different}): check the account on Binance"
            return _Verdict("unknown", reason)
        reason = f"completed by recovery: {what} found on Binance by its {kind.id_name} (status {status})"
        return _Verdict("ok", reason, order_id)


def _why_taken_over(record: AuditRecord) -> str:
    """Why this process completes another's record, as far as it knows: a process of this host
    that no longer runs stopped; any other owner only stopped renewing its lease (it may be
    paused, cut off from the state store, or on a host that went down): saying it restarted
    would be a guess."""
    from binance_mcp.stores.lease import owner_is_gone

    owner = record.replica
    call = f"this {record.tool} call"
    if owner is None:
        return f"the server that sent {call} stopped before its outcome was written"
    if owner_is_gone(owner):
        return f"the server that sent {call} ({owner}) stopped before its outcome was written"
    return (
        f"the server that sent {call} ({owner}) stopped renewing its lease before its outcome was "
        "written (it may be paused, cut off from the state store, or gone)"
    )


def _not_before_ms(record: AuditRecord, exchange: ExchangeClient) -> int:
    """The earliest time (Binance's clock) an order sent after this record was written can carry."""
    from datetime import datetime

    from binance_mcp.exchange.order_kinds import CLOCK_ALLOWANCE_MS

    written = datetime.fromisoformat(record.time.replace("Z", "+00:00")).timestamp()
    return int(written * 1000) + exchange.timestamp_offset_ms - CLOCK_ALLOWANCE_MS
