"""The policy file: what is valid, what is refused and where, exact decimals, the committed schema."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from binance_mcp.policy.model import (
    BUNDLED_POLICIES,
    Policy,
    PolicyError,
    bundled_policy_path,
    load_policy_file,
    parse_policy,
    policy_json_schema,
)

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "binance_mcp" / "policies" / "policy.schema.json"

# The example in DESIGN.md, "The policy file", and the agents example of "Streamable HTTP".
DESIGN_EXAMPLE = """
{
  "version": "1",
  "default": "deny",
  "hide": ["cancel_all_orders"],
  "rules": {
    "get_*": { "action": "allow" },
    "place_order": {
      "action": "allow",
      "networks": ["testnet", "mainnet"],
      "rate_limit": { "max": 10, "window": 60 },
      "constraints": {
        "symbols": ["BTCUSDT", "ETHUSDT"],
        "sides": ["BUY", "SELL"],
        "order_types": ["LIMIT"],
        "max_quantity": "0.05",
        "max_notional": "200",
        "max_price_deviation_pct": 5,
        "max_open_orders": 5
      },
      "approve_above_notional": "50",
      "approval_ttl": 600
    },
    "cancel_order": { "action": "deny", "reason": "Cancellations are done by a human." }
  },
  "agents": { "research-bot": { "hide": ["place_order"] } },
  "budgets": { "daily_notional": { "USDT": "500" } }
}
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    return caught.value.errors


def policy_text(**fields: object) -> str:
    return json.dumps({"version": "1", **fields})


# --------------------------------------------------------------------------- valid policies


@pytest.mark.parametrize("name", BUNDLED_POLICIES)
def test_every_bundled_policy_is_valid_and_points_at_the_schema(name: str) -> None:
    path = bundled_policy_path(name)
    policy = load_policy_file(path)
    assert policy.schema_ == "./policy.schema.json"
    assert (path.parent / policy.schema_).resolve() == SCHEMA_FILE


@pytest.mark.parametrize("name", BUNDLED_POLICIES)
def test_every_bundled_policy_passes_the_json_schema(name: str) -> None:
    data = json.loads(bundled_policy_path(name).read_text())
    jsonschema.validate(data, policy_json_schema())


def test_the_design_example_is_valid_and_read_as_written() -> None:
    policy = parse_policy(DESIGN_EXAMPLE)
    place = policy.rules["place_order"]
    assert place.networks == ("testnet", "mainnet")
    assert place.rate_limit is not None and place.rate_limit.scope == "agent"  # the default scope
    assert place.constraints is not None
    assert place.constraints.max_quantity == Decimal("0.05")
    assert place.constraints.max_price_deviation_pct == Decimal(5)
    assert place.approve_above_notional == Decimal("50")
    assert policy.agents["research-bot"].hide == ("place_order",)
    assert policy.budgets.daily_notional == {"USDT": Decimal("500")}
    assert list(policy.rules) == ["get_*", "place_order", "cancel_order"]  # order kept: it breaks ties


def test_the_policylayer_example_means_default_deny_with_cancel_order_hidden() -> None:
    policy = load_policy_file(bundled_policy_path("policylayer-recommended"))
    assert policy.default == "deny"
    assert policy.hide == ("cancel_order",)
    assert policy.rules == {}


def test_default_is_deny_when_left_out() -> None:
    assert parse_policy('{"version": "1"}').default == "deny"


def test_bundled_policy_names_may_carry_json_and_unknown_ones_are_refused() -> None:
    assert bundled_policy_path("default.json") == bundled_policy_path("default")
    with pytest.raises(FileNotFoundError):
        bundled_policy_path("no-such-policy")


# --------------------------------------------------------------------------- exact numbers


def test_json_numbers_are_read_exactly_never_through_a_float() -> None:
    text = policy_text(
        rules={"place_order": {"action": "allow", "constraints": {"max_quantity": 0.1, "max_notional": 1e-8}}}
    )
    constraints = parse_policy(text).rules["place_order"].constraints
    assert constraints is not None
    assert constraints.max_quantity == Decimal("0.1")  # Decimal(0.1) would be 0.1000000000000000055...
    assert str(constraints.max_quantity) == "0.1"
    assert constraints.max_notional == Decimal("1E-8")


def test_decimal_strings_and_integers_are_accepted() -> None:
    text = policy_text(
        rules={"get_price": {"action": "allow", "rate_limit": {"max": 5, "window": 60}}},
        budgets={"daily_notional": {"USDT": 5000, "BTC": "0.25"}},
    )
    policy = parse_policy(text)
    rate_limit = policy.rules["get_price"].rate_limit
    assert rate_limit is not None and rate_limit.window == 60 and rate_limit.window_seconds == 60.0
    assert policy.budgets.daily_notional == {"USDT": Decimal(5000), "BTC": Decimal("0.25")}


def test_symbols_are_upper_cased() -> None:
    text = policy_text(rules={"get_price": {"action": "allow", "constraints": {"symbols": ["btcusdt"]}}})
    constraints = parse_policy(text).rules["get_price"].constraints
    assert constraints is not None and constraints.symbols == ("BTCUSDT",)


# --------------------------------------------------------------------------- invalid policies

PLACE = "rules.place_order"

INVALID: list[tuple[str, str, str]] = [
    # (policy text, the exact place, a part of the message)
    ('{"version": "1", "rulez": {}}', "(top)", 'unknown field "rulez"; did you mean rules?'),
    (
        policy_text(rules={"cancel_ordr": {"action": "deny"}}),
        "rules.cancel_ordr",
        "unknown tool; did you mean cancel_order?",
    ),
    (policy_text(rules={"get_foo*": {"action": "allow"}}), "rules.get_foo*", "matches no tool"),
    (policy_text(hide=["get_price", "get_klines", "cancel_ordr"]), "hide[2]", 'unknown tool "cancel_ordr"'),
    (policy_text(hide=["nothing_*"]), "hide[0]", "matches no tool"),
    (policy_text(default="maybe"), "default", 'must be "allow" or "deny"'),
    ('{"version": 1}', "version", 'must be "1"'),
    ('{"default": "deny"}', "version", "required"),
    (policy_text(rules={"get_price": {"reason": "x"}}), "rules.get_price.action", "required"),
    (policy_text(rules={"get_price": {"action": "permit"}}), "rules.get_price.action", "must be"),
    (
        policy_text(rules={"place_order": {"action": "allow", "constraints": {"max_notional": "abc"}}}),
        f"{PLACE}.constraints.max_notional",
        "not a decimal",
    ),
    (
        policy_text(rules={"place_order": {"action": "allow", "constraints": {"max_quantity": "0"}}}),
        f"{PLACE}.constraints.max_quantity",
        "must be greater than 0",
    ),
    (
        policy_text(rules={"place_order": {"action": "allow", "rate_limit": {"max": 0, "window": 60}}}),
        f"{PLACE}.rate_limit.max",
        "must be at least 1",
    ),
    (
        policy_text(rules={"get_price": {"action": "allow", "rate_limit": {"max": 5, "window": 0}}}),
        "rules.get_price.rate_limit.window",
        "must be at least 1",
    ),
    (
        policy_text(rules={"get_price": {"action": "allow", "rate_limit": {"max": 5, "window": "0.5"}}}),
        "rules.get_price.rate_limit.window",
        "whole number",
    ),
    (
        policy_text(
            rules={"get_price": {"action": "allow", "rate_limit": {"max": 5, "window": 1, "scope": "x"}}}
        ),
        "rules.get_price.rate_limit.scope",
        'must be "session", "agent" or "global"',
    ),
    (
        policy_text(rules={"cancel_order": {"action": "allow", "constraints": {"max_notional": "10"}}}),
        "rules.cancel_order.constraints.max_notional",
        "only place_order and place_order_list take max_notional",
    ),
    (
        policy_text(rules={"get_*": {"action": "allow", "constraints": {"sides": ["BUY"]}}}),
        "rules.get_*.constraints.sides",
        "only place_order and place_order_list take sides",
    ),
    (
        policy_text(rules={"place_order": {"action": "deny", "approve_above_notional": "50"}}),
        f"{PLACE}.approve_above_notional",
        "a deny rule takes only a reason",
    ),
    (
        policy_text(rules={"place_order": {"action": "require_approval", "approve_above_notional": "50"}}),
        f"{PLACE}.approve_above_notional",
        'only a rule with action "allow"',
    ),
    (
        policy_text(rules={"get_price": {"action": "allow", "approval_ttl": 60}}),
        "rules.get_price.approval_ttl",
        "never asks for approval",
    ),
    (
        policy_text(rules={"place_order": {"action": "require_approval", "approval_ttl": 0}}),
        f"{PLACE}.approval_ttl",
        "must be at least 1",
    ),
    (
        policy_text(rules={"place_order": {"action": "require_approval", "approval_ttl": 86401}}),
        f"{PLACE}.approval_ttl",
        "must be at most 86400",
    ),
    (
        policy_text(rules={"place_order": {"action": "allow", "networks": ["testnet", "moon"]}}),
        f"{PLACE}.networks[1]",
        'must be "testnet", "mainnet" or "demo"',
    ),
    (
        policy_text(rules={"place_order": {"action": "allow", "networks": []}}),
        f"{PLACE}.networks",
        "must not be empty",
    ),
    (
        policy_text(rules={"place_order": {"action": "allow", "networks": ["demo", "demo"]}}),
        f"{PLACE}.networks",
        'lists "demo" twice',
    ),
    (
        policy_text(rules={"get_price": {"action": "allow", "constraints": {"symbols": ["BTC/USDT"]}}}),
        "rules.get_price.constraints.symbols[0]",
        '"BTC/USDT" is not a symbol',
    ),
    (
        policy_text(rules={"get_account_info": {"action": "allow", "constraints": {"symbols": ["BTCUSDT"]}}}),
        "rules.get_account_info.constraints.symbols",
        "takes no symbol",
    ),
    (
        policy_text(rules={"place_order": {"action": "allow", "constraints": {"order_types": ["OCO"]}}}),
        f"{PLACE}.constraints.order_types[0]",
        "must be",
    ),
    (
        policy_text(rules={"place_order": {"action": "allow", "constraints": {"max_open_orders": -1}}}),
        f"{PLACE}.constraints.max_open_orders",
        "must be at least 0",
    ),
    (
        policy_text(rules={"place_order": {"action": "allow", "constraints": {"max_open_orders": 2.5}}}),
        f"{PLACE}.constraints.max_open_orders",
        "must be a whole number",
    ),
    (
        policy_text(rules={"place_order": {"action": "allow", "dry_run": "yes"}}),
        f"{PLACE}.dry_run",
        "must be true or false",
    ),
    (
        policy_text(rules={"get_price": {"action": "allow", "dry_run": True}}),
        "rules.get_price.dry_run",
        "only place_order and place_order_list take dry_run",
    ),
    (
        policy_text(rules={"get_price": {"action": "allow", "reason": None}}),
        "rules.get_price.reason",
        "must not be null",
    ),
    (
        policy_text(
            rules={"place_order": {"action": "allow", "constraints": {"max_notional": "10", "limit": 1}}}
        ),
        f"{PLACE}.constraints",
        'unknown field "limit"',
    ),
    (policy_text(agents={"bad name!": {}}), "agents.bad name!", "an agent name is 1 to 64"),
    (
        policy_text(agents={"bob": {"rules": {"plce_order": {"action": "deny"}}}}),
        "agents.bob.rules.plce_order",
        "did you mean place_order?",
    ),
    (policy_text(agents={"bob": {"hide": 5}}), "agents.bob.hide", "must be a list"),
    (policy_text(budgets={"daily_notional": {"usdt": "5"}}), "budgets.daily_notional.usdt", "not an asset"),
    (
        policy_text(budgets={"daily_notional": {"USDT": "-5"}}),
        "budgets.daily_notional.USDT",
        "must not be negative",
    ),
    (policy_text(budgets={"weekly_notional": {}}), "budgets", 'unknown field "weekly_notional"'),
    (policy_text(rules=[]), "rules", "must be an object"),
    (
        '{"version": "1", "rules": {"get_price": {"action": "allow"}, "get_price": {"action": "deny"}}}',
        "rules",
        '"get_price" is given more than once',
    ),
    (
        '{"version": "1", "budgets": {"daily_notional": {"USDT": NaN}}}',
        "budgets.daily_notional.USDT",
        "not a decimal",
    ),
    ('{"version": "1",\n  "rules": {,}}', "line 2, column 13", "not valid JSON"),
    ("[]", "(top)", "a policy is a JSON object"),
]


@pytest.mark.parametrize(
    ("text", "place", "message"), INVALID, ids=[f"{i:02d}-{case[1]}" for i, case in enumerate(INVALID)]
)
def test_an_invalid_policy_is_refused_naming_the_place(text: str, place: str, message: str) -> None:
    errors = errors_of(text)
    matching = [error for error in errors if error.startswith(f"{place}: ")]
    assert matching, f"no error at {place!r} in {errors}"
    assert any(message in error for error in matching), errors


def test_the_exact_lines_of_the_examples_in_the_brief() -> None:
    assert errors_of(policy_text(rules={"cancel_ordr": {"action": "deny"}})) == [
        "rules.cancel_ordr: unknown tool; did you mean cancel_order?"
    ]
    text = policy_text(rules={"place_order": {"action": "allow", "constraints": {"max_notional": "abc"}}})
    assert errors_of(text) == ["rules.place_order.constraints.max_notional: not a decimal"]
    assert errors_of(policy_text(default="maybe")) == ['default: is "maybe": must be "allow" or "deny"']


def test_every_error_is_reported_in_file_order_one_line_each() -> None:
    text = """{
      "version": "1",
      "default": "sometimes",
      "hide": ["get_prize"],
      "rules": {
        "get_foo*": {"action": "allow"},
        "place_order": {"action": "allow", "rate_limit": {"max": 0, "window": "x"}}
      },
      "extra": true
    }"""
    errors = errors_of(text)
    assert [error.split(": ")[0] for error in errors] == [
        "default",
        "hide[0]",
        "rules.get_foo*",
        "rules.place_order.rate_limit.max",
        "rules.place_order.rate_limit.window",
        "(top)",
    ]
    assert all("\n" not in error for error in errors)


def test_a_policy_error_says_where_the_policy_came_from(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(policy_text(default="maybe"))
    with pytest.raises(PolicyError) as caught:
        load_policy_file(path)
    assert caught.value.source == str(path)
    assert str(path) in str(caught.value) and 'default: is "maybe": must be "allow" or "deny"' in str(
        caught.value
    )


def test_a_missing_file_is_an_os_error_not_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_policy_file(tmp_path / "nope.json")


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"version": "1", "rules": {"get_price": {"action": "allow", "reason": "\xe9"}}}')
    with pytest.raises(PolicyError) as caught:
        load_policy_file(path)
    assert caught.value.errors == ["(top): not UTF-8 text"]


def test_a_policy_built_in_python_is_checked_too() -> None:
    with pytest.raises(ValidationError, match="only place_order and place_order_list take max_notional"):
        Policy.model_validate(
            {"version": "1", "rules": {"get_price": {"action": "allow", "constraints": {"max_notional": 5}}}}
        )


def test_a_policy_is_immutable() -> None:
    policy = parse_policy(DESIGN_EXAMPLE)
    with pytest.raises(ValidationError):
        policy.default = "allow"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        policy.rules["place_order"].action = "deny"  # type: ignore[misc]
    assert isinstance(policy.hide, tuple)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=8)
    | st.sampled_from(["get_*", "place_order", "1"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "version",
                    "default",
                    "hide",
                    "rules",
                    "agents",
                    "budgets",
                    "action",
                    "rate_limit",
                    "constraints",
                    "networks",
                    "max",
                    "window",
                    "symbols",
                    "max_notional",
                    "get_price",
                    "place_order",
                    "get_*",
                    "x",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_any_json_gives_a_policy_or_readable_errors_never_a_crash(data: object) -> None:
    try:
        parse_policy(json.dumps(data))
    except PolicyError as exc:
        assert exc.errors
        for error in exc.errors:
            place, _, message = error.partition(": ")
            assert place and message and "\n" not in error
            assert "Input should" not in message and "validation error" not in message


# --------------------------------------------------------------------------- the JSON Schema


def test_the_committed_schema_is_current() -> None:
    committed = json.loads(SCHEMA_FILE.read_text())
    assert committed == policy_json_schema(), (
        "policies/policy.schema.json is stale: regenerate it with "
        "`python -c 'from binance_mcp.commands.policy import main; main([\"schema\"])' "
        "> binance_mcp/policies/policy.schema.json`"
    )


def test_the_schema_has_a_title_descriptions_and_refuses_unknown_fields() -> None:
    schema = policy_json_schema()
    assert schema["title"] == "binance-mcp policy"
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["additionalProperties"] is False
    assert "description" in schema["properties"]["default"]
    assert set(schema["properties"]) == {
        "$schema",
        "version",
        "default",
        "hide",
        "rules",
        "agents",
        "budgets",
        "approvals",
        "max_weight_share_pct",
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"version": "1", "rulez": {}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"version": "1", "rules": {"cancel_ordr": {"action": "deny"}}}, schema)
    jsonschema.validate(json.loads(DESIGN_EXAMPLE), schema)
