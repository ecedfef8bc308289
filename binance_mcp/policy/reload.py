"""`--watch`: reload the policy when its file changes, and tell clients when their tool list did.

The file is polled (a hash of its bytes, read once per poll without blocking, at most 1 MiB)
rather than watched through inotify: one small read per half second costs nothing, works on every
platform and file system, and follows a symlink swapped to point elsewhere. The bytes that were
hashed are the bytes that are parsed, in a worker thread, so a large file never stalls other calls.

The poll alone would leave a window (up to an interval, and each process polls in its own phase:
four processes took 264 ms to agree, and one sent an order 57 ms after a `deny` was saved). So a
call that changes the account also looks at the file itself before it is decided and again under
the lock before it is sent (`PolicyInForce.catch_up`, from the account's epoch): a policy saved
before that moment decides the order, in every process. Reads still follow within one interval.

A changed file that cannot be used is refused whatever is wrong with it (invalid, unreadable, a
directory or a FIFO, a partial write, a defect in the parser): each problem is logged as one line
with its place, the old policy stays in force, and the watcher keeps polling. Nothing a file holds
can end the watcher, and so the server.

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
import anyio.to_thread

from binance_mcp.policy.engine import PolicyEngine
from binance_mcp.policy.loading import PolicyError, read_policy_bytes
from binance_mcp.policy.model import parse_policy_bytes

logger = logging.getLogger(__name__)

Fingerprint = str | None
"""The sha256 of the file's bytes, `error:<reason>` when it cannot be read, or None before the first look."""


def _read(path: Path) -> tuple[Fingerprint, bytes | None, str | None]:
    """(fingerprint, bytes, why unreadable): never raises for a file's sake."""
    try:
        raw = read_policy_bytes(path)
    except PolicyError as exc:  # too large
        reason = "; ".join(exc.errors)
        return f"error:{reason}", None, reason
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return f"error:{reason}", None, reason
    return hashlib.sha256(raw).hexdigest(), raw, None


def fingerprint(path: Path) -> Fingerprint:
    """What identifies the file's current content (or why it cannot be read)."""
    return _read(path)[0]


def _printable(text: str) -> str:
    return " ".join(text.encode("utf-8", "backslashreplace").decode("utf-8").split())


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
        self._checking = anyio.Lock()  # the poll and a decision's catch-up never reload twice

    async def run(self) -> None:
        """Poll forever. A failure of one poll is logged and the next poll comes as usual."""
        while True:
            await anyio.sleep(self._interval_s)
            try:
                await self.check()
            except Exception as exc:  # a defect, not the file's fault: the watcher must not die of it
                logger.error(
                    "policy %s: reloading failed (%s); the policy in force stays",
                    _printable(str(self.path)),
                    _printable(f"{type(exc).__name__}: {exc}"[:300]),
                )

    async def check(self) -> bool:
        """Reload if the file changed. True when a new policy was put in force."""
        async with self._checking:
            return await self._check()

    async def _check(self) -> bool:
        shown = _printable(str(self.path))
        current, raw, unreadable = await anyio.to_thread.run_sync(_read, self.path)
        if current == self._seen:
            return False
        self._seen = current
        if raw is None:
            logger.error("policy file %s cannot be read (%s); the policy in force stays", shown, unreadable)
            return False
        try:
            engine = await anyio.to_thread.run_sync(_engine, raw, str(self.path))
        except PolicyError as exc:
            for error in exc.errors:
                logger.error("policy %s: %s", shown, _printable(error))
            logger.error("the changed policy %s is invalid; the policy in force stays", shown)
            return False
        changed_visibility = self._install(engine)
        logger.warning("policy %s reloaded", shown)
        if changed_visibility:
            logger.info("visible tools changed: %s", ", ".join(sorted(changed_visibility)))
            await self._tools_changed()
        return True


def _engine(raw: bytes, source: str) -> PolicyEngine:
    return PolicyEngine(parse_policy_bytes(raw, source))
