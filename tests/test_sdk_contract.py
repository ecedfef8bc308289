"""Contracts with the libraries whose internals we use: each fails loudly when they change.

`binance_mcp/sdk.py` holds every use of the MCP SDK's internals and `binance_mcp/exchange/client.py`
every use of python-binance's; both libraries are pinned (`mcp>=2.3,<2.4`, `python-binance==1.0.37`).
If an upgrade breaks one of these, the guard would otherwise fail in ways no other test names.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

import pytest

from binance_mcp import sdk


def test_the_pinned_versions_are_the_ones_installed() -> None:
    assert version("mcp").startswith("2.3."), "binance_mcp/sdk.py is written against mcp 2.3"
    assert version("python-binance") == "1.0.37", "exchange/client.py is written against 1.0.37"


def test_the_sdk_hands_our_raw_argument_model_its_arguments_untouched() -> None:
    from mcp.server.mcpserver.utilities import func_metadata

    source = inspect.getsource(func_metadata)
    assert "model_dump_one_level" in source  # how the SDK reads the validated arguments
    dumped = sdk.RawArguments.model_validate({"symbol": "BTCUSDT", "leverage": 5}).model_dump_one_level()
    assert dumped == {"arguments": {"symbol": "BTCUSDT", "leverage": 5}}


def test_resolvers_are_found_on_the_handler_and_planned() -> None:
    from mcp.server.mcpserver.resolve import build_resolver_plans, find_resolved_parameters

    from binance_mcp.guard.approve import ApprovalForm

    async def screen(arguments: dict, ctx: object) -> object:
        return None

    async def finish(concluded: object, approval: object) -> object:
        return None

    handler = sdk.guarded_handler("get_price", screen, finish, ApprovalForm, lambda concluded: None)  # type: ignore[arg-type]
    resolved = find_resolved_parameters(handler)
    assert list(resolved) == ["approval"]
    assert build_resolver_plans(resolved, {"arguments"})


def test_tools_list_changed_is_declared_to_every_transport() -> None:
    server = sdk.ServerWithListChanged("contract")
    options = sdk.lowlevel_server(server).create_initialization_options()
    assert options.capabilities.tools is not None and options.capabilities.tools.list_changed is True


def test_the_http_session_manager_keeps_its_sessions_where_we_look() -> None:
    server = sdk.ServerWithListChanged("contract")
    server.streamable_http_app()
    sessions = sdk.open_http_sessions(server.session_manager)
    assert sessions == {}, "mcp moved its open HTTP sessions: fix sdk.open_http_sessions"
    assert sdk.end_http_session(server.session_manager, "no-such-session") is False


@pytest.mark.parametrize(
    "attribute",
    ["_requests_params", "_get", "_request_api", "response", "create_oco_order", "get_my_trades"],
)
def test_python_binance_still_has_what_the_exchange_client_uses(attribute: str) -> None:
    from binance.client import Client

    client = Client("key", "secret", ping=False)
    try:
        assert hasattr(client, attribute), f"python-binance no longer has Client.{attribute}"
        assert isinstance(client._requests_params, dict | type(None))
    finally:
        loop = getattr(client, "loop", None)
        if loop is not None and not loop.is_closed():
            loop.close()


def test_a_tool_is_called_through_its_run_which_the_guarded_tool_overrides() -> None:
    """`sdk.GuardedTool` screens a call's first round in `Tool.run` itself and tells a later round
    of a 2026-era call by the context's `request_state` / `input_responses`."""
    from mcp.server.mcpserver import Context
    from mcp.server.mcpserver.tools import Tool, tool_manager

    assert "tool.run(arguments, context, convert_result=convert_result)" in inspect.getsource(tool_manager)
    assert list(inspect.signature(Tool.run).parameters) == ["self", "arguments", "context", "convert_result"]
    assert isinstance(Context.request_state, property) and isinstance(Context.input_responses, property)
    assert issubclass(sdk.GuardedTool, Tool) and "run" in vars(sdk.GuardedTool)
