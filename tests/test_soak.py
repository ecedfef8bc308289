"""Soak: 1,000 orders through `mcp.Client` while a third of all requests to the exchange fail.

Seeded random faults of every kind the local exchange has (error statuses, 429 and 418 with
Retry-After, -1021, delays shorter and longer than the read timeout, dropped connections, and
"execute, then fail"). At the end the exchange must hold exactly one order for each call that
reported one, no client order id twice, and no order the server does not know of; every
`order_status_unknown` names its client order id. The counts are printed (`pytest -s`).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from binance_mcp.exchange.client import Timeouts
from binance_mcp.exchange.retry import RetryPolicy
from tests.conftest import make_app
from tests.fake_binance import Delay, Drop, ExecuteThenFail, FakeBinance, Status

pytestmark = pytest.mark.anyio

CALLS = 1000
WORKERS = 4
SEED = 20260730
FAULT_RATE = 0.35
READ_TIMEOUT = 0.05
KINDS = (
    Status(500, -1000, "An unknown error occurred while processing the request."),
    Status(503, -1001, "Internal error; unable to process your request. Please try again."),
    Status(502, None),  # a proxy's HTML page
    Status(429, -1003, "Too much request weight used; current limit is 6000 request weight per 1 MINUTE.", 0),
    Status(418, -1003, "Way too much request weight used; IP banned until 1659146400000.", 0),
    Status(400, -1021, "Timestamp for this request is outside of the recvWindow."),
    Delay(0.01),  # slow, within the read timeout
    Delay(0.12),  # longer than the read timeout: the answer is lost, an order executes late
    Drop(),
    ExecuteThenFail(503),  # -1007 execution status unknown
    ExecuteThenFail(
        500, -1006, "An unexpected response was received from the message bus. Execution status unknown."
    ),
    ExecuteThenFail(),  # executed, then the connection drops
)


def order_arguments(index: int) -> dict[str, Any]:
    kind = index % 4
    common = {"symbol": "BTCUSDT", "quantity": "0.001", "client_order_id": f"soak-{index:04d}"}
    if kind == 0:
        return common | {"side": "BUY", "type": "MARKET"}
    if kind == 1:
        return common | {"side": "SELL", "type": "MARKET"}
    if kind == 2:  # crosses the book: fills at once, like a market order
        return common | {"side": "BUY", "type": "LIMIT", "price": "70000"}
    if index % 40 == 3:  # a few rest on the book (the fake's duplicate check guards those)
        return common | {"side": "BUY", "type": "LIMIT", "price": "60000"}
    return common | {"side": "SELL", "type": "LIMIT", "price": "60000"}


@pytest.fixture
def roomy_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local exchange announces limits a 1,000-order minute fits in (it enforces none by default)."""
    from tests.fake_binance import public_api

    limits = [dict(entry) for entry in public_api.RATE_LIMITS]
    for entry in limits:
        entry["limit"] = 10_000_000
    monkeypatch.setattr(public_api, "RATE_LIMITS", limits)


@pytest.mark.usefixtures("roomy_limits")
async def test_a_thousand_orders_under_a_third_of_requests_failing(tmp_path: Path, fake: FakeBinance) -> None:
    fake.set_balance("USDT", "100000000")
    fake.set_balance("BTC", "100000")
    app = make_app(tmp_path, fake.base_url)
    app.exchange.timeouts = Timeouts(connect=1.0, read=READ_TIMEOUT)
    app.exchange.retry = RetryPolicy(
        attempts=4,
        first_wait=0.002,
        longest_wait=0.02,
        total=5.0,
        lookups=3,
        first_lookup_wait=0.005,
        max_pause=1.0,
    )
    fake.random_faults(SEED, FAULT_RATE, KINDS)

    outcomes: dict[str, Any] = {}
    started = time.perf_counter()
    async with Client(app.server) as client:

        async def worker(indices: range) -> None:
            for index in indices:
                arguments = order_arguments(index)
                outcomes[arguments["client_order_id"]] = await client.call_tool("place_order", arguments)

        async with anyio.create_task_group() as group:
            for first in range(WORKERS):
                group.start_soon(worker, range(first, CALLS, WORKERS))
    elapsed = time.perf_counter() - started
    fake.clear_faults()
    await anyio.sleep(0.5)  # let the last delayed requests land (and execute) on the exchange

    placed: dict[str, int] = {}  # client order id -> order id the server reported
    recovered, unknown, refused = set(), set(), Counter()
    for client_order_id, result in outcomes.items():
        content = result.structured_content or {}
        if not result.is_error:
            assert content["client_order_id"] == client_order_id
            placed[client_order_id] = content["order_id"]
            if content.get("recovered"):
                recovered.add(client_order_id)
        elif content.get("error") == "order_status_unknown":
            assert content.get("client_order_id") == client_order_id, content
            assert client_order_id in content["reason"] and client_order_id in result.content[0].text
            unknown.add(client_order_id)
        else:
            refused[(content.get("error"), content.get("code"))] += 1  # must be on no exchange: see below

    on_exchange = Counter(order.client_order_id for order in fake.orders)
    ids_on_exchange = {order.client_order_id: order.order_id for order in fake.orders}
    duplicates = sorted(cid for cid, count in on_exchange.items() if count > 1)
    missing = sorted(cid for cid in placed if on_exchange[cid] != 1)
    wrong_id = sorted(cid for cid, order_id in placed.items() if ids_on_exchange.get(cid) != order_id)
    unknown_to_server = sorted(cid for cid in on_exchange if cid not in placed and cid not in unknown)
    unknown_placed = sum(1 for cid in unknown if cid in on_exchange)
    requests = fake.requests
    faulted = Counter(type(r.fault).__name__ for r in requests if r.fault is not None)
    fault_share = sum(faulted.values()) / len(requests)
    posts = [r for r in requests if r.method == "POST" and r.path == "/api/v3/order"]
    audited = Counter(record.outcome for record in app.audit.query(tool="place_order"))
    app.close()

    print(
        f"\nsoak: {CALLS} place_order calls, {WORKERS} concurrent clients, seed {SEED}, {elapsed:.1f} s"
        f"\n  requests to the exchange: {len(requests)}, with a fault: {sum(faulted.values())} "
        f"({fault_share:.0%}) — {dict(sorted(faulted.items()))}"
        f"\n  by fault: {dict(Counter(repr(r.fault) for r in requests if r.fault is not None).most_common())}"
        f"\n  reported placed: {len(placed)} (of which found by client order id after a lost answer: "
        f"{len(recovered)})"
        f"\n  order_status_unknown: {len(unknown)} (of which on the exchange: {unknown_placed}), "
        f"all naming their client order id"
        f"\n  refused, nothing placed: {sum(refused.values())} — {dict(refused)}"
        f"\n  orders on the exchange: {len(fake.orders)}, POSTs: {len(posts)}; duplicates: {len(duplicates)}; "
        f"reported but missing: {len(missing)}; unknown to the server: {len(unknown_to_server)}"
        f"\n  audit outcomes of place_order: {dict(audited)}"
    )
    assert len(outcomes) == CALLS
    assert fault_share >= 0.30
    assert {"Status", "Delay", "Drop", "ExecuteThenFail"} <= set(faulted)
    assert duplicates == [] and missing == [] and wrong_id == [] and unknown_to_server == []
    assert len(fake.orders) == len(placed) + unknown_placed
    assert recovered and unknown  # both paths were exercised
    assert audited["ok"] == len(placed) and audited["unknown"] == len(unknown) and audited["pending"] == 0
    assert elapsed < 100
