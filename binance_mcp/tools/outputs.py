"""The tools' result models: the output schemas tools/list publishes, and the shapes results take.

Prices and quantities stay decimal strings as Binance sends them; names are snake_case like the
inputs. Lists carry their full `count` and `truncated` (see `binance_mcp.results`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Result(BaseModel):
    # Built on first use: start-up publishes the precomputed schemas (tools/schemas.json) instead.
    model_config = ConfigDict(defer_build=True)


class MarketRead(Result):
    """Market data: when Binance was asked for it (shared answers carry the first asker's time)."""

    read_at: str = Field(description="UTC; the data is no older")
    age_ms: int


class Price(MarketRead):
    symbol: str
    price: str


class OrderBook(MarketRead):
    symbol: str
    last_update_id: int
    bids: list[list[str]] = Field(description="[price, quantity], best (highest) first")
    asks: list[list[str]] = Field(description="[price, quantity], best (lowest) first")
    bid_count: int
    ask_count: int
    truncated: bool = False


class Kline(Result):
    open_time: int
    open: str
    high: str
    low: str
    close: str
    volume: str
    close_time: int
    quote_volume: str
    trades: int


class Klines(MarketRead):
    symbol: str
    interval: str
    klines: list[Kline]
    count: int
    truncated: bool = False


class Ticker24h(MarketRead):
    symbol: str
    last_price: str
    price_change: str
    price_change_percent: str
    weighted_avg_price: str
    open_price: str
    high_price: str
    low_price: str
    volume: str
    quote_volume: str
    bid_price: str | None = None
    ask_price: str | None = None
    open_time: int
    close_time: int
    trades: int


class Balance(Result):
    asset: str
    free: str
    locked: str


class AccountInfo(Result):
    account_type: str | None = None
    can_trade: bool | None = None
    can_withdraw: bool | None = None
    can_deposit: bool | None = None
    permissions: list[str] = []
    commission_rates: dict[str, str] | None = None
    balances: list[Balance] = Field(description="Non-zero balances only")
    count: int
    truncated: bool = False


class Order(Result):
    symbol: str
    order_id: int
    client_order_id: str
    side: str = ""
    type: str = ""
    status: str = ""
    price: str | None = None
    quantity: str | None = None
    executed_quantity: str | None = None
    cumulative_quote_quantity: str | None = None
    stop_price: str | None = None
    time_in_force: str | None = None
    time: int | None = None
    update_time: int | None = None


class Orders(Result):
    symbol: str | None
    orders: list[Order]
    count: int
    truncated: bool = False


class Fill(Result):
    price: str
    quantity: str
    commission: str
    commission_asset: str


class CancelledOrder(Order):
    network: str


class CancelledOrders(Result):
    symbol: str
    network: str
    cancelled: list[Order]
    count: int
    message: str
    truncated: bool = False


def order_from_binance(raw: dict[str, Any]) -> dict[str, Any]:
    """Binance's order object (any of its variants) in our names; absent fields stay absent."""
    mapping = {
        "symbol": "symbol",
        "orderId": "order_id",
        "clientOrderId": "client_order_id",
        "side": "side",
        "type": "type",
        "status": "status",
        "price": "price",
        "origQty": "quantity",
        "executedQty": "executed_quantity",
        "cummulativeQuoteQty": "cumulative_quote_quantity",
        "stopPrice": "stop_price",
        "timeInForce": "time_in_force",
        "time": "time",
        "updateTime": "update_time",
    }
    shaped = {ours: raw[theirs] for theirs, ours in mapping.items() if raw.get(theirs) is not None}
    if "transactTime" in raw and "time" not in shaped:
        shaped["time"] = raw["transactTime"]
    if "origClientOrderId" in raw:  # a cancel report: clientOrderId is the cancel's own id
        shaped["client_order_id"] = raw["origClientOrderId"]
    if "stop_price" in shaped and _is_zero(shaped["stop_price"]):
        del shaped["stop_price"]
    return shaped


def _is_zero(value: str) -> bool:
    try:
        return float(value) == 0.0
    except ValueError:
        return False


def commission_rates(answer: dict[str, Any]) -> dict[str, Any]:
    """Binance's commission rates (the test-order answer) with snake_case keys, like every other result."""

    def snake(key: str) -> str:
        return "".join(f"_{char.lower()}" if char.isupper() else char for char in key)

    def convert(value: Any) -> Any:
        if isinstance(value, dict):
            return {snake(str(key)): convert(item) for key, item in value.items()}
        return value

    return dict(convert(answer))


class PriceBand(Result):
    lowest: str
    highest: str


class SymbolInfo(MarketRead):
    symbol: str
    status: str
    base_asset: str
    quote_asset: str
    tick_size: str | None = Field(None, description="Prices must be a multiple of this")
    step_size: str | None = Field(None, description="Quantities must be a multiple of this")
    min_quantity: str | None = None
    max_quantity: str | None = None
    market_min_quantity: str | None = Field(None, description="MARKET orders by quantity")
    market_max_quantity: str | None = None
    market_step_size: str | None = None
    min_notional: str | None = Field(None, description="price × quantity at least this, in the quote asset")
    max_notional: str | None = None
    buy_price_band: PriceBand | None = Field(None, description="Limit prices a BUY may have right now")
    sell_price_band: PriceBand | None = Field(None, description="Limit prices a SELL may have right now")
    current_price: str
    band_price: str | None = Field(
        None, description="The price the bands and a MARKET order's notional are checked against"
    )
    band_price_basis: str | None = Field(None, description="What band_price is: e.g. 5-minute average price")
    quote_precision: int = Field(description="Decimal places a quote_quantity may have")
    base_precision: int
    order_types: list[str]
    quote_quantity_market_allowed: bool


class Limits(Result):
    agent: str | None = Field(None, description="The agent (HTTP token name); null over stdio")
    network: str
    transport: str
    dry_run: bool
    tools: list[dict[str, Any]] = Field(
        description="Each visible tool: decision allow | deny | approval, reason, rule"
    )
    orders: dict[str, Any] | None = Field(
        None,
        description="place_order's constraints, no_approval_max (the largest value needing no human), "
        "max_open_orders with its scope and open_now",
    )
    budgets: list[dict[str, Any]] = Field(
        description="Per quote asset: limit, traded, held (open orders at their worst path), left, resets_at"
    )
    rate_limits: list[dict[str, Any]] = Field(
        description="Per tool: max, window_s, scope, count_refused (refused calls count too), left"
    )
    weight_share: dict[str, Any] | None = Field(
        None,
        description="Your share of Binance's request weight (max_pct, weight_per_minute, left over the "
        "last 60 s, rule); null when the policy sets none",
    )
    approvers: list[str] = Field(description="Who may approve: elicitation (the client's user), operator")
    approvals_pending_max: int | None = Field(
        None, description="Requests for approval you may have waiting at once"
    )


class OrderPreview(Result):
    tool: str
    sent: bool = Field(description="Always false: a preview sends nothing and asks no one")
    decision: str = Field(description="allow | approval (a human would be asked) | refused")
    human_asked: bool | None = None
    reason: str | None = Field(None, description="Why it would be refused")
    refusal: dict[str, Any] | None = Field(None, description="The refusal the call would get")
    approval_rule: str | None = None
    dry_run: bool | None = None
    value: str | None = Field(
        None,
        description="The largest single execution, compared with max_notional and approve_above_notional",
    )
    held_by_budget: str | None = Field(
        None, description="The worst path's total, held against the daily budget"
    )
    unit: str | None = None
    valued_as: str | None = Field(
        None, description="bound (cannot be exceeded) | estimate (book + allowance)"
    )
    valued_at_market_price: str | None = None
    how: str | None = None
    bounds: list[dict[str, Any]] = Field(
        default_factory=list, description="Each bound: bound, rule, limit, value, unit, passes"
    )
    largest_without_human: dict[str, Any] | None = Field(
        None, description="The largest quantities at this price that pass every money bound without a human"
    )
    largest_without_human_why: str | None = None


# -- order lists, one order, fills, amend (issue #11) ------------------------------------------------


class OrderDetail(Order):
    order_list_id: int | None = Field(None, description="The order list it belongs to; absent when none")
    trailing_delta: int | None = Field(None, description="Trailing stops: the distance in BIPS")
    trailing_time: int | None = Field(None, description="Trailing stops: when tracking began (-1: not yet)")
    working_time: int | None = Field(None, description="When it went on the book (-1: not yet, e.g. a stop)")


class PlacedOrder(OrderDetail):
    network: str
    fills: list[Fill] = []
    simulated: bool = False
    commission: dict[str, Any] | None = Field(
        None, description="Dry run only: what the order would have paid"
    )
    recovered: bool = Field(
        False, description="True when the answer was lost and the order was found by its id"
    )


class OrderListInfo(Result):
    order_list_id: int
    list_client_order_id: str
    contingency_type: str = Field(description="OCO, or OTO (also for an OTOCO)")
    list_status_type: str = Field(description="EXEC_STARTED, UPDATED, ALL_DONE or RESPONSE")
    list_order_status: str = Field(description="EXECUTING while any order is open or pending; ALL_DONE")
    symbol: str
    transaction_time: int | None = None
    orders: list[OrderDetail] = Field(description="Its orders; full details when Binance gave them")


class PlacedOrderList(OrderListInfo):
    type: str = Field(description="OCO, OTO or OTOCO, as asked")
    network: str
    simulated: bool = False
    recovered: bool = Field(
        False, description="True when the answer was lost and the list was found by its client order id"
    )


class CancelledOrderList(OrderListInfo):
    network: str


class OrderLists(Result):
    order_lists: list[OrderListInfo]
    count: int
    truncated: bool = False


class FoundOrder(OrderDetail):
    network: str


class Trade(Result):
    id: int
    order_id: int
    order_list_id: int | None = None
    price: str
    quantity: str
    quote_quantity: str
    commission: str
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool


class TradesSummary(Result):
    bought_quantity: str
    bought_quote: str
    average_buy_price: str | None = None
    sold_quantity: str
    sold_quote: str
    average_sell_price: str | None = None
    commission: dict[str, str] = Field(description="Per commission asset, the total paid")
    round_trip_quantity: str = Field(description="The quantity both bought and sold among these fills")
    realised: str | None = Field(
        None,
        description="round_trip_quantity × (average sell − average buy price), in the quote asset, before commission",
    )


class Trades(Result):
    symbol: str
    trades: list[Trade] = Field(description="Fills, oldest first")
    count: int
    truncated: bool = False
    summary: TradesSummary | None = Field(None, description="The fills returned, summed")


class AmendedOrder(OrderDetail):
    orig_client_order_id: str = Field(description="The client order id before the amend")
    network: str
    list_client_order_id: str | None = None
    recovered: bool = Field(
        False, description="True when the answer was lost and the order was found with its new quantity"
    )


def order_detail_from_binance(raw: dict[str, Any]) -> dict[str, Any]:
    """`order_from_binance` plus the order-list and trailing-stop fields."""
    shaped = order_from_binance(raw)
    if raw.get("orderListId", -1) != -1:
        shaped["order_list_id"] = raw["orderListId"]
    for theirs, ours in (("trailingDelta", "trailing_delta"), ("trailingTime", "trailing_time"),
                         ("workingTime", "working_time")):  # fmt: skip
        if raw.get(theirs) is not None:
            shaped[ours] = raw[theirs]
    if "qty" in raw:  # an amend answer: clientOrderId is the order's id after the amend
        shaped["quantity"] = raw["qty"]
        shaped["client_order_id"] = raw["clientOrderId"]
    if "cumulativeQuoteQty" in raw:
        shaped["cumulative_quote_quantity"] = raw["cumulativeQuoteQty"]
    return shaped


def order_list_from_binance(raw: dict[str, Any]) -> dict[str, Any]:
    """Binance's list status object in our names; `orders` are the reports when it has them."""
    members = raw.get("orderReports") or raw.get("orders") or []
    return {
        "order_list_id": raw.get("orderListId", -1),
        "list_client_order_id": raw.get("listClientOrderId", ""),
        "contingency_type": raw.get("contingencyType", ""),
        "list_status_type": raw.get("listStatusType", ""),
        "list_order_status": raw.get("listOrderStatus", ""),
        "symbol": raw.get("symbol", ""),
        "transaction_time": raw.get("transactionTime"),
        "orders": [order_detail_from_binance(member) for member in members],
    }


def trade_from_binance(raw: dict[str, Any]) -> dict[str, Any]:
    shaped = {
        "id": raw["id"],
        "order_id": raw["orderId"],
        "price": raw["price"],
        "quantity": raw["qty"],
        "quote_quantity": raw["quoteQty"],
        "commission": raw["commission"],
        "commission_asset": raw["commissionAsset"],
        "time": raw["time"],
        "is_buyer": raw["isBuyer"],
        "is_maker": raw["isMaker"],
    }
    if raw.get("orderListId", -1) != -1:
        shaped["order_list_id"] = raw["orderListId"]
    return shaped
