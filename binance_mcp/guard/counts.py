"""How this server's calls ended since it started: what `/metrics` reports (`binance_mcp.metrics`).

Plain counters, kept by the record stage as each call ends; nothing here imports
`prometheus_client`, which is loaded only when someone scrapes the metrics.
"""

from __future__ import annotations

from collections import Counter

__all__ = ["CallCounts"]


class CallCounts:
    """Calls by tool, decision and outcome; refusals by tool and kind; store failures by store."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str, str]] = Counter()
        self.refusals: Counter[tuple[str, str]] = Counter()
        self.store_failures: Counter[str] = Counter()

    def note(
        self, tool: str, decision: str, outcome: str, *, kind: str | None = None, store: str | None = None
    ) -> None:
        """One call ended: how, and for a refusal, of what kind (and which store failed, if one did)."""
        self.calls[(tool, decision, outcome)] += 1
        if kind is not None:
            self.refusals[(tool, kind)] += 1
        if store is not None:
            self.store_failures[store] += 1
