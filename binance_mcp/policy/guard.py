"""The policy guard: one decorator around every tool handler, in-process, before the exchange.

Stages, in order: hide → validate → decide (rule, network, constraints, budget) → rate limit →
approval → call → audit. The guard sees the raw `tools/call` arguments (the SDK's own validation
would drop unknown ones silently and answer with a library dump), so every call, good or bad, ends
in one readable result and one audit record. It knows a tool by its name, its declared risk, its
input model and, for an order, how to price it; the decision is the policy engine's, the call is
the tool's. Anything that goes wrong inside the guard denies the call: it fails closed.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import anyio.to_thread
from mcp.server.context import ServerRequestContext
from mcp.server.elicitation import ElicitationResult
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.resolve import Elicit, Resolve
from mcp_types import CallToolResult
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, ValidationError

from binance_mcp.config import ENV_API_KEY, ENV_API_SECRET, Network
from binance_mcp.exchange.client import ExchangeClient
from binance_mcp.exchange.errors import ExchangeError, ExchangeUnavailable, MissingCredentials
from binance_mcp.policy.approval import (
    QUESTION_TIMEOUT_S,
    ApprovalDesk,
    ApprovalForm,
    CallIdentity,
    OpenQuestion,
    client_can_elicit,
)
from binance_mcp.policy.engine import Decision, PolicyEngine
from binance_mcp.policy.ratelimit import RateLimiter
from binance_mcp.refusals import AUDIT_DECISION, Refusal, RefusalKind, unknown_tool_result
from binance_mcp.results import dumps, success_result

if TYPE_CHECKING:
    from binance_mcp.audit import AuditLog, AuditRecord
    from binance_mcp.budgets import BudgetStore
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
    approved_via: str | None = None
    generated_client_order_id: bool = False


@dataclass
class Admission:
    """What screening (stages 1–5) concluded, handed from the resolver to the handler body."""

    call: _Call
    args: Any = None
    decision: Decision | None = None
    quote: Any = None  # the order priced (tools.trading.OrderQuote), for place_order
    hidden: bool = False
    refusal: Refusal | None = None
    needs_approval: bool = False
    approval_rule: str | None = None
    approved_via: str | None = None
    answer: str | None = None  # 2025 era: the human's answer, asked mid-call
    identity: CallIdentity | None = None
    question: OpenQuestion | None = None  # 2026 era: the question open across rounds
    elicit: Elicit[ApprovalForm] | None = None
    reservation_id: str | None = None


# The resolver and the handler body run in the same task, one after the other: this carries the
# admission from one to the other within one request.
_ADMISSION: ContextVar[Admission | None] = ContextVar("binance_mcp_admission", default=None)


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
        allow_withdrawal_keys: bool = False,
        approvals: ApprovalDesk | None = None,
        budgets: BudgetStore | Callable[[], BudgetStore] | None = None,
    ) -> None:
        self.engine = engine
        self.exchange = exchange
        # The audit log may be opened on the first call: sqlite is not needed to answer tools/list.
        self._audit: AuditLog | None = None if callable(audit) else audit
        self._open_audit = audit if callable(audit) else None
        self.network = network
        self.limiter = limiter or RateLimiter()
        self.dry_run = dry_run
        self.allow_withdrawal_keys = allow_withdrawal_keys
        self._keys_refusal: str | None = None  # "" once the keys were found fine
        self.approvals = approvals or ApprovalDesk(_no_store("approvals"))
        self._budgets: BudgetStore | None = None if callable(budgets) or budgets is None else budgets
        self._open_budgets = budgets if callable(budgets) else _no_store("budgets")
        self.session_id = uuid.uuid4().hex[:12]  # over stdio: this process is the connection
        self._specs: dict[str, ToolSpec] | None = None
        # Set by the HTTP transport: who an HTTP request's headers belong to.
        self.agent_resolver: Callable[[Mapping[str, str]], str | None] | None = None
        # -- issue 5, crash safety: one lock per account (this guard's exchange is one account) around
        # the order path, and the hook that completes pending records of an earlier run before the
        # first order leaves (set by build_app; it returns at once when there is nothing left to do).
        self.order_lock = anyio.Lock()
        self.recover_pending: Callable[[], Awaitable[object]] | None = None

    # -- the decorator ---------------------------------------------------------------------------

    def guarded(self, tool: str) -> Handler:
        """Wrap a tool: the returned handler takes the raw arguments and the SDK's context.

        Stages 1–5 (hide, validate, decide, rate limit, approval) run in `screen`, a resolver the
        SDK runs before the handler body: only a resolver can ask the human (elicitation) on both
        protocol eras. The body runs the rest. The tool's implementation is looked up on its first
        call (see `binance_mcp.tools`).
        """

        async def screen(arguments: dict[str, Any], ctx: Context) -> Any:
            admission = await self.screen(self.spec(tool), arguments, ctx)
            _ADMISSION.set(admission)
            return admission.elicit if admission.elicit is not None else admission

        async def handler(arguments: dict[str, Any], ctx: Context, approval: Any) -> CallToolResult:
            admission = _ADMISSION.get()
            _ADMISSION.set(None)
            if admission is None:  # never expected: the SDK runs the resolver first; fail closed
                admission = await self.screen(self.spec(tool), arguments, ctx)
            return await self.finish(admission, approval)

        handler.__name__ = tool
        handler.__annotations__ = {
            "arguments": dict[str, Any],
            "ctx": Context,
            "approval": Annotated[ElicitationResult[ApprovalForm], Resolve(screen)],
            "return": CallToolResult,
        }
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

    @property
    def budgets(self) -> BudgetStore:
        if self._budgets is None:
            self._budgets = self._open_budgets()
        return self._budgets

    def close(self) -> None:
        if self._audit is not None:
            self._audit.close()
        if self._budgets is not None:
            self._budgets.close()
        self.approvals.close()

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
                # A 2026-era request has no session: its Mcp-Session-Id header is the client's own
                # words (a fresh one per call would be a fresh rate-limit bucket), so the agent stands in.
                sessionless = request.protocol_version in MODERN_PROTOCOL_VERSIONS
                given = None if sessionless else headers.get("mcp-session-id")
                session = given or (f"agent:{agent}" if agent else self.session_id)
            with contextlib.suppress(AttributeError):
                client = request.session.client_params.client_info.name or client  # type: ignore[union-attr]
        return Caller(agent=agent, session=session, client=client)

    # -- the pipeline ----------------------------------------------------------------------------

    async def screen(self, spec: ToolSpec, raw_arguments: dict[str, Any], ctx: Context | None) -> Admission:
        """Stages 1–5. Runs once per request round (2026 era: once per round of one call)."""
        caller = self.identify(ctx)
        call = _Call(spec=spec, caller=caller, started=time.perf_counter(), arguments=_bounded(raw_arguments))
        admission = Admission(call=call)
        continuing = ctx is not None and ctx.request_state is not None
        try:
            if not self.is_visible(spec.name, caller.agent):
                admission.hidden = True
                return admission
            admission.args = self._validate(call, raw_arguments)
            decision = self.engine.decide(spec.name, caller.agent, self.network.value)
            admission.decision = decision
            call.rule = decision.rule_path
            if decision.action == "deny":
                reason = decision.reason or f"{spec.name} is denied by {decision.rule_path}"
                raise Refusal(RefusalKind.POLICY_DENIED, reason, rule=decision.rule_path)
            await self._check_bounds(admission)
            if not continuing:  # a call counts once, however many approval rounds follow
                self._rate_limit(call, decision)
            if self._needs_approval(admission):
                await self._seek_approval(admission, ctx, continuing)
        except Refusal as refusal:
            admission.refusal = refusal
        except Exception:
            logger.exception("guard failed screening %s; the call is denied", spec.name)
            admission.refusal = Refusal(
                RefusalKind.POLICY_DENIED, "the policy guard failed on this call, so it was denied"
            )
        return admission

    async def finish(self, admission: Admission, approval: Any) -> CallToolResult:
        """The human's answer, stages 6–7 and the audit record."""
        call = admission.call
        spec = call.spec
        try:
            if admission.hidden:
                call.decision = "hidden"
                await self._write_audit(call)
                return unknown_tool_result(spec.name)
            if admission.refusal is not None:
                raise admission.refusal
            if admission.needs_approval and admission.approved_via is None:
                await self._take_answer(admission, approval)
            if admission.approved_via is not None:
                call.decision, call.approved_via = "approved", admission.approved_via
            if spec.sends_order:  # orders and cancels of the account one at a time (issue 5)
                async with self.order_lock:
                    if self.recover_pending is not None:
                        await self.recover_pending()
                    result = await self._call(admission)
            else:
                result = await self._call(admission)
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

    def _validate(self, call: _Call, raw_arguments: dict[str, Any]) -> BaseModel:
        from binance_mcp.tools.inputs import describe_validation_error

        spec = call.spec
        try:
            args = spec.input_model.model_validate(raw_arguments)
        except ValidationError as exc:
            field, reason = describe_validation_error(exc, spec.input_model)
            raise Refusal(RefusalKind.INVALID_ARGUMENTS, reason, field=field) from None
        call.generated_client_order_id = (
            spec.prepare is not None and getattr(args, "client_order_id", 1) is None
        )
        if spec.prepare is not None:
            args = spec.prepare(args)
        call.arguments = args.model_dump(mode="json", exclude_none=True)
        call.client_order_id = call.arguments.get("client_order_id")
        return args

    async def _check_bounds(self, admission: Admission) -> None:
        """The rule's constraints and the daily budget, with the order priced first when it is one."""
        from binance_mcp.policy.constraints import check_constraints

        call, decision, args = admission.call, admission.decision, admission.args
        assert decision is not None and args is not None
        if call.spec.quote is not None:
            admission.quote = await self._price(admission)
        constraints = decision.constraints
        if constraints is not None:
            quote = admission.quote
            open_orders = None
            if constraints.max_open_orders is not None:
                open_orders = await self._count_open_orders()
            violation = check_constraints(
                constraints,
                decision.constraint_path,
                tool=call.spec.name,
                symbol=getattr(args, "symbol", None),
                side=getattr(args, "side", None),
                order_type=getattr(args, "type", None),
                quantity=getattr(args, "quantity", None),
                notional=quote.notional if quote is not None else None,
                quote_asset=quote.quote_asset if quote is not None else None,
                price=getattr(args, "price", None),
                reference_price=quote.reference_price if quote is not None else None,
                open_orders=open_orders,
            )
            if violation is not None:
                raise Refusal(RefusalKind.POLICY_DENIED, violation.reason, rule=violation.rule)
        if admission.quote is not None and not self._dry_run(decision):
            await self._check_budget(admission, reserve=False)

    async def _price(self, admission: Admission) -> Any:
        from binance_mcp.tools.spec import CallContext

        spec = admission.call.spec
        assert spec.quote is not None
        with _nothing_sent_yet("pricing the order"):
            return await spec.quote(admission.args, CallContext(exchange=self.exchange, network=self.network))

    async def _count_open_orders(self) -> int:
        with _nothing_sent_yet("max_open_orders"):
            return len(await self.exchange.get_open_orders(None))

    async def _check_budget(self, admission: Admission, *, reserve: bool) -> None:
        """Before asking anyone: does the order fit today's budget? Right before sending: reserve it."""
        from binance_mcp.budgets import BudgetExceeded, day_resets_at

        quote = admission.quote
        if quote is None or quote.notional is None:
            return
        budget = self.engine.budget(quote.quote_asset)
        if budget is None:
            return
        where = {"network": self.network.value, "base_url": self.exchange.base_url, "asset": budget.asset}
        try:
            if reserve:
                reservation = await anyio.to_thread.run_sync(
                    lambda: self.budgets.reserve(**where, amount=quote.notional, limit=budget.daily_notional)
                )
                admission.reservation_id = reservation.id
                return
            spent = await anyio.to_thread.run_sync(lambda: self.budgets.spent_today(**where))
            if spent + quote.notional > budget.daily_notional:
                raise BudgetExceeded(
                    budget.asset,
                    spent,
                    budget.daily_notional,
                    max(budget.daily_notional - spent, 0),
                    day_resets_at(),
                    network=self.network.value,
                    amount=quote.notional,
                )
        except BudgetExceeded as exceeded:
            raise Refusal(RefusalKind.POLICY_DENIED, exceeded.sentence(), rule=budget.path) from None

    def _rate_limit(self, call: _Call, decision: Decision) -> None:
        if decision.rate_limit is None:
            return
        limit = decision.rate_limit
        caller = call.caller
        holder = {"global": "*", "agent": caller.agent or "local"}.get(limit.scope, caller.session)
        key = f"{limit.scope}:{holder}:{decision.rate_limit_path}"
        wait = self.limiter.hit(key, int(limit.max), float(limit.window))
        if wait is not None:
            raise Refusal(
                RefusalKind.RATE_LIMITED,
                f"{call.spec.name} may be called at most {limit.max} times per {limit.window} s; "
                f"try again in {wait:g} s",
                rule=decision.rate_limit_path,
                retry_after_s=wait,
            )

    def _needs_approval(self, admission: Admission) -> bool:
        from binance_mcp.policy.constraints import needs_approval_above

        decision = admission.decision
        assert decision is not None
        if decision.action == "require_approval":
            admission.approval_rule = decision.rule_path
        elif decision.approve_above_notional is not None:
            notional = admission.quote.notional if admission.quote is not None else None
            if not needs_approval_above(decision.approve_above_notional, notional):
                return False
            admission.approval_rule = decision.approve_above_notional_path or decision.rule_path
        else:
            return False
        admission.needs_approval = True
        return True

    def _identity(self, admission: Admission) -> CallIdentity:
        from binance_mcp.approvals import canonical_arguments

        call = admission.call
        return CallIdentity(
            tool=call.spec.name,
            network=self.network.value,
            base_url=self.exchange.base_url,
            agent=call.caller.agent,
            arguments_key=canonical_arguments(
                call.arguments, drop_client_order_id=call.generated_client_order_id
            ),
        )

    def _question(self, admission: Admission) -> str:
        spec = admission.call.spec
        if spec.describe is not None:
            what = spec.describe(admission.args, admission.quote, self.network.value)
        else:
            shown = ", ".join(f"{key}={value}" for key, value in admission.call.arguments.items())
            what = f"{spec.name}({shown}) on {self.network.value.upper()}"
        return f"{what} — approve?"

    async def _seek_approval(self, admission: Admission, ctx: Context | None, continuing: bool) -> None:
        """A human's approval: one given at the CLI, else asked in the client, else an approval id."""
        call = admission.call
        identity = self._identity(admission)
        admission.identity = identity
        if await self.approvals.take_cli_approval(identity) is not None:
            admission.approved_via = "cli"
            return
        question = self._question(admission)
        capabilities = ctx.client_capabilities if ctx is not None else None
        if not client_can_elicit(capabilities):
            ttl = admission.decision.approval_ttl if admission.decision is not None else 600
            approval = await self.approvals.request_cli_approval(identity, question, ttl)
            raise Refusal(
                RefusalKind.APPROVAL_REQUIRED,
                f"{question[: -len(' — approve?')]} needs a human's approval ({admission.approval_rule}). "
                f"Nothing was sent. A human approves it with: binance-mcp approvals approve {approval.id} "
                f"— then call again with the same arguments within {ttl} s of the approval",
                rule=admission.approval_rule,
                approval_id=approval.id,
            )
        assert ctx is not None
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            admission.answer = await _ask_now(ctx, question)  # 2025 era: ask mid-call
            return
        open_question = await self.approvals.question_for(
            identity,
            question,
            call.client_order_id if call.generated_client_order_id else None,
            continuing=continuing,
        )
        if open_question is None:
            raise Refusal(
                RefusalKind.APPROVAL_DECLINED,
                f"no answer within {int(QUESTION_TIMEOUT_S / 60)} minutes; nothing was sent",
                rule=admission.approval_rule,
            )
        if open_question.client_order_id and call.generated_client_order_id:
            # the same order across rounds: the id made in the first round
            admission.args = admission.args.model_copy(
                update={"client_order_id": open_question.client_order_id}
            )
            call.arguments["client_order_id"] = call.client_order_id = open_question.client_order_id
        admission.question = open_question
        admission.elicit = Elicit(open_question.question, ApprovalForm)
        if not continuing:
            call.decision, call.outcome = "approval_required", "refused"
            call.reason = f"asked the human in the client: {open_question.question}"
            await self._write_audit(call)

    async def _take_answer(self, admission: Admission, approval: Any) -> None:
        """Accept (with the form saying yes) lets the call through, once; anything else declines it."""
        rule = admission.approval_rule
        if admission.answer is not None:  # 2025 era: asked mid-call
            if admission.answer == "accept":
                admission.approved_via = "elicitation"
                return
            raise Refusal(RefusalKind.APPROVAL_DECLINED, _declined_sentence(admission.answer), rule=rule)
        data = getattr(approval, "data", None)
        accepted = getattr(approval, "action", None) == "accept" and isinstance(data, ApprovalForm)
        identity, open_question = admission.identity, admission.question
        if identity is None or open_question is None:
            raise Refusal(RefusalKind.APPROVAL_DECLINED, "no approval was given; nothing was sent", rule=rule)
        if not accepted or not data.approve:
            self.approvals.close_question(identity)
            answer = "declined" if accepted else str(getattr(approval, "action", "error"))
            raise Refusal(RefusalKind.APPROVAL_DECLINED, _declined_sentence(answer), rule=rule)
        if not await self.approvals.spend(identity, open_question):
            raise Refusal(
                RefusalKind.APPROVAL_DECLINED,
                "this approval was already used; an approval lets exactly one call through",
                rule=rule,
            )
        admission.approved_via = "elicitation"

    async def _call(self, admission: Admission) -> CallToolResult:
        """Stages 6–7: key safety, budget, the exchange call, with a pending audit record first."""
        from binance_mcp.tools.spec import CallContext

        call, decision = admission.call, admission.decision
        spec, args = call.spec, admission.args
        if spec.needs_credentials and not self.exchange.has_credentials:
            raise Refusal(RefusalKind.EXCHANGE_ERROR, _missing_keys_sentence(spec.name))
        if spec.needs_credentials:
            await self._check_keys()
        dry_run = self._dry_run(decision)
        if dry_run and spec.sends_order:
            call.decision = "dry_run"
        if spec.sends_order and not dry_run:
            if spec.prepare is not None and call.client_order_id and not call.generated_client_order_id:
                await self._refuse_a_used_client_order_id(call)
            if (
                decision is not None
                and decision.constraints is not None
                and decision.constraints.max_open_orders is not None
            ):
                await self._check_bounds(admission)  # account state, re-read under the account lock
            await self._check_budget(admission, reserve=True)

        async def about_to_send() -> None:
            if not dry_run:
                call.pending_id = await self._write(
                    self.audit.begin_pending, self._record(call, outcome="pending")
                )
            call.sent = True

        context = CallContext(
            exchange=self.exchange,
            network=self.network,
            dry_run=dry_run,
            about_to_send=about_to_send,
            quote=admission.quote,
        )
        try:
            output = await spec.run(args, context)
        except Refusal:
            self._settle_budget(admission, spent=call.sent)
            raise
        except ExchangeError as exc:
            call.outcome = "unknown" if (call.sent and exc.outcome_unknown) else "error"
            self._settle_budget(admission, spent=call.outcome == "unknown")
            raise _exchange_refusal(exc) from None
        except ExchangeUnavailable as exc:
            call.outcome = "unknown" if (call.sent and exc.sent) else "error"
            self._settle_budget(admission, spent=call.outcome == "unknown")
            tail = "; it may or may not have reached Binance" if call.outcome == "unknown" else ""
            raise Refusal(RefusalKind.EXCHANGE_ERROR, exc.message + tail) from None
        except MissingCredentials:
            self._settle_budget(admission, spent=False)
            raise Refusal(RefusalKind.EXCHANGE_ERROR, _missing_keys_sentence(spec.name)) from None
        except Exception:
            logger.exception("%s failed after the guard let it through", spec.name)
            call.outcome = "unknown" if call.sent else "error"
            self._settle_budget(admission, spent=call.sent)
            raise Refusal(
                RefusalKind.EXCHANGE_ERROR,
                f"{spec.name} failed inside the server; see the server log"
                + ("; the outcome is unknown: check it on Binance" if call.sent else ""),
                client_order_id=call.client_order_id,
            ) from None
        self._settle_budget(admission, spent=True)
        call.outcome = "ok"
        call.order_id = output.order_id or None
        call.client_order_id = output.client_order_id or call.client_order_id
        return success_result(output)

    async def _refuse_a_used_client_order_id(self, call: _Call) -> None:
        """Binance accepts a client order id again once its first order is no longer open, so an
        agent that "safely" retries with its own id after a lost answer could place a second order.
        An id this server already sent an order with is refused (under the account lock)."""
        client_order_id = call.client_order_id or ""
        earlier = await anyio.to_thread.run_sync(
            lambda: self.audit.sent_with_client_order_id(
                client_order_id, self.network.value, self.exchange.base_url
            )
        )
        if earlier:
            first = earlier[0]
            order = f", order id {first.order_id}" if first.order_id else ""
            raise Refusal(
                RefusalKind.INVALID_ARGUMENTS,
                f"client_order_id {client_order_id} was already used for an order on {self.network.value.upper()} "
                f"({first.time}, outcome {first.outcome}{order}); sending it again could place a second order "
                "once the first is filled. Nothing was sent: use a new id, or look the order up with "
                "get_order_history or get_open_orders",
                field="client_order_id",
            )

    def _dry_run(self, decision: Decision | None) -> bool:
        return self.dry_run or (decision is not None and decision.dry_run)

    def _settle_budget(self, admission: Admission, *, spent: bool) -> None:
        """Kept once the order may have been accepted; given back when nothing was placed."""
        reservation = admission.reservation_id
        if reservation is None:
            return
        admission.reservation_id = None
        try:
            (self.budgets.keep if spent else self.budgets.release)(reservation)
        except Exception:  # the reservation stays spent: the budget fails closed
            logger.exception("could not settle budget reservation %s", reservation)

    async def _check_keys(self) -> None:
        """On mainnet, keys that can withdraw are refused (checked once, at the first keyed call)."""
        if self.network is not Network.MAINNET or self.allow_withdrawal_keys:
            return
        if self._keys_refusal is None:
            from binance_mcp.keysafety import withdrawal_refusal

            refusal = await withdrawal_refusal(self.exchange, self.network.value)
            if refusal is None:
                self._keys_refusal = ""
                return
            if "could not be checked" not in refusal:
                self._keys_refusal = refusal  # a definite answer is kept; a failed check is tried again
            raise Refusal(RefusalKind.POLICY_DENIED, refusal)
        if self._keys_refusal:
            raise Refusal(RefusalKind.POLICY_DENIED, self._keys_refusal)

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
            approved_via=call.approved_via,
            reason=call.reason,
            rule=call.rule,
            outcome=outcome or call.outcome,
            order_id=call.order_id,
            client_order_id=call.client_order_id,
            latency_ms=round((time.perf_counter() - call.started) * 1000, 3),
        )

    async def _write_audit(self, call: _Call) -> None:
        """The call's one record. Only the `pending` record of an order is fsync'd (in a worker
        thread); the rest are WAL appends without fsync (synchronous=NORMAL, ~50 µs, on the loop):
        they survive a killed process, and an outcome a power loss takes is completed by crash
        recovery from the exchange."""
        try:
            if call.pending_id is not None:
                try:
                    self.audit.finish(
                        call.pending_id,
                        outcome=call.outcome,
                        decision=call.decision,
                        reason=call.reason,
                        order_id=call.order_id,
                        client_order_id=call.client_order_id,
                        latency_ms=round((time.perf_counter() - call.started) * 1000, 3),
                        durable=False,
                    )
                except ValueError:
                    # Another server on this state dir took the record for a crashed one and
                    # completed it meanwhile: the real outcome is written as a record of its own.
                    logger.warning(
                        "audit record %s was completed elsewhere; recording the outcome again",
                        call.pending_id,
                    )
                    self.audit.append(self._record(call))
            else:
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
    """Raw arguments as the audit log keeps them: JSON-safe and never huge (serialised once)."""
    if not isinstance(arguments, dict):
        return {"_raw": repr(arguments)[:MAX_AUDITED_RAW_ARGUMENTS]}
    try:
        text, jsonable = dumps(arguments), True
    except (TypeError, ValueError):
        text, jsonable = repr(arguments), False
    if len(text) <= MAX_AUDITED_RAW_ARGUMENTS:
        return arguments if jsonable else {"_raw": text}
    return {"_raw": text[:MAX_AUDITED_RAW_ARGUMENTS], "_truncated": True}


def _no_store(kind: str) -> Callable[[], Any]:
    def refuse() -> Any:
        raise RuntimeError(f"this guard was built without a {kind} store")

    return refuse


@contextlib.contextmanager
def _nothing_sent_yet(what: str) -> Iterator[None]:
    """Exchange failures while screening a call (before anything that changes the account)."""
    try:
        yield
    except MissingCredentials:
        raise Refusal(RefusalKind.EXCHANGE_ERROR, _missing_keys_sentence(what)) from None
    except ExchangeError as exc:
        raise _exchange_refusal(exc) from None
    except ExchangeUnavailable as exc:
        raise Refusal(RefusalKind.EXCHANGE_ERROR, f"{exc.message}; nothing was sent") from None


def _exchange_refusal(exc: ExchangeError) -> Refusal:
    """Binance's code and message; when it asked us to wait (429, 418, a limit), for how long."""
    wait = getattr(exc, "retry_after", None)
    return Refusal(
        RefusalKind.EXCHANGE_ERROR,
        exc.sentence(),
        code=exc.code,
        retry_after_s=round(wait, 3) if wait else None,
    )


def _missing_keys_sentence(what: str) -> str:
    return (
        f"{what} needs Binance API keys: set {ENV_API_KEY} and {ENV_API_SECRET} in the environment or "
        "in a .env file in the working directory, then restart the server"
    )


def _declined_sentence(answer: str) -> str:
    why = {
        "decline": "the human declined",
        "declined": "the human answered no",
        "cancel": "the human cancelled the question",
        "timeout": f"no answer within {int(QUESTION_TIMEOUT_S / 60)} minutes",
    }.get(answer, "the question could not be answered")
    return f"{why}; nothing was sent"


async def _ask_now(ctx: Context, question: str) -> str:
    """2025 era: ask the human mid-call and wait at most five minutes. Returns accept/declined/…"""
    try:
        with anyio.fail_after(QUESTION_TIMEOUT_S):
            result = await ctx.elicit(question, ApprovalForm)
    except TimeoutError:
        return "timeout"
    except Exception:
        logger.exception("asking the human failed")
        return "error"
    if result.action != "accept":
        return result.action
    return "accept" if getattr(result.data, "approve", False) else "declined"
