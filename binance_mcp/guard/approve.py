"""Stage 6, approve: a human's yes, where the policy asks for one, from someone allowed to give it.

Who may answer (`approvers`): `elicitation`, the calling MCP client asks its own user; `operator`,
a human through `binance-mcp approvals` (or the approvals page). Over stdio the client is the
user's own application, so both may; over HTTP the client is the agent's own code, so only an
operator may, unless the policy says otherwise. The question is rendered from the validated call,
never from what the model wrote.

- An operator's approval for exactly this call is looked up here and spent at dispatch, under
  the account lock, once the call has been decided again: a call refused then keeps it unspent.
- 2025 era, elicitation: asked mid-call, at most five minutes.
- 2026 era, elicitation: the question travels as an `input_required` round (`Asking`), bound to
  a single-use nonce; `take_answer` reads the human's answer in the final round.
- Otherwise: `approval_required` with an approval id an operator can approve, unless the agent
  already has `approvals.max_pending_per_agent` requests waiting: then none is opened (refused
  `rate_limited`), and the notification of a request is grouped with others that come fast
  (`notify.Notices`).

A call that reaches this stage passed every check: the rate limits that count only such calls
(`"count_refused": false`) count it here first (`ratelimit.count_passed`).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.mcpserver.resolve import Elicit

from binance_mcp.approval_details import request_details
from binance_mcp.decimals import decimal_text
from binance_mcp.guard.approval_desk import QUESTION_TIMEOUT_S, ApprovalForm, CallIdentity
from binance_mcp.guard.call import Admitted, Asking
from binance_mcp.guard.failures import EXCHANGE_FAILURES, refusal_for
from binance_mcp.guard.ratelimit import count_passed
from binance_mcp.orders import describe
from binance_mcp.refusals import Refusal, RefusalKind
from binance_mcp.stores.approvals import canonical_arguments
from binance_mcp.timestamps import utc_seconds_text
from binance_mcp.tools.spec import CallContext

if TYPE_CHECKING:
    from mcp.server.mcpserver import Context

    from binance_mcp.guard.call import Caller, Decided, Request
    from binance_mcp.guard.services import Services

__all__ = ["ApprovalForm", "approve", "approvers", "approvers_for", "question", "take_answer"]

logger = logging.getLogger(__name__)

ELICITATION = "elicitation"
OPERATOR = "operator"

APPROVED_VALUE_TOLERANCE = Decimal("0.01")
"""An approved order is sent only while its value moved against the account by at most 1 % of
what the human was shown (a BUY's value up, a SELL's down); the question states it."""


def approvers(decided: Decided, services: Services) -> frozenset[str]:
    return approvers_for(services, decided.request.caller)


def approvers_for(services: Services, caller: Caller) -> frozenset[str]:
    """Who may approve a call of this caller: the policy's `approvals.via` for the agent, else the
    transport's default (stdio: both; HTTP: operators only)."""
    chosen = getattr(services.engine, "approvers", None)
    if chosen is not None:
        return frozenset(chosen(caller.agent, caller.transport))
    return frozenset({ELICITATION, OPERATOR}) if caller.transport == "stdio" else frozenset({OPERATOR})


def identity_of(decided: Decided, services: Services, found: Any = None) -> CallIdentity:
    """What an approval of this call is bound to. `found`: what the call acts on, as the exchange has
    it (the order a cancel names): its order id is bound too."""
    parsed = decided.parsed
    arguments = dict(parsed.arguments)
    # an order's id, or an order list's (a list found has no orderId of its own)
    order_id = found.get("orderId", found.get("orderListId")) if isinstance(found, dict) else None
    if order_id is not None:
        arguments["resolved_order_id"] = int(order_id)
    return CallIdentity(
        tool=decided.request.spec.name,
        network=services.network.value,
        account=services.account,
        agent=decided.request.caller.agent,
        arguments_key=canonical_arguments(arguments, drop_client_order_id=parsed.generated_client_order_id),
        order_id=int(order_id) if order_id is not None else None,
        base_url=services.exchange.base_url,
    )


async def question(decided: Decided, services: Services, found: Any = None) -> str:
    """The call in words, from validated values only, ending in "— approve?"."""

    validated = decided.validated
    spec = validated.request.spec
    network = services.network.value
    if validated.order is not None and validated.valuation is not None:
        valuation = validated.valuation
        what = describe(validated.order, valuation.notional, valuation.quote_asset, network)
        if valuation.market_price is not None:
            kind = ", an estimate" if valuation.estimate else ""
            what += (
                f" — valued at the market price {decimal_text(valuation.market_price)}{kind}; sent only while "
                f"its value moves at most {decimal_text(APPROVED_VALUE_TOLERANCE * 100)} % against you"
            )
    elif spec.describe is not None:
        if found is None:
            found = await resolved(decided, services)
        what = spec.describe(validated.parsed.args, found, network)
    else:
        shown = ", ".join(f"{key}={value}" for key, value in validated.parsed.arguments.items())
        what = f"{spec.name}({shown}) on {network.upper()}"
    return f"{what} — approve?"


async def approve(decided: Decided, services: Services) -> Admitted | Asking:
    await count_passed(decided, services)  # every check let it through: the limits that count only such calls
    if not decided.needs_approval:
        return Admitted(decided)
    request = decided.request
    rule = decided.approval_rule
    # a cancel or an amend: the order it acts on now, bound into the approval by its exchange id
    found = await resolved(decided, services) if decided.request.spec.resolve is not None else None
    identity = identity_of(decided, services, found)
    via = approvers(decided, services)
    shown = decided.validated.valuation.notional if decided.validated.valuation is not None else None
    ttl = decided.decision.approval_ttl
    if OPERATOR in via:
        given = await services.approvals.find_operator_approval(identity, ttl)
        if given is not None:
            return Admitted(
                decided,
                approved_via=given.decided_via or "cli",
                approved_by=given.decided_by,
                identity=identity,
                approved_notional=approved_value(given, shown),
            )
    if OPERATOR in via:
        await refuse_if_declined(decided, services, identity, ttl)
    asked = await question(decided, services, found)
    if ELICITATION in via and request.can_elicit:
        if request.ask_now is not None:  # 2025 era: ask mid-call
            answer = await request.ask_now(asked)
            if answer != "accept":
                raise Refusal(RefusalKind.APPROVAL_DECLINED, declined_sentence(answer), rule=rule)
            return Admitted(
                decided,
                approved_via=ELICITATION,
                approved_by=elicited_by(request),
                identity=identity,
                approved_notional=shown,
            )
        return await open_question(decided, services, identity, asked)
    if OPERATOR not in via:
        raise Refusal(
            RefusalKind.POLICY_DENIED,
            f"{asked[: -len(' — approve?')]} needs a human's approval ({rule}), and the policy lets only "
            "the client's user approve it, but this client cannot ask its user (no elicitation). "
            "Nothing was sent",
            rule=rule,
        )
    from binance_mcp.stores.approvals import TooManyPending

    try:
        approval = await services.approvals.request_operator_approval(
            identity,
            asked,
            ttl,
            details=details_for(decided, services),
            pending_ttl_s=services.engine.pending_ttl,
            max_pending=services.engine.max_pending_per_agent,
        )
    except TooManyPending as full:
        raise Refusal(
            RefusalKind.RATE_LIMITED,
            f"{asked[: -len(' — approve?')]} needs a human's approval ({rule}), but {full.waiting} requests "
            f"of {request.caller.agent or 'this caller'} already wait for one, the most the policy allows "
            f"(approvals.max_pending_per_agent {full.limit}); no request was opened and nothing was sent: "
            "call again once a human has decided on one of them (or it expired)",
            rule="approvals.max_pending_per_agent",
            limit=str(full.limit),
            value=str(full.waiting),
            unit="requests waiting for a human",
            scope="agent",
        ) from None
    expires_at = utc_seconds_text(approval.expires_at) if approval.expires_at else None
    command = services.approve_command(approval.id)
    if approval.fresh:
        services.notices.announce(
            services.engine.notify_url,
            approval,
            services.approvals_page,
            command=command,
            every_s=services.engine.notify_every,
        )
    no_human = decided.decision.approve_above_notional
    up_to = (
        f" Orders up to {_text(no_human)} {decided.validated.valuation.quote_asset} go ahead without a human."
        if no_human is not None and decided.validated.valuation is not None
        else ""
    )
    raise Refusal(
        RefusalKind.APPROVAL_REQUIRED,
        f"{asked[: -len(' — approve?')]} needs a human's approval ({rule}). Nothing was sent. "
        f"A human approves it {on_the_page(services, request.caller.transport, approval.id)}with: {command} "
        f"(the request expires at {expires_at}) — then call again with the same arguments within "
        f"{ttl} s of the approval.{up_to}",
        rule=rule,
        approval_id=approval.id,
        expires_at=expires_at,
        no_approval_max=_text(no_human),
    )


async def refuse_if_declined(decided: Decided, services: Services, identity: CallIdentity, ttl: int) -> None:
    """An operator denied exactly this call within the approval ttl: the same call gets that
    answer (who and when), not a new question for someone to approve on the third ask."""
    declined = await services.approvals.recent_decline(identity, ttl)
    if declined is None or declined.decided_at is None:
        return
    when = utc_seconds_text(declined.decided_at)
    who = declined.decided_by or "an operator"
    raise Refusal(
        RefusalKind.APPROVAL_DECLINED,
        f"{who} denied this identical call at {when} ({declined.id}); asking again within {ttl} s "
        "gets the same answer. Nothing was sent. Change the order, or ask the human why",
        rule=decided.approval_rule,
        approval_id=declined.id,
        declined_by=who,
        declined_at=when,
    )


async def open_question(decided: Decided, services: Services, identity: CallIdentity, asked: str) -> Asking:
    request = decided.request
    parsed = decided.parsed
    generated = parsed.client_order_id if parsed.generated_client_order_id else None
    valuation = decided.validated.valuation
    opened = await services.approvals.question_for(
        identity,
        asked,
        generated,
        continuing=request.continuing,
        shown=valuation.notional if valuation is not None else None,
    )
    if opened is None:
        raise Refusal(
            RefusalKind.APPROVAL_DECLINED,
            f"no answer within {int(QUESTION_TIMEOUT_S / 60)} minutes; nothing was sent",
            rule=decided.approval_rule,
        )
    return Asking(decided, identity, opened, Elicit(opened.question, ApprovalForm))


async def take_answer(asking: Asking, approval: Any, services: Services) -> Admitted:
    """2026 era, the final round: accept (with the form saying yes) lets the call through, once."""
    rule = asking.decided.approval_rule
    data = getattr(approval, "data", None)
    accepted = getattr(approval, "action", None) == "accept" and isinstance(data, ApprovalForm)
    if not accepted or not isinstance(data, ApprovalForm) or not data.approve:
        services.approvals.close_question(asking.identity)
        answer = "declined" if accepted else str(getattr(approval, "action", "error"))
        raise Refusal(RefusalKind.APPROVAL_DECLINED, declined_sentence(answer), rule=rule)
    if not await services.approvals.spend(asking.identity, asking.question):
        raise Refusal(
            RefusalKind.APPROVAL_DECLINED,
            "this approval was already used; an approval lets exactly one call through",
            rule=rule,
        )
    return Admitted(
        asking.decided,
        approved_via=ELICITATION,
        approved_by=elicited_by(asking.request),
        identity=asking.identity,
        approved_notional=asking.question.shown,  # what the human saw in the first round
    )


def elicited_by(request: Request) -> str:
    """Who approved in the client: its user, known only by the client's word."""
    return f"user of {request.caller.agent or request.caller.client} (declared)"


def declined_sentence(answer: str) -> str:
    why = {
        "decline": "the human declined",
        "declined": "the human answered no",
        "cancel": "the human cancelled the question",
        "timeout": f"no answer within {int(QUESTION_TIMEOUT_S / 60)} minutes",
    }.get(answer, "the question could not be answered")
    return f"{why}; nothing was sent"


async def ask_now(ctx: Context, asked: str) -> str:
    """2025 era: ask the human mid-call and wait at most five minutes. Returns accept/declined/…"""
    try:
        with anyio.fail_after(QUESTION_TIMEOUT_S):
            result = await ctx.elicit(asked, ApprovalForm)
    except TimeoutError:
        return "timeout"
    except Exception:
        logger.exception("asking the human failed")
        return "error"
    if result.action != "accept":
        return result.action
    return "accept" if getattr(result.data, "approve", False) else "declined"


async def resolved(decided: Decided, services: Services) -> Any:
    """What the call acts on (the order a cancel names), for the question; None if not found."""

    spec = decided.request.spec
    if spec.resolve is None:
        return None
    try:
        return await spec.resolve(
            decided.parsed.args, CallContext(exchange=services.exchange, network=services.network)
        )
    except EXCHANGE_FAILURES as exc:
        raise refusal_for(exc, f"looking up what {spec.name} acts on") from None


def approved_value(approval: Any, now: Decimal | None) -> Decimal | None:
    """The value the operator saw when approving (kept with the request); what the call is worth
    now only for a request made without one (then nothing else is known)."""
    seen = getattr(approval, "notional", None)  # "650 USDT"
    if not seen:
        return now
    try:
        return Decimal(str(seen).split()[0])
    except ArithmeticError:
        return now


def on_the_page(services: Services, transport: str, approval_id: str) -> str:
    page = services.approvals_page
    if not page:
        return ""
    link = f"{page}#{approval_id}"
    if transport == "stdio":  # nothing serves the page for a stdio server until someone starts it
        return f"on the approvals page (start it with `{console_command(services, approval_id)}`, then open {link}) or "
    return f"on the approvals page ({link}) or "


def console_command(services: Services, approval_id: str) -> str:
    """`binance-mcp console` with the server's own state options (`--state-url URL`, `--state-dir
    DIR`), taken from the approve command that already carries them: the console then shows this
    server's queue, not the default state dir's."""
    import shlex

    words = shlex.split(services.approve_command(approval_id))  # binance-mcp approvals [state…] approve ID
    return shlex.join(["binance-mcp", "console", *words[2:-2]])


def details_for(decided: Decided, services: Services) -> dict[str, str]:
    """What the operator is shown: the validated call, its value and how it was valued."""

    validated = decided.validated
    parsed = validated.parsed
    details = request_details(
        validated.request.spec.name,
        parsed.args,
        validated.valuation,
        network=services.network.value,
        agent=decided.request.caller.agent,
        client_order_id_generated=parsed.generated_client_order_id,
    )
    decision = decided.decision
    details["rule"] = decided.approval_rule or decision.rule_path
    if decision.action == "require_approval":
        details["threshold"] = "every call"
    elif decision.approve_above_notional is not None and validated.valuation is not None:
        details["threshold"] = (
            f"above {_text(decision.approve_above_notional)} {validated.valuation.quote_asset}"
        )
    details["session"] = decided.request.caller.session
    if validated.valuation is not None:
        asset = validated.valuation.quote_asset
        policy = services.engine.policy
        limit = policy.budgets.daily_notional.get(asset) if policy.budgets is not None else None
        if limit is not None:  # the page shows what is left after this order, whichever server shows it
            details["daily_budget"] = f"{_text(limit)} {asset}"
    if validated.market is not None:
        details["market_price"] = _text(validated.market.price) or ""
    if validated.order is not None and validated.valuation is not None:
        valuation = validated.valuation
        details["valued_by"] = valuation.how
        if validated.order.kind != "ORDER":
            details["order"] = describe(
                validated.order, valuation.notional, valuation.quote_asset, services.network.value
            )
    return details


def _text(value: Any) -> str | None:

    return decimal_text(value) if value is not None else None
