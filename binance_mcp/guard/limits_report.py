"""What the calling agent may do, here and now: the content of `get_limits` and of the resource
`binance-mcp://limits`.

An agent that reads this before it acts needs no bisection: each visible tool with its decision,
the order constraints, the largest order that needs no human, open orders against their bound,
each budget with what is spent and left, each rate limit with the calls left in its window, dry
run, and who may approve. It is the guard's own view (the policy in force, this caller), so it
cannot drift from what the guard decides.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from binance_mcp.decimals import decimal_text
from binance_mcp.guard.approve import approvers_for
from binance_mcp.guard.budget import exchange_now
from binance_mcp.guard.hide import is_visible
from binance_mcp.guard.ratelimit import counter_key
from binance_mcp.stores.budgets import day_resets_at
from binance_mcp.timestamps import utc_seconds_text
from binance_mcp.tools.names import TOOL_NAMES

if TYPE_CHECKING:
    from binance_mcp.guard.call import Caller
    from binance_mcp.guard.services import Services


def _text(value: Any) -> str | None:

    return decimal_text(value) if value is not None else None


async def limits_report(services: Services, caller: Caller) -> dict[str, Any]:

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
        tools.append(entry)
        if decision.rate_limit is not None and decision.action != "deny":
            limit = decision.rate_limit
            key = counter_key(caller, limit.scope, decision.rate_limit_path)
            rate_limits.append(
                {
                    "tool": tool,
                    "max": int(limit.max),
                    "window_s": limit.window,
                    "scope": limit.scope,
                    "left": services.limiter.left(key, int(limit.max), float(limit.window)),
                    "rule": decision.rate_limit_path,
                }
            )
        if tool == "place_order" and decision.action != "deny":
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
        "approvers": sorted(approvers_for(services, caller)),
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
    if constraints is not None:
        for name in ("symbols", "sides", "order_types"):
            value = getattr(constraints, name)
            if value is not None:
                found[name] = list(value)
        for name in ("max_quantity", "max_notional", "max_price_deviation_pct"):
            value = getattr(constraints, name)
            if value is not None:
                found[name] = _text(value)
        if constraints.max_open_orders is not None:
            open_now = None
            if services.exchange.has_credentials:
                try:
                    open_now = len(await services.exchange.get_open_orders(None))
                except Exception:  # informational: the count is left out, the bound still stands
                    open_now = None
            found["max_open_orders"] = {
                "limit": constraints.max_open_orders,
                "scope": "account (all symbols)",
                "open_now": open_now,
            }
    return found


async def _budgets(services: Services) -> list[dict[str, Any]]:
    policy = services.engine.policy
    daily = policy.budgets.daily_notional if policy.budgets is not None else {}
    if not daily:
        return []
    store = services.budgets
    now = exchange_now(services)
    found = []
    for asset, limit in sorted(daily.items()):
        spent = await anyio.to_thread.run_sync(
            functools.partial(store.spent_today, services.account, asset, now)
        )
        found.append(
            {
                "asset": asset,
                "limit": _text(limit),
                "spent": _text(spent),
                "left": _text(max(limit - spent, 0)),
            }
        )
    return found
