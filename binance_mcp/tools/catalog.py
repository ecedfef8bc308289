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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from binance_mcp.tools.spec import ToolSpec

CATALOG_FILE = Path(__file__).with_name("catalog.json")


def output_schema(result: dict[str, Any]) -> dict[str, Any]:
    """A tool's result, or a refusal. Clients on the TypeScript SDK check `structuredContent`
    against the output schema even when `isError` is true, so a refusal (`error`, `tool`, `reason`,
    `rule`...) must fit it too: the schema gives the result's fields and their types and requires
    none (a field left out is one without a value), and no result names a refusal's field with
    another type (a test checks both)."""
    return lean(result, prose=False)


def lean(schema: dict[str, Any], *, prose: bool = True) -> dict[str, Any]:
    """A pydantic JSON Schema as published: self-contained (every `$ref` replaced by the schema it
    names, no `$defs`: several MCP clients cannot resolve them), without generated titles, an
    optional field as its own type (leaving it out is how to say none). `prose=False` (output
    schemas) keeps the shape only: no descriptions, no defaults."""
    definitions = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return walk(definitions[node["$ref"].rsplit("/", 1)[-1]])
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("$defs", "title", "ge", "le") or (
                not prose and key in ("description", "default", "required")
            ):
                continue  # ge/le: pydantic's bounds on a nested Annotated, not JSON Schema (checked here)
            if (key == "default" and (value is None or value is False)) or (
                key == "additionalProperties" and value is True
            ):
                continue
            if key == "properties":
                out[key] = {name: walk(sub) for name, sub in value.items()}
            else:
                out[key] = walk(value)
        branches = out.get("anyOf")
        if isinstance(branches, list) and len(branches) == 2 and {"type": "null"} in branches:
            (given,) = [branch for branch in branches if branch != {"type": "null"}]
            if prose:  # `X | None` in the arguments: X (leaving it out is how to say none)
                del out["anyOf"]
                out = given | out
            elif set(given) == {"type"} and isinstance(given["type"], str):  # in a result: X or null
                del out["anyOf"]
                out = {"type": [given["type"], "null"]} | out
        return out

    published = walk(schema)
    published.pop("description", None)  # the model's docstring: the tool's description says it
    return published


def published_annotations(spec: ToolSpec) -> dict[str, Any]:
    """The hints a client reads, where they differ from the MCP specification's defaults (not
    read-only, destructive, not idempotent, open world): the title is the tool's own, every tool
    reaches Binance. destructiveHint is said either way for a tool that changes the account."""
    hints = spec.annotations
    if hints.read_only_hint:
        return {"readOnlyHint": True}
    published: dict[str, Any] = {"destructiveHint": bool(hints.destructive_hint)}
    if hints.idempotent_hint:
        published["idempotentHint"] = True
    return published


def generate() -> dict[str, dict[str, Any]]:
    from binance_mcp.tools import ALL_TOOLS

    return {
        spec.name.value: {
            "title": spec.title,
            "description": spec.description,
            "risk": spec.risk.value,
            "annotations": published_annotations(spec),
            "input_schema": lean(spec.input_model.model_json_schema()),
            "output_schema": output_schema(spec.output_model.model_json_schema()),
        }
        for spec in ALL_TOOLS
    }


MODEL_FACING = ("name", "title", "description", "inputSchema", "annotations")
"""What a client puts in the model's context for a tool; the output schema is the rest of tools/list."""
BUDGET = {"model_facing": 12_000, "full": 25_000}
"""Bytes, all tools together, measured by `sizes` (issue #18's goals)."""


def sizes(listed: dict[str, Any]) -> dict[str, Any]:
    """A tools/list result's size in bytes as a client receives it (the JSON of its result, compact):
    `full`, `model_facing` (the tools' `MODEL_FACING` fields only), and per tool."""

    def size(value: Any) -> int:
        return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())

    tools = listed["tools"]
    facing = [{key: tool[key] for key in MODEL_FACING if key in tool} for tool in tools]
    return {
        "full": size(listed),
        "model_facing": size(facing),
        "tools": {
            tool["name"]: {"model_facing": size(shown), "full": size(tool)}
            for tool, shown in zip(tools, facing, strict=True)
        },
    }


def load() -> dict[str, dict[str, Any]]:
    """Tools in tools/list order (the order of `ALL_TOOLS`)."""
    return json.loads(CATALOG_FILE.read_text())


def render(catalog: dict[str, dict[str, Any]]) -> str:
    return json.dumps(catalog, indent=1) + "\n"


if __name__ == "__main__":
    CATALOG_FILE.write_text(render(generate()))
    print(f"wrote {CATALOG_FILE}")
