"""Trading tools: place and cancel orders. The only tools that change anything on the account.

An order always carries a client order id (the caller's, or one made here before the call is
audited), so that after an answer is lost the order can be looked up instead of sent twice.
Before it is sent, it is checked against the symbol's exchangeInfo filters, so the agent hears
"price 60000.005 is not a multiple of tick size 0.01: use 60000.00 or 60000.01" instead of -1013.
"""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from binance_mcp.exchange.errors import BinanceRejected
from binance_mcp.exchange.order_kinds import FINAL_STATUSES, MISSING, SINGLE, Ref, single_params
from binance_mcp.orders import Leg, Order, describe
from binance_mcp.refusals import Refusal, RefusalKind
from binance_mcp.results import ToolOutput, counted
from binance_mcp.tools import outputs
from binance_mcp.tools.inputs import (
    CancelOrderInput,
    PlaceOrderInput,
    SymbolInput,
    decimal_text,
    new_client_order_id,
)
from binance_mcp.tools.names import ToolName
from binance_mcp.tools.once import cancel_once, place_once
from binance_mcp.tools.spec import CallContext, tool
from binance_mcp.valuation import capped_price, value_order

if TYPE_CHECKING:
    from binance_mcp.market import Market

NO_OPEN_ORDERS = -2011


def with_client_order_id(args: PlaceOrderInput) -> PlaceOrderInput:
    if args.client_order_id is not None:
        return args
    return args.model_copy(update={"client_order_id": new_client_order_id()})


def order_of(args: PlaceOrderInput) -> Order:
    """The order a place_order call describes: one leg."""
    leg = Leg(
        side=args.side,
        type=args.type,
        quantity=args.quantity,
        quote_quantity=args.quote_quantity,
        price=args.price,
        stop_price=args.stop_price,
        trailing_delta=args.trailing_delta,
        time_in_force=args.time_in_force,
        client_order_id=args.client_order_id,
        cap_pct=args.cap_pct,
    )
    return Order(symbol=args.symbol, kind="ORDER", legs=(leg,), client_order_id=args.client_order_id)


def capped(args: PlaceOrderInput, market: Market) -> tuple[PlaceOrderInput, Leg] | None:
    """A MARKET order with `cap_pct`, as it is sent: a LIMIT IOC at the capped price (on the tick),
    and its leg (what a lost answer is matched against). None for any other order."""
    if args.cap_pct is None or args.quantity is None or market.book is None:
        return None
    price = capped_price(args.side, args.quantity, market.book, args.cap_pct, market.rules.price_filter)
    if price is None:
        return None
    sent = args.model_copy(update={"type": "LIMIT", "time_in_force": "IOC", "price": price, "cap_pct": None})
    leg = Leg(
        side=args.side,
        type="LIMIT",
        quantity=args.quantity,
        price=price,
        time_in_force="IOC",
        client_order_id=args.client_order_id,
    )
    return sent, leg


def check_trailing_deltas(order: Order, market: Market) -> None:
    """Every leg's trailing delta within the symbol's TRAILING_DELTA bounds for its direction (the
    exchange's per-leg filters, checked by the guard before this, do not read a trailing delta)."""
    from binance_mcp.exchange.filters import check_trailing_delta

    for leg in order.legs:
        violation = check_trailing_delta(
            market.rules, side=leg.side, order_type=leg.type, trailing_delta=leg.trailing_delta
        )
        if violation is not None:
            where = leg.where
            raise Refusal(
                RefusalKind.INVALID_ARGUMENTS,
                f"{where}{violation.message}; nothing was sent",
                field=leg.field(violation.field),
            )


async def find_order_to_cancel(args: CancelOrderInput, call: CallContext) -> dict[str, Any] | None:
    """The order a cancel names, as Binance has it (None when Binance does not know it)."""
    try:
        return await SINGLE.fetch(call.exchange, Ref(args.symbol, args.client_order_id, args.order_id))
    except BinanceRejected as exc:
        if exc.code in MISSING:
            return None
        raise


def describe_cancel(args: CancelOrderInput, found: dict[str, Any] | None, network: str) -> str:
    """Which kind of id the agent gave, and the order it resolves to, from Binance's own answer:
    an order id and a client order id that reads like one can never be mistaken for each other."""
    given = (
        f"order id {args.order_id}"
        if args.order_id is not None
        else f'client order id "{args.client_order_id}"'
    )
    if not found:
        return (
            f"Cancel the order with {given} on {args.symbol} (Binance does not know it) on {network.upper()}"
        )
    order = outputs.order_from_binance(found)
    quantity = decimal_text(Decimal(str(order.get("quantity", "0"))))
    limit = Decimal(str(order.get("price", "0")))
    price = f" at {decimal_text(limit)}" if limit else ""
    return (
        f"Cancel {order.get('side')} {quantity} {args.symbol} {order.get('type')}{price} "
        f"(status {order.get('status')}, order id {order.get('order_id')}, client order id "
        f'"{order.get("client_order_id")}"; given as {given}) on {network.upper()}'
    )


def describe_cancel_all(args: SymbolInput, quote: object, network: str) -> str:
    return f"Cancel ALL open orders on {args.symbol} on {network.upper()}"


@tool(
    ToolName.PLACE_ORDER,
    title="Place order",
    description=(
        "Place a Spot order; amounts are decimal strings. LIMIT and LIMIT_MAKER take a price; MARKET a "
        "quantity or quote_quantity; STOP_LOSS and TAKE_PROFIT (MARKET once triggered) a stop_price "
        "and/or trailing_delta, their _LIMIT forms a price too. A SELL stop-loss triggers below the "
        "market, a SELL take-profit above (BUY: reversed). Checked against the symbol's rules and the "
        "policy before sending; valued at its worst price (MARKET by quantity: estimated from the book)."
    ),
    inputs=PlaceOrderInput,
    output=outputs.PlacedOrder,
    prepare=with_client_order_id,
    order=order_of,
    check=check_trailing_deltas,
)
async def place_order(args: PlaceOrderInput, call: CallContext) -> ToolOutput:
    """Send the order the guard checked against the symbol's filters and the policy."""
    assert call.order is not None and call.market is not None, "the guard validates an order first"
    quote_asset = call.market.rules.quote_asset
    value = call.valuation or value_order(call.order, call.market.price, quote_asset)
    description = describe(call.order, value.notional, quote_asset, call.network)
    cap = capped(args, call.market)
    if cap is not None:  # sent as a LIMIT IOC at the capped price: Binance enforces the bound
        args, leg = cap
        call = replace(call, order=replace(call.order, legs=(leg,)))
        description += f", sent as LIMIT IOC at {decimal_text(leg.price or Decimal(0))}"
    assert call.order is not None
    if call.dry_run:
        commission = await call.exchange.test_order(single_params(args.symbol, call.order.legs[0]))
        placed = outputs.PlacedOrder(
            symbol=args.symbol,
            order_id=0,
            client_order_id=args.client_order_id or "",
            side=args.side,
            type=args.type,
            status="SIMULATED",
            price=decimal_text(args.price) if args.price is not None else None,
            quantity=decimal_text(args.quantity) if args.quantity is not None else None,
            network=call.network,
            simulated=True,
            commission=outputs.commission_rates(commission) if commission else None,
        )
        return ToolOutput(
            placed.model_dump(exclude_none=True),
            f"Simulated (dry run, nothing was placed): {description}",
            client_order_id=args.client_order_id,
        )

    raw, recovered = await place_once(call)
    shaped = outputs.order_detail_from_binance(raw)  # a trailing stop's trailing_delta too
    for key, given in (("side", args.side), ("type", args.type), ("status", "NEW")):
        shaped[key] = shaped.get(key) or given  # an ACK answer carries none of these
    fills = [
        outputs.Fill(
            price=fill["price"], quantity=fill["qty"], commission=fill["commission"],
            commission_asset=fill["commissionAsset"],
        )
        for fill in raw.get("fills", [])
    ]  # fmt: skip
    placed = outputs.PlacedOrder(**shaped, network=call.network, fills=fills, recovered=recovered)
    verb = "Recovered after a lost answer" if recovered else "Placed"
    summary = f"{verb}: {description}; status {placed.status}, order id {placed.order_id}"
    return ToolOutput(
        placed.model_dump(exclude_none=True),
        summary,
        order_id=placed.order_id,
        client_order_id=placed.client_order_id,
        extra={
            "traded_quote": traded_quote(raw),
            "budget_watch": budget_watch(args.symbol, placed.order_id),
        },
    )


def budget_watch(symbol: str, order_id: int) -> str:
    """How the budget names an open order it holds for (settled, or shrunk by an amend, by this)."""
    return json.dumps({"symbol": symbol, "order_id": order_id})


def traded_quote(raw: dict[str, Any]) -> Decimal | None:
    """What an order traded in the quote asset, once final (filled, cancelled, expired): the
    budget is then settled with it. None while the order can still trade (NEW, PARTIALLY_FILLED)."""
    if raw.get("status") not in FINAL_STATUSES or raw.get("cummulativeQuoteQty") is None:
        return None
    return Decimal(str(raw["cummulativeQuoteQty"]))


@tool(
    ToolName.CANCEL_ORDER,
    title="Cancel order",
    description="Cancel an open order by order_id or client_order_id.",
    inputs=CancelOrderInput,
    output=outputs.CancelledOrder,
    describe=describe_cancel,
    resolve=find_order_to_cancel,
)
async def cancel_order(args: CancelOrderInput, call: CallContext) -> ToolOutput:
    # approved: the order the human was shown, by its exchange id (with the client id given, Binance
    # cancels it only while that id still names it)
    order_id = args.order_id if args.order_id is not None else call.bound_order_id
    raw = await cancel_once(SINGLE, call, Ref(args.symbol, args.client_order_id, order_id))
    cancelled = outputs.CancelledOrder(**outputs.order_from_binance(raw), network=call.network)
    summary = (
        f"Cancelled {cancelled.side} {cancelled.type} order {cancelled.order_id} "
        f"({cancelled.client_order_id}) on {args.symbol}, {call.network.upper()}: status {cancelled.status}"
    )
    return ToolOutput(
        cancelled.model_dump(exclude_none=True),
        summary,
        order_id=cancelled.order_id,
        client_order_id=cancelled.client_order_id,
    )


@tool(
    ToolName.CANCEL_ALL_ORDERS,
    title="Cancel all orders",
    description="Cancel every open order on a symbol.",
    inputs=SymbolInput,
    output=outputs.CancelledOrders,
    describe=describe_cancel_all,
)
async def cancel_all_orders(args: SymbolInput, call: CallContext) -> ToolOutput:
    await call.about_to_send()
    try:
        raw = await call.exchange.cancel_all_orders(args.symbol)
    except BinanceRejected as exc:
        if exc.code != NO_OPEN_ORDERS:
            raise
        raw = []
    cancelled = [outputs.order_from_binance(entry) for entry in cancelled_orders(raw)]
    message = (
        f"cancelled {counted(len(cancelled), 'open order')} on {args.symbol}"
        if cancelled
        else f"there were no open orders on {args.symbol}; nothing was cancelled"
    )
    result = outputs.CancelledOrders(
        symbol=args.symbol,
        network=call.network,
        cancelled=cancelled,
        count=len(cancelled),
        message=message,
    )
    return ToolOutput(
        result.model_dump(),
        f"{message[0].upper()}{message[1:]} ({call.network.upper()})",
        list_keys=("cancelled",),
    )


def cancelled_orders(answer: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The orders a DELETE /openOrders answer cancelled: its single orders, and the legs of its order
    lists (an entry with `orderReports`, one report per cancelled leg)."""
    found: list[dict[str, Any]] = []
    for entry in answer:
        if "orderId" in entry:
            found.append(entry)
        found.extend(report for report in entry.get("orderReports", ()) if "orderId" in report)
    return found


TRADING_TOOLS = (
    place_order,
    cancel_order,
    cancel_all_orders,
)
