"""Stage 2, rate limit: calls per window, per agent (the default), everyone, or session.

It runs right after hide, before the arguments are read and before anything costs a request to
the exchange: a caller over its limit is refused before its call reads prices, open orders or the
account. A call counts when it arrives here, whatever becomes of it later: refused by a
constraint, a filter, a budget or bad arguments, it still took a call of the window, so an agent
that keeps getting refused is slowed down like any other (issue #16). A limit with
`"count_refused": false` is only checked here; it counts the call when every check let it
through, as approval begins (`count_passed`). The later rounds of a 2026-era call that asked its
human are the same call. Calls are counted per
caller and tool; a limit is checked against the sum of the tools its rule covers (a glob's, or
place_order's with the tools that take its rule). So a reload that changes `max`, `window` or the
rule's key counts the calls already made against the new rule. When an agent rule and a
top-level rule both set a limit, both hold.

Counts in Redis that Redis lost (a restart without persistence) are written again from the audit
log before any call is counted (`counts_after_a_restart`): every call that passed this stage (or,
with `count_refused: false`, passed every check) is on record with its agent, session, tool and time, so a restart never hands out a fresh allowance
inside a window.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import anyio

from binance_mcp.guard.failures import store_unavailable
from binance_mcp.refusals import Refusal, RefusalKind
from binance_mcp.results import counted
from binance_mcp.stores.audit import AuditFilter, AuditRecord
from binance_mcp.stores.ratelimit import KEEP_S

if TYPE_CHECKING:
    from binance_mcp.guard.call import Caller, Decided, Request
    from binance_mcp.guard.services import Services
    from binance_mcp.policy.engine import PolicyEngine, RuleLimit
    from binance_mcp.stores.audit import AuditLog

logger = logging.getLogger(__name__)

COUNTED_DECISIONS = (
    "allowed",
    "approved",
    "approval_required",
    "declined",
    "dry_run",
    "not_configured",
    "denied",
    "invalid_arguments",
)
"""The audit decisions of calls that passed this stage (and so were counted): every call but one
refused by the limit itself (or hidden, or refused for a store); a call refused after this stage
counted when it arrived (with `count_refused: false` it did not, and is not rebuilt there:
`REFUSED_IN_SCREENING`)."""
REFUSED_IN_SCREENING = ("denied", "invalid_arguments")
"""Decisions of calls refused by a check: not counted again under a limit that counts only the
calls let through (`count_refused: false`, a `global` limit's default)."""
REBUILD_WAIT_S = 5.0
"""How long a call waits for another process to rebuild the counts after a Redis restart."""


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


async def rate_limit(request: Request, services: Services) -> Request:
    if request.continuing:
        return request
    decision = services.engine.decide(request.spec.name, request.caller.agent, services.network.value)
    limits = decision.limits
    if limits:
        await counts_after_a_restart(services)
        take(request, limits, arriving_keys(request, limits), services)
    return request


async def count_passed(decided: Decided, services: Services) -> None:
    """A call every check let through: counted now under the limits that count only such calls
    (`count_refused: false`), checked again atomically (a concurrent call may have taken the room)."""
    request = decided.request
    limits = decided.decision.limits
    if request.continuing or not limits:
        return
    arrived = arriving_keys(request, limits)
    passing = tuple(
        limit for limit in limits if limit_keys(request.caller, limit, request.spec.name)[0] not in arrived
    )
    if passing:
        await counts_after_a_restart(services)
        take(
            request,
            passing,
            {limit_keys(request.caller, limit, request.spec.name)[0] for limit in passing},
            services,
        )


def arriving_keys(request: Request, limits: tuple[RuleLimit, ...]) -> set[str]:
    """The counters a call is counted in when it arrives: those of every limit that counts
    refused calls (a counter two limits read is counted at arrival if either says so)."""
    tool = request.spec.name
    return {limit_keys(request.caller, limit, tool)[0] for limit in limits if limit.rate_limit.count_refused}


def take(request: Request, limits: tuple[RuleLimit, ...], counting: set[str], services: Services) -> None:
    """Check every limit; count the call once in each counter of `counting`, by the last limit
    that reads it (checked again there, atomically). The first limit with no room refuses it."""
    tool = request.spec.name
    keyed = [(limit, *limit_keys(request.caller, limit, tool)) for limit in limits]
    last = {key: index for index, (_limit, key, _others) in enumerate(keyed)}
    recording = [
        (limit, key, others, True)
        for index, (limit, key, others) in enumerate(keyed)
        if key in counting and last[key] == index
    ]
    checks = [(limit, key, others, False) for limit, key, others in keyed]
    if len(keyed) == 1 and recording:
        checks = []  # one limit that counts: its atomic check is the only one needed
    for limit, key, others, record in checks + recording:
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


def longest_window(engine: PolicyEngine) -> int:
    """The longest rate-limit window of the policy, in seconds (0 when it sets none)."""
    policy = engine.policy
    rules = [
        *policy.rules.values(),
        *(rule for agent in policy.agents.values() for rule in agent.rules.values()),
    ]
    return max((rule.rate_limit.window for rule in rules if rule.rate_limit is not None), default=0)


def counted_keys(record: AuditRecord, engine: PolicyEngine) -> tuple[str, ...]:
    """The counters a recorded call was counted under: those of the scopes of the limits the
    policy in force sets for its agent and tool (`counter_key`'s spelling). A call whose rule sets
    no limit (a tool the agent is denied, or one without a rate limit) was counted in none: counted
    again in everyone's counter, it would take the room of agents it never shared a limit with."""
    agent = record.client if record.identity == "token" else None
    limits = engine.decide(record.tool, agent, record.network).limits
    refused = record.decision in REFUSED_IN_SCREENING
    scopes = {limit.rate_limit.scope for limit in limits if limit.rate_limit.count_refused or not refused}
    holders = {"agent": agent or "local", "global": "*", "session": record.session}
    if "session" in scopes and agent is not None and record.session == f"agent:{agent}":
        scopes = (scopes - {"session"}) | {"agent"}  # a 2026-era caller (`counter_key`)
    return tuple(f"{scope}:{holders[scope]}:{record.tool}" for scope in sorted(scopes))


def counted_calls(store: AuditLog, since: datetime, engine: PolicyEngine) -> list[tuple[str, float]]:
    """(counter key, epoch seconds) of each call the audit log recorded since `since` that a rate
    limit counted."""

    def hits() -> Iterator[tuple[str, float]]:
        for record in store.calls(AuditFilter(decisions=COUNTED_DECISIONS, since=since)):
            at = datetime.strptime(record.time, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
            for key in counted_keys(record, engine):
                yield key, at

    return list(hits())


async def counts_after_a_restart(services: Services) -> None:
    """When the rate-limit counters' Redis restarted (or lost them) since they were last whole,
    write them again from the audit log before anything is counted; when another process is doing
    that, wait for it (`REBUILD_WAIT_S` at most, then a `store_unavailable` refusal)."""
    limiter = services.limiter
    restart = limiter.restart()
    deadline = time.monotonic() + REBUILD_WAIT_S
    while restart is not None and not restart.claimed:
        if time.monotonic() > deadline:
            raise store_unavailable("redis", "its rate-limit counts are being rebuilt after a restart")
        await anyio.sleep(0.05)
        restart = limiter.restart()
    if restart is None:
        return
    keep_s = min(longest_window(services.engine), KEEP_S)
    since = datetime.now(UTC) - timedelta(seconds=keep_s)
    try:
        engine = services.engine
        hits = await services.audit.read(lambda store: counted_calls(store, since, engine)) if keep_s else []
        keys = limiter.rebuild(restart, hits, keep_s)
    except BaseException:
        limiter.give_up(restart)  # the next call claims it again, rather than wait for the claim to expire
        raise
    logger.warning(
        "the rate-limit counters' Redis restarted or lost them (run_id %s): %d counts of the last %d s "
        "written again from the audit log, under %d counters",
        restart.run_id,
        len(hits),
        keep_s,
        keys,
    )
