"""Every tool against recorded Binance Spot Testnet answers (vcrpy cassettes in cassettes/).

Replayed offline by default: the cassettes in this repository hold Binance's documented examples
(cassettes/README.md). With keys, one command records them again against the real testnet:

    BINANCE_API_KEY=... BINANCE_API_SECRET=... pytest tests/test_cassettes.py --record-mode=rewrite

Values are checked only on replay, where they are known; a recording checks shapes and signing.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from binance_mcp.config import build_config
from binance_mcp.server import build_app
from tests.conftest import ALLOW_ALL, write_policy

pytestmark = [pytest.mark.anyio, pytest.mark.vcr]

CASSETTES = Path(__file__).resolve().parents[1] / "cassettes"
REPLAY_KEY, REPLAY_SECRET = "cassette-replay-key", "cassette-replay-secret"


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    return str(CASSETTES)


@pytest.fixture(scope="module")
def vcr_config() -> dict[str, Any]:
    return {
        "filter_headers": [("X-MBX-APIKEY", None)],
        "filter_query_parameters": ["signature", "timestamp"],
        "filter_post_data_parameters": ["signature", "timestamp"],
        "match_on": ["method", "scheme", "host", "port", "path", "binance_parameters"],
        "decode_compressed_response": True,
        "allow_playback_repeats": True,  # place_order asks for the price the test just read
    }


@pytest.fixture
def replaying(record_mode: str) -> bool:
    return record_mode == "none"


@pytest.fixture
async def client(tmp_path: Path, replaying: bool) -> AsyncIterator[Client]:
    if replaying:
        env = {"BINANCE_API_KEY": REPLAY_KEY, "BINANCE_API_SECRET": REPLAY_SECRET}
    else:
        env = {k: os.environ.get(k, "") for k in ("BINANCE_API_KEY", "BINANCE_API_SECRET")}
        if not all(env.values()):
            pytest.skip("recording against the Spot Testnet needs BINANCE_API_KEY and BINANCE_API_SECRET")
    config = build_config(
        network_flag="testnet",
        policy_flag=str(write_policy(tmp_path, ALLOW_ALL)),
        state_dir_flag=str(tmp_path / "state"),
        env=env,
    )
    app = build_app(config)
    async with Client(app.server) as connected:
        yield connected
    app.close()


async def ok(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def test_get_price(client: Client, replaying: bool) -> None:
    price = await ok(client, "get_price", {"symbol": "LTCBTC"})
    assert Decimal(price["price"]) > 0
    if replaying:
        assert (price["symbol"], price["price"]) == ("LTCBTC", "4.00000200")


async def test_get_orderbook(client: Client, replaying: bool) -> None:
    book = await ok(client, "get_orderbook", {"symbol": "LTCBTC", "limit": 5})
    assert book["bid_count"] <= 5 and book["ask_count"] <= 5
    if replaying:
        assert book["last_update_id"] == 1027024
        assert book["bids"] == [["4.00000000", "431.00000000"]] and book["asks"] == [
            ["4.00000200", "12.00000000"]
        ]


async def test_get_klines(client: Client, replaying: bool) -> None:
    klines = await ok(client, "get_klines", {"symbol": "LTCBTC", "interval": "1d", "limit": 1})
    assert klines["count"] == 1
    if replaying:
        assert klines["klines"][0] | {} == {
            "open_time": 1499040000000, "open": "0.01634790", "high": "0.80000000", "low": "0.01575800",
            "close": "0.01577100", "volume": "148976.11427815", "close_time": 1499644799999,
            "quote_volume": "2434.19055334", "trades": 308,
        }  # fmt: skip


async def test_get_24hr_ticker(client: Client, replaying: bool) -> None:
    ticker = await ok(client, "get_24hr_ticker", {"symbol": "BNBBTC"})
    assert ticker["symbol"] == "BNBBTC"
    if replaying:
        assert (ticker["last_price"], ticker["price_change_percent"], ticker["trades"]) == (
            "4.00000200",
            "-95.960",
            76,
        )


async def test_get_account_info(client: Client, replaying: bool) -> None:
    account = await ok(client, "get_account_info", {})
    assert account["count"] == len(account["balances"])
    if replaying:
        assert [b["asset"] for b in account["balances"]] == ["BTC", "LTC"]
        assert account["commission_rates"]["maker"] == "0.00150000" and account["can_trade"] is True


async def test_get_open_orders(client: Client, replaying: bool) -> None:
    orders = await ok(client, "get_open_orders", {"symbol": "LTCBTC"})
    if replaying:
        assert [(o["order_id"], o["client_order_id"], o["status"]) for o in orders["orders"]] == [
            (1, "myOrder1", "NEW")
        ]


async def test_get_order_history(client: Client, replaying: bool) -> None:
    history = await ok(client, "get_order_history", {"symbol": "LTCBTC", "limit": 5})
    assert history["count"] <= 5
    if replaying:
        assert history["orders"][0]["price"] == "0.1"


async def place_resting_buy(client: Client, client_order_id: str) -> dict[str, Any]:
    """A LIMIT BUY 10% under the current price: it rests, and nothing fills."""
    price = Decimal((await ok(client, "get_price", {"symbol": "BTCUSDT"}))["price"])
    limit = (price * Decimal("0.9")).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    arguments = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "quantity": "0.001",
        "price": str(limit),
    }
    return await ok(client, "place_order", arguments | {"client_order_id": client_order_id})


async def test_place_order(client: Client, replaying: bool) -> None:
    order = await place_resting_buy(client, "bmcp-cassette-1")
    assert (order["client_order_id"], order["status"], order["network"]) == (
        "bmcp-cassette-1",
        "NEW",
        "testnet",
    )
    if replaying:
        assert (order["order_id"], order["price"], order["quantity"]) == (28, "58500.00000000", "0.00100000")
    else:  # leave nothing behind on the testnet
        await ok(client, "cancel_order", {"symbol": "BTCUSDT", "client_order_id": "bmcp-cassette-1"})


async def test_cancel_order(client: Client, replaying: bool) -> None:
    await place_resting_buy(client, "bmcp-cassette-2")
    cancelled = await ok(client, "cancel_order", {"symbol": "BTCUSDT", "client_order_id": "bmcp-cassette-2"})
    assert cancelled["status"] == "CANCELED" and cancelled["client_order_id"] == "bmcp-cassette-2"


async def test_cancel_all_orders(client: Client, replaying: bool) -> None:
    await place_resting_buy(client, "bmcp-cassette-3")
    cancelled = await ok(client, "cancel_all_orders", {"symbol": "BTCUSDT"})
    assert cancelled["count"] >= 1 and all(o["status"] == "CANCELED" for o in cancelled["cancelled"])
    if replaying:
        assert [o["client_order_id"] for o in cancelled["cancelled"]] == [
            "E6APeyTJvkMvLMYMqu1KQ4",
            "A3EF2HCwxgZPFMrfwbgrhv",
        ]


@pytest.mark.vcr(record_mode="none")
def test_cassettes_hold_no_keys_or_signatures() -> None:
    files = sorted(CASSETTES.glob("*.yaml"))
    assert len(files) >= 10
    for path in files:
        text = path.read_text()
        assert not re.search(r"signature=[0-9a-fA-F]{16}", text), path.name
        assert not re.search(r"timestamp=\d", text), path.name
        assert "X-MBX-APIKEY" not in text, path.name
        for secret in (os.environ.get("BINANCE_API_KEY"), os.environ.get("BINANCE_API_SECRET")):
            assert not secret or secret not in text, path.name
    assert json.loads(json.dumps([p.name for p in files]))  # every tool has its cassette
    names = {p.stem for p in files}
    for tool in ("get_price", "get_orderbook", "get_klines", "get_24hr_ticker", "get_account_info",
                 "get_open_orders", "get_order_history", "place_order", "cancel_order", "cancel_all_orders"):  # fmt: skip
        assert f"test_{tool}" in names
