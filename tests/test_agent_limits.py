"""The agent knows its limits (issue #9): get_limits and get_symbol_info, read before acting.

The task an agent was given: "keep two resting BTCUSDT bids 1 % and 2 % under the market, each as
large as your limits allow", under the bundled testnet-trader policy. Before these tools it found
its limits by hitting them and left approval requests behind; now it reads them first.
"""

from __future__ import annotations

import json
from decimal import ROUND_DOWN, Decimal

import pytest
from mcp import Client

from binance_mcp.policy.model import bundled_policy_path
from binance_mcp.stores.approvals import open_approval_store
from tests.fake_binance import FakeBinance

pytestmark = pytest.mark.anyio

TRADER = json.loads(bundled_policy_path("testnet-trader").read_text())


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


async def test_two_bids_at_the_largest_size_the_limits_allow_on_the_first_try(
    build, fake: FakeBinance
) -> None:
    fake.set_price("BTCUSDT", "65000.00")
    app = build(TRADER)
    async with Client(app.server) as client:
        limits = (await client.call_tool("get_limits", {})).structured_content
        rules = (await client.call_tool("get_symbol_info", {"symbol": "BTCUSDT"})).structured_content
        largest = Decimal(limits["orders"]["no_approval_max"])
        tick, step = Decimal(rules["tick_size"]), Decimal(rules["step_size"])
        market = Decimal(rules["current_price"])
        placed = []
        for below in ("0.99", "0.98"):
            price = floor_to(market * Decimal(below), tick)
            quantity = floor_to(largest / price, step)
            order = {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "quantity": str(quantity),
                "price": str(price),
            }
            placed.append(await client.call_tool("place_order", order))
    assert [result.is_error for result in placed] == [False, False], [r.content[0].text for r in placed]
    assert len(fake.open_orders("BTCUSDT")) == 2
    with open_approval_store(app.state_dir) as approvals:
        assert approvals.list(include_decided=True) == []


async def test_get_limits_shows_budgets_rate_limits_and_open_orders_as_they_change(
    build, fake: FakeBinance
) -> None:
    fake.set_price("BTCUSDT", "65000.00")
    app = build(TRADER)
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "64000"}
    async with Client(app.server) as client:
        before = (await client.call_tool("get_limits", {})).structured_content
        assert not (await client.call_tool("place_order", order)).is_error
        after = (await client.call_tool("get_limits", {})).structured_content
    budget_before = next(b for b in before["budgets"] if b["asset"] == "USDT")
    budget_after = next(b for b in after["budgets"] if b["asset"] == "USDT")
    assert Decimal(budget_before["left"]) - Decimal(budget_after["left"]) == Decimal("64")
    assert budget_after["resets_at"].endswith("T00:00:00Z")
    assert before["orders"]["max_open_orders"]["scope"].startswith("account")
    assert (
        before["orders"]["max_open_orders"]["open_now"],
        after["orders"]["max_open_orders"]["open_now"],
    ) == (0, 1)
    calls = {limit["tool"]: limit for limit in after["rate_limits"]}
    assert calls["place_order"]["left"] == calls["place_order"]["max"] - 1
    assert after["approvers"] == ["elicitation", "operator"]


async def test_get_limits_reports_a_denied_tool_with_its_reason_and_hides_hidden_ones(build) -> None:
    app = build(
        {
            "version": "1",
            "default": "allow",
            "hide": ["cancel_all_orders"],
            "rules": {"place_order": {"action": "deny", "reason": "research only"}},
        }
    )
    async with Client(app.server) as client:
        limits = (await client.call_tool("get_limits", {})).structured_content
        resource = await client.read_resource("binance-mcp://limits")
    tools = {entry["tool"]: entry for entry in limits["tools"]}
    assert "cancel_all_orders" not in tools
    assert tools["place_order"] == {
        "tool": "place_order",
        "rule": "rules.place_order",
        "decision": "deny",
        "reason": "research only",
    }
    assert json.loads(resource.contents[0].text)["tools"] == limits["tools"]


async def test_get_symbol_info_gives_the_rules_and_the_price_band_now(build, fake: FakeBinance) -> None:
    fake.set_price("BTCUSDT", "65000.00")
    app = build({"version": "1", "default": "allow"})
    async with Client(app.server) as client:
        info = (await client.call_tool("get_symbol_info", {"symbol": "btcusdt"})).structured_content
        fake.set_price("BTCUSDT", "70000.00")
        moved = (await client.call_tool("get_symbol_info", {"symbol": "BTCUSDT"})).structured_content
        band = info["buy_price_band"]
        inside = {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "quantity": "0.001",
            "price": band["highest"],
        }
        outside = inside | {"price": str(Decimal(band["highest"]) + Decimal(info["tick_size"]))}
    assert (info["symbol"], info["base_asset"], info["quote_asset"]) == ("BTCUSDT", "BTC", "USDT")
    assert info["tick_size"] == "0.01" and info["step_size"] == "0.00001" and info["min_notional"] == "5"
    assert "STOP_LOSS_LIMIT" in info["order_types"] and info["quote_precision"] == 8
    assert Decimal(moved["buy_price_band"]["highest"]) > Decimal(band["highest"])
    # the band is exactly what place_order's filters accept, to the tick, around the same price
    # (the 5-minute average, as Binance evaluates PERCENT_PRICE_BY_SIDE: 65000, 65000, 70000, 65000)
    async with Client(build({"version": "1", "default": "allow"}).server) as client:
        fake.set_price("BTCUSDT", "65000.00")
        now = (await client.call_tool("get_symbol_info", {"symbol": "BTCUSDT"})).structured_content
        assert (now["band_price"], now["band_price_basis"]) == ("66250", "5-minute average price")
        inside = inside | {"price": now["buy_price_band"]["highest"]}
        outside = inside | {"price": str(Decimal(inside["price"]) + Decimal(info["tick_size"]))}
        assert not (await client.call_tool("place_order", inside)).is_error
        refused = await client.call_tool("place_order", outside)
    assert refused.structured_content["error"] == "invalid_arguments"
