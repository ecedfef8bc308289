"""The last stage: one audit record per call, written by the one writer that owns the audit log.

Durability is decided here, once, per record kind:

- an order's or cancel's `pending` record is fsync'd before the request leaves (`write_durable`
  awaits it): crash recovery relies on it;
- every other record (the outcome of that order, reads, refusals) is handed to the writer and the
  result does not wait for it; the writer commits it within milliseconds, and `close()` (a clean
  exit, SIGTERM included) drains what is queued, so none is lost by a clean exit;
- a call cancelled before its answer (its client left, or the drain's grace ran out) gets a record
  of its own (`record_abandoned`), unless its `pending` record went out already: that one stands,
  and crash recovery completes it from the exchange.

Each call that ends is also counted (`services.counts`, what /metrics reports).

The writer itself (one thread that owns the audit connection) is `audit_writer.py`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from binance_mcp.guard.call import Ended, Parsed, Request, request_of
from binance_mcp.guard.endings import abandoned
from binance_mcp.stores.audit import AuditDecision, AuditRecord, Outcome
from binance_mcp.timestamps import utc_text

if TYPE_CHECKING:
    from binance_mcp.guard.call import Reached
    from binance_mcp.guard.caller import Caller
    from binance_mcp.guard.services import Services
    from binance_mcp.stores.audit import AuditRecord

logger = logging.getLogger(__name__)


class CallInFlight:
    """One call still running, as the record stage sees it: has its `pending` record gone out?"""

    def __init__(self) -> None:
        self.pending = False


_THIS_CALL: ContextVar[CallInFlight | None] = ContextVar("binance_mcp_call_in_flight", default=None)


@contextmanager
def call_in_flight() -> Iterator[CallInFlight]:
    """For the duration of one call (its task): whether a `pending` record of it was made."""
    call = CallInFlight()
    token = _THIS_CALL.set(call)
    try:
        yield call
    finally:
        _THIS_CALL.reset(token)


@dataclass(frozen=True)
class Ending:
    """What a record must take from the moment its call ended, so that the record itself can be
    built later, on the audit writer's thread: the time, the latency and the policy in force."""

    at: float
    latency_ms: float
    policy: str

    @staticmethod
    def now(ended: Ended, services: Services) -> Ending:
        started = request_of(ended.reached).started
        return Ending(
            time.time(), round((time.perf_counter() - started) * 1000, 3), services.policy.fingerprint
        )

    @property
    def time_text(self) -> str:
        return utc_text(datetime.fromtimestamp(self.at, UTC))


def audit_record(
    ended: Ended, services: Services, outcome: str | None = None, ending: Ending | None = None
) -> AuditRecord:
    """The audit record of a call that ended (or, with `outcome="pending"`, is about to send).
    Built at once, or later from `ending`, taken when the call ended (`Ending.now`)."""

    ending = ending or Ending.now(ended, services)
    reached = ended.reached
    if (outcome or ended.outcome) == "pending":
        call = _THIS_CALL.get()
        if call is not None:  # handed to the writer next: it stands for the call from now on
            call.pending = True
    request = request_of(reached)
    parsed = (
        reached if isinstance(reached, Parsed) else None if isinstance(reached, Request) else reached.parsed
    )
    arguments = parsed.arguments if parsed is not None else request.audited_arguments
    caller = request.caller
    return AuditRecord(
        time=ending.time_text,
        session=caller.session,
        client=caller.agent or f"{caller.client} (declared)",
        network=services.network.value,
        base_url=services.exchange.base_url,
        account=services.account,
        tool=request.spec.name,
        arguments=arguments,
        decision=ended.decision,
        approved_via=ended.approved_via,
        approved_by=ended.approved_by,
        reason=ended.reason,
        rule=ended.rule,
        outcome=outcome or ended.outcome,
        order_id=ended.order_id,
        client_order_id=ended.client_order_id,
        latency_ms=ending.latency_ms,
        policy=ending.policy,
        result=result_summary(ended) if outcome is None else None,
    )


MAX_TOOL_NAME = 64
"""Characters of an unknown tool's name the audit keeps."""


def unknown_tool_record(name: str, raw: Any, caller: Caller, services: Services) -> AuditRecord:
    """The record of a call to a tool that does not exist (the SDK answers "Unknown tool")."""
    from binance_mcp.guard.call import bounded_arguments

    return AuditRecord(
        session=caller.session,
        client=caller.agent or f"{caller.client} (declared)",
        network=services.network.value,
        base_url=services.exchange.base_url,
        account=services.account,
        tool=(name or "?")[:MAX_TOOL_NAME],
        arguments=bounded_arguments(raw),
        decision=AuditDecision.UNKNOWN_TOOL,
        reason="no such tool",
        outcome=Outcome.REFUSED,
        policy=services.policy.fingerprint,
    )


_RESULT_FIELDS = (
    "status",
    "executed_quantity",
    "cumulative_quote_quantity",
    "list_order_status",
    "recovered",
    "simulated",
)
_LEG_FIELDS = ("order_id", "client_order_id", "side", "type", "status", "executed_quantity")
MAX_RESULT_ITEMS = 20


def result_summary(ended: Ended) -> dict[str, Any] | None:
    """What an order, cancel or amend came to, in short, for its audit record: its status, what it
    executed, its fills and its legs (at most 20 of each). None for other calls and refusals."""
    if ended.result is None or ended.result.is_error or not request_of(ended.reached).spec.changes_account:
        return None
    content = ended.result.structured_content or {}
    summary: dict[str, Any] = {
        k: content[k] for k in _RESULT_FIELDS if content.get(k) not in (None, "", False)
    }
    fills = content.get("fills")
    if isinstance(fills, list) and fills:
        summary["fills"] = fills[:MAX_RESULT_ITEMS]
    legs = content.get("orders")
    if isinstance(legs, list) and legs:
        summary["orders"] = [
            {k: leg[k] for k in _LEG_FIELDS if isinstance(leg, dict) and leg.get(k) not in (None, "")}
            for leg in legs[:MAX_RESULT_ITEMS]
        ]
    return summary or None


def count(ended: Ended, services: Services) -> None:
    """Count the call's end for /metrics: by tool, decision and outcome, and a refusal by kind."""
    result = ended.result
    content = (result.structured_content or {}) if result is not None else {}
    kind = None
    if result is not None and result.is_error:
        kind = str(content.get("error") or ended.decision)
    store = content.get("store") if kind == "store_unavailable" else None
    services.counts.note(
        request_of(ended.reached).spec.name, ended.decision, ended.outcome, kind=kind, store=store
    )


def record_abandoned(reached: Reached, services: Services, *, cut: bool) -> None:
    """A call cancelled before its answer: its record says why (`abandoned`, `cut_by_drain`) and
    where it was. Nothing to write when its `pending` record went out already (that one stands)."""
    call = _THIS_CALL.get()
    if call is not None and call.pending:
        return
    ended = abandoned(reached, cut=cut)
    count(ended, services)
    services.audit.write(audit_record(ended, services))


async def record(ended: Ended, services: Services) -> Ended:
    """Write the call's record: finish its pending record, or append a new one. A call refused
    because the audit log cannot be written is counted in the gap record instead."""
    count(ended, services)
    if ended.result is not None and (ended.result.structured_content or {}).get("store") == "audit log":
        return ended
    ending = Ending.now(ended, services)
    if logger.isEnabledFor(logging.DEBUG):  # --log-level DEBUG: each call's decision, never its arguments
        entry = audit_record(ended, services, ending=ending)
        logger.debug(
            "%s by %s: %s, %s%s (rule %s) in %.1f ms",
            entry.tool,
            entry.client,
            entry.decision,
            entry.outcome,
            f": {entry.reason}" if entry.reason else "",
            entry.rule,
            entry.latency_ms or 0,
        )

    def make() -> AuditRecord:  # on the audit writer's thread: off the call's own time
        return audit_record(ended, services, ending=ending)

    if ended.pending_id is not None:
        services.audit.finish(ended.pending_id, make)
    else:
        services.audit.write_made(make)
    return ended
