"""Approvals: canonical arguments, matching, ttl, single use under concurrency, and nonces."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from binance_mcp.account import AccountKey
from binance_mcp.stores.approvals import (
    PENDING_LIFETIME_S,
    ApprovalAlreadyDecided,
    ApprovalExpired,
    ApprovalStore,
    UnknownApproval,
    approvals_path,
    canonical_arguments,
    normalise_approval_id,
    open_approval_store,
)

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ORDER = {"symbol": "btcusdt", "side": "BUY", "type": "LIMIT", "quantity": "0.010", "price": "65000"}
KEY = canonical_arguments(ORDER, drop_client_order_id=True)
CALL: dict[str, Any] = {
    "tool": "place_order",
    "account": str(AccountKey.of("testnet", "key-a")),
    "agent": "bob",
    "arguments_key": KEY,
}
QUESTION = "BUY 0.01 BTCUSDT LIMIT at 65000 (≈650 USDT) on TESTNET — approve?"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ApprovalStore]:
    with open_approval_store(tmp_path) as opened:
        yield opened


def approved(store: ApprovalStore, *, at: datetime = T0, ttl_s: int = 600, **call: Any) -> str:
    request = store.request(**(CALL | call), question=QUESTION, ttl_s=ttl_s, now=at)
    store.approve(request.id, now=at)
    return request.id


# --------------------------------------------------------------------------- canonical arguments


def test_canonical_arguments_sorted_upper_cased_and_normalised() -> None:
    assert KEY == '{"price":"65000","quantity":"0.01","side":"BUY","symbol":"BTCUSDT","type":"LIMIT"}'


@pytest.mark.parametrize("quantity", ["0.01", "0.010", " 0.0100", 0.01, Decimal("0.01000"), Decimal("1E-2")])
def test_every_way_of_writing_a_decimal_is_the_same_key(quantity: Any) -> None:
    assert canonical_arguments(ORDER | {"quantity": quantity}, drop_client_order_id=True) == KEY


def test_large_and_whole_decimals_are_plain_text() -> None:
    key = json.loads(
        canonical_arguments(
            {"price": "6.5E+4", "quantity": 1, "quote_quantity": "100.00"}, drop_client_order_id=True
        )
    )
    assert key == {"price": "65000", "quantity": "1", "quote_quantity": "100"}


def test_different_values_are_different_keys() -> None:
    assert canonical_arguments(ORDER | {"quantity": "0.011"}, drop_client_order_id=True) != KEY
    assert canonical_arguments(ORDER | {"side": "SELL"}, drop_client_order_id=True) != KEY
    assert canonical_arguments(ORDER | {"symbol": "ETHUSDT"}, drop_client_order_id=True) != KEY
    assert canonical_arguments(ORDER | {"time_in_force": "IOC"}, drop_client_order_id=True) != KEY


def test_nulls_and_case_of_enum_words_do_not_matter() -> None:
    same = ORDER | {"side": "buy", "type": "limit", "stop_price": None, "time_in_force": None}
    assert canonical_arguments(same, drop_client_order_id=True) == KEY


def test_a_generated_client_order_id_is_left_out_and_a_callers_kept() -> None:
    generated = canonical_arguments(ORDER | {"client_order_id": "bmcp_abc"}, drop_client_order_id=True)
    assert generated == KEY
    mine = canonical_arguments(ORDER | {"client_order_id": "0010"}, drop_client_order_id=False)
    assert json.loads(mine)["client_order_id"] == "0010"  # kept as written: it is not a number
    assert mine != canonical_arguments(ORDER | {"client_order_id": "0011"}, drop_client_order_id=False)


# --------------------------------------------------------------------------- requests and ids


def test_a_request_is_pending_with_a_short_random_id(tmp_path: Path, store: ApprovalStore) -> None:
    assert store.path == approvals_path(tmp_path)
    approval = store.request(**CALL, question=QUESTION, ttl_s=600, now=T0)
    assert re.fullmatch(r"apr-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}", approval.id)
    assert (approval.status, approval.question, approval.agent, approval.ttl_s) == (
        "pending",
        QUESTION,
        "bob",
        600,
    )
    other = store.request(**(CALL | {"tool": "cancel_order"}), question="cancel?", now=T0)
    assert other.id != approval.id


def test_ids_are_not_derived_from_the_arguments(tmp_path: Path) -> None:
    ids = set()
    for n in range(5):
        (tmp_path / str(n)).mkdir()
        with open_approval_store(tmp_path / str(n)) as fresh:
            ids.add(fresh.request(**CALL, question=QUESTION, now=T0).id)
    assert len(ids) == 5


def test_a_second_identical_request_returns_the_same_pending_approval(store: ApprovalStore) -> None:
    first = store.request(**CALL, question=QUESTION, now=T0)
    again = store.request(**CALL, question=QUESTION, now=T0 + timedelta(minutes=3))
    assert again.id == first.id
    assert [a.id for a in store.list(now=T0)] == [first.id]
    store.deny(first.id, now=T0)
    assert store.request(**CALL, question=QUESTION, now=T0).id != first.id  # asked anew after a denial


def test_ids_are_forgiving_to_type(store: ApprovalStore) -> None:
    approval = store.request(**CALL, question=QUESTION, now=T0)
    body = approval.id[4:].replace("-", "")
    assert normalise_approval_id(body.lower()) == approval.id
    assert normalise_approval_id(f" APR-{body[:4]}-{body[4:]} ") == approval.id
    assert normalise_approval_id("apr-0000-000O") == "apr-0000-0000"  # an O typed for a zero
    assert normalise_approval_id("something else") == "something else"
    assert store.approve(body.lower(), now=T0).status == "approved"


def test_approve_and_deny_errors(store: ApprovalStore) -> None:
    with pytest.raises(UnknownApproval, match="no approval apr-ZZZZ-ZZZZ"):
        store.approve("apr-ZZZZ-ZZZZ")
    first = store.request(**CALL, question=QUESTION, now=T0)
    decided = store.approve(first.id, now=T0)
    assert (decided.status, decided.decided_via, decided.decided_at) == ("approved", "cli", T0)
    withdrawn = store.deny(first.id, now=T0)  # deny after approve withdraws it (issue 10)
    assert withdrawn.status == "revoked"
    with pytest.raises(ApprovalAlreadyDecided, match="already withdrawn"):
        store.approve(first.id, now=T0)
    third = store.request(**(CALL | {"agent": "zed"}), question=QUESTION, now=T0)
    store.approve(third.id, now=T0, by="cli:ann")
    with pytest.raises(ApprovalAlreadyDecided, match=r"already approved at .* by cli:ann"):
        store.approve(third.id, now=T0)
    second = store.request(**(CALL | {"agent": "eve"}), question=QUESTION, now=T0)
    assert store.deny(second.id, now=T0).status == "denied"
    with pytest.raises(ApprovalAlreadyDecided, match="already denied"):
        store.approve(second.id, now=T0)


def test_a_request_nobody_decided_within_a_day_expires(store: ApprovalStore) -> None:
    old = store.request(**CALL, question=QUESTION, now=T0)
    later = T0 + timedelta(seconds=PENDING_LIFETIME_S + 1)
    with pytest.raises(ApprovalExpired):
        store.approve(old.id, now=later)
    assert store.list(now=later) == []
    assert store.request(**CALL, question=QUESTION, now=later).id != old.id


def test_list_shows_pending_by_default_and_everything_on_request(store: ApprovalStore) -> None:
    a = store.request(**CALL, question=QUESTION, now=T0)
    b = store.request(**(CALL | {"agent": "eve"}), question=QUESTION, now=T0 + timedelta(seconds=1))
    store.approve(a.id, now=T0 + timedelta(seconds=2))
    assert [x.id for x in store.list(now=T0)] == [b.id]
    everything = store.list(include_decided=True, now=T0)
    assert [(x.id, x.status) for x in everything] == [(a.id, "approved"), (b.id, "pending")]
    expired_view = everything[0].status_at(T0 + timedelta(seconds=2 + 601))
    assert expired_view == "expired"


# --------------------------------------------------------------------------- take: the only way through


def test_take_allows_one_matching_call_once(store: ApprovalStore) -> None:
    assert store.take(**CALL, now=T0) is None  # nothing approved yet
    pending = store.request(**CALL, question=QUESTION, now=T0)
    assert store.take(**CALL, now=T0) is None  # pending is not approved
    store.approve(pending.id, now=T0)
    taken = store.take(**CALL, now=T0 + timedelta(seconds=10))
    assert taken is not None and taken.id == pending.id and taken.status == "used"
    assert store.take(**CALL, now=T0 + timedelta(seconds=11)) is None  # spent
    assert store.get(pending.id).status == "used"  # type: ignore[union-attr]


def test_a_denied_approval_never_allows(store: ApprovalStore) -> None:
    pending = store.request(**CALL, question=QUESTION, now=T0)
    store.deny(pending.id, now=T0)
    assert store.take(**CALL, now=T0) is None


@pytest.mark.parametrize(
    "other",
    [
        {"tool": "cancel_order"},
        {"account": str(AccountKey.of("mainnet", "key-a"))},
        {"account": str(AccountKey.of("testnet", "key-b"))},
        {"agent": "eve"},
        {"agent": None},
        {"arguments_key": canonical_arguments(ORDER | {"quantity": "0.02"}, drop_client_order_id=True)},
        {
            "arguments_key": canonical_arguments(
                ORDER | {"client_order_id": "mine"}, drop_client_order_id=False
            )
        },
    ],
)
def test_another_call_never_rides_on_an_approval(store: ApprovalStore, other: dict[str, Any]) -> None:
    approved(store)
    assert store.take(**(CALL | other), now=T0) is None
    assert store.take(**CALL, now=T0) is not None  # still there for the call it was made for


def test_the_same_call_written_differently_matches(store: ApprovalStore) -> None:
    approved(store)
    rewritten = {"symbol": "BTCUSDT", "side": "buy", "type": "LIMIT", "quantity": 0.01, "price": "65000.00"}
    key = canonical_arguments(rewritten | {"client_order_id": "bmcp_other"}, drop_client_order_id=True)
    assert store.take(**(CALL | {"arguments_key": key}), now=T0) is not None


@pytest.mark.parametrize(
    ("after", "allowed"), [(0, True), (599, True), (600, True), (601, False), (86400, False)]
)
def test_ttl_counts_from_the_approval(store: ApprovalStore, after: int, allowed: bool) -> None:
    asked = T0 - timedelta(minutes=50)  # the request's age does not matter, the approval's does
    pending = store.request(**CALL, question=QUESTION, ttl_s=600, now=asked)
    store.approve(pending.id, now=T0)
    assert (store.take(**CALL, now=T0 + timedelta(seconds=after)) is not None) is allowed


def test_an_expired_approval_is_never_returned_but_a_fresh_one_is(store: ApprovalStore) -> None:
    approved(store, ttl_s=60)
    late = T0 + timedelta(seconds=61)
    assert store.take(**CALL, now=late) is None
    fresh = approved(store, at=late, ttl_s=60)
    taken = store.take(**CALL, now=late)
    assert taken is not None and taken.id == fresh


def test_two_approvals_allow_two_calls(store: ApprovalStore) -> None:
    first = approved(store)
    second = approved(store)
    assert first != second
    taken = {store.take(**CALL, now=T0).id, store.take(**CALL, now=T0).id}  # type: ignore[union-attr]
    assert taken == {first, second}
    assert store.take(**CALL, now=T0) is None


def test_one_approval_is_taken_exactly_once_by_concurrent_takers(tmp_path: Path) -> None:
    with open_approval_store(tmp_path) as setup:
        approved(setup)
    stores = [open_approval_store(tmp_path) for _ in range(8)]
    start = threading.Barrier(16)
    wins: list[str] = []
    lock = threading.Lock()

    def taker(n: int) -> None:
        start.wait()
        got = stores[n % 8].take(**CALL, now=T0 + timedelta(seconds=1))
        if got is not None:
            with lock:
                wins.append(got.id)

    threads = [threading.Thread(target=taker, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1
    for opened in stores:
        opened.close()


def test_approvals_survive_a_restart_and_are_shared_between_stores(tmp_path: Path) -> None:
    with open_approval_store(tmp_path) as server:
        pending = server.request(**CALL, question=QUESTION, now=T0)
        with open_approval_store(tmp_path) as cli:  # the CLI, another connection
            cli.approve(pending.id, now=T0)
    with open_approval_store(tmp_path) as restarted:
        assert restarted.take(**CALL, now=T0 + timedelta(seconds=5)) is not None


# --------------------------------------------------------------------------- nonces


def test_a_nonce_is_spent_once_and_only_for_its_call(store: ApprovalStore) -> None:
    nonce = store.new_nonce(**CALL, now=T0)
    assert len(nonce) >= 40
    assert store.spend_nonce(nonce, **(CALL | {"agent": "eve"}), now=T0) is False
    assert store.spend_nonce(nonce, **(CALL | {"arguments_key": "{}"}), now=T0) is False
    assert (
        store.spend_nonce(nonce, **(CALL | {"account": str(AccountKey.of("mainnet", "key-a"))}), now=T0)
        is False
    )
    assert store.spend_nonce(nonce, **CALL, now=T0 + timedelta(seconds=1)) is True
    assert store.spend_nonce(nonce, **CALL, now=T0 + timedelta(seconds=2)) is False  # a replayed round
    assert store.spend_nonce("made-up", **CALL, now=T0) is False


@pytest.mark.parametrize(("after", "ok"), [(299, True), (300, True), (301, False)])
def test_a_nonce_expires(store: ApprovalStore, after: int, ok: bool) -> None:
    nonce = store.new_nonce(**CALL, now=T0)
    assert store.spend_nonce(nonce, **CALL, now=T0 + timedelta(seconds=after)) is ok


def test_a_nonce_is_spent_once_by_concurrent_spenders(tmp_path: Path) -> None:
    with open_approval_store(tmp_path) as setup:
        nonce = setup.new_nonce(**CALL, now=T0)
    stores = [ApprovalStore(approvals_path(tmp_path)) for _ in range(8)]
    start = threading.Barrier(8)
    results: list[bool] = []
    lock = threading.Lock()

    def spender(n: int) -> None:
        start.wait()
        spent = stores[n].spend_nonce(nonce, **CALL, now=T0)
        with lock:
            results.append(spent)

    threads = [threading.Thread(target=spender, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]
    for opened in stores:
        opened.close()
