"""The approval desk: where a call the policy allows only with a human's yes waits for one.

Two ways to ask, chosen by what the client can do:

- In the client, by MCP elicitation, when the client declared the capability. The question is
  rendered from the validated call (never from what the model wrote). In the 2025 protocol era
  the server asks mid-call and waits at most five minutes. In the 2026 era the question travels
  as an `input_required` round and the client answers in a later round; the SDK's request state
  would let a replayed final round run the call again, so every question carries a single-use
  nonce (kept in SQLite, spent on the first accepted answer) and is open for five minutes. A
  replayed round finds its nonce spent, is asked anew with a new one, and runs nothing.
- Out of band, at the CLI, when the client cannot ask: the call is refused with an approval id;
  `binance-mcp approvals approve ID` in a terminal lets exactly one matching call through within
  `approval_ttl` seconds. Nothing the model can send approves a call. A denial is remembered: the
  identical call within `approval_ttl` of it gets that answer (`recent_decline`), not a new
  question; once the approval lets its call through, what the call did is kept with it
  (`record_outcome`) for the approvals page.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from binance_mcp.stores.approvals import Approval, ApprovalStore

QUESTION_TIMEOUT_S = 300.0
# Answers that arrive after a question closed are told so until the SDK's request state expires.
FORGET_AFTER_S = 900.0


class ApprovalForm(BaseModel):
    """What the human fills in: one yes/no."""

    approve: bool = Field(description="Approve this exact call?")


@dataclass
class OpenQuestion:
    """A question asked in the client (2026 era), open across the call's rounds."""

    nonce: str
    question: str
    client_order_id: str | None
    opened_at: float
    shown: Decimal | None = None
    """The order's value when the human was asked: an answer covers that value, not a later one."""

    @property
    def expired(self) -> bool:
        return time.monotonic() - self.opened_at > QUESTION_TIMEOUT_S


@dataclass(frozen=True)
class CallIdentity:
    """What an approval is bound to: same tool, account (network and key), agent and canonical
    arguments; `network` is kept for people to read."""

    tool: str
    network: str
    account: str
    agent: str | None
    arguments_key: str
    order_id: int | None = None
    """A cancel's or an amend's: the exchange order the human was shown (part of `arguments_key`),
    which the call then acts on by that id, never by a client id that may name another order by then."""
    base_url: str = ""
    """The REST root the call goes to: kept with a request for people to read (not matched on)."""

    def fields(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "account": self.account,
            "agent": self.agent,
            "arguments_key": self.arguments_key,
        }


class ApprovalDesk:
    def __init__(self, open_store: Callable[[], ApprovalStore]) -> None:
        self._open_store = open_store
        self._store: ApprovalStore | None = None
        self._questions: dict[CallIdentity, OpenQuestion] = {}

    @property
    def store(self) -> ApprovalStore:
        if self._store is None:
            self._store = self._open_store()
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    # -- out of band (the CLI) -------------------------------------------------------------------

    async def find_operator_approval(self, identity: CallIdentity, ttl_s: int) -> Approval | None:
        """An operator's approval for exactly this call, still usable under the `approval_ttl` in
        force, NOT spent: the guard spends it at dispatch, once the call has been decided again."""
        return await anyio.to_thread.run_sync(lambda: self.store.find(**identity.fields(), ttl_s=ttl_s))

    async def take_operator_approval(self, identity: CallIdentity, ttl_s: int) -> Approval | None:
        """That approval, spent by taking it: it lets exactly one call through."""
        return await anyio.to_thread.run_sync(lambda: self.store.take(**identity.fields(), ttl_s=ttl_s))

    async def recent_decline(self, identity: CallIdentity, ttl_s: int) -> Approval | None:
        """An operator's denial of exactly this call within the last `ttl_s` seconds, or None."""
        return await anyio.to_thread.run_sync(
            lambda: self.store.recent_decline(**identity.fields(), within_s=ttl_s)
        )

    async def record_outcome(self, approval_id: str, outcome: dict[str, str | None]) -> None:
        """What became of the call an operator's approval let through (shown on the page)."""
        await anyio.to_thread.run_sync(lambda: self.store.record_outcome(approval_id, outcome))

    async def request_operator_approval(
        self,
        identity: CallIdentity,
        question: str,
        ttl_s: int,
        *,
        details: dict[str, str],
        pending_ttl_s: int,
        max_pending: int | None = None,
    ) -> Approval:
        """A request an operator can decide (the same one again while an identical call waits);
        `TooManyPending` when the agent already has `max_pending` waiting."""
        return await anyio.to_thread.run_sync(
            lambda: self.store.request(
                **identity.fields(),
                network=identity.network,
                base_url=identity.base_url,
                question=question,
                ttl_s=ttl_s,
                details=details,
                pending_ttl_s=pending_ttl_s,
                max_pending=max_pending,
            )
        )

    # -- in the client, 2026 era -----------------------------------------------------------------

    async def question_for(
        self,
        identity: CallIdentity,
        question: str,
        client_order_id: str | None,
        *,
        continuing: bool,
        shown: Decimal | None = None,
    ) -> OpenQuestion | None:
        """The open question for this call, opening one if none is; None when it timed out."""
        self._forget_stale()
        open_question = self._questions.get(identity)
        if open_question is not None and open_question.expired:
            del self._questions[identity]
            if continuing:
                return None  # the human did not answer within five minutes
            open_question = None
        if open_question is None:
            nonce = await anyio.to_thread.run_sync(
                lambda: self.store.new_nonce(**identity.fields(), ttl_s=int(QUESTION_TIMEOUT_S))
            )
            open_question = OpenQuestion(
                nonce=nonce,
                question=f"{question} (ref {nonce[:8]})",
                client_order_id=client_order_id,
                opened_at=time.monotonic(),
                shown=shown,
            )
            self._questions[identity] = open_question
        return open_question

    async def spend(self, identity: CallIdentity, open_question: OpenQuestion) -> bool:
        """True exactly once per question: the accepted answer may run the call."""
        if self._questions.get(identity) is open_question:
            del self._questions[identity]
        return await anyio.to_thread.run_sync(
            lambda: self.store.spend_nonce(open_question.nonce, **identity.fields())
        )

    def close_question(self, identity: CallIdentity) -> None:
        self._questions.pop(identity, None)

    def _forget_stale(self) -> None:
        now = time.monotonic()
        for identity, open_question in list(self._questions.items()):
            if now - open_question.opened_at > FORGET_AFTER_S:
                del self._questions[identity]


def client_can_elicit(client_capabilities: Any) -> bool:
    """The client declared form elicitation (an empty `elicitation: {}` means form, per the spec)."""
    elicitation = getattr(client_capabilities, "elicitation", None)
    if elicitation is None:
        return False
    form = getattr(elicitation, "form", None)
    url = getattr(elicitation, "url", None)
    return form is not None or url is None
