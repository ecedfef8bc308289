"""Crash safety: an order in flight when the server dies is completed from the exchange on restart.

A real `binance-mcp` process is SIGKILLed while its order sleeps inside the exchange, then started
again on the same state dir: before its first order it finds the earlier one by client order id,
completes its `pending` audit record (`ok`, with the order id), and nothing is sent twice. The
in-process tests cover the other endings (`unknown`, a cancel, records of another network or base
URL left alone, a recovery that has to wait for the exchange) and the per-account order lock.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from binance_mcp.account import AccountKey
from binance_mcp.server import App
from binance_mcp.stores.audit import AuditLog, AuditRecord, audit_path
from tests.command import BINANCE_MCP
from tests.conftest import ALLOW_ALL, API_KEY, API_SECRET, make_app, write_policy
from tests.fake_binance import Delay, FakeBinance, Status
from tests.order_lists import with_leg

pytestmark = pytest.mark.anyio

LIMIT_BUY = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "50000"}


async def wait_until(condition: Callable[[], Any], timeout: float = 10.0) -> None:
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.02)


def posts(fake: FakeBinance) -> list:
    return [r for r in fake.requests if r.method == "POST" and r.path == "/api/v3/order"]


def lookups(fake: FakeBinance) -> list:
    return [r for r in fake.requests if r.method == "GET" and r.path == "/api/v3/order"]


# -- a real process, killed ------------------------------------------------------------------------


def server_process(tmp_path: Path, fake: FakeBinance, pid_file: Path) -> StdioServerParameters:
    """`binance-mcp` over stdio, started through `sh` so that its pid (kept by `exec`) is known."""
    return StdioServerParameters(
        command="sh",
        args=[
            "-c",
            'echo $$ > "$0"; exec "$@"',
            str(pid_file),
            BINANCE_MCP,
            "--testnet",
            "--base-url",
            fake.base_url,
            "--state-dir",
            str(tmp_path / "state"),
            "--policy",
            str(write_policy(tmp_path, ALLOW_ALL)),
        ],
        env={
            "BINANCE_API_KEY": API_KEY,
            "BINANCE_API_SECRET": API_SECRET,
            "PATH": os.environ.get("PATH", ""),
        },
        cwd=str(tmp_path),
    )


async def test_a_server_killed_mid_order_completes_it_on_restart_and_sends_nothing_twice(
    tmp_path: Path, fake: FakeBinance
) -> None:
    pid_file = tmp_path / "server.pid"
    params = server_process(tmp_path, fake, pid_file)
    fake.inject(Delay(2.0), method="POST", path="/api/v3/order")  # the order executes 2 s after it arrives
    answers: list[Any] = []

    async def order(client: Client) -> None:
        try:
            answers.append(await client.call_tool("place_order", LIMIT_BUY | {"client_order_id": "crash-1"}))
        except Exception as exc:  # the server died under the call
            answers.append(exc)

    with anyio.fail_after(20):
        try:
            async with (
                Client(stdio_client(params), mode="legacy") as client,
                anyio.create_task_group() as group,
            ):
                group.start_soon(order, client)
                await wait_until(lambda: fake.faults.pending() == 0)  # the POST is inside the exchange
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
                await wait_until(lambda: answers)
        except Exception:  # the transport of a killed server ends with an error: expected
            pass
    assert isinstance(answers[0], Exception), answers  # no answer came

    with AuditLog(audit_path(tmp_path / "state")) as audit:
        [pending] = audit.pending(account=str(AccountKey.of("testnet", API_KEY)))
    assert (pending.tool, pending.client_order_id) == ("place_order", "crash-1")
    await wait_until(lambda: fake.orders)  # the exchange executed it after the server died
    [executed] = fake.orders

    with anyio.fail_after(20):
        async with Client(stdio_client(params), mode="legacy") as client:
            assert not (await client.call_tool("get_price", {"symbol": "BTCUSDT"})).is_error
            assert lookups(fake) == []  # a read does not trigger the recovery; an order does
            result = await client.call_tool("place_order", LIMIT_BUY | {"client_order_id": "after-1"})
            assert not result.is_error, result.content[0].text

    with AuditLog(audit_path(tmp_path / "state")) as audit:
        records = {r.client_order_id: r for r in audit.query(tool="place_order")}
        assert audit.pending(account=str(AccountKey.of("testnet", API_KEY))) == []
    assert (records["crash-1"].outcome, records["crash-1"].order_id) == ("ok", executed.order_id)
    assert "completed by recovery" in records["crash-1"].reason
    assert records["crash-1"].result == {"recovered": True}
    assert records["after-1"].outcome == "ok"
    [lookup] = lookups(fake)
    assert lookup.params["origClientOrderId"] == "crash-1"
    assert lookup.time_ms < posts(fake)[-1].time_ms  # completed before the next order left
    assert [p.params["newClientOrderId"] for p in posts(fake)] == ["crash-1", "after-1"]
    assert sorted(o.client_order_id for o in fake.orders) == ["after-1", "crash-1"]


# -- in process ------------------------------------------------------------------------------------


def direct_binance(fake: FakeBinance) -> Any:
    from binance.client import Client as BinanceClient

    client = BinanceClient(API_KEY, API_SECRET, ping=False)
    client.API_URL = f"{fake.base_url}/api"
    return client


def left_pending(
    state_dir: Path, *records: dict[str, Any], gone: str = "crashed-host/1/2026-01-01T00:00:00.000Z"
) -> list[int]:
    """Pending records as a killed earlier run leaves them: owned by `gone` (its lease already run
    out), for the account of the tests' API key on the record's network."""
    from binance_mcp.account import AccountKey

    state_dir.mkdir(parents=True, exist_ok=True)
    with AuditLog(audit_path(state_dir), secrets=(API_KEY, API_SECRET), owner=gone, lease_s=0) as audit:
        return [
            audit.begin_pending(
                AuditRecord(
                    session="earlier",
                    client="test",
                    decision="allowed",
                    outcome="pending",
                    **(
                        {
                            "network": "testnet",
                            "tool": "place_order",
                            "account": str(AccountKey.of(record.get("network", "testnet"), API_KEY)),
                        }
                        | record
                    ),
                )
            )
            for record in records
        ]


async def test_pending_records_of_this_account_are_completed_before_the_first_order(
    tmp_path: Path, fake: FakeBinance
) -> None:
    binance = direct_binance(fake)

    def resting_buy(client_order_id: str, price: str) -> dict[str, Any]:
        return binance.create_order(
            symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price=price,
            newClientOrderId=client_order_id,
        )  # fmt: skip

    resting_buy("was-placed", "50000")
    cancelled = resting_buy("to-cancel", "49000")
    binance.cancel_order(symbol="BTCUSDT", orderId=cancelled["orderId"])
    still_open = resting_buy("not-cancelled", "48000")

    def order_by(client_order_id: str, **changes: Any) -> dict[str, Any]:
        arguments = {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "quantity": "0.01",
            "price": "50000",
        }
        arguments["client_order_id"] = client_order_id
        return {
            "base_url": fake.base_url,
            "arguments": arguments,
            "client_order_id": client_order_id,
        } | changes

    def cancel_of(**ids: Any) -> dict[str, Any]:
        return {"base_url": fake.base_url, "tool": "cancel_order", "arguments": {"symbol": "BTCUSDT"} | ids}

    placed, never, cancel, no_cancel, mainnet, elsewhere, other_key, other_tool = left_pending(
        tmp_path / "state",
        order_by("was-placed"),
        order_by("never-arrived"),
        cancel_of(order_id=cancelled["orderId"]),
        cancel_of(client_order_id="not-cancelled"),
        order_by("was-placed", network="mainnet"),
        order_by("was-placed", base_url="http://127.0.0.1:9"),
        order_by("was-placed", account="testnet:00000000000000ff"),
        {"base_url": fake.base_url, "tool": "cancel_all_orders", "arguments": {"symbol": "BTCUSDT"}},
    )
    fake.clear_requests()
    app = make_app(tmp_path, fake.base_url)
    app.exchange.retry = fast_lookups(app)
    async with Client(app.server) as client:
        assert not (await client.call_tool("get_account_info", {})).is_error
        assert lookups(fake) == []
        result = await client.call_tool("place_order", LIMIT_BUY)
        assert not result.is_error, result.content[0].text
        first_post = posts(fake)[0]
        assert all(r.time_ms <= first_post.time_ms for r in lookups(fake))
        looked_up = len(lookups(fake))
        assert not (await client.call_tool("place_order", LIMIT_BUY)).is_error
        assert len(lookups(fake)) == looked_up  # once per process
    records = {r.id: r for r in app.audit.query()}
    app.close()
    assert (records[placed].outcome, records[placed].order_id) == ("ok", fake.orders[0].order_id)
    assert records[never].outcome == "unknown" and "never-arrived" in records[never].reason
    assert (records[cancel].outcome, records[cancel].order_id) == ("ok", cancelled["orderId"])
    assert (records[no_cancel].outcome, records[no_cancel].order_id) == ("error", still_open["orderId"])
    assert "NEW" in records[no_cancel].reason
    assert records[other_tool].outcome == "unknown"
    # State is the account's, whatever the REST root was called: another spelling is the same
    # account; another network or another key is not, and is left alone.
    assert records[elsewhere].outcome == "ok"
    assert records[mainnet].outcome == "pending" and records[other_key].outcome == "pending"


async def records_after_an_order(tmp_path: Path, fake: FakeBinance) -> dict[int | None, AuditRecord]:
    """Start a server on `tmp_path`'s state, place one order (its recovery runs first), stop it:
    the audit records by id."""
    app = make_app(tmp_path, fake.base_url)
    app.exchange.retry = fast_lookups(app)
    async with Client(app.server) as client:
        result = await client.call_tool("place_order", LIMIT_BUY)
        assert not result.is_error, result.content[0].text
    records = {r.id: r for r in app.audit.query()}
    app.close()
    return records


def fast_lookups(app: App) -> Any:
    from dataclasses import replace

    return replace(app.exchange.retry, first_wait=0.01, longest_wait=0.02, first_lookup_wait=0.01)


async def test_records_whose_lookup_fails_stay_pending_and_are_tried_before_the_next_order(
    tmp_path: Path, fake: FakeBinance
) -> None:
    direct_binance(fake).create_order(
        symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.01", newClientOrderId="filled-1"
    )
    [record] = left_pending(
        tmp_path / "state",
        {
            "base_url": fake.base_url,
            "arguments": {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.01"},
            "client_order_id": "filled-1",
        },
    )
    app = make_app(tmp_path, fake.base_url)
    app.exchange.retry = fast_lookups(app)
    fake.inject(Status(503, -1001, "Internal error"), method="GET", path="/api/v3/order", times=1000)
    async with Client(app.server) as client:
        first = await client.call_tool("place_order", LIMIT_BUY)
        assert not first.is_error, first.content[0].text  # the recovery's trouble does not stop the order
        assert app.audit.query()[0].outcome == "pending"
        fake.clear_faults()
        assert not (await client.call_tool("place_order", LIMIT_BUY)).is_error
    done = {r.id: r for r in app.audit.query()}[record]
    app.close()
    assert (done.outcome, done.order_id) == ("ok", fake.orders[0].order_id)


async def test_orders_of_one_account_go_one_at_a_time(tmp_path: Path, fake: FakeBinance) -> None:
    app = make_app(tmp_path, fake.base_url)
    fake.inject(Delay(0.3), method="POST", path="/api/v3/order")
    async with Client(app.server) as client, anyio.create_task_group() as group:
        for index in range(3):
            group.start_soon(
                client.call_tool, "place_order", LIMIT_BUY | {"client_order_id": f"lock-{index}"}
            )
    app.close()
    first, *others = sorted(posts(fake), key=lambda r: r.time_ms)
    assert isinstance(first.fault, Delay)
    assert all(other.time_ms >= first.time_ms + 290 for other in others)  # none left while the first was out
    assert len(fake.orders) == 3


async def test_an_order_found_by_its_id_counts_only_if_it_is_the_order_that_was_sent(
    tmp_path: Path, fake: FakeBinance
) -> None:
    """Issue #7: after a crash, an order with the record's client order id but another side, type,
    quantity or price is not "ours": the record ends `unknown`, naming the mismatch."""
    direct_binance(fake).create_order(
        symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.5", newClientOrderId="reused-id"
    )
    [record] = left_pending(
        tmp_path / "state",
        {
            "base_url": fake.base_url,
            "arguments": {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "quantity": "0.01",
                "price": "60000",
            },
            "client_order_id": "reused-id",
        },
    )
    app = make_app(tmp_path, fake.base_url)
    app.exchange.retry = fast_lookups(app)
    async with Client(app.server) as client:
        assert not (await client.call_tool("place_order", LIMIT_BUY)).is_error
    done = {r.id: r for r in app.audit.query()}[record]
    app.close()
    assert done.outcome == "unknown" and done.order_id is None
    assert "side SELL instead of BUY" in (done.reason or "")
    assert "type MARKET instead of LIMIT" in (done.reason or "")


async def test_a_pending_order_list_is_completed_before_the_next_order_if_its_legs_match(
    tmp_path: Path, fake: FakeBinance
) -> None:
    """Issue #11: a place_order_list record left pending by a killed run is looked up by its list
    client order id before the next order; it is `ok` only when every leg sent is in the list found."""
    from binance_mcp.config import Credentials
    from binance_mcp.exchange.client import ExchangeClient
    from binance_mcp.tools import SPECS

    spec = SPECS["place_order_list"]
    bracket = {"symbol": "BTCUSDT", "type": "OCO", "legs": [
        {"side": "SELL", "type": "LIMIT_MAKER", "quantity": "0.01", "price": "70000"},
        {"side": "SELL", "type": "STOP_LOSS_LIMIT", "quantity": "0.01", "price": "60000", "stop_price": "60500"},
    ]}  # fmt: skip

    def audited(arguments: dict[str, Any]) -> dict[str, Any]:
        """The arguments as the guard audits them: validated, with the ids `prepare` filled in."""
        args = spec.prepare(spec.input_model.model_validate(arguments))  # type: ignore[misc]
        return args.model_dump(mode="json", exclude_none=True)

    from binance_mcp.exchange.order_kinds import LIST
    from binance_mcp.tools.order_list_inputs import from_flat

    exchange = ExchangeClient(fake.base_url, Credentials(API_KEY, API_SECRET))
    placed = audited(bracket | {"list_client_order_id": "list-placed"})
    other = audited(bracket | {"list_client_order_id": "list-other"})
    # a record written before place_order_list took legs: its flat arguments are read back as legs
    flat = {"symbol": "BTCUSDT", "type": "OCO", "side": "SELL", "quantity": "0.01", "above_type": "LIMIT_MAKER",
            "above_price": "70000", "below_type": "STOP_LOSS_LIMIT", "below_price": "60000",
            "below_stop_price": "60500", "list_client_order_id": "list-flat", "above_client_order_id": "flat-a",
            "below_client_order_id": "flat-b"}  # fmt: skip
    for arguments in (placed, other, from_flat(flat)):  # the killed run's list reached the exchange
        prepared = spec.input_model.model_validate(arguments)
        await LIST.place(exchange, spec.order(prepared))  # type: ignore[misc]

    def record_of(arguments: dict[str, Any]) -> dict[str, Any]:
        return {
            "base_url": fake.base_url,
            "tool": "place_order_list",
            "arguments": arguments,
            "client_order_id": arguments["list_client_order_id"],
        }

    ours, never, not_ours, before_legs = left_pending(
        tmp_path / "state",
        record_of(placed),
        record_of(audited(bracket | {"list_client_order_id": "list-never"})),
        record_of(with_leg(other, quantity="0.02")),  # the id was used for another list
        record_of(flat),
    )
    fake.clear_requests()
    records = await records_after_an_order(tmp_path, fake)
    list_lookups = [r for r in fake.requests if r.method == "GET" and r.path == "/api/v3/orderList"]
    assert list_lookups and all(r.time_ms <= posts(fake)[0].time_ms for r in list_lookups)
    assert records[ours].outcome == "ok" and "list-placed" in (records[ours].reason or "")
    assert records[never].outcome == "unknown" and "does not know order list list-never" in (
        records[never].reason or ""
    )
    assert records[not_ours].outcome == "unknown"
    assert "above order: quantity 0.01000000 instead of 0.02" in (records[not_ours].reason or "")
    assert records[before_legs].outcome == "ok" and "list-flat" in (records[before_legs].reason or "")
    assert len(fake.order_lists) == 3  # nothing was sent again


async def test_recovery_takes_the_one_path_an_old_order_is_not_ours_and_list_cancels_are_looked_up(
    tmp_path: Path, fake: FakeBinance
) -> None:
    """Crash recovery judges what it finds the way a tool does after a lost answer (one path for an
    order and a list): an order under the record's id created before the record was written is not
    the one sent; a cancel_order_list record is finished from the list's status, like a cancel_order."""
    from binance_mcp.config import Credentials
    from binance_mcp.exchange.client import ExchangeClient
    from binance_mcp.exchange.order_kinds import LIST
    from binance_mcp.tools import SPECS

    buy = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}
    direct_binance(fake).create_order(**buy, newClientOrderId="old-1")
    exchange = ExchangeClient(fake.base_url, Credentials(API_KEY, API_SECRET))
    spec = SPECS["place_order_list"]
    listed = {}
    for name in ("cancelled-list", "open-list"):
        oco = {"symbol": "BTCUSDT", "type": "OCO", "list_client_order_id": name, "legs": [
            {"side": "SELL", "type": "LIMIT_MAKER", "quantity": "0.001", "price": "66000"},
            {"side": "SELL", "type": "STOP_LOSS", "quantity": "0.001", "stop_price": "64000"},
        ]}  # fmt: skip
        order = spec.order(spec.prepare(spec.input_model.model_validate(oco)))  # type: ignore[misc]
        listed[name] = await LIST.place(exchange, order)
    await exchange.cancel_order_list("BTCUSDT", list_client_order_id="cancelled-list")
    fake.server_time_offset_ms = 120_000  # the records are written two minutes later (Binance's clock)

    def cancel_list(**ids: Any) -> dict[str, Any]:
        return {
            "base_url": fake.base_url,
            "tool": "cancel_order_list",
            "arguments": {"symbol": "BTCUSDT"} | ids,
        }

    old, cancelled, still_open = left_pending(
        tmp_path / "state",
        {
            "base_url": fake.base_url,
            "arguments": buy | {"client_order_id": "old-1"},
            "client_order_id": "old-1",
        },
        cancel_list(list_client_order_id="cancelled-list"),
        cancel_list(order_list_id=listed["open-list"]["orderListId"]),
    )
    records = await records_after_an_order(tmp_path, fake)
    assert records[old].outcome == "unknown" and "before this one was sent" in (records[old].reason or "")
    assert records[cancelled].outcome == "ok" and "ALL_DONE" in (records[cancelled].reason or "")
    assert records[still_open].outcome == "error" and "so the cancel did not happen" in (
        records[still_open].reason or ""
    )
    assert len(fake.orders) == 1 + 4 + 1  # the old order, two lists, and the new order: nothing twice


async def test_recovery_says_a_process_stopped_only_when_it_knows_and_otherwise_that_its_lease_ran_out(
    tmp_path: Path, fake: FakeBinance
) -> None:
    """A neighbour's record taken over because its lease ran out was reported as left by a server
    that "stopped", though the owner may only be paused or cut off from the state store."""
    import socket
    import subprocess
    import sys

    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    here_gone = f"{socket.gethostname()}/{finished.pid}/2026-01-01T00:00:00.000Z"
    record = {"base_url": fake.base_url, "arguments": dict(LIMIT_BUY, client_order_id="never-1")}
    [stopped] = left_pending(tmp_path / "state", record | {"client_order_id": "never-1"}, gone=here_gone)
    [stalled] = left_pending(
        tmp_path / "state",
        record | {"arguments": dict(LIMIT_BUY, client_order_id="never-2"), "client_order_id": "never-2"},
        gone="other-host/77/2026-01-01T00:00:00.000Z",
    )
    records = await records_after_an_order(tmp_path, fake)
    assert records[stopped].outcome == "unknown" and records[stalled].outcome == "unknown"
    assert f"({here_gone}) stopped before its outcome was written" in (records[stopped].reason or "")
    reason = records[stalled].reason or ""
    assert "other-host/77" in reason and "stopped renewing its lease" in reason, reason
    assert "stopped before" not in reason
