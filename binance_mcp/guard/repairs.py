"""Writes owed after a send: tried again until they land, never the call's answer.

Once a request may have left, its answer goes to the agent whatever happens to the stores after
it (dispatch.py). A budget settle that fails then (PostgreSQL restarting, its connection ended)
is owed here and tried again: at the next call that changes the account, and every few seconds
from the server's background task (`Guard.renew_lease`), until it lands. The audit log's owed
outcomes are the writer's own (`AuditWriter.repair`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Repairs:
    """Owed writes, each a function run again until it returns without raising."""

    def __init__(self) -> None:
        self._owed: list[tuple[str, Callable[[], None]]] = []
        self._lock = threading.Lock()

    def owe(self, what: str, write: Callable[[], None]) -> None:
        with self._lock:
            self._owed.append((what, write))

    @property
    def owed(self) -> int:
        return len(self._owed)

    def run(self) -> int:
        """Try each owed write once, oldest first; returns how many are still owed."""
        with self._lock:
            owed, self._owed = self._owed, []
        failed: list[tuple[str, Callable[[], None]]] = []
        for what, write in owed:
            try:
                write()
            except Exception as exc:
                failed.append((what, write))
                logger.warning("could not %s yet (%s); it is tried again", what, exc.__class__.__name__)
            else:
                logger.warning("repaired: %s", what)
        with self._lock:
            self._owed[:0] = failed
            return len(self._owed)
