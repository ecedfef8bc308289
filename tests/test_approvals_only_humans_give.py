"""Approvals only a human gives (issue #8): over HTTP the MCP client is the agent's own code, so
by default it may not answer its own approval question (the policy must say so for an agent); and
a question cannot be misread (a cancel says which kind of id it was given and shows the order).

Reproduction: an HTTP agent whose elicitation callback always answers `accept {"approve": true}`,
under `approve_above_notional: "80"`, asked for a ≈97.5 USDT BUY. Before, it was placed and the
audit said `approved_via=elicitation`: nobody saw it.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import ElicitResult

from tests.fake_binance import FakeBinance
from tests.test_http import http_client, running

pytestmark = pytest.mark.anyio

BUY = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.0015"}


def policy(**approvals: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "version": "1",
        "default": "allow",
        "rules": {"place_order": {"action": "allow", "approve_above_notional": "80"}},
    }
    if approvals:
        found["agents"] = {"alice": {"approvals": approvals}}
    return found


@asynccontextmanager
async def self_approving(url: str, token: str, asked: list[str], mode: str):  # type: ignore[no-untyped-def]
    async def always_yes(context: Any, params: Any) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content={"approve": True})

    async with (
        http_client(token) as http,
        Client(
            streamable_http_client(url, http_client=http), mode=mode, elicitation_callback=always_yes
        ) as client,
    ):
        yield client


def orders(fake: FakeBinance) -> list[Any]:
    return [r for r in fake.requests if r.method == "POST" and r.path == "/api/v3/order"]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_an_http_agent_cannot_approve_its_own_order_by_default(
    tmp_path: Path, fake: FakeBinance, mode: str
) -> None:
    fake.set_price("BTCUSDT", "65000.00")
    asked: list[str] = []
    async with (
        running(tmp_path, fake, policy=policy(), agents=("alice",)) as server,
        self_approving(server.url, server.tokens["alice"], asked, mode) as client,
    ):
        result = await client.call_tool("place_order", BUY)
        records = server.audit("place_order")
    assert result.structured_content["error"] == "approval_required", result.content[0].text
    assert result.structured_content["approval_id"]
    # the command works as written: it names the state dir this server uses
    assert (
        f"binance-mcp approvals --state-dir {server.app.state_dir} approve apr-"
        in result.structured_content["reason"]
    )
    assert asked == []  # the agent's own client was never asked
    assert orders(fake) == []
    assert [(r.decision, r.approved_via) for r in records] == [("approval_required", None)]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_policy_may_let_an_agents_client_ask_its_user(
    tmp_path: Path, fake: FakeBinance, mode: str
) -> None:
    fake.set_price("BTCUSDT", "65000.00")
    asked: list[str] = []
    async with (
        running(tmp_path, fake, policy=policy(via=["elicitation"]), agents=("alice",)) as server,
        self_approving(server.url, server.tokens["alice"], asked, mode) as client,
    ):
        result = await client.call_tool("place_order", BUY)
        records = server.audit("place_order")
    assert not result.is_error, result.content[0].text
    assert len(asked) == 1 and "≈98.48 USDT" in asked[0]  # 0.0015 × 65000, + the 1 % market allowance
    assert len(orders(fake)) == 1
    assert records[-1].approved_via == "elicitation"


async def test_a_cancel_question_says_which_id_it_was_given_and_shows_the_order(
    build: Any, fake: FakeBinance
) -> None:
    """Issue #8: order A has order id N; order B's client order id is the text "N". Cancelling by
    client order id "N" must ask about B, recognisably, not read word for word like a cancel of A."""
    from tests.test_crash_recovery import direct_binance
    from tests.test_pipeline import asking

    fake.set_price("BTCUSDT", "65000.00")
    binance = direct_binance(fake)
    first = binance.create_order(
        symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="60000"
    )
    binance.create_order(
        symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.02", price="70000",
        newClientOrderId=str(first["orderId"]),
    )  # fmt: skip
    app = build(
        {"version": "1", "default": "allow", "rules": {"cancel_order": {"action": "require_approval"}}}
    )
    asked: list[str] = []
    async with Client(app.server, elicitation_callback=asking(asked)) as client:
        by_text = await client.call_tool(
            "cancel_order", {"symbol": "BTCUSDT", "client_order_id": str(first["orderId"])}
        )
        by_id = await client.call_tool("cancel_order", {"symbol": "BTCUSDT", "order_id": first["orderId"]})
    assert not by_text.is_error and not by_id.is_error
    assert asked[0] != asked[1]
    assert "SELL 0.02 BTCUSDT LIMIT at 70000 (status NEW" in asked[0]
    assert f'given as client order id "{first["orderId"]}"' in asked[0]
    assert (
        "BUY 0.01 BTCUSDT LIMIT at 60000" in asked[1] and f"given as order id {first['orderId']}" in asked[1]
    )
