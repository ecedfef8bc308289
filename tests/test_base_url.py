"""The REST root as a user types it, through `binance-mcp` as a subprocess.

One place, many spellings: case, a default port, a trailing dot, the API path typed along. The
check that keeps testnet and demo settings off the real exchange must see through all of them,
and a root given with `/api/v3/` must not double the path.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.command import BINANCE_MCP
from tests.conftest import API_KEY, API_SECRET
from tests.fake_binance import FakeBinance
from tests.test_cli import run_cli


@pytest.mark.parametrize(
    "url",
    [
        "https://api.binance.com.",
        "https://API.Binance.COM.:443/",
        "https://api.binance.com./api/v3/",
        "https://api3.binance.com..",
        "https://fapi.binance.com",
    ],
)
@pytest.mark.parametrize("network", ["--testnet", "--demo"])
def test_a_testnet_or_demo_server_refuses_the_real_exchange_however_it_is_spelled(
    tmp_path: Path, url: str, network: str
) -> None:
    done = run_cli(network, "--base-url", url, "--state-dir", str(tmp_path / "state"), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "is the real exchange: use --mainnet" in last and "Traceback" not in done.stderr


def test_the_same_refusal_reads_the_environment_too(tmp_path: Path) -> None:
    done = run_cli(
        "--testnet",
        "--state-dir",
        str(tmp_path / "s"),
        env={"BINANCE_BASE_URL": "https://api.binance.com."},
        cwd=tmp_path,
    )
    assert done.returncode == 2 and "is the real exchange" in done.stderr


@pytest.mark.parametrize("url", ["ftp://x", "http://", "https://user:pw@api.example", "http://h:99999"])
def test_a_root_that_is_not_one_is_one_line_and_exit_2(tmp_path: Path, url: str) -> None:
    done = run_cli("--testnet", "--base-url", url, "--state-dir", str(tmp_path / "s"), cwd=tmp_path)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("binance-mcp: --base-url") and "pw" not in line


@pytest.mark.anyio
@pytest.mark.parametrize("suffix", ["/api/v3/", "/api", "/API/v3"])
async def test_a_root_given_with_the_api_path_is_used_without_it(
    tmp_path: Path, fake: FakeBinance, suffix: str
) -> None:
    fake.set_price("ETHUSDT", "3333.33")
    spelled = fake.base_url.replace("http://", "HTTP://") + suffix
    errlog = (tmp_path / "stderr.txt").open("w+")
    params = StdioServerParameters(
        command=BINANCE_MCP,
        args=["--testnet", "--base-url", spelled, "--state-dir", str(tmp_path / "state")],
        env={
            "BINANCE_API_KEY": API_KEY,
            "BINANCE_API_SECRET": API_SECRET,
            "PATH": os.environ.get("PATH", ""),
        },
        cwd=str(tmp_path),
    )
    with errlog:
        async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
            price = await client.call_tool("get_price", {"symbol": "ETHUSDT"})
        errlog.seek(0)
        stderr = errlog.read()
    assert not price.is_error, price.structured_content
    assert price.structured_content["symbol"] == "ETHUSDT"
    assert price.structured_content["price"] == "3333.33000000"
    assert {r.path for r in fake.requests} == {"/api/v3/ticker/price"}
    assert f"using the REST root {fake.base_url}" in stderr
