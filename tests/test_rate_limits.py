"""Rate limits: counters that outlive a policy edit, a restart, and a process.

- A policy reload keeps the calls already counted: 8 calls under 10 per hour, the file changed to
  3 per hour, and the next call is refused (it used to hand out a fresh allowance); changing only
  the window does not reset the count either. Through `mcp.Client` and a watched policy file.
- `agent` and `global` counters live in the state (SQLite in the state dir), so two server
  processes on one state dir, and a restart, share them; `session` counters stay in the process.
- `redis://` counters (a real redis-server), shared by limiters that share nothing else.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from binance_mcp.policy.reload import PolicyWatcher
from binance_mcp.stores.ratelimit import RateLimiter, SqliteRateCounters
from tests.conftest import make_app
from tests.fake_binance import FakeBinance

pytestmark = pytest.mark.anyio

PRICE = {"symbol": "BTCUSDT"}


def limited(max_calls: int, window: int, scope: str = "session") -> dict[str, Any]:
    limit = {"max": max_calls, "window": window, "scope": scope}
    return {
        "version": "1",
        "default": "allow",
        "rules": {"get_price": {"action": "allow", "rate_limit": limit}},
    }


async def calls_allowed(client: Client, count: int) -> int:
    allowed = 0
    for _ in range(count):
        result = await client.call_tool("get_price", PRICE)
        if not result.is_error:
            allowed += 1
        else:
            assert result.structured_content["error"] == "rate_limited"
    return allowed


@pytest.mark.parametrize("scope", ["session", "agent", "global"])
async def test_a_lower_max_after_a_reload_counts_the_calls_already_made(
    tmp_path: Path, fake: FakeBinance, scope: str
) -> None:
    app = make_app(tmp_path, fake.base_url, policy=limited(10, 3600, scope))
    policy_path = tmp_path / "policy.json"
    watcher = PolicyWatcher(policy_path, app.guard.install, app.notifier.notify)
    try:
        async with Client(app.server) as client:
            assert await calls_allowed(client, 8) == 8
            policy_path.write_text(json.dumps(limited(3, 3600, scope)))
            assert await watcher.check() is True
            assert await calls_allowed(client, 3) == 0  # 8 made already: over the new bound of 3
            policy_path.write_text(json.dumps(limited(10, 3600, scope)))
            assert await watcher.check() is True
            assert await calls_allowed(client, 5) == 2  # back to 10: two left, not ten
    finally:
        app.close()


async def test_a_changed_window_does_not_hand_out_a_fresh_allowance(
    tmp_path: Path, fake: FakeBinance
) -> None:
    app = make_app(tmp_path, fake.base_url, policy=limited(3, 600))
    policy_path = tmp_path / "policy.json"
    watcher = PolicyWatcher(policy_path, app.guard.install, app.notifier.notify)
    try:
        async with Client(app.server) as client:
            assert await calls_allowed(client, 3) == 3
            policy_path.write_text(json.dumps(limited(3, 900)))
            assert await watcher.check() is True
            assert await calls_allowed(client, 2) == 0
    finally:
        app.close()


def test_counters_in_the_state_are_shared_by_limiters_and_survive_a_restart(tmp_path: Path) -> None:
    first = RateLimiter(shared=SqliteRateCounters(tmp_path / "ratelimits.sqlite3"))
    second = RateLimiter(shared=SqliteRateCounters(tmp_path / "ratelimits.sqlite3"))
    assert first.hit("global:*:rules.get_price.rate_limit", 3, 600) is None
    assert second.hit("global:*:rules.get_price.rate_limit", 3, 600) is None
    first.close()
    restarted = RateLimiter(shared=SqliteRateCounters(tmp_path / "ratelimits.sqlite3"))
    assert restarted.hit("global:*:rules.get_price.rate_limit", 3, 600) is None
    wait = second.hit("global:*:rules.get_price.rate_limit", 3, 600)
    assert wait is not None and 590 < wait <= 600
    # a session counter is the process's own
    assert restarted.hit("session:abc:rules.get_price.rate_limit", 1, 600) is None
    assert second.hit("session:abc:rules.get_price.rate_limit", 1, 600) is None
    second.close()
    restarted.close()


_SERVER_CALLS = textwrap.dedent(
    """
    import sys
    import anyio
    from mcp import Client
    from tests.conftest import make_app
    from pathlib import Path

    tmp, base_url, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])

    async def main() -> None:
        app = make_app(tmp, base_url, policy={"version": "1", "default": "allow", "rules": {"get_price": {
            "action": "allow", "rate_limit": {"max": 3, "window": 600, "scope": "global"}}}})
        allowed = 0
        async with Client(app.server) as client:
            for _ in range(count):
                allowed += not (await client.call_tool("get_price", {"symbol": "BTCUSDT"})).is_error
        app.close()
        print(allowed)

    anyio.run(main)
    """
)


def test_three_server_processes_on_one_state_dir_share_a_global_limit(
    tmp_path: Path, fake: FakeBinance
) -> None:
    """The issue's reproduction: three stdio servers under `global` 3 per 600 s made 9 calls."""
    runs = [
        subprocess.run(
            [sys.executable, "-c", _SERVER_CALLS, str(tmp_path), fake.base_url, "3"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=Path(__file__).parent.parent,
            check=False,
        )
        for _ in range(3)
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr
    assert sum(int(run.stdout.strip()) for run in runs) == 3
