"""Refusals: every way a call can end without the result the agent asked for, as a readable value.

A refusal is a tool result with `isError: true`, one line of text a person can read, and
structured content `{error, tool, reason, rule, ...}` a program can branch on. `rule` is the path
of the policy entry that decided, or `null` where no policy entry decided.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mcp_types import CallToolResult, TextContent


class RefusalKind(StrEnum):
    POLICY_DENIED = "policy_denied"
    RATE_LIMITED = "rate_limited"
    APPROVAL_REQUIRED = "approval_required"
    APPROVAL_DECLINED = "approval_declined"
    INVALID_ARGUMENTS = "invalid_arguments"
    EXCHANGE_ERROR = "exchange_error"
    ORDER_STATUS_UNKNOWN = "order_status_unknown"
    NOT_CONFIGURED = "not_configured"
    STORE_UNAVAILABLE = "store_unavailable"
    """A store the call needs (the audit log, PostgreSQL, Redis) cannot be used: nothing was done."""
    ACCOUNT_BUSY = "account_busy"
    """Another call holds the account's lock (`holder` says which server process) and did not let
    go within the lock wait, or this call's hold ran out before its send: nothing was sent."""


# The audit log speaks of decisions, refusals of kinds: two vocabularies, one mapping.
AUDIT_DECISION = {
    RefusalKind.POLICY_DENIED: "denied",
    RefusalKind.RATE_LIMITED: "rate_limited",
    RefusalKind.APPROVAL_REQUIRED: "approval_required",
    RefusalKind.APPROVAL_DECLINED: "declined",
    RefusalKind.INVALID_ARGUMENTS: "invalid_arguments",
    RefusalKind.EXCHANGE_ERROR: "allowed",
    RefusalKind.ORDER_STATUS_UNKNOWN: "allowed",
    RefusalKind.NOT_CONFIGURED: "not_configured",
    RefusalKind.STORE_UNAVAILABLE: "undecided",
    RefusalKind.ACCOUNT_BUSY: "allowed",  # the policy let it through; the lock kept it from being sent
}

OPTIONAL_FIELDS = (
    "field",
    "code",
    "retry_after_s",
    "approval_id",
    "expires_at",
    "client_order_id",
    "limit",
    "value",
    "unit",
    "scope",
    "no_approval_max",
    "traded",
    "held",
    "left",
    "store",
    "holder",
    "declined_by",
    "declined_at",
)


@dataclass
class Refusal(Exception):
    """Raised anywhere in the pipeline; the guard turns it into the tool result and the audit record."""

    kind: RefusalKind
    reason: str
    rule: str | None = None
    field: str | None = None
    code: int | None = None
    retry_after_s: float | None = None
    approval_id: str | None = None
    client_order_id: str | None = None
    limit: str | None = None
    """The bound that refused the call, as the policy writes it ("1000"), with `value` (what the
    call came to), `unit` (USDT, calls, orders) and `scope` (account, session, agent, global)."""
    value: str | None = None
    unit: str | None = None
    scope: str | None = None
    no_approval_max: str | None = None
    """approval_required: the largest notional that needs no human."""
    traded: str | None = None
    """A daily budget's refusal: what today traded, what open orders hold, and what is left."""
    held: str | None = None
    left: str | None = None
    expires_at: str | None = None
    store: str | None = None
    """store_unavailable: which one (`audit log`, `postgresql`, `redis`)."""
    holder: str | None = None
    """account_busy: which server process holds the account's lock (`host/pid/start#lock`)."""
    declined_by: str | None = None
    """approval_declined: the human who denied this call (with `declined_at`, ISO 8601 UTC)."""
    declined_at: str | None = None

    def __post_init__(self) -> None:
        super().__init__(self.reason)

    def structured(self, tool: str) -> dict[str, Any]:
        content: dict[str, Any] = {
            "error": self.kind.value,
            "tool": tool,
            "reason": self.reason,
            "rule": self.rule,
        }
        for key in OPTIONAL_FIELDS:
            value = getattr(self, key)
            if value is not None:
                content[key] = value
        return content

    def text(self) -> str:
        extra = []
        if self.rule:
            extra.append(f"rule: {self.rule}")
        if self.retry_after_s is not None:
            extra.append(f"retry after {self.retry_after_s:g} s")
        if self.approval_id:
            extra.append(f"approval id: {self.approval_id}")
        if self.client_order_id:
            extra.append(f"client order id: {self.client_order_id}")
        tail = f" [{'; '.join(extra)}]" if extra else ""
        return f"{self.kind.value}: {self.reason}{tail}"

    def to_result(self, tool: str) -> CallToolResult:
        return CallToolResult(
            content=[TextContent(type="text", text=self.text())],
            structured_content=self.structured(tool),
            is_error=True,
        )


def unknown_tool_result(name: str) -> CallToolResult:
    """Word for word what the SDK answers for a tool that does not exist, so hiding reveals nothing."""
    return CallToolResult(content=[TextContent(type="text", text=f"Unknown tool: {name}")], is_error=True)
