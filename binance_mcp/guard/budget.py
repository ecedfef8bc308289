"""The daily budget: checked before anyone is asked, reserved under the account lock, settled
with what the order actually traded.

The budget day is the exchange's UTC day (the local clock plus the offset resynced from Binance),
so a machine whose clock is off does not open tomorrow's budget early.
"""

from __future__ import annotations

import functools
import json
import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import anyio.to_thread

from binance_mcp.decimals import decimal_text
from binance_mcp.exchange.clock import server_now_ms
from binance_mcp.exchange.order_kinds import FINAL_STATUSES
from binance_mcp.refusals import Refusal, RefusalKind
from binance_mcp.stores.budgets import BudgetExceeded, day_resets_at

if TYPE_CHECKING:
    from binance_mcp.guard.call import Validated
    from binance_mcp.guard.services import Services
    from binance_mcp.policy.engine import Budget

logger = logging.getLogger(__name__)


def exchange_now(services: Services) -> datetime:

    return datetime.fromtimestamp(server_now_ms(services.exchange.timestamp_offset_ms) / 1000, UTC)


def budget_for(validated: Validated, services: Services) -> Budget | None:
    valuation = validated.valuation
    if valuation is None:
        return None
    return services.engine.budget(valuation.quote_asset)


def _where(services: Services, budget: Budget) -> dict[str, str]:
    return {"account": services.account, "asset": budget.asset}


async def check_budget_assets(validated: Validated, services: Services) -> None:
    """A budget whose asset Binance does not list (`USTD` for USDT) limits nothing: while the
    policy names one, an order in an asset without a budget of its own is refused, with the asset
    the operator probably meant. The assets are read from exchangeInfo on the first order that
    needs them (cached), not at start-up; unreadable, such orders are refused too (fail closed)."""
    from binance_mcp.exchange.errors import ExchangeFailure

    daily = services.engine.policy.budgets.daily_notional
    valuation = validated.valuation
    if not daily or valuation is None or valuation.quote_asset in daily:
        return
    try:
        listed = await services.exchange.listed_assets()
    except ExchangeFailure as exc:
        raise Refusal(
            RefusalKind.POLICY_DENIED,
            f"the policy's budgets ({', '.join(daily)}) could not be checked against the assets Binance "
            f"lists ({exc.message}), and this order is in {valuation.quote_asset}, which has no budget: "
            "refused until they can be; nothing was sent",
            rule="budgets.daily_notional",
        ) from None
    unknown = sorted(asset for asset in daily if asset not in listed)
    if unknown:
        raise Refusal(
            RefusalKind.POLICY_DENIED,
            f"{unknown_budget_assets(unknown, listed)}; while it does, an order in {valuation.quote_asset} "
            "(no budget of its own) is refused: fix the policy's budgets. Nothing was sent",
            rule=f"budgets.daily_notional.{unknown[0]}",
        )


def unknown_budget_assets(unknown: list[str], listed: frozenset[str]) -> str:
    """`budgets.daily_notional.USTD names an asset Binance does not list (did you mean USDT?)`."""
    from difflib import get_close_matches

    parts = []
    for asset in unknown:
        close = get_close_matches(asset, sorted(listed), n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]}?)" if close else ""
        parts.append(f"budgets.daily_notional.{asset} names an asset Binance does not list{hint}")
    return "; ".join(parts)


async def check_budget(validated: Validated, services: Services) -> None:
    """Does the order fit what is left of today's budget? (Nothing is held yet.)"""

    await check_budget_assets(validated, services)
    budget = budget_for(validated, services)
    if budget is None or validated.valuation is None:
        return
    amount = validated.valuation.held  # the worst path's total, held while the order is open
    now = exchange_now(services)
    await settle_open_orders(services)
    store = services.budgets
    usage = await anyio.to_thread.run_sync(lambda: store.usage_today(services.account, budget.asset, now=now))
    spent = usage.used
    if spent + amount > budget.daily_notional:
        exceeded = BudgetExceeded(
            budget.asset,
            spent,
            budget.daily_notional,
            max(budget.daily_notional - spent, Decimal(0)),
            day_resets_at(now),
            network=services.network.value,
            amount=amount,
            held=usage.held,
        )
        raise _refusal(exceeded, budget)


async def settle_open_orders(services: Services) -> None:
    """Orders placed earlier and held at their worst path: each one now final is settled to what
    it traded, from its fills (Binance's cummulativeQuoteQty, summed over a list's legs). One
    signed look-up per order still held; a failed look-up leaves the hold in place (fail closed)."""
    store = services.budgets
    holds = await anyio.to_thread.run_sync(lambda: store.open_holds(services.account))
    for reservation, watch in holds:
        try:
            named = json.loads(watch)
            if "order_list_id" in named:
                found = await services.exchange.get_order_list(order_list_id=int(named["order_list_id"]))
                legs = [
                    await services.exchange.get_order(named["symbol"], order_id=int(leg["orderId"]))
                    for leg in found.get("orders", [])
                ]
            else:
                legs = [await services.exchange.get_order(named["symbol"], order_id=int(named["order_id"]))]
        except Exception:  # informational for the budget: the hold stays until a look-up succeeds
            logger.warning("could not look up held order %s to settle the budget", watch, exc_info=True)
            continue
        if not legs or any(leg.get("status") not in FINAL_STATUSES for leg in legs):
            continue
        traded = sum((Decimal(str(leg.get("cummulativeQuoteQty") or 0)) for leg in legs), Decimal(0))
        await anyio.to_thread.run_sync(functools.partial(store.settle, reservation, traded))


async def reserve_budget(validated: Validated, services: Services) -> str | None:
    """Hold the order's value against today's budget (under the account lock); the reservation id."""

    budget = budget_for(validated, services)
    if budget is None or validated.valuation is None:
        return None
    amount = validated.valuation.held  # the worst path's total, held while the order is open
    now = exchange_now(services)
    store = services.budgets
    try:
        reservation = await anyio.to_thread.run_sync(
            lambda: store.reserve(
                **_where(services, budget), amount=amount, limit=budget.daily_notional, now=now
            )
        )
    except BudgetExceeded as exceeded:
        raise _refusal(exceeded, budget) from None
    return str(reservation.id)


def settle_budget(
    services: Services,
    reservation: str | None,
    *,
    spent: bool,
    traded: Decimal | None = None,
    watch: str | None = None,
) -> None:
    """Kept once the order may have been accepted: at what it traded when that is final; held at
    the worst path while it is open (`watch` names it, to settle it from its fills later); kept
    whole when its outcome is unknown. Given back when nothing was placed."""
    if reservation is None:
        return

    def settle() -> None:
        store = services.budgets
        if spent and traded is None and watch is not None:
            store.hold_open(reservation, watch)
        elif spent:
            store.keep(reservation, traded)
        else:
            store.release(reservation)

    try:
        settle()
    except (KeyError, ValueError):  # settled already (kept, released): nothing is owed
        logger.exception("budget reservation %s could not be settled as asked", reservation)
    except Exception as exc:
        # Held meanwhile (the budget fails closed); settled once the store is back, by the next
        # call that changes the account or the server's background task (`guard.repairs`).
        logger.warning("could not settle budget reservation %s (%s); owed", reservation, exc)
        services.repairs.owe(f"settle budget reservation {reservation}", settle)


def shrink_held(services: Services, shrunk: tuple[str, Decimal, Decimal] | None) -> None:
    """An open order reduced by an amend: (its watch, old quantity, new quantity). What the budget
    holds for it shrinks alike; a failure to shrink keeps the larger hold (fails closed)."""
    if shrunk is None:
        return
    watch, before, after = shrunk
    if before <= 0 or after >= before:
        return
    try:
        services.budgets.shrink_hold(services.account, watch, after / before)
    except Exception:
        logger.exception("could not shrink the budget held for %s", watch)


def _refusal(exceeded: object, budget: Budget) -> Refusal:

    return Refusal(
        RefusalKind.POLICY_DENIED,
        exceeded.sentence(),  # type: ignore[attr-defined]
        rule=budget.path,
        limit=decimal_text(budget.daily_notional),
        value=decimal_text(exceeded.spent + (exceeded.amount or 0)),  # type: ignore[attr-defined]
        traded=decimal_text(exceeded.spent - exceeded.held),  # type: ignore[attr-defined]
        held=decimal_text(exceeded.held),  # type: ignore[attr-defined]
        left=decimal_text(exceeded.left),  # type: ignore[attr-defined]
        unit=budget.asset,
        scope="day",
    )
