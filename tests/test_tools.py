"""The tools through `mcp.Client`, end to end against the local Binance-compatible exchange.

Each test checks what the agent sees and what reached the exchange: the path, the parameters and
a signature the exchange verified.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from mcp import Client

from binance_mcp.server import App
from binance_mcp.tools.names import TOOL_NAMES as ALL_TOOL_NAMES
from tests.conftest import every_key_type, make_app
from tests.fake_binance import FakeBinance
from tests.keys import API_KEYS, KEY_TYPES, key_secrets

pytestmark = pytest.mark.anyio

TOOL_NAMES = set(ALL_TOOL_NAMES)


def requests_to(fake: FakeBinance, method: str, path: str) -> list:
    return [r for r in fake.requests if r.method == method and r.path == path]


def assert_no_secret_in(text: str) -> None:
    """No API key, HMAC secret or private key (whole or any line of it) of any key type in `text`."""
    for key_type in KEY_TYPES:
        for secret in key_secrets(key_type):
            assert secret not in text, key_type


def assert_no_secret(result) -> None:
    assert_no_secret_in(json.dumps(result.model_dump(mode="json")))


async def test_lists_the_tools_with_schemas_and_annotations(client: Client) -> None:
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == TOOL_NAMES
    for tool in tools.values():
        assert tool.input_schema["type"] == "object"
        assert tool.input_schema.get("additionalProperties") is False, tool.name
        assert tool.output_schema and tool.output_schema["type"] == "object"
        # openWorldHint left out: true, the MCP specification's default (every tool reaches Binance)
        assert tool.annotations is not None and tool.annotations.open_world_hint in (None, True)
    assert tools["get_price"].annotations.read_only_hint is True
    assert tools["get_account_info"].annotations.read_only_hint is True
    place = tools["place_order"].annotations
    # readOnlyHint and idempotentHint left out: false, the MCP specification's defaults
    assert (place.read_only_hint, place.destructive_hint, place.idempotent_hint) == (None, False, None)
    assert tools["cancel_order"].annotations.destructive_hint is True
    assert tools["cancel_all_orders"].annotations.destructive_hint is True
    assert set(tools["place_order"].input_schema["properties"]) == {
        "symbol", "side", "type", "quantity", "quote_quantity", "price", "stop_price", "trailing_delta", "time_in_force", "cap_pct",
        "client_order_id",
    }  # fmt: skip
    assert tools["get_klines"].input_schema["properties"]["limit"]["maximum"] == 1000
    assert tools["get_orderbook"].input_schema["properties"]["limit"]["maximum"] == 5000


async def test_get_price(client: Client, fake: FakeBinance) -> None:
    fake.set_price("BTCUSDT", "64123.45")
    result = await client.call_tool("get_price", {"symbol": "btcusdt"})
    assert not result.is_error
    content = dict(result.structured_content or {})
    assert content.pop("read_at").endswith("Z") and content.pop("age_ms") >= 0
    assert content == {"symbol": "BTCUSDT", "price": "64123.45000000"}
    assert "BTCUSDT last price 64123.45000000 on TESTNET" in result.content[0].text
    [request] = requests_to(fake, "GET", "/api/v3/ticker/price")
    assert request.params == {"symbol": "BTCUSDT"}


async def test_get_orderbook(client: Client, fake: FakeBinance) -> None:
    result = await client.call_tool("get_orderbook", {"symbol": "ETHUSDT", "limit": 5})
    book = result.structured_content
    assert not result.is_error and book["symbol"] == "ETHUSDT"
    assert book["bid_count"] == 5 and book["ask_count"] == 5 and len(book["bids"]) == 5
    bids = [Decimal(price) for price, _ in book["bids"]]
    asks = [Decimal(price) for price, _ in book["asks"]]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]
    assert book["truncated"] is False
    [request] = requests_to(fake, "GET", "/api/v3/depth")
    assert request.params == {"symbol": "ETHUSDT", "limit": "5"}


async def test_a_large_orderbook_is_cut_to_fit_and_says_so(client: Client) -> None:
    result = await client.call_tool("get_orderbook", {"symbol": "BTCUSDT", "limit": 5000})
    book = result.structured_content
    assert book["bid_count"] == 5000 and book["ask_count"] == 5000
    assert book["truncated"] is True
    assert 0 < len(book["bids"]) < 5000 and len(book["bids"]) == len(book["asks"])
    text = result.content[0].text
    assert len(text) + len(json.dumps(book, separators=(",", ":"))) < 80_000
    json.loads(text.split("\n", 1)[1])  # the text carries valid JSON, never cut mid-value
    assert "truncated" in text.split("\n", 1)[0]


async def test_get_klines(client: Client, fake: FakeBinance) -> None:
    result = await client.call_tool("get_klines", {"symbol": "BTCUSDT", "interval": "1h", "limit": 3})
    assert not result.is_error
    klines = result.structured_content["klines"]
    assert result.structured_content["count"] == 3 and len(klines) == 3
    assert [k["open_time"] for k in klines] == sorted(k["open_time"] for k in klines)
    assert klines[1]["open_time"] - klines[0]["open_time"] == 3_600_000
    assert set(klines[0]) == {
        "open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume", "trades",
    }  # fmt: skip
    [request] = requests_to(fake, "GET", "/api/v3/klines")
    assert request.params == {"symbol": "BTCUSDT", "interval": "1h", "limit": "3"}


async def test_get_24hr_ticker(client: Client, fake: FakeBinance) -> None:
    result = await client.call_tool("get_24hr_ticker", {"symbol": "BNBBTC"})
    ticker = result.structured_content
    assert not result.is_error and ticker["symbol"] == "BNBBTC"
    assert Decimal(ticker["low_price"]) <= Decimal(ticker["last_price"]) <= Decimal(ticker["high_price"])
    assert requests_to(fake, "GET", "/api/v3/ticker/24hr")[0].params == {"symbol": "BNBBTC"}


@every_key_type
async def test_get_account_info_shows_non_zero_balances_only(
    client: Client, fake: FakeBinance, key_type: str
) -> None:
    fake.set_balance("DOGE", "0")
    fake.set_balance("USDT", "1234.5")
    result = await client.call_tool("get_account_info", {})
    info = result.structured_content
    assert not result.is_error
    assets = {b["asset"]: b for b in info["balances"]}
    assert "DOGE" not in assets and Decimal(assets["USDT"]["free"]) == Decimal("1234.5")
    assert all(Decimal(b["free"]) + Decimal(b["locked"]) > 0 for b in info["balances"])
    assert info["count"] == len(info["balances"])
    [request] = requests_to(fake, "GET", "/api/v3/account")
    assert request.signature_ok is True and request.api_key == API_KEYS[key_type]
    assert request.key_type == key_type
    assert_no_secret(result)


async def limit_buy(client: Client, **overrides) -> dict:
    args = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "50000"}
    result = await client.call_tool("place_order", args | overrides)
    assert not result.is_error, result.content[0].text
    return result.structured_content


@every_key_type
async def test_place_a_resting_limit_order_signed_with_a_client_order_id(
    client: Client, fake: FakeBinance, key_type: str
) -> None:
    order = await limit_buy(client)
    assert order["status"] == "NEW" and order["network"] == "testnet" and order["side"] == "BUY"
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,36}", order["client_order_id"])
    [request] = requests_to(fake, "POST", "/api/v3/order")
    assert request.signature_ok is True and request.key_type == key_type
    sent = request.params
    assert (sent["symbol"], sent["side"], sent["type"], sent["timeInForce"]) == (
        "BTCUSDT",
        "BUY",
        "LIMIT",
        "GTC",
    )
    assert (sent["quantity"], sent["price"]) == ("0.01", "50000")
    assert sent["newClientOrderId"] == order["client_order_id"]
    assert len(fake.open_orders("BTCUSDT")) == 1


async def test_a_market_order_by_quote_quantity_fills(client: Client, fake: FakeBinance) -> None:
    fake.set_price("BTCUSDT", "60000.00")
    result = await client.call_tool(
        "place_order",
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "MARKET",
            "quote_quantity": 120,
            "client_order_id": "mine-1",
        },
    )
    order = result.structured_content
    assert not result.is_error, result.content[0].text
    assert order["status"] == "FILLED" and order["client_order_id"] == "mine-1"
    assert order["fills"] and Decimal(order["fills"][0]["price"]) == Decimal("60000")
    sent = requests_to(fake, "POST", "/api/v3/order")[0].params
    assert sent["quoteOrderQty"] == "120" and "quantity" not in sent and "timeInForce" not in sent


async def test_open_orders_and_history(client: Client, fake: FakeBinance) -> None:
    placed = await limit_buy(client)
    open_orders = (await client.call_tool("get_open_orders", {"symbol": "BTCUSDT"})).structured_content
    assert [o["order_id"] for o in open_orders["orders"]] == [placed["order_id"]]
    everywhere = (await client.call_tool("get_open_orders", {})).structured_content
    assert everywhere["count"] == 1 and everywhere["symbol"] is None
    history = (
        await client.call_tool("get_order_history", {"symbol": "BTCUSDT", "limit": 10})
    ).structured_content
    assert [o["client_order_id"] for o in history["orders"]] == [placed["client_order_id"]]
    assert requests_to(fake, "GET", "/api/v3/allOrders")[0].params["limit"] == "10"
    signed = [
        r for r in fake.requests if r.path in ("/api/v3/openOrders", "/api/v3/allOrders", "/api/v3/order")
    ]
    # and the guard's count of the open orders on BTCUSDT (MAX_NUM_ORDERS) at screening (nothing
    # moved before dispatch, so no second look)
    assert len(signed) == 5 and all(r.signature_ok is True for r in signed)


@every_key_type
async def test_cancel_order_by_either_id(client: Client, fake: FakeBinance) -> None:
    first = await limit_buy(client)
    second = await limit_buy(client, price="49000")
    by_id = await client.call_tool("cancel_order", {"symbol": "BTCUSDT", "order_id": first["order_id"]})
    assert by_id.structured_content["status"] == "CANCELED"
    assert by_id.structured_content["client_order_id"] == first["client_order_id"]
    by_client_id = await client.call_tool(
        "cancel_order", {"symbol": "BTCUSDT", "client_order_id": second["client_order_id"]}
    )
    assert by_client_id.structured_content["order_id"] == second["order_id"]
    assert fake.open_orders("BTCUSDT") == []
    again = await client.call_tool("cancel_order", {"symbol": "BTCUSDT", "order_id": first["order_id"]})
    assert again.is_error and again.structured_content["error"] == "exchange_error"
    assert (
        again.structured_content["code"] == -2011
        and "Unknown order sent." in again.structured_content["reason"]
    )


async def test_cancel_all_orders_and_when_there_are_none(client: Client, fake: FakeBinance) -> None:
    await limit_buy(client)
    await limit_buy(client, price="48000")
    result = await client.call_tool("cancel_all_orders", {"symbol": "BTCUSDT"})
    assert not result.is_error and result.structured_content["count"] == 2
    none_left = await client.call_tool("cancel_all_orders", {"symbol": "BTCUSDT"})
    assert not none_left.is_error
    assert none_left.structured_content["count"] == 0
    assert "no open orders on BTCUSDT" in none_left.structured_content["message"]


@pytest.mark.parametrize(
    ("tool", "arguments", "field", "words"),
    [
        ("get_price", {"symbol": "BTCUSDT", "leverage": 10}, "leverage", "unknown argument 'leverage'"),
        ("get_price", {}, "symbol", "symbol: required"),
        ("get_price", {"symbol": "BTC/USDT"}, "symbol", "not a Binance Spot symbol"),
        ("get_orderbook", {"symbol": "BTCUSDT", "limit": 6000}, "limit", "limit: must be at most 5000"),
        ("get_orderbook", {"symbol": "BTCUSDT", "limit": "many"}, "limit", "must be a whole number"),
        ("get_klines", {"symbol": "BTCUSDT", "interval": "2m"}, "interval", "interval: must be one of"),
        ("get_klines", {"symbol": "BTCUSDT", "interval": "1m", "limit": 0}, "limit", "must be at least 1"),
        (
            "get_order_history",
            {"symbol": "BTCUSDT", "start_time": 0, "end_time": 90_000_000},
            "end_time",
            "at most 24 hours",
        ),
        (
            "place_order",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "1"},
            "price",
            "needs a price",
        ),
        (
            "place_order",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "abc", "price": "1"},
            "quantity",
            "not a decimal number",
        ),
        (
            "place_order",
            {"symbol": "BTCUSDT", "side": "HOLD", "type": "MARKET", "quantity": "1"},
            "side",
            "must be one of 'BUY' or 'SELL'",
        ),
        (
            "place_order",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "1", "quote_quantity": "5"},
            "quantity",
            "exactly one of quantity or quote_quantity",
        ),
        (
            "place_order",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "-1"},
            "quantity",
            "must be greater than 0",
        ),
        (
            "place_order",
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "MARKET",
                "quantity": "1",
                "client_order_id": "a:b/c",
            },
            "client_order_id",
            "1 to 36 characters",
        ),
        ("cancel_order", {"symbol": "BTCUSDT"}, "order_id", "give order_id or client_order_id"),
    ],
)
async def test_bad_arguments_are_refused_in_plain_words_and_nothing_is_sent(
    client: Client, fake: FakeBinance, tool: str, arguments: dict, field: str, words: str
) -> None:
    result = await client.call_tool(tool, arguments)
    assert result.is_error
    content = result.structured_content
    assert content["error"] == "invalid_arguments" and content["tool"] == tool and content["rule"] is None
    assert content["field"] == field
    assert words in content["reason"], content["reason"]
    assert "validation error" not in content["reason"].lower() and "pydantic" not in content["reason"].lower()
    assert "\n" not in result.content[0].text
    assert fake.requests == []
    # the server keeps serving
    assert not (await client.call_tool("get_price", {"symbol": "BTCUSDT"})).is_error


async def test_an_order_off_the_tick_size_is_refused_with_the_nearest_prices(
    client: Client, fake: FakeBinance
) -> None:
    result = await client.call_tool(
        "place_order",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "60000.005"},
    )
    assert result.is_error
    content = result.structured_content
    assert content["error"] == "invalid_arguments" and content["field"] == "price"
    assert (
        "price 60000.005 is not a multiple of tick size 0.01: use 60000.00 or 60000.01" in content["reason"]
    )
    assert requests_to(fake, "POST", "/api/v3/order") == []


async def test_binance_errors_carry_the_code_and_message(client: Client) -> None:
    result = await client.call_tool("get_price", {"symbol": "NOTAPAIR"})
    assert result.is_error
    content = result.structured_content
    assert content["error"] == "exchange_error" and content["code"] == -1121
    assert "Invalid symbol." in content["reason"] and content["rule"] is None


async def test_an_unreachable_exchange_is_a_sentence(tmp_path: Path) -> None:
    app = make_app(tmp_path, "http://127.0.0.1:9")  # discard port: nothing listens
    async with Client(app.server) as client:
        result = await client.call_tool("get_price", {"symbol": "BTCUSDT"})
    assert result.is_error and result.structured_content["error"] == "exchange_error"
    assert "could not connect to Binance at http://127.0.0.1:9" in result.structured_content["reason"]
    assert "Traceback" not in result.content[0].text


async def test_without_keys_market_tools_work_and_account_tools_name_the_variables(
    tmp_path: Path, fake: FakeBinance
) -> None:
    app = make_app(tmp_path, fake.base_url, credentials=False)
    async with Client(app.server) as client:
        assert not (await client.call_tool("get_price", {"symbol": "BTCUSDT"})).is_error
        for tool, args in (
            ("get_account_info", {}),
            ("get_open_orders", {}),
            ("place_order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}),
        ):
            result = await client.call_tool(tool, args)
            assert result.is_error, tool
            assert "BINANCE_API_KEY" in result.structured_content["reason"]
            assert "BINANCE_API_SECRET" in result.structured_content["reason"]
            assert "BINANCE_PRIVATE_KEY_FILE" in result.structured_content["reason"]  # the Ed25519/RSA way
    assert all(r.api_key is None for r in fake.requests)


@every_key_type
async def test_every_call_leaves_one_audit_record(client: Client, app: App) -> None:
    await client.call_tool("get_price", {"symbol": "BTCUSDT"})
    await client.call_tool("get_price", {"symbol": "BTCUSDT", "oops": 1})
    await limit_buy(client)
    records = app.audit.query()
    assert [(r.tool, r.decision, r.outcome) for r in records] == [
        ("get_price", "allowed", "ok"),
        ("get_price", "invalid_arguments", "refused"),
        ("place_order", "allowed", "ok"),
    ]
    order = records[-1]
    assert order.order_id and order.client_order_id and order.network == "testnet"
    assert order.arguments["client_order_id"] == order.client_order_id
    assert_no_secret_in(json.dumps([r.to_dict() for r in records]))


async def test_summaries_count_in_words(client: Client, fake: FakeBinance) -> None:
    """ "1 open orders" read badly to a new user: one is singular."""
    await limit_buy(client)
    one = await client.call_tool("get_open_orders", {"symbol": "BTCUSDT"})
    assert one.content[0].text.startswith("1 open order on BTCUSDT")
    cancelled = await client.call_tool("cancel_all_orders", {"symbol": "BTCUSDT"})
    assert "ancelled 1 open order on BTCUSDT" in cancelled.content[0].text
