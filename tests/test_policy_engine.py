"""Decisions: precedence, networks, hiding, the paths named in refusals, and a reference model."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binance_mcp.policy.engine import Decision, PolicyEngine
from binance_mcp.policy.model import NETWORKS, bundled_policy_path, load_policy_file, parse_policy
from binance_mcp.tools.names import TOOL_NAMES


def engine_for(**fields: Any) -> PolicyEngine:
    return PolicyEngine(parse_policy(json.dumps({"version": "1", **fields})))


def decide(engine: PolicyEngine, tool: str, agent: str | None = None, network: str = "testnet") -> Decision:
    return engine.decide(tool, agent, network)


# --------------------------------------------------------------------------- precedence


def test_the_exact_name_wins_over_any_glob() -> None:
    engine = engine_for(
        rules={"*": {"action": "deny"}, "get_price": {"action": "allow"}, "get_*": {"action": "deny"}}
    )
    decision = decide(engine, "get_price")
    assert (decision.action, decision.rule_path) == ("allow", "rules.get_price")


def test_the_longer_glob_wins() -> None:
    engine = engine_for(rules={"get_*": {"action": "allow"}, "get_order_*": {"action": "deny"}})
    assert decide(engine, "get_order_history").rule_path == "rules.get_order_*"
    assert decide(engine, "get_klines").rule_path == "rules.get_*"


def test_of_equally_long_globs_the_first_written_wins() -> None:
    first = engine_for(rules={"*_orders": {"action": "deny"}, "cancel_*": {"action": "allow"}})
    second = engine_for(rules={"cancel_*": {"action": "allow"}, "*_orders": {"action": "deny"}})
    assert decide(first, "cancel_all_orders").action == "deny"
    assert decide(second, "cancel_all_orders").action == "allow"


def test_default_decides_what_no_rule_names() -> None:
    deny = decide(engine_for(rules={"get_*": {"action": "allow"}}), "place_order")
    assert (deny.action, deny.rule_path) == ("deny", "default")
    assert deny.reason == "no rule allows place_order and the policy's default is deny"
    allow = decide(engine_for(default="allow"), "place_order")
    assert (allow.action, allow.rule_path, allow.rule) == ("allow", "default", None)


def test_an_agents_rules_come_before_the_top_level_ones_even_a_glob_before_an_exact_name() -> None:
    engine = engine_for(
        rules={"place_order": {"action": "allow"}, "get_price": {"action": "allow"}},
        agents={"bob": {"rules": {"place_*": {"action": "deny", "reason": "research only"}}}},
    )
    bob = decide(engine, "place_order", "bob")
    assert (bob.action, bob.rule_path, bob.reason) == ("deny", "agents.bob.rules.place_*", "research only")
    assert decide(engine, "get_price", "bob").rule_path == "rules.get_price"  # no agent rule: top level
    assert decide(engine, "place_order", "alice").rule_path == "rules.place_order"  # not in the policy
    assert decide(engine, "place_order", None).rule_path == "rules.place_order"


def test_a_rule_without_the_current_network_denies_saying_where_the_tool_may_run() -> None:
    engine = engine_for(rules={"place_order": {"action": "allow", "networks": ["testnet", "demo"]}})
    assert decide(engine, "place_order", network="testnet").allowed
    refused = decide(engine, "place_order", network="mainnet")
    assert (refused.action, refused.rule_path) == ("deny", "rules.place_order.networks")
    assert refused.reason == "place_order may run only on testnet and demo, not on mainnet"
    assert refused.rate_limit is None and refused.constraints is None


def test_a_network_refusal_does_not_fall_through_to_a_lower_rule() -> None:
    engine = engine_for(
        default="allow",
        rules={"*": {"action": "allow"}},
        agents={"bob": {"rules": {"get_price": {"action": "allow", "networks": ["testnet"]}}}},
    )
    assert decide(engine, "get_price", "bob", "mainnet").rule_path == "agents.bob.rules.get_price.networks"


# --------------------------------------------------------------------------- hiding


def test_hidden_tools_top_level_and_per_agent() -> None:
    engine = engine_for(
        default="allow", hide=["cancel_*"], agents={"bob": {"hide": ["place_order"]}, "eve": {"hide": ["*"]}}
    )
    assert engine.hidden_tools(None) == {"cancel_order", "cancel_all_orders", "cancel_order_list"}
    assert engine.hidden_tools("bob") == {
        "cancel_order",
        "cancel_all_orders",
        "cancel_order_list",
        "place_order",
    }
    assert engine.hidden_tools("eve") == frozenset(TOOL_NAMES)
    assert engine.hidden_tools("stranger") == engine.hidden_tools(None)
    assert engine.is_hidden("place_order", "bob") and not engine.is_hidden("place_order", None)
    assert engine.visible_tools("bob") == tuple(
        name for name in TOOL_NAMES if name not in engine.hidden_tools("bob")
    )
    assert "get_order_history" in engine.visible_tools("bob")


def test_a_hidden_tool_is_denied_whatever_its_rule_says() -> None:
    engine = engine_for(
        hide=["cancel_order"], rules={"*": {"action": "allow"}}, agents={"bob": {"hide": ["get_price"]}}
    )
    hidden = decide(engine, "cancel_order")
    assert (hidden.action, hidden.hidden, hidden.rule_path) == ("deny", True, "hide")
    assert decide(engine, "get_price", "bob").rule_path == "agents.bob.hide"
    assert decide(engine, "get_price", None).allowed


# --------------------------------------------------------------------------- what a decision carries


def test_the_paths_that_refusals_name() -> None:
    engine = engine_for(
        rules={
            "get_*": {"action": "allow"},
            "get_price": {"action": "allow", "rate_limit": {"max": 5, "window": 1, "scope": "global"}},
            "place_order": {
                "action": "allow",
                "constraints": {"max_notional": "100"},
                "approve_above_notional": "50",
                "approval_ttl": 30,
            },
            "cancel_order": {"action": "deny", "reason": "Cancellations are done by a human."},
        }
    )
    price = decide(engine, "get_price")
    assert price.rate_limit is not None and price.rate_limit.max == 5 and price.rate_limit.scope == "global"
    assert price.rate_limit_path == "rules.get_price.rate_limit"
    assert decide(engine, "get_klines").rule_path == "rules.get_*"
    order = decide(engine, "place_order")
    assert order.constraint_path("max_notional") == "rules.place_order.constraints.max_notional"
    assert order.approve_above_notional == Decimal("50")
    assert order.approve_above_notional_path == "rules.place_order.approve_above_notional"
    assert order.approval_ttl == 30
    cancel = decide(engine, "cancel_order")
    assert (cancel.action, cancel.rule_path, cancel.reason) == (
        "deny",
        "rules.cancel_order",
        "Cancellations are done by a human.",
    )


def test_require_approval_always_says_why() -> None:
    engine = engine_for(rules={"cancel_*": {"action": "require_approval"}})
    decision = decide(engine, "cancel_order")
    assert decision.needs_approval and not decision.allowed
    assert decision.reason == "cancel_order needs a human's approval"
    assert decision.approval_ttl == 600


def test_a_glob_gives_each_tool_only_the_bounds_that_apply_to_it() -> None:
    engine = engine_for(
        rules={
            "*": {
                "action": "allow",
                "constraints": {"symbols": ["BTCUSDT"], "max_notional": "10"},
                "approve_above_notional": "5",
                "dry_run": True,
            }
        }
    )
    order = decide(engine, "place_order")
    assert order.constraints is not None and order.constraints.max_notional == Decimal("10")
    assert order.dry_run and order.approve_above_notional == Decimal("5")
    assert order.constraints_path == "rules.*.constraints"
    cancel = decide(engine, "cancel_order")
    assert cancel.constraints is not None
    assert cancel.constraints.symbols == ("BTCUSDT",) and cancel.constraints.max_notional is None
    # a glob's dry_run keeps every tool it matches from changing the account: cancels are refused
    assert cancel.dry_run and cancel.dry_run_refused and cancel.approve_above_notional is None
    account = decide(engine, "get_account_info")  # takes no symbol: nothing applies
    assert account.constraints is None and account.constraints_path is None


def test_budgets() -> None:
    engine = PolicyEngine(load_policy_file(bundled_policy_path("testnet-trader")))
    budget = engine.budget("USDT")
    assert budget is not None and budget.daily_notional == Decimal(5000)
    assert budget.path == "budgets.daily_notional.USDT"
    assert engine.budget("BTC") is None


def test_unknown_tools_and_networks_raise_so_that_the_guard_fails_closed() -> None:
    engine = engine_for(default="allow")
    with pytest.raises(ValueError, match="unknown tool"):
        engine.decide("withdraw", None, "testnet")
    with pytest.raises(ValueError, match="unknown network"):
        engine.decide("get_price", None, "moon")


# --------------------------------------------------------------------------- the bundled policies


def test_the_bundled_default_policy() -> None:
    engine = PolicyEngine(load_policy_file(bundled_policy_path("default")))
    for network in NETWORKS:
        for tool in TOOL_NAMES[:7]:
            assert decide(engine, tool, network=network).allowed
        for tool in ("get_order_lists", "get_order", "get_my_trades"):
            assert decide(engine, tool, network=network).allowed
        for tool in ("place_order", "cancel_order", "cancel_all_orders", "place_order_list", "cancel_order_list",
                     "amend_order"):  # fmt: skip
            assert decide(engine, tool, network=network).needs_approval
    assert engine.hidden_tools() == frozenset()


def test_the_bundled_read_only_policy() -> None:
    engine = PolicyEngine(load_policy_file(bundled_policy_path("read-only")))
    assert engine.hidden_tools() == {
        "place_order", "cancel_order", "cancel_all_orders", "place_order_list", "cancel_order_list", "amend_order"
    }  # fmt: skip
    assert all(decide(engine, tool).allowed for tool in engine.visible_tools())


def test_the_bundled_testnet_trader_policy() -> None:
    engine = PolicyEngine(load_policy_file(bundled_policy_path("testnet-trader")))
    order = decide(engine, "place_order", network="testnet")
    assert order.allowed and order.approve_above_notional == Decimal(200)
    assert order.rate_limit is not None and (order.rate_limit.max, order.rate_limit.window) == (10, 60)
    assert order.constraints is not None and order.constraints.max_notional == Decimal(1000)
    for tool in ("place_order", "cancel_order", "cancel_all_orders"):
        assert decide(engine, tool, network="mainnet").rule_path.endswith(".networks")
        assert decide(engine, tool, network="demo").denied


def test_the_policylayer_example_hides_cancel_order_and_denies_the_rest_by_default() -> None:
    engine = PolicyEngine(load_policy_file(bundled_policy_path("policylayer-recommended")))
    assert len(engine.visible_tools()) == len(TOOL_NAMES) - 1 and "cancel_order" not in engine.visible_tools()
    price = decide(engine, "get_price")
    assert (price.action, price.rule_path) == ("deny", "default")


def test_explain_rows() -> None:
    engine = PolicyEngine(load_policy_file(bundled_policy_path("testnet-trader")))
    rows = {row.tool: row for row in engine.explain("testnet")}
    assert list(rows) == list(TOOL_NAMES)
    assert rows["place_order"].approval == "above 200"
    assert rows["place_order"].networks == ("testnet",)
    assert rows["get_price"].risk == "read" and rows["get_price"].visible
    mainnet = {row.tool: row for row in engine.explain("mainnet")}
    assert mainnet["place_order"].action == "deny"
    assert mainnet["place_order"].rule_path == "rules.place_order.networks"


# --------------------------------------------------------------------------- a reference model

KEYS = [
    *TOOL_NAMES,
    "get_*",
    "*_order*",
    "*",
    "cancel_*",
    "*orders",
    "get_order*",
    "place_*",
    "get_?rice",
    "*_o*",
]
AGENTS = ["alice", "bob"]


@st.composite
def rules(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=7))
    result: dict[str, Any] = {}
    for key in keys:
        action = draw(st.sampled_from(["allow", "deny", "require_approval"]))
        rule: dict[str, Any] = {"action": action}
        if action != "deny" and draw(st.booleans()):
            rule["networks"] = draw(st.lists(st.sampled_from(NETWORKS), unique=True, min_size=1))
        result[key] = rule
    return result


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any]:
    agents = {
        name: {"rules": draw(rules()), "hide": draw(st.lists(st.sampled_from(KEYS), max_size=2))}
        for name in draw(st.lists(st.sampled_from(AGENTS), unique=True))
    }
    return {
        "version": "1",
        "default": draw(st.sampled_from(["allow", "deny"])),
        "hide": draw(st.lists(st.sampled_from(KEYS), max_size=2)),
        "rules": draw(rules()),
        "agents": agents,
    }


def matching_in_precedence(rules: dict[str, Any], tool: str) -> list[str]:
    """The keys that match a tool, best first: the exact name, then globs by length, then as written."""
    exact = [key for key in rules if key == tool]
    globs = [key for key in rules if key != tool and fnmatchcase(tool, key)]
    ordered_globs = sorted(globs, key=lambda key: (-len(key), list(rules).index(key)))
    return exact + ordered_globs


def reference(policy: dict[str, Any], tool: str, agent: str | None, network: str) -> tuple[str, str]:
    """(action, rule path), worked out the slow and obvious way."""
    agent_entry = policy["agents"].get(agent) if agent else None
    hide = list(policy["hide"]) + (agent_entry["hide"] if agent_entry else [])
    if any(fnmatchcase(tool, entry) for entry in policy["hide"]):
        return "deny", "hide"
    if any(fnmatchcase(tool, entry) for entry in hide):
        return "deny", f"agents.{agent}.hide"
    levels = []
    if agent_entry:
        levels.append((agent_entry["rules"], f"agents.{agent}.rules"))
    levels.append((policy["rules"], "rules"))
    # each level's best rule (and for place_order_list and amend_order without a rule of their own
    # name, place_order's rule too); they layer: a network refusal, then a deny, then approval
    found = []
    own = False
    for level_rules, prefix in levels:
        keys = matching_in_precedence(level_rules, tool)
        # place_order's best rule at this level (exact, else its glob), unless it is the tool's own
        theirs = matching_in_precedence(level_rules, "place_order")
        inherits = tool in ("place_order_list", "amend_order") and bool(theirs)
        if inherits and (not keys or (keys[0] != tool and keys[0] != theirs[0])):
            found.append((f"{prefix}.{theirs[0]}", level_rules[theirs[0]]))
        if keys:
            own = True
            found.append((f"{prefix}.{keys[0]}", level_rules[keys[0]]))
    if not own and policy["default"] == "deny":
        return "deny", "default"
    for path, rule in found:
        if "networks" in rule and network not in rule["networks"]:
            return "deny", f"{path}.networks"
    for action in ("deny", "require_approval"):
        for path, rule in found:
            if rule["action"] == action:
                return action, path
    if found:
        return "allow", found[0][0]
    return policy["default"], "default"


@settings(max_examples=400, deadline=None)
@given(
    policy=policies(),
    tool=st.sampled_from(TOOL_NAMES),
    agent=st.sampled_from([None, *AGENTS, "stranger"]),
    network=st.sampled_from(NETWORKS),
)
def test_decisions_follow_the_precedence_of_a_reference_model(
    policy: dict[str, Any], tool: str, agent: str | None, network: str
) -> None:
    engine = PolicyEngine(parse_policy(json.dumps(policy)))
    decision = engine.decide(tool, agent, network)
    assert (decision.action, decision.rule_path) == reference(policy, tool, agent, network)
    assert decision.hidden == engine.is_hidden(tool, agent)

    # Never allows what the best rule of either level denies (agent rules layer, never reopen).
    agent_entry = policy["agents"].get(agent) if agent else None
    levels = ([agent_entry["rules"]] if agent_entry else []) + [policy["rules"]]
    best = [level[keys[0]] for level in levels if (keys := matching_in_precedence(level, tool))]
    if decision.allowed:
        assert not decision.hidden
        assert best or policy["default"] == "allow"
        assert all(rule["action"] == "allow" for rule in best)
    if any(rule["action"] == "deny" for rule in best):
        assert decision.denied


@settings(max_examples=100, deadline=None)
@given(policy=policies(), name=st.text(min_size=1, max_size=20).filter(lambda name: name not in TOOL_NAMES))
def test_a_name_that_is_no_tool_is_never_decided(policy: dict[str, Any], name: str) -> None:
    engine = PolicyEngine(parse_policy(json.dumps(policy)))
    with pytest.raises(ValueError):
        engine.decide(name, None, "testnet")


# --------------------------------------------------------------------------- speed


def thirty_rule_policy() -> PolicyEngine:
    keys = [
        *TOOL_NAMES,
        "get_*",
        "*_order*",
        "*",
        "cancel_*",
        "*orders",
        "get_order*",
        "place_*",
        "get_?rice",
    ]
    rules = {key: {"action": "allow", "rate_limit": {"max": 100, "window": 60}} for key in keys}
    agents = {
        f"agent-{i}": {"rules": {"get_*": {"action": "deny"}, "place_order": {"action": "allow"}}}
        for i in range(6)
    }
    return engine_for(rules=rules, agents=agents, hide=["cancel_all_orders"])


def test_a_decision_takes_well_under_fifty_microseconds_at_the_99th_percentile() -> None:
    engine = thirty_rule_policy()
    assert len(engine.policy.rules) + sum(len(a.rules) for a in engine.policy.agents.values()) >= 30
    calls = [(tool, agent) for tool in TOOL_NAMES for agent in (None, "agent-1", "stranger")]
    samples = []
    for _ in range(700):
        for tool, agent in calls:
            start = time.perf_counter_ns()
            engine.decide(tool, agent, "testnet")
            samples.append(time.perf_counter_ns() - start)
    samples.sort()
    p99_us = samples[int(len(samples) * 0.99)] / 1000
    assert p99_us < 50, f"p99 {p99_us:.1f} µs"
