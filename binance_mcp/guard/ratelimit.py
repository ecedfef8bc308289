"""Stage 5, rate limit: calls per window, per session, agent or everyone.

A call counts once, when it passes this stage: a refused call before it does not count, and the
later rounds of a 2026-era call that asked its human are the same call. The key names the rule,
not its numbers, so a policy reload that changes `max` or `window` counts the calls already made
against the new bound.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from binance_mcp.refusals import Refusal, RefusalKind
from binance_mcp.results import counted

if TYPE_CHECKING:
    from binance_mcp.guard.call import Caller, Decided
    from binance_mcp.guard.services import Services


def counter_key(caller: Caller, scope: str, rule_path: str | None) -> str:
    """Whose calls a limit counts: this session's, this agent's, or everyone's, under one rule."""
    holder = {"global": "*", "agent": caller.agent or "local"}.get(scope, caller.session)
    return f"{scope}:{holder}:{rule_path}"


async def rate_limit(decided: Decided, services: Services) -> Decided:
    decision = decided.decision
    if decision.rate_limit is None or decided.request.continuing:
        return decided
    limit = decision.rate_limit
    key = counter_key(decided.request.caller, limit.scope, decision.rate_limit_path)
    wait = services.limiter.hit(key, int(limit.max), float(limit.window))
    if wait is not None:
        raise Refusal(
            RefusalKind.RATE_LIMITED,
            f"{decided.request.spec.name} may be called at most {counted(int(limit.max), 'time')} per {limit.window} s "
            f"({limit.scope}); try again in {wait:g} s",
            rule=decision.rate_limit_path,
            retry_after_s=wait,
            limit=str(limit.max),
            unit=f"calls per {limit.window} s",
            scope=limit.scope,
        )
    return decided
