"""Turning a tool's answer into an MCP result that an MCP host will pass to the model intact.

Hosts cap a tool result near 25,000 tokens and silently swap a larger one for a file pointer, so
a result stays under about 80,000 characters: the structured content and its JSON copy in the
text (for clients that read only text) get half of that each. A list that does not fit keeps its
first entries, whole, and the result says `truncated: true` beside the full count.
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


def counted(count: int, noun: str) -> str:
    """`1 open order`, `2 open orders`, `0 open orders`: summaries read as sentences."""
    return f"{count} {noun}" + ("" if count == 1 else "s")


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def fit(
    structured: dict[str, Any], list_keys: Sequence[str], budget: int = STRUCTURED_BUDGET
) -> dict[str, Any]:
    """Keep the first entries of the lists under `list_keys` so the JSON fits in `budget` characters."""
    if not list_keys or len(dumps(structured)) <= budget:
        return structured
    longest = max(len(structured.get(key) or []) for key in list_keys)
    low, high = 0, longest  # the largest n with fits(n) is in [low, high]
    while low < high:
        middle = (low + high + 1) // 2
        if len(dumps(_cut(structured, list_keys, middle))) <= budget:
            low = middle
        else:
            high = middle - 1
    return _cut(structured, list_keys, low)


def _cut(structured: dict[str, Any], list_keys: Sequence[str], keep: int) -> dict[str, Any]:
    cut = dict(structured)
    for key in list_keys:
        cut[key] = list(structured.get(key) or [])[:keep]
    cut["truncated"] = True
    return cut


def success_result(output: ToolOutput) -> CallToolResult:
    structured, summary = output.structured, output.summary
    text = dumps(structured)
    if len(text) > STRUCTURED_BUDGET:
        structured = fit(structured, output.list_keys)
        text = dumps(structured)
        if structured.get("truncated"):
            summary += " (truncated to fit the result size limit: ask for fewer entries to see them all)"
    return CallToolResult(
        content=[TextContent(type="text", text=f"{summary}\n{text}")],
        structured_content=structured,
    )
