"""Policies a careful operator could write, tried as an attacker would (review of issue #20)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client

from tests.fake_binance import FakeBinance
from tests.order_lists import with_leg
from tests.test_cli import run_cli
from tests.test_policy_means_what_it_says import BTC_LIMIT, changes_sent, place_open_order

pytestmark = pytest.mark.anyio


async def test_a_globs_dry_run_keeps_every_tool_it_matches_from_changing_the_account(
    build, fake: FakeBinance
) -> None:
    order = await place_open_order(build, fake)
    fake.clear_requests()
    app = build({"version": "1", "default": "deny", "rules": {"*": {"action": "allow", "dry_run": True}}})
    async with Client(app.server) as client:
        placed = await client.call_tool("place_order", BTC_LIMIT)
        cancel = await client.call_tool("cancel_order", {"symbol": "BTCUSDT", "order_id": order["order_id"]})
        cancel_all = await client.call_tool("cancel_all_orders", {"symbol": "BTCUSDT"})
        limits = (await client.call_tool("get_limits", {})).structured_content
    assert placed.structured_content["simulated"] is True
    for result in (cancel, cancel_all):
        assert result.is_error and result.structured_content["error"] == "policy_denied"
        assert result.structured_content["rule"] == "rules.*.dry_run"
    assert changes_sent(fake) == []
    assert [o.status for o in fake.open_orders("BTCUSDT")] == ["NEW"]
    shown = {entry["tool"]: entry.get("dry_run") for entry in limits["tools"]}
    assert shown["cancel_order"] == shown["cancel_all_orders"] == "refused"


async def test_a_place_glob_bounds_amend_order_as_place_orders_own_rule_does(
    build, fake: FakeBinance
) -> None:
    order = await place_open_order(build, fake)
    fake.clear_requests()
    rules = {"place_*": {"action": "allow", "constraints": {"symbols": ["ETHUSDT"]}}}
    app = build({"version": "1", "default": "allow", "rules": rules})
    async with Client(app.server) as client:
        amend = await client.call_tool(
            "amend_order", {"symbol": "BTCUSDT", "order_id": order["order_id"], "new_quantity": "0.005"}
        )
    assert amend.is_error and amend.structured_content["error"] == "policy_denied", amend.content[0].text
    assert changes_sent(fake) == []


@pytest.mark.parametrize("leg", [1, 2])  # the pending take-profit (above), the pending stop-loss (below)
async def test_max_price_deviation_bounds_an_otocos_pending_stop_prices(
    build, fake: FakeBinance, leg: int
) -> None:
    rules = {"place_order": {"action": "allow", "constraints": {"max_price_deviation_pct": "5"}}}
    app = build({"version": "1", "default": "allow", "rules": rules})
    arguments = {"symbol": "BTCUSDT", "type": "OTOCO", "legs": [
        {"side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "64000"},
        {"side": "SELL", "type": "TAKE_PROFIT", "quantity": "0.01", "stop_price": "66000"},
        {"side": "SELL", "type": "STOP_LOSS", "quantity": "0.01", "stop_price": "62000"},
    ]}  # fmt: skip
    arguments = with_leg(arguments, leg, stop_price="200000" if leg == 1 else "1000")
    async with Client(app.server) as client:
        result = await client.call_tool("place_order_list", arguments)
    assert result.is_error, result.content[0].text
    assert result.structured_content["error"] in ("policy_denied", "invalid_argument"), result.content[0].text
    assert changes_sent(fake) == []


def test_policy_check_says_when_an_order_tools_own_rule_drops_place_orders_bounds(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    rules = {
        "place_order": {"action": "allow", "constraints": {"symbols": ["ETHUSDT"], "max_notional": "100"}},
        "place_order_list": {"action": "allow"},
    }
    path.write_text(json.dumps({"version": "1", "default": "allow", "rules": rules}))
    checked = run_cli("policy", "check", str(path))
    assert checked.returncode == 0, checked.stderr
    assert (
        "warning: rules.place_order_list is place_order_list's own rule, so rules.place_order's "
        "constraints do not hold on place_order_list" in checked.stderr
    )


MARKET_BTC = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}


@pytest.mark.parametrize("agent_allowance", ["0", "2"])
async def test_an_agent_rule_cannot_lower_the_top_levels_market_allowance(
    tmp_path: Path, fake: FakeBinance, agent_allowance: str
) -> None:
    """The top level values a MARKET order at the book + 10 % (715 USDT, over max_notional 680);
    an agent rule that only sets a smaller allowance must not let it through (the stricter wins)."""
    from tests.test_http import connected, running

    top = {"max_notional": "680", "market_allowance_pct": "10"}
    policy = {
        "version": "1",
        "default": "allow",
        "rules": {"place_order": {"action": "allow", "constraints": top}},
        "agents": {
            "alice": {
                "rules": {
                    "place_order": {
                        "action": "allow",
                        "constraints": {"market_allowance_pct": agent_allowance},
                    }
                }
            }
        },
    }
    async with (
        running(tmp_path, fake, policy=policy) as server,
        connected(server.url, server.tokens["alice"]) as alice,
    ):
        result = await alice.call_tool("place_order", MARKET_BTC)
    assert result.is_error, result.content[0].text
    assert result.structured_content["rule"] == "rules.place_order.constraints.max_notional"
    assert changes_sent(fake) == []


def test_policy_check_warns_of_an_amend_rule_only_for_what_amend_order_takes(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    rules = {
        "place_order": {
            "action": "allow",
            "approve_above_notional": "50",
            "constraints": {"symbols": ["ETHUSDT"], "max_notional": "100"},
        },
        "amend_order": {"action": "allow"},
    }
    path.write_text(json.dumps({"version": "1", "default": "allow", "rules": rules}))
    checked = run_cli("policy", "check", str(path))
    assert checked.returncode == 0, checked.stderr
    assert "rules.place_order's constraints.symbols do not hold on amend_order" in checked.stderr
    assert "approve_above_notional" not in checked.stderr


async def test_a_glob_that_bounds_place_order_bounds_place_order_list_too(build, fake: FakeBinance) -> None:
    from tests.test_policy_means_what_it_says import OTO_BTC

    rules = {"*_order": {"action": "allow", "constraints": {"symbols": ["ETHUSDT"], "max_notional": "100"}}}
    app = build({"version": "1", "default": "allow", "rules": rules})
    async with Client(app.server) as client:
        listed = await client.call_tool("place_order_list", OTO_BTC)
    assert listed.is_error and listed.structured_content["error"] == "policy_denied", listed.content[0].text
    assert listed.structured_content["rule"] == "rules.*_order.constraints.symbols"
    assert changes_sent(fake) == []


def test_policy_explain_json_says_which_tools_a_dry_run_refuses(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(
        json.dumps({"version": "1", "default": "deny", "rules": {"*": {"action": "allow", "dry_run": True}}})
    )
    explained = run_cli("policy", "explain", "--json", str(path))
    assert explained.returncode == 0, explained.stderr
    rows = {row["tool"]: row["dry_run"] for row in json.loads(explained.stdout)["tools"]}
    assert rows["place_order"] == rows["place_order_list"] == "simulated"
    assert rows["cancel_order"] == rows["amend_order"] == "refused"
    assert rows["get_price"] is None


async def test_a_policy_agent_a_typo_away_from_a_token_is_warned_about(
    tmp_path: Path, fake: FakeBinance, caplog: pytest.LogCaptureFixture
) -> None:
    """Agent rules only add limits, so a misspelt agent silently drops them (alice could place)."""
    import logging

    from tests.test_http import running

    policy = {"version": "1", "default": "allow", "agents": {"alcie": {"hide": ["place_*"]}}}
    with caplog.at_level(logging.WARNING):
        async with running(tmp_path, fake, policy=policy, agents=("alice", "bob")):
            pass
    warned = [r.getMessage() for r in caplog.records if "alcie" in r.getMessage()]
    assert any('did you mean "alice"?' in message for message in warned), warned


def test_policy_check_warns_when_amend_orders_own_rule_drops_a_place_globs_symbols(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    rules = {
        "place_*": {"action": "allow", "constraints": {"symbols": ["ETHUSDT"]}},
        "amend_order": {"action": "allow"},
    }
    path.write_text(json.dumps({"version": "1", "default": "allow", "rules": rules}))
    checked = run_cli("policy", "check", str(path))
    assert checked.returncode == 0, checked.stderr
    assert "rules.place_*'s constraints.symbols do not hold on amend_order" in checked.stderr


@pytest.mark.parametrize("scope", ["agent", "session"])
async def test_a_sessionless_agents_count_is_shared_by_replicas(
    tmp_path: Path, fake: FakeBinance, scope: str
) -> None:
    """A 2026-era client has no session, so `session` means its agent; its calls move between
    replicas on one state, which must hold it to one count, as `agent` does (not N times it)."""
    from tests.test_http import calls_allowed, connected, running

    limit = {"max": 2, "window": 3600, "scope": scope}
    policy = {
        "version": "1",
        "default": "allow",
        "rules": {"get_price": {"action": "allow", "rate_limit": limit}},
    }
    async with (
        running(tmp_path, fake, policy=policy) as one,
        running(tmp_path, fake, policy=policy, agents=()) as two,
    ):
        alice = one.tokens["alice"]
        async with connected(one.url, alice) as first:
            allowed = await calls_allowed(first, 2)
        async with connected(two.url, alice) as second:
            allowed += await calls_allowed(second, 2)
    assert allowed == 2
