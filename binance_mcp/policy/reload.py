"""`--watch`: reload the policy when its file changes, and tell clients when their tool list did.

The file is polled (its size, mtime and a hash of its bytes) rather than watched through inotify:
one stat per half second costs nothing and works on every platform and file system. A new file
that does not validate is refused: its errors are logged and the old policy stays in force.

Clients hear `notifications/tools/list_changed` when the visible tools change: 2025-era clients
on their connection (the server declares `tools.listChanged` for them), 2026-era clients through
`subscriptions/listen`, which is the only way that era receives it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

from binance_mcp.policy.engine import PolicyEngine
from binance_mcp.policy.model import PolicyError, load_policy_file

logger = logging.getLogger(__name__)

Fingerprint = tuple[int, int, str] | None


def fingerprint(path: Path) -> Fingerprint:
    try:
        stat = path.stat()
        return (stat.st_size, stat.st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
    except OSError:
        return None


class PolicyWatcher:
    """Polls one policy file; on a valid change, swaps the engine and reports visibility changes."""

    def __init__(
        self,
        path: Path,
        install: Callable[[PolicyEngine], frozenset[str]],
        tools_changed: Callable[[], Awaitable[None]],
        interval_s: float = 0.5,
    ) -> None:
        self.path = path
        self._install = install
        self._tools_changed = tools_changed
        self._interval_s = interval_s
        self._seen = fingerprint(path)

    async def run(self) -> None:
        while True:
            await anyio.sleep(self._interval_s)
            await self.check()

    async def check(self) -> bool:
        """Reload if the file changed. True when a new policy was put in force."""
        current = fingerprint(self.path)
        if current == self._seen:
            return False
        self._seen = current
        if current is None:
            logger.error("policy file %s cannot be read; the policy in force stays", self.path)
            return False
        try:
            engine = PolicyEngine(load_policy_file(self.path))
        except PolicyError as exc:
            for error in exc.errors:
                logger.error("policy %s: %s", self.path, error)
            logger.error("the changed policy %s is invalid; the policy in force stays", self.path)
            return False
        except OSError as exc:
            logger.error("policy file %s cannot be read (%s); the policy in force stays", self.path, exc)
            return False
        changed_visibility = self._install(engine)
        logger.warning("policy %s reloaded", self.path)
        if changed_visibility:
            logger.info("visible tools changed: %s", ", ".join(sorted(changed_visibility)))
            await self._tools_changed()
        return True
