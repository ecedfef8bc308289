"""Exchange requests per 1,000 concurrent agent `get_price` calls on one symbol, sharing off vs on.

    python benchmarks/exchange_requests.py [--agents 50] [--calls 1000] [--rounds 3] [--max-age 0.5]

Binance counts request weight per IP address (6,000 a minute) for every agent behind one server:
the requests the server sends, not the calls it answers, are what runs out. Each round runs the
same load on two servers side by side, one after the other, on one local test exchange:

- `before`: `--market-data-max-age 0`, every call asks the exchange (what `main` did);
- `after`: `--market-data-max-age 0.5` (the default), concurrent identical calls share one request
  (single-flight) and its answer serves the calls after it for half a second.

The load: `--agents` MCP sessions (one `mcp.Client` each, in-process: the agents and the server in
one process, the exchange over HTTP on loopback), `--calls` `get_price` calls on BTCUSDT spread
over them, all started at once. Counted: the `GET /api/v3/ticker/price` requests the test exchange
received, the calls answered, errors, the answers' age (`age_ms`, the freshness each answer states:
from when the server began asking, so time waiting for a worker thread and for the answer counts)
and the wall time. Goal: ≤ 50 exchange requests per 1,000 calls, 0 errors.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from local_exchange import KEY, SECRET, allow_all_app, announce_roomy_limits  # noqa: E402

from tests.fake_binance import FakeBinance  # noqa: E402

PRICE_PATH = "/api/v3/ticker/price"


async def one_round(app: Any, fake: FakeBinance, agents: int, calls: int) -> dict[str, float]:
    """`calls` get_price calls from `agents` sessions, all at once; what the exchange received."""
    fake.clear_requests()
    results: list[Any] = []
    errors = 0

    async def agent(client: Client, share: int) -> None:
        nonlocal errors

        async def call() -> None:
            nonlocal errors
            result = await client.call_tool("get_price", {"symbol": "BTCUSDT"})
            if result.is_error:
                errors += 1
            else:
                results.append(result.structured_content)

        async with anyio.create_task_group() as group:
            for _ in range(share):
                group.start_soon(call)

    clients = [Client(app.server) for _ in range(agents)]
    for client in clients:
        await client.__aenter__()
    try:
        shares = [calls // agents + (1 if i < calls % agents else 0) for i in range(agents)]
        started = time.perf_counter()
        async with anyio.create_task_group() as group:
            for client, share in zip(clients, shares, strict=True):
                group.start_soon(agent, client, share)
        elapsed = time.perf_counter() - started
    finally:
        for client in reversed(clients):
            await client.__aexit__(None, None, None)
    sent = sum(1 for r in fake.requests if r.path == PRICE_PATH)
    return {
        "requests": sent,
        "answered": len(results),
        "errors": errors,
        "median_ms": statistics.median([r["age_ms"] for r in results] or [0]),
        "oldest_ms": max((r["age_ms"] for r in results), default=0),
        "seconds": elapsed,
    }


async def main(agents: int, calls: int, rounds: int, max_age: float) -> None:
    announce_roomy_limits()
    with (
        FakeBinance(api_key=KEY, api_secret=SECRET) as fake,
        tempfile.TemporaryDirectory() as before_dir,
        tempfile.TemporaryDirectory() as after_dir,
    ):
        fake.set_price("BTCUSDT", "64000")
        before = await allow_all_app(fake, Path(before_dir), market_data_max_age=0)
        after = await allow_all_app(fake, Path(after_dir), market_data_max_age=max_age)
        figures: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
        try:
            for _ in range(rounds):
                figures["before"].append(await one_round(before, fake, agents, calls))
                figures["after"].append(await one_round(after, fake, agents, calls))
        finally:
            before.close()
            after.close()
    print(
        f"{calls} concurrent get_price calls on BTCUSDT from {agents} agents (mcp.Client sessions, "
        f"in-process; test exchange over HTTP), {rounds} rounds, median:"
    )
    print(f"{'':>34} {'before (max age 0)':>20} {f'after (max age {max_age:g} s)':>22}")
    rows = (
        ("exchange requests", "requests", "{:.0f}"),
        ("exchange requests per 1,000 calls", "per_1000", "{:.1f}"),
        ("calls answered", "answered", "{:.0f}"),
        ("errors", "errors", "{:.0f}"),
        ("answer age, median (age_ms)", "median_ms", "{:.0f}"),
        ("answer age, oldest (age_ms)", "oldest_ms", "{:.0f}"),
        ("wall time (s)", "seconds", "{:.2f}"),
    )
    for side in figures.values():
        for figure in side:
            figure["per_1000"] = figure["requests"] * 1000 / calls
    for label, key, form in rows:
        a = statistics.median(f[key] for f in figures["before"])
        b = statistics.median(f[key] for f in figures["after"])
        print(f"{label:>34} {form.format(a):>20} {form.format(b):>22}")
    per_1000 = statistics.median(f["per_1000"] for f in figures["after"])
    print(
        f"goal ≤ 50 exchange requests per 1,000 calls: {'met' if per_1000 <= 50 else 'MISSED'} ({per_1000:.1f})"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-age", type=float, default=0.5, help="seconds (the server's default)")
    args = parser.parse_args()
    anyio.run(main, args.agents, args.calls, args.rounds, args.max_age)
