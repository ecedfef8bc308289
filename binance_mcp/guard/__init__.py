"""The policy guard: every tool call passes these stages, in this order, before Binance sees it.

    hide → parse → validate → decide → rate_limit → approve → dispatch → record

`STAGES` below is that order, written once; each stage is a module of this package by the same
name, a function from one frozen value (`call.py`) to the next, or a `Refusal`. The first six run
while the SDK screens the call (the only place where a human can be asked, on both protocol
eras), the last two in the tool's handler. Whatever goes wrong inside the guard denies the call:
it fails closed. `build_guard` makes the whole thing from the server's parts; nothing is set on
it afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from binance_mcp.guard.caller import CURRENT_CALLER, Caller
from binance_mcp.guard.hide import Hidden, is_visible
from binance_mcp.refusals import Refusal, RefusalKind, unknown_tool_result
from binance_mcp.stores.lease import DEFAULT_LEASE_S

if TYPE_CHECKING:
    from mcp.server.context import ServerRequestContext
    from mcp.server.mcpserver import Context
    from mcp_types import CallToolResult

    from binance_mcp.guard.call import Admitted, Asking, Ended, Request
    from binance_mcp.guard.services import Services
    from binance_mcp.policy.engine import PolicyEngine
    from binance_mcp.stores.audit import AuditLog
    from binance_mcp.tools.spec import ToolSpec

__all__ = ["SCREENING", "STAGES", "Guard", "Services", "Stage"]

logger = logging.getLogger(__name__)

StageFn = Callable[[Any, "Services", "Context | None"], Awaitable[Any]]


@dataclass(frozen=True)
class Stage:
    name: str
    run: StageFn


# Each stage's module is imported by its first call, not at start-up: a client's first tools/list
# should not wait for them (the cold-start benchmark).


async def _hide(request: Request, services: Services, ctx: Context | None) -> Request:
    from binance_mcp.guard.hide import hide

    return hide(request, services.engine)


async def _parse(request: Request, services: Services, ctx: Context | None) -> Any:
    from binance_mcp.guard.parse import parse

    return parse(request)


async def _validate(parsed: Any, services: Services, ctx: Context | None) -> Any:
    from binance_mcp.guard.validate import validate

    return await validate(parsed, services)


async def _decide(validated: Any, services: Services, ctx: Context | None) -> Any:
    from binance_mcp.guard.decide import decide

    return await decide(validated, services)


async def _rate_limit(decided: Any, services: Services, ctx: Context | None) -> Any:
    from binance_mcp.guard.ratelimit import rate_limit

    return rate_limit(decided, services)


async def _approve(decided: Any, services: Services, ctx: Context | None) -> Any:
    from binance_mcp.guard.approve import approve

    return await approve(decided, services, ctx)


async def _dispatch(admitted: Admitted, services: Services, ctx: Context | None) -> Ended:
    from binance_mcp.guard.dispatch import dispatch

    return await dispatch(admitted, services)


async def _record(ended: Ended, services: Services, ctx: Context | None) -> Ended:
    from binance_mcp.guard.record import record

    return record(ended, services)


SCREENING: tuple[Stage, ...] = (
    Stage("hide", _hide),
    Stage("parse", _parse),
    Stage("validate", _validate),
    Stage("decide", _decide),
    Stage("rate_limit", _rate_limit),
    Stage("approve", _approve),
)
"""Run before the tool's handler, in the SDK's resolver: they end in `Admitted` or `Asking`."""

SENDING: tuple[Stage, ...] = (Stage("dispatch", _dispatch), Stage("record", _record))

STAGES: tuple[Stage, ...] = SCREENING + SENDING


class Guard:
    """Runs the stages for one call. Built by `binance_mcp.guard.build.build_guard`."""

    lease_s = DEFAULT_LEASE_S

    def __init__(self, services: Services) -> None:
        self.services = services

    # -- what the server asks of it --------------------------------------------------------------

    def is_visible(self, tool: str, agent: str | None) -> bool:
        return is_visible(self.services.engine, tool, agent)

    def install(self, engine: PolicyEngine) -> frozenset[str]:
        return self.services.policy.install(engine)

    @property
    def engine(self) -> PolicyEngine:
        return self.services.engine

    @property
    def audit(self) -> AuditLog:
        """The audit store, with every record queued so far committed (for readers)."""
        self.services.audit.flush()
        return self.services.audit.store

    def renew_lease(self, now: Any = None) -> int:
        """Extend the leases of this process's orders in flight (`stores.lease.keep_leases` calls
        it): a neighbour sharing the state takes over only what a dead process left."""
        if not self.services.stores.opened:
            return 0  # nothing was ever sent from here
        return int(self.services.audit.store.renew_lease(now))

    async def limits(self, caller: Caller) -> dict[str, Any]:
        """What `caller` may do here and now (`get_limits`, and the resource binance-mcp://limits)."""
        from binance_mcp.guard.limits_report import limits_report

        return await limits_report(self.services, caller)

    def close(self) -> None:
        """Drain the audit log, then close every store (each once)."""
        self.services.audit.close()
        self.services.stores.close()

    def identify(self, request: ServerRequestContext[Any, Any] | None) -> Caller:
        """Who sent one request. Over HTTP the agent is whoever the bearer token names (`local` for
        the anonymous loopback caller) and the session is the `Mcp-Session-Id` header, except in
        the 2026 era, which has no sessions: there the agent stands in. Over stdio there are no
        headers: no agent, the client's declared name, and this process is the session."""
        from mcp_types.version import MODERN_PROTOCOL_VERSIONS

        services = self.services
        session, client, agent, transport = services.session_id, "unknown", None, "stdio"
        if request is not None:
            headers: Mapping[str, str] | None = getattr(request.request, "headers", None)
            if headers is not None:
                transport = "http"
                agent = (services.agent_resolver(headers) if services.agent_resolver else None) or "local"
                sessionless = request.protocol_version in MODERN_PROTOCOL_VERSIONS
                given = None if sessionless else headers.get("mcp-session-id")
                session = given or f"agent:{agent}"
            with contextlib.suppress(AttributeError):
                client = request.session.client_params.client_info.name or client  # type: ignore[union-attr]
        authenticated = transport == "http" and agent is not None and agent != "local"
        return Caller(
            agent=agent, session=session, client=client, transport=transport, authenticated=authenticated
        )

    # -- the pipeline ----------------------------------------------------------------------------

    def request(self, spec: ToolSpec, raw: Any, ctx: Context | None) -> Request:
        from binance_mcp.guard.approval_desk import client_can_elicit
        from binance_mcp.guard.call import Request

        started = time.perf_counter()
        modern = False
        if ctx is not None:
            from mcp_types.version import MODERN_PROTOCOL_VERSIONS

            modern = ctx.protocol_version in MODERN_PROTOCOL_VERSIONS
        return Request(
            spec=spec,
            caller=CURRENT_CALLER.get() or self.identify(ctx.request_context if ctx is not None else None),
            raw=raw,
            started=started,
            continuing=ctx is not None and ctx.request_state is not None,
            can_elicit=ctx is not None and client_can_elicit(ctx.client_capabilities),
            modern=modern,
        )

    async def screen(self, spec: ToolSpec, raw: Any, ctx: Context | None) -> Admitted | Asking | Ended:
        """The screening stages, once per request round (2026 era: once per round of one call)."""
        from binance_mcp.guard.call import Asking, Ended
        from binance_mcp.guard.endings import GUARD_FAILED, refused
        from binance_mcp.guard.record import audit_record

        reached: Any = self.request(spec, raw, ctx)
        try:
            for stage in SCREENING:
                reached = await stage.run(reached, self.services, ctx)
        except Hidden:
            return Ended(reached, unknown_tool_result(spec.name), decision="hidden", outcome="refused")
        except Refusal as refusal:
            return refused(reached, refusal)
        except Exception:
            logger.exception("guard failed screening %s; the call is denied", spec.name)
            return refused(reached, Refusal(RefusalKind.POLICY_DENIED, GUARD_FAILED))
        if isinstance(reached, Asking) and not reached.request.continuing:
            asked = Ended(
                reached,
                unknown_tool_result(spec.name),
                decision="approval_required",
                outcome="refused",
                reason=f"asked the human in the client: {reached.question.question}",
                rule=reached.decided.approval_rule,
            )
            self.services.audit.write(audit_record(asked, self.services))
        return reached

    async def finish(self, screened: Admitted | Asking | Ended, approval: Any) -> CallToolResult:
        """The human's answer (2026 era), dispatch and the record."""
        from binance_mcp.guard.approve import take_answer
        from binance_mcp.guard.call import Asking, Ended
        from binance_mcp.guard.endings import GUARD_FAILED, refused

        ended: Ended
        if isinstance(screened, Ended):
            ended = screened
        else:
            try:
                admitted = (
                    await take_answer(screened, approval, self.services)
                    if isinstance(screened, Asking)
                    else screened
                )
                ended = await SENDING[0].run(admitted, self.services, None)
            except Refusal as refusal:
                ended = refused(screened, refusal)
            except Exception:
                logger.exception("guard failed on %s; the call is denied", screened.request.spec.name)
                ended = refused(screened, Refusal(RefusalKind.POLICY_DENIED, GUARD_FAILED))
        try:
            await SENDING[1].run(ended, self.services, None)
        except Exception:
            logger.exception("could not write the audit record of a %s call", ended.reached.request.spec.name)
        return ended.result
