"""Stage 3, validate: everything about a call that can be known before the policy is asked.

API keys present (and, on mainnet, unable to withdraw); for an order, the order itself (the
tool's `order` hook), its symbol's exchange rules and price, every leg against the exchange's
filters (tick, step, min/max quantity, notional, price band, quote precision, trigger
direction), then the tool's own `check` hook on the whole order (an OCO's prices against the
market, trailing-delta bounds), the order's value (`binance_mcp.valuation`), and a caller's client order id never
used before. A call that fails here is refused before any human is asked or budget touched.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import anyio

from binance_mcp.exchange.filters import SymbolRules, check_order
from binance_mcp.guard.call import Validated
from binance_mcp.guard.epoch import read_epoch
from binance_mcp.guard.failures import EXCHANGE_FAILURES, refusal_for
from binance_mcp.market import Market
from binance_mcp.refusals import Refusal, RefusalKind
from binance_mcp.valuation import Book, value_order

if TYPE_CHECKING:
    from binance_mcp.exchange.client import ExchangeClient
    from binance_mcp.guard.call import Parsed
    from binance_mcp.guard.services import Services
    from binance_mcp.orders import Order


async def validate(parsed: Parsed, services: Services) -> Validated:
    request = parsed.request
    spec = request.spec
    epoch = await read_epoch(services) if spec.changes_account else None  # before all it decides on
    decision = services.engine.decide(spec.name, request.caller.agent, services.network.value)
    if decision.action == "deny":
        return Validated(parsed)  # refused by `decide` next: nothing to ask the exchange about
    await services.keys.check(spec)
    if spec.order is None:
        return Validated(parsed, epoch=epoch)
    order = spec.order(parsed.args)
    market = await fetch_market(services.exchange, order.symbol, book=needs_book(order))
    check_filters(order, market)
    if spec.check is not None:
        spec.check(order, market)  # the tool's own rules on the whole order (an OCO's prices, ...)
    await refuse_used_client_ids(parsed, services)
    allowance = decision.constraints.market_allowance_pct if decision.constraints is not None else None
    valuation = value_of(order, market, allowance)
    return Validated(parsed, order=order, market=market, valuation=valuation, epoch=epoch)


def value_of(order: Order, market: Market, allowance_pct: Decimal | None = None) -> Any:
    return value_order(
        order, market.price, market.rules.quote_asset, book=market.book, allowance_pct=allowance_pct
    )


BOOK_LEVELS = 100
"""Levels of the order book read to value a MARKET order by quantity (weight 5 of 6000 a minute)."""


def needs_book(order: Order) -> bool:
    """A working MARKET leg by quantity fills through the book now: its value is read from it."""
    return any(leg.type == "MARKET" and leg.quote_quantity is None and not leg.pending for leg in order.legs)


async def fetch_market(exchange: ExchangeClient, symbol: str, *, book: bool = False) -> Market:
    """The symbol's rules and current price (and, for a MARKET order, its order book), fetched
    together (all public; the rules and price cached)."""
    found: dict[str, Any] = {"book": None}

    async def fetch_book() -> None:
        found["book"] = Book.from_depth(await exchange.get_orderbook(symbol, BOOK_LEVELS))

    async def fetch_rules() -> None:
        found["rules"] = SymbolRules.from_exchange_info(await exchange.get_symbol_info(symbol))

    async def fetch_price() -> None:
        found["price"] = Decimal((await exchange.get_price(symbol))["price"])

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(fetch_rules)
            group.start_soon(fetch_price)
            if book:
                group.start_soon(fetch_book)
    except BaseExceptionGroup as failed:  # the exchange's error, not the task group's wrapper
        first = failed.exceptions[0]
        if isinstance(first, EXCHANGE_FAILURES):
            raise refusal_for(first, f"pricing the {symbol} order") from None
        raise first from None
    return Market(rules=found["rules"], price=found["price"], book=found["book"])


def check_filters(order: Order, market: Market) -> None:
    """Every leg against the symbol's exchange filters: the first broken one refuses the call."""

    for leg in order.legs:
        violation = check_order(
            market.rules,
            side=leg.side,
            order_type=leg.type,
            quantity=leg.quantity,
            quote_quantity=leg.quote_quantity,
            price=leg.price,
            stop_price=leg.stop_price,
            # a pending leg is placed when its working order fills, at a market nobody knows yet
            reference_price=None if leg.pending else market.price,
        )
        if violation is not None:
            where = "" if leg.role == "order" else f"{leg.role} leg: "
            raise Refusal(
                RefusalKind.INVALID_ARGUMENTS,
                f"{where}{violation.message}; nothing was sent",
                field=violation.field if leg.role == "order" else f"{leg.role}_{violation.field}",
            )


def caller_client_ids(parsed: Parsed) -> list[tuple[str, str]]:
    """The client ids the caller gave (an order's, a list's and its legs'), as (field, id): the ids
    the server makes are new by construction."""
    raw = parsed.request.raw
    return [
        (field, str(parsed.arguments[field]))
        for field in raw
        if field.endswith("client_order_id") and parsed.arguments.get(field)
    ]


async def refuse_used_client_ids(parsed: Parsed, services: Services) -> None:
    for field, client_id in caller_client_ids(parsed):
        await refuse_a_used_client_order_id(client_id, services, field)


async def refuse_a_used_client_order_id(
    client_order_id: str, services: Services, field: str = "client_order_id"
) -> None:
    """Binance accepts a client order id again once its first order is no longer open, so an agent
    that "safely" retries with its own id after a lost answer could place a second order. An id
    this server already sent an order with is refused. Checked here, before anyone is asked, and
    again under the account lock at dispatch."""
    network = services.network.value
    earlier = await services.audit.read(
        lambda store: store.sent_with_client_order_id(client_order_id, account=services.account)
    )
    if earlier:
        first = earlier[0]
        order = f", order id {first.order_id}" if first.order_id else ""
        raise Refusal(
            RefusalKind.INVALID_ARGUMENTS,
            f"{field} {client_order_id} was already used for an order on {network.upper()} "
            f"({first.time}, outcome {first.outcome}{order}); sending it again could place a second order "
            "once the first is filled. Nothing was sent: use a new id, or look the order up with "
            "get_order_history or get_open_orders",
            field=field,
        )
