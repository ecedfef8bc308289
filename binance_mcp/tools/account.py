"""Account tools: read the account behind the API key (signed requests, nothing changes)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from binance_mcp.results import ToolOutput, counted
from binance_mcp.tools import outputs
from binance_mcp.tools.inputs import NoInput, OpenOrdersInput, OrderHistoryInput
from binance_mcp.tools.names import ToolName
from binance_mcp.tools.spec import CallContext, tool


def _non_zero(balance: dict[str, str]) -> bool:
    try:
        return Decimal(balance.get("free", "0")) + Decimal(balance.get("locked", "0")) != 0
    except InvalidOperation:
        return True  # show what we cannot read rather than hide it


@tool(
    ToolName.GET_ACCOUNT_INFO,
    title="Get account info",
    description="Non-zero balances (free, locked), permissions, commission rates.",
    inputs=NoInput,
    output=outputs.AccountInfo,
)
async def get_account_info(args: NoInput, call: CallContext) -> ToolOutput:
    raw = await call.exchange.get_account()
    balances = [
        outputs.Balance(asset=b["asset"], free=b["free"], locked=b["locked"])
        for b in raw.get("balances", [])
        if _non_zero(b)
    ]
    info = outputs.AccountInfo(
        account_type=raw.get("accountType"),
        can_trade=raw.get("canTrade"),
        can_withdraw=raw.get("canWithdraw"),
        can_deposit=raw.get("canDeposit"),
        permissions=raw.get("permissions", []),
        commission_rates=raw.get("commissionRates"),
        balances=balances,
        count=len(balances),
    )
    shown = ", ".join(f"{b.asset} {b.free}" for b in balances[:5])
    more = f" and {len(balances) - 5} more" if len(balances) > 5 else ""
    summary = f"{call.network.upper()} account: {len(balances)} non-zero balances" + (
        f" ({shown}{more})" if balances else ""
    )
    return ToolOutput(info.model_dump(), summary, list_keys=("balances",))


@tool(
    ToolName.GET_OPEN_ORDERS,
    title="Get open orders",
    description="Open orders, with order lists' pending ones (PENDING_NEW), on one symbol or all.",
    inputs=OpenOrdersInput,
    output=outputs.Orders,
)
async def get_open_orders(args: OpenOrdersInput, call: CallContext) -> ToolOutput:
    raw = await call.exchange.get_open_orders(args.symbol)
    orders = [outputs.order_from_binance(order) for order in raw]
    result = outputs.Orders(symbol=args.symbol, orders=orders, count=len(orders))
    where = args.symbol or "all symbols"
    return ToolOutput(
        result.model_dump(), f"{counted(len(orders), 'open order')} on {where}", list_keys=("orders",)
    )


@tool(
    ToolName.GET_ORDER_HISTORY,
    title="Get order history",
    description=(
        "A symbol's orders in any status, oldest first: the latest `limit`, or start_time to end_time "
        "(ms, 24 h at most)."
    ),
    inputs=OrderHistoryInput,
    output=outputs.Orders,
)
async def get_order_history(args: OrderHistoryInput, call: CallContext) -> ToolOutput:
    raw = await call.exchange.get_all_orders(args.symbol, args.limit, args.start_time, args.end_time)
    orders = [outputs.order_from_binance(order) for order in raw]
    result = outputs.Orders(symbol=args.symbol, orders=orders, count=len(orders))
    summary = f"{len(orders)} orders on {args.symbol} (open, filled and cancelled), oldest first"
    return ToolOutput(result.model_dump(), summary, list_keys=("orders",))


ACCOUNT_TOOLS = (
    get_account_info,
    get_open_orders,
    get_order_history,
)
