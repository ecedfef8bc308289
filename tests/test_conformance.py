"""Real clients: the official MCP conformance suite over HTTP, and the MCP Inspector's CLI over stdio.

Both are npm packages, run with `npx` at pinned versions (`.ci/run` installs Node from the
distribution when it is missing; without `npx` these tests are skipped, saying so).

- `@modelcontextprotocol/conformance` 0.1.10 (it runs on Node 18 and 20; 0.1.16 needs Node 22)
  against `binance-mcp --transport http`. Every server scenario of the suite is listed here, in
  one place: either as one that applies to any server, which must pass, or in `NOT_APPLICABLE`
  with the reason (they are not run, and not reported as skipped tests). A scenario the suite
  adds is a failure until it is sorted.
- `@modelcontextprotocol/inspector` 0.15.0 (the last release that does not ask for Node 22, and
  works on 18 and 20) in `--cli` mode, spawning `binance-mcp --testnet`: tools/list and tools/call.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from binance_mcp.tools.names import TOOL_NAMES
from tests.command import BINANCE_MCP
from tests.conftest import API_KEY, API_SECRET
from tests.fake_binance import FakeBinance
from tests.test_http_process import Server, serving

CONFORMANCE = "@modelcontextprotocol/conformance@0.1.10"
INSPECTOR = "@modelcontextprotocol/inspector@0.15.0"
NPX = shutil.which("npx")
NPX_TIMEOUT_S = 240  # the first run downloads the package

pytestmark = pytest.mark.skipif(NPX is None, reason="npx not found: install Node (CI installs it)")

APPLIES = ("server-initialize", "ping", "tools-list", "server-sse-multiple-streams")

SUITE_TOOLS = "needs the suite's own test tool, which a Binance server does not have"
NOT_APPLICABLE = {
    "logging-set-level": "binance-mcp does not offer the logging capability (its logs go to stderr)",
    "completion-complete": "binance-mcp does not offer the completions capability",
    "json-schema-2020-12": SUITE_TOOLS,
    "tools-call-simple-text": SUITE_TOOLS,
    "tools-call-image": SUITE_TOOLS,
    "tools-call-audio": SUITE_TOOLS,
    "tools-call-embedded-resource": SUITE_TOOLS,
    "tools-call-mixed-content": SUITE_TOOLS,
    "tools-call-with-logging": SUITE_TOOLS,
    "tools-call-error": SUITE_TOOLS,
    "tools-call-with-progress": SUITE_TOOLS,
    "tools-call-sampling": SUITE_TOOLS,
    "tools-call-elicitation": SUITE_TOOLS,
    "elicitation-sep1034-defaults": SUITE_TOOLS,
    "elicitation-sep1330-enums": SUITE_TOOLS,
    "server-sse-polling": SUITE_TOOLS + " (test_reconnection, which closes its stream mid-call)",
    "resources-list": "needs the suite's own test resources; binance-mcp offers no resources",
    "resources-read-text": "needs the suite's own test resources; binance-mcp offers no resources",
    "resources-read-binary": "needs the suite's own test resources; binance-mcp offers no resources",
    "resources-templates-read": "needs the suite's own test resources; binance-mcp offers no resources",
    "resources-subscribe": "needs the suite's own test resources; binance-mcp offers no resources",
    "resources-unsubscribe": "needs the suite's own test resources; binance-mcp offers no resources",
    "prompts-list": "needs the suite's own test prompts; binance-mcp offers no prompts",
    "prompts-get-simple": "needs the suite's own test prompts; binance-mcp offers no prompts",
    "prompts-get-with-args": "needs the suite's own test prompts; binance-mcp offers no prompts",
    "prompts-get-embedded-resource": "needs the suite's own test prompts; binance-mcp offers no prompts",
    "prompts-get-with-image": "needs the suite's own test prompts; binance-mcp offers no prompts",
}


def npx(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"npm_config_update_notifier": "false", "npm_config_fund": "false", "NO_COLOR": "1"}
    assert NPX is not None
    return subprocess.run(
        [NPX, "-y", *args],
        capture_output=True,
        text=True,
        timeout=NPX_TIMEOUT_S,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def fake_exchange() -> Iterator[FakeBinance]:
    with FakeBinance(api_key=API_KEY, api_secret=API_SECRET) as exchange:
        yield exchange


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory, fake_exchange: FakeBinance) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("conformance")
    args = ("--state-dir", str(home / "state"), "--base-url", fake_exchange.base_url)
    with serving(*args, cwd=home) as server:
        yield server
        assert server.stop() == 0


def test_every_scenario_of_the_suite_is_sorted(tmp_path: Path) -> None:
    listed = npx(CONFORMANCE, "list", "--server", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    scenarios = re.findall(r"^\s+- (\S+)$", listed.stdout, flags=re.MULTILINE)
    assert scenarios and set(scenarios) == set(APPLIES) | set(NOT_APPLICABLE)


@pytest.mark.parametrize("scenario", APPLIES)
def test_conformance_scenario_passes(scenario: str, http_server: Server, tmp_path: Path) -> None:
    done = npx(CONFORMANCE, "server", "--url", http_server.url, "--scenario", scenario, cwd=tmp_path)
    summary = re.search(r"Passed: (\d+)/(\d+), (\d+) failed", done.stdout)
    assert done.returncode == 0 and summary, done.stdout + done.stderr
    assert summary.group(1) == summary.group(2) and summary.group(3) == "0", done.stdout


# -- the Inspector, over stdio -------------------------------------------------------------------


def inspect(tmp_path: Path, fake: FakeBinance, *method: str) -> subprocess.CompletedProcess[str]:
    server = [BINANCE_MCP, "--testnet", "--base-url", fake.base_url, "--state-dir", str(tmp_path / "state")]
    return npx(INSPECTOR, "--cli", *server, "--method", *method, cwd=tmp_path)


def test_the_inspector_lists_the_tools_over_stdio(tmp_path: Path, fake_exchange: FakeBinance) -> None:
    done = inspect(tmp_path, fake_exchange, "tools/list")
    assert done.returncode == 0, done.stderr
    tools = {tool["name"]: tool for tool in json.loads(done.stdout)["tools"]}
    assert len(tools) == len(TOOL_NAMES) and tools["get_price"]["annotations"]["readOnlyHint"] is True
    assert tools["place_order"]["inputSchema"]["additionalProperties"] is False


def test_the_inspector_calls_a_tool_over_stdio(tmp_path: Path, fake_exchange: FakeBinance) -> None:
    fake_exchange.set_price("ETHUSDT", "3456.78")
    done = inspect(
        tmp_path, fake_exchange, "tools/call", "--tool-name", "get_price", "--tool-arg", "symbol=ethusdt"
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    content = result["structuredContent"]
    assert (content["symbol"], content["price"]) == ("ETHUSDT", "3456.78000000") and content["read_at"]
    assert not result.get("isError")


def test_the_inspector_shows_a_refusal_over_stdio(tmp_path: Path, fake_exchange: FakeBinance) -> None:
    """The TypeScript SDK checks structuredContent against the tool's outputSchema even when isError is
    true, so a refusal's {error, tool, reason, rule} must fit every tool's outputSchema too."""
    args = ("--tool-name", "get_orderbook", "--tool-arg", "symbol=BTCUSDT", "--tool-arg", "limit=6000")
    done = inspect(tmp_path, fake_exchange, "tools/call", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["isError"] is True and result["structuredContent"]["error"] == "invalid_arguments"
