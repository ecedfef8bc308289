"""Stage 4, decide: the policy in force on this call.

The rules (an agent's layered over the top level's; place_order's for the tools that take it) and
their networks; dry run (cancels and amends refused); then, for an
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
    from binance_mcp.guard.epoch import Epoch
    from binance_mcp.guard.services import Services
    from binance_mcp.policy.engine import Decision


async def decide(validated: Validated, services: Services, *, at_dispatch: bool = False) -> Decided:
    """`at_dispatch`: under the account lock, right before the send: counts are read afresh."""
    request = validated.request
    tool = request.spec.name
    decision = services.engine.decide(tool, request.caller.agent, services.network.value)
    if decision.action == "deny":
        reason = decision.reason or f"{tool} is denied by {decision.rule_path}"
        raise Refusal(RefusalKind.POLICY_DENIED, reason, rule=decision.rule_path)
    dry_run = services.dry_run or decision.dry_run
    if dry_run and decision.dry_run_refused:
        raise Refusal(
            RefusalKind.POLICY_DENIED,
            f"dry run: {tool} would change the account and Binance has no test endpoint for it, so it is "
            "refused; nothing was sent",
            rule="--dry-run" if services.dry_run else f"{decision.rule_path}.dry_run",
        )
    await check_constraints(validated, decision, services, fresh_counts=at_dispatch)
    if validated.valuation is not None and not dry_run:
        await check_budget(validated, services)
    return Decided(validated, decision, approval_rule=approval_rule(validated, decision), dry_run=dry_run)


async def check_constraints(
    validated: Validated, decision: Decision, services: Services, *, fresh_counts: bool = False
) -> None:
    if not decision.bounds:
        return
    args = validated.parsed.args
    order, market, valuation = validated.order, validated.market, validated.valuation
    refusing = [b for b in decision.bounds if b.constraints.uncapped_orders == "refuse"]
    if valuation is not None and valuation.estimate and refusing:
        raise Refusal(
            RefusalKind.POLICY_DENIED,
            f"this order has a leg no price bounds (MARKET by quantity, stop-market or trailing), so what "
            f"it can move is only an estimate ({valuation.how}), and this rule refuses such orders; nothing "
            "was sent: give it a limit price (LIMIT with time_in_force IOC for a MARKET order, "
            "STOP_LOSS_LIMIT / TAKE_PROFIT_LIMIT for a stop) or a quote_quantity",
            rule=refusing[0].path_of("uncapped_orders"),
        )
    open_orders = None
    if any(bounds.constraints.max_open_orders is not None for bounds in decision.bounds):
        open_orders = await count_open_orders(services, validated.epoch, fresh=fresh_counts)
    legs = order.legs if order is not None else (None,)
    for bounds in decision.bounds:  # an agent's rule and the top-level rule: each holds
        for leg in legs:
            violation = first_broken(
                bounds.constraints,
                bounds.path_of,
                tool=validated.request.spec.name,
                symbol=order.symbol if order is not None else getattr(args, "symbol", None),
                side=leg.side if leg is not None else getattr(args, "side", None),
                order_type=leg.type if leg is not None else getattr(args, "type", None),
                quantity=leg.quantity if leg is not None else None,
                notional=valuation.notional if valuation is not None else None,
                quote_asset=valuation.quote_asset if valuation is not None else None,
                price=leg.price if leg is not None else None,
                stop_price=leg.stop_price if leg is not None else None,
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


async def count_open_orders(services: Services, epoch: Epoch | None, *, fresh: bool = False) -> int:
    """The account's open orders on every symbol, for `max_open_orders`. Screening shares one
    count among the calls asking within `OPEN_ORDERS_MAX_AGE` (2 s) at the same account epoch
    (`ExchangeClient.count_open_orders`): any order, cancel or amend of the account from any
    process sharing the state moves the epoch, and one sent by this process forgets the count.
    `fresh` (the check under the account lock at dispatch): counted afresh, never the shared one."""
    try:
        reading = await services.exchange.count_open_orders(
            max_age=0 if fresh else None, version=epoch_key(epoch)
        )
    except EXCHANGE_FAILURES as exc:
        raise refusal_for(exc, "counting open orders for max_open_orders") from None
    return reading.value


def epoch_key(epoch: Epoch | None) -> tuple[int, int] | None:
    """The part of the account's epoch that moves with its orders (not the policy's generation)."""
    return None if epoch is None else (epoch.latest_change, epoch.in_flight)


async def recount_open_orders(decided: Decided, services: Services) -> None:
    """Under the account lock at dispatch, for a decision that stands (nothing it read moved):
    `max_open_orders` once more, on a count read now. An order placed outside this server since
    the screening (Binance's site, another program), or a shared count that missed it, cannot
    let one order too many through."""
    if not any(bounds.constraints.max_open_orders is not None for bounds in decided.decision.bounds):
        return
    try:
        await check_constraints(decided.validated, decided.decision, services, fresh_counts=True)
    except Refusal as refusal:
        refusal.reason = f"counted again before sending: {refusal.reason}"
        raise


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
