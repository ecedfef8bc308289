"""Market data tools: public Binance endpoints, no keys needed."""

from __future__ import annotations

from typing import Any

from binance_mcp.decimals import decimal_text
from binance_mcp.exchange.shared_reads import Reading
from binance_mcp.results import ToolOutput
from binance_mcp.tools import outputs
from binance_mcp.tools.inputs import KlinesInput, MarketInput, OrderBookInput
from binance_mcp.tools.names import ToolName
from binance_mcp.tools.spec import CallContext, tool


@tool(
    ToolName.GET_PRICE,
    title="Get price",
    description="Latest price of a symbol.",
    inputs=MarketInput,
    output=outputs.Price,
)
async def get_price(args: MarketInput, call: CallContext) -> ToolOutput:
    reading = await call.exchange.read_price(args.symbol, max_age=max_age(args))
    raw = reading.value
    price = outputs.Price(symbol=raw["symbol"], price=raw["price"], **read_time(reading))
    return ToolOutput(
        price.model_dump(), f"{price.symbol} last price {price.price} on {call.network.upper()}"
    )


@tool(
    ToolName.GET_ORDERBOOK,
    title="Get order book",
    description="Bids and asks, best first, `limit` levels a side.",
    inputs=OrderBookInput,
    output=outputs.OrderBook,
)
async def get_orderbook(args: OrderBookInput, call: CallContext) -> ToolOutput:
    reading = await call.exchange.read_orderbook(args.symbol, args.limit, max_age=max_age(args))
    raw = reading.value
    bids, asks = raw.get("bids", []), raw.get("asks", [])
    book = outputs.OrderBook(
        symbol=args.symbol,
        last_update_id=raw.get("lastUpdateId", 0),
        bids=bids,
        asks=asks,
        bid_count=len(bids),
        ask_count=len(asks),
        **read_time(reading),
    )
    best_bid = bids[0][0] if bids else "none"
    best_ask = asks[0][0] if asks else "none"
    summary = (
        f"{args.symbol} order book: {len(bids)} bids (best {best_bid}), {len(asks)} asks (best {best_ask})"
    )
    return ToolOutput(book.model_dump(), summary, list_keys=("bids", "asks"))


@tool(
    ToolName.GET_KLINES,
    title="Get candles",
    description="Candles (OHLCV), oldest first: the latest `limit`, or start_time to end_time (ms).",
    inputs=KlinesInput,
    output=outputs.Klines,
)
async def get_klines(args: KlinesInput, call: CallContext) -> ToolOutput:
    reading = await call.exchange.read_klines(
        args.symbol, args.interval, args.limit, args.start_time, args.end_time, max_age=max_age(args)
    )
    klines = [
        outputs.Kline(
            open_time=row[0],
            open=row[1],
            high=row[2],
            low=row[3],
            close=row[4],
            volume=row[5],
            close_time=row[6],
            quote_volume=row[7],
            trades=row[8],
        )
        for row in reading.value
    ]
    result = outputs.Klines(
        symbol=args.symbol, interval=args.interval, klines=klines, count=len(klines), **read_time(reading)
    )
    summary = f"{len(klines)} {args.interval} candles for {args.symbol}"
    if klines:
        summary += f", last close {klines[-1].close}"
    return ToolOutput(result.model_dump(), summary, list_keys=("klines",))


@tool(
    ToolName.GET_24HR_TICKER,
    title="Get 24h ticker",
    description="24-hour rolling statistics: last price, change, high, low, volume.",
    inputs=MarketInput,
    output=outputs.Ticker24h,
)
async def get_24hr_ticker(args: MarketInput, call: CallContext) -> ToolOutput:
    reading = await call.exchange.read_24hr_ticker(args.symbol, max_age=max_age(args))
    raw = reading.value
    ticker = outputs.Ticker24h(
        symbol=raw["symbol"],
        last_price=raw["lastPrice"],
        price_change=raw["priceChange"],
        price_change_percent=raw["priceChangePercent"],
        weighted_avg_price=raw["weightedAvgPrice"],
        open_price=raw["openPrice"],
        high_price=raw["highPrice"],
        low_price=raw["lowPrice"],
        volume=raw["volume"],
        quote_volume=raw["quoteVolume"],
        bid_price=raw.get("bidPrice"),
        ask_price=raw.get("askPrice"),
        open_time=raw["openTime"],
        close_time=raw["closeTime"],
        trades=raw["count"],
        **read_time(reading),
    )
    summary = (
        f"{ticker.symbol} 24h: last {ticker.last_price}, change {ticker.price_change_percent}%, "
        f"high {ticker.high_price}, low {ticker.low_price}, volume {ticker.volume}"
    )
    return ToolOutput(ticker.model_dump(), summary)


@tool(
    ToolName.GET_SYMBOL_INFO,
    title="Get symbol rules",
    description=(
        "A symbol's trading rules: tick and step size, quantity and notional bounds, the price band now, "
        "order types."
    ),
    inputs=MarketInput,
    output=outputs.SymbolInfo,
)
async def get_symbol_info(args: MarketInput, call: CallContext) -> ToolOutput:
    from decimal import Decimal

    from binance_mcp.exchange.filters import SymbolRules, average_price_minutes, filter_price, price_band

    exchange, age = call.exchange, max_age(args)
    rules = SymbolRules.from_exchange_info((await exchange.read_symbol_info(args.symbol, max_age=age)).value)
    priced = await exchange.read_price(args.symbol, max_age=age)
    last = Decimal(priced.value["price"])
    referenced = await exchange.read_reference_price(args.symbol, max_age=age)
    reference, oldest = referenced.value, priced.older_of(referenced)
    average = None
    if reference is None and average_price_minutes(rules):
        averaged = await exchange.read_avg_price(args.symbol, max_age=age)
        average, oldest = Decimal(averaged.value["price"]), oldest.older_of(averaged)
    price, basis = filter_price(rules, last=last, reference=reference, average=average)

    def text(value: Decimal | None) -> str | None:
        return decimal_text(value) if value is not None else None

    def band(side: str) -> outputs.PriceBand | None:
        found = price_band(rules, side, price)
        return (
            outputs.PriceBand(lowest=decimal_text(found[0]), highest=decimal_text(found[1]))
            if found
            else None
        )

    lot, market_lot, notional = rules.lot_size, rules.market_lot_size, rules.notional
    min_notional = (
        notional.min_notional
        if notional
        else (rules.min_notional.min_notional if rules.min_notional else None)
    )
    info = outputs.SymbolInfo(
        symbol=rules.symbol,
        status=rules.status,
        base_asset=rules.base_asset,
        quote_asset=rules.quote_asset,
        tick_size=text(rules.price_filter.tick_size if rules.price_filter else None),
        step_size=text(lot.step_size if lot else None),
        min_quantity=text(lot.min_qty if lot else None),
        max_quantity=text(lot.max_qty if lot else None),
        market_min_quantity=text(market_lot.min_qty if market_lot else None),
        market_max_quantity=text(market_lot.max_qty if market_lot else None),
        market_step_size=text(market_lot.step_size if market_lot else None),
        min_notional=text(min_notional),
        max_notional=text(notional.max_notional if notional else None),
        buy_price_band=band("BUY"),
        sell_price_band=band("SELL"),
        current_price=decimal_text(last),
        band_price=decimal_text(price),
        band_price_basis=basis,
        quote_precision=rules.quote_asset_precision,
        base_precision=rules.base_asset_precision,
        order_types=list(rules.order_types),
        quote_quantity_market_allowed=rules.quote_order_qty_market_allowed,
        **read_time(oldest),  # the prices the bands come from (the rules are kept up to 5 minutes)
    )
    summary = (
        f"{info.symbol} ({info.status}): tick {info.tick_size}, step {info.step_size}, quantity "
        f"{info.min_quantity}–{info.max_quantity}, min notional {info.min_notional} {info.quote_asset}"
    )
    return ToolOutput(info.model_dump(exclude_none=True), summary)


def max_age(args: MarketInput) -> float | None:
    """`fresh`: a request of this call's own; else the server's shared answer (`--market-data-max-age`)."""
    return 0 if args.fresh else None


def read_time(reading: Reading[Any]) -> dict[str, Any]:
    """When Binance was asked for what a result shows: `read_at` (UTC) and `age_ms` now."""
    return {"read_at": reading.read_at, "age_ms": reading.age_ms()}


MARKET_TOOLS = (
    get_price,
    get_orderbook,
    get_klines,
    get_24hr_ticker,
    get_symbol_info,
)
