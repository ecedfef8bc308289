"""After a lost answer, an order (or a list) found by its client id counts as the one sent only if it is.

Binance lets a client order id be used again once its order is done, and an id may have been
used outside this server (another program on the same key, a list placed by hand). So an order
found under the id of an order whose answer was lost is "recovered" only when it matches what was
sent field by field and leg by leg, belongs where it should (a single order to no list) and was
created no earlier than the send; otherwise the agent is told the outcome is unknown, and nothing
is sent again. Issue #15 (tracker 17) item 4(b): a place_order reusing a filled leg's id after a
lost answer was "Recovered … FILLED" as that old leg, though nothing had been placed.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from binance_mcp.config import Credentials
from binance_mcp.exchange.client import ExchangeClient
from binance_mcp.exchange.order_kinds import LIST
from binance_mcp.server import App
from binance_mcp.tools import SPECS
from tests.conftest import API_KEY, API_SECRET, make_app
from tests.fake_binance import ExecuteThenFail, FakeBinance, Hold, Status

pytestmark = pytest.mark.anyio

EXEC_UNKNOWN = (
    "Timeout waiting for response from backend server. Send status unknown; execution status unknown."
)
NOT_EXECUTED = Status(503, -1007, EXEC_UNKNOWN)  # Binance's "may have executed", and here it did not
TWO_MINUTES_MS = 120_000
OCO = {"symbol": "BTCUSDT", "type": "OCO", "legs": [
    {"side": "SELL", "type": "LIMIT_MAKER", "quantity": "0.001", "price": "66000"},
    {"side": "SELL", "type": "STOP_LOSS", "quantity": "0.001", "stop_price": "64000"},
]}  # fmt: skip


@pytest.fixture
def app(tmp_path: Path, fake: FakeBinance) -> App:
    built = make_app(tmp_path, fake.base_url)
    built.exchange.retry = replace(built.exchange.retry, lookups=2, first_lookup_wait=0.01, first_wait=0.01)
    yield built
    built.close()


@pytest.fixture
async def client(app: App) -> AsyncIterator[Client]:
    async with Client(app.server) as connected:
        yield connected


@pytest.fixture
def elsewhere(fake: FakeBinance) -> ExchangeClient:
    """Another program trading on the same key, straight on the exchange (this server never saw it)."""
    return ExchangeClient(fake.base_url, Credentials(API_KEY, API_SECRET))


def later(app: App, fake: FakeBinance) -> None:
    """Two minutes pass (on Binance's clock and, as a resync would make it, on the server's)."""
    fake.server_time_offset_ms += TWO_MINUTES_MS
    app.exchange.timestamp_offset_ms += TWO_MINUTES_MS


def unknown(result: Any) -> str:
    assert result.is_error, result.content[0].text
    assert result.structured_content["error"] == "order_status_unknown", result.content[0].text
    assert "not sent again" in result.structured_content["reason"]
    return str(result.structured_content["reason"])


async def test_a_filled_leg_of_an_earlier_list_is_not_the_order_whose_answer_was_lost(
    client: Client, app: App, fake: FakeBinance, elsewhere: ExchangeClient
) -> None:
    await elsewhere.place_order_list(
        "OCO",
        {"symbol": "BTCUSDT", "side": "SELL", "quantity": "0.001", "aboveType": "LIMIT_MAKER",
         "abovePrice": "66000", "aboveClientOrderId": "K2", "belowType": "STOP_LOSS",
         "belowStopPrice": "64000", "listClientOrderId": "bracket-1"},
    )  # fmt: skip
    fake.set_price("BTCUSDT", "66100")  # the take-profit K2 fills, the stop-loss expires
    fake.set_price("BTCUSDT", "65000")
    assert sorted((o.client_order_id == "K2", o.status) for o in fake.orders) == [
        (False, "EXPIRED"),
        (True, "FILLED"),
    ]
    fake.inject(NOT_EXECUTED, method="POST", path="/api/v3/order")
    result = await client.call_tool(
        "place_order",
        {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT_MAKER", "quantity": "0.001",
         "price": "66000", "client_order_id": "K2"},
    )  # fmt: skip
    reason = unknown(result)
    assert "exists but is not this one (it is an order of order list" in reason
    assert len(fake.orders) == 2  # nothing was placed, and the agent is not told otherwise
    record = app.audit.query(tool="place_order")[-1]
    assert (record.outcome, record.order_id) == ("unknown", None)


async def test_an_older_order_with_the_same_id_and_fields_is_not_the_order_whose_answer_was_lost(
    client: Client, app: App, fake: FakeBinance, elsewhere: ExchangeClient
) -> None:
    buy = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}
    await elsewhere.place_order(buy | {"newClientOrderId": "old-1"})
    later(app, fake)
    fake.inject(NOT_EXECUTED, method="POST", path="/api/v3/order")
    result = await client.call_tool("place_order", buy | {"client_order_id": "old-1"})
    assert "before this one was sent" in unknown(result)
    assert len(fake.orders) == 1


async def test_an_older_list_with_the_same_ids_and_legs_is_not_the_list_whose_answer_was_lost(
    client: Client, app: App, fake: FakeBinance, elsewhere: ExchangeClient
) -> None:
    spec = SPECS["place_order_list"]
    arguments = OCO | {"list_client_order_id": "old-list"}
    assert spec.prepare is not None and spec.order is not None
    await LIST.place(elsewhere, spec.order(spec.prepare(spec.input_model.model_validate(arguments))))
    later(app, fake)
    fake.inject(NOT_EXECUTED, method="POST", path="/api/v3/orderList/oco")
    result = await client.call_tool("place_order_list", arguments)
    assert "above order: it was created at" in unknown(result)
    assert len(fake.order_lists) == 1


@pytest.mark.parametrize(
    ("tool", "arguments", "path"),
    [
        ("place_order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}, "/api/v3/order"),
        ("place_order_list", OCO, "/api/v3/orderList/oco"),
    ],
    ids=["order", "list"],
)  # fmt: skip
async def test_the_order_that_was_sent_is_still_recovered_on_a_clock_far_from_ours(
    client: Client, app: App, fake: FakeBinance, tool: str, arguments: dict[str, Any], path: str
) -> None:
    later(app, fake)  # "created before the send" is judged on Binance's clock, not this machine's
    fake.inject(ExecuteThenFail(503), method="POST", path=path)
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content[0].text
    assert result.structured_content["recovered"] is True
    assert len([r for r in fake.requests if r.method == "POST" and r.path == path]) == 1


async def test_an_order_resent_after_a_clock_resync_and_then_lost_is_still_recovered(
    client: Client, app: App, fake: FakeBinance
) -> None:
    """Our clock 3 s ahead of Binance's: the order comes back -1021, the clock is resynced (set back
    3 s) and the order sent once more, and that answer is lost. "Created no earlier than the send"
    is judged on the clock the resent order carried, so it is recovered, not called an old order."""
    hold = Hold(threading.Event(), threading.Event())
    fake.inject(hold, method="POST", path="/api/v3/order")  # the first try, held until the clocks part
    fake.inject(ExecuteThenFail(503), method="POST", path="/api/v3/order")
    buy = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}
    answers: list[Any] = []

    async def place() -> None:
        answers.append(await client.call_tool("place_order", buy))

    async with anyio.create_task_group() as group:
        group.start_soon(place)
        for _ in range(3000):  # the signed reads before it saw one clock; the order arrives
            if hold.arrived.is_set():
                break
            await anyio.sleep(0.01)
        fake.server_time_offset_ms = -3_000  # now ours is 3 s ahead of Binance's
        hold.released.set()
    (result,) = answers
    assert not result.is_error, result.content[0].text
    assert result.structured_content["recovered"] is True
    posts = [r for r in fake.requests if r.method == "POST" and r.path == "/api/v3/order"]
    assert [r.response["code"] for r in posts] == [-1021, -1007]  # resent once after the resync; lost
    assert len(fake.orders) == 1 and posts[1].executed_response["status"] == "FILLED"
