"""Requests for approval that end, show the order, record who decided, and can be taken back (issue 10).

The store directly (with an injected clock) and `binance-mcp approvals` as a subprocess."""

from __future__ import annotations

import getpass
import json
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import platformdirs
import pytest

from binance_mcp.account import AccountKey
from binance_mcp.approval_details import GENERATED_CLIENT_ORDER_ID, labelled_details, request_details
from binance_mcp.stores.approvals import (
    ApprovalAlreadyDecided,
    ApprovalExpired,
    ApprovalStore,
    approvals_path,
    approve_command,
    canonical_arguments,
    open_approval_store,
)
from binance_mcp.tools.inputs import PlaceOrderInput
from tests.command import BINANCE_MCP

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ORDER = {
    "symbol": "BTCUSDT",
    "side": "BUY",
    "type": "MARKET",
    "quantity": "0.0015",
    "client_order_id": "desk-42",
}
CALL = {
    "tool": "place_order",
    "account": str(AccountKey.of("testnet", "key-a")),
    "agent": "research-bot",
    "arguments_key": canonical_arguments(ORDER, drop_client_order_id=False),
}
QUESTION = "BUY 0.0015 BTCUSDT MARKET (≈97.5 USDT) on TESTNET — approve?"


def details(client_order_id: str = "desk-42") -> dict[str, str]:
    args = PlaceOrderInput.model_validate(ORDER | {"client_order_id": client_order_id})
    quote = SimpleNamespace(notional=Decimal("97.5"), reference_price=Decimal("65000"), quote_asset="USDT")
    return request_details("place_order", args, quote, network="testnet", agent="research-bot")


@pytest.fixture
def store(tmp_path: Path) -> ApprovalStore:
    with open_approval_store(tmp_path) as opened:
        yield opened


# --------------------------------------------------------------------------- details


def test_details_are_rendered_from_the_validated_order() -> None:
    shown = details()
    assert shown == {
        "tool": "place_order",
        "side": "BUY",
        "quantity": "0.0015",
        "symbol": "BTCUSDT",
        "type": "MARKET",
        "notional": "97.5 USDT",
        "valued_by": "quantity × the last price, 65000, when asked",
        "network": "testnet",
        "agent": "research-bot",
        "client_order_id": "desk-42",
    }
    assert labelled_details(shown)[:3] == [("Tool", "place_order"), ("Side", "BUY"), ("Quantity", "0.0015")]
    limit = PlaceOrderInput.model_validate(
        {"symbol": "btcusdt", "side": "sell", "type": "LIMIT", "quantity": "0.010", "price": "70000.00"}
    )
    priced = SimpleNamespace(
        notional=Decimal("700.000"), reference_price=Decimal("65000"), quote_asset="USDT"
    )
    rendered = request_details(
        "place_order", limit, priced, network="mainnet", agent=None, client_order_id_generated=True
    )
    assert (rendered["symbol"], rendered["side"], rendered["quantity"], rendered["price"]) == (
        "BTCUSDT",
        "SELL",
        "0.01",
        "70000",
    )
    assert rendered["valued_by"] == "quantity × the limit price"
    assert rendered["agent"] == "(stdio client)" and rendered["client_order_id"] == GENERATED_CLIENT_ORDER_ID
    spend = PlaceOrderInput.model_validate(
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quote_quantity": "50"}
    )
    by_quote = SimpleNamespace(notional=Decimal("50"), reference_price=Decimal("65000"), quote_asset="USDT")
    assert request_details("place_order", spend, by_quote, network="testnet", agent="a")["valued_by"] == (
        "the quote quantity"
    )


def test_an_order_lists_details_show_each_leg() -> None:
    from binance_mcp.tools.order_list_inputs import PlaceOrderListInput

    arguments = {"symbol": "BTCUSDT", "type": "OCO", "legs": [
        {"side": "SELL", "type": "LIMIT_MAKER", "quantity": "0.010", "price": "70000"},
        {"side": "SELL", "type": "STOP_LOSS_LIMIT", "quantity": "0.01", "price": "60000", "stop_price": "60500"},
    ]}  # fmt: skip
    oco = PlaceOrderListInput.model_validate(arguments)
    rendered = request_details("place_order_list", oco, network="testnet", agent="a")
    assert (
        rendered["legs"] == "SELL LIMIT_MAKER 0.01 at 70000 / SELL STOP_LOSS_LIMIT 0.01 at 60000, stop 60500"
    )
    assert ("Legs", rendered["legs"]) in labelled_details(rendered)


def test_a_request_keeps_its_details_and_two_client_order_ids_are_two_requests(
    store: ApprovalStore,
) -> None:
    first = store.request(**CALL, question=QUESTION, details=details(), now=T0)
    other_key = canonical_arguments(ORDER | {"client_order_id": "desk-43"}, drop_client_order_id=False)
    second = store.request(
        **(CALL | {"arguments_key": other_key}), question=QUESTION, details=details("desk-43"), now=T0
    )
    assert first.id != second.id
    assert (first.client_order_id, second.client_order_id) == ("desk-42", "desk-43")
    assert store.get(first.id).details == details()  # type: ignore[union-attr]
    assert first.notional == "97.5 USDT"
    as_json = first.to_dict(T0)
    assert (as_json["client_order_id"], as_json["notional"], as_json["details"]["symbol"]) == (
        "desk-42",
        "97.5 USDT",
        "BTCUSDT",
    )
    assert as_json["expires_at"] == "2026-11-25T13:00:00.000000Z"


# --------------------------------------------------------------------------- requests that end


def test_a_pending_request_expires_after_pending_ttl(store: ApprovalStore) -> None:
    asked = store.request(**CALL, question=QUESTION, details=details(), pending_ttl_s=900, now=T0)
    assert asked.expires_at == T0 + timedelta(seconds=900)
    # an identical call reuses it and does not push its expiry out
    again = store.request(
        **CALL, question=QUESTION, details=details(), pending_ttl_s=900, now=T0 + timedelta(minutes=10)
    )
    assert again.id == asked.id and again.expires_at == asked.expires_at
    assert asked.fresh and not again.fresh  # only a new request is news for a human
    assert [a.id for a in store.list(now=T0 + timedelta(seconds=899))] == [asked.id]
    late = T0 + timedelta(seconds=900)
    assert store.list(now=late) == []
    assert store.get(asked.id).status_at(late) == "expired"  # type: ignore[union-attr]
    with pytest.raises(ApprovalExpired, match="expired at 2026-11-25T12:15:00"):
        store.approve(asked.id, now=late)
    fresh = store.request(**CALL, question=QUESTION, details=details(), now=late)
    assert fresh.id != asked.id and fresh.expires_at == late + timedelta(hours=1)


def test_the_default_pending_ttl_is_an_hour(store: ApprovalStore) -> None:
    asked = store.request(**CALL, question=QUESTION, now=T0)
    assert asked.expires_at == T0 + timedelta(hours=1)


# --------------------------------------------------------------------------- who decided, taking it back


def test_who_decided_is_recorded_and_returned_by_take(store: ApprovalStore) -> None:
    asked = store.request(**CALL, question=QUESTION, now=T0)
    decided = store.approve(asked.id, via="page", by="anna", now=T0)
    assert (decided.decided_via, decided.decided_by) == ("page", "anna")
    taken = store.take(**CALL, now=T0 + timedelta(seconds=1))
    assert taken is not None and (taken.decided_via, taken.decided_by, taken.status) == (
        "page",
        "anna",
        "used",
    )


def test_revoke_withdraws_an_approval_not_yet_used(store: ApprovalStore) -> None:
    asked = store.request(**CALL, question=QUESTION, now=T0)
    store.approve(asked.id, by="cli:ann", now=T0)
    withdrawn = store.revoke(asked.id, by="cli:bob", now=T0 + timedelta(seconds=5))
    assert (withdrawn.status, withdrawn.revoked_by) == ("revoked", "cli:bob")
    assert store.take(**CALL, now=T0 + timedelta(seconds=6)) is None
    with pytest.raises(ApprovalAlreadyDecided, match=r"already withdrawn at .* by cli:bob"):
        store.approve(asked.id, now=T0 + timedelta(seconds=7))


def test_deny_after_approve_withdraws_it_too(store: ApprovalStore) -> None:
    asked = store.request(**CALL, question=QUESTION, now=T0)
    store.approve(asked.id, now=T0)
    assert store.deny(asked.id, now=T0).status == "revoked"
    assert store.take(**CALL, now=T0) is None


def test_a_used_approval_cannot_be_withdrawn(store: ApprovalStore) -> None:
    asked = store.request(**CALL, question=QUESTION, now=T0)
    store.approve(asked.id, now=T0)
    assert store.take(**CALL, now=T0) is not None
    with pytest.raises(ApprovalAlreadyDecided, match=r"already used at .*; it cannot be withdrawn"):
        store.revoke(asked.id, now=T0)


def test_revoking_a_pending_request_denies_it(store: ApprovalStore) -> None:
    asked = store.request(**CALL, question=QUESTION, now=T0)
    assert store.revoke(asked.id, now=T0).status == "denied"


@pytest.mark.parametrize(
    ("ttl_now", "after", "allowed"), [(300, 299, True), (300, 301, False), (900, 800, True)]
)
def test_the_ttl_in_force_when_the_approval_is_used_applies(
    store: ApprovalStore, ttl_now: int, after: int, allowed: bool
) -> None:
    asked = store.request(**CALL, question=QUESTION, ttl_s=600, now=T0)
    store.approve(asked.id, now=T0)
    assert (store.take(**CALL, ttl_s=ttl_now, now=T0 + timedelta(seconds=after)) is not None) is allowed


# --------------------------------------------------------------------------- the schema moves on


def test_a_version_1_database_is_migrated_with_its_requests(tmp_path: Path) -> None:
    path = approvals_path(tmp_path)
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE approvals (
            id TEXT PRIMARY KEY, tool TEXT NOT NULL, network TEXT NOT NULL, base_url TEXT NOT NULL,
            agent TEXT NOT NULL, arguments_key TEXT NOT NULL, question TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'used')),
            ttl_s INTEGER NOT NULL, created_at TEXT NOT NULL, decided_at TEXT, decided_via TEXT, used_at TEXT);
        CREATE TABLE nonces (nonce TEXT PRIMARY KEY, tool TEXT NOT NULL, network TEXT NOT NULL,
            base_url TEXT NOT NULL, agent TEXT NOT NULL, arguments_key TEXT NOT NULL,
            created_at TEXT NOT NULL, expires_at TEXT NOT NULL, spent_at TEXT);
        INSERT INTO approvals VALUES ('apr-AAAA-BBBB', 'place_order', 'testnet', 'https://testnet.binance.vision',
            'research-bot', 'k', 'q?', 'pending', 600, '2026-11-25T12:00:00.123456Z', NULL, NULL, NULL);
        PRAGMA user_version = 1;
        """
    )
    conn.close()
    with ApprovalStore(path) as migrated:
        old = migrated.get("apr-AAAA-BBBB")
        assert old is not None and old.status == "pending" and old.details == {}
        assert old.expires_at == datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=UTC)
        decided = migrated.approve("apr-AAAA-BBBB", by="cli:ann", now=T0)
        assert decided.decided_by == "cli:ann"
        assert migrated.revoke("apr-AAAA-BBBB", now=T0).status == "revoked"


# --------------------------------------------------------------------------- the command to tell a human


def test_approve_command_carries_the_state_only_when_it_is_not_the_default(tmp_path: Path) -> None:
    default = Path(platformdirs.user_state_dir("binance-mcp"))
    assert approve_command(default, "apr-7kq2-xm9d") == "binance-mcp approvals approve apr-7KQ2-XM9D"
    assert approve_command(None, "apr-7KQ2-XM9D") == "binance-mcp approvals approve apr-7KQ2-XM9D"
    spaced = tmp_path / "my state"
    assert approve_command(spaced, "apr-7KQ2-XM9D") == (
        f"binance-mcp approvals --state-dir '{spaced}' approve apr-7KQ2-XM9D"
    )
    assert approve_command("postgresql://mcp:hunter2@db.example/binance", "apr-7KQ2-XM9D") == (
        "binance-mcp approvals --state-url postgresql://mcp@db.example/binance approve apr-7KQ2-XM9D"
    )


def test_the_command_told_works_as_written_from_a_shell_without_the_servers_environment(
    tmp_path: Path,
) -> None:
    state = tmp_path / "server state"
    state.mkdir()
    with open_approval_store(state) as opened:
        asked = opened.request(**CALL, question=QUESTION, details=details())
    command = approve_command(state, asked.id)
    env = {
        "PATH": f"{Path(BINANCE_MCP).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
    }  # no BINANCE_MCP_STATE_DIR
    done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"approved {asked.id}")
    # the same id without the state dir: the answer says where it looked and what to add
    bare = subprocess.run(
        f"binance-mcp approvals approve {asked.id}",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert bare.returncode == 1
    (line,) = bare.stderr.splitlines()
    assert f"no approval {asked.id} in " in line and "--state-dir" in line and "another dir" in line


# --------------------------------------------------------------------------- the CLI


def run(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BINANCE_MCP, "approvals", *args, "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_list_shows_client_order_id_agent_notional_and_expiry(tmp_path: Path) -> None:
    with open_approval_store(tmp_path) as opened:
        asked = opened.request(**CALL, question=QUESTION, details=details(), pending_ttl_s=1800)
    listed = run("list", state=tmp_path)
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    cells = dict(zip(header.split(), row.split(), strict=False))
    assert cells["ID"] == asked.id and cells["AGENT"] == "research-bot"
    assert cells["CLIENT-ORDER-ID"] == "desk-42"
    assert cells["EXPIRES"] in ("29m", "30m")
    assert "97.5 USDT" in row
    as_json = json.loads(run("list", "--json", state=tmp_path).stdout)
    assert (as_json["client_order_id"], as_json["agent"], as_json["notional"]) == (
        "desk-42",
        "research-bot",
        "97.5 USDT",
    )
    assert as_json["expires_at"].endswith("Z")


def test_revoke_at_the_cli(tmp_path: Path) -> None:
    with open_approval_store(tmp_path) as opened:
        asked = opened.request(**CALL, question=QUESTION, details=details())
    assert run("approve", asked.id, state=tmp_path).returncode == 0
    withdrawn = run("revoke", asked.id, state=tmp_path)
    assert withdrawn.returncode == 0, withdrawn.stderr
    assert withdrawn.stdout.startswith(
        f"withdrew the approval {asked.id} (place_order on testnet for agent research-bot"
    )
    with open_approval_store(tmp_path) as opened:
        assert opened.take(**CALL) is None
        record = opened.get(asked.id)
    assert record is not None and record.revoked_by == f"cli:{getpass.getuser()}"
    assert record.decided_by == f"cli:{getpass.getuser()}"
    again = run("revoke", asked.id, state=tmp_path)
    assert again.returncode == 1 and "already withdrawn" in again.stderr
    decided = run("list", "--decided", state=tmp_path)
    assert " revoked " in decided.stdout and f"cli:{getpass.getuser()}" in decided.stdout
