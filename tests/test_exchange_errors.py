"""Errors that say what to do: each Binance error a tool can meet, as an agent sees it through
`mcp.Client`, keeps Binance's code and message and adds the next step (issue #9 item 4)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from binance_mcp.config import build_config
from binance_mcp.exchange.client import Timeouts
from binance_mcp.exchange.errors import (
    BinanceRejected,
    ExchangeFailure,
    ExchangePaused,
    ExchangeUnavailable,
    LimitReached,
    MissingCredentials,
    missing_keys_sentence,
)
from binance_mcp.exchange.retry import RetryPolicy
from binance_mcp.server import build_app
from tests.conftest import ALLOW_ALL, API_KEY, API_SECRET, make_app, write_policy
from tests.fake_binance import FakeBinance
from tests.fake_binance.faults import Status

pytestmark = pytest.mark.anyio


async def call(app: Any, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    async with Client(app.server) as client:
        result = await client.call_tool(tool, args)
    assert result.is_error, result
    assert "Traceback" not in result.content[0].text
    return result.structured_content


def app_with_keys(tmp_path: Path, base_url: str, key: str, secret: str) -> Any:
    config = build_config(
        network_flag="testnet",
        base_url_flag=base_url,
        policy_flag=str(write_policy(tmp_path, ALLOW_ALL)),
        state_dir_flag=str(tmp_path / "state"),
        env={"BINANCE_API_KEY": key, "BINANCE_API_SECRET": secret},
    )
    return build_app(config)


async def test_a_secret_that_does_not_match_the_key_names_the_variable_and_doctor(
    tmp_path: Path, fake: FakeBinance
) -> None:
    app = app_with_keys(tmp_path, fake.base_url, API_KEY, "x" * 64)
    try:
        content = await call(app, "get_account_info", {})
    finally:
        app.close()
    assert content["error"] == "exchange_error" and content["code"] == -1022
    reason = content["reason"]
    assert "Signature for this request is not valid." in reason
    assert "The signature does not match the API key: check BINANCE_API_SECRET" in reason
    assert "`binance-mcp doctor`" in reason
    assert "x" * 64 not in reason


async def test_an_unknown_key_names_network_ip_and_permission(tmp_path: Path, fake: FakeBinance) -> None:
    app = app_with_keys(tmp_path, fake.base_url, "k" * 64, API_SECRET)
    try:
        content = await call(app, "get_open_orders", {})
    finally:
        app.close()
    assert content["code"] == -2015
    reason = content["reason"]
    assert "Invalid API-key, IP, or permissions for action." in reason
    assert f"Binance at {fake.base_url} does not accept this API key" in reason
    assert "testnet keys work only on the testnet" in reason and "allow-list" in reason
    assert "check BINANCE_API_KEY" in reason and "k" * 64 not in reason


async def test_a_key_in_the_wrong_format(tmp_path: Path, fake: FakeBinance) -> None:
    fake.inject(Status(401, -2014, "API-key format invalid."), path="/api/v3/account")
    app = make_app(tmp_path, fake.base_url)
    try:
        content = await call(app, "get_account_info", {})
    finally:
        app.close()
    assert content["code"] == -2014 and "API-key format invalid." in content["reason"]
    assert "BINANCE_API_KEY is not an API key as Binance writes them" in content["reason"]


async def test_an_unknown_symbol_suggests_the_one_meant(tmp_path: Path, fake: FakeBinance) -> None:
    app = make_app(tmp_path, fake.base_url)
    try:
        async with Client(app.server) as client:
            first = await client.call_tool("get_price", {"symbol": "BTCUSD"})
            again = await client.call_tool("get_24hr_ticker", {"symbol": "ETHUSD"})
    finally:
        app.close()
    content = first.structured_content
    assert content["code"] == -1121 and "Invalid symbol." in content["reason"]
    assert f"BTCUSD is not a symbol on Binance at {fake.base_url}: did you mean BTCUSDT?" in content["reason"]
    assert "did you mean ETHUSDT?" in again.structured_content["reason"]
    # exchangeInfo's symbol list is read once, then cached
    assert len([r for r in fake.requests if r.path == "/api/v3/exchangeInfo"]) == 1


async def test_a_symbol_nothing_resembles_says_how_symbols_are_written(
    tmp_path: Path, fake: FakeBinance
) -> None:
    app = make_app(tmp_path, fake.base_url)
    try:
        content = await call(app, "get_price", {"symbol": "QQQQZZ"})
    finally:
        app.close()
    assert "QQQQZZ is not a symbol" in content["reason"] and "e.g. BTCUSDT" in content["reason"]


async def test_cancelling_an_unknown_order_points_to_the_open_orders(
    tmp_path: Path, fake: FakeBinance
) -> None:
    app = make_app(tmp_path, fake.base_url)
    try:
        content = await call(app, "cancel_order", {"symbol": "BTCUSDT", "order_id": 987654321})
    finally:
        app.close()
    assert content["code"] == -2011 and "Unknown order sent." in content["reason"]
    assert "Binance has no open order with this id on BTCUSDT" in content["reason"]
    assert "get_open_orders lists the open ones" in content["reason"]


@pytest.mark.parametrize(
    ("message", "step"),
    [
        ("Filter failure: NOTIONAL", "price × quantity is outside the symbol's minimum/maximum order value"),
        ("Account has insufficient balance for requested action.", "free balance does not cover this order"),
    ],
)
async def test_an_order_binance_rejects_says_which_filter_or_balance(
    tmp_path: Path, fake: FakeBinance, message: str, step: str
) -> None:
    code = -1013 if message.startswith("Filter") else -2010
    fake.inject(Status(400, code, message), method="POST", path="/api/v3/order")
    app = make_app(tmp_path, fake.base_url)
    try:
        content = await call(
            app,
            "place_order",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "60000"},
        )
    finally:
        app.close()
    assert content["code"] == code and message in content["reason"] and step in content["reason"]


async def test_a_refused_port_names_the_rest_root_base_url_and_doctor(tmp_path: Path) -> None:
    app = make_app(tmp_path, "http://127.0.0.1:9")  # the discard port: nothing listens
    try:
        content = await call(app, "get_price", {"symbol": "BTCUSDT"})
    finally:
        app.close()
    reason = content["reason"]
    assert "could not connect to Binance at http://127.0.0.1:9: connection refused" in reason
    assert "The REST root in use is http://127.0.0.1:9" in reason
    assert "--base-url" in reason and "`binance-mcp doctor`" in reason


@pytest.mark.parametrize(
    ("root", "words"),
    [
        ("http://no-such-host.invalid", "could not resolve the host of http://no-such-host.invalid"),
        ("https://{fake}", "the TLS connection to https://{fake} failed (it does not speak TLS there"),
    ],
    ids=["dns", "tls"],
)
async def test_dns_and_tls_failures_name_the_rest_root(
    tmp_path: Path, fake: FakeBinance, root: str, words: str
) -> None:
    where = fake.base_url.removeprefix("http://")
    app = make_app(tmp_path, root.format(fake=where))
    app.exchange.retry = RetryPolicy(attempts=1)
    app.exchange.timeouts = Timeouts(connect=2.0, read=2.0)
    try:
        content = await call(app, "get_price", {"symbol": "BTCUSDT"})
    finally:
        app.close()
    assert words.format(fake=where) in content["reason"]
    assert "nothing was sent" in content["reason"] and "--base-url" in content["reason"]


async def test_missing_keys_say_nothing_was_sent_and_how_to_check(tmp_path: Path, fake: FakeBinance) -> None:
    app = make_app(tmp_path, fake.base_url, credentials=False)
    try:
        content = await call(app, "get_account_info", {})
    finally:
        app.close()
    assert "BINANCE_API_KEY" in content["reason"] and "BINANCE_API_SECRET" in content["reason"]
    assert content.get("code") is None
    assert not [r for r in fake.requests if r.path == "/api/v3/account"]


@pytest.mark.parametrize("tool", ["get_account_info", "place_order"])
async def test_missing_keys_are_not_an_exchange_error(tmp_path: Path, fake: FakeBinance, tool: str) -> None:
    app = make_app(tmp_path, fake.base_url, credentials=False)
    args = (
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}
        if tool == "place_order"
        else {}
    )
    try:
        content = await call(app, tool, args)
    finally:
        app.close()
    assert content["error"] == "not_configured"
    assert content["reason"] == missing_keys_sentence(tool)
    assert "nothing was sent to Binance" in content["reason"] and "`binance-mcp doctor`" in content["reason"]


async def test_debug_logs_each_request_with_weight_and_time_and_no_secret(
    tmp_path: Path, fake: FakeBinance, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(tmp_path, fake.base_url)
    caplog.set_level(logging.DEBUG, logger="binance_mcp.exchange.client")
    try:
        async with Client(app.server) as client:
            await client.call_tool("get_price", {"symbol": "BTCUSDT"})
            await client.call_tool("get_account_info", {})
    finally:
        app.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "binance_mcp.exchange.client"]
    price = next(line for line in lines if line.startswith("exchange get_symbol_ticker"))
    assert "{'symbol': 'BTCUSDT'} weight 2: ok in" in price and price.endswith(" ms")
    assert any(line.startswith("exchange get_account") and "weight 20: ok" in line for line in lines)
    assert not [line for line in lines if API_KEY in line or API_SECRET in line]


def test_one_tree_every_failure_says_whether_it_may_have_executed() -> None:
    failures: list[ExchangeFailure] = [
        BinanceRejected(400, -1121, "Invalid symbol."),
        BinanceRejected(503, None, "Service Unavailable"),
        BinanceRejected(400, -1007, "Timeout waiting for response from backend server."),
        ExchangePaused(418, -1003, "IP banned", until=0.0),
        LimitReached("6000 weight per 1 MINUTE", 6000, 30.0, 10.0),
        ExchangeUnavailable("connection refused", sent=False),
        ExchangeUnavailable("read timed out", sent=True),
        MissingCredentials("get_account"),
    ]
    assert [f.may_have_executed for f in failures] == [False, True, True, False, False, False, True, False]
    assert all(isinstance(f, ExchangeFailure) for f in failures)  # one except catches all
    assert [f.refusal_kind for f in failures].count("not_configured") == 1
    assert all(f.sentence() for f in failures)


def test_too_many_open_stop_orders_says_to_cancel_not_to_read_the_symbol_rules() -> None:
    """Found by review: the advice pointed to get_symbol_info, which does not show open-order counts."""
    from binance_mcp.exchange.advice import next_step

    step = next_step(-1013, "Filter failure: MAX_NUM_ALGO_ORDERS", {}, "https://testnet.binance.vision")
    assert step is not None and "cancel some first" in step and "get_symbol_info" not in step
