"""The streamable HTTP transport, used the way a client does: `mcp.Client` over real HTTP.

The server runs in-process under uvicorn on a free loopback port (the same `HttpService` that
`binance-mcp --transport http` runs), against the local Binance-compatible exchange. Every
behaviour that MCP shapes is checked on both protocol eras: 2025 (`mode="legacy"`, a session per
connection) and 2026-07-28 (the default, no sessions). Raw HTTP is used only where the answer is
plain HTTP (401, 403, 413, 429, 503, /healthz).
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from binance_mcp import __version__
from binance_mcp.http.bounds import HttpBounds
from binance_mcp.http.serve import HttpService
from binance_mcp.http.settings import prepare_http
from binance_mcp.server import App
from binance_mcp.stopping import DEPLOYED, DrainTimes
from binance_mcp.stores.tokens import TokenStore
from binance_mcp.tools.names import TOOL_NAMES
from tests.conftest import make_app
from tests.fake_binance import Delay, FakeBinance

pytestmark = pytest.mark.anyio

ERAS = ["legacy", "auto"]  # auto: the 2026-07-28 era, which this server speaks
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"},
    },
}
MCP_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
GET_PRICE = {
    "jsonrpc": "2.0",
    "id": 7,
    "method": "tools/call",
    "params": {"name": "get_price", "arguments": {"symbol": "BTCUSDT"}},
}
LIMIT_BUY = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "50000"}
QUICK_STOP = DrainTimes(linger_s=0.05)
"""A test's server stops once its clients are done, without the deployed 1.5 s wait for a straggler."""


@dataclass
class Running:
    url: str
    app: App
    service: HttpService
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return self.url.removesuffix("/mcp")

    def audit(self, tool: str | None = None) -> list[Any]:
        return self.app.audit.query(tool=tool)


@asynccontextmanager
async def running(
    tmp_path: Path,
    fake: FakeBinance,
    *,
    policy: dict[str, Any] | None = None,
    agents: tuple[str, ...] = ("alice", "bob"),
    bounds: HttpBounds | None = None,
    allow_origins: tuple[str, ...] = (),
    drain: DrainTimes = QUICK_STOP,
    rate_url: str | None = None,
    market_data_max_age: float = 0.0,
) -> AsyncIterator[Running]:
    """A server over HTTP with a token for each of `agents` (none: open to `local`). It stops as
    soon as its clients have gone (`QUICK_STOP`) unless the test asks for the deployed `drain`."""
    app = make_app(
        tmp_path, fake.base_url, policy=policy, rate_url=rate_url, market_data_max_age=market_data_max_age
    )
    tokens: dict[str, str] = {}
    if agents:
        with TokenStore.in_state_dir(app.state_dir) as store:
            tokens = {name: store.add(name) for name in agents}
    settings = prepare_http("127.0.0.1", 0, list(allow_origins), app.state_dir, bounds, drain=drain)
    service = HttpService(app, settings, on_ready=lambda: None)
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(service.run)
            with anyio.fail_after(10):
                await service.ready.wait()
            yield Running(url=service.url, app=app, service=service, tokens=tokens)
            service.stop()
    finally:
        app.close()


def http_client(token: str | None = None, **headers: str) -> httpx2.AsyncClient:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60))


@asynccontextmanager
async def connected(url: str, token: str | None = None, *, mode: str = "auto") -> AsyncIterator[Client]:
    async with (
        http_client(token) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        yield client


async def price(client: Client) -> Any:
    return await client.call_tool("get_price", {"symbol": "BTCUSDT"})


def sessions_of(records: list[Any]) -> set[str]:
    return {record.session for record in records}


# -- /healthz ------------------------------------------------------------------------------------


async def test_healthz_needs_no_token_and_says_only_status_version_and_state_backend(
    tmp_path: Path, fake: FakeBinance
) -> None:
    async with running(tmp_path, fake) as server, http_client() as http:
        answer = await http.get(server.base + "/healthz")
        assert answer.status_code == 200
        # the backend's kind, never its path, host or user name (no token needed here)
        assert answer.json() == {"status": "ok", "version": __version__, "state": "sqlite"}
        assert (await http.get(server.base + "/other")).status_code == 404


async def test_answers_do_not_wait_for_a_delayed_ack(tmp_path: Path, fake: FakeBinance) -> None:
    """An answer goes out in two writes (head, body); without TCP_NODELAY each would wait ~40 ms for
    the client's delayed ACK. Checked on the server's end of the connection, not timed."""
    async with running(tmp_path, fake) as server, http_client() as http:
        assert (await http.get(server.base + "/healthz")).status_code == 200  # the connection stays open
        ends = [c.transport.get_extra_info("socket") for c in server.service.server.server_state.connections]
        assert ends and all(end.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for end in ends)


# -- authentication ------------------------------------------------------------------------------


async def test_a_missing_or_unknown_token_is_401_with_a_bearer_challenge_and_nothing_runs(
    tmp_path: Path, fake: FakeBinance
) -> None:
    async with running(tmp_path, fake) as server:
        for token in (None, "bmcp_not-a-token", server.tokens["alice"] + "x"):
            async with http_client(token) as http:
                answer = await http.post(server.url, json=INITIALIZE, headers=MCP_HEADERS)
            assert answer.status_code == 401, token
            assert answer.headers["www-authenticate"].startswith("Bearer")
            assert "mcp-session-id" not in answer.headers
        for mode in ERAS:
            with pytest.raises(Exception):  # noqa: B017 - the SDK's error for a 401 varies by era
                async with connected(server.url, "bmcp_not-a-token", mode=mode) as client:
                    await price(client)
        assert fake.requests == [] and server.audit() == []


async def test_a_revoke_takes_effect_at_once_and_tokens_stay_required_after_the_last_one(
    tmp_path: Path, fake: FakeBinance
) -> None:
    async with running(tmp_path, fake, agents=("alice",)) as server:
        for mode in ERAS:
            token = TokenStore.in_state_dir(server.app.state_dir)
            carol = token.add("carol")
            async with connected(server.url, carol, mode=mode) as client:
                assert not (await price(client)).is_error
                calls = len(fake.requests)
                token.revoke("carol")  # another connection to the store, as `binance-mcp tokens revoke` is
                with pytest.raises(Exception):  # noqa: B017
                    await price(client)
                assert len(fake.requests) == calls
            token.close()
        with TokenStore.in_state_dir(server.app.state_dir) as store:
            store.revoke("alice")
            assert store.count() == 0
        async with http_client() as http:
            answer = await http.post(server.url, json=INITIALIZE, headers=MCP_HEADERS)
        assert answer.status_code == 401
        assert [record.client for record in server.audit()] == ["carol", "carol"]


async def test_a_session_belongs_to_the_agent_that_opened_it(tmp_path: Path, fake: FakeBinance) -> None:
    async with running(tmp_path, fake) as server:
        async with http_client(server.tokens["alice"]) as alice:
            opened = await alice.post(server.url, json=INITIALIZE, headers=MCP_HEADERS)
            session = opened.headers["mcp-session-id"]
        async with http_client(server.tokens["bob"]) as bob:
            ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
            answer = await bob.post(server.url, json=ping, headers=MCP_HEADERS | {"mcp-session-id": session})
        assert answer.status_code == 404


async def test_without_tokens_the_loopback_caller_is_the_agent_local(
    tmp_path: Path, fake: FakeBinance
) -> None:
    async with running(tmp_path, fake, agents=()) as server:
        for mode in ERAS:
            async with connected(server.url, mode=mode) as client:
                assert not (await price(client)).is_error
        records = server.audit()
        assert [record.client for record in records] == ["local", "local"]
        assert "agent:local" in sessions_of(records)


async def test_the_agent_header_cannot_be_forged(tmp_path: Path, fake: FakeBinance) -> None:
    policy = {
        "version": "1",
        "default": "allow",
        "agents": {"bob": {"rules": {"get_price": {"action": "deny"}}}},
    }
    async with running(tmp_path, fake, policy=policy) as server:
        forged = http_client(server.tokens["bob"], **{"x-binance-mcp-agent": "alice"})
        async with forged as http, Client(streamable_http_client(server.url, http_client=http)) as client:
            result = await price(client)
        assert result.is_error and result.structured_content["rule"] == "agents.bob.rules.get_price"
        assert [record.client for record in server.audit()] == ["bob"]


# -- Origin and Host -----------------------------------------------------------------------------


async def test_a_foreign_origin_is_403_and_a_foreign_host_421(tmp_path: Path, fake: FakeBinance) -> None:
    allowed = "https://agents.example"
    async with running(tmp_path, fake, allow_origins=(allowed,)) as server:
        own = server.base
        async with http_client(server.tokens["alice"]) as http:

            async def post(**headers: str) -> int:
                answer = await http.post(server.url, json=INITIALIZE, headers=MCP_HEADERS | headers)
                return answer.status_code

            assert await post(origin="http://evil.example") == 403
            assert await post(origin="http://127.0.0.1:1") == 403
            assert await post(host="evil.example") == 421
            assert await post() == 200
            assert await post(origin=own) == 200
            assert await post(origin=allowed) == 200
        assert fake.requests == []


# -- agents: per-agent rules and hiding ------------------------------------------------------------

AGENTS_POLICY = {
    "version": "1",
    "default": "allow",
    "agents": {
        "bob": {
            "hide": ["cancel_all_orders"],
            "rules": {"place_order": {"action": "deny", "reason": "research only"}},
        }
    },
}


@pytest.mark.parametrize("mode", ERAS)
async def test_one_agents_rule_refuses_what_another_agent_may_do(
    tmp_path: Path, fake: FakeBinance, mode: str
) -> None:
    async with running(tmp_path, fake, policy=AGENTS_POLICY) as server:
        async with connected(server.url, server.tokens["alice"], mode=mode) as alice:
            placed = await alice.call_tool("place_order", LIMIT_BUY)
            alice_tools = {tool.name for tool in (await alice.list_tools()).tools}
        async with connected(server.url, server.tokens["bob"], mode=mode) as bob:
            refused = await bob.call_tool("place_order", LIMIT_BUY)
            bob_tools = {tool.name for tool in (await bob.list_tools()).tools}
            hidden = await bob.call_tool("cancel_all_orders", {"symbol": "BTCUSDT"})
        assert not placed.is_error, placed.content[0].text
        assert refused.is_error
        assert refused.structured_content["error"] == "policy_denied"
        assert refused.structured_content["rule"] == "agents.bob.rules.place_order"
        assert refused.structured_content["reason"] == "research only"
        assert "cancel_all_orders" in alice_tools and len(alice_tools) == len(TOOL_NAMES)
        assert alice_tools - bob_tools == {"cancel_all_orders"}
        assert hidden.is_error and "Unknown tool" in hidden.content[0].text
        orders = [r for r in fake.requests if r.method == "POST" and r.path == "/api/v3/order"]
        assert len(orders) == 1
        records = server.audit()
        assert [(r.client, r.tool, r.decision) for r in records] == [
            ("alice", "place_order", "allowed"),
            ("bob", "place_order", "denied"),
            ("bob", "cancel_all_orders", "hidden"),
        ]
        if mode == "legacy":
            assert all(len(r.session) == 32 for r in records)  # the Mcp-Session-Id
        else:
            assert sessions_of(records) == {"agent:alice", "agent:bob"}


# -- rate-limit scopes ---------------------------------------------------------------------------


def limited(scope: str, max_calls: int = 2) -> dict[str, Any]:
    rate_limit = {"max": max_calls, "window": 60, "scope": scope}
    return {
        "version": "1",
        "default": "allow",
        "rules": {"get_price": {"action": "allow", "rate_limit": rate_limit}},
    }


async def calls_allowed(client: Client, attempts: int = 3) -> int:
    allowed = 0
    for _ in range(attempts):
        result = await price(client)
        if result.is_error:
            assert result.structured_content["error"] == "rate_limited"
            assert result.structured_content["rule"] == "rules.get_price.rate_limit"
        else:
            allowed += 1
    return allowed


async def test_scope_session_counts_each_2025_session_and_each_2026_agent(
    tmp_path: Path, fake: FakeBinance
) -> None:
    async with running(tmp_path, fake, policy=limited("session")) as server:
        alice, bob = server.tokens["alice"], server.tokens["bob"]
        async with (
            connected(server.url, alice, mode="legacy") as one,
            connected(server.url, alice, mode="legacy") as two,
        ):
            assert (await calls_allowed(one), await calls_allowed(two)) == (2, 2)
        # 2026-07-28 has no sessions: the agent stands in, across connections
        async with connected(server.url, alice) as one, connected(server.url, alice) as two:
            assert (await calls_allowed(one), await calls_allowed(two)) == (2, 0)
        async with connected(server.url, bob) as bobs:
            assert await calls_allowed(bobs) == 2


async def test_scope_agent_is_shared_by_an_agents_sessions_only(tmp_path: Path, fake: FakeBinance) -> None:
    async with running(tmp_path, fake, policy=limited("agent", 3)) as server:
        alice, bob = server.tokens["alice"], server.tokens["bob"]
        async with (
            connected(server.url, alice, mode="legacy") as one,
            connected(server.url, alice, mode="legacy") as two,
        ):
            assert await calls_allowed(one, 2) == 2
            assert await calls_allowed(two, 2) == 1
        async with connected(server.url, alice) as modern:
            assert await calls_allowed(modern, 1) == 0
        async with connected(server.url, bob, mode="legacy") as bobs:
            assert await calls_allowed(bobs, 4) == 3


async def test_scope_global_is_shared_by_everyone(tmp_path: Path, fake: FakeBinance) -> None:
    async with (
        running(tmp_path, fake, policy=limited("global", 3)) as server,
        connected(server.url, server.tokens["alice"], mode="legacy") as alice,
        connected(server.url, server.tokens["bob"]) as bob,
    ):
        assert await calls_allowed(alice, 2) == 2
        assert await calls_allowed(bob, 2) == 1
        assert await calls_allowed(alice, 1) == 0


# -- bounds per agent ----------------------------------------------------------------------------


async def test_a_body_over_the_limit_is_413(tmp_path: Path, fake: FakeBinance) -> None:
    async with running(tmp_path, fake, bounds=HttpBounds(max_body_bytes=4096)) as server:
        huge = {**INITIALIZE, "params": {**INITIALIZE["params"], "padding": "x" * 5000}}
        async with http_client(server.tokens["alice"]) as http:
            answer = await http.post(server.url, content=json.dumps(huge), headers=MCP_HEADERS)
            assert answer.status_code == 413
            assert (await http.post(server.url, json=INITIALIZE, headers=MCP_HEADERS)).status_code == 200


async def test_calls_in_flight_are_bounded_per_agent(tmp_path: Path, fake: FakeBinance) -> None:
    bounds = HttpBounds(max_calls_in_flight_per_agent=1)
    async with running(tmp_path, fake, bounds=bounds) as server:
        fake.inject(Delay(1.5), path="/api/v3/ticker/price")
        results: list[Any] = []
        async with (
            connected(server.url, server.tokens["alice"]) as alice,
            connected(server.url, server.tokens["bob"]) as bob,
            anyio.create_task_group() as group,
        ):

            async def slow() -> None:
                results.append(await price(alice))

            group.start_soon(slow)
            await wait_for(lambda: fake.faults.pending() == 0)  # the exchange is holding the call
            async with http_client(server.tokens["alice"]) as http:
                answer = await http.post(server.url, json=INITIALIZE, headers=MCP_HEADERS)
            assert answer.status_code == 429 and answer.headers["retry-after"] == "1"
            assert "in flight" in answer.json()["error"]["message"]
            assert not (await price(bob)).is_error  # another agent is not held up
        assert len(results) == 1 and not results[0].is_error


PING = {"jsonrpc": "2.0", "id": 9, "method": "ping"}


async def test_at_its_session_cap_an_agent_loses_its_least_recently_used_idle_session(
    tmp_path: Path, fake: FakeBinance
) -> None:
    async with (
        running(tmp_path, fake, bounds=HttpBounds(max_sessions_per_agent=2)) as server,
        http_client(server.tokens["alice"]) as alice,
        http_client(server.tokens["bob"]) as bob,
    ):

        async def ping(session: str) -> int:
            answer = await alice.post(
                server.url, json=PING, headers=MCP_HEADERS | {"mcp-session-id": session}
            )
            return answer.status_code

        first, second = [
            (await alice.post(server.url, json=INITIALIZE, headers=MCP_HEADERS)).headers["mcp-session-id"]
            for _ in range(2)
        ]
        assert await ping(first) == 200  # so the second is now the least recently used
        third = await alice.post(server.url, json=INITIALIZE, headers=MCP_HEADERS)
        assert third.status_code == 200
        await wait_for_async(lambda: ping(second), 404)
        assert await ping(first) == 200 and await ping(third.headers["mcp-session-id"]) == 200
        assert (await bob.post(server.url, json=INITIALIZE, headers=MCP_HEADERS)).status_code == 200


async def test_an_agent_whose_sessions_all_have_a_call_in_flight_is_refused_one_more(
    tmp_path: Path, fake: FakeBinance
) -> None:
    results: list[Any] = []
    async with running(tmp_path, fake, bounds=HttpBounds(max_sessions_per_agent=2)) as server:
        fake.inject(Delay(2), path="/api/v3/ticker/price", times=2)
        async with (
            connected(server.url, server.tokens["alice"], mode="legacy") as one,
            connected(server.url, server.tokens["alice"], mode="legacy") as two,
            anyio.create_task_group() as group,
        ):
            for client in (one, two):
                group.start_soon(lambda c=client: _append(results, price(c)))
            await wait_for(lambda: fake.faults.pending() == 0)  # both calls are held by the exchange
            async with http_client(server.tokens["alice"]) as http:
                refused = await http.post(server.url, json=INITIALIZE, headers=MCP_HEADERS)
            assert refused.status_code == 429 and "call in flight" in refused.json()["error"]["message"]
        assert [r.is_error for r in results] == [False, False]


async def _append(into: list[Any], call: Any) -> None:
    into.append(await call)


async def wait_for_async(probe: Any, expected: Any, timeout: float = 5.0) -> None:
    with anyio.fail_after(timeout):
        while await probe() != expected:
            await anyio.sleep(0.02)


# -- stopping --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ERAS)
async def test_stopping_refuses_new_calls_and_lets_a_call_in_flight_finish(
    tmp_path: Path, fake: FakeBinance, mode: str
) -> None:
    results: list[Any] = []
    async with running(tmp_path, fake, drain=DEPLOYED) as server:
        fake.inject(Delay(1.5), path="/api/v3/ticker/price")
        async with (
            connected(server.url, server.tokens["alice"], mode=mode) as client,
            anyio.create_task_group() as group,
        ):
            await client.list_tools()  # the client checks a result against the tool's schema, asked once

            async def in_flight() -> None:
                results.append(await price(client))

            group.start_soon(in_flight)
            await wait_for(lambda: fake.faults.pending() == 0)  # the exchange is holding the call
            server.service.stop()
            async with http_client(server.tokens["bob"]) as http:
                refused = await http.post(server.url, json=GET_PRICE, headers=MCP_HEADERS)
                opened = await http.post(server.url, json=INITIALIZE, headers=MCP_HEADERS)
                health = await http.get(server.base + "/healthz")
            assert refused.status_code == 503 and refused.json()["id"] == GET_PRICE["id"]
            assert refused.headers["retry-after"] == "10"
            assert opened.status_code == 200  # what a client needs to take its result is still served
            assert health.status_code == 503 and health.json()["status"] == "stopping"
            assert results == [] and server.service.drain.in_flight == 1  # still running
        assert len(results) == 1 and not results[0].is_error
        [record] = server.audit("get_price")
        assert (record.client, record.outcome) == ("alice", "ok")


async def wait_for(condition: Any, timeout: float = 5.0) -> None:
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.01)
