"""Read tools for one order and for fills: `get_order` and `get_my_trades` (signed, nothing changes)."""

from __future__ import annotations

from binance_mcp.results import ToolOutput
from binance_mcp.tools import outputs
from binance_mcp.tools.inputs import GetOrderInput, MyTradesInput
from binance_mcp.tools.names import ToolName
from binance_mcp.tools.spec import CallContext, tool


@tool(
    ToolName.GET_ORDER,
    title="Get order",
    description=(
        "One order in any status (open, filled, cancelled, expired, or pending in an order list) by "
        "order_id or client_order_id: its quantities, prices, status and order list."
    ),
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
    title="Get my trades (fills)",
    description=(
        "The account's fills on a symbol, oldest first: price, quantity, quote quantity, commission "
        "and its asset, maker or taker, order id. The most recent `limit` (default 100), or those of "
        "one order_id, or from trade id from_id, or between start_time and end_time (at most 24 "
        "hours apart; not combined with order_id or from_id)."
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
    result = outputs.Trades(symbol=args.symbol, trades=trades, count=len(trades))
    which = f" of order {args.order_id}" if args.order_id is not None else ""
    return ToolOutput(
        result.model_dump(exclude_none=True),
        f"{len(trades)} fills{which} on {args.symbol}, oldest first",
        list_keys=("trades",),
        keep_newest=True,  # too many to fit: the most recent fills matter most
    )


ORDER_READ_TOOLS = (get_order, get_my_trades)
