"""`get_limits`: what the calling agent may do on this server, now, as the guard itself sees it."""

from __future__ import annotations

from binance_mcp.results import ToolOutput
from binance_mcp.tools import outputs
from binance_mcp.tools.inputs import NoInput, OrderPreviewInput
from binance_mcp.tools.names import ToolName
from binance_mcp.tools.spec import CallContext, tool


@tool(
    ToolName.GET_LIMITS,
    title="Get my limits",
    description=(
        "What the policy lets you do now: each tool's decision, order bounds, the largest order without a"
        " human, budgets left, rate limits, your share of the exchange's weight, dry run. Read it before"
        " placing orders."
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
    if report.weight_share is not None:
        share = report.weight_share
        lines.append(f"request weight: {share['left']} of {share['weight_per_minute']} left this minute")
    return ToolOutput(report.model_dump(), "; ".join(lines))


@tool(
    ToolName.GET_ORDER_PREVIEW,
    title="Preview an order",
    description=(
        "What the guard would decide for a place_order or place_order_list call, sending nothing: the "
        "order's value and how, each money bound, whether a human would be asked, and the largest "
        "quantity that needs none."
    ),
    inputs=OrderPreviewInput,
    output=outputs.OrderPreview,
)
async def get_order_preview(args: OrderPreviewInput, call: CallContext) -> ToolOutput:
    assert call.preview is not None, "the guard supplies its view"
    report = outputs.OrderPreview.model_validate(await call.preview(args.tool, args.arguments))
    words = [f"{args.tool}: {report.decision}"]
    if report.value is not None:
        words.append(f"value {report.value} {report.unit} ({report.valued_as})")
    if report.reason:
        words.append(report.reason)
    largest = report.largest_without_human
    if largest:
        sizes = ", ".join(f"{key} {value}" for key, value in largest.items() if key.endswith("quantity"))
        legs = [leg["quantity"] for leg in largest.get("legs") or []]
        if legs:  # an order list: its legs' quantities, in the order of its legs
            sizes = (
                f"quantity {legs[0]} a leg" if len(set(legs)) == 1 else f"leg quantities {', '.join(legs)}"
            )
        words.append(f"largest without a human: {sizes}")
    words.append("nothing was sent")
    return ToolOutput(report.model_dump(exclude_none=True), "; ".join(words))


AGENT_LIMIT_TOOLS = (get_limits, get_order_preview)
