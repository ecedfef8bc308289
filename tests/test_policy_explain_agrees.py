"""`policy explain` agrees with what the server does, for generated policies and orders: the
decision, every constraint and the approval threshold that `explain --json` states predict the
server's answer to a `place_order` through `mcp.Client` (refused by the policy, asking a human,
or placed), and a `place_order_list` without a rule of its own is held to place_order's rule."""

from __future__ import annotations

import json
from decimal import ROUND_DOWN, Decimal
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, event, given, reject, settings
from hypothesis import strategies as st
from mcp import Client

from binance_mcp.commands.policy import explain_json
from binance_mcp.policy.engine import PolicyEngine
from binance_mcp.policy.model import parse_policy
from tests.fake_binance import FakeBinance

PRICES = {"BTCUSDT": Decimal("65000"), "ETHUSDT": Decimal("3500")}
QUANTITIES = {"BTCUSDT": ["0.001", "0.004", "0.01"], "ETHUSDT": ["0.02", "0.1", "0.3"]}
ORDER_TYPES = ["LIMIT", "MARKET", "LIMIT_MAKER"]


def subset(values: list[str]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(values), min_size=1, max_size=len(values), unique=True)


constraints = st.fixed_dictionaries(
    {},
    optional={
        "symbols": subset(list(PRICES)),
        "sides": subset(["BUY", "SELL"]),
        "order_types": subset(ORDER_TYPES),
        "max_quantity": st.sampled_from(["0.005", "0.05", "0.2"]),
        "max_notional": st.sampled_from(["100", "500", "1000"]),
        "max_price_deviation_pct": st.sampled_from(["1", "5"]),
    },
)


@st.composite
def order_rules(draw: Any) -> dict[str, Any]:
    action = draw(st.sampled_from(["allow", "allow", "allow", "require_approval", "deny"]))
    rule: dict[str, Any] = {"action": action}
    if action == "deny":
        return rule
    found = draw(constraints)
    if found:
        rule["constraints"] = found
    if action == "allow" and draw(st.booleans()):
        rule["approve_above_notional"] = draw(st.sampled_from(["50", "300", "2000"]))
    return rule


@st.composite
def policies(draw: Any) -> dict[str, Any]:
    key = draw(st.sampled_from(["place_order", "place_order", "place_*", "*"]))
    rules = {key: draw(order_rules())}
    if key == "place_order" and draw(st.booleans()):
        rules["*"] = {"action": "allow"}  # a glob never reopens what place_order's rule closes
    # one server answers every example, and the requests for approval they open stay waiting: room
    # for all of them (the cap on one agent's waiting requests has tests of its own, test_fair_use)
    approvals = {"max_pending_per_agent": 1000}
    return {
        "version": "1",
        "default": draw(st.sampled_from(["allow", "deny"])),
        "rules": rules,
        "approvals": approvals,
    }


@st.composite
def orders(draw: Any) -> dict[str, Any]:
    symbol = draw(st.sampled_from(list(PRICES)))
    side = draw(st.sampled_from(["BUY", "SELL"]))
    kind = draw(st.sampled_from(ORDER_TYPES))
    order = {
        "symbol": symbol,
        "side": side,
        "type": kind,
        "quantity": draw(st.sampled_from(QUANTITIES[symbol])),
    }
    if kind != "MARKET":
        pct = Decimal(draw(st.sampled_from(["0.5", "3"])))
        if kind == "LIMIT_MAKER":  # never crosses: below the market to buy, above it to sell
            pct = -pct if side == "BUY" else pct
        elif draw(st.booleans()):
            pct = -pct
        price = PRICES[symbol] * (1 + pct / 100)
        order["price"] = str(price.quantize(Decimal("0.01"), rounding=ROUND_DOWN))
    return order


def predicted(row: dict[str, Any], legs: list[dict[str, Any]], notional: Decimal) -> tuple[str, str | None]:
    """What `policy explain --json` says the server does with an order of these legs, valued at
    `notional`: (outcome, the deciding rule where it names one)."""
    if row["decision"] == "deny":
        return "policy_denied", row["rule"]
    for bounds in row["constraints"]:
        for leg in legs:
            quantity = Decimal(leg["quantity"])
            reference = PRICES[leg["symbol"]]
            price = Decimal(leg["price"]) if "price" in leg else None
            checks = [
                ("symbols", lambda v, leg=leg: leg["symbol"] in v),
                ("sides", lambda v, leg=leg: leg["side"] in v),
                ("order_types", lambda v, leg=leg: leg["type"] in v),
                ("max_quantity", lambda v, q=quantity: q <= Decimal(v)),
                ("max_notional", lambda v: notional <= Decimal(v)),
                ("max_price_deviation_pct", lambda v, p=price, r=reference: p is None or abs(p - r) * 100 <= Decimal(v) * r),
            ]  # fmt: skip
            for field, holds in checks:
                if field in bounds and not holds(bounds[field]):
                    return "policy_denied", f"{bounds['rule']}.constraints.{field}"
    if row["decision"] == "require_approval":
        return "approval_required", row["rule"]
    bound = row["approve_above_notional"]
    if bound is not None and notional > Decimal(bound):
        return "approval_required", None
    return "placed", None


def value(leg: dict[str, Any]) -> Decimal:
    return Decimal(leg["quantity"]) * Decimal(leg.get("price", PRICES[leg["symbol"]]))


async def answer(app: Any, tool: str, arguments: dict[str, Any]) -> tuple[str, str | None]:
    async with Client(app.server) as client:
        result = await client.call_tool(tool, arguments)
    content = result.structured_content or {}
    if not result.is_error:
        return "placed", None
    return content.get("error", "?"), content.get("rule")


@pytest.fixture
def server(build: Any) -> Any:
    """One server for every example of the test: each example puts its own policy in force."""
    return build({"version": "1", "default": "allow"})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(policy=policies(), order=orders())
def test_explain_predicts_what_the_server_does_with_an_order(
    server: Any, fake: FakeBinance, policy: dict[str, Any], order: dict[str, Any]
) -> None:
    for asset, amount in (("USDT", "100000000"), ("BTC", "1000"), ("ETH", "100000")):
        fake.set_balance(asset, amount)
    for symbol, price in PRICES.items():
        fake.set_price(symbol, str(price))
    app = server
    engine = PolicyEngine(parse_policy(json.dumps(policy)))
    app.guard.install(engine)
    said = {row["tool"]: row for row in explain_json(engine, "testnet")["tools"]}

    expected = predicted(said["place_order"], [order], value(order))
    outcome, rule = anyio.run(answer, app, "place_order", order)
    event(f"place_order {outcome}")
    if (
        outcome == "invalid_arguments"
    ):  # the exchange's filters (the band moves as orders fill), not the policy's
        reject()
    assert outcome == expected[0], (policy, order, rule)
    if expected[1] is not None:
        assert rule == expected[1]

    # place_order_list has no rule of its own name: explain says place_order's rule holds on it (on
    # top of a glob's, or denied by a default deny), and the server holds an OTO to what explain
    # says, every leg, valued as its largest single execution
    listed = said["place_order_list"]
    if listed["rule"] == "default":
        assert listed["decision"] == "deny" and policy["default"] == "deny"
    else:
        assert said["place_order"]["rule"] in listed["rules"]
        assert all(bounds in listed["constraints"] for bounds in said["place_order"]["constraints"])
    if order["type"] == "LIMIT" and order["side"] == "BUY":
        pending = {
            "symbol": order["symbol"], "side": "SELL", "type": "LIMIT", "quantity": order["quantity"],
            "price": str((Decimal(order["price"]) * Decimal("1.002")).quantize(Decimal("0.01"))),
        }  # fmt: skip
        oto = {"symbol": order["symbol"], "type": "OTO", "legs": [
            {"side": "BUY", "type": "LIMIT", "quantity": order["quantity"], "price": order["price"]},
            {"side": "SELL", "type": "LIMIT", "quantity": order["quantity"], "price": pending["price"]},
        ]}  # fmt: skip
        # the money model: bounds and approval compare the largest single execution (README)
        expected_list = predicted(listed, [order, pending], max(value(order), value(pending)))
        outcome, rule = anyio.run(answer, app, "place_order_list", oto)
        event(f"place_order_list {outcome}")
        if outcome == "invalid_arguments":  # as above: a filter, which explain does not speak of
            reject()
        assert outcome == expected_list[0], (policy, oto, rule)
