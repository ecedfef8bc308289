"""How a call ends, as an `Ended` value: a refusal, a failure of the guard itself, or a result.

Two vocabularies meet here: refusal kinds (what the agent reads) and audit decisions and outcomes
(what the log keeps). A call refused before anything was sent is `outcome: refused`; an exchange
failure after sending is `error`, or `unknown` when Binance may still have executed it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from binance_mcp.guard.call import Admitted, Decided, Ended, request_of
from binance_mcp.refusals import AUDIT_DECISION, Refusal, RefusalKind

if TYPE_CHECKING:
    from mcp_types import CallToolResult

    from binance_mcp.guard.call import Reached

GUARD_FAILED = "the policy guard failed on this call, so it was denied"


def passed_decision(reached: Reached) -> str:
    """The audit decision of a call the policy let through."""
    if isinstance(reached, Admitted):
        # dry run first: an approved simulated order was still not sent (approved_via says who approved)
        if reached.decided.dry_run and reached.request.spec.changes_account:
            return "dry_run"
        if reached.approved_via is not None:
            return "approved"
    return "allowed"


def refused(
    reached: Reached, refusal: Refusal, *, pending_id: int | None = None, outcome: str | None = None
) -> Ended:
    """The end of a refused call. `outcome` is what the dispatch stage knows (error, unknown)."""
    decided = isinstance(reached, Decided | Admitted)
    if refusal.kind is RefusalKind.ORDER_STATUS_UNKNOWN:
        decision, outcome = passed_decision(reached), "unknown"
    elif refusal.kind is RefusalKind.EXCHANGE_ERROR:
        # before the policy decided (pricing the order failed), nobody allowed anything
        decision = passed_decision(reached) if decided else "undecided"
        outcome = outcome or "error"
    else:
        decision, outcome = AUDIT_DECISION[refusal.kind], "refused"
    rule = refusal.rule
    if rule is None and decided:
        rule = _decision_of(reached).rule_path
    parsed = getattr(reached, "parsed", None)
    return Ended(
        reached=reached,
        result=refusal.to_result(request_of(reached).spec.name),
        decision=decision,
        outcome=outcome,
        reason=refusal.reason,
        rule=rule,
        client_order_id=refusal.client_order_id or (parsed.client_order_id if parsed is not None else None),
        approved_via=reached.approved_via if isinstance(reached, Admitted) else None,
        pending_id=pending_id,
    )


def in_flight(admitted: Admitted) -> Ended:
    """An order about to leave: its `pending` record."""
    return Ended(
        reached=admitted,
        result=None,
        decision=passed_decision(admitted),
        outcome="pending",
        rule=admitted.decided.decision.rule_path,
        client_order_id=admitted.decided.parsed.client_order_id,
        approved_via=admitted.approved_via,
        approved_by=admitted.approved_by,
    )


def succeeded(
    admitted: Admitted,
    result: CallToolResult,
    *,
    order_id: int | None,
    client_order_id: str | None,
    pending_id: int | None,
) -> Ended:
    return Ended(
        reached=admitted,
        result=result,
        decision=passed_decision(admitted),
        outcome="ok",
        rule=admitted.decided.decision.rule_path,
        order_id=order_id,
        client_order_id=client_order_id or admitted.decided.parsed.client_order_id,
        approved_via=admitted.approved_via,
        approved_by=admitted.approved_by,
        pending_id=pending_id,
    )


def _decision_of(reached: Reached):  # type: ignore[no-untyped-def]
    return reached.decision if isinstance(reached, Decided) else reached.decided.decision  # type: ignore[union-attr]
