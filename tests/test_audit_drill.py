"""An incident drill (issue #21's test): 50 varied calls by two HTTP agents and an operator, then
each question an incident asks answered with one `binance-mcp audit` command, through the entry
point. The answers are checked against what the test exchange actually received."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fake_binance import FakeBinance
from tests.test_cli import run_cli
from tests.test_http import connected, running

pytestmark = pytest.mark.anyio

POLICY = {
    "version": "1",
    "default": "allow",
    "rules": {
        "cancel_all_orders": {"action": "deny", "reason": "not for agents"},
        "place_order": {
            "action": "allow",
            "approve_above_notional": "1000",
            "constraints": {"max_notional": "5000"},
        },
    },
}


def buy(price: str, quantity: str = "0.001", **more: str) -> dict[str, Any]:
    return {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": quantity, "price": price, **more}


def audit(state: Path, *args: str) -> list[dict[str, Any]]:
    done = run_cli("audit", "--state-dir", str(state), "--json", *args)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


async def test_fifty_calls_then_each_question_in_one_command(tmp_path: Path, fake: FakeBinance) -> None:
    async with running(tmp_path, fake, policy=POLICY, agents=("alpha", "beta")) as server:
        state = server.app.state_dir
        async with (
            connected(server.url, server.tokens["alpha"]) as alpha,
            connected(server.url, server.tokens["beta"]) as beta,
        ):
            for n in range(20):  # reads
                await (alpha if n % 2 else beta).call_tool("get_price", {"symbol": "BTCUSDT"})
            for n in range(10):  # small orders, two with ids of their own
                ids = {"client_order_id": f"alpha-{n}"} if n < 2 else {}
                await alpha.call_tool("place_order", buy(str(30000 + n), **ids))
            for _ in range(5):
                await beta.call_tool("cancel_all_orders", {"symbol": "BTCUSDT"})  # denied
            for _ in range(5):
                await beta.call_tool("place_order", buy("30000", quantity="1"))  # over max_notional
            asked = await beta.call_tool("place_order", buy("30000", quantity="0.04"))  # 1200: a human
            approval_id = asked.structured_content["approval_id"]
            approved = run_cli("approvals", "--state-dir", str(state), "approve", approval_id)
            assert approved.returncode == 0, approved.stderr
            placed = await beta.call_tool("place_order", buy("30000", quantity="0.04"))
            assert not placed.is_error, placed.content[0].text
            for _ in range(7):
                await alpha.call_tool("get_open_orders", {"symbol": "BTCUSDT"})
            await alpha.call_tool("cancel_order", {"symbol": "BTCUSDT", "client_order_id": "alpha-1"})
        server.app.guard.audit  # noqa: B018 - every record written
    calls = audit(state)
    assert len(calls) == 50

    # Who did what, and was it proven?
    assert {(c["client"], c["identity"]) for c in calls} == {("alpha", "token"), ("beta", "token")}
    # What did beta try that was refused, and why?
    refused = audit(state, "--client", "beta", "--outcome", "refused")
    assert {c["decision"] for c in refused} == {"denied", "approval_required"}
    assert len([c for c in refused if c["decision"] == "denied"]) == 10
    # Which orders did a human approve, who, and what became of them?
    operator = approved.stdout.split(") as ")[1].split(": ")[0]
    (order,) = audit(state, "--decision", "approved", "--approved-by", operator)
    assert order["approved_via"] == "cli" and order["result"]["status"] == "NEW"
    # Every call about one order, by its exchange id and by its client id
    assert [c["tool"] for c in audit(state, "--client-order-id", "alpha-1")] == [
        "place_order",
        "cancel_order",
    ]
    by_id = audit(state, "--order-id", str(order["order_id"]))
    assert [c["id"] for c in by_id] == [order["id"]]
    # One order from request through approval to its result
    followed = run_cli("audit", "--state-dir", str(state), "follow", str(order["id"]))
    assert followed.returncode == 0 and f"approved by {operator} via cli" in followed.stdout
    assert "result: status NEW" in followed.stdout and f"order id {order['order_id']}" in followed.stdout
    # Did anything reach the exchange that the log does not show as sent?
    sent = {
        c["client_order_id"] for c in audit(state, "--tool", "place_order", "--outcome", "ok,unknown,pending")
    }
    received = {
        r.params.get("newClientOrderId")
        for r in fake.requests
        if r.method == "POST" and r.path == "/api/v3/order"
    }
    assert received == sent and len(sent) == 11
    # … and every request the exchange received, look-ups and market data included, has a record
    requests = audit(state, "--decision", "exchange")
    assert len(requests) == len(fake.requests), (len(requests), len(fake.requests))
    assert {r["tool"] for r in requests} >= {"create_order", "get_symbol_ticker", "cancel_order"}
    assert all(r["client"] in ("alpha", "beta") for r in requests)
    # The human decisions, as events of the log
    events = audit(state, "--decision", "event")
    assert [e["tool"] for e in events if e["tool"].startswith("approval_")] == ["approval_approved"]
    assert events[-1]["arguments"]["approval_id"] == approval_id
    # A window of time, as CSV for a spreadsheet
    csv_out = run_cli("audit", "--state-dir", str(state), "--csv", "--since", "1h", "--until", "2099-01-01")
    assert csv_out.returncode == 0 and len(csv_out.stdout.splitlines()) == 51
    # And the log is whole
    verified = run_cli("audit", "--state-dir", str(state), "verify")
    assert verified.returncode == 0, verified.stdout
