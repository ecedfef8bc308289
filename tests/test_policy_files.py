"""Every way a policy file can be bad: refused with its place, in one line, never a traceback.

`binance-mcp policy check FILE` (the entry point, as a subprocess) on each bad file prints one
line naming the place and exits 1 (2 when the file cannot be read at all). Under `--watch`, a
running server fed the same files in turn (written in place, or a symlink swapped to point at
them) keeps the policy in force, keeps answering through `mcp.Client`, and still reloads the next
valid file: nothing a file holds ends the watcher.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from binance_mcp.policy.reload import PolicyWatcher
from tests.command import BINANCE_MCP
from tests.conftest import make_app
from tests.fake_binance import FakeBinance

VALID = {"version": "1", "default": "allow", "hide": ["place_order"]}


def _deep(levels: int) -> str:
    return '{"version": "1", "default": "allow", "x": ' + "[" * levels + "]" * levels + "}"


# name → (file text as bytes, the place the error names, words of the problem)
BAD_FILES: dict[str, tuple[bytes, str, str]] = {
    "integer-of-5000-digits": (
        b'{"version": "1", "rules": {"get_price": {"action": "allow", "rate_limit": {"max": '
        + b"9" * 5000
        + b', "window": 60}}}}',
        "rules.get_price.rate_limit.max",
        "a number of 5000 digits is too large",
    ),
    "lone-surrogate-in-hide": (
        b'{"version": "1", "default": "allow", "hide": ["get_price", "\\ud800"]}',
        "hide[1]",
        "contains \\ud800, a lone surrogate",
    ),
    "lone-surrogate-in-a-key": (
        b'{"version": "1", "rules": {"get_\\udfff": {"action": "allow"}}}',
        "rules",
        "a key contains \\udfff, a lone surrogate",
    ),
    "nested-100000-deep": (_deep(100_000).encode(), "line 1, column", "nested too deeply"),
    "nested-40-deep": (_deep(40).encode(), "x[0][0]", "nested too deeply"),
    "partial-write": (
        json.dumps({"version": "1", "default": "allow", "hide": ["get_klines"]}).encode()[:30],
        "line 1, column",
        "not valid JSON",
    ),
    "decimal-of-a-billion-places": (
        b'{"version": "1", "rules": {"place_order": {"action": "allow", '
        b'"constraints": {"max_notional": "1e-999999999"}}}}',
        "rules.place_order.constraints.max_notional",
        "has too many decimals",
    ),
    "two-megabytes": (b'{"version": "1", "x": "' + b"a" * 2_000_000 + b'"}', "(top)", "larger than 1024 KiB"),
    "not-utf-8": (b'{"version": "1", "default": "\xff"}', "(top)", "not UTF-8 text"),
}


def _unreadable_directory(path: Path) -> None:
    path.mkdir()


def _unreadable_fifo(path: Path) -> None:
    os.mkfifo(path)  # reading it would block forever: refused without opening it for a read


def _unreadable_dangling_symlink(path: Path) -> None:
    path.symlink_to(path.parent / "nowhere.json")


def _unreadable_symlink_loop(path: Path) -> None:
    path.symlink_to(path)


# name → (make the path unreadable, words of the problem). Tests run as root, which reads any
# file whatever its mode bits: these are what even root cannot read as a policy.
UNREADABLE: dict[str, tuple[Callable[[Path], None], str]] = {
    "directory": (_unreadable_directory, "is a directory"),
    "fifo": (_unreadable_fifo, "is not a regular file"),
    "dangling-symlink": (_unreadable_dangling_symlink, "no such file"),
    "symlink-loop": (_unreadable_symlink_loop, "cannot be read"),
}


def policy_check(path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINANCE")}
    return subprocess.run(
        [BINANCE_MCP, "policy", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_policy_check_refuses_a_bad_file_in_one_line_naming_the_place(name: str, tmp_path: Path) -> None:
    text, place, problem = BAD_FILES[name]
    path = tmp_path / f"{name}.json"
    path.write_bytes(text)
    done = policy_check(path)
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == 1, done.stderr[-2000:]
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}: {place}"), lines
    assert problem in lines[0], lines
    assert len(lines[0]) < 400


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_policy_check_says_in_one_line_why_a_file_cannot_be_read(name: str, tmp_path: Path) -> None:
    make, problem = UNREADABLE[name]
    path = tmp_path / f"{name}.json"
    make(path)
    done = policy_check(path)
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"binance-mcp policy: {path}: {done.stderr.split(': ', 2)[2].strip()}"
    ]
    assert problem in done.stderr


@pytest.mark.parametrize("name", ["integer-of-5000-digits", "lone-surrogate-in-hide", "nested-100000-deep"])
def test_policy_explain_refuses_the_same_way(name: str, tmp_path: Path) -> None:
    text, place, problem = BAD_FILES[name]
    path = tmp_path / f"{name}.json"
    path.write_bytes(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINANCE")}
    done = subprocess.run(
        [BINANCE_MCP, "policy", "explain", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"{path}: {place}") and problem in done.stderr


# -- under --watch, with a running server ---------------------------------------------------------


class Watching:
    """A server on the fake exchange, its policy file a symlink, and a watcher polling it for real."""

    def __init__(self, tmp_path: Path, fake: FakeBinance, caplog: pytest.LogCaptureFixture) -> None:
        self.dir = tmp_path / "policies"
        self.dir.mkdir()
        self.app = make_app(tmp_path, fake.base_url, policy=VALID)
        self.link = tmp_path / "active.json"
        self.link.symlink_to(self.app.policy_path)
        self.watcher = PolicyWatcher(
            self.link, self.app.guard.install, self.app.notifier.notify, interval_s=0.02
        )
        self.caplog = caplog
        self.count = 0

    def swap_to(self, target: Path) -> None:
        """Point the symlink elsewhere atomically (a new link renamed over the old one)."""
        self.count += 1
        fresh = self.link.with_name(f"link-{self.count}")
        fresh.symlink_to(target)
        fresh.replace(self.link)

    async def refused(self, words: str) -> str:
        """Wait for the watcher to log that a change was refused, and return what it logged."""
        with anyio.fail_after(10):
            while True:
                found = [
                    r.getMessage()
                    for r in self.caplog.records
                    if "the policy in force stays" in r.getMessage()
                ]
                if found:
                    logged = "\n".join(r.getMessage() for r in self.caplog.records)
                    self.caplog.clear()
                    assert words in logged, logged
                    return logged
                await anyio.sleep(0.02)


async def visible_tools(client: Client) -> set[str]:
    return {tool.name for tool in (await client.list_tools(cache_mode="bypass")).tools}


@pytest.mark.anyio
async def test_the_watcher_survives_every_bad_file_and_the_old_policy_stays(
    tmp_path: Path, fake: FakeBinance, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="binance_mcp.policy.reload")
    watching = Watching(tmp_path, fake, caplog)
    results: dict[str, Any] = {}

    async def run_watcher() -> None:
        try:
            await watching.watcher.run()
        except BaseException as exc:  # a cancellation at the end; anything else is the defect
            results["ended"] = exc
            raise

    async with Client(watching.app.server) as client, anyio.create_task_group() as group:
        group.start_soon(run_watcher)
        assert "place_order" not in await visible_tools(client)

        cases: list[tuple[str, Callable[[], None], str]] = []
        for name in sorted(BAD_FILES):
            text, _, problem = BAD_FILES[name]
            target = watching.dir / f"{name}.json"
            target.write_bytes(text)
            cases.append((f"symlink to {name}", lambda t=target: watching.swap_to(t), problem))
        for name in sorted(UNREADABLE):
            make, problem = UNREADABLE[name]
            target = watching.dir / f"unreadable-{name}.json"
            make(target)
            cases.append((f"symlink to a {name}", lambda t=target: watching.swap_to(t), "cannot be read"))
        in_place = watching.dir / "in-place.json"

        def write_in_place(text: bytes) -> None:
            in_place.write_bytes(text)
            if os.readlink(watching.link) != str(in_place):
                watching.swap_to(in_place)

        for name in (
            "integer-of-5000-digits",
            "lone-surrogate-in-hide",
            "nested-100000-deep",
            "partial-write",
        ):
            text, _, problem = BAD_FILES[name]
            cases.append((f"{name} written in place", lambda t=text: write_in_place(t), problem))

        for label, make_bad, words in cases:
            make_bad()
            logged = await watching.refused(words)
            assert "Traceback" not in logged, (label, logged)
            assert "ended" not in results, (label, results)
            assert "place_order" not in await visible_tools(client), label  # the old policy is in force
            price = await client.call_tool("get_price", {"symbol": "BTCUSDT"})
            assert not price.is_error, (label, price.content)

        # still watching: the next valid file is put in force
        in_place.write_text(json.dumps({"version": "1", "default": "allow"}))
        watching.swap_to(in_place)
        with anyio.fail_after(10):
            while "place_order" not in await visible_tools(client):
                await anyio.sleep(0.02)
        group.cancel_scope.cancel()
    watching.app.close()
