"""Metrics (issue #16, item 8): `/metrics` in Prometheus' text format, over HTTP with the metrics
token, and beside stdio on an opt-in `--metrics-port`.

Scraped after real calls through `mcp.Client` against the test exchange; read with
`prometheus_client`'s own parser, so a line the format does not allow fails the test.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from prometheus_client.parser import text_string_to_metric_families

from binance_mcp.http.serve import HttpService
from binance_mcp.http.settings import prepare_http
from binance_mcp.stores.tokens import TokenStore
from tests.command import BINANCE_MCP
from tests.conftest import make_app
from tests.fake_binance import FakeBinance
from tests.test_http import LIMIT_BUY, QUICK_STOP, connected
from tests.test_http_process import server_env
from tests.test_stdio_drain import server_args

pytestmark = pytest.mark.anyio

SCRAPE_TOKEN = "scrape-" + "s3cret" * 4
NO_ORDERS = {
    "version": "1",
    "default": "allow",
    "rules": {"place_order": {"action": "deny", "reason": "no orders today"}},
}


@asynccontextmanager
async def serving_metrics(tmp_path: Path, fake: FakeBinance, token: str | None) -> AsyncIterator[Any]:
    app = make_app(tmp_path, fake.base_url, policy=NO_ORDERS)
    with TokenStore.in_state_dir(app.state_dir) as store:
        agent = store.add("alice")
        operator = store.add("olga", operator=True)
    settings = prepare_http("127.0.0.1", 0, [], app.state_dir, drain=QUICK_STOP)
    service = HttpService(app, settings, on_ready=lambda: None, metrics_token=token)
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(service.run)
            with anyio.fail_after(10):
                await service.ready.wait()
            yield service, agent, operator
            service.stop()
    finally:
        app.close()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict[Any, float], name: str, **labels: str) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


async def test_metrics_over_http_count_calls_and_refusals_by_tool_and_kind_and_need_the_metrics_token(
    tmp_path: Path, fake: FakeBinance
) -> None:
    async with serving_metrics(tmp_path, fake, SCRAPE_TOKEN) as (service, agent, operator):
        url = service.url.removesuffix("/mcp") + "/metrics"
        async with connected(service.url, agent) as client:
            for _ in range(2):
                assert not (await client.call_tool("get_price", {"symbol": "BTCUSDT"})).is_error
            assert (await client.call_tool("place_order", LIMIT_BUY)).is_error
            assert (await client.call_tool("get_price", {"symbol": "NOPE"})).is_error
            minute = int(time.time() // 60)  # Binance's weight window: the count starts again each minute
            await client.call_tool("get_price", {"symbol": "ETHUSDT"})
        async with httpx2.AsyncClient(timeout=30) as http:
            refused = {
                "none": await http.get(url),
                "agent": await http.get(url, headers={"Authorization": f"Bearer {agent}"}),
                "operator": await http.get(url, headers={"Authorization": f"Bearer {operator}"}),
                "wrong": await http.get(url, headers={"Authorization": "Bearer " + "x" * 30}),
            }
            answer = await http.get(url, headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"})
            rebound = await http.get(
                url, headers={"Authorization": f"Bearer {SCRAPE_TOKEN}", "Host": "rebound.example"}
            )
            same_window = int(time.time() // 60) == minute
    assert {how: r.status_code for how, r in refused.items()} == dict.fromkeys(refused, 401)
    assert "binance_mcp_calls" not in refused["none"].text
    assert rebound.status_code == 421  # the MCP spec's DNS-rebinding rule, as on /mcp
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    assert "alice" not in text and agent not in text and SCRAPE_TOKEN not in text
    found = samples(text)
    assert value(found, "binance_mcp_calls_total", tool="get_price", decision="allowed", outcome="ok") == 3
    assert (
        value(found, "binance_mcp_calls_total", tool="place_order", decision="denied", outcome="refused") == 1
    )
    assert value(found, "binance_mcp_refusals_total", tool="place_order", kind="policy_denied") == 1
    assert value(found, "binance_mcp_refusals_total", tool="get_price", kind="exchange_error") == 1
    used = value(found, "binance_mcp_exchange_weight_used", window="1m")
    left = value(found, "binance_mcp_exchange_weight_left", window="1m")
    assert used is not None and left is not None and used + left == 6000
    assert used > 0 or not same_window
    assert value(found, "binance_mcp_lock_waiting") == 0
    assert value(found, "binance_mcp_approvals_pending") == 0
    assert value(found, "binance_mcp_state_store_up") == 1
    assert value(found, "binance_mcp_audit_log_writable") == 1
    assert value(found, "binance_mcp_draining") == 0 and value(found, "binance_mcp_drain_cut") == 0


async def test_without_a_metrics_token_a_server_with_tokens_refuses_every_scrape_and_says_how(
    tmp_path: Path, fake: FakeBinance
) -> None:
    async with serving_metrics(tmp_path, fake, None) as (service, agent, _):
        url = service.url.removesuffix("/mcp") + "/metrics"
        async with httpx2.AsyncClient(timeout=30) as http:
            answer = await http.get(url, headers={"Authorization": f"Bearer {agent}"})
    assert answer.status_code == 401
    assert "BINANCE_MCP_METRICS_TOKEN" in answer.json()["error_description"]


async def test_approval_requests_pending_are_counted(tmp_path: Path, fake: FakeBinance) -> None:
    app = make_app(
        tmp_path,
        fake.base_url,
        policy={"version": "1", "default": "allow", "rules": {"place_order": {"action": "require_approval"}}},
    )
    from binance_mcp.metrics import ServerMetrics

    try:
        async with Client(app.server, mode="legacy") as client:  # no elicitation: an operator is asked
            first = await client.call_tool("place_order", LIMIT_BUY)
            await client.call_tool("place_order", LIMIT_BUY | {"price": "49000"})
        assert (first.structured_content or {}).get("error") == "approval_required"
        found = samples((await ServerMetrics(app.guard).render()).decode())
    finally:
        app.close()
    assert value(found, "binance_mcp_approvals_pending") == 2
    assert (
        value(
            found,
            "binance_mcp_calls_total",
            tool="place_order",
            decision="approval_required",
            outcome="refused",
        )
        == 2
    )


async def test_two_servers_in_one_process_keep_their_own_metrics(tmp_path: Path, fake: FakeBinance) -> None:
    from binance_mcp.metrics import ServerMetrics

    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one = make_app(tmp_path / "one", fake.base_url)
    two = make_app(tmp_path / "two", fake.base_url)
    try:
        async with Client(one.server) as client:
            await client.call_tool("get_price", {"symbol": "BTCUSDT"})
        first = samples((await ServerMetrics(one.guard).render()).decode())
        second = samples((await ServerMetrics(two.guard).render()).decode())
    finally:
        one.close()
        two.close()
    assert value(first, "binance_mcp_calls_total", tool="get_price", decision="allowed", outcome="ok") == 1
    assert (
        value(second, "binance_mcp_calls_total", tool="get_price", decision="allowed", outcome="ok") is None
    )


METRICS_AT = re.compile(r"metrics at (http://127\.0\.0\.1:\d+/metrics)")


async def test_stdio_serves_metrics_on_the_opt_in_port_on_loopback(tmp_path: Path, fake: FakeBinance) -> None:
    args = [*server_args(tmp_path, fake), "--metrics-port", "0"]
    errlog = (tmp_path / "stderr.txt").open("w+")
    parameters = StdioServerParameters(command=BINANCE_MCP, args=args, env=server_env(), cwd=str(tmp_path))
    try:
        async with Client(stdio_client(parameters, errlog=errlog)) as client:
            assert not (await client.call_tool("get_price", {"symbol": "BTCUSDT"})).is_error
            with anyio.fail_after(10):
                while not METRICS_AT.search(Path(errlog.name).read_text()):
                    await anyio.sleep(0.05)
            url = METRICS_AT.search(Path(errlog.name).read_text()).group(1)  # type: ignore[union-attr]
            async with httpx2.AsyncClient(timeout=30) as http:
                answer = await http.get(url)
                elsewhere = await http.get(url.removesuffix("/metrics") + "/mcp")
                rebound = await http.get(url, headers={"Host": "attacker.example:80"})  # DNS rebinding
    finally:
        errlog.close()
    assert answer.status_code == 200 and elsewhere.status_code == 404
    assert rebound.status_code == 421 and "binance_mcp" not in rebound.text
    found = samples(answer.text)
    assert value(found, "binance_mcp_calls_total", tool="get_price", decision="allowed", outcome="ok") == 1


def test_metrics_port_is_for_stdio_only(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            BINANCE_MCP,
            "--testnet",
            "--transport",
            "http",
            "--metrics-port",
            "9100",
            "--state-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=server_env(),
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "--metrics-port is for stdio" in line


def test_prometheus_client_is_loaded_by_the_first_scrape_not_at_start() -> None:
    """Cold start: the server's modules, the HTTP app and the metrics module load without it."""
    import sys

    code = (
        "import sys, binance_mcp.cli, binance_mcp.server, binance_mcp.http.app, binance_mcp.http.serve, "
        "binance_mcp.metrics; print('prometheus_client' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
