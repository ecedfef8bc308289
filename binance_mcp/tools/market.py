"""Market data tools: public Binance endpoints, no keys needed."""

from __future__ import annotations

from binance_mcp.results import ToolOutput
from binance_mcp.tools import outputs
from binance_mcp.tools.inputs import KlinesInput, OrderBookInput, SymbolInput
from binance_mcp.tools.names import Risk, ToolName
from binance_mcp.tools.spec import CallContext, guarded


@guarded(
    ToolName.GET_PRICE,
    title="Get price",
    description="Latest price of a Binance Spot symbol, e.g. BTCUSDT.",
    inputs=SymbolInput,
    output=outputs.Price,
    risk=Risk.READ,
)
async def get_price(args: SymbolInput, call: CallContext) -> ToolOutput:
    raw = await call.exchange.get_price(args.symbol)
    price = outputs.Price(symbol=raw["symbol"], price=raw["price"])
    return ToolOutput(
        price.model_dump(), f"{price.symbol} last price {price.price} on {call.network.upper()}"
    )


@guarded(
    ToolName.GET_ORDERBOOK,
    title="Get order book",
    description="Bids and asks of a symbol, best first, up to `limit` levels per side (default 100).",
    inputs=OrderBookInput,
    output=outputs.OrderBook,
    risk=Risk.READ,
)
async def get_orderbook(args: OrderBookInput, call: CallContext) -> ToolOutput:
    raw = await call.exchange.get_orderbook(args.symbol, args.limit)
    bids, asks = raw.get("bids", []), raw.get("asks", [])
    book = outputs.OrderBook(
        symbol=args.symbol,
        last_update_id=raw.get("lastUpdateId", 0),
        bids=bids,
        asks=asks,
        bid_count=len(bids),
        ask_count=len(asks),
    )
    best_bid = bids[0][0] if bids else "none"
    best_ask = asks[0][0] if asks else "none"
    summary = (
        f"{args.symbol} order book: {len(bids)} bids (best {best_bid}), {len(asks)} asks (best {best_ask})"
    )
    return ToolOutput(book.model_dump(), summary, list_keys=("bids", "asks"))


@guarded(
    ToolName.GET_KLINES,
    title="Get candles",
    description="Candlesticks (OHLCV) of a symbol for an interval, oldest first; the most recent `limit` "
    "(default 100) unless start_time/end_time (ms since epoch, UTC) say otherwise.",
    inputs=KlinesInput,
    output=outputs.Klines,
    risk=Risk.READ,
)
async def get_klines(args: KlinesInput, call: CallContext) -> ToolOutput:
    raw = await call.exchange.get_klines(
        args.symbol, args.interval, args.limit, args.start_time, args.end_time
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
        for row in raw
    ]
    result = outputs.Klines(symbol=args.symbol, interval=args.interval, klines=klines, count=len(klines))
    summary = f"{len(klines)} {args.interval} candles for {args.symbol}"
    if klines:
        summary += f", last close {klines[-1].close}"
    return ToolOutput(result.model_dump(), summary, list_keys=("klines",))


@guarded(
    ToolName.GET_24HR_TICKER,
    title="Get 24h ticker",
    description="24-hour rolling statistics of a symbol: last price, change, high, low, volume.",
    inputs=SymbolInput,
    output=outputs.Ticker24h,
    risk=Risk.READ,
)
async def get_24hr_ticker(args: SymbolInput, call: CallContext) -> ToolOutput:
    raw = await call.exchange.get_24hr_ticker(args.symbol)
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
    )
    summary = (
        f"{ticker.symbol} 24h: last {ticker.last_price}, change {ticker.price_change_percent}%, "
        f"high {ticker.high_price}, low {ticker.low_price}, volume {ticker.volume}"
    )
    return ToolOutput(ticker.model_dump(), summary)


MARKET_TOOLS = (
    get_price,
    get_orderbook,
    get_klines,
    get_24hr_ticker,
)
