"""The tool catalogue tools/list publishes, precomputed so that start-up builds no pydantic model.

An MCP client spawns the server and asks tools/list at once; importing the tools and generating
their twenty schemas costs more than the whole cold-start budget. `catalog.json` beside this file
holds each tool's title, description, annotations and input/output schemas, derived from the
`ToolSpec`s; a test checks it is current. After changing a tool, regenerate it:

    python -m binance_mcp.tools.catalog
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CATALOG_FILE = Path(__file__).with_name("catalog.json")


def refusal_schema() -> dict[str, Any]:
    """The structured content of a refusal (binance_mcp.refusals), as JSON Schema."""
    from binance_mcp.refusals import RefusalKind

    return {
        "title": "Refusal",
        "type": "object",
        "properties": {
            "error": {"enum": [kind.value for kind in RefusalKind]},
            "tool": {"type": "string"},
            "reason": {"type": "string"},
            "rule": {"type": ["string", "null"]},
            "retry_after_s": {"type": "number"},
            "approval_id": {"type": "string"},
            "code": {"type": "integer"},
            "field": {"type": "string"},
            "client_order_id": {"type": "string"},
        },
        "required": ["error", "tool", "reason", "rule"],
    }


def output_schema(result: dict[str, Any]) -> dict[str, Any]:
    """A tool's result or a refusal. Clients on the TypeScript SDK check `structuredContent`
    against the output schema even when `isError` is true, so a refusal must fit it too."""
    result = dict(result)
    definitions = result.pop("$defs", None)
    schema: dict[str, Any] = {
        "title": f"{result.get('title', 'Result')}OrRefusal",
        "type": "object",
        "anyOf": [result, refusal_schema()],
    }
    if definitions:
        schema["$defs"] = definitions
    return schema


def generate() -> dict[str, dict[str, Any]]:
    from binance_mcp.tools import ALL_TOOLS

    return {
        spec.name.value: {
            "title": spec.title,
            "description": spec.description,
            "risk": spec.risk.value,
            "annotations": spec.annotations.model_dump(mode="json", by_alias=True, exclude_none=True),
            "input_schema": spec.input_model.model_json_schema(),
            "output_schema": output_schema(spec.output_model.model_json_schema()),
        }
        for spec in ALL_TOOLS
    }


def load() -> dict[str, dict[str, Any]]:
    """Tools in tools/list order (the order of `ALL_TOOLS`)."""
    return json.loads(CATALOG_FILE.read_text())


def render(catalog: dict[str, dict[str, Any]]) -> str:
    return json.dumps(catalog, indent=1) + "\n"


if __name__ == "__main__":
    CATALOG_FILE.write_text(render(generate()))
    print(f"wrote {CATALOG_FILE}")
