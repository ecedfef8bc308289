"""A drain that keeps its promise (issue #16, item 6): the grace covers the longest call it lets
finish, and every call that started has an audit record, whether it ended, its client left, or the
drain cut it.

The servers run as `binance-mcp` subprocesses (HTTP, and stdio for its own drain) against the test
exchange, which holds an answer as long as a test asks (`Delay`); SIGTERM is a real signal.
"""

from __future__ import annotations

import contextlib
import json
import signal
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import ElicitResult

from tests.conftest import API_KEY, API_SECRET, write_policy
from tests.fake_binance import Delay, FakeBinance
from tests.test_cli import run_cli
from tests.test_http import LIMIT_BUY, connected
from tests.test_http_process import Server, serving

pytestmark = pytest.mark.anyio

ALLOW_ALL = {"version": "1", "default": "allow"}
ASK_A_HUMAN = {
    "version": "1",
    "default": "allow",
    "approvals": {"via": ["elicitation"]},
    "rules": {"place_order": {"action": "require_approval"}},
}


def audit_of(state: str) -> list[dict[str, Any]]:
    done = run_cli("audit", "--json", "--state-dir", state)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


async def until_the_exchange_holds_it(fake: FakeBinance) -> None:
    with anyio.fail_after(20):
        while fake.faults.pending():
            await anyio.sleep(0.01)


# -- the grace covers a long answer --------------------------------------------------------------


def test_sigterm_during_an_answer_longer_than_the_old_fixed_grace_still_answers_the_client(
    tmp_path: Path,
) -> None:
    """`--read-timeout 15` and an exchange that answers after 12 s: the grace (lock wait + connect +
    read timeout + margin) lets the order's answer reach the client; a fixed 10 s grace cut it."""
    state = str(tmp_path / "state")
    token = run_cli("tokens", "add", "alice", "--state-dir", state).stdout.splitlines()[-1]
    policy = str(write_policy(tmp_path, ALLOW_ALL))
    with (
        FakeBinance(api_key=API_KEY, api_secret=API_SECRET) as fake,
        serving(
            "--state-dir", state, "--base-url", fake.base_url, "--policy", policy,
            "--read-timeout", "15", cwd=tmp_path,
        ) as server,
    ):  # fmt: skip
        outcome = anyio.run(order_through_a_stop, server, fake, token, 12.0)
        assert server.process.wait(60) == 0
        [order] = fake.orders
    assert outcome.get("error") is None, outcome["error"]
    assert outcome["result"]["order_id"] == order.order_id
    text = "".join(server.stderr)
    assert "waiting up to 35 s" in text and "still in flight" not in text
    [record] = [r for r in audit_of(state) if r["tool"] == "place_order"]
    assert record["outcome"] == "ok" and record["order_id"] == order.order_id


async def order_through_a_stop(server: Server, fake: FakeBinance, token: str, delay: float) -> dict[str, Any]:
    outcome: dict[str, Any] = {}
    fake.inject(Delay(delay), method="POST", path="/api/v3/order")
    async with connected(server.url, token) as client, anyio.create_task_group() as group:

        async def place() -> None:
            try:
                outcome["result"] = (await client.call_tool("place_order", LIMIT_BUY)).structured_content
            except Exception as exc:  # the defect: the drain cut the call, the connection closed
                outcome["error"] = f"{type(exc).__name__}: {exc}"

        group.start_soon(place)
        await until_the_exchange_holds_it(fake)
        server.process.send_signal(signal.SIGTERM)
    return outcome


def test_drain_grace_flag_and_help(tmp_path: Path) -> None:
    shown = run_cli("--help")
    assert "--drain-grace" in shown.stdout and "--metrics-port" in shown.stdout
    done = run_cli("--testnet", "--drain-grace", "0", "--state-dir", str(tmp_path / "s"), cwd=tmp_path)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "--drain-grace" in line and "above 0" in line


# -- a call cut while it waits on a human --------------------------------------------------------


def test_sigterm_while_a_call_waits_for_a_human_leaves_a_cut_by_drain_record(tmp_path: Path) -> None:
    """The human never answers; the drain's grace (2 s here) runs out; the call is cut, and the
    audit log says so: which call, that nothing was sent, and why."""
    state = str(tmp_path / "state")
    token = run_cli("tokens", "add", "alice", "--state-dir", state).stdout.splitlines()[-1]
    policy = str(write_policy(tmp_path, ASK_A_HUMAN))
    with (
        FakeBinance(api_key=API_KEY, api_secret=API_SECRET) as fake,
        serving(
            "--state-dir", state, "--base-url", fake.base_url, "--policy", policy, "--drain-grace", "2",
            cwd=tmp_path,
        ) as server,
    ):  # fmt: skip
        anyio.run(stop_while_asking, server, token)
        assert server.process.wait(30) == 0
        assert fake.orders == []
    assert "Traceback" not in "".join(server.stderr)
    calls = [r for r in audit_of(state) if r["tool"] == "place_order"]
    assert calls[-1]["outcome"] == "cut_by_drain", calls
    assert calls[-1]["decision"] == "approval_required"
    assert "human's approval" in calls[-1]["reason"] and "nothing was sent" in calls[-1]["reason"]
    assert calls[-1]["client"] == "alice"
    assert run_cli("audit", "verify", "--state-dir", state).returncode == 0


async def stop_while_asking(server: Server, token: str) -> None:
    from mcp.client.streamable_http import streamable_http_client

    from tests.test_http import http_client

    asked = anyio.Event()

    async def never_answers(context: Any, params: Any) -> ElicitResult:
        asked.set()
        await anyio.sleep(60)
        return ElicitResult(action="cancel")

    async def place() -> None:
        with contextlib.suppress(Exception):  # cut: the connection closes without an answer
            async with (
                http_client(token) as http,
                Client(
                    streamable_http_client(server.url, http_client=http),
                    mode="legacy",
                    elicitation_callback=never_answers,
                ) as client,
            ):
                await client.call_tool("place_order", LIMIT_BUY)

    async with anyio.create_task_group() as group:
        group.start_soon(place)
        with anyio.fail_after(20):
            await asked.wait()
        server.process.send_signal(signal.SIGTERM)
        with anyio.fail_after(30):
            while server.process.poll() is None:
                await anyio.sleep(0.05)
        group.cancel_scope.cancel()


# -- a call whose client left --------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_client_that_cancels_while_its_human_is_asked_leaves_an_abandoned_record(
    build: Any, fake: FakeBinance
) -> None:
    app = build(ASK_A_HUMAN | {"approvals": {"via": ["elicitation"]}})
    asked = anyio.Event()

    async def never_answers(context: Any, params: Any) -> ElicitResult:
        asked.set()
        await anyio.sleep(60)
        return ElicitResult(action="cancel")

    async with Client(app.server, mode="legacy", elicitation_callback=never_answers) as client:
        async with anyio.create_task_group() as group:
            group.start_soon(client.call_tool, "place_order", LIMIT_BUY)
            with anyio.fail_after(20):
                await asked.wait()
            group.cancel_scope.cancel()  # the client gives up: it cancels the request
        with anyio.fail_after(20):
            while not app.audit.query(tool="place_order"):
                await anyio.sleep(0.02)
    [record] = app.audit.query(tool="place_order")
    assert (record.decision, record.outcome) == ("approval_required", "abandoned")
    assert "client left" in (record.reason or "") and "nothing was sent" in (record.reason or "")
    assert record.rule == "rules.place_order"
    assert fake.orders == []


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_client_that_leaves_while_its_order_waits_for_the_lock_leaves_an_abandoned_record(
    build: Any, fake: FakeBinance, mode: str
) -> None:
    """One order holds the account lock (the exchange answers it after 3 s); a second waits for
    the lock, and its client gives up. The first is placed; the second has a record that says it
    was abandoned before it was sent, and is never sent."""
    app = build(ALLOW_ALL)
    lock = app.guard.services.lock
    fake.inject(Delay(3), method="POST", path="/api/v3/order")
    async with (
        Client(app.server, mode=mode) as first,
        Client(app.server, mode=mode) as second,
        anyio.create_task_group() as group,
    ):
        placed: dict[str, Any] = {}

        async def place_first() -> None:
            placed["first"] = (await first.call_tool("place_order", LIMIT_BUY)).structured_content

        group.start_soon(place_first)
        await until_the_exchange_holds_it(fake)
        async with anyio.create_task_group() as waiting:
            waiting.start_soon(second.call_tool, "place_order", LIMIT_BUY | {"price": "49000"})
            with anyio.fail_after(20):
                while lock.waiting == 0:
                    await anyio.sleep(0.01)
            waiting.cancel_scope.cancel()  # the second client leaves
    [order] = fake.orders
    assert placed["first"]["order_id"] == order.order_id
    records = {r.outcome: r for r in app.audit.query(tool="place_order")}
    assert set(records) == {"ok", "abandoned"}
    left = records["abandoned"]
    assert left.decision == "allowed" and "account lock" in (left.reason or "")
    assert left.arguments["price"] == "49000"


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_an_http_client_that_leaves_while_its_order_waits_for_the_lock_leaves_an_abandoned_record(
    tmp_path: Path, fake: FakeBinance, mode: str
) -> None:
    """Whatever happens to a call whose client left, its record says it: no order without one."""
    from tests.test_http import running

    fake.inject(Delay(3), method="POST", path="/api/v3/order")
    async with running(tmp_path, fake, policy=ALLOW_ALL) as server:
        lock = server.app.guard.services.lock
        token = server.tokens["alice"]
        async with connected(server.url, token, mode=mode) as first, anyio.create_task_group() as group:
            group.start_soon(first.call_tool, "place_order", LIMIT_BUY)
            await until_the_exchange_holds_it(fake)
            async with anyio.create_task_group() as waiting:

                async def second_order() -> None:
                    async with connected(server.url, server.tokens["bob"], mode=mode) as second:
                        await second.call_tool("place_order", LIMIT_BUY | {"price": "49000"})

                waiting.start_soon(second_order)
                with anyio.fail_after(20):
                    while lock.waiting == 0:
                        await anyio.sleep(0.01)
                waiting.cancel_scope.cancel()  # bob's client goes away: its connection closes
        with anyio.fail_after(20):  # both calls ended (a sent order's pending record completed)
            while len(found := server.app.audit.query(tool="place_order")) < 2 or any(
                r.outcome == "pending" for r in found
            ):
                await anyio.sleep(0.05)
        records = {r.client: r for r in server.app.audit.query(tool="place_order")}
    assert records["alice"].outcome == "ok"
    bob = records["bob"]
    if mode == "auto":  # 2026 era: the call is its request; the request gone, the call is cancelled
        assert bob.outcome == "abandoned" and "account lock" in (bob.reason or "")
        assert len(fake.orders) == 1
    else:  # 2025 era: the call belongs to the session, and goes on; its record says what it did
        assert bob.outcome == "ok" and bob.order_id == fake.orders[1].order_id
