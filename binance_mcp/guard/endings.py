"""How a call ends, as an `Ended` value: a refusal, a failure of the guard itself, or a result.

Two vocabularies meet here: refusal kinds (what the agent reads) and audit decisions and outcomes
(what the log keeps). A call refused before anything was sent is `outcome: refused`; an exchange
failure after sending is `error`, or `unknown` when Binance may still have executed it. A call
that never got its answer because its client left is `abandoned`, and one the server's drain cut
when its grace ran out is `cut_by_drain` (both before its request was sent: one sent already
has its `pending` record, which crash recovery completes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from binance_mcp.guard.call import Admitted, Asking, Decided, Ended, request_of
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


def abandoned(reached: Reached, *, cut: bool) -> Ended:
    """The end of a call cancelled before its request was sent: its client left (`abandoned`), or
    the server stopped and its drain's grace ran out (`cut: cut_by_drain`). It answers nothing."""
    waiting_for_human = isinstance(reached, Asking) or (
        isinstance(reached, Decided) and reached.needs_approval
    )
    if waiting_for_human:
        decision, where = "approval_required", "while it waited for a human's approval"
    elif isinstance(reached, Admitted):
        decision, where = (
            passed_decision(reached),
            "before it was sent (waiting for the account lock, or decided again)",
        )
    elif isinstance(reached, Decided):
        decision, where = passed_decision(reached), "while it was being checked"
    else:
        decision, where = "undecided", "while it was being checked"
    done = "nothing was sent" if request_of(reached).spec.changes_account else "no answer was given"
    if cut:
        outcome, why = "cut_by_drain", "the server stopped and its drain's grace ran out"
    else:
        outcome, why = "abandoned", "the client left (disconnected, cancelled the call, or its session ended)"
    decided = isinstance(reached, Decided | Admitted | Asking)
    parsed = getattr(reached, "parsed", None)
    return Ended(
        reached=reached,
        result=None,
        decision=decision,
        outcome=outcome,
        reason=f"{why} {where}; {done}",
        rule=_rule_of(reached, waiting_for_human) if decided else None,
        client_order_id=parsed.client_order_id if parsed is not None else None,
        approved_via=reached.approved_via if isinstance(reached, Admitted) else None,
        approved_by=reached.approved_by if isinstance(reached, Admitted) else None,
    )


def _rule_of(reached: Reached, waiting_for_human: bool) -> str | None:
    decided = reached.decided if isinstance(reached, Asking | Admitted) else reached
    assert isinstance(decided, Decided)
    return decided.approval_rule if waiting_for_human else decided.decision.rule_path


def _decision_of(reached: Reached):  # type: ignore[no-untyped-def]
    return reached.decision if isinstance(reached, Decided) else reached.decided.decision  # type: ignore[union-attr]
