"""Two pre-send checks Binance would otherwise answer with an error: quote precision and trigger direction.

- `quote_quantity` held to the symbol's quoteAssetPrecision (`10.123456789` USDT → Binance -1111),
  and its implied base quantity to the symbol's maximum (`1e20` USDT of BTC);
- STOP_LOSS(_LIMIT) / TAKE_PROFIT(_LIMIT) whose stop price would trigger at once (Binance's rule:
  above the last price for STOP_LOSS BUY and TAKE_PROFIT SELL, below for STOP_LOSS SELL and
  TAKE_PROFIT BUY; -2010 "Order would trigger immediately." otherwise) refused with the fix.

Pure checks in tests/test_filters.py's style, then the same through `mcp.Client` against the
local exchange, which answers -2010 exactly as Binance does when the order reaches it.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from mcp import Client

from binance_mcp.exchange.filters import SymbolRules, stop_must_be_above
from tests.conftest import ALLOW_ALL, make_app
from tests.fake_binance import FakeBinance
from tests.fake_binance.signing import sign
from tests.test_filters import BTCUSDT, check, message


@pytest.fixture
def btc() -> SymbolRules:
    return SymbolRules.from_exchange_info(BTCUSDT)


# -- quote precision ---------------------------------------------------------------------------


def test_quote_quantity_within_the_quote_precision_passes(btc: SymbolRules) -> None:
    assert check(btc, order_type="MARKET", quote_quantity="10.12345678", reference_price="65000") is None


def test_quote_quantity_beyond_the_quote_precision_is_refused_with_the_precision(btc: SymbolRules) -> None:
    violation = check(btc, order_type="MARKET", quote_quantity="10.123456789", reference_price="65000")
    assert violation is not None and violation.field == "quote_quantity"
    assert message(violation) == (
        "quote_quantity 10.123456789 has more decimals than USDT takes on BTCUSDT: "
        "at most 8 (quoteAssetPrecision): use 10.12345678"
    )


def test_the_quote_precision_is_the_symbols_own() -> None:
    info = copy.deepcopy(BTCUSDT)
    info["quoteAssetPrecision"] = 2
    rules = SymbolRules.from_exchange_info(info)
    assert message(check(rules, order_type="MARKET", quote_quantity="10.125")) == (
        "quote_quantity 10.125 has more decimals than USDT takes on BTCUSDT: at most 2 (quoteAssetPrecision): use 10.12"
    )
    del info["quoteAssetPrecision"]
    info["quotePrecision"] = 3  # the older field, still read when the newer is absent
    assert check(SymbolRules.from_exchange_info(info), order_type="MARKET", quote_quantity="10.125") is None


def test_a_quote_quantity_worth_more_than_the_maximum_quantity_is_refused(btc: SymbolRules) -> None:
    violation = check(
        btc, order_type="MARKET", quote_quantity="100000000000000000000", reference_price="65000"
    )
    assert violation is not None and violation.filter == "MARKET_LOT_SIZE"
    assert message(violation) == (
        "quote_quantity 100000000000000000000 USDT is about 1538461538461538.46153846 BTC at the current price "
        "65000.00, above the maximum 100 (MARKET_LOT_SIZE): use a quote_quantity of at most 6500000 USDT"
    )
    assert check(btc, order_type="MARKET", quote_quantity="6500000", reference_price="65000") is None


# -- trigger direction -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "order_type", "above"),
    [
        ("BUY", "STOP_LOSS", True),
        ("BUY", "STOP_LOSS_LIMIT", True),
        ("SELL", "TAKE_PROFIT", True),
        ("SELL", "TAKE_PROFIT_LIMIT", True),
        ("SELL", "STOP_LOSS", False),
        ("SELL", "STOP_LOSS_LIMIT", False),
        ("BUY", "TAKE_PROFIT", False),
        ("BUY", "TAKE_PROFIT_LIMIT", False),
    ],
)
def test_binances_trigger_rule(side: str, order_type: str, above: bool, btc: SymbolRules) -> None:
    assert stop_must_be_above(side, order_type) is above
    good, bad = ("66000", "64000") if above else ("64000", "66000")
    price = good if order_type.endswith("LIMIT") else None
    common: dict[str, Any] = {"side": side, "order_type": order_type, "quantity": "0.01", "price": price}
    assert check(btc, **common, stop_price=good, reference_price="65000") is None
    for wrong in (bad, "65000"):  # at the last price it triggers at once too
        violation = check(btc, **common, stop_price=wrong, reference_price="65000")
        assert violation is not None and violation.filter == "TRIGGER_DIRECTION", violation
        assert violation.field == "stop_price"
    assert check(btc, **common, stop_price=bad, reference_price=None) is None  # no price: not guessed


def test_the_trigger_refusal_says_what_to_do(btc: SymbolRules) -> None:
    violation = check(
        btc, side="BUY", order_type="STOP_LOSS_LIMIT", quantity="0.01", price="60000", stop_price="60000",
        reference_price="65000",
    )  # fmt: skip
    assert message(violation) == (
        "stop_price 60000 would trigger at once: a BUY STOP_LOSS_LIMIT triggers when the price rises to its "
        "stop, and the last price is 65000.00: use a stop_price above 65000.00 (e.g. 65000.01)"
    )
    violation = check(
        btc, side="SELL", order_type="STOP_LOSS_LIMIT", quantity="0.01", price="70000", stop_price="70000",
        reference_price="65000",
    )  # fmt: skip
    assert message(violation) == (
        "stop_price 70000 would trigger at once: a SELL STOP_LOSS_LIMIT triggers when the price falls to its "
        "stop, and the last price is 65000.00: use a stop_price below 65000.00 (e.g. 64999.99)"
    )


# -- through mcp.Client ------------------------------------------------------------------------


def orders_sent(fake: FakeBinance) -> list[Any]:
    return [r for r in fake.requests if r.method == "POST" and r.path.startswith("/api/v3/order")]


@pytest.mark.anyio
async def test_the_exchange_would_refuse_what_the_server_refuses_first(
    tmp_path: Path, fake: FakeBinance
) -> None:
    """The local exchange answers -2010 for a stop that would trigger at once, as Binance does; the
    server refuses it before sending, with the fix, and sends nothing."""
    stop_now = {
        "symbol": "BTCUSDT", "side": "BUY", "type": "STOP_LOSS_LIMIT", "quantity": "0.01",
        "price": "60000", "stop_price": "60000",
    }  # fmt: skip
    body = (
        "symbol=BTCUSDT&side=BUY&type=STOP_LOSS_LIMIT&quantity=0.01&price=60000&stopPrice=60000"
        f"&timeInForce=GTC&timestamp={fake.server_time()}"
    )
    direct = requests.post(
        f"{fake.base_url}/api/v3/order",
        data=f"{body}&signature={sign(fake.api_secret, body)}",
        headers={"X-MBX-APIKEY": fake.api_key, "Content-Type": "application/x-www-form-urlencoded"},
        timeout=5,
    )
    assert (direct.status_code, direct.json()["code"], direct.json()["msg"]) == (
        400, -2010, "Order would trigger immediately."
    )  # fmt: skip
    app = make_app(tmp_path, fake.base_url, policy=ALLOW_ALL)
    before = len(orders_sent(fake))
    async with Client(app.server) as client:
        refused = await client.call_tool("place_order", stop_now)
        assert refused.is_error
        assert refused.structured_content["error"] == "invalid_arguments", refused.content
        assert "would trigger at once" in refused.content[0].text
        assert "use a stop_price above 65000.00" in refused.content[0].text

        precise = await client.call_tool(
            "place_order",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quote_quantity": "10.123456789"},
        )
        assert precise.is_error and precise.structured_content["error"] == "invalid_arguments"
        assert "at most 8 (quoteAssetPrecision): use 10.12345678" in precise.content[0].text

        huge = await client.call_tool(
            "place_order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quote_quantity": "1e25"}
        )  # Binance: -1100, more than 20 digits before the point
        assert huge.is_error and huge.structured_content["error"] == "invalid_arguments"
        assert huge.structured_content["field"] == "quote_quantity"
        assert "is too large: at most 20 digits before the decimal point" in huge.content[0].text

        assert len(orders_sent(fake)) == before  # none reached the exchange
        placed = await client.call_tool("place_order", {**stop_now, "stop_price": "66000", "price": "66100"})
        assert not placed.is_error, placed.content
    app.close()
    assert Decimal(fake.price("BTCUSDT")) == Decimal("65000")
