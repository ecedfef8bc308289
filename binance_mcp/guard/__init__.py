"""The policy guard: every tool call passes these stages, in this order, before Binance sees it.

    hide → rate_limit → parse → validate → decide → approve → dispatch → record

`STAGES` below is that order, written once; each stage is a module of this package by the same
name, a function from one frozen value (`call.py`) to the next, or a `Refusal`. The stages are
chained by type (`Pipeline.then` takes only a stage whose input is the previous output), so two
stages swapped fail the type check before they fail a test. Within and across the stages, the
checks run in the order of what they cost: the rate limit (a counter) before anything else,
everything the order alone shows before the market is read, the market's public data before
anything signed (the account's open orders, a budget's held orders) is read. The first six run
while the SDK screens the call (the only place where a human can be asked, on both protocol
eras), the last two in the tool's handler. Whatever goes wrong inside the guard denies the call:
it fails closed (a store that cannot be reached — PostgreSQL, Redis — is refused as
`store_unavailable`, naming it). A call cancelled before its answer (its client left, or the
server's drain cut it) is recorded too (`record_abandoned`). `build_guard` makes the whole thing
from the server's parts; nothing is set on it afterwards.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from binance_mcp.guard.approval_desk import client_can_elicit
from binance_mcp.guard.call import Admitted, Asking, Decided, Ended, Parsed, Request, Validated, request_of
from binance_mcp.guard.caller import CURRENT_CALLER, Caller
from binance_mcp.guard.endings import GUARD_FAILED, refused
from binance_mcp.guard.failures import store_refusal
from binance_mcp.guard.hide import Hidden, is_visible
from binance_mcp.guard.services import Services
from binance_mcp.refusals import Refusal, RefusalKind, unknown_tool_result
from binance_mcp.stopping import Stopping
from binance_mcp.stores.lease import DEFAULT_LEASE_S

if TYPE_CHECKING:
    from mcp.server.context import ServerRequestContext
    from mcp.server.mcpserver import Context
    from mcp_types import CallToolResult

    from binance_mcp.policy.engine import PolicyEngine
    from binance_mcp.stores.audit import AuditLog
    from binance_mcp.tools.spec import ToolSpec

__all__ = ["DISPATCH", "RECORD", "SCREENING", "STAGES", "Guard", "Pipeline", "Services", "Stage"]

logger = logging.getLogger(__name__)

In = TypeVar("In")
Out = TypeVar("Out")
Next = TypeVar("Next")


@dataclass(frozen=True)
class Stage(Generic[In, Out]):
    """One stage: its name and its function from one frozen value to the next (or a `Refusal`).

    The function is imported on the first call (`load`): a server that only answers
    initialize and tools/list, as every client's start-up asks, imports no stage."""

    name: str
    load: Callable[[], Callable[[In, Services], Awaitable[Out]]]

    @functools.cached_property
    def run(self) -> Callable[[In, Services], Awaitable[Out]]:
        return self.load()


class Pipeline(Generic[In, Out]):
    """Stages whose types chain: `then` takes only a stage whose input is this pipeline's output,
    so a stage put out of order (or two swapped) fails the type check."""

    def __init__(self, stages: tuple[Stage[Any, Any], ...]) -> None:
        self.stages = stages

    @staticmethod
    def start(stage: Stage[In, Out]) -> Pipeline[In, Out]:
        return Pipeline((stage,))

    def then(self, stage: Stage[Out, Next]) -> Pipeline[In, Next]:
        return Pipeline((*self.stages, stage))


def _hide() -> Callable[[Request, Services], Awaitable[Request]]:
    from binance_mcp.guard.hide import hide

    return hide


def _parse() -> Callable[[Request, Services], Awaitable[Parsed]]:
    from binance_mcp.guard.parse import parse

    return parse


def _validate() -> Callable[[Parsed, Services], Awaitable[Validated]]:
    from binance_mcp.guard.validate import validate

    return validate


def _decide() -> Callable[[Validated, Services], Awaitable[Decided]]:
    from binance_mcp.guard.decide import decide

    return decide


def _rate_limit() -> Callable[[Request, Services], Awaitable[Request]]:
    from binance_mcp.guard.ratelimit import rate_limit

    return rate_limit


def _approve() -> Callable[[Decided, Services], Awaitable[Admitted | Asking]]:
    from binance_mcp.guard.approve import approve

    return approve


def _dispatch() -> Callable[[Admitted, Services], Awaitable[Ended]]:
    from binance_mcp.guard.dispatch import dispatch

    return dispatch


def _record() -> Callable[[Ended, Services], Awaitable[Ended]]:
    from binance_mcp.guard.record import record

    return record


HIDE: Stage[Request, Request] = Stage("hide", _hide)
PARSE: Stage[Request, Parsed] = Stage("parse", _parse)
VALIDATE: Stage[Parsed, Validated] = Stage("validate", _validate)
DECIDE: Stage[Validated, Decided] = Stage("decide", _decide)
RATE_LIMIT: Stage[Request, Request] = Stage("rate_limit", _rate_limit)
APPROVE: Stage[Decided, Admitted | Asking] = Stage("approve", _approve)
DISPATCH: Stage[Admitted, Ended] = Stage("dispatch", _dispatch)
RECORD: Stage[Ended, Ended] = Stage("record", _record)

SCREENING: Pipeline[Request, Admitted | Asking] = (
    Pipeline.start(HIDE).then(RATE_LIMIT).then(PARSE).then(VALIDATE).then(DECIDE).then(APPROVE)
)
"""Run before the tool's handler, in the SDK's resolver: they end in `Admitted` or `Asking`."""

SENDING: Pipeline[Admitted, Ended] = Pipeline.start(DISPATCH).then(RECORD)
"""Run in the tool's handler: dispatch, then record (which runs whatever dispatch concluded)."""

STAGES: tuple[Stage[Any, Any], ...] = SCREENING.stages + SENDING.stages


async def _ask_now(ctx: Context, asked: str) -> str:
    """2025 era: the client's human asked mid-call (`approve.ask_now`, imported when first asked)."""
    from binance_mcp.guard.approve import ask_now

    return await ask_now(ctx, asked)


class Guard:
    """Runs the stages for one call. Built by `binance_mcp.guard.build.build_guard`."""

    lease_s = DEFAULT_LEASE_S

    def __init__(self, services: Services) -> None:
        self.services = services
        self.stopping = Stopping()
        """Set by the transport's drain: whether a call cancelled now was cut by it."""

    # -- what the server asks of it --------------------------------------------------------------

    def is_visible(self, tool: str, agent: str | None) -> bool:
        return is_visible(self.services.engine, tool, agent)

    def install(self, engine: PolicyEngine) -> frozenset[str]:
        changed = self.services.policy.install(engine)
        self.note_policy("reloaded")
        return changed

    def note_policy(self, how: str) -> None:
        """A `policy_loaded` event in the audit log: which policy (its fingerprint) is in force now."""
        fingerprint = self.services.policy.fingerprint
        self.services.audit.event(
            "policy_loaded", f"policy {fingerprint} {how}", policy=fingerprint, defer=how != "reloaded"
        )

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
        self.repair()
        return int(self.services.audit.store.renew_lease(now))

    def repair(self) -> None:
        """Write what a send left owed (a budget settle, an audit outcome) once the store is back."""
        if self.services.repairs.owed:
            self.services.repairs.run()
        self.services.audit.repair()

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

    def arrived(self, spec: ToolSpec, raw: Any, ctx: Context | None) -> Request:
        """The call as it arrived: the first stage's input."""

        modern = ctx is not None and ctx.protocol_version in MODERN_PROTOCOL_VERSIONS
        can_elicit = ctx is not None and client_can_elicit(ctx.client_capabilities)
        return Request(
            spec=spec,
            caller=CURRENT_CALLER.get() or self.identify(ctx.request_context if ctx is not None else None),
            raw=raw,
            started=time.perf_counter(),
            continuing=ctx is not None and ctx.request_state is not None,
            can_elicit=can_elicit,
            modern=modern,
            ask_now=functools.partial(_ask_now, ctx)
            if ctx is not None and can_elicit and not modern
            else None,
        )

    async def unknown_tool(self, name: str, raw: Any, ctx: Context | None) -> None:
        """A call to a tool that does not exist: recorded like any call (the SDK answers it)."""
        from binance_mcp.guard.record import unknown_tool_record

        caller = CURRENT_CALLER.get() or self.identify(ctx.request_context if ctx is not None else None)
        self.services.audit.write(unknown_tool_record(name, raw, caller, self.services))

    async def screen(self, spec: ToolSpec, raw: Any, ctx: Context | None) -> Admitted | Asking | Ended:
        """The screening stages, once per request round (2026 era: once per round of one call)."""
        reached: Any = self.arrived(spec, raw, ctx)
        try:
            await self.services.audit.check()  # complete or refuse: no call without its record
            for stage in SCREENING.stages:
                reached = await stage.run(reached, self.services)
        except Hidden:  # answered exactly as a tool that does not exist
            return Ended(reached, unknown_tool_result(spec.name), decision="hidden", outcome="refused")
        except Refusal as refusal:
            return refused(reached, refusal)
        except Exception as exc:
            outage = store_refusal(exc)
            if outage is not None:  # a store that cannot be reached: named, not a denial
                logger.warning("%s refused: %s (%s)", spec.name, outage.store, exc)
                return refused(reached, outage)
            logger.exception("guard failed screening %s; the call is denied", spec.name)
            return refused(reached, Refusal(RefusalKind.POLICY_DENIED, GUARD_FAILED))
        except anyio.get_cancelled_exc_class():  # the client left, or the drain cut the call
            from binance_mcp.guard.record import record_abandoned

            record_abandoned(reached, self.services, cut=self.stopping.cut)
            raise
        if isinstance(reached, Asking) and not reached.request.continuing:
            from binance_mcp.guard.record import audit_record

            asked = Ended(  # the record of the question; the answer comes in a later round
                reached,
                None,
                decision="approval_required",
                outcome="refused",
                reason=f"asked the human in the client: {reached.question.question}",
                rule=reached.decided.approval_rule,
            )
            self.services.audit.write(audit_record(asked, self.services))
        return reached

    async def finish(self, screened: Admitted | Asking | Ended, approval: Any) -> CallToolResult:
        """The human's answer (2026 era), dispatch and the record."""
        ended: Ended
        if isinstance(screened, Ended):
            ended = screened
        else:
            from binance_mcp.guard.approve import take_answer
            from binance_mcp.guard.record import call_in_flight, record_abandoned

            with call_in_flight():
                try:
                    admitted = (
                        await take_answer(screened, approval, self.services)
                        if isinstance(screened, Asking)
                        else screened
                    )
                    ended = await DISPATCH.run(admitted, self.services)
                except Refusal as refusal:
                    ended = refused(screened, refusal)
                except Exception as exc:
                    # an order's lock or records may fail after it left: then it is not "nothing sent"
                    outage = store_refusal(exc, maybe_sent=screened.request.spec.changes_account)
                    if outage is None:
                        logger.exception("guard failed on %s; the call is denied", screened.request.spec.name)
                    else:
                        logger.warning("%s refused: %s (%s)", screened.request.spec.name, outage.store, exc)
                    ended = refused(screened, outage or Refusal(RefusalKind.POLICY_DENIED, GUARD_FAILED))
                except anyio.get_cancelled_exc_class():  # the client left, or the drain cut the call
                    record_abandoned(screened, self.services, cut=self.stopping.cut)
                    raise
        try:
            await RECORD.run(ended, self.services)
        except Exception:
            logger.exception(
                "could not write the audit record of a %s call", request_of(ended.reached).spec.name
            )
        if ended.result is None:  # only a pending or asked record has none, and neither ends here
            raise RuntimeError(f"the {request_of(ended.reached).spec.name} call ended with no answer")
        return ended.result
