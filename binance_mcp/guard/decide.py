"""Stage 5, decide: the policy in force on this call.

The rules (an agent's layered over the top level's; place_order's for the tools that take it) and
their networks; dry run (cancels and amends refused); then, for an
order, every constraint on every leg (symbols, sides, order types, quantity, value, price
deviation), whether today's budget has room, and only then what costs a signed read of the
exchange: the symbol's open-order counts against its filters (MAX_NUM_ORDERS, ...) and the
account's open orders against `max_open_orders` (all symbols: weight 80 of Binance's 6000 a
minute), so that a call refused for something cheaper never spends them; then whether a human
must approve it (`require_approval`, or a value above `approve_above_notional`), and dry run.
Dispatch runs this same stage again when the account's epoch moved (`epoch.py`) or a human was
asked, so the decision that sends an order is the policy's word at the moment it leaves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from binance_mcp.guard.budget import check_budget
from binance_mcp.guard.call import Decided
from binance_mcp.guard.failures import EXCHANGE_FAILURES, refusal_for
from binance_mcp.policy.constraints import ConstraintViolation, needs_approval_above
from binance_mcp.policy.constraints import check_constraints as first_broken
from binance_mcp.policy.model import Constraints
from binance_mcp.refusals import Refusal, RefusalKind
from binance_mcp.valuation import least_value

if TYPE_CHECKING:
    from binance_mcp.exchange.client import ExchangeClient
    from binance_mcp.guard.call import Validated
    from binance_mcp.guard.epoch import Epoch
    from binance_mcp.guard.services import Services
    from binance_mcp.market import Market
    from binance_mcp.orders import Order
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
    await check_constraints(validated, decision, services)
    if validated.valuation is not None and not dry_run:
        await check_budget(validated, services)
    await check_counts(validated, decision, services, fresh=at_dispatch)  # the signed reads, last
    return Decided(validated, decision, approval_rule=approval_rule(validated, decision), dry_run=dry_run)


async def check_constraints(
    validated: Validated, decision: Decision, services: Services, *, open_orders: int | None = None
) -> None:
    """Every bound but `max_open_orders` (checked by `check_counts`, given the count: it costs a
    signed read); with `open_orders`, that bound alone."""
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
    legs = order.legs if order is not None else (None,)
    for bounds in decision.bounds:  # an agent's rule and the top-level rule: each holds
        if open_orders is None:
            constraints = bounds.constraints.model_copy(update={"max_open_orders": None})
        elif bounds.constraints.max_open_orders is None:
            continue
        else:
            constraints = Constraints(max_open_orders=bounds.constraints.max_open_orders)
        for leg in legs:
            violation = first_broken(
                constraints,
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
                raise refusal_of(violation)


def refusal_of(violation: ConstraintViolation) -> Refusal:
    return Refusal(
        RefusalKind.POLICY_DENIED,
        violation.reason,
        rule=violation.rule,
        limit=violation.limit,
        value=violation.value,
        unit=violation.unit,
        scope=violation.scope,
    )


def check_order_alone(order: Order, decision: Decision, tool: str, quote_asset: str | None) -> None:
    """The bounds an order shows it breaks before anything is read from the exchange (`validate`
    calls it first): a symbol, side or type the rule does not allow, a leg's quantity over
    `max_quantity`, and a value over `max_notional` already at what the order itself says (its
    limit price × quantity, its quote quantity: `valuation.least_value`; the market can only make
    it more), once the symbol's quote asset is known without a request. What needs the market (a MARKET order's value, the price deviation) and the
    account's open orders wait for `check_constraints` and `check_counts`."""
    if decision.action == "deny":
        return
    # a value is compared in its quote asset: known without a request once the symbol's rules are
    # cached (any earlier call on it); else max_notional waits for them, read with the market
    least = least_value(order) if quote_asset is not None else None
    for bounds in decision.bounds:
        for leg in order.legs:
            known = bounds.constraints.model_copy(
                update={
                    "max_price_deviation_pct": None,
                    "max_open_orders": None,
                    "max_notional": bounds.constraints.max_notional if least is not None else None,
                    "max_quantity": bounds.constraints.max_quantity if leg.quantity is not None else None,
                }
            )
            violation = first_broken(
                known,
                bounds.path_of,
                tool=tool,
                symbol=order.symbol,
                side=leg.side,
                order_type=leg.type,
                quantity=leg.quantity,
                notional=least,
                quote_asset=quote_asset,
                new_orders=len(order.legs),
            )
            if violation is not None:
                raise refusal_of(violation)


async def check_counts(
    validated: Validated, decision: Decision, services: Services, *, fresh: bool = False
) -> None:
    """What costs a signed read, after every cheaper check held: the symbol's open orders against
    its exchange filters, then the account's against `max_open_orders` (`fresh`: under the
    account lock at dispatch, counted afresh, never the shared count)."""
    if validated.order is not None and validated.market is not None:
        await check_open_counts(validated.order, validated.market, services.exchange)
    await check_max_open_orders(validated, decision, services, fresh=fresh)


async def check_max_open_orders(
    validated: Validated, decision: Decision, services: Services, *, fresh: bool = False
) -> None:
    if any(bounds.constraints.max_open_orders is not None for bounds in decision.bounds):
        count = await count_open_orders(services, validated.epoch, fresh=fresh)
        await check_constraints(validated, decision, services, open_orders=count)


async def check_open_counts(order: Order, market: Market, exchange: ExchangeClient) -> None:
    """The symbol's order-count filters (MAX_NUM_ORDERS, MAX_NUM_ALGO_ORDERS, MAX_NUM_ORDER_LISTS)
    against what is open on it now, before anything is sent: Binance refuses with -1013."""
    from binance_mcp.exchange.filters import check_open_counts as first_filter_broken

    rules = market.rules
    is_list = order.kind != "ORDER"
    if (
        rules.max_num_orders is None
        and rules.max_num_algo_orders is None
        and not (is_list and rules.max_num_order_lists is not None)
    ):
        return
    try:
        open_orders = await exchange.get_open_orders(order.symbol)
        open_lists = None
        if is_list and rules.max_num_order_lists is not None:
            lists = await exchange.get_open_order_lists()
            open_lists = sum(1 for found in lists if found.get("symbol") == order.symbol)
    except EXCHANGE_FAILURES as exc:
        raise refusal_for(exc, f"counting the open orders on {order.symbol}") from None
    violation = first_filter_broken(
        rules,
        open_orders=open_orders,
        open_lists=open_lists,
        new_types=[leg.type for leg in order.legs],
        new_list=is_list,
    )
    if violation is not None:
        raise Refusal(RefusalKind.INVALID_ARGUMENTS, f"{violation.message}; nothing was sent", field="symbol")


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
        await check_max_open_orders(decided.validated, decided.decision, services, fresh=True)
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
