"""`get_limits`: what the calling agent may do on this server, now, as the guard itself sees it."""

from __future__ import annotations

from binance_mcp.results import ToolOutput
from binance_mcp.tools import outputs
from binance_mcp.tools.inputs import NoInput
from binance_mcp.tools.names import ToolName
from binance_mcp.tools.spec import CallContext, tool


@tool(
    ToolName.GET_LIMITS,
    title="Get my limits",
    description=(
        "What you may do here, now: each tool's decision (allow, deny with the reason, or approval), "
        "the order constraints, the largest order that goes ahead without a human, open orders against "
        "their bound, each daily budget (spent, left, when it resets), each rate limit (calls left), dry "
        "run, and who may approve. Call it before placing orders, so that they fit on the first try."
    ),
    inputs=NoInput,
    output=outputs.Limits,
)
async def get_limits(args: NoInput, call: CallContext) -> ToolOutput:
    assert call.report_limits is not None, "the guard supplies its view"
    report = outputs.Limits.model_validate(await call.report_limits())
    orders = report.orders or {}
    lines = [f"{len(report.tools)} tools visible on {report.network.upper()}"]
    if orders.get("approval"):
        lines.append(str(orders["approval"]))
    for budget in report.budgets:
        lines.append(f"budget {budget['asset']}: {budget['left']} of {budget['limit']} left today")
    for limit in report.rate_limits:
        lines.append(f"{limit['tool']}: {limit['left']} of {limit['max']} calls left ({limit['scope']})")
    return ToolOutput(report.model_dump(), "; ".join(lines))


AGENT_LIMIT_TOOLS = (get_limits,)
