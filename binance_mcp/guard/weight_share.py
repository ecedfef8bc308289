"""Each agent's share of Binance's request weight: no agent can spend what the others need.

Binance counts request weight per IP address, not per key (6000 a minute; rest-api.md, "LIMITS"):
every agent behind this server, and anything else on the same address, draws on one budget.
With `max_weight_share_pct` (top level, or an agent's own), each request an agent's call makes
is counted, at its documented weight (`binance_mcp.exchange.weights`), against that percent of
the minute's limit (exchangeInfo's REQUEST_WEIGHT per minute, 6000 until it was read), over the
last 60 s; a request that would take the agent past it is not sent (`ShareUsed`, refused as
`rate_limited` with `retry_after_s`). The counts are kept where the agent rate limits are
(`stores.ratelimit`: the state's counters, or Redis), so every process and replica on one state
counts one share. Requests made for no call (start-up, recovery in the background) are nobody's.

The exchange client asks this `gate` before each request; the gate reads the caller from the
context the server sets for each MCP request (`CURRENT_CALLER`), and the share from the policy in
force.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from binance_mcp.exchange.errors import ShareUsed
from binance_mcp.guard.caller import CURRENT_CALLER

if TYPE_CHECKING:
    from binance_mcp.guard.services import PolicyInForce
    from binance_mcp.stores.ratelimit import RateLimiter

WINDOW_S = 60
"""The share is counted over the last minute, as Binance counts weight per minute."""


def share_key(agent: str | None) -> str:
    """The counter of an agent's weight (an `agent:` key: shared by every process on the state)."""
    return f"agent:{agent or 'local'}:@weight"


def share_of(policy: PolicyInForce, agent: str | None, per_minute: int) -> tuple[int, int, str] | None:
    """The agent's share: in request weight per minute, in percent, and the policy path that sets it."""
    found = policy.engine.weight_share(agent)
    if found is None:
        return None
    percent, path = found
    return max(1, per_minute * percent // 100), percent, path


class WeightShare:
    """The gate the guard gives the exchange client (`ExchangeClient.gate`)."""

    def __init__(
        self, policy: PolicyInForce, limiter: Callable[[], RateLimiter], per_minute: Callable[[], int]
    ) -> None:
        self._policy = policy
        self._limiter = limiter
        self._per_minute = per_minute

    def __call__(self, method: str, weight: int) -> None:
        caller = CURRENT_CALLER.get()
        if caller is None or weight <= 0:
            return
        share = share_of(self._policy, caller.agent, self._per_minute())
        if share is None:
            return
        cap, _percent, path = share
        holder = f"agent {caller.agent or 'local'}"
        key = share_key(caller.agent)
        limiter = self._limiter()
        if weight > cap:
            raise ShareUsed(holder, cap, 0, weight, None, path)
        wait = limiter.hit(key, cap, WINDOW_S, amount=weight)
        if wait is not None:
            used = cap - limiter.left(key, cap, WINDOW_S)
            raise ShareUsed(holder, cap, used, weight, wait, path)


def share_report(
    policy: PolicyInForce, limiter: RateLimiter, agent: str | None, per_minute: int
) -> dict[str, object] | None:
    """For `get_limits`: the agent's share and what is left of it over the last 60 s (None: no share)."""
    share = share_of(policy, agent, per_minute)
    if share is None:
        return None
    cap, percent, path = share
    return {
        "max_pct": percent,
        "weight_per_minute": cap,
        "left": limiter.left(share_key(agent), cap, WINDOW_S),
        "counted": "every request this agent's calls send, at Binance's documented weight, over the last 60 s",
        "rule": path,
    }
