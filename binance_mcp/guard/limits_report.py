"""What the calling agent may do, here and now: the content of `get_limits` and of the resource
`binance-mcp://limits`.

An agent that reads this before it acts needs no bisection: each visible tool with its decision,
the order constraints, the largest order that needs no human, open orders against their bound,
each budget with what traded, what open orders hold and what is left, each rate limit with the calls left in its window, dry
run, and who may approve. It is the guard's own view (the policy in force, this caller), so it
cannot drift from what the guard decides.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from binance_mcp.decimals import decimal_text
from binance_mcp.guard.approve import approvers_for
from binance_mcp.guard.budget import exchange_now, settle_open_orders
from binance_mcp.guard.decide import epoch_key
from binance_mcp.guard.epoch import read_epoch
from binance_mcp.guard.failures import store_refusal
from binance_mcp.guard.hide import is_visible
from binance_mcp.guard.ratelimit import counts_after_a_restart, limit_keys
from binance_mcp.guard.weight_share import share_report
from binance_mcp.stores.budgets import day_resets_at
from binance_mcp.timestamps import utc_seconds_text
from binance_mcp.tools.names import DRY_RUN_REFUSED, DRY_RUN_SIMULATED, TOOL_NAMES
from binance_mcp.valuation import DEFAULT_MARKET_ALLOWANCE_PCT

if TYPE_CHECKING:
    from binance_mcp.guard.call import Caller
    from binance_mcp.guard.services import Services


def _text(value: Any) -> str | None:

    return decimal_text(value) if value is not None else None


async def limits_report(services: Services, caller: Caller) -> dict[str, Any]:
    """The report; a `store_unavailable` refusal when a store it reads (the rate-limit counters,
    the budgets) cannot be reached."""
    try:
        await counts_after_a_restart(services)
        return await _report(services, caller)
    except Exception as exc:
        outage = store_refusal(exc, what="get_limits")
        if outage is None:
            raise
        raise outage from None


async def _report(services: Services, caller: Caller) -> dict[str, Any]:
    dry_run_tools = DRY_RUN_SIMULATED | DRY_RUN_REFUSED
    engine = services.engine
    network = services.network.value
    tools: list[dict[str, Any]] = []
    rate_limits: list[dict[str, Any]] = []
    orders: dict[str, Any] | None = None
    for tool in TOOL_NAMES:
        if not is_visible(engine, tool, caller.agent):
            continue
        decision = engine.decide(tool, caller.agent, network)
        entry: dict[str, Any] = {"tool": tool, "rule": decision.rule_path}
        if decision.action == "deny":
            entry |= {"decision": "deny", "reason": decision.reason}
        elif decision.action == "require_approval":
            entry |= {"decision": "approval", "approval": "every call"}
        else:
            entry["decision"] = "allow"
            if decision.approve_above_notional is not None:
                entry["approval"] = f"above {_text(decision.approve_above_notional)}"
        if decision.inherited_from is not None:
            entry["rule_of"] = decision.inherited_from
        if decision.action != "deny" and (services.dry_run or decision.dry_run) and tool in dry_run_tools:
            entry["dry_run"] = "refused" if decision.dry_run_refused else "simulated"
        tools.append(entry)
        if decision.action == "deny":
            continue
        for rule_limit in decision.limits:
            limit = rule_limit.rate_limit
            key, others = limit_keys(caller, rule_limit, tool)
            found = {
                "tool": tool,
                "max": int(limit.max),
                "window_s": limit.window,
                "scope": limit.scope,
                "count_refused": limit.count_refused,
                "left": services.limiter.left(key, int(limit.max), float(limit.window), others),
                "rule": rule_limit.path,
            }
            if rule_limit.shared:
                found["shared_by"] = list(rule_limit.tools)
            rate_limits.append(found)
        if tool == "place_order":
            orders = await _order_limits(services, decision)
    budgets = await _budgets(services)
    now = exchange_now(services)
    return {
        "agent": caller.agent,
        "network": network,
        "transport": caller.transport,
        "dry_run": services.dry_run,
        "tools": tools,
        "orders": orders,
        "budgets": [budget | {"resets_at": utc_seconds_text(day_resets_at(now))} for budget in budgets],
        "rate_limits": rate_limits,
        "weight_share": share_report(
            services.policy, services.limiter, caller.agent, services.exchange.limits.weight_per_minute()
        ),
        "approvers": sorted(approvers_for(services, caller)),
        "approvals_pending_max": engine.max_pending_per_agent,
    }


async def _order_limits(services: Services, decision: Any) -> dict[str, Any]:
    constraints = decision.constraints
    found: dict[str, Any] = {"rule": decision.rule_path, "dry_run": services.dry_run or decision.dry_run}
    if decision.action == "require_approval":
        found["no_approval_max"] = None
        found["approval"] = "every order needs a human's approval"
    elif decision.approve_above_notional is not None:
        bound = _text(decision.approve_above_notional)
        found["no_approval_max"] = bound
        found["approval"] = f"orders up to {bound} (in the quote asset) go ahead without a human"
    else:
        found["approval"] = "no order needs a human's approval"
    found["valued_as"] = (
        "max_notional and the approval bound compare an order's largest single execution, each leg at "
        "its worst price; get_order_preview says what an order comes to"
    )
    if constraints is not None:
        for name in ("symbols", "sides", "order_types"):
            value = getattr(constraints, name)
            if value is not None:
                found[name] = list(value)
        for name in ("max_quantity", "max_notional", "max_price_deviation_pct"):
            value = getattr(constraints, name)
            if value is not None:
                found[name] = _text(value)
        allowance = constraints.market_allowance_pct
        found["market_allowance_pct"] = _text(
            DEFAULT_MARKET_ALLOWANCE_PCT if allowance is None else allowance
        )
        found["uncapped_orders"] = constraints.uncapped_orders
        if constraints.max_open_orders is not None:
            found["max_open_orders"] = {
                "limit": constraints.max_open_orders,
                "scope": "account (all symbols)",
                **await _open_orders_now(services),
            }
    return found


OPEN_ORDERS_SHOWN_MAX_AGE = 5.0
"""How old a count of the account's open orders (an all-symbol request, weight 80) may be shown:
reading the limits in a loop costs one request per 5 s at most. It is the guard's shared count
(`ExchangeClient.count_open_orders`), for the account's epoch now: an order of the account from
any process sharing the state, or sent by this one, is counted afresh."""


async def _open_orders_now(services: Services) -> dict[str, Any]:
    """The account's open orders, for showing (the guard counts afresh under the lock when it
    checks the bound): `open_now` and `counted_at`, or nothing when they cannot be read."""
    if not services.exchange.has_credentials:
        return {"open_now": None}
    try:
        epoch = await read_epoch(services)
        reading = await services.exchange.count_open_orders(
            max_age=OPEN_ORDERS_SHOWN_MAX_AGE, version=epoch_key(epoch)
        )
    except Exception:  # informational: the count is left out, the bound still stands
        return {"open_now": None}
    return {"open_now": reading.value, "counted_at": reading.read_at}


async def _budgets(services: Services) -> list[dict[str, Any]]:
    policy = services.engine.policy
    daily = policy.budgets.daily_notional if policy.budgets is not None else {}
    if not daily:
        return []
    store = services.budgets
    now = exchange_now(services)
    if services.exchange.has_credentials:
        await settle_open_orders(services)
    found = []
    for asset, limit in sorted(daily.items()):
        usage = await anyio.to_thread.run_sync(
            functools.partial(store.usage_today, services.account, asset, now)
        )
        found.append(
            {
                "asset": asset,
                "limit": _text(limit),
                "traded": _text(usage.traded),
                "held": _text(usage.held),
                "left": _text(max(limit - usage.used, 0)),
                "means": "what orders may trade today: traded (settled from fills) + held (open orders "
                "at their worst path) + left",
            }
        )
    return found
