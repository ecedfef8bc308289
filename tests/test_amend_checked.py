"""amend_order is checked like an order before it leaves (issue #15), through `mcp.Client`.

Binance answers a bad amend with -2038 or -1013 after the request left; an amend under the minimum
notional went through. Now the order is looked up first and the amend refused locally, with the
fix: a decrease only, the step size, the minimum notional at the order's price, the symbol's amend
limit. Named by order_id alone, the order keeps its client order id.
"""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from tests.conftest import ALLOW_ALL
from tests.fake_binance import FakeBinance

pytestmark = pytest.mark.anyio

RESTING = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "60000",
           "client_order_id": "rest-1"}  # fmt: skip


def amends(fake: FakeBinance) -> list[Any]:
    return [r for r in fake.requests if r.method == "PUT"]


async def place_and_amend(build: Any, fake: FakeBinance, **amend: Any) -> Any:
    app = build(ALLOW_ALL)
    async with Client(app.server) as client:
        placed = await client.call_tool("place_order", RESTING)
        assert not placed.is_error, placed.content[0].text
        return await client.call_tool(
            "amend_order", {"symbol": "BTCUSDT", "client_order_id": "rest-1"} | amend
        )


async def test_an_amend_under_the_minimum_notional_is_refused_locally(build: Any, fake: FakeBinance) -> None:
    result = await place_and_amend(build, fake, new_quantity="0.00001")
    assert result.structured_content["error"] == "invalid_arguments", result.content[0].text
    assert result.structured_content["field"] == "new_quantity"
    reason = result.structured_content["reason"]
    assert "notional 0.6 USDT (price × new_quantity) is below the minimum 5.00 USDT" in reason
    assert "buy at least 0.00009 at 60000.00" in reason and reason.endswith("nothing was sent")
    assert amends(fake) == []


async def test_an_increase_is_refused_locally(build: Any, fake: FakeBinance) -> None:
    result = await place_and_amend(build, fake, new_quantity="0.002")
    assert result.structured_content["error"] == "invalid_arguments", result.content[0].text
    assert "new_quantity 0.002 is more than its quantity 0.001" in result.structured_content["reason"]
    assert "cancel it and place a new one" in result.structured_content["reason"]
    assert amends(fake) == []


async def test_a_quantity_off_the_step_is_refused_locally(build: Any, fake: FakeBinance) -> None:
    result = await place_and_amend(build, fake, new_quantity="0.000505")
    assert result.structured_content["error"] == "invalid_arguments", result.content[0].text
    reason = result.structured_content["reason"]
    assert "step size 0.00001" in reason and "0.00050 or 0.00051" in reason
    assert amends(fake) == []


async def test_the_symbols_amend_limit_is_refused_locally(build: Any, fake: FakeBinance) -> None:
    for entry in fake.exchange.symbols["BTCUSDT"]["filters"]:
        if entry["filterType"] == "MAX_NUM_ORDER_AMENDS":
            entry["maxNumOrderAmends"] = 2
    app = build(ALLOW_ALL)
    async with Client(app.server) as client:
        placed = await client.call_tool("place_order", RESTING)
        assert not placed.is_error, placed.content[0].text
        for quantity in ("0.0009", "0.0008"):
            done = await client.call_tool(
                "amend_order", {"symbol": "BTCUSDT", "client_order_id": "rest-1", "new_quantity": quantity}
            )
            assert not done.is_error, done.content[0].text
        third = await client.call_tool(
            "amend_order", {"symbol": "BTCUSDT", "client_order_id": "rest-1", "new_quantity": "0.0007"}
        )
    assert third.structured_content["error"] == "invalid_arguments", third.content[0].text
    assert (
        "was amended 2 times, the most BTCUSDT allows (MAX_NUM_ORDER_AMENDS 2)"
        in (third.structured_content["reason"])
    )
    assert len(amends(fake)) == 2


async def test_an_amend_by_order_id_keeps_the_client_id(build: Any, fake: FakeBinance) -> None:
    app = build(ALLOW_ALL)
    async with Client(app.server) as client:
        placed = await client.call_tool("place_order", RESTING)
        order_id = placed.structured_content["order_id"]
        amended = await client.call_tool(
            "amend_order", {"symbol": "BTCUSDT", "order_id": order_id, "new_quantity": "0.0005"}
        )
        assert not amended.is_error, amended.content[0].text
        found = await client.call_tool("get_order", {"symbol": "BTCUSDT", "client_order_id": "rest-1"})
    assert amended.structured_content["client_order_id"] == "rest-1"
    assert not found.is_error, found.content[0].text
    assert found.structured_content["order_id"] == order_id
    [put] = amends(fake)
    assert put.params["newClientOrderId"] == "rest-1"


async def test_a_decrease_shrinks_what_the_budget_holds_for_the_order(build: Any, fake: FakeBinance) -> None:
    """An open LIMIT BUY 0.01 @ 60000 holds 600 of the budget; amended down to 0.004, it holds 240."""
    app = build(ALLOW_ALL | {"budgets": {"daily_notional": {"USDT": "1000"}}})
    resting = RESTING | {"quantity": "0.01", "client_order_id": "rest-2"}
    async with Client(app.server) as client:
        assert not (await client.call_tool("place_order", resting)).is_error
        before = (await client.call_tool("get_limits", {})).structured_content["budgets"][0]
        amended = await client.call_tool(
            "amend_order", {"symbol": "BTCUSDT", "client_order_id": "rest-2", "new_quantity": "0.004"}
        )
        assert not amended.is_error, amended.content[0].text
        after = (await client.call_tool("get_limits", {})).structured_content["budgets"][0]
    assert (before["held"], before["left"]) == ("600", "400")
    assert (after["held"], after["left"]) == ("240", "760")
