"""Stage 7, dispatch: send the call, and for an order, do it once and on a fresh decision.

An order or a cancel goes under the account lock: crash recovery of an earlier run's pending
records first; then the caller's token is looked up again (revoked: nothing is sent), and the call
is decided again with what is true now (the policy in force, a price at most 1 s old and the
value at it, the open orders, the client order id, the approval threshold and the budget) whenever
anything it was decided on may have changed since it was screened: it waited for a human, or the
account's epoch moved (`epoch.py`: a policy reload, another call's order, cancel or amend from any process
sharing the state, or one in flight when it was screened). Anything that changed against it
refuses the call, saying what changed, and an operator's approval is spent only after that. Then
the budget is reserved, the `pending` audit record is made durable (naming the lock's holder and
generation), and the tool sends its one request: right before it leaves (and before a resend after
-1021), the caller's token and the policy generation are checked again (`check_authority`), the
lock is proved still held against the store (the fence, `lock.HeldLock.fence`), and the request
carries a `recvWindow` that ends with the lock's lease (`exchange.client.SendWindow`).

Once a request may have left, nothing after it changes the answer: a budget settle or an audit
write that fails then is logged and repaired later (`repairs.py`), and letting go of the lock never
raises; the agent gets the exchange's answer.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

import anyio.to_thread

from binance_mcp.decimals import decimal_text
from binance_mcp.exchange.client import SEND_WINDOW, SendWindow
from binance_mcp.guard.approve import APPROVED_VALUE_TOLERANCE, approve
from binance_mcp.guard.budget import reserve_budget, settle_budget, shrink_held
from binance_mcp.guard.call import Admitted, Decided, Ended
from binance_mcp.guard.decide import decide, recount_open_orders
from binance_mcp.guard.endings import in_flight, refused, succeeded
from binance_mcp.guard.epoch import read_epoch
from binance_mcp.guard.failures import (
    EXCHANGE_FAILURES,
    STORE_RETRY_AFTER_S,
    may_have_executed,
    refusal_for,
    store_refusal,
)
from binance_mcp.guard.limits_report import limits_report
from binance_mcp.guard.preview import preview_report
from binance_mcp.guard.record import audit_record
from binance_mcp.guard.validate import leg_client_order_ids, validate
from binance_mcp.orders import rounded_up
from binance_mcp.refusals import Refusal, RefusalKind
from binance_mcp.results import success_result
from binance_mcp.tools.spec import CallContext

if TYPE_CHECKING:
    from binance_mcp.guard.lock import HeldLock
    from binance_mcp.guard.services import Services

logger = logging.getLogger(__name__)

OPERATOR_ROUTES = frozenset({"cli", "page"})
"""How an operator's approval was given: at the CLI, or on the approvals page."""


async def dispatch(admitted: Admitted, services: Services) -> Ended:
    if not admitted.request.spec.changes_account:
        return await send(admitted, services)
    if services.repairs.owed:  # a budget settle an earlier send owes, before this one is checked
        await anyio.to_thread.run_sync(services.repairs.run)
    async with services.lock.held() as held:
        await services.recover_pending()
        taken: str | None = None
        try:
            await check_token(admitted, services)
            admitted = await decide_again(admitted, services)
            if admitted.approved_via in OPERATOR_ROUTES:
                taken = await spend_operator_approval(admitted, services)
            dry_run = admitted.decided.dry_run
            reservation = None if dry_run else await reserve_budget(admitted.decided.validated, services)
        except Refusal as refusal:
            return refused(admitted, refusal)
        generation = services.policy.generation  # the policy this call was (re)decided by

        async def authority_then_fence() -> float:
            try:
                await check_authority(admitted, services, generation)
            except Refusal:
                raise  # the caller's authority is gone: said as it is
            except Exception as exc:  # nothing has left: never "the outcome is unknown"
                logger.warning("could not check the caller's authority before the send: %s", exc)
                raise authority_unchecked(exc) from None
            return await held.fence()

        fenced = SEND_WINDOW.set(SendWindow(authority_then_fence))
        try:
            ended = await send(admitted, services, reservation, held=held)
        finally:
            SEND_WINDOW.reset(fenced)
    if taken is not None:
        await note_outcome(taken, ended, services)
    return ended


async def note_outcome(approval_id: str, ended: Ended, services: Services) -> None:
    """Keep on the approval what the call it let through did (order id, status, fills), for the
    operators' page; a failure to keep it is logged, never the call's answer."""
    content = (ended.result.structured_content if ended.result is not None else None) or {}
    outcome: dict[str, str | None] = {
        "outcome": ended.outcome,
        "order_id": str(ended.order_id) if ended.order_id else None,
        "order_list_id": None if content.get("order_list_id") is None else str(content["order_list_id"]),
        "client_order_id": ended.client_order_id,
        "status": content.get("status") or content.get("list_order_status"),
        "executed": content.get("executed_quantity"),
        "traded": content.get("cumulative_quote_quantity"),
        "reason": ended.reason,
    }
    try:
        await services.approvals.record_outcome(approval_id, outcome)
    except Exception:
        logger.exception("could not keep the outcome of approval %s", approval_id)


async def decide_again(admitted: Admitted, services: Services) -> Admitted:
    """The call as the policy and the market see it now; refuses what changed against it."""
    decided = admitted.decided
    screened = decided.validated.epoch
    if admitted.approved_via is None and screened is not None and screened.still(await read_epoch(services)):
        await recount_open_orders(decided, services)  # max_open_orders on a fresh count, never a shared one
        return admitted  # nothing the decision read has moved since: it stands
    try:
        validated = await validate(decided.parsed, services)
        fresh = await decide(validated, services, at_dispatch=True)
    except Refusal as refusal:
        refusal.reason = f"changed while this call waited: {refusal.reason}"
        raise
    if fresh.needs_approval and admitted.approved_via is None:
        raise Refusal(
            RefusalKind.APPROVAL_REQUIRED,
            f"changed while this call waited: it now needs a human's approval ({fresh.approval_rule}); "
            "nothing was sent: call again to ask for it",
            rule=fresh.approval_rule,
        )
    moved = moved_against(admitted, fresh)
    if moved is not None:
        await ask_again(admitted, fresh, services, moved)
    return Admitted(
        fresh,
        approved_via=admitted.approved_via,
        approved_by=admitted.approved_by,
        identity=admitted.identity,
        approved_notional=admitted.approved_notional,
    )


def moved_against(admitted: Admitted, fresh: Decided) -> str | None:
    """How the order's value moved against the account beyond the tolerance since the human saw
    it, in words, or None: a BUY's value up (it pays more), a SELL's down (it brings less); a list
    with both sides, either way."""
    shown, value, order = admitted.approved_notional, fresh.validated.valuation, fresh.validated.order
    if shown is None or value is None or order is None:
        return None
    sides = {leg.side for leg in order.legs}
    now = value.notional
    if "BUY" in sides and now > shown * (1 + APPROVED_VALUE_TOLERANCE):
        verb = "rose"
    elif "SELL" in sides and now < shown * (1 - APPROVED_VALUE_TOLERANCE):
        verb = "fell"
    else:
        return None
    market = f" (market price now {decimal_text(value.market_price)})" if value.market_price else ""
    return (
        f"the order's value {verb} from ≈{decimal_text(rounded_up(shown))} to ≈{decimal_text(rounded_up(now))} "
        f"{value.quote_asset}"
        f"{market}, beyond the {decimal_text(APPROVED_VALUE_TOLERANCE * 100)} % the approval covers"
    )


async def ask_again(admitted: Admitted, fresh: Decided, services: Services, moved: str) -> None:
    """The human approved another value: that approval is withdrawn (an operator's is used up, so it
    cannot let this order through later) and the order as it is now needs a new one. Raises."""
    if admitted.approved_via in OPERATOR_ROUTES and admitted.identity is not None:
        await services.approvals.take_operator_approval(admitted.identity, fresh.decision.approval_ttl)
        if fresh.needs_approval:
            try:
                await approve(fresh, services)  # asks an operator about the order as it is now
            except Refusal as asked:
                asked.reason = f"changed while the human decided: {moved}; nothing was sent. {asked.reason}"
                raise
    raise Refusal(
        RefusalKind.APPROVAL_REQUIRED,
        f"changed while the human decided: {moved}; nothing was sent and the approval is not used: "
        "call again to ask a human about the order at its value now",
        rule=fresh.approval_rule,
    )


async def check_token(admitted: Admitted, services: Services) -> None:
    """An agent whose token was revoked while its call waited sends nothing."""
    caller = admitted.request.caller
    if not caller.authenticated or caller.agent is None:
        return
    tokens = services.stores.get().tokens
    if not await anyio.to_thread.run_sync(tokens.is_agent, caller.agent):
        raise Refusal(
            RefusalKind.POLICY_DENIED,
            f"the token of agent {caller.agent} was revoked while this call waited; nothing was sent",
        )


async def check_authority(admitted: Admitted, services: Services, generation: int) -> None:
    """Right before a request that changes the account leaves (and before a resend after -1021):
    the caller's token still valid, and the policy in force still the one the call was decided by
    (a reload, an agent's rules included, refuses it: it is decided anew when called again)."""
    await check_token(admitted, services)
    await services.policy.catch_up()  # `--watch`: a policy saved by now is the one in force
    if services.policy.generation != generation:
        raise Refusal(
            RefusalKind.POLICY_DENIED,
            "the policy was reloaded right before the send; nothing was sent: call again to be decided "
            "by the policy in force",
        )


def authority_unchecked(exc: Exception) -> Refusal:
    """The refusal of a send whose token or policy could not be read right before it: nothing left."""
    outage = store_refusal(exc, what="the order")
    if outage is not None:
        return outage
    return Refusal(
        RefusalKind.STORE_UNAVAILABLE,
        "the caller's token could not be checked right before the send: the state store failed "
        f"({exc.__class__.__name__}); nothing was sent, call again once it is back (the operator: "
        "binance-mcp doctor checks it)",
        retry_after_s=STORE_RETRY_AFTER_S,
        store="state",
    )


async def spend_operator_approval(admitted: Admitted, services: Services) -> str:
    """Spend the operator's approval for this call; returns its id."""
    assert admitted.identity is not None
    ttl = admitted.decided.decision.approval_ttl
    taken = await services.approvals.take_operator_approval(admitted.identity, ttl)
    if taken is None:
        raise Refusal(
            RefusalKind.APPROVAL_DECLINED,
            "the approval for this call was used by another call or withdrawn meanwhile; nothing was sent",
            rule=admitted.decided.approval_rule,
        )
    return taken.id


async def send(
    admitted: Admitted, services: Services, reservation: str | None = None, *, held: HeldLock | None = None
) -> Ended:
    """The tool's one exchange call, with the `pending` record made durable right before it
    (naming the account lock's holder and generation, when it is held)."""

    decided = admitted.decided
    spec = decided.request.spec
    validated = decided.validated
    sent = False
    pending_id: int | None = None

    async def about_to_send() -> None:
        nonlocal sent, pending_id
        if spec.changes_account and not decided.dry_run:
            record = audit_record(in_flight(admitted), services)
            if held is not None:
                lock = {"holder": held.holder, "generation": held.generation}
                record = dataclasses.replace(record, result={"lock": lock})
            pending_id = await services.audit.write_durable(record, leg_client_order_ids(decided.parsed))
        sent = True

    context = CallContext(
        exchange=services.exchange,
        network=services.network,
        dry_run=decided.dry_run,
        about_to_send=about_to_send,
        order=validated.order,
        market=validated.market,
        valuation=validated.valuation,
        bound_order_id=admitted.identity.order_id if admitted.identity is not None else None,
        report_limits=lambda: limits_report(services, decided.request.caller),
        preview=lambda tool, arguments: preview_report(services, decided.request.caller, tool, arguments),
    )
    if spec.signed_read:  # on record before it leaves, so a read killed in flight is not lost
        pending_id = await services.audit.write_pending_read(audit_record(in_flight(admitted), services))
    try:
        output = await spec.run(decided.parsed.args, context)
    except Refusal as refusal:
        settle_budget(services, reservation, spent=sent and refusal.kind is RefusalKind.ORDER_STATUS_UNKNOWN)
        return refused(admitted, refusal, pending_id=pending_id)
    except EXCHANGE_FAILURES as exc:
        unknown = may_have_executed(exc, sent=sent)
        settle_budget(services, reservation, spent=unknown)
        failure = refusal_for(exc, spec.name, sent=sent)
        return refused(admitted, failure, pending_id=pending_id, outcome="unknown" if unknown else "error")
    except Exception:
        logger.exception("%s failed after the guard let it through", spec.name)
        settle_budget(services, reservation, spent=sent)
        failure = Refusal(
            RefusalKind.EXCHANGE_ERROR,
            f"{spec.name} failed inside the server; see the server log"
            + ("; the outcome is unknown: check it on Binance" if sent else ""),
            client_order_id=decided.parsed.client_order_id,
        )
        return refused(admitted, failure, pending_id=pending_id, outcome="unknown" if sent else "error")
    settle_budget(
        services,
        reservation,
        spent=True,
        traded=output.extra.get("traded_quote"),
        watch=output.extra.get("budget_watch"),
    )
    shrink_held(services, output.extra.get("budget_shrink"))  # an amend reduced a held order
    return succeeded(
        admitted,
        success_result(output),
        order_id=output.order_id or None,
        client_order_id=output.client_order_id,
        pending_id=pending_id,
    )
