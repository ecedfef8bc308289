"""The precomputed tool catalogue (what tools/list publishes) matches the tool definitions."""

import dataclasses
import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from mcp import Client

from binance_mcp.refusals import OPTIONAL_FIELDS, Refusal, RefusalKind
from binance_mcp.tools import ALL_TOOLS, catalog
from binance_mcp.tools.names import TOOL_NAMES


def test_the_committed_catalogue_is_what_the_tools_generate() -> None:
    generated = catalog.render(catalog.generate())
    assert catalog.CATALOG_FILE.read_text() == generated, "run: python -m binance_mcp.tools.catalog"


def test_the_catalogue_lists_the_tools_in_order() -> None:
    """Every tool named in `ToolName`, in its order: the first ten, then the order-list tools."""
    assert list(catalog.load()) == list(TOOL_NAMES) == [spec.name.value for spec in ALL_TOOLS]
    assert list(TOOL_NAMES)[:12] == [
        "get_price", "get_orderbook", "get_klines", "get_24hr_ticker", "get_symbol_info", "get_limits",
        "get_account_info", "get_open_orders",
        "get_order_history", "place_order", "cancel_order", "cancel_all_orders",
    ]  # fmt: skip
    assert list(TOOL_NAMES)[12:] == [
        "place_order_list", "cancel_order_list", "get_order_lists", "get_order", "get_my_trades", "amend_order",
        "get_order_preview",
    ]  # fmt: skip


# -- what a client receives: within the budget, every schema self-contained --------------------------


def every_refusal_field() -> Refusal:
    """A refusal with every optional field given (a value of its type), and `rule` None."""
    given: dict[str, Any] = {}
    for field in dataclasses.fields(Refusal):
        if field.name in OPTIONAL_FIELDS:
            given[field.name] = {"code": -1013, "retry_after_s": 1.5}.get(field.name, "x")
    return Refusal(RefusalKind.INVALID_ARGUMENTS, "legs[1].price: a LIMIT_MAKER leg needs a price", **given)


async def listed_by_a_client(app: Any) -> dict[str, Any]:
    async with Client(app.server) as client:
        result = await client.list_tools()
    return result.model_dump(mode="json", by_alias=True, exclude_none=True)


@pytest.mark.anyio
async def test_tools_list_fits_the_budget_a_models_context_can_afford(app: Any) -> None:
    """Issue #18: every client puts every tool's definition into the model's context on every turn.
    Measured as the JSON of the tools/list result mcp.Client receives, compact (catalog.sizes)."""
    measured = catalog.sizes(await listed_by_a_client(app))
    assert len(measured["tools"]) == len(TOOL_NAMES)
    assert measured["model_facing"] <= catalog.BUDGET["model_facing"], measured
    assert measured["full"] <= catalog.BUDGET["full"], measured


@pytest.mark.anyio
async def test_no_published_schema_has_a_reference(app: Any) -> None:
    """Several clients fail to load a whole tool list over a `$ref` they cannot resolve (Claude Code,
    GitHub Copilot CLI, Cursor, opencode); mcp.Client resolves them, so only this test would notice."""
    listed = await listed_by_a_client(app)
    for tool in listed["tools"]:
        for schema in (tool["inputSchema"], tool.get("outputSchema", {})):
            text = json.dumps(schema)
            assert "$ref" not in text and "$defs" not in text, tool["name"]
            Draft202012Validator.check_schema(schema)


def test_a_refusal_fits_every_output_schema() -> None:
    """Clients on the TypeScript SDK check structuredContent against the output schema even when
    isError is true: every field a refusal may carry fits every tool's schema."""
    refusal = every_refusal_field()
    for name, entry in catalog.load().items():
        content = refusal.structured(name)
        assert set(content) == {"error", "tool", "reason", "rule", *OPTIONAL_FIELDS}
        errors = list(Draft202012Validator(entry["output_schema"]).iter_errors(content))
        assert errors == [], (name, [error.message for error in errors])


def test_the_place_order_list_schema_shares_one_leg_schema() -> None:
    """One leg's schema as the items of `legs`, not a flat property per leg and field."""
    schema = catalog.load()["place_order_list"]["input_schema"]
    assert set(schema["properties"]) == {"symbol", "type", "legs", "list_client_order_id"}
    leg = schema["properties"]["legs"]["items"]
    assert set(leg["properties"]) == {
        "side", "type", "quantity", "price", "stop_price", "trailing_delta", "time_in_force", "client_order_id",
    }  # fmt: skip
    assert leg["required"] == ["side", "type", "quantity"] and leg["additionalProperties"] is False
