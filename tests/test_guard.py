"""The policy guard through `mcp.Client`: every decision kind, its refusal and its audit record."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from binance_mcp.server import App
from binance_mcp.tools.names import TOOL_NAMES
from tests.conftest import make_app
from tests.fake_binance import FakeBinance

pytestmark = pytest.mark.anyio

MARKET_ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}


def last_record(app: App) -> Any:
    return app.audit.query()[-1]


async def test_a_rule_with_a_reason_denies_and_says_why(build, fake: FakeBinance) -> None:
    app = build(
        {
            "version": "1",
            "default": "allow",
            "rules": {"cancel_order": {"action": "deny", "reason": "Cancellations are done by a human."}},
        }
    )
    async with Client(app.server) as client:
        result = await client.call_tool("cancel_order", {"symbol": "BTCUSDT", "order_id": 1})
    assert result.is_error
    assert result.structured_content == {
        "error": "policy_denied",
        "tool": "cancel_order",
        "reason": "Cancellations are done by a human.",
        "rule": "rules.cancel_order",
    }
    assert result.content[0].text == (
        "policy_denied: Cancellations are done by a human. [rule: rules.cancel_order]"
    )
    record = last_record(app)
    assert (record.decision, record.outcome, record.rule) == ("denied", "refused", "rules.cancel_order")
    assert record.reason == "Cancellations are done by a human."
    assert fake.requests == []


async def test_the_default_decides_what_no_rule_names(build) -> None:
    app = build({"version": "1", "default": "deny", "rules": {"get_price": {"action": "allow"}}})
    async with Client(app.server) as client:
        assert not (await client.call_tool("get_price", {"symbol": "BTCUSDT"})).is_error
        refused = await client.call_tool("get_24hr_ticker", {"symbol": "BTCUSDT"})
    assert refused.structured_content["error"] == "policy_denied"
    assert refused.structured_content["rule"] == "default"
    assert "default is deny" in refused.structured_content["reason"]
    assert [(r.tool, r.decision, r.rule) for r in app.audit.query()] == [
        ("get_price", "allowed", "rules.get_price"),
        ("get_24hr_ticker", "denied", "default"),
    ]


async def test_exact_rule_beats_glob_and_the_glob_path_is_named(build) -> None:
    app = build(
        {
            "version": "1",
            "default": "allow",
            "rules": {"get_*": {"action": "deny", "reason": "no reads"}, "get_price": {"action": "allow"}},
        }
    )
    async with Client(app.server) as client:
        assert not (await client.call_tool("get_price", {"symbol": "BTCUSDT"})).is_error
        refused = await client.call_tool("get_orderbook", {"symbol": "BTCUSDT"})
    assert (refused.structured_content["rule"], refused.structured_content["reason"]) == (
        "rules.get_*",
        "no reads",
    )


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_hidden_tools_vanish_and_answer_exactly_like_unknown_ones(
    build, fake: FakeBinance, mode: str
) -> None:
    app = build({"version": "1", "default": "allow", "hide": ["cancel_order", "get_k*"]})
    async with Client(app.server, mode=mode) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        hidden = await client.call_tool("cancel_order", {"symbol": "BTCUSDT", "order_id": 1})
        unknown = await client.call_tool("no_such_tool", {"symbol": "BTCUSDT"})
        glob_hidden = await client.call_tool("get_klines", {"symbol": "BTCUSDT", "interval": "1m"})
    assert "cancel_order" not in names and "get_klines" not in names and len(names) == len(TOOL_NAMES) - 2
    assert hidden.is_error and hidden.content[0].text == "Unknown tool: cancel_order"
    assert hidden.structured_content is None and unknown.structured_content is None
    assert hidden.model_dump(exclude={"content"}) == unknown.model_dump(exclude={"content"})
    assert unknown.content[0].text == "Unknown tool: no_such_tool"
    assert glob_hidden.content[0].text == "Unknown tool: get_klines"
    assert [(r.tool, r.decision, r.outcome) for r in app.audit.query()] == [
        ("cancel_order", "hidden", "refused"),
        (
            "no_such_tool",
            "unknown_tool",
            "refused",
        ),  # the agent's answer is the same; the log tells them apart
        ("get_klines", "hidden", "refused"),
    ]
    assert fake.requests == []


async def test_rate_limit_allows_max_per_window_and_says_when_to_retry(build, fake: FakeBinance) -> None:
    app = build(
        {
            "version": "1",
            "default": "allow",
            "rules": {
                "get_price": {
                    "action": "allow",
                    "rate_limit": {"max": 3, "window": 60, "count_refused": False},
                }
            },
        }
    )
    async with Client(app.server) as client:
        # with count_refused false, refused calls (here: bad arguments) do not count
        for _ in range(5):
            assert (await client.call_tool("get_price", {"symbol": "BTC/USDT"})).is_error
        results = [await client.call_tool("get_price", {"symbol": "BTCUSDT"}) for _ in range(5)]
    assert [r.is_error for r in results] == [False, False, False, True, True]
    refused = results[3].structured_content
    assert refused["error"] == "rate_limited" and refused["rule"] == "rules.get_price.rate_limit"
    assert 0 < refused["retry_after_s"] <= 60
    assert "at most 3 times per 60 s" in refused["reason"]
    assert len([r for r in fake.requests if r.path == "/api/v3/ticker/price"]) == 3
    decisions = [r.decision for r in app.audit.query()]
    assert decisions == ["invalid_arguments"] * 5 + ["allowed"] * 3 + ["rate_limited"] * 2


async def test_require_approval_refuses_until_a_human_can_approve(build, fake: FakeBinance) -> None:
    app = build(
        {"version": "1", "default": "allow", "rules": {"place_order": {"action": "require_approval"}}}
    )
    async with Client(app.server) as client:
        result = await client.call_tool("place_order", MARKET_ORDER)
    assert result.structured_content["error"] == "approval_required"
    assert result.structured_content["rule"] == "rules.place_order"
    assert not [r for r in fake.requests if r.path == "/api/v3/order"]
    assert last_record(app).decision == "approval_required"


async def test_a_rule_limited_to_other_networks_refuses_naming_them(build, fake: FakeBinance) -> None:
    app = build(
        {
            "version": "1",
            "default": "allow",
            "rules": {"place_order": {"action": "allow", "networks": ["mainnet"]}},
        }
    )
    async with Client(app.server) as client:
        result = await client.call_tool("place_order", MARKET_ORDER)
    content = result.structured_content
    assert content["error"] == "policy_denied" and content["rule"] == "rules.place_order.networks"
    assert "mainnet" in content["reason"]
    assert not [r for r in fake.requests if r.path == "/api/v3/order"]


async def test_the_guard_fails_closed(build, fake: FakeBinance) -> None:
    app = build({"version": "1", "default": "allow"})

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("engine exploded")

    app.guard.engine.decide = broken  # type: ignore[method-assign]
    async with Client(app.server) as client:
        result = await client.call_tool("place_order", MARKET_ORDER)
        listed = await client.list_tools()
    assert result.is_error and result.structured_content["error"] == "policy_denied"
    assert result.structured_content["rule"] is None
    assert "engine exploded" not in result.content[0].text
    assert fake.requests == []
    assert last_record(app).decision == "denied"
    assert len(listed.tools) == len(TOOL_NAMES)  # visibility still decided by the (working) hide list


async def test_the_policylayer_example_as_a_new_user_sees_it(tmp_path: Path, fake: FakeBinance) -> None:
    policy = tmp_path / "policylayer.json"
    policy.write_text(json.dumps({"version": "1", "default": "deny", "hide": ["cancel_order"]}))
    app = make_app(tmp_path, fake.base_url, policy=json.loads(policy.read_text()))
    async with Client(app.server) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        price = await client.call_tool("get_price", {"symbol": "BTCUSDT"})
        cancel = await client.call_tool("cancel_order", {"symbol": "BTCUSDT", "order_id": 1})
    app.close()
    assert len(names) == len(TOOL_NAMES) - 1 and "cancel_order" not in names
    assert (
        price.structured_content["error"] == "policy_denied" and price.structured_content["rule"] == "default"
    )
    assert cancel.content[0].text == "Unknown tool: cancel_order"
    audit = subprocess.run(
        [sys.executable, "-m", "binance_mcp.cli", "audit", "--state-dir", str(tmp_path / "state")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert audit.returncode == 0
    lines = audit.stdout.strip().splitlines()
    assert any("get_price" in line and "denied" in line and "default" in line for line in lines)
    assert any("cancel_order" in line and "hidden" in line for line in lines)


async def test_watch_reloads_the_policy_and_notifies_a_legacy_client(
    tmp_path: Path, fake: FakeBinance
) -> None:
    app = make_app(tmp_path, fake.base_url, policy={"version": "1", "default": "allow"})
    policy_path = tmp_path / "policy.json"
    from binance_mcp.policy.reload import PolicyWatcher

    watcher = PolicyWatcher(policy_path, app.guard.install, app.notifier.notify)
    notified = anyio.Event()

    async def on_message(message: Any) -> None:
        if getattr(getattr(message, "root", message), "method", None) == "notifications/tools/list_changed":
            notified.set()

    async with Client(app.server, mode="legacy", message_handler=on_message) as client:
        assert len((await client.list_tools()).tools) == len(TOOL_NAMES)
        assert client.server_capabilities.tools.list_changed is True

        policy_path.write_text(json.dumps({"version": "1", "default": "allow", "hide": ["place_order"]}))
        assert await watcher.check() is True
        with anyio.fail_after(5):
            await notified.wait()
        names = {tool.name for tool in (await client.list_tools(cache_mode="bypass")).tools}
        assert "place_order" not in names and len(names) == len(TOOL_NAMES) - 1

        # an invalid file is refused: the policy in force stays, and nobody is told of a change
        policy_path.write_text(json.dumps({"version": "1", "default": "perhaps"}))
        assert await watcher.check() is False
        names = {tool.name for tool in (await client.list_tools(cache_mode="bypass")).tools}
        assert "place_order" not in names and len(names) == len(TOOL_NAMES) - 1
        hidden = await client.call_tool("place_order", MARKET_ORDER)
        assert hidden.content[0].text == "Unknown tool: place_order"
    app.close()
