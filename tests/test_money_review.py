"""Review of the money model (issue #15) through `mcp.Client` and the test exchange: what a second
look found an agent could still do beyond what the policy allows."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from mcp import Client

from tests.conftest import ALLOW_ALL
from tests.fake_binance import FakeBinance

pytestmark = pytest.mark.anyio


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert result.structured_content is not None, result.content[0].text
    return result.structured_content


async def test_an_amend_that_decreases_shrinks_what_the_budget_holds(build: Any, fake: FakeBinance) -> None:
    """Issue #15 item 5: the budget held shrinks after a decrease (a LIMIT BUY 0.02 @ 64000 holds
    1280; reduced to 0.005 it can trade at most 320)."""
    app = build(ALLOW_ALL | {"budgets": {"daily_notional": {"USDT": "5000"}}})
    resting = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.02", "price": "64000"}
    async with Client(app.server) as client:
        placed = await call(client, "place_order", resting)
        held = (await call(client, "get_limits", {}))["budgets"][0]
        amended = await call(
            client,
            "amend_order",
            {"symbol": "BTCUSDT", "order_id": placed["order_id"], "new_quantity": "0.005"},
        )
        after = (await call(client, "get_limits", {}))["budgets"][0]
    assert "error" not in amended, amended
    assert (held["traded"], held["held"], held["left"]) == ("0", "1280", "3720")
    assert (after["traded"], after["held"], after["left"]) == ("0", "320", "4680")


async def test_a_market_order_deeper_than_the_book_read_stays_within_max_notional(
    build: Any, fake: FakeBinance
) -> None:
    """A MARKET BUY 10 BTC walks about 650 levels of the test exchange's book; the guard read 100
    and priced the rest at the deepest of them: valued ≈662517 USDT (+1 %), it let through under a
    665000 max_notional and paid ≈671770. The book is read deep enough for the quantity."""
    fake.set_balance("USDT", "10000000")
    app = build(
        ALLOW_ALL | {"rules": {"place_order": {"action": "allow", "constraints": {"max_notional": "665000"}}}}
    )
    buy = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "10"}
    small = buy | {"quantity": "5"}
    async with Client(app.server) as client:
        result = await call(client, "place_order", buy)
        placed = await call(client, "place_order", small)
    assert result.get("error") == "policy_denied" and result["rule"].endswith("max_notional"), result
    assert Decimal(result["value"]) >= Decimal("671769")
    assert "error" not in placed, placed  # a quantity the first levels hold is valued from them as before
    assert Decimal(placed["cumulative_quote_quantity"]) <= Decimal("665000")


async def test_a_large_stop_market_order_stays_within_max_notional_once_triggered(
    build: Any, fake: FakeBinance
) -> None:
    """A STOP_LOSS BUY 10 BTC (a MARKET order once triggered) was valued at its stop × 1.01, as if
    10 BTC filled at one price; triggered, it walks the book like any MARKET order and paid more
    than max_notional. Its value takes the book's slippage for the quantity too."""
    fake.set_balance("USDT", "10000000")
    app = build(
        ALLOW_ALL | {"rules": {"place_order": {"action": "allow", "constraints": {"max_notional": "670000"}}}}
    )
    stop = {"symbol": "BTCUSDT", "side": "BUY", "type": "STOP_LOSS", "quantity": "10", "stop_price": "66000"}
    async with Client(app.server) as client:
        result = await call(client, "place_order", stop)
    if "error" not in result:
        fake.set_price("BTCUSDT", "66000")
        order = next(o for o in fake.orders if o.type == "STOP_LOSS")
        assert order.status == "FILLED"
        assert order.cummulative_quote_qty <= Decimal("670000"), order.cummulative_quote_qty
    assert result.get("error") == "policy_denied" and result["rule"].endswith("max_notional"), result


async def test_a_preview_refused_for_its_size_still_says_the_largest_that_fits(
    build: Any, fake: FakeBinance
) -> None:
    """An agent previews the order it wants; refused by max_notional (or what is left of today's
    budget), the preview gave no `largest_without_human`, exactly when the agent needs it. Given,
    that size is placed without a human on the first try."""
    rule = {"action": "allow", "approve_above_notional": "1000", "constraints": {"max_notional": "5000"}}
    policy = ALLOW_ALL | {"rules": {"place_order": rule}, "budgets": {"daily_notional": {"USDT": "1500"}}}
    app = build(policy)
    wanted = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.5", "price": "64000"}
    async with Client(app.server) as client:
        first = await call(client, "get_order_preview", {"tool": "place_order", "arguments": wanted})
        sized = wanted | {"quantity": first["largest_without_human"]["quantity"]}
        placed = await call(client, "place_order", sized)
        second = await call(client, "get_order_preview", {"tool": "place_order", "arguments": wanted})
        rest = wanted | {"quantity": second["largest_without_human"]["quantity"]}
        more = await call(client, "place_order", rest)
    assert first["decision"] == "refused" and first["refusal"]["rule"].endswith("max_notional"), first
    assert first["largest_without_human"]["quantity"] == "0.01562"  # 999.68 at 64000
    assert "error" not in placed, placed
    assert second["decision"] == "refused", second
    assert second["largest_without_human"]["quantity"] == "0.00781"  # 499.84 of the 500.32 left
    assert "error" not in more, more


async def test_a_list_cancel_approved_by_client_id_never_cancels_another_list_with_that_id(
    build: Any, fake: FakeBinance
) -> None:
    """As a cancel of K2 (issue #15 item 3), for order lists: a human approves cancelling list L1;
    that list fills; another client places a new protective OCO reusing L1; the same approved call
    then cancelled the new list, which the human never saw."""
    from binance.client import Client as BinanceClient

    from binance_mcp.stores.approvals import open_approval_store

    app = build(ALLOW_ALL | {"rules": {"cancel_order_list": {"action": "require_approval"}}})
    oco = {"symbol": "BTCUSDT", "type": "OCO", "list_client_order_id": "L1", "legs": [
        {"side": "SELL", "type": "LIMIT_MAKER", "quantity": "0.0001", "price": "66000"},
        {"side": "SELL", "type": "STOP_LOSS_LIMIT", "quantity": "0.0001", "price": "60000", "stop_price": "60500"},
    ]}  # fmt: skip
    cancel = {"symbol": "BTCUSDT", "list_client_order_id": "L1"}
    async with Client(app.server) as client:
        first = await call(client, "place_order_list", oco)
        asked = await call(client, "cancel_order_list", cancel)
        assert asked["error"] == "approval_required", asked
        with open_approval_store(app.state_dir) as approvals:
            approvals.approve(asked["approval_id"])
        fake.set_price("BTCUSDT", "66000")  # the approved list's take-profit fills
        other = BinanceClient(fake.api_key, fake.api_secret, ping=False)
        other.API_URL = fake.base_url + "/api"
        reused = other.order_oco_sell(
            symbol="BTCUSDT", quantity="0.0001", listClientOrderId="L1",
            aboveType="LIMIT_MAKER", abovePrice="70000",
            belowType="STOP_LOSS_LIMIT", belowPrice="60000", belowStopPrice="60500", belowTimeInForce="GTC",
        )  # fmt: skip
        again = await call(client, "cancel_order_list", cancel)
    assert reused["orderListId"] != first["order_list_id"]
    assert again.get("error") == "approval_required", again  # a new question, about the new list
    assert f"order list id {reused['orderListId']}" in again["reason"], again["reason"]
    assert {o.status for o in fake.orders if o.order_list_id == reused["orderListId"]} == {"NEW"}


async def test_a_capped_market_order_is_checked_as_the_limit_ioc_it_is_sent_as(
    build: Any, fake: FakeBinance
) -> None:
    """`cap_pct` turns a MARKET order into a LIMIT IOC at the capped price; the filters judged the
    MARKET order, so a SELL capped 100 % (price 0) or a BUY capped 1000 % (beyond
    PERCENT_PRICE_BY_SIDE) went out and came back -1013 / -1100. Refused before sending now."""
    app = build(ALLOW_ALL)
    market = {"symbol": "BTCUSDT", "type": "MARKET", "quantity": "0.01"}
    async with Client(app.server) as client:
        sell = await call(client, "place_order", market | {"side": "SELL", "cap_pct": "100"})
        buy = await call(client, "place_order", market | {"side": "BUY", "cap_pct": "1000"})
    assert (sell["error"], sell["field"]) == ("invalid_arguments", "cap_pct"), sell
    assert "cap_pct 100 sends it as a LIMIT IOC" in sell["reason"]
    assert (buy["error"], buy["field"]) == ("invalid_arguments", "cap_pct"), buy
    assert "PERCENT_PRICE_BY_SIDE" in buy["reason"]
    assert [r for r in fake.requests if r.method == "POST"] == []
