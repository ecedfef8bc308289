"""The agent's bracket task against the lean tool definitions (issue #18, item 2).

An agent that knows only what tools/list tells it (names, descriptions, input schemas) is asked for
the largest protected entry that needs no human: a LIMIT BUY 1 % under the market, a take-profit
3 % above the entry and a stop-loss 2 % under it, on the bundled testnet-trader policy (a human
above 200 USDT). Through `mcp.Client` against the test exchange: it reads the price and the
symbol's rules, sizes the bracket with get_order_preview, builds its arguments from the published
schema (each checked against it), and the list is placed on the first try with no approval asked.
"""

from __future__ import annotations

import json
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from mcp import Client
from mcp_types import ElicitResult

from binance_mcp.stores.approvals import open_approval_store
from tests.fake_binance import FakeBinance

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent


def bundled_testnet_trader() -> dict[str, Any]:
    policy = json.loads((ROOT / "binance_mcp" / "policies" / "testnet-trader.json").read_text())
    policy.pop("$schema", None)
    return policy


def on_tick(value: Decimal, tick: str) -> str:
    step = Decimal(tick)
    return str((value / step).to_integral_value(rounding=ROUND_DOWN) * step.normalize())


async def read(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content[0].text
    assert result.structured_content is not None
    return result.structured_content


async def test_the_largest_protected_entry_is_placed_on_the_first_try(build: Any, fake: FakeBinance) -> None:
    app = build(bundled_testnet_trader())
    asked: list[str] = []

    async def human(context: Any, params: Any) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="decline")

    async with Client(app.server, elicitation_callback=human) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        placing = tools["place_order_list"]
        inputs = Draft202012Validator(placing.input_schema)
        leg_fields = placing.input_schema["properties"]["legs"]["items"]["properties"]
        assert {"side", "type", "quantity", "price", "stop_price"} <= set(leg_fields)
        assert "OTOCO" in placing.input_schema["properties"]["type"]["enum"]

        market = Decimal((await read(client, "get_price", {"symbol": "BTCUSDT"}))["price"])
        rules = await read(client, "get_symbol_info", {"symbol": "BTCUSDT"})
        tick, step = rules["tick_size"], rules["step_size"]
        entry = Decimal(on_tick(market * Decimal("0.99"), tick))
        take_profit = on_tick(entry * Decimal("1.03"), tick)
        stop = Decimal(on_tick(entry * Decimal("0.98"), tick))

        def bracket(quantity: str) -> dict[str, Any]:
            return {
                "symbol": "BTCUSDT",
                "type": "OTOCO",
                "legs": [
                    {"side": "BUY", "type": "LIMIT", "quantity": quantity, "price": str(entry)},
                    {"side": "SELL", "type": "LIMIT_MAKER", "quantity": quantity, "price": take_profit},
                    {"side": "SELL", "type": "STOP_LOSS_LIMIT", "quantity": quantity,
                     "stop_price": str(stop), "price": on_tick(stop * Decimal("0.995"), tick)},
                ],
            }  # fmt: skip

        trial = bracket(on_tick(Decimal("0.01"), step))
        assert list(inputs.iter_errors(trial)) == []
        preview = await read(client, "get_order_preview", {"tool": "place_order_list", "arguments": trial})
        largest = preview["largest_without_human"]
        quantities = {leg["quantity"] for leg in largest["legs"]}
        assert len(quantities) == 1, largest  # the bracket scales all its legs alike
        arguments = bracket(quantities.pop())
        assert list(inputs.iter_errors(arguments)) == []

        placed = await client.call_tool("place_order_list", arguments)

    assert not placed.is_error, placed.content[0].text  # placed on the first try
    content = placed.structured_content
    assert content is not None
    assert list(Draft202012Validator(placing.output_schema).iter_errors(content)) == []
    assert content["list_order_status"] == "EXECUTING" and len(content["orders"]) == 3
    assert asked == []  # no human was asked
    with open_approval_store(app.state_dir) as approvals:
        assert approvals.list(include_decided=True) == []  # and no approval request left behind
    # the largest that needs no human: its largest execution (the take-profit) within 200 USDT, and
    # a step more would not be
    quantity = Decimal(arguments["legs"][0]["quantity"])
    assert quantity * Decimal(take_profit) <= 200 < (quantity + Decimal(step)) * Decimal(take_profit)
    sent = [r for r in fake.requests if r.method == "POST" and r.path.startswith("/api/v3/order")]
    assert [r.path for r in sent] == ["/api/v3/orderList/otoco"]


async def test_the_previews_text_gives_an_order_lists_largest_quantity(build: Any) -> None:
    """A client that shows the model only a result's text: the preview of an order list says the
    largest quantity needing no human, as it does for one order."""
    app = build(bundled_testnet_trader())
    oco = {
        "symbol": "BTCUSDT",
        "type": "OCO",
        "legs": [
            {"side": "SELL", "type": "LIMIT_MAKER", "quantity": "0.01", "price": "70000"},
            {"side": "SELL", "type": "STOP_LOSS", "quantity": "0.01", "stop_price": "60000"},
        ],
    }
    async with Client(app.server) as client:
        result = await client.call_tool("get_order_preview", {"tool": "place_order_list", "arguments": oco})
    assert not result.is_error, result.content[0].text
    largest = result.structured_content["largest_without_human"]
    quantity = largest["legs"][0]["quantity"]
    assert f"largest without a human: quantity {quantity} a leg" in result.content[0].text


async def test_a_refused_leg_is_named_as_the_agent_gave_it(build: Any, fake: FakeBinance) -> None:
    """The agent wrote `legs`; a refusal of one leg's value says which, in its words and its field."""
    fake.set_price("BTCUSDT", "65000")
    app = build(bundled_testnet_trader())
    oco = {
        "symbol": "BTCUSDT",
        "type": "OCO",
        "legs": [
            {"side": "SELL", "type": "LIMIT_MAKER", "quantity": "0.001", "price": "70000"},
            {"side": "SELL", "type": "STOP_LOSS", "quantity": "0.001", "stop_price": "66000"},  # above
        ],
    }
    async with Client(app.server) as client:
        result = await client.call_tool("place_order_list", oco)
    assert result.is_error and result.structured_content["field"] == "legs[1].stop_price"
    assert result.structured_content["reason"].startswith("legs[1] (below leg): stop_price 66000"), result
