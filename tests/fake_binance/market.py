"""Generated public market data: order book, klines and 24 h tickers, deterministic for a price and time.

Prices follow a smooth synthetic path (a few sine waves, phases from the symbol name) scaled so that it passes
through the symbol's price at the moment that price was set (`anchor`); the still-open candle closes at
the current price. Wicks and volumes come from a Random seeded with (symbol, interval, openTime), so closed
candles stay the same from one request to the next until the price is set again.
"""

from __future__ import annotations

import itertools
import math
import random
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Any

from .data import fmt, get_filter

ZERO = Decimal(0)

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
INTERVAL_MS: dict[str, int] = {
    "1s": 1000,
    "1m": MINUTE,
    "3m": 3 * MINUTE,
    "5m": 5 * MINUTE,
    "15m": 15 * MINUTE,
    "30m": 30 * MINUTE,
    "1h": HOUR,
    "2h": 2 * HOUR,
    "4h": 4 * HOUR,
    "6h": 6 * HOUR,
    "8h": 8 * HOUR,
    "12h": 12 * HOUR,
    "1d": DAY,
    "3d": 3 * DAY,
    "1w": 7 * DAY,
    "1M": 30 * DAY,  # nominal; month candles use calendar months
}
_MONDAY = 4 * DAY  # 1970-01-05, the first Monday after the epoch: weekly candles open on Mondays


def _tick(spec: dict[str, Any]) -> Decimal:
    f = get_filter(spec, "PRICE_FILTER")
    return Decimal(f["tickSize"]) if f else Decimal("0.00000001")


def _step(spec: dict[str, Any]) -> Decimal:
    f = get_filter(spec, "LOT_SIZE")
    return Decimal(f["stepSize"]) if f else Decimal("0.00000001")


def _to_tick(value: float | Decimal, tick: Decimal) -> Decimal:
    return (Decimal(str(value)) / tick).to_integral_value(rounding=ROUND_HALF_EVEN) * tick


# ------------------------------------------------------------------------------------------------ order book
def level_gap(spec: dict[str, Any], price: Decimal) -> Decimal:
    """Beyond the best level, levels are about one basis point of the price apart (at least a tick)."""
    tick = _tick(spec)
    return max(tick, _to_tick(price / 10_000, tick))


def depth(symbol: str, spec: dict[str, Any], price: Decimal, limit: int, update_id: int) -> dict[str, Any]:
    """`limit` levels a side: best ask at the current price, best bid one tick below, the next levels
    `level_gap` apart, each holding 100 to 300 times the symbol's minimum notional (a thin book, so
    that a MARKET order of some size walks several levels). The sizes depend on the symbol, price
    and level only, so the book a client reads is the one its MARKET order then fills against."""
    bids: list[list[str]] = []
    asks: list[list[str]] = []
    for (bid, bid_size), (ask, ask_size) in itertools.islice(_levels(symbol, spec, price), limit):
        if bid > 0:
            bids.append([fmt(bid), fmt(bid_size)])
        asks.append([fmt(ask), fmt(ask_size)])
    return {"lastUpdateId": update_id, "bids": bids, "asks": asks}


def _levels(
    symbol: str, spec: dict[str, Any], price: Decimal
) -> Iterator[tuple[tuple[Decimal, Decimal], tuple[Decimal, Decimal]]]:
    tick, step, gap = _tick(spec), _step(spec), level_gap(spec, price)
    notional = get_filter(spec, "NOTIONAL") or {}
    depth_quote = Decimal(str(notional.get("minNotional") or "5")) * 100
    rng = random.Random(f"{symbol}:{price}")

    def size(at: Decimal) -> Decimal:
        quote = depth_quote * Decimal(1 + 2 * rng.random()).quantize(Decimal("0.001"))
        return max(step, (quote / max(at, tick) / step).to_integral_value(rounding=ROUND_DOWN) * step)

    for i in range(5000):
        bid = price - tick - gap * i
        bid_level = (bid, size(bid) if bid > 0 else ZERO)
        ask = price + gap * i
        yield bid_level, (ask, size(ask))


def walk(spec: dict[str, Any], symbol: str, price: Decimal, side: str) -> Iterator[tuple[Decimal, Decimal]]:
    """The levels a MARKET order of `side` takes, best first (BUY: the asks; SELL: the bids), as
    `depth` shows them, generated as the order needs them."""
    for bid, ask in _levels(symbol, spec, price):
        level = ask if side == "BUY" else bid
        if level[0] <= 0:
            return
        yield level


# ----------------------------------------------------------------------------------------------- candle times
def open_time(t: int, interval: str) -> int:
    """Open time of the candle containing t (UTC; weeks start Monday, months on the 1st)."""
    if interval == "1M":
        d = datetime.fromtimestamp(t / 1000, UTC)
        return int(datetime(d.year, d.month, 1, tzinfo=UTC).timestamp() * 1000)
    if interval == "1w":
        return (t - _MONDAY) // INTERVAL_MS["1w"] * INTERVAL_MS["1w"] + _MONDAY
    size = INTERVAL_MS[interval]
    return t // size * size


def shift(open_ms: int, interval: str, n: int) -> int:
    """The open time `n` candles after (or before, n < 0) the candle opening at open_ms."""
    if interval != "1M":
        return open_ms + n * INTERVAL_MS[interval]
    d = datetime.fromtimestamp(open_ms / 1000, UTC)
    months = d.year * 12 + d.month - 1 + n
    return int(datetime(months // 12, months % 12 + 1, 1, tzinfo=UTC).timestamp() * 1000)


# ------------------------------------------------------------------------------------------------ price path
def _path(symbol: str, t: int) -> float:
    phase = zlib.crc32(symbol.encode()) % 1000 / 1000 * 2 * math.pi
    x = t / DAY
    return math.exp(
        0.04 * math.sin(2 * math.pi * x / 9 + phase)
        + 0.012 * math.sin(2 * math.pi * x * 24 / 17 + 2 * phase)
        + 0.003 * math.sin(2 * math.pi * x * 1440 / 23 + 3 * phase)
    )


def price_at(symbol: str, price: Decimal, anchor: int, t: int) -> float:
    """Synthetic price at time t, equal to `price` at time `anchor`."""
    return float(price) * _path(symbol, t) / _path(symbol, anchor)


def _candle(
    symbol: str, spec: dict[str, Any], price: Decimal, anchor: int, now: int, interval: str, start: int
) -> list[Any]:
    tick = _tick(spec)
    end = shift(start, interval, 1) - 1
    rng = random.Random(f"{symbol}:{interval}:{start}")
    o = _to_tick(price_at(symbol, price, anchor, start), tick)
    c = price if end >= now else _to_tick(price_at(symbol, price, anchor, end + 1), tick)
    wick = 0.0005 + 0.0015 * rng.random()
    h = max(o, c, _to_tick(float(max(o, c)) * (1 + wick * rng.random()), tick))
    lo = min(o, c, _to_tick(float(min(o, c)) * (1 - wick * rng.random()), tick))
    minutes = max((min(end, now) - start) / MINUTE, 1 / 60)
    unit = _step(spec) * 10_000
    volume = (Decimal(str(minutes * rng.uniform(1, 20))) * unit).quantize(Decimal("0.00000001"))
    avg = (o + c) / 2
    taker = (volume * Decimal(str(rng.uniform(0.3, 0.7)))).quantize(Decimal("0.00000001"))
    trades = int(minutes * rng.randint(5, 60)) + 1
    return [
        start,
        fmt(o),
        fmt(h),
        fmt(lo),
        fmt(c),
        fmt(volume),
        end,
        fmt(volume * avg),
        trades,
        fmt(taker),
        fmt(taker * avg),
        "0",
    ]


def klines(
    symbol: str,
    spec: dict[str, Any],
    price: Decimal,
    anchor: int,
    now: int,
    interval: str,
    limit: int,
    start_time: int | None = None,
    end_time: int | None = None,
) -> list[list[Any]]:
    """Candles like GET /api/v3/klines: oldest first; the newest (if included) is still open and ends now."""
    last_open = open_time(min(now, end_time) if end_time is not None else now, interval)
    opens: list[int] = []
    if start_time is not None:
        t = open_time(start_time, interval)
        if t < start_time:
            t = shift(t, interval, 1)
        while t <= last_open and len(opens) < limit:
            opens.append(t)
            t = shift(t, interval, 1)
    else:
        t = last_open
        while len(opens) < limit and t >= 0:
            opens.append(t)
            t = shift(t, interval, -1)
        opens.reverse()
    return [_candle(symbol, spec, price, anchor, now, interval, t) for t in opens]


def ticker_24hr(
    symbol: str,
    spec: dict[str, Any],
    price: Decimal,
    anchor: int,
    now: int,
    update_id: int,
    mini: bool = False,
) -> dict[str, Any]:
    """The rolling 24 h statistics (§5.7) from 1 h candles; MINI drops the bid/ask/change fields."""
    candles = klines(symbol, spec, price, anchor, now, "1h", 25, start_time=now - DAY)
    open_price = _to_tick(price_at(symbol, price, anchor, now - DAY), _tick(spec))
    high = max([Decimal(c[2]) for c in candles] + [open_price, price])
    low = min([Decimal(c[3]) for c in candles] + [open_price, price])
    volume = sum((Decimal(c[5]) for c in candles), Decimal(0))
    quote_volume = sum((Decimal(c[7]) for c in candles), Decimal(0))
    count = sum(c[8] for c in candles)
    last_id = 4_000_000 + now // 1000
    out: dict[str, Any] = {"symbol": symbol}
    if not mini:
        book = depth(symbol, spec, price, 1, update_id)
        change = price - open_price
        out |= {
            "priceChange": fmt(change),
            "priceChangePercent": f"{(change / open_price * 100).quantize(Decimal('0.001')):f}",
            "weightedAvgPrice": fmt(quote_volume / volume) if volume else fmt(price),
            "prevClosePrice": fmt(open_price),
            "lastPrice": fmt(price),
            "lastQty": book["asks"][0][1],
            "bidPrice": book["bids"][0][0] if book["bids"] else fmt(0),
            "bidQty": book["bids"][0][1] if book["bids"] else fmt(0),
            "askPrice": book["asks"][0][0],
            "askQty": book["asks"][0][1],
        }
    out |= {"openPrice": fmt(open_price), "highPrice": fmt(high), "lowPrice": fmt(low)}
    if mini:
        out["lastPrice"] = fmt(price)
    out |= {
        "volume": fmt(volume),
        "quoteVolume": fmt(quote_volume),
        "openTime": now - DAY,
        "closeTime": now,
        "firstId": last_id - count + 1,
        "lastId": last_id,
        "count": count,
    }
    return out
