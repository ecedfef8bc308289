"""Turning a tool's answer into an MCP result that an MCP host will pass to the model intact.

Hosts cap a tool result near 25,000 tokens and silently swap a larger one for a file pointer, so
a result stays under about 80,000 characters: the structured content and its JSON copy in the
text (for clients that read only text) get half of that each. A list that does not fit keeps its
first entries (or, for a list where the newest matter most, such as fills oldest first, its last),
whole, and the result says `truncated: true` beside the full count.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mcp_types import CallToolResult, TextContent

RESULT_CHAR_BUDGET = 80_000
STRUCTURED_BUDGET = RESULT_CHAR_BUDGET // 2 - 1_000  # leaves room for the summary line


@dataclass
class ToolOutput:
    """What a tool hands back: structured content, a one-line summary, and what the audit log keeps."""

    structured: dict[str, Any]
    summary: str
    list_keys: Sequence[str] = ()
    order_id: int | None = None
    client_order_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    keep_newest: bool = False  # a list too long keeps its last entries (it is oldest first)


def counted(count: int, noun: str) -> str:
    """`1 open order`, `2 open orders`, `0 open orders`: summaries read as sentences."""
    return f"{count} {noun}" + ("" if count == 1 else "s")


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def fit(
    structured: dict[str, Any],
    list_keys: Sequence[str],
    budget: int = STRUCTURED_BUDGET,
    *,
    keep_newest: bool = False,
) -> dict[str, Any]:
    """Keep the first entries of the lists under `list_keys` (the last with `keep_newest`) so the
    JSON fits in `budget` characters."""
    if not list_keys or len(dumps(structured)) <= budget:
        return structured
    longest = max(len(structured.get(key) or []) for key in list_keys)
    low, high = 0, longest  # the largest n with fits(n) is in [low, high]
    while low < high:
        middle = (low + high + 1) // 2
        if len(dumps(_cut(structured, list_keys, middle, keep_newest))) <= budget:
            low = middle
        else:
            high = middle - 1
    return _cut(structured, list_keys, low, keep_newest)


def _cut(
    structured: dict[str, Any], list_keys: Sequence[str], keep: int, newest: bool = False
) -> dict[str, Any]:
    cut = dict(structured)
    for key in list_keys:
        entries = list(structured.get(key) or [])
        cut[key] = (entries[len(entries) - keep :] if keep else []) if newest else entries[:keep]
    cut["truncated"] = True
    return cut


def success_result(output: ToolOutput) -> CallToolResult:
    structured, summary = output.structured, output.summary
    text = dumps(structured)
    if len(text) > STRUCTURED_BUDGET:
        structured = fit(structured, output.list_keys, keep_newest=output.keep_newest)
        text = dumps(structured)
        if structured.get("truncated"):
            kept = "the newest kept" if output.keep_newest else "the first kept"
            summary += (
                f" (truncated to fit the result size limit, {kept}: ask for fewer entries to see them all)"
            )
    return CallToolResult(
        content=[TextContent(type="text", text=f"{summary}\n{text}")],
        structured_content=structured,
    )
