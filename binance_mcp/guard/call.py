"""The values one tool call becomes on its way through the guard, one per stage, all frozen.

    Request ─hide─▶ Request ─rate limit─▶ Request ─parse─▶ Parsed ─validate─▶ Validated
      ─decide─▶ Decided ─approve─▶ Admitted (or Asking, while a 2026-era client asks its human)
      ─dispatch─▶ Ended ─record─▶ the audit log

Each stage takes one value and returns the next, or raises a `Refusal`. Nothing is filled in
later from elsewhere: a value carries the one before it, so the record stage can say how far a
refused call got and what it was.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any

from binance_mcp.guard.caller import Caller
from binance_mcp.results import dumps
from binance_mcp.tools.bounds import check_raw_arguments

if TYPE_CHECKING:
    from mcp.server.mcpserver.resolve import Elicit
    from mcp_types import CallToolResult
    from pydantic import BaseModel

    from binance_mcp.guard.approval_desk import ApprovalForm, CallIdentity, OpenQuestion
    from binance_mcp.guard.epoch import Epoch
    from binance_mcp.market import Market
    from binance_mcp.orders import Order
    from binance_mcp.policy.engine import Decision
    from binance_mcp.tools.spec import ToolSpec
    from binance_mcp.valuation import Valuation


@dataclass(frozen=True)
class Request:
    """A `tools/call` as it arrived: the tool, the caller, the raw arguments, bounded for the audit."""

    spec: ToolSpec
    caller: Caller
    raw: Any
    started: float
    continuing: bool = False  # a later round of a 2026-era call that asked its human
    can_elicit: bool = False
    modern: bool = False  # the 2026-07-28 protocol era (input_required rounds)
    ask_now: Callable[[str], Awaitable[str]] | None = None
    """2025 era: asks the client's human this question mid-call; answers accept, declined, ..."""

    @cached_property
    def audited_arguments(self) -> dict[str, Any]:
        """The raw arguments as the audit keeps them, for a call refused before they were parsed."""
        return bounded_arguments(self.raw)


@dataclass(frozen=True)
class Parsed:
    """The arguments read into the tool's input model; `arguments` is their audited form."""

    request: Request
    args: BaseModel
    arguments: dict[str, Any]
    client_order_id: str | None
    generated_client_order_id: bool


@dataclass(frozen=True)
class Validated:
    """Everything that can be known about the call before the policy is asked: for an order, the
    order itself, its market and its value."""

    parsed: Parsed
    order: Order | None = None
    market: Market | None = None
    valuation: Valuation | None = None
    epoch: Epoch | None = None
    """For a call that changes the account: the epoch read before anything else was (`epoch.py`)."""

    @property
    def request(self) -> Request:
        return self.parsed.request


@dataclass(frozen=True)
class Decided:
    """What the policy in force said: allowed (perhaps with a human's approval), and how."""

    validated: Validated
    decision: Decision
    approval_rule: str | None  # set when a human must approve, the policy path that asks for it
    dry_run: bool

    @property
    def request(self) -> Request:
        return self.validated.request

    @property
    def parsed(self) -> Parsed:
        return self.validated.parsed

    @property
    def needs_approval(self) -> bool:
        return self.approval_rule is not None


@dataclass(frozen=True)
class Asking:
    """2026 era: the question is out to the client's human; the answer comes in a later round."""

    decided: Decided
    identity: CallIdentity
    question: OpenQuestion
    elicit: Elicit[ApprovalForm]

    @property
    def request(self) -> Request:
        return self.decided.request

    @property
    def parsed(self) -> Parsed:
        return self.decided.parsed


@dataclass(frozen=True)
class Admitted:
    """Allowed to go ahead. `approved_via` says who approved it when a human had to: `elicitation`
    (the client's human, already answered) or `operator` (an approval to be spent at dispatch)."""

    decided: Decided
    approved_via: str | None = None
    approved_by: str | None = None
    identity: CallIdentity | None = None
    approved_notional: Decimal | None = None  # what the human was shown

    @property
    def request(self) -> Request:
        return self.decided.request

    @property
    def parsed(self) -> Parsed:
        return self.decided.parsed


Reached = Request | Parsed | Validated | Decided | Asking | Admitted


def request_of(reached: Reached) -> Request:
    """The request a call began as, however far it got."""
    return reached if isinstance(reached, Request) else reached.request


@dataclass(frozen=True)
class Ended:
    """How a call ended: the result the agent gets and what its audit record says."""

    reached: Reached
    result: CallToolResult | None
    """What the agent is answered; None for a record that answers nothing (pending, asked)."""
    decision: str
    outcome: str
    reason: str | None = None
    rule: str | None = None
    order_id: int | None = None
    client_order_id: str | None = None
    approved_via: str | None = None
    approved_by: str | None = None
    pending_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


MAX_AUDITED_ARGUMENTS = 2_000
"""Characters of a call's raw arguments the audit keeps; more is cut, with a marker, never dropped."""


def bounded_arguments(arguments: Any) -> dict[str, Any]:
    """Raw arguments as the audit keeps them: JSON, at most `MAX_AUDITED_ARGUMENTS` characters.
    Arguments out of bounds (a 5,000-digit integer, a lone surrogate) are never serialised: the
    record keeps the sentence that refused them."""

    problem = check_raw_arguments(arguments)
    if problem is not None:
        return {"_refused": problem.message[:MAX_AUDITED_ARGUMENTS]}
    if not isinstance(arguments, dict):
        return {"_raw": repr(arguments)[:MAX_AUDITED_ARGUMENTS], "_truncated": True}
    try:
        text, jsonable = dumps(arguments), True
    except (TypeError, ValueError, RecursionError):
        text, jsonable = repr(arguments)[: MAX_AUDITED_ARGUMENTS + 1], False
    if len(text) <= MAX_AUDITED_ARGUMENTS:
        return arguments if jsonable else {"_raw": text}
    return {"_raw": text[:MAX_AUDITED_ARGUMENTS], "_truncated": True}
