"""Stage 5, rate limit: calls per window, per agent (the default), everyone, or session.

A call counts once, when it passes this stage: a refused call before it does not count, and the
later rounds of a 2026-era call that asked its human are the same call. Calls are counted per
caller and tool; a limit is checked against the sum of the tools its rule covers (a glob's, or
place_order's with the tools that take its rule). So a reload that changes `max`, `window` or the
rule's key counts the calls already made against the new rule. When an agent rule and a
top-level rule both set a limit, both hold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from binance_mcp.refusals import Refusal, RefusalKind
from binance_mcp.results import counted

if TYPE_CHECKING:
    from binance_mcp.guard.call import Caller, Decided
    from binance_mcp.guard.services import Services
    from binance_mcp.policy.engine import RuleLimit


def counter_key(caller: Caller, scope: str, tool: str) -> str:
    """Whose calls of one tool a limit counts: this agent's, everyone's, or this session's (a
    2026-era caller has no session: its session is its agent, so it cannot be multiplied)."""
    if scope == "session" and caller.agent is not None and caller.session == f"agent:{caller.agent}":
        # a 2026-era caller: its agent stands in for the session, so count it where agents are
        # counted (shared by every replica on the state), not in this process's session counters
        scope = "agent"
    holder = {"global": "*", "session": caller.session}.get(scope) or caller.agent or "local"
    return f"{scope}:{holder}:{tool}"


def limit_keys(caller: Caller, limit: RuleLimit, tool: str) -> tuple[str, tuple[str, ...]]:
    """This tool's counter under a limit, and the counters of the other tools the limit covers."""
    scope = limit.rate_limit.scope
    others = tuple(counter_key(caller, scope, other) for other in limit.tools if other != tool)
    return counter_key(caller, scope, tool), others


async def rate_limit(decided: Decided, services: Services) -> Decided:
    decision = decided.decision
    if not decision.limits or decided.request.continuing:
        return decided
    tool = decided.request.spec.name
    caller = decided.request.caller
    keyed = [(limit, *limit_keys(caller, limit, tool)) for limit in decision.limits]
    # every limit is checked before anything is counted; then the call is counted once per
    # counter, by the last limit that reads it (checked again there, atomically)
    last = {key: index for index, (_limit, key, _others) in enumerate(keyed)}
    checks = [(limit, key, others, False) for limit, key, others in keyed] if len(keyed) > 1 else []
    checks += [
        (limit, key, others, True) for index, (limit, key, others) in enumerate(keyed) if last[key] == index
    ]
    for limit, key, others, record in checks:
        bound = limit.rate_limit
        wait = services.limiter.hit(key, int(bound.max), float(bound.window), others, record=record)
        if wait is not None:
            shared = f", shared by {', '.join(limit.tools)}" if limit.shared else ""
            raise Refusal(
                RefusalKind.RATE_LIMITED,
                f"{tool} may be called at most {counted(int(bound.max), 'time')} per {bound.window} s "
                f"({bound.scope}{shared}); try again in {wait:g} s",
                rule=limit.path,
                retry_after_s=wait,
                limit=str(bound.max),
                unit=f"calls per {bound.window} s",
                scope=bound.scope,
            )
    return decided
