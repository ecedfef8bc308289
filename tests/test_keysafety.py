"""Key safety: keys that can withdraw are refused on mainnet; testnet and demo ask nothing."""

from __future__ import annotations

from typing import Any

import pytest

from binance_mcp.config import Credentials
from binance_mcp.exchange.client import ExchangeClient
from binance_mcp.exchange.errors import ExchangeFailure
from binance_mcp.exchange.retry import RetryPolicy
from binance_mcp.keysafety import WITHDRAWAL_KEYS_REFUSED, withdrawal_problem, withdrawal_refusal
from tests.conftest import API_KEY, API_SECRET
from tests.fake_binance import FakeBinance

pytestmark = pytest.mark.anyio

RESTRICTIONS = "/sapi/v1/account/apiRestrictions"


def client(fake: FakeBinance, *, keys: bool = True) -> ExchangeClient:
    return ExchangeClient(fake.base_url, Credentials(API_KEY, API_SECRET) if keys else None)


def asked(fake: FakeBinance) -> int:
    return sum(1 for request in fake.requests if request.path == RESTRICTIONS)


async def test_withdrawal_enabled_keys_are_refused_on_mainnet(fake: FakeBinance) -> None:
    fake.withdraw_enabled = True
    refusal = await withdrawal_refusal(client(fake), "mainnet")
    assert refusal == WITHDRAWAL_KEYS_REFUSED
    assert refusal.startswith(
        "these API keys can withdraw funds; binance-mcp refuses withdrawal-enabled keys"
    )
    assert refusal.endswith("Create a key without withdrawals, or start with --allow-withdrawal-keys")
    assert asked(fake) == 1


async def test_keys_without_withdrawals_pass_on_mainnet(fake: FakeBinance) -> None:
    assert await withdrawal_refusal(client(fake), "mainnet") is None
    assert asked(fake) == 1


@pytest.mark.parametrize("network", ["testnet", "demo"])
async def test_testnet_and_demo_ask_nothing(fake: FakeBinance, network: str) -> None:
    fake.withdraw_enabled = True
    assert await withdrawal_refusal(client(fake), network) is None
    assert fake.requests == []


async def test_a_failed_check_refuses(fake: FakeBinance) -> None:
    class Broken:
        async def get_api_restrictions(self) -> dict[str, Any]:
            raise ExchangeFailure(401, -2015, "Invalid API-key, IP, or permissions for action.")

    refusal = await withdrawal_refusal(Broken(), "mainnet")
    assert refusal is not None
    assert refusal.startswith(
        "the API keys' permissions could not be checked (Binance error -2015 (HTTP 401)"
    )


async def test_an_unreachable_exchange_refuses() -> None:
    credentials = Credentials(API_KEY, API_SECRET)
    unreachable = ExchangeClient("http://127.0.0.1:9", credentials, retry=RetryPolicy(attempts=1))
    refusal = await withdrawal_refusal(unreachable, "mainnet")
    assert refusal is not None and "could not be checked" in refusal and "connection refused" in refusal


async def test_no_keys_nothing_to_refuse(fake: FakeBinance) -> None:
    assert await withdrawal_refusal(client(fake, keys=False), "mainnet") is None


def test_an_answer_that_does_not_say_fails_closed() -> None:
    assert withdrawal_problem({"enableWithdrawals": False}) is None
    assert withdrawal_problem({"enableWithdrawals": True}) == WITHDRAWAL_KEYS_REFUSED
    for unclear in ({}, {"enableWithdrawals": "false"}, {"enableWithdrawals": None}):
        problem = withdrawal_problem(unclear)
        assert problem is not None and "could not be checked" in problem
