"""Latency the server adds: `get_price` and `place_order` through binance-mcp vs python-binance direct.

    python benchmarks/latency.py [--pairs 11] [--calls 100]

Both sides talk to the same local Binance-compatible exchange (tests/fake_binance). One side is
binance-mcp through `mcp.Client` in-process: the MCP protocol, the guard, the audit log (an order's
`pending` record and its outcome are fsynced), retries and rate-limit tracking. The other is
python-binance's `Client` called directly in a worker thread, as the server does. For
`place_order` the direct side makes the same requests the tool makes (the ticker, for the order's
notional and filters, then the POST), so that the difference is the server's own cost. A third
comparison times the exchange layer alone (`ExchangeClient.get_price`, no MCP, no guard). The sides
alternate in batches; printed: p50 and p99 per call, the added time, and the median of the
paired ratios of batch medians. Goal: added p50 < 1 ms per call (a Binance round trip is
50-200 ms).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from mcp import Client

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import percentile  # noqa: E402
from local_exchange import KEY, SECRET, allow_all_app, announce_roomy_limits  # noqa: E402

from tests.fake_binance import FakeBinance  # noqa: E402

ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}

Call = Callable[[], Awaitable[None]]


def direct_client(base_url: str) -> Any:  # a python-binance Client (untyped)
    from binance.client import Client as BinanceClient

    client = BinanceClient(KEY, SECRET, ping=False, requests_params={"timeout": (5.0, 10.0)})
    client.API_URL = f"{base_url}/api"
    return client


async def batch(call: Call, calls: int) -> list[float]:
    timings = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


async def compare(
    name: str, ours: Call, direct: Call, pairs: int, calls: int, ours_name: str = "binance-mcp (mcp.Client)"
) -> None:
    await batch(ours, 20)  # warm both: imports, connections, caches
    await batch(direct, 20)
    our_ms: list[float] = []
    direct_ms: list[float] = []
    ratios: list[float] = []
    for index in range(pairs):
        sides = [(ours, our_ms), (direct, direct_ms)]
        medians = {}
        for call, sink in sides if index % 2 == 0 else list(reversed(sides)):
            timings = await batch(call, calls)
            sink.extend(timings)
            medians[id(sink)] = statistics.median(timings)
        ratios.append(medians[id(our_ms)] / medians[id(direct_ms)])
    added_p50 = percentile(our_ms, 50) - percentile(direct_ms, 50)
    added_p99 = percentile(our_ms, 99) - percentile(direct_ms, 99)
    print(f"\n{name}: {pairs} alternating pairs of {calls}-call batches")
    print(f"{ours_name:>30}: p50 {percentile(our_ms, 50):7.3f} ms   p99 {percentile(our_ms, 99):7.3f} ms")
    print(
        f"{'python-binance direct':>30}: p50 {percentile(direct_ms, 50):7.3f} ms   p99 {percentile(direct_ms, 99):7.3f} ms"
    )
    print(f"{'added per call':>30}: p50 {added_p50:7.3f} ms   p99 {added_p99:7.3f} ms")
    print(f"{'ratio (median of pairs)':>30}: {statistics.median(ratios):7.3f}")


async def main(pairs: int, calls: int, max_age: float) -> None:
    announce_roomy_limits()
    with FakeBinance(api_key=KEY, api_secret=SECRET) as fake, tempfile.TemporaryDirectory() as tmp:
        fake.set_balance("USDT", "1000000000")
        app = await allow_all_app(fake, Path(tmp), market_data_max_age=max_age)
        binance = direct_client(fake.base_url)

        async with Client(app.server) as mcp:

            async def mcp_price() -> None:
                result = await mcp.call_tool("get_price", {"symbol": "BTCUSDT"})
                if result.is_error:
                    raise SystemExit(result.content[0].text)

            async def direct_price() -> None:
                await anyio.to_thread.run_sync(lambda: binance.get_symbol_ticker(symbol="BTCUSDT"))

            async def mcp_order() -> None:
                result = await mcp.call_tool("place_order", ORDER)
                if result.is_error:
                    raise SystemExit(result.content[0].text)

            async def direct_order() -> None:
                def both() -> None:
                    binance.get_symbol_ticker(symbol="BTCUSDT")
                    binance.create_order(**ORDER, newOrderRespType="FULL")

                await anyio.to_thread.run_sync(both)

            async def layer_price() -> None:
                await app.exchange.get_price("BTCUSDT")

            await compare("get_price", mcp_price, direct_price, pairs, calls)
            await compare(
                "get_price, the exchange layer alone (ExchangeClient: retries, limits; no MCP, no guard)",
                layer_price,
                direct_price,
                pairs,
                calls,
                ours_name="ExchangeClient",
            )
            await compare(
                "place_order (MARKET; direct: ticker + order)", mcp_order, direct_order, pairs, calls
            )
        app.close()
    print("\ngoal: added p50 < 1 ms per call")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=11)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument(
        "--market-data-max-age",
        type=float,
        default=0.0,
        help="the server's sharing of market data (default 0: every call reads afresh; the server's own default is 0.5)",
    )
    arguments = parser.parse_args()
    anyio.run(main, arguments.pairs, arguments.calls, arguments.market_data_max_age)
