"""The server the in-process benchmarks measure: allow-all policy, on the local test exchange.

Benchmarks send thousands of calls a minute, more than Binance's request-weight and order limits
allow, and the exchange layer would (rightly) wait for the next window: the test exchange
announces roomy limits instead, so the figures measure the calls, not that wait.
"""

from __future__ import annotations

import json
from pathlib import Path

from binance_mcp.config import build_config
from binance_mcp.server import App, build_app
from tests.fake_binance import FakeBinance, public_api

KEY, SECRET = "bench-key", "bench-secret"


def announce_roomy_limits() -> None:
    """Call before the test exchange starts."""
    public_api.RATE_LIMITS = [dict(entry, limit=10**9) for entry in public_api.RATE_LIMITS]


async def allow_all_app(fake: FakeBinance, directory: Path, *, market_data_max_age: float = 0.0) -> App:
    """binance-mcp on `fake` with an allow-all policy, state in `directory`, limits already read.

    Market data is read afresh on every call unless asked otherwise (`--market-data-max-age 0`):
    the per-call benchmarks compare a call's own cost with a bare server making the same request,
    which a shared answer would hide; benchmarks/exchange_requests.py measures the sharing."""
    policy = directory / "policy.json"
    policy.write_text(json.dumps({"version": "1", "default": "allow"}))
    config = build_config(
        network_flag="testnet",
        base_url_flag=fake.base_url,
        policy_flag=str(policy),
        state_dir_flag=str(directory / "state"),
        market_data_max_age_flag=market_data_max_age,
        env={"BINANCE_API_KEY": KEY, "BINANCE_API_SECRET": SECRET},
    )
    app = build_app(config)
    await app.exchange.get_symbol_info("BTCUSDT")  # reads the exchange's (roomy) rate limits once
    return app
