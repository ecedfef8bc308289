"""SIGTERM while an order is in flight, as a deploy does it: the client gets its order id.

The server runs as `binance-mcp --transport http` in a subprocess; the client is the SDK's own
`mcp.Client`, which has NOT listed tools, so once the result comes it asks tools/list to check the
result against the tool's schema. A draining server must answer that (and the other requests a
client needs to receive a result) while refusing any new tools/call with 503.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from tests.conftest import API_KEY, API_SECRET, write_policy
from tests.fake_binance import Delay, FakeBinance
from tests.test_cli import run_cli
from tests.test_http import GET_PRICE, INITIALIZE, LIMIT_BUY, MCP_HEADERS, connected
from tests.test_http_process import Server, serving

ALLOW_ALL = {"version": "1", "default": "allow"}


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_sigterm_with_an_order_in_flight_the_unlisted_client_still_gets_its_order_id(
    tmp_path: Path, mode: str
) -> None:
    state = str(tmp_path / "state")
    token = run_cli("tokens", "add", "alice", "--state-dir", state).stdout.splitlines()[-1]
    policy = str(write_policy(tmp_path, ALLOW_ALL))
    with (
        FakeBinance(api_key=API_KEY, api_secret=API_SECRET) as fake,
        serving(
            "--state-dir", state, "--base-url", fake.base_url, "--policy", policy, cwd=tmp_path
        ) as server,
    ):
        outcome = anyio.run(order_through_a_stop, server, fake, token, mode)
        assert server.process.wait(20) == 0
        [order] = fake.orders
    assert outcome["error"] is None, outcome["error"]
    assert outcome["result"]["order_id"] == order.order_id
    assert outcome["new_call_while_stopping"] == 503
    assert "shutting down" in outcome["refusal"]
    assert outcome["initialize_while_stopping"] == 200  # a client reconnecting may still learn the server
    text = "".join(server.stderr)
    assert "Traceback" not in text
    records = [
        json.loads(line) for line in run_cli("audit", "--json", "--state-dir", state).stdout.splitlines()
    ]
    assert [(r["client"], r["tool"], r["outcome"]) for r in records] == [("alice", "place_order", "ok")]


async def order_through_a_stop(server: Server, fake: FakeBinance, token: str, mode: str) -> dict[str, Any]:
    outcome: dict[str, Any] = {"error": None}
    fake.inject(Delay(2), method="POST", path="/api/v3/order")
    async with connected(server.url, token, mode=mode) as client, anyio.create_task_group() as group:

        async def place() -> None:
            try:
                result = await client.call_tool("place_order", LIMIT_BUY)
                outcome["result"] = result.structured_content
            except Exception as exc:  # the defect: "-32603 the server is shutting down"
                outcome["error"] = f"{type(exc).__name__}: {exc}"

        group.start_soon(place)
        with anyio.fail_after(10):
            while fake.faults.pending():  # until the exchange holds the order
                await anyio.sleep(0.01)
        server.process.send_signal(signal.SIGTERM)
        await anyio.sleep(0.3)
        headers = MCP_HEADERS | {"Authorization": f"Bearer {token}"}
        async with httpx2.AsyncClient(headers=headers, timeout=10) as http:
            opened = await http.post(server.url, json=INITIALIZE)
            outcome["initialize_while_stopping"] = opened.status_code
            session = {"mcp-session-id": opened.headers.get("mcp-session-id", "")}
            refused = await http.post(server.url, json=GET_PRICE, headers=session)
            outcome["new_call_while_stopping"] = refused.status_code
            outcome["refusal"] = refused.text
    return outcome
