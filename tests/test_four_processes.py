"""One account, four server processes on one state dir (issue #10's reproduction), through the
real server: four `binance-mcp` stdio processes, each with its own MCP client, calls released
together. Before the account lock held across processes, the same client order id placed three
orders and `max_open_orders: 3` ended with five open; a `global` rate limit counted per process.
"""

from __future__ import annotations

import os
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.command import BINANCE_MCP
from tests.conftest import API_KEY, API_SECRET, write_policy
from tests.fake_binance import Delay, FakeBinance

pytestmark = pytest.mark.anyio

PROCESSES = 4


def server(tmp_path: Path, fake: FakeBinance, policy: dict[str, Any], *flags: str) -> StdioServerParameters:
    """A stdio `binance-mcp` on the test exchange, its state and policy in `tmp_path`, with `flags`."""
    return StdioServerParameters(
        command=BINANCE_MCP,
        args=[
            *("--testnet", "--base-url", fake.base_url, "--state-dir", str(tmp_path / "state")),
            *("--policy", str(write_policy(tmp_path, policy)), *flags),
        ],
        env={
            "BINANCE_API_KEY": API_KEY,
            "BINANCE_API_SECRET": API_SECRET,
            "PATH": os.environ.get("PATH", ""),
        },
        cwd=str(tmp_path),
    )


async def together(
    tmp_path: Path, fake: FakeBinance, policy: dict[str, Any], tool: str, calls: list[dict]
) -> list[Any]:
    """Start one server process per call, connect to each, then release every call at once."""
    params = server(tmp_path, fake, policy)
    results: list[Any] = [None] * len(calls)
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(Client(stdio_client(params), mode="legacy")) for _ in calls
        ]
        for client in clients:  # every process up and its stores open before the race
            await client.call_tool("get_limits", {})
        go = anyio.Event()

        async def call(index: int) -> None:
            await go.wait()
            results[index] = await clients[index].call_tool(tool, calls[index])

        async with anyio.create_task_group() as group:
            for index in range(len(calls)):
                group.start_soon(call, index)
            go.set()
    return results


def posts(fake: FakeBinance) -> list[Any]:
    return [r for r in fake.requests if r.method == "POST" and r.path == "/api/v3/order"]


async def test_one_client_order_id_places_one_order_across_four_processes(
    tmp_path: Path, fake: FakeBinance
) -> None:
    fake.inject(Delay(0.2), method="POST", path="/api/v3/order", times=PROCESSES)  # a race would show
    order = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "MARKET",
        "quantity": "0.001",
        "client_order_id": "same-id",
    }
    results = await together(
        tmp_path, fake, {"version": "1", "default": "allow"}, "place_order", [order] * PROCESSES
    )
    placed = [r for r in results if not r.is_error]
    refused = [r.structured_content for r in results if r.is_error]
    print(f"\nsame client order id from {PROCESSES} processes: {len(placed)} placed, {len(refused)} refused")
    assert len(placed) == 1 and len(posts(fake)) == 1
    assert all(r["error"] == "invalid_arguments" and r["field"] == "client_order_id" for r in refused)


async def test_max_open_orders_holds_across_four_processes(tmp_path: Path, fake: FakeBinance) -> None:
    fake.inject(Delay(0.2), method="POST", path="/api/v3/order", times=PROCESSES * 2)
    policy = {
        "version": "1",
        "default": "allow",
        "rules": {"place_order": {"action": "allow", "constraints": {"max_open_orders": 3}}},
    }
    bids = [
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": str(60000 + n)}
        for n in range(PROCESSES + 1)
    ]
    results = await together(tmp_path, fake, policy, "place_order", bids)
    print(
        f"\nmax_open_orders 3, {len(bids)} bids from {len(bids)} processes: {len(fake.open_orders('BTCUSDT'))} open"
    )
    assert len(fake.open_orders("BTCUSDT")) == 3
    assert sum(not r.is_error for r in results) == 3


async def test_a_global_rate_limit_counts_every_process(tmp_path: Path, fake: FakeBinance) -> None:
    policy = {
        "version": "1",
        "default": "allow",
        "rules": {
            "get_price": {"action": "allow", "rate_limit": {"max": 3, "window": 600, "scope": "global"}}
        },
    }
    results = await together(tmp_path, fake, policy, "get_price", [{"symbol": "BTCUSDT"}] * PROCESSES * 2)
    assert sum(not r.is_error for r in results) == 3
    assert all(r.structured_content["error"] == "rate_limited" for r in results if r.is_error)
