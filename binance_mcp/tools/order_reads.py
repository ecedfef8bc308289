"""Read tools for one order and for fills: `get_order` and `get_my_trades` (signed, nothing changes)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from binance_mcp.decimals import decimal_text
from binance_mcp.results import ToolOutput
from binance_mcp.tools import outputs
from binance_mcp.tools.inputs import GetOrderInput, MyTradesInput
from binance_mcp.tools.names import ToolName
from binance_mcp.tools.spec import CallContext, tool


@tool(
    ToolName.GET_ORDER,
    title="Get order",
    description="One order in any status by order_id or client_order_id.",
    inputs=GetOrderInput,
    output=outputs.FoundOrder,
)
async def get_order(args: GetOrderInput, call: CallContext) -> ToolOutput:
    raw = await call.exchange.get_order(args.symbol, args.client_order_id, args.order_id)
    found = outputs.FoundOrder(**outputs.order_detail_from_binance(raw), network=call.network)
    summary = (
        f"{found.side} {found.type} order {found.order_id} ({found.client_order_id}) on {args.symbol}: "
        f"{found.status}, {found.executed_quantity or '0'} of {found.quantity or '?'} filled"
    )
    return ToolOutput(
        found.model_dump(exclude_none=True),
        summary,
        order_id=found.order_id,
        client_order_id=found.client_order_id,
    )


@tool(
    ToolName.GET_MY_TRADES,
    title="Get my trades",
    description=(
        "A symbol's fills, oldest first, and their sums (average prices, commission, realised): the "
        "latest `limit`, one order_id's, from trade from_id, or start_time to end_time (ms, 24 h at most;"
        " not with order_id or from_id)."
    ),
    inputs=MyTradesInput,
    output=outputs.Trades,
)
async def get_my_trades(args: MyTradesInput, call: CallContext) -> ToolOutput:
    raw = await call.exchange.get_my_trades(
        args.symbol,
        start_time=args.start_time,
        end_time=args.end_time,
        order_id=args.order_id,
        from_id=args.from_id,
        limit=args.limit,
    )
    trades = [outputs.trade_from_binance(trade) for trade in raw]
    summed = sum_trades(trades)
    result = outputs.Trades(symbol=args.symbol, trades=trades, count=len(trades), summary=summed)
    which = f" of order {args.order_id}" if args.order_id is not None else ""
    words = [f"{len(trades)} fills{which} on {args.symbol}, oldest first"]
    if trades:
        words.append(
            f"bought {summed.bought_quantity} for {summed.bought_quote}, sold {summed.sold_quantity} "
            f"for {summed.sold_quote}"
        )
        if summed.realised is not None:
            words.append(f"realised {summed.realised} on {summed.round_trip_quantity} bought and sold")
    return ToolOutput(
        result.model_dump(exclude_none=True),
        "; ".join(words),
        list_keys=("trades",),
        keep_newest=True,  # too many to fit: the most recent fills matter most
    )


def sum_trades(trades: list[dict[str, Any]]) -> outputs.TradesSummary:
    """The fills summed: quantity and quote bought and sold, their average prices, commission per
    asset, and the result of the round trips among them (the quantity both bought and sold, at the
    average sell price less the average buy price; commission not deducted, it may be in another asset)."""
    zero = Decimal(0)
    bought, bought_quote, sold, sold_quote = zero, zero, zero, zero
    commission: dict[str, Decimal] = {}
    for trade in trades:
        quantity, quote = Decimal(str(trade["quantity"])), Decimal(str(trade["quote_quantity"]))
        if trade["is_buyer"]:
            bought, bought_quote = bought + quantity, bought_quote + quote
        else:
            sold, sold_quote = sold + quantity, sold_quote + quote
        asset = str(trade["commission_asset"])
        commission[asset] = commission.get(asset, zero) + Decimal(str(trade["commission"]))
    average_buy = bought_quote / bought if bought else None
    average_sell = sold_quote / sold if sold else None
    both = min(bought, sold)
    realised = (
        both * (average_sell - average_buy) if average_buy is not None and average_sell is not None else None
    )

    def text(value: Decimal | None, places: str = "0.00000001") -> str | None:
        return None if value is None else decimal_text(value.quantize(Decimal(places)))

    return outputs.TradesSummary(
        bought_quantity=decimal_text(bought),
        bought_quote=decimal_text(bought_quote),
        average_buy_price=text(average_buy),
        sold_quantity=decimal_text(sold),
        sold_quote=decimal_text(sold_quote),
        average_sell_price=text(average_sell),
        commission={asset: decimal_text(amount) for asset, amount in commission.items()},
        round_trip_quantity=decimal_text(both),
        realised=text(realised),
    )


ORDER_READ_TOOLS = (get_order, get_my_trades)
