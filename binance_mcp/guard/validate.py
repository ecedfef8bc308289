"""Stage 4, validate: everything about a call that can be known before the policy is asked.

API keys present (and, on mainnet, unable to withdraw); for an order, the order itself (the
tool's `order` hook) and, before any request, the policy's bounds that the order alone shows
(`decide.check_order_alone`: symbols, sides, types, quantity, a value above max_notional
already at its limit price); then its symbol's exchange rules, last price and the price its filters use (the
reference price, else the avgPriceMins average; public reads), every leg against the exchange's filters (tick,
step, min/max quantity, notional, price band, quote precision, trigger direction), then the
tool's own `check` hook on the whole order (an OCO's prices against the market, trailing-delta
bounds), the order's value (`binance_mcp.valuation`), and every client order id it
sends (an order list's legs too) never used before. The symbol's open-order counts
(MAX_NUM_ORDERS, ...) are a signed read: `decide` counts them after every cheaper check. A tool that changes an existing order
(`amend_order`) has its `screen` hook check the change against the order as the exchange has it.
A call that fails here is refused before any human is asked or budget touched.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import anyio

from binance_mcp.decimals import decimal_text
from binance_mcp.exchange.filters import SymbolRules, check_order, filter_price
from binance_mcp.guard.call import Validated
from binance_mcp.guard.decide import check_order_alone
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


async def validate(parsed: Parsed, services: Services, *, refuse_early: bool = True) -> Validated:
    """`refuse_early=False` (a preview) values an order before any bound is checked, so that every
    bound can be shown against its value."""
    request = parsed.request
    spec = request.spec
    epoch = await read_epoch(services) if spec.changes_account else None  # before all it decides on
    decision = services.engine.decide(spec.name, request.caller.agent, services.network.value)
    if decision.action == "deny" or ((services.dry_run or decision.dry_run) and decision.dry_run_refused):
        return Validated(parsed)  # refused by `decide` next: nothing to ask the exchange about
    await services.keys.check(spec)
    if spec.order is None:
        if spec.screen is not None:  # checks against the order the call changes (an amend's)
            await screen(parsed, services)
        return Validated(parsed, epoch=epoch)
    order = spec.order(parsed.args)
    # what the order alone shows against the policy, before the market is read (`decide` checks
    # the rest, and everything that costs a signed read, once the order is valued)
    if refuse_early:
        check_order_alone(order, decision, spec.name, services.exchange.cached_quote_asset(order.symbol))
    market = await fetch_market(services.exchange, order.symbol, book=needs_book(order))
    market = await read_deep_enough(order, market, services.exchange)
    check_filters(order, market)
    if spec.check is not None:
        spec.check(order, market)  # the tool's own rules on the whole order (an OCO's prices, ...)
    await refuse_used_client_ids(parsed, services)
    allowance = decision.constraints.market_allowance_pct if decision.constraints is not None else None
    valuation = value_of(order, market, allowance)
    return Validated(parsed, order=order, market=market, valuation=valuation, epoch=epoch)


async def screen(parsed: Parsed, services: Services) -> None:
    from binance_mcp.tools.spec import CallContext

    spec = parsed.request.spec
    assert spec.screen is not None
    try:
        await spec.screen(parsed.args, CallContext(exchange=services.exchange, network=services.network))
    except EXCHANGE_FAILURES as exc:
        raise refusal_for(exc, f"looking up what {spec.name} changes") from None


def value_of(order: Order, market: Market, allowance_pct: Decimal | None = None) -> Any:
    return value_order(
        order, market.price, market.rules.quote_asset, book=market.book, allowance_pct=allowance_pct
    )


BOOK_LEVELS = 100
"""Levels of the order book read to value a MARKET order by quantity (weight 5 of 6000 a minute)."""

DEEPEST_BOOK_LEVELS = 5000
"""The most levels `/api/v3/depth` returns (weight 250): read when the first ones do not hold a
MARKET order's quantity, so that what lies beyond them is not priced at the deepest level read."""


def _unheld(order: Order, book: Book) -> list[Any]:
    """The legs valued from the book whose quantity the book's levels read do not hold."""
    found = []
    for leg in order.legs:
        if not _walks_book(leg) or leg.quantity is None:
            continue
        walked = book.walk(leg.side, leg.quantity)
        if walked is not None and not walked[1]:
            found.append(leg)
    return found


async def read_deep_enough(order: Order, market: Market, exchange: ExchangeClient) -> Market:
    """A MARKET order by quantity fills through as many levels as it needs, at ever worse prices:
    valued from the first levels with the rest at the deepest of them, it could pay more than its
    value and the limits it was compared with. Read the book as deep as Binance shows it then; an
    order even that does not hold is refused (its value cannot be estimated)."""
    from dataclasses import replace

    if market.book is None or not _unheld(order, market.book):
        return market
    try:
        book = Book.from_depth(await exchange.get_orderbook(order.symbol, DEEPEST_BOOK_LEVELS))
    except EXCHANGE_FAILURES as exc:
        raise refusal_for(exc, f"reading the {order.symbol} order book") from None
    unheld = _unheld(order, book)
    if unheld:
        leg = unheld[0]
        raise Refusal(
            RefusalKind.INVALID_ARGUMENTS,
            f"the {order.symbol} order book's {DEEPEST_BOOK_LEVELS} levels a side do not hold a MARKET "
            f"{leg.side} of {leg.quantity}: what it would pay or bring beyond them cannot be estimated. "
            "Nothing was sent: use a smaller quantity, a quote_quantity, or a LIMIT order with "
            "time_in_force IOC",
            field=leg.field("quantity"),
        )
    return replace(market, book=book)


def needs_book(order: Order) -> bool:
    """A working MARKET leg by quantity fills through the book now: its value is read from it. A
    BUY that becomes a MARKET order later (a stop or trailing stop without a limit price, a pending
    MARKET leg) walks the book then: its value takes the book's slippage for its quantity now."""
    return any(_walks_book(leg) for leg in order.legs)


def _walks_book(leg: Any) -> bool:
    if leg.quote_quantity is not None or not leg.quantity:
        return False
    if leg.type == "MARKET":
        return not leg.pending or leg.side == "BUY"
    return leg.side == "BUY" and leg.type in ("STOP_LOSS", "TAKE_PROFIT")


async def fetch_market(exchange: ExchangeClient, symbol: str, *, book: bool = False) -> Market:
    """The symbol's rules, its last price, the price its filters use (its reference price, or the
    average over avgPriceMins) and, for a MARKET order by quantity, its order book, fetched together
    (all public; the rules cached)."""
    found: dict[str, Any] = {"book": None}

    async def fetch_book() -> None:
        found["book"] = Book.from_depth(await exchange.get_orderbook(symbol, BOOK_LEVELS))

    async def fetch_rules() -> None:
        found["rules"] = SymbolRules.from_exchange_info(await exchange.get_symbol_info(symbol))

    async def fetch_price() -> None:
        found["price"] = Decimal((await exchange.get_price(symbol))["price"])

    async def fetch_average() -> None:
        found["average"] = Decimal((await exchange.get_avg_price(symbol))["price"])

    async def fetch_reference() -> None:
        found["reference"] = await exchange.get_reference_price(symbol)

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(fetch_rules)
            group.start_soon(fetch_price)
            group.start_soon(fetch_average)
            group.start_soon(fetch_reference)
            if book:
                group.start_soon(fetch_book)
    except BaseExceptionGroup as failed:  # the exchange's error, not the task group's wrapper
        first = failed.exceptions[0]
        if isinstance(first, EXCHANGE_FAILURES):
            raise refusal_for(first, f"pricing the {symbol} order") from None
        raise first from None
    rules = found["rules"]
    price, basis = filter_price(
        rules, last=found["price"], reference=found["reference"], average=found["average"]
    )
    return Market(
        rules=rules, price=found["price"], book=found["book"], filter_price=price, filter_basis=basis
    )


def check_filters(order: Order, market: Market) -> None:
    """Every leg against the symbol's exchange filters: the first broken one refuses the call."""

    for given in order.legs:
        leg = as_sent(given, market)
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
            average_price=None if leg.pending else market.filter_price,
            average_basis=market.filter_basis,
        )
        if violation is not None:
            where = leg.where
            field = violation.field
            if leg is not given and field == "price":  # the price its cap_pct made
                where += f"cap_pct {decimal_text(given.cap_pct or Decimal(0))} sends it as a LIMIT IOC whose "
                field = "cap_pct"
            raise Refusal(
                RefusalKind.INVALID_ARGUMENTS,
                f"{where}{violation.message}; nothing was sent",
                field=given.field(field),
            )


def as_sent(leg: Any, market: Market) -> Any:
    """A MARKET leg with `cap_pct` is sent as a LIMIT IOC at its capped price: that order is what
    the filters judge (a SELL capped 100 % or more below the book has no price Binance takes)."""
    from dataclasses import replace

    from binance_mcp.valuation import capped_price

    if leg.cap_pct is None or leg.quantity is None or market.book is None:
        return leg
    price = capped_price(leg.side, leg.quantity, market.book, leg.cap_pct, market.rules.price_filter)
    if price is None:
        return leg
    return replace(leg, type="LIMIT", price=price, time_in_force="IOC")


def client_ids_sent(parsed: Parsed) -> list[tuple[str, str]]:
    """Every client order id an order call sends, as (argument, id): a single order's, or an order
    list's and each of its legs' (the caller's or made by the server before the call was audited)."""
    if parsed.request.spec.order is None:
        return []
    return [(field, str(value)) for field, value in client_id_arguments(parsed.arguments) if value]


def client_id_arguments(arguments: dict[str, Any]) -> list[tuple[str, Any]]:
    """The client order id arguments of an order call, as (argument, value): `client_order_id`,
    or `list_client_order_id` and each leg's `legs[1].client_order_id`."""
    found = [(field, value) for field, value in arguments.items() if field.endswith("client_order_id")]
    legs = arguments.get("legs")
    for index, leg in enumerate(legs if isinstance(legs, list) else []):
        if isinstance(leg, dict) and "client_order_id" in leg:
            found.append((f"legs[{index}].client_order_id", leg["client_order_id"]))
    return found


def leg_client_order_ids(parsed: Parsed) -> list[str]:
    """The client order ids an order call sends besides its own (an order list's legs): recorded
    as used with its `pending` audit record, as its own id is."""
    return [client_id for _, client_id in client_ids_sent(parsed) if client_id != parsed.client_order_id]


def caller_client_ids(parsed: Parsed) -> list[tuple[str, str]]:
    """The client ids to check before sending: every id the call sends, except those made from a
    random id the server chose for this call (new by construction, nothing to look up)."""
    given = {field for field, _ in client_id_arguments(parsed.request.raw)}
    return [
        (field, client_id)
        for field, client_id in client_ids_sent(parsed)
        if not parsed.generated_client_order_id or field in given
    ]


async def refuse_used_client_ids(parsed: Parsed, services: Services) -> None:
    for field, client_id in caller_client_ids(parsed):
        await refuse_a_used_client_order_id(client_id, services, field)


async def refuse_a_used_client_order_id(
    client_order_id: str, services: Services, field: str = "client_order_id"
) -> None:
    """Binance accepts a client order id again once its first order is no longer open, so an agent
    that "safely" retries with its own id after a lost answer could place a second order, and a
    cancel or lookup by that id could reach an order nobody meant. An id this server already sent
    an order with, as a single order's id or as any leg's of an order list, is refused. Checked
    here, before anyone is asked, and again under the account lock at dispatch."""
    network = services.network.value
    earlier = await services.audit.read(
        lambda store: store.sent_with_client_order_id(client_order_id, account=services.account)
    )
    if earlier:
        first = earlier[0]
        raise Refusal(
            RefusalKind.INVALID_ARGUMENTS,
            f"{field} {client_order_id} was already used on {network.upper()} {_where_used(first, client_order_id)} "
            f"({first.time}, outcome {first.outcome}); sending it again could place a second order, or "
            "name the old one, once the first is filled. Nothing was sent: use a new id, or look the "
            f"earlier order up with {'get_order_lists' if first.tool == 'place_order_list' else 'get_order_history'}",
            field=field,
        )


def _where_used(record: Any, client_order_id: str) -> str:
    """Which order the id was used for: `by place_order (order id 42)`, or, for an order list's leg,
    `as the id of legs[1] of a place_order_list (list client order id L1, order list id 7)`."""
    ident = f", order id {record.order_id}" if record.order_id else ""
    if record.tool == "place_order_list":
        ident = f", order list id {record.order_id}" if record.order_id else ""
    leg = next(
        (
            # legs[1]; in a record written before legs, `above_client_order_id`: the above leg
            field.removesuffix(".client_order_id")
            if field.startswith("legs[")
            else f"the {field.removesuffix('_client_order_id')} leg"
            for field, value in client_id_arguments(record.arguments or {})
            if value == client_order_id and field != "list_client_order_id" and field != "client_order_id"
        ),
        None,
    )
    if leg is not None:
        return f"as the id of {leg} of a {record.tool} (list_client_order_id {record.client_order_id}{ident})"
    return f"by {record.tool}{f' ({ident[2:]})' if ident else ''}"
