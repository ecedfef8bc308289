"""The policy guard: one decorator around every tool handler, in-process, before the exchange.

Stages, in order: hide → validate → decide → rate limit → approval → call → audit. The guard sees
the raw `tools/call` arguments (the SDK's own validation would drop unknown ones silently and
answer with a library dump), so every call, good or bad, ends in one readable result and one audit
record. It knows a tool only by its name, its declared risk and its input model; the decision is
the policy engine's, the call is the tool's. Anything that goes wrong inside the guard denies the
call: it fails closed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import BaseModel, ValidationError

from binance_mcp.config import ENV_API_KEY, ENV_API_SECRET, Network
from binance_mcp.exchange.client import ExchangeClient
from binance_mcp.exchange.errors import ExchangeError, ExchangeUnavailable, MissingCredentials
from binance_mcp.policy.engine import PolicyEngine
from binance_mcp.policy.ratelimit import RateLimiter
from binance_mcp.refusals import AUDIT_DECISION, Refusal, RefusalKind, unknown_tool_result
from binance_mcp.results import dumps, success_result

if TYPE_CHECKING:
    from binance_mcp.audit import AuditLog, AuditRecord
    from binance_mcp.tools.spec import ToolSpec

logger = logging.getLogger(__name__)

MAX_AUDITED_RAW_ARGUMENTS = 2_000

Handler = Callable[[dict[str, Any], Context], Awaitable[CallToolResult]]


@dataclass(frozen=True)
class Caller:
    """Who is calling: the agent (HTTP token name, None over stdio), the session key, the audit client."""

    agent: str | None
    session: str
    client: str


@dataclass
class _Call:
    """One call as it moves through the stages: what the audit record will say."""

    spec: ToolSpec
    caller: Caller
    started: float
    arguments: dict[str, Any]
    decision: str = "allowed"
    outcome: str = "refused"
    rule: str | None = None
    reason: str | None = None
    order_id: int | None = None
    client_order_id: str | None = None
    pending_id: int | None = None
    sent: bool = False  # the request that changes the account has left (or may have)


class Guard:
    def __init__(
        self,
        *,
        engine: PolicyEngine,
        exchange: ExchangeClient,
        audit: AuditLog | Callable[[], AuditLog],
        network: Network,
        limiter: RateLimiter | None = None,
        dry_run: bool = False,
    ) -> None:
        self.engine = engine
        self.exchange = exchange
        # The audit log may be opened on the first call: sqlite is not needed to answer tools/list.
        self._audit: AuditLog | None = None if callable(audit) else audit
        self._open_audit = audit if callable(audit) else None
        self.network = network
        self.limiter = limiter or RateLimiter()
        self.dry_run = dry_run
        self.session_id = uuid.uuid4().hex[:12]  # over stdio: this process is the connection
        self._specs: dict[str, ToolSpec] | None = None
        # Set by the HTTP transport: who an HTTP request's headers belong to.
        self.agent_resolver: Callable[[Mapping[str, str]], str | None] | None = None

    # -- the decorator ---------------------------------------------------------------------------

    def guarded(self, tool: str) -> Handler:
        """Wrap a tool: the returned handler takes the raw arguments and the SDK's context.

        The tool's implementation is looked up on its first call (see `binance_mcp.tools`).
        """

        async def handler(arguments: dict[str, Any], ctx: Context) -> CallToolResult:
            return await self.run(self.spec(tool), arguments, self.identify(ctx))

        handler.__name__ = tool
        return handler

    def spec(self, tool: str) -> ToolSpec:
        specs = self._specs
        if specs is None:
            from binance_mcp.tools import ALL_TOOLS

            specs = self._specs = {spec.name.value: spec for spec in ALL_TOOLS}
        return specs[tool]

    @property
    def audit(self) -> AuditLog:
        if self._audit is None:
            assert self._open_audit is not None
            self._audit = self._open_audit()
        return self._audit

    def close(self) -> None:
        if self._audit is not None:
            self._audit.close()

    def install(self, engine: PolicyEngine) -> frozenset[str]:
        """Put a new policy in force; returns the tools whose visibility changed for any agent."""
        old, self.engine = self.engine, engine
        agents = {None, *old.agent_names, *engine.agent_names}
        return frozenset().union(
            *(old.hidden_tools(agent) ^ engine.hidden_tools(agent) for agent in agents)  # type: ignore[arg-type]
        )

    def is_visible(self, tool: str, agent: str | None) -> bool:
        try:
            return not self.engine.is_hidden(tool, agent)
        except Exception:  # fail closed: a tool we cannot decide about is not shown
            logger.exception("policy engine failed deciding visibility of %s", tool)
            return False

    def identify(self, ctx: Context | None) -> Caller:
        return self.identify_request(ctx.request_context if ctx is not None else None)

    def identify_request(self, request: ServerRequestContext[Any, Any] | None) -> Caller:
        """The caller of one request.

        Over HTTP the agent is whoever `agent_resolver` says the request's headers belong to (the
        bearer token's name, `local` for the anonymous loopback caller), and the session is the
        `Mcp-Session-Id` header; a 2026-era request has no session, and its agent stands in.
        Over stdio there are no headers: no agent, and this process is the session.
        """
        session, client, agent = self.session_id, "unknown", None
        if request is not None:
            headers = getattr(request.request, "headers", None)
            if headers is not None:
                agent = self.agent_resolver(headers) if self.agent_resolver is not None else None
                session = headers.get("mcp-session-id") or (f"agent:{agent}" if agent else self.session_id)
            with contextlib.suppress(AttributeError):
                client = request.session.client_params.client_info.name or client  # type: ignore[union-attr]
        return Caller(agent=agent, session=session, client=client)

    # -- the pipeline ----------------------------------------------------------------------------

    async def run(self, spec: ToolSpec, raw_arguments: dict[str, Any], caller: Caller) -> CallToolResult:
        call = _Call(spec=spec, caller=caller, started=time.perf_counter(), arguments=_bounded(raw_arguments))
        try:
            if not self.is_visible(spec.name, caller.agent):
                call.decision = "hidden"
                await self._write_audit(call)
                return unknown_tool_result(spec.name)
            args = self._admit(call, raw_arguments)
            result = await self._call(call, args)
        except Refusal as refusal:
            self._note_refusal(call, refusal)
            result = refusal.to_result(spec.name)
        except Exception:
            logger.exception("guard failed on %s; the call is denied", spec.name)
            refusal = Refusal(
                RefusalKind.POLICY_DENIED, "the policy guard failed on this call, so it was denied"
            )
            self._note_refusal(call, refusal)
            result = refusal.to_result(spec.name)
        await self._write_audit(call)
        return result

    def _admit(self, call: _Call, raw_arguments: dict[str, Any]) -> BaseModel:
        """Stages 2–5: validate, decide, rate limit, approval. Returns the validated arguments."""
        from binance_mcp.tools.inputs import describe_validation_error

        spec, caller = call.spec, call.caller
        try:
            args = spec.input_model.model_validate(raw_arguments)
        except ValidationError as exc:
            field, reason = describe_validation_error(exc, spec.input_model)
            raise Refusal(RefusalKind.INVALID_ARGUMENTS, reason, field=field) from None
        if spec.prepare is not None:
            args = spec.prepare(args)
        call.arguments = args.model_dump(mode="json", exclude_none=True)
        call.client_order_id = call.arguments.get("client_order_id")

        decision = self.engine.decide(spec.name, caller.agent, self.network.value)
        call.rule = decision.rule_path
        if decision.action == "deny":
            reason = decision.reason or f"{spec.name} is denied by {decision.rule_path}"
            raise Refusal(RefusalKind.POLICY_DENIED, reason, rule=decision.rule_path)
        if decision.rate_limit is not None:
            limit = decision.rate_limit
            scope = getattr(limit, "scope", "session")
            holder = {"global": "*", "agent": caller.agent or "local"}.get(scope, caller.session)
            key = f"{scope}:{holder}:{decision.rate_limit_path}"
            wait = self.limiter.hit(key, int(limit.max), float(limit.window))
            if wait is not None:
                raise Refusal(
                    RefusalKind.RATE_LIMITED,
                    f"{spec.name} may be called at most {limit.max} times per {limit.window} s; "
                    f"try again in {wait:g} s",
                    rule=decision.rate_limit_path,
                    retry_after_s=wait,
                )
        if decision.action == "require_approval":
            raise Refusal(
                RefusalKind.APPROVAL_REQUIRED,
                f"{spec.name} needs a human's approval under {decision.rule_path}; nothing was sent",
                rule=decision.rule_path,
            )
        return args

    async def _call(self, call: _Call, args: BaseModel) -> CallToolResult:
        """Stages 6–7: the exchange call, with a pending audit record first when it sends an order."""
        from binance_mcp.tools.spec import CallContext

        spec = call.spec
        if spec.needs_credentials and not self.exchange.has_credentials:
            raise Refusal(
                RefusalKind.EXCHANGE_ERROR,
                f"{spec.name} needs Binance API keys: set {ENV_API_KEY} and {ENV_API_SECRET} in the "
                "environment or in a .env file in the working directory, then restart the server",
            )
        if self.dry_run and spec.sends_order:
            call.decision = "dry_run"

        async def about_to_send() -> None:
            if not self.dry_run:
                call.pending_id = await self._write(
                    self.audit.begin_pending, self._record(call, outcome="pending")
                )
            call.sent = True

        context = CallContext(
            exchange=self.exchange, network=self.network, dry_run=self.dry_run, about_to_send=about_to_send
        )
        try:
            output = await spec.run(args, context)
        except Refusal:
            raise
        except ExchangeError as exc:
            call.outcome = "unknown" if (call.sent and exc.outcome_unknown) else "error"
            raise Refusal(RefusalKind.EXCHANGE_ERROR, exc.sentence(), code=exc.code) from None
        except ExchangeUnavailable as exc:
            call.outcome = "unknown" if (call.sent and exc.sent) else "error"
            tail = "; it may or may not have reached Binance" if call.outcome == "unknown" else ""
            raise Refusal(RefusalKind.EXCHANGE_ERROR, exc.message + tail) from None
        except MissingCredentials:
            raise Refusal(
                RefusalKind.EXCHANGE_ERROR, f"{spec.name} needs {ENV_API_KEY} and {ENV_API_SECRET}"
            ) from None
        except Exception:
            logger.exception("%s failed after the guard let it through", spec.name)
            call.outcome = "unknown" if call.sent else "error"
            raise Refusal(
                RefusalKind.EXCHANGE_ERROR,
                f"{spec.name} failed inside the server; see the server log"
                + ("; the outcome is unknown: check it on Binance" if call.sent else ""),
                client_order_id=call.client_order_id,
            ) from None
        call.outcome = "ok"
        call.order_id = output.order_id or None
        call.client_order_id = output.client_order_id or call.client_order_id
        return success_result(output)

    # -- audit -----------------------------------------------------------------------------------

    def _note_refusal(self, call: _Call, refusal: Refusal) -> None:
        call.reason = refusal.reason
        call.rule = refusal.rule if refusal.rule is not None else call.rule
        if refusal.kind is RefusalKind.ORDER_STATUS_UNKNOWN:
            call.outcome = "unknown"
            call.client_order_id = refusal.client_order_id or call.client_order_id
        elif refusal.kind is not RefusalKind.EXCHANGE_ERROR:
            call.outcome = "refused"
            call.decision = AUDIT_DECISION[refusal.kind]
        # an exchange_error keeps the outcome the call stage gave it: error, unknown, or refused (no keys)

    def _record(self, call: _Call, outcome: str | None = None) -> AuditRecord:
        from binance_mcp.audit import AuditRecord

        return AuditRecord(
            time=_now(),
            session=call.caller.session,
            client=call.caller.agent or call.caller.client,
            network=self.network.value,
            base_url=self.exchange.base_url,
            tool=call.spec.name,
            arguments=call.arguments,
            decision=call.decision,
            approved_via=None,
            reason=call.reason,
            rule=call.rule,
            outcome=outcome or call.outcome,
            order_id=call.order_id,
            client_order_id=call.client_order_id,
            latency_ms=round((time.perf_counter() - call.started) * 1000, 3),
        )

    async def _write_audit(self, call: _Call) -> None:
        try:
            if call.pending_id is not None:
                await self._write(
                    lambda: self.audit.finish(
                        call.pending_id,
                        outcome=call.outcome,
                        decision=call.decision,
                        reason=call.reason,
                        order_id=call.order_id,
                        client_order_id=call.client_order_id,
                        latency_ms=round((time.perf_counter() - call.started) * 1000, 3),
                    )
                )
            elif call.client_order_id is not None:
                await self._write(self.audit.append, self._record(call))
            else:
                # No fsync (synchronous=NORMAL, see AuditLog): a WAL append of ~50 µs, cheaper on
                # the event loop than the ~250 µs a worker-thread round trip costs.
                self.audit.append(self._record(call))
        except Exception:
            logger.exception("could not write the audit record of a %s call", call.spec.name)

    @staticmethod
    async def _write(fn: Callable[..., Any], *args: Any) -> Any:
        """Durable writes (orders: synchronous=FULL, an fsync) run in a worker thread."""
        return await anyio.to_thread.run_sync(fn, *args)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _bounded(arguments: Any) -> dict[str, Any]:
    """Raw arguments as the audit log keeps them: JSON-safe and never huge."""
    if not isinstance(arguments, dict):
        return {"_raw": repr(arguments)[:MAX_AUDITED_RAW_ARGUMENTS]}
    text = dumps(arguments) if _jsonable(arguments) else repr(arguments)
    if len(text) <= MAX_AUDITED_RAW_ARGUMENTS:
        return arguments if _jsonable(arguments) else {"_raw": text}
    return {"_raw": text[:MAX_AUDITED_RAW_ARGUMENTS], "_truncated": True}


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def secrets_of(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(v for v in values if v)
