"""Constraints: each bound at, just under and just over its limit, with the exact sentence and path."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from binance_mcp.policy.constraints import (
    CONSTRAINT_ORDER,
    ConstraintViolation,
    check_constraints,
    needs_approval_above,
)
from binance_mcp.policy.engine import PolicyEngine
from binance_mcp.policy.model import Constraints, parse_policy

D = Decimal


def path_of(field: str) -> str:
    return f"rules.place_order.constraints.{field}"


def check(constraints: dict[str, Any], **call: Any) -> ConstraintViolation | None:
    order: dict[str, Any] = {"tool": "place_order", "symbol": "BTCUSDT", "side": "BUY", "order_type": "LIMIT"}
    return check_constraints(Constraints(**constraints), path_of, **(order | call))


def refused(constraints: dict[str, Any], **call: Any) -> tuple[str, str]:
    violation = check(constraints, **call)
    assert violation is not None, "expected a refusal"
    return violation.rule, violation.reason


# --------------------------------------------------------------------------- symbols, sides, types


def test_symbols_allow_a_listed_symbol_in_any_case() -> None:
    assert check({"symbols": ["BTCUSDT", "ETHUSDT"]}, symbol="ethusdt") is None


def test_symbols_refuse_another_naming_the_allowed_ones() -> None:
    assert refused({"symbols": ["BTCUSDT", "ETHUSDT"]}, symbol="DOGEUSDT") == (
        "rules.place_order.constraints.symbols",
        "symbol DOGEUSDT is not allowed: this rule allows BTCUSDT, ETHUSDT",
    )


def test_a_call_without_a_symbol_is_refused_when_the_rule_sets_symbols() -> None:
    violation = check_constraints(
        Constraints(symbols=["BTCUSDT", "ETHUSDT"]),
        lambda field: f"rules.get_open_orders.constraints.{field}",
        tool="get_open_orders",
        symbol=None,
    )
    assert violation == ConstraintViolation(
        rule="rules.get_open_orders.constraints.symbols",
        reason="get_open_orders without a symbol is refused: this rule allows only BTCUSDT, ETHUSDT; name one",
        bound="symbols",
    )


def test_sides_and_order_types() -> None:
    assert check({"sides": ["BUY"]}, side="BUY") is None
    assert refused({"sides": ["BUY"]}, side="sell") == (
        path_of("sides"),
        "side SELL is not allowed: this rule allows BUY",
    )
    assert check({"order_types": ["LIMIT", "MARKET"]}, order_type="MARKET") is None
    assert refused({"order_types": ["LIMIT"]}, order_type="MARKET") == (
        path_of("order_types"),
        "order type MARKET is not allowed: this rule allows LIMIT",
    )


# --------------------------------------------------------------------------- max_quantity


@pytest.mark.parametrize(
    ("quantity", "ok"), [("0.049", True), ("0.05", True), ("0.050", True), ("0.051", False)]
)
def test_max_quantity_at_under_and_over(quantity: str, ok: bool) -> None:
    violation = check({"max_quantity": "0.05"}, quantity=D(quantity))
    if ok:
        assert violation is None
    else:
        assert violation is not None
        assert (violation.rule, violation.reason) == (
            path_of("max_quantity"),
            "quantity 0.051 exceeds max_quantity 0.05",
        )


def test_max_quantity_of_a_market_order_by_quote_quantity_is_estimated_at_the_current_price() -> None:
    common = {"order_type": "MARKET", "quantity": None, "quote_asset": "USDT", "reference_price": D("65000")}
    assert check({"max_quantity": "0.05"}, notional=D("3250"), **common) is None  # exactly 0.05
    assert refused({"max_quantity": "0.05"}, notional=D("6000"), **common) == (
        path_of("max_quantity"),
        "quantity ≈0.09 (6000 USDT at the current price 65000) exceeds max_quantity 0.05",
    )


def test_max_quantity_without_any_quantity_fails_closed() -> None:
    assert refused({"max_quantity": "1"}, quantity=None, notional=None) == (
        path_of("max_quantity"),
        "the order's quantity is unknown, so max_quantity 1 cannot be checked",
    )


# --------------------------------------------------------------------------- max_notional


@pytest.mark.parametrize(
    ("notional", "ok"), [("99.99", True), ("100", True), ("100.00", True), ("100.01", False)]
)
def test_max_notional_at_under_and_over(notional: str, ok: bool) -> None:
    violation = check({"max_notional": "100"}, notional=D(notional), quote_asset="USDT")
    assert (violation is None) is ok
    if not ok:
        assert violation is not None
        assert violation.reason == "notional 100.01 USDT exceeds max_notional 100 USDT"
        assert violation.rule == "rules.place_order.constraints.max_notional"
        assert violation.bound == "max_notional"


def test_max_notional_names_value_and_limit() -> None:
    assert refused({"max_notional": "100"}, notional=D("6000"), quote_asset="USDT")[1] == (
        "notional 6000 USDT exceeds max_notional 100 USDT"
    )


def test_max_notional_with_an_unknown_notional_fails_closed() -> None:
    assert refused({"max_notional": "100"}, order_type="MARKET", notional=None, quote_asset="USDT") == (
        path_of("max_notional"),
        "the order's notional is unknown, so max_notional 100 USDT cannot be checked",
    )


# --------------------------------------------------------------------------- max_price_deviation_pct


def test_price_deviation_example_from_the_brief() -> None:
    assert refused({"max_price_deviation_pct": 5}, price=D("70000"), reference_price=D("65000")) == (
        path_of("max_price_deviation_pct"),
        "price 70000 is 7.69% from the current price 65000, over max_price_deviation_pct 5",
    )


@pytest.mark.parametrize(
    ("price", "ok"),
    [
        ("68249.99", True),  # 4.99998 %
        ("68250", True),  # exactly 5 %
        ("61750", True),  # exactly 5 % below
        ("68250.01", False),  # 5.0000154 %
        ("61749.99", False),
    ],
)
def test_price_deviation_at_under_and_over_both_ways(price: str, ok: bool) -> None:
    violation = check({"max_price_deviation_pct": "5"}, price=D(price), reference_price=D("65000"))
    assert (violation is None) is ok


def test_a_deviation_just_over_the_bound_is_shown_with_enough_digits() -> None:
    reason = refused({"max_price_deviation_pct": "5"}, price=D("68250.01"), reference_price=D("65000"))[1]
    assert reason == "price 68250.01 is 5.00002% from the current price 65000, over max_price_deviation_pct 5"


def test_a_market_order_has_no_price_to_bound() -> None:
    assert (
        check({"max_price_deviation_pct": "1"}, order_type="MARKET", price=None, reference_price=D("1"))
        is None
    )


def test_price_deviation_without_a_current_price_fails_closed() -> None:
    assert refused({"max_price_deviation_pct": "5"}, price=D("1"), reference_price=None)[1] == (
        "the current price is unknown, so max_price_deviation_pct 5 cannot be checked"
    )


# --------------------------------------------------------------------------- max_open_orders


@pytest.mark.parametrize(("open_orders", "ok"), [(0, True), (2, True), (3, False), (4, False)])
def test_max_open_orders_counts_orders_before_this_one(open_orders: int, ok: bool) -> None:
    violation = check({"max_open_orders": 3}, open_orders=open_orders)
    assert (violation is None) is ok
    if not ok:
        assert violation is not None
        assert violation.rule == path_of("max_open_orders")
        assert (
            violation.reason
            == f"{open_orders} orders are open on this account (all symbols), max_open_orders is 3"
        )


def test_max_open_orders_sentence_for_one_and_zero() -> None:
    assert (
        refused({"max_open_orders": 1}, open_orders=1)[1]
        == "1 order is open on this account (all symbols), max_open_orders is 1"
    )
    assert (
        refused({"max_open_orders": 0}, open_orders=0)[1]
        == "0 orders are open on this account (all symbols), max_open_orders is 0"
    )


def test_max_open_orders_without_a_count_fails_closed() -> None:
    assert refused({"max_open_orders": 5}, open_orders=None)[1] == (
        "the account's open orders could not be counted, so max_open_orders 5 cannot be checked"
    )


# --------------------------------------------------------------------------- all together


def test_every_bound_holding_passes() -> None:
    everything = {
        "symbols": ["BTCUSDT"],
        "sides": ["BUY", "SELL"],
        "order_types": ["LIMIT"],
        "max_quantity": "0.05",
        "max_notional": "4000",
        "max_price_deviation_pct": "5",
        "max_open_orders": 5,
    }
    assert (
        check(
            everything,
            quantity=D("0.05"),
            price=D("65000"),
            notional=D("3250"),
            quote_asset="USDT",
            reference_price=D("64000"),
            open_orders=4,
        )
        is None
    )


def test_bounds_are_checked_in_a_fixed_order_and_the_first_broken_one_is_reported() -> None:
    assert CONSTRAINT_ORDER == (
        "symbols",
        "sides",
        "order_types",
        "max_quantity",
        "max_notional",
        "max_price_deviation_pct",
        "max_open_orders",
    )
    everything_broken = {
        "symbols": ["ETHUSDT"],
        "sides": ["SELL"],
        "order_types": ["MARKET"],
        "max_quantity": "0.01",
        "max_notional": "10",
        "max_price_deviation_pct": "1",
        "max_open_orders": 0,
    }
    call = {
        "quantity": D("1"),
        "price": D("70000"),
        "notional": D("70000"),
        "reference_price": D("60000"),
        "open_orders": 9,
    }
    seen = []
    constraints = dict(everything_broken)
    for bound in CONSTRAINT_ORDER:
        violation = check(constraints, **call)
        assert violation is not None
        seen.append(violation.bound)
        constraints.pop(bound)
    assert seen == list(CONSTRAINT_ORDER)
    assert check(constraints, **call) is None


def test_no_constraints_and_unset_bounds_allow_everything() -> None:
    assert check_constraints(None, path_of, tool="place_order", symbol=None) is None
    assert check({}, quantity=None, notional=None, open_orders=None) is None


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError, match="never a float"):
        check({"max_notional": "100"}, notional=99.5)  # type: ignore[arg-type]


def test_paths_come_from_the_engine_decision() -> None:
    policy = parse_policy(
        '{"version": "1", "rules": {"place_order": {"action": "allow",'
        ' "constraints": {"max_notional": "100"}}},'
        ' "agents": {"bob": {"rules": {"place_*": {"action": "allow", "constraints": {"max_notional": "5"}}}}}}'
    )
    engine = PolicyEngine(policy)
    for agent, path in ((None, "rules.place_order"), ("bob", "agents.bob.rules.place_*")):
        decision = engine.decide("place_order", agent, "testnet")
        violation = check_constraints(
            decision.constraints,
            decision.constraint_path,
            tool="place_order",
            symbol="BTCUSDT",
            notional=D("6000"),
            quote_asset="USDT",
        )
        assert violation is not None
        assert violation.rule == f"{path}.constraints.max_notional"


# --------------------------------------------------------------------------- approve_above_notional


@pytest.mark.parametrize(
    ("bound", "notional", "needed"),
    [
        (None, D("1000000"), False),
        (D("50"), D("49.99"), False),
        (D("50"), D("50"), False),
        (D("50"), D("50.000"), False),
        (D("50"), D("50.01"), True),
        (D("50"), None, True),  # a MARKET order nobody could price: ask
        (D("0"), D("0.01"), True),
    ],
)
def test_needs_approval_above(bound: Decimal | None, notional: Decimal | None, needed: bool) -> None:
    assert needs_approval_above(bound, notional) is needed
