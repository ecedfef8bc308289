"""Issue #20, "The policy means what it says": each reproduction of the issue, through `mcp.Client`
against the server on the test exchange (and the CLI through its entry point)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from binance_mcp.policy.engine import PolicyEngine
from binance_mcp.policy.model import parse_policy
from binance_mcp.tools.names import TOOL_NAMES
from tests.fake_binance import FakeBinance
from tests.order_lists import with_leg
from tests.test_cli import run_cli
from tests.test_trading_policy import answering

pytestmark = pytest.mark.anyio

ETH_LIMIT = {"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "3500"}
BTC_LIMIT = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "64000"}
OTO_BTC = {"symbol": "BTCUSDT", "type": "OTO", "legs": [
    {"side": "BUY", "type": "LIMIT", "quantity": "0.02", "price": "65100"},
    {"side": "BUY", "type": "MARKET", "quantity": "0.02"},
]}  # fmt: skip

GET_TOOLS = len([name for name in TOOL_NAMES if name.startswith("get_")])


def sent(fake: FakeBinance, method: str, path: str) -> list[Any]:
    return [r for r in fake.requests if r.method == method and r.path == path]


def changes_sent(fake: FakeBinance) -> list[str]:
    """Every request that would change the account (test orders are not among them)."""
    return [
        f"{r.method} {r.path}"
        for r in fake.requests
        if r.method in ("POST", "PUT", "DELETE")
        and r.path.startswith("/api/v3/")
        and r.path != "/api/v3/order/test"
        and not r.path.startswith("/api/v3/userDataStream")
    ]


async def place_open_order(build, fake: FakeBinance) -> dict[str, Any]:
    """A resting BTCUSDT order, placed by a server that is not in dry run."""
    app = build({"version": "1", "default": "allow"})
    async with Client(app.server) as client:
        placed = await client.call_tool("place_order", BTC_LIMIT)
    assert not placed.is_error, placed.content[0].text
    return placed.structured_content


# -- 1. dry run is a mode of the whole server ------------------------------------------------------


async def test_dry_run_cancels_and_amends_nothing_and_the_audit_says_so(build, fake: FakeBinance) -> None:
    order = await place_open_order(build, fake)
    fake.clear_requests()
    app = build({"version": "1", "default": "allow"}, dry_run=True)
    async with Client(app.server) as client:
        amend = await client.call_tool(
            "amend_order", {"symbol": "BTCUSDT", "order_id": order["order_id"], "new_quantity": "0.005"}
        )
        cancel = await client.call_tool("cancel_order", {"symbol": "BTCUSDT", "order_id": order["order_id"]})
        cancel_all = await client.call_tool("cancel_all_orders", {"symbol": "BTCUSDT"})
        cancel_list = await client.call_tool("cancel_order_list", {"symbol": "BTCUSDT", "order_list_id": 1})
        limits = (await client.call_tool("get_limits", {})).structured_content
    for result in (amend, cancel, cancel_all, cancel_list):
        assert result.is_error
        assert result.structured_content["error"] == "policy_denied"
        assert result.structured_content["rule"] == "--dry-run"
        assert "nothing was sent" in result.structured_content["reason"]
    assert changes_sent(fake) == []
    assert [o.status for o in fake.open_orders("BTCUSDT")] == ["NEW"]
    assert fake.open_orders("BTCUSDT")[0].orig_qty == order_quantity(order)
    records = [r for r in app.audit.query() if r.tool in ("amend_order", "cancel_order", "cancel_all_orders")]
    assert records and all(r.decision != "dry_run" and r.outcome == "refused" for r in records)
    shown = {entry["tool"]: entry.get("dry_run") for entry in limits["tools"]}
    assert limits["dry_run"] is True
    assert shown["place_order"] == shown["place_order_list"] == "simulated"
    assert shown["cancel_order"] == shown["cancel_all_orders"] == shown["amend_order"] == "refused"
    assert shown["cancel_order_list"] == "refused"


def order_quantity(order: dict[str, Any]) -> Any:
    from decimal import Decimal

    return Decimal(order["quantity"])


async def test_dry_run_orders_reach_only_the_signed_test_endpoint(build, fake: FakeBinance) -> None:
    app = build({"version": "1", "default": "allow"}, dry_run=True)
    async with Client(app.server) as client:
        placed = await client.call_tool("place_order", BTC_LIMIT)
    assert not placed.is_error and placed.structured_content["simulated"] is True
    tests = sent(fake, "POST", "/api/v3/order/test")
    assert len(tests) == 1 and "signature" in tests[0].params
    assert changes_sent(fake) == []
    assert app.audit.query(tool="place_order")[-1].decision == "dry_run"


async def test_an_approved_simulated_order_is_recorded_dry_run_and_never_counted_as_sent(
    build, fake: FakeBinance
) -> None:
    app = build(
        {"version": "1", "default": "allow", "rules": {"place_order": {"action": "require_approval"}}},
        dry_run=True,
    )
    async with Client(app.server, elicitation_callback=answering("accept")) as client:
        placed = await client.call_tool("place_order", BTC_LIMIT)
    assert not placed.is_error, placed.content[0].text
    record = app.audit.query(tool="place_order")[-1]
    assert (record.decision, record.approved_via) == ("dry_run", "elicitation")
    assert changes_sent(fake) == []


# -- 2. one rule for every way to place an order --------------------------------------------------

PLACE_ORDER_RULE = {
    "action": "allow",
    "constraints": {"symbols": ["ETHUSDT"], "order_types": ["LIMIT"], "max_notional": "100"},
    "approve_above_notional": "50",
}


@pytest.mark.parametrize("extra", [{}, {"*": {"action": "allow"}}, {"place_*": {"action": "allow"}}])
async def test_a_place_order_rule_reaches_place_order_list_and_amend_order(
    build, fake: FakeBinance, extra: dict[str, Any]
) -> None:
    order = await place_open_order(build, fake)
    fake.clear_requests()
    app = build({"version": "1", "default": "allow", "rules": {"place_order": PLACE_ORDER_RULE, **extra}})
    async with Client(app.server) as client:
        oto = await client.call_tool("place_order_list", OTO_BTC)
        amend = await client.call_tool(
            "amend_order", {"symbol": "BTCUSDT", "order_id": order["order_id"], "new_quantity": "0.005"}
        )
    assert oto.structured_content["error"] == "policy_denied", oto.content[0].text
    assert oto.structured_content["rule"] == "rules.place_order.constraints.symbols"
    assert amend.structured_content["error"] == "policy_denied", amend.content[0].text
    assert amend.structured_content["rule"] == "rules.place_order.constraints.symbols"
    assert changes_sent(fake) == []


async def test_a_list_above_place_orders_approval_threshold_asks_a_human(build, fake: FakeBinance) -> None:
    rule = {"action": "allow", "approve_above_notional": "50"}
    app = build({"version": "1", "default": "allow", "rules": {"place_order": rule}})
    async with Client(app.server) as client:
        oto = await client.call_tool("place_order_list", OTO_BTC)
    assert oto.structured_content["error"] == "approval_required", oto.content[0].text
    assert oto.structured_content["rule"] == "rules.place_order.approve_above_notional"
    assert changes_sent(fake) == []


async def test_a_tool_with_a_rule_of_its_own_name_keeps_it(build, fake: FakeBinance) -> None:
    rules = {"place_order": PLACE_ORDER_RULE, "place_order_list": {"action": "allow"}}
    app = build({"version": "1", "default": "allow", "rules": rules})
    async with Client(app.server) as client:
        oto = await client.call_tool(
            "place_order_list",
            with_leg(OTO_BTC, 1, type="LIMIT", price="70000", side="SELL"),
        )
    assert not oto.is_error, oto.content[0].text


def test_policy_explain_shows_the_inherited_rule(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(
        json.dumps({"version": "1", "default": "allow", "rules": {"place_order": PLACE_ORDER_RULE}})
    )
    shown = run_cli("policy", "explain", str(path))
    assert shown.returncode == 0, shown.stderr
    row = next(line for line in shown.stdout.splitlines() if line.startswith("place_order_list"))
    assert "rules.place_order (place_order's rule)" in row and "above 50" in row
    assert "place_order_list constraints (rules.place_order.constraints): symbols ETHUSDT" in shown.stdout
    as_json = json.loads(run_cli("policy", "explain", str(path), "--json").stdout)
    amend = next(tool for tool in as_json["tools"] if tool["tool"] == "amend_order")
    assert (amend["rule"], amend["rule_of"]) == ("rules.place_order", "place_order")


# -- 3. no silent typos ---------------------------------------------------------------------------


async def test_a_typo_in_a_budgets_asset_refuses_orders_with_a_did_you_mean(build, fake: FakeBinance) -> None:
    app = build({"version": "1", "default": "allow", "budgets": {"daily_notional": {"USTD": "100"}}})
    async with Client(app.server) as client:
        bought = await client.call_tool(
            "place_order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quote_quantity": "1300"}
        )
    assert bought.structured_content["error"] == "policy_denied", bought.content[0].text
    assert bought.structured_content["rule"] == "budgets.daily_notional.USTD"
    assert "did you mean USDT?" in bought.structured_content["reason"]
    assert sent(fake, "POST", "/api/v3/order") == []


async def test_a_budget_in_a_listed_asset_still_limits_as_before(build, fake: FakeBinance) -> None:
    app = build({"version": "1", "default": "allow", "budgets": {"daily_notional": {"USDT": "100"}}})
    async with Client(app.server) as client:
        bought = await client.call_tool("place_order", ETH_LIMIT)  # 35 USDT
    assert not bought.is_error, bought.content[0].text


def test_doctor_finds_a_budget_in_an_asset_binance_does_not_list(tmp_path: Path, fake: FakeBinance) -> None:
    from tests.test_doctor import KEYS, lines, run_doctor

    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"version": "1", "budgets": {"daily_notional": {"USTD": "100"}}}))
    env = KEYS | {"BINANCE_MCP_POLICY": str(policy), "BINANCE_MCP_STATE_DIR": str(tmp_path / "state")}
    done = run_doctor("--testnet", "--base-url", fake.base_url, env=env, cwd=tmp_path)
    assert done.returncode != 0
    assert lines(done.stdout)["budget assets"] == (
        "FAIL  budget assets: budgets.daily_notional.USTD names an asset Binance does not list "
        "(did you mean USDT?); fix the policy"
    )


def test_doctor_finds_a_symbols_bound_naming_a_symbol_binance_does_not_list(
    tmp_path: Path, fake: FakeBinance
) -> None:
    from tests.test_doctor import KEYS, lines, run_doctor

    rules = {"place_order": {"action": "allow", "constraints": {"symbols": ["BTCUSTD", "ETHUSDT"]}}}
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"version": "1", "rules": rules}))
    env = KEYS | {"BINANCE_MCP_POLICY": str(policy), "BINANCE_MCP_STATE_DIR": str(tmp_path / "state")}
    done = run_doctor("--testnet", "--base-url", fake.base_url, env=env, cwd=tmp_path)
    assert done.returncode != 0
    assert lines(done.stdout)["policy symbols"] == (
        "FAIL  policy symbols: rules.place_order.constraints.symbols names BTCUSTD, which Binance does "
        "not list (did you mean BTCUSDT?)"
    )


def test_agent_names_differing_only_in_case_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    agents = {"Reader": {"hide": ["place_order"]}, "reader": {}}
    path.write_text(json.dumps({"version": "1", "agents": agents}))
    checked = run_cli("policy", "check", str(path))
    assert checked.returncode == 1
    assert 'differs from agent "Reader" only in case' in checked.stderr


async def test_a_policy_agent_named_like_a_token_but_for_case_is_warned_about(
    tmp_path: Path, fake: FakeBinance, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.test_http import running

    policy = {"version": "1", "default": "allow", "agents": {"Reader": {"hide": ["place_order"]}}}
    with caplog.at_level(logging.WARNING):
        async with running(tmp_path, fake, policy=policy, agents=("reader",)):
            pass
    assert any('agent "Reader", but the token is named "reader"' in r.getMessage() for r in caplog.records)


# -- 4. the limits resource passes the guard ------------------------------------------------------


async def test_the_limits_resource_is_hidden_with_get_limits(build, fake: FakeBinance) -> None:
    app = build({"version": "1", "default": "deny", "hide": ["get_*"]})
    async with Client(app.server) as client:
        listed = await client.list_resources()
        assert "binance-mcp://limits" not in [str(r.uri) for r in listed.resources]
        with pytest.raises(Exception, match="Unknown resource"):
            await client.read_resource("binance-mcp://limits")
    assert sent(fake, "GET", "/api/v3/openOrders") == []


async def test_the_limits_resource_is_denied_rate_limited_audited_and_cheap(build, fake: FakeBinance) -> None:
    policy = {
        "version": "1",
        "default": "allow",
        "rules": {
            "get_limits": {"action": "allow", "rate_limit": {"max": 1, "window": 3600}},
            "place_order": {"action": "allow", "constraints": {"max_open_orders": 5}},
        },
    }
    app = build(policy)
    async with Client(app.server) as client:
        first = await client.read_resource("binance-mcp://limits")
        assert json.loads(first.contents[0].text)["orders"]["max_open_orders"]["limit"] == 5
        for _ in range(3):
            with pytest.raises(Exception, match="rate_limited"):
                await client.read_resource("binance-mcp://limits")
    records = app.audit.query(tool="get_limits")
    assert [r.decision for r in records] == ["allowed", "rate_limited", "rate_limited", "rate_limited"]
    assert len(sent(fake, "GET", "/api/v3/openOrders")) <= 1
    denied = build({"version": "1", "default": "allow", "rules": {"get_limits": {"action": "deny"}}})
    async with Client(denied.server) as client:
        with pytest.raises(Exception, match="policy_denied"):
            await client.read_resource("binance-mcp://limits")


# -- 5. rate-limit scopes that mean one thing -----------------------------------------------------


async def test_the_default_scope_is_the_agent_across_2025_sessions(tmp_path: Path, fake: FakeBinance) -> None:
    from tests.test_http import calls_allowed, connected, running

    policy = {
        "version": "1",
        "default": "allow",
        "rules": {"get_price": {"action": "allow", "rate_limit": {"max": 2, "window": 3600}}},
    }
    async with running(tmp_path, fake, policy=policy) as server:
        alice = server.tokens["alice"]
        allowed = 0
        for _ in range(3):
            async with connected(server.url, alice, mode="legacy") as session:
                allowed += await calls_allowed(session, 2)
        assert allowed == 2
        async with connected(server.url, alice) as modern:
            assert await calls_allowed(modern, 1) == 0


async def test_a_globs_limit_counts_its_tools_together_and_says_so(build, fake: FakeBinance) -> None:
    rules = {"get_*": {"action": "allow", "rate_limit": {"max": 2, "window": 3600}}}
    app = build({"version": "1", "default": "allow", "rules": rules})
    async with Client(app.server) as client:
        assert not (await client.call_tool("get_price", {"symbol": "BTCUSDT"})).is_error
        limits = (await client.call_tool("get_limits", {})).structured_content
        refused = await client.call_tool("get_klines", {"symbol": "BTCUSDT", "interval": "1h"})
    row = next(limit for limit in limits["rate_limits"] if limit["tool"] == "get_price")
    # get_price and this get_limits call itself: the two calls the glob allows
    assert row["left"] == 0 and "get_klines" in row["shared_by"] and len(row["shared_by"]) == GET_TOOLS
    assert refused.structured_content["error"] == "rate_limited"
    assert "shared by" in refused.structured_content["reason"]


async def test_a_reload_that_renames_the_rules_key_keeps_the_count(build, fake: FakeBinance) -> None:
    limit = {"max": 2, "window": 3600}
    app = build(
        {"version": "1", "default": "allow", "rules": {"get_price": {"action": "allow", "rate_limit": limit}}}
    )
    async with Client(app.server) as client:
        for _ in range(2):
            assert not (await client.call_tool("get_price", {"symbol": "BTCUSDT"})).is_error
        renamed = {
            "version": "1",
            "default": "allow",
            "rules": {"get_p*": {"action": "allow", "rate_limit": limit}},
        }
        app.guard.install(PolicyEngine(parse_policy(json.dumps(renamed))))
        again = await client.call_tool("get_price", {"symbol": "BTCUSDT"})
    assert again.structured_content["error"] == "rate_limited"
    assert again.structured_content["rule"] == "rules.get_p*.rate_limit"


def test_policy_check_says_a_globs_limit_is_one_limit(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    rules = {"get_*": {"action": "allow", "rate_limit": {"max": 2, "window": 60}}}
    path.write_text(json.dumps({"version": "1", "default": "allow", "rules": rules}))
    checked = run_cli("policy", "check", str(path))
    assert checked.returncode == 0, checked.stderr
    assert f"rules.get_*.rate_limit is one limit for {GET_TOOLS} tools" in checked.stdout
    explained = run_cli("policy", "explain", str(path))
    assert f"2 per 60s per agent (shared by {GET_TOOLS} tools)" in explained.stdout


# -- 6. agent rules layer over the top-level rules -----------------------------------------------


async def test_an_agent_rule_that_only_rate_limits_keeps_the_top_level_bounds(
    tmp_path: Path, fake: FakeBinance
) -> None:
    from tests.test_http import connected, running

    policy = {
        "version": "1",
        "default": "allow",
        "rules": {
            "place_order": {
                "action": "allow",
                "constraints": {"symbols": ["ETHUSDT"], "max_notional": "100"},
            },
            "cancel_*": {"action": "deny"},
        },
        "agents": {
            "alice": {
                "rules": {
                    "place_order": {"action": "allow", "rate_limit": {"max": 5, "window": 60}},
                    "cancel_order": {"action": "allow"},
                }
            }
        },
    }
    async with (
        running(tmp_path, fake, policy=policy) as server,
        connected(server.url, server.tokens["alice"]) as alice,
    ):
        btc = await alice.call_tool("place_order", {**BTC_LIMIT, "quantity": "0.02"})
        cancel = await alice.call_tool("cancel_order", {"symbol": "BTCUSDT", "order_id": 1})
        eth = await alice.call_tool("place_order", ETH_LIMIT)
    assert btc.structured_content["error"] == "policy_denied"
    assert btc.structured_content["rule"] == "rules.place_order.constraints.symbols"
    assert cancel.structured_content["error"] == "policy_denied"
    assert cancel.structured_content["rule"] == "rules.cancel_*"
    assert not eth.is_error, eth.content[0].text
    assert sent(fake, "DELETE", "/api/v3/order") == []


async def test_an_agent_rule_may_allow_what_the_top_level_leaves_to_the_default(
    build, fake: FakeBinance
) -> None:
    policy = {
        "version": "1",
        "default": "deny",
        "agents": {"local": {"rules": {"get_price": {"action": "allow"}}}},
    }
    engine = PolicyEngine(parse_policy(json.dumps(policy)))
    assert engine.decide("get_price", "local", "testnet").allowed
    assert engine.decide("get_price", None, "testnet").denied


# -- 7. price bounds on every price ---------------------------------------------------------------

DEVIATION = {
    "version": "1",
    "default": "allow",
    "rules": {"place_order": {"action": "allow", "constraints": {"max_price_deviation_pct": "5"}}},
}


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("place_order", {"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_LOSS", "quantity": "0.01", "stop_price": "6500"}),
        ("place_order", {"symbol": "BTCUSDT", "side": "BUY", "type": "STOP_LOSS", "quantity": "0.01", "stop_price": "130000"}),
        ("place_order", {"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_LOSS", "quantity": "0.01", "stop_price": "50000", "trailing_delta": 100}),
        (
            "place_order_list",
            {"symbol": "BTCUSDT", "type": "OCO", "legs": [
                {"side": "SELL", "type": "LIMIT_MAKER", "quantity": "0.01", "price": "104000"},
                {"side": "SELL", "type": "STOP_LOSS", "quantity": "0.01", "stop_price": "64000"},
            ]},
        ),
    ],
)  # fmt: skip
async def test_max_price_deviation_bounds_stop_and_trailing_prices_and_every_leg(
    build, fake: FakeBinance, tool: str, arguments: dict[str, Any]
) -> None:
    app = build(DEVIATION)
    async with Client(app.server) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error
    assert result.structured_content["error"] == "policy_denied", result.content[0].text
    assert result.structured_content["rule"] == "rules.place_order.constraints.max_price_deviation_pct"
    assert changes_sent(fake) == []


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))


def test_a_renamed_tool_keeps_loading_under_its_old_name_with_a_deprecation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from binance_mcp.commands.policy import check
    from binance_mcp.policy import model

    monkeypatch.setitem(model.RENAMED_TOOLS, "place_orders", "place_order")
    path = tmp_path / "policy.json"
    policy = {"version": "1", "rules": {"place_orders": {"action": "deny"}}, "hide": ["place_orders"]}
    path.write_text(json.dumps(policy))
    out, err = io.StringIO(), io.StringIO()
    assert check([str(path)], out, err) == 0
    assert (
        "rules.place_orders: place_orders is now called place_order; rename the key (deprecated)"
        in err.getvalue()
    )
    assert "hide: place_orders is now called place_order" in err.getvalue()
    parsed = model.load_policy_file(path)
    assert "place_order" in parsed.rules and parsed.hide == ("place_order",)
