"""The daily budget: checked before anyone is asked, reserved under the account lock, settled
with what the order actually traded.

The budget day is the exchange's UTC day (the local clock plus the offset resynced from Binance),
so a machine whose clock is off does not open tomorrow's budget early.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import anyio.to_thread

from binance_mcp.decimals import decimal_text
from binance_mcp.exchange.clock import server_now_ms
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


async def check_budget(validated: Validated, services: Services) -> None:
    """Does the order fit what is left of today's budget? (Nothing is held yet.)"""

    budget = budget_for(validated, services)
    if budget is None or validated.valuation is None:
        return
    amount = validated.valuation.notional
    now = exchange_now(services)
    store = services.budgets
    spent = await anyio.to_thread.run_sync(lambda: store.spent_today(**_where(services, budget), now=now))
    if spent + amount > budget.daily_notional:
        exceeded = BudgetExceeded(
            budget.asset,
            spent,
            budget.daily_notional,
            max(budget.daily_notional - spent, Decimal(0)),
            day_resets_at(now),
            network=services.network.value,
            amount=amount,
        )
        raise _refusal(exceeded, budget)


async def reserve_budget(validated: Validated, services: Services) -> str | None:
    """Hold the order's value against today's budget (under the account lock); the reservation id."""

    budget = budget_for(validated, services)
    if budget is None or validated.valuation is None:
        return None
    amount = validated.valuation.notional
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
    services: Services, reservation: str | None, *, spent: bool, traded: Decimal | None = None
) -> None:
    """Kept once the order may have been accepted (at what it traded, when that is final); given
    back when nothing was placed."""
    if reservation is None:
        return
    store = services.budgets
    try:
        if spent:
            store.keep(reservation, traded)
        else:
            store.release(reservation)
    except Exception:  # the reservation stays held: the budget fails closed
        logger.exception("could not settle budget reservation %s", reservation)


def _refusal(exceeded: object, budget: Budget) -> Refusal:

    return Refusal(
        RefusalKind.POLICY_DENIED,
        exceeded.sentence(),  # type: ignore[attr-defined]
        rule=budget.path,
        limit=decimal_text(budget.daily_notional),
        value=decimal_text(exceeded.spent + (exceeded.amount or 0)),  # type: ignore[attr-defined]
        unit=budget.asset,
        scope="day",
    )
