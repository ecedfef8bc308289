"""What the policy guard costs: one decision, and one tool call with and without the guard.

    python benchmarks/guard.py [--decisions 200000] [--pairs 11] [--calls 200]

1. Decision time of the policy engine for a 30-rule policy with globs and agents, over random
   tools, agents and networks: p50 and p99 (goal: p99 < 50 µs).
2. `get_price` through `mcp.Client` in-process against the local test exchange, once through
   binance-mcp (guard, audit log and all) and once through a bare MCPServer tool that makes the
   same exchange call and shapes the same result; the two alternate in batches, and the figure
   is the median of the paired ratios (goal: guard overhead < 5 %).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.server.mcpserver import MCPServer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import paired_summary, percentile  # noqa: E402
from local_exchange import KEY, SECRET, allow_all_app, announce_roomy_limits  # noqa: E402

from binance_mcp.config import Network  # noqa: E402
from binance_mcp.exchange.client import ExchangeClient  # noqa: E402
from binance_mcp.policy.engine import PolicyEngine  # noqa: E402
from binance_mcp.policy.model import parse_policy  # noqa: E402
from binance_mcp.tools.inputs import MarketInput  # noqa: E402
from binance_mcp.tools.market import get_price  # noqa: E402
from binance_mcp.tools.names import TOOL_NAMES  # noqa: E402
from binance_mcp.tools.outputs import Price  # noqa: E402
from binance_mcp.tools.spec import CallContext  # noqa: E402
from tests.fake_binance import FakeBinance  # noqa: E402


def thirty_rule_policy() -> dict[str, Any]:
    rules: dict[str, Any] = {
        "get_*": {"action": "allow", "rate_limit": {"max": 1000, "window": 60}},
        "get_order*": {"action": "allow"},
        "*_orders": {"action": "require_approval"},
        "cancel_*": {"action": "deny", "reason": "humans cancel"},
        "place_order": {
            "action": "allow",
            "networks": ["testnet"],
            "constraints": {"symbols": ["BTCUSDT", "ETHUSDT"], "max_notional": "200"},
        },
        "get_price": {"action": "allow", "rate_limit": {"max": 100, "window": 60, "scope": "agent"}},
        "get_k*": {"action": "allow"},
        "get_2*": {"action": "allow"},
        "*": {"action": "deny", "reason": "everything else is denied"},
    }
    agents = {}
    for index in range(7):
        agents[f"agent-{index}"] = {
            "hide": ["cancel_all_orders"],
            "rules": {
                "place_order": {"action": "deny", "reason": "research only"},
                "get_*": {"action": "allow"},
                "get_account_info": {"action": "deny", "reason": "no account"},
            },
        }
    policy = {
        "version": "1",
        "default": "deny",
        "hide": ["get_order_history"],
        "rules": rules,
        "agents": agents,
    }
    count = len(rules) + sum(len(a["rules"]) for a in agents.values())
    assert count >= 30, count
    return policy


def bench_decisions(count: int) -> None:
    policy = thirty_rule_policy()
    engine = PolicyEngine(parse_policy(json.dumps(policy)))
    rng = random.Random(7)
    agents = [None, "stranger", *policy["agents"]]
    networks = ["testnet", "mainnet", "demo"]
    calls = [(rng.choice(TOOL_NAMES), rng.choice(agents), rng.choice(networks)) for _ in range(count)]
    timings = []
    clock = time.perf_counter_ns
    for tool, agent, network in calls:
        started = clock()
        engine.decide(tool, agent, network)
        timings.append((clock() - started) / 1000)
    rules = len(policy["rules"]) + sum(len(a["rules"]) for a in policy["agents"].values())
    print(f"policy decisions: {count} random (tool, agent, network), {rules} rules with globs and agents")
    print(f"{'decide()':>28}: p50 {percentile(timings, 50):.2f} µs, p99 {percentile(timings, 99):.2f} µs")
    print("goal: p99 < 50 µs")


def bare_server(exchange: ExchangeClient) -> MCPServer:
    """The same exchange call, result shaping and output schema as binance-mcp's get_price, no guard."""
    server = MCPServer("bare")
    context = CallContext(exchange=exchange, network=Network.TESTNET)

    @server.tool()
    async def get_price_tool(symbol: str) -> Price:  # the same output schema, so clients validate alike
        output = await get_price(MarketInput(symbol=symbol), context)
        return Price(**output.structured)

    return server


async def timed_batch(client: Client, tool: str, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        result = await client.call_tool(tool, {"symbol": "BTCUSDT"})
        if result.is_error:
            raise SystemExit(f"{tool} failed: {result.content[0].text}")
    return (time.perf_counter() - started) * 1000 / calls


async def bench_calls(pairs: int, calls: int) -> None:
    announce_roomy_limits()
    with FakeBinance(api_key=KEY, api_secret=SECRET) as fake, tempfile.TemporaryDirectory() as tmp:
        app = await allow_all_app(fake, Path(tmp))
        bare_exchange = ExchangeClient(fake.base_url, None, market_data_max_age=0)  # afresh, as ours
        await bare_exchange.get_symbol_info("BTCUSDT")  # reads the exchange's rate limits once
        bare = bare_server(bare_exchange)
        guarded_ms: list[float] = []
        bare_ms: list[float] = []
        async with Client(app.server) as ours, Client(bare) as theirs:
            await timed_batch(ours, "get_price", 20)  # warm both: imports, connections, caches
            await timed_batch(theirs, "get_price_tool", 20)
            for index in range(pairs):
                sides = [(ours, "get_price", guarded_ms), (theirs, "get_price_tool", bare_ms)]
                for client, tool, sink in sides if index % 2 == 0 else reversed(sides):
                    sink.append(await timed_batch(client, tool, calls))
        app.close()
    print(f"\nget_price through mcp.Client in-process, {pairs} alternating pairs of {calls}-call batches")
    print(paired_summary("with the guard (per call)", guarded_ms, "without the guard", bare_ms))
    added_us = (statistics.median(guarded_ms) - statistics.median(bare_ms)) * 1000
    print(f"{'added per call':>28}: {added_us:8.0f} µs")
    print("goal: overhead < 5 % (ratio < 1.05)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=200_000)
    parser.add_argument("--pairs", type=int, default=11)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    bench_decisions(args.decisions)
    anyio.run(bench_calls, args.pairs, args.calls)


if __name__ == "__main__":
    main()
