"""Who may approve, in the policy (issue 10): `approvals.via` at the top level and per agent, the
defaults per transport, `pending_ttl` and `notify`, strict validation, the schema and `policy explain`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jsonschema
import pytest

from binance_mcp.policy.engine import PolicyEngine
from binance_mcp.policy.model import PolicyError, parse_policy, policy_json_schema
from tests.command import BINANCE_MCP

ROOT = Path(__file__).resolve().parent.parent

POLICY = {
    "version": "1",
    "default": "allow",
    "approvals": {
        "via": ["operator"],
        "notify": "https://hooks.example/services/T0/B0/secret",
        "pending_ttl": 900,
    },
    "agents": {
        "desk": {"approvals": {"via": ["elicitation", "operator"]}},
        "bot": {"hide": ["get_account_info"]},
    },
}


def engine(policy: dict) -> PolicyEngine:
    return PolicyEngine(parse_policy(json.dumps(policy)))


def errors(policy: dict) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(json.dumps(policy))
    return caught.value.errors


def test_defaults_stdio_both_http_operator_only() -> None:
    plain = engine({"version": "1"})
    assert plain.approvers(None, "stdio") == {"elicitation", "operator"}
    assert plain.approvers("local", "stdio") == {"elicitation", "operator"}
    assert plain.approvers("research-bot", "http") == {"operator"}
    assert plain.approvers(None, "http") == {"operator"}
    assert plain.pending_ttl == 3600 and plain.notify_url is None


def test_the_policy_decides_the_agent_first_then_the_top_level() -> None:
    decided = engine(POLICY)
    assert decided.approvers("desk", "http") == {"elicitation", "operator"}
    assert decided.approvers_with_source("desk", "http")[1] == "agents.desk.approvals.via"
    # an agent without its own approvals, and the stdio client, take the top level on every transport
    assert decided.approvers("bot", "http") == {"operator"}
    assert decided.approvers(None, "stdio") == {"operator"}
    assert decided.approvers_with_source(None, "stdio")[1] == "approvals.via"
    assert decided.pending_ttl == 900
    assert decided.notify_url == "https://hooks.example/services/T0/B0/secret"
    only_client = engine({"version": "1", "agents": {"a": {"approvals": {"via": ["elicitation"]}}}})
    assert only_client.approvers("a", "http") == {"elicitation"}
    assert isinstance(only_client.approvers("a", "http"), frozenset)


def test_an_unknown_transport_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown transport 'sse'"):
        engine({"version": "1"}).approvers(None, "sse")


@pytest.mark.parametrize(
    ("approvals", "expected"),
    [
        ({"via": ["email"]}, 'approvals.via[0]: is "email": must be "elicitation" or "operator"'),
        ({"via": []}, "approvals.via: must not be empty"),
        ({"via": ["operator", "operator"]}, 'approvals.via: lists "operator" twice'),
        ({"notify": "ftp://hooks.example/x"}, "approvals.notify: not an http(s) URL"),
        ({"notify": "https://"}, "approvals.notify: not an http(s) URL"),
        ({"notify": "https://a.example/x y"}, "approvals.notify: not an http(s) URL"),
        ({"pending_ttl": 5}, "approvals.pending_ttl: must be at least 60"),
        ({"pending_ttl": "3600"}, "approvals.pending_ttl:"),
        ({"pending_ttl": 8 * 86400}, "approvals.pending_ttl:"),
        ({"via": None}, "approvals.via: must not be null"),
        ({"vias": ["operator"]}, 'approvals: unknown field "vias"'),
    ],
)
def test_strict_validation_of_the_top_level_section(approvals: dict, expected: str) -> None:
    found = errors({"version": "1", "approvals": approvals})
    assert any(line.startswith(expected) for line in found), found


def test_an_agent_takes_only_via() -> None:
    found = errors({"version": "1", "agents": {"bob": {"approvals": {"notify": "https://a.example/"}}}})
    assert "agents.bob.approvals.via: required" in found
    assert 'agents.bob.approvals: unknown field "notify"' in found
    assert 'agents.bob.approvals.via[0]: is "boss": must be "elicitation" or "operator"' in errors(
        {"version": "1", "agents": {"bob": {"approvals": {"via": ["boss"]}}}}
    )


def test_the_schema_describes_the_section_and_refuses_what_the_models_refuse() -> None:
    schema = policy_json_schema()
    jsonschema.validate(POLICY, schema)
    for bad in (
        {"version": "1", "approvals": {"via": ["email"]}},
        {"version": "1", "approvals": {"notify": "ftp://x"}},
        {"version": "1", "approvals": {"pending_ttl": 1}},
        {"version": "1", "agents": {"a": {"approvals": {}}}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    committed = json.loads((ROOT / "binance_mcp" / "policies" / "policy.schema.json").read_text())
    assert committed["properties"]["approvals"] == schema["properties"]["approvals"]


def test_explain_shows_who_may_approve_per_agent_and_hides_the_webhook_path(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(POLICY))
    shown = subprocess.run(
        [BINANCE_MCP, "policy", "explain", str(path)], capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert (
        "who may approve by default: over stdio an operator (approvals.via); "
        "over HTTP an operator (approvals.via)"
    ) in lines
    assert (
        "who may approve for agent desk: over stdio the MCP client asks its user (elicitation) or an "
        "operator (agents.desk.approvals.via); over HTTP the MCP client asks its user (elicitation) or "
        "an operator (agents.desk.approvals.via)"
    ) in lines
    assert not any("agent bot:" in line for line in lines)  # no approvals of its own: the default line
    assert (
        "a request for approval waits 900 s for a human (approvals.pending_ttl); "
        "POSTed to https://hooks.example/…"
    ) in lines
    assert "secret" not in shown.stdout

    for_bot = subprocess.run(
        [BINANCE_MCP, "policy", "explain", str(path), "--agent", "bot"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "who may approve for agent bot: over stdio an operator (approvals.via); over HTTP an operator" in (
        for_bot.stdout
    )

    path.write_text(json.dumps({"version": "1"}))
    plain = subprocess.run(
        [BINANCE_MCP, "policy", "explain", str(path), "--agent", "bot"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        "who may approve for agent bot: over stdio the MCP client asks its user (elicitation) or an "
        "operator (default); over HTTP an operator (default)"
    ) in plain.stdout.splitlines()
    assert "nobody is notified" in plain.stdout
