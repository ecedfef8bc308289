"""What the guard would decide for an order, without sending it: the content of `get_order_preview`.

The order (the arguments of `place_order` or `place_order_list`) passes the same stages a real
call passes up to the decision (parse, validate, decide), with the policy in force for this
caller; nothing is sent, no approval is requested, no rate-limit counter or budget moves. The
answer says the value and how it was reached, each money bound compared with it (`limit`,
`value`, `unit`, `passes`), whether a human would be asked, and the largest quantity at this
price that needs no human, so that an agent sizes an order to fit on the first try.
"""

from __future__ import annotations

import time
from dataclasses import replace
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from binance_mcp import tools
from binance_mcp.guard.budget import budget_for, exchange_now
from binance_mcp.guard.call import Request
from binance_mcp.guard.decide import decide
from binance_mcp.guard.hide import is_visible
from binance_mcp.guard.parse import parse
from binance_mcp.guard.validate import validate, value_of
from binance_mcp.refusals import Refusal
from binance_mcp.tools.inputs import decimal_text

if TYPE_CHECKING:
    from binance_mcp.guard.call import Caller, Validated
    from binance_mcp.guard.services import Services
    from binance_mcp.orders import Order
    from binance_mcp.policy.engine import Decision
    from binance_mcp.valuation import Valuation

PREVIEWED_TOOLS = ("place_order", "place_order_list")


def _text(value: Any) -> str | None:
    return decimal_text(value) if value is not None else None


async def preview_report(
    services: Services, caller: Caller, tool: str, arguments: dict[str, Any]
) -> dict[str, Any]:
    found: dict[str, Any] = {"tool": tool, "sent": False}
    if tool not in PREVIEWED_TOOLS or not is_visible(services.engine, tool, caller.agent):
        return found | {"decision": "refused", "reason": f"{tool} is not a tool that places orders here"}
    request = Request(spec=tools.SPECS[tool], caller=caller, raw=arguments, started=time.perf_counter())
    validated: Validated | None = None
    try:
        validated = await validate(await parse(request, services), services, refuse_early=False)
        decided = await decide(validated, services)
    except Refusal as refusal:
        found |= {"decision": "refused", "reason": refusal.reason, "refusal": refusal.structured(tool)}
        decision = services.engine.decide(tool, caller.agent, services.network.value)
        if validated is not None and validated.valuation is not None:
            found |= _valued(validated, decision, services)
            budget = await _budget_bound(validated, services, services.dry_run or decision.dry_run)
            if budget is not None:
                found["bounds"].append(budget)
            if _too_large(refusal):  # what would fit is what the agent needs to know now
                dry_run = services.dry_run or decision.dry_run
                found |= await _largest(validated, decision, dry_run, services)
        return found
    found["decision"] = "approval" if decided.needs_approval else "allow"
    found["human_asked"] = decided.needs_approval
    if decided.needs_approval:
        found["approval_rule"] = decided.approval_rule
    if decided.dry_run:
        found["dry_run"] = True
    if validated.valuation is not None:
        found |= _valued(validated, decided.decision, services)
        budget = await _budget_bound(validated, services, decided.dry_run)
        if budget is not None:
            found["bounds"].append(budget)
        found |= await _largest(validated, decided.decision, decided.dry_run, services)
    return found


async def _budget_bound(validated: Validated, services: Services, dry_run: bool) -> dict[str, Any] | None:
    """Today's budget: what is left of it against what this order would hold (its worst path)."""
    budget = budget_for(validated, services)
    valuation = validated.valuation
    if budget is None or valuation is None or dry_run:
        return None
    now = exchange_now(services)
    store = services.budgets
    usage = await anyio.to_thread.run_sync(lambda: store.usage_today(services.account, budget.asset, now=now))
    left = max(budget.daily_notional - usage.used, Decimal(0))
    return {
        "bound": "budgets.daily_notional",
        "rule": budget.path,
        "limit": _text(left),
        "value": _text(valuation.held),
        "unit": budget.asset,
        "passes": valuation.held <= left,
        "traded": _text(usage.traded),
        "held": _text(usage.held),
    }


MONEY_BOUNDS = ("max_notional", "max_quantity")


def _too_large(refusal: Refusal) -> bool:
    """Refused for its size (max_notional, max_quantity, today's budget): a smaller one may fit."""
    rule = refusal.rule or ""
    return rule.endswith(MONEY_BOUNDS) or rule.startswith("budgets.daily_notional")


def _valued(validated: Validated, decision: Decision, services: Services) -> dict[str, Any]:
    valuation = validated.valuation
    assert valuation is not None
    return {
        "value": _text(valuation.notional),
        "held_by_budget": _text(valuation.held),
        "unit": valuation.quote_asset,
        "valued_as": valuation.kind,
        "valued_at_market_price": _text(valuation.market_price),
        "how": valuation.how,
        "bounds": [bound for bound in _bounds(valuation, validated.order, decision) if bound is not None],
    }


def _bounds(valuation: Valuation, order: Order | None, decision: Decision) -> list[dict[str, Any] | None]:
    unit = valuation.quote_asset

    def compared(
        name: str, path: str, limit: Decimal | None, value: Decimal, unit: str
    ) -> dict[str, Any] | None:
        if limit is None:
            return None
        return {
            "bound": name,
            "rule": path,
            "limit": _text(limit),
            "value": _text(value),
            "unit": unit,
            "passes": value <= limit,
        }

    constraints = decision.constraints
    quantity = (
        max((leg.quantity or Decimal(0) for leg in order.legs), default=Decimal(0)) if order else Decimal(0)
    )
    found = [
        compared(
            "approve_above_notional",
            decision.approve_above_notional_path or decision.rule_path,
            decision.approve_above_notional,
            valuation.notional,
            unit,
        )
    ]
    if constraints is not None:
        found.append(
            compared(
                "max_notional",
                decision.constraint_path("max_notional"),
                constraints.max_notional,
                valuation.notional,
                unit,
            )
        )
        if quantity:
            found.append(
                compared(
                    "max_quantity",
                    decision.constraint_path("max_quantity"),
                    constraints.max_quantity,
                    quantity,
                    "base asset",
                )
            )
    return found


async def _largest(
    validated: Validated, decision: Decision, dry_run: bool, services: Services
) -> dict[str, Any]:
    """The largest quantity (all legs scaled alike) at this price whose value needs no human and
    keeps every money bound: max_notional, approve_above_notional, max_quantity, today's budget."""
    order, market, valuation = validated.order, validated.market, validated.valuation
    assert order is not None and market is not None and valuation is not None
    if decision.action == "require_approval":
        return {"largest_without_human": None, "largest_without_human_why": "every order needs a human"}
    constraints = decision.constraints
    budget = budget_for(validated, services)
    left: Decimal | None = None
    if budget is not None and not dry_run:
        now = exchange_now(services)
        store = services.budgets
        usage = await anyio.to_thread.run_sync(
            lambda: store.usage_today(services.account, budget.asset, now=now)
        )
        left = max(budget.daily_notional - usage.used, Decimal(0))
    allowance = constraints.market_allowance_pct if constraints is not None else None

    def fits(scaled: Order) -> bool:
        value = value_of(scaled, market, allowance)
        for limit in (decision.approve_above_notional, constraints.max_notional if constraints else None):
            if limit is not None and value.notional > limit:
                return False
        if left is not None and value.held > left:
            return False
        max_quantity = constraints.max_quantity if constraints is not None else None
        return not (
            max_quantity is not None and any((leg.quantity or 0) > max_quantity for leg in scaled.legs)
        )

    first = order.legs[0]
    if first.quote_quantity is not None:
        limits = [decision.approve_above_notional, left]
        if constraints is not None:
            limits.append(constraints.max_notional)
        known = [limit for limit in limits if limit is not None]
        top = min(known) if known else None
        return {"largest_without_human": {"quote_quantity": _text(top)} if top is not None else None}
    step = market.rules.lot_size.step_size if market.rules.lot_size is not None else Decimal("0.00000001")
    base = first.quantity or Decimal(0)
    if base <= 0 or step <= 0:
        return {"largest_without_human": None}

    def scaled(quantity: Decimal) -> Order:
        ratio = quantity / base
        legs = tuple(
            replace(leg, quantity=_floor(leg.quantity * ratio, step)) if leg.quantity is not None else leg
            for leg in order.legs
        )
        return replace(order, legs=legs)

    # the value is linear in the quantity but for the book's levels: search the steps between 0 and
    # twice the linear guess
    guess_limits = [
        limit
        for limit in (decision.approve_above_notional, constraints.max_notional if constraints else None)
        if limit is not None
    ]
    guess = (
        base * (min(guess_limits) / valuation.notional) if guess_limits and valuation.notional else base * 4
    )
    low, high = 0, int(max(guess, base) * 2 / step) + 1
    while low < high:
        middle = (low + high + 1) // 2
        if fits(scaled(middle * step)):
            low = middle
        else:
            high = middle - 1
    if low == 0:
        return {"largest_without_human": None, "largest_without_human_why": "no quantity at this price fits"}
    best = scaled(low * step)
    quantities: dict[str, Any] = (
        {"quantity": _text(best.legs[0].quantity)}
        if best.kind == "ORDER"
        else {"legs": [{"quantity": _text(leg.quantity)} for leg in best.legs]}  # as given, leg by leg
    )
    value = value_of(best, market, allowance)
    return {
        "largest_without_human": quantities
        | {"value": _text(value.notional), "held_by_budget": _text(value.held), "unit": value.quote_asset}
    }


def _floor(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step
