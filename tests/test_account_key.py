"""The account is the key: state follows the network and the API key, never the REST root's spelling.

`normalise_rest_root` gives one spelling per root (case, default port, trailing dot, IDN,
numeric IPv4 forms); `AccountKey` is network + a one-way key fingerprint. The issue's
reproduction — five restarts of the server on five spellings of one exchange's root, each handed a
fresh 100 USDT daily budget — runs through `mcp.Client` at the end.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from mcp import Client

from binance_mcp.account import AccountKey, key_fingerprint, normalise_rest_root
from tests.conftest import API_KEY, make_app
from tests.fake_binance import FakeBinance

pytestmark = pytest.mark.anyio


def spellings(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}",
        f"HTTP://127.0.0.1:{port}/",
        f"http://0x7f.1:{port}",
        f"http://127.1:{port}",
        f"http://2130706433:{port}",
        f"http://127.0.0.1.:{port}",
    ]


def test_every_spelling_of_one_root_normalises_to_one() -> None:
    assert {normalise_rest_root(url) for url in spellings(9000)} == {"http://127.0.0.1:9000"}
    assert normalise_rest_root("HTTPS://API.Binance.COM.:443/") == "https://api.binance.com"
    assert normalise_rest_root("http://[0:0::1]:80/") == "http://[::1]"
    assert normalise_rest_root("https://bücher.example") == "https://xn--bcher-kva.example"
    assert normalise_rest_root("https://api.binance.com:8443") == "https://api.binance.com:8443"
    with pytest.raises(ValueError, match="not an http"):
        normalise_rest_root("ftp://example.com")


def test_the_account_key_is_network_and_a_one_way_fingerprint() -> None:
    key = AccountKey.of("testnet", API_KEY)
    expected = hashlib.sha256(f"binance-mcp:{API_KEY}".encode()).hexdigest()[:16]
    assert str(key) == f"testnet:{expected}" and API_KEY not in str(key)
    assert AccountKey.parse(str(key)) == key
    assert AccountKey.of("mainnet", API_KEY) != key and AccountKey.of("testnet", "other") != key
    assert key_fingerprint(None) == key_fingerprint("") == "anonymous"


async def test_restarting_on_other_spellings_of_the_root_does_not_refill_the_budget(
    tmp_path: Path, fake: FakeBinance
) -> None:
    """The issue's reproduction: 100 USDT a day, a 97.5 USDT order per restart, five spellings."""
    policy = {"version": "1", "default": "allow", "budgets": {"daily_notional": {"USDT": "100"}}}
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.0015"}
    placed = 0
    for url in spellings(fake.port)[:5]:
        app = make_app(tmp_path, url, policy=policy)
        try:
            async with Client(app.server) as client:
                result = await client.call_tool("place_order", order)
            placed += not result.is_error
        finally:
            app.close()
    assert placed == 1
