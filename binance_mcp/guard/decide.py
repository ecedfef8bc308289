"""Stage 4, decide: the policy in force on this call.

The rule (exact name, longest glob, default; per agent first) and its networks; then, for an
order, every constraint on every leg (symbols, sides, order types, quantity, value, price
deviation), the account's open orders, and whether today's budget has room; then whether a human
must approve it (`require_approval`, or a value above `approve_above_notional`), and dry run.
Dispatch runs this same stage again when the account's epoch moved (`epoch.py`) or a human was
asked, so the decision that sends an order is the policy's word at the moment it leaves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from binance_mcp.guard.budget import check_budget
from binance_mcp.guard.call import Decided
from binance_mcp.guard.failures import EXCHANGE_FAILURES, refusal_for
from binance_mcp.policy.constraints import check_constraints as first_broken
from binance_mcp.policy.constraints import needs_approval_above
from binance_mcp.refusals import Refusal, RefusalKind

if TYPE_CHECKING:
    from binance_mcp.guard.call import Validated
    from binance_mcp.guard.services import Services
    from binance_mcp.policy.engine import Decision


async def decide(validated: Validated, services: Services) -> Decided:
    request = validated.request
    tool = request.spec.name
    decision = services.engine.decide(tool, request.caller.agent, services.network.value)
    if decision.action == "deny":
        reason = decision.reason or f"{tool} is denied by {decision.rule_path}"
        raise Refusal(RefusalKind.POLICY_DENIED, reason, rule=decision.rule_path)
    await check_constraints(validated, decision, services)
    dry_run = services.dry_run or decision.dry_run
    if validated.valuation is not None and not dry_run:
        await check_budget(validated, services)
    return Decided(validated, decision, approval_rule=approval_rule(validated, decision), dry_run=dry_run)


async def check_constraints(validated: Validated, decision: Decision, services: Services) -> None:

    constraints = decision.constraints
    if constraints is None:
        return
    args = validated.parsed.args
    order, market, valuation = validated.order, validated.market, validated.valuation
    open_orders = None
    if constraints.max_open_orders is not None:
        open_orders = await count_open_orders(services)
    legs = order.legs if order is not None else (None,)
    for leg in legs:
        violation = first_broken(
            constraints,
            decision.constraint_path,
            tool=validated.request.spec.name,
            symbol=order.symbol if order is not None else getattr(args, "symbol", None),
            side=leg.side if leg is not None else getattr(args, "side", None),
            order_type=leg.type if leg is not None else getattr(args, "type", None),
            quantity=leg.quantity if leg is not None else None,
            notional=valuation.notional if valuation is not None else None,
            quote_asset=valuation.quote_asset if valuation is not None else None,
            price=leg.price if leg is not None else None,
            reference_price=market.price if market is not None else None,
            open_orders=open_orders,
            new_orders=len(order.legs) if order is not None else 1,  # a list's legs all count
        )
        if violation is not None:
            raise Refusal(
                RefusalKind.POLICY_DENIED,
                violation.reason,
                rule=violation.rule,
                limit=violation.limit,
                value=violation.value,
                unit=violation.unit,
                scope=violation.scope,
            )


async def count_open_orders(services: Services) -> int:
    try:
        return len(await services.exchange.get_open_orders(None))
    except EXCHANGE_FAILURES as exc:
        raise refusal_for(exc, "counting open orders for max_open_orders") from None


def approval_rule(validated: Validated, decision: Decision) -> str | None:
    """The policy path that asks a human about this call, or None when none must."""

    if decision.action == "require_approval":
        return decision.rule_path
    if decision.approve_above_notional is None:
        return None
    notional = validated.valuation.notional if validated.valuation is not None else None
    if not needs_approval_above(decision.approve_above_notional, notional):
        return None
    return decision.approve_above_notional_path or decision.rule_path
