"""`amend_order`: reduce an open order's quantity keeping its place in the queue (a decrease only).

PUT /api/v3/order/amend/keepPriority is sent once. After an ambiguous failure the order is looked
up: showing the new quantity, the amend happened; otherwise it is reported unknown, never resent.
"""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from binance_mcp.decimals import decimal_text
from binance_mcp.exchange.errors import ExchangeFailure
from binance_mcp.refusals import Refusal, RefusalKind
from binance_mcp.results import ToolOutput
from binance_mcp.tools import outputs
from binance_mcp.tools.inputs import AmendOrderInput
from binance_mcp.tools.names import ToolName
from binance_mcp.tools.spec import CallContext, guarded

logger = logging.getLogger(__name__)


def keep_client_order_id(args: AmendOrderInput) -> AmendOrderInput:
    """Named by its client order id, the order keeps it (Binance would make a random one), so that
    it can still be looked up by that id if the answer is lost."""
    if args.new_client_order_id is None and args.client_order_id is not None:
        return args.model_copy(update={"new_client_order_id": args.client_order_id})
    return args


def describe_amend(args: AmendOrderInput, quote: object, network: str) -> str:
    which = f"order {args.order_id}" if args.order_id is not None else f"order {args.client_order_id}"
    return f"Reduce {which} on {args.symbol} to {decimal_text(args.new_quantity)} on {network.upper()}"


@guarded(
    ToolName.AMEND_ORDER,
    title="Amend order (reduce quantity)",
    description=(
        "Reduce an open order's quantity without losing its place in the queue, by order_id or "
        "client_order_id. new_quantity must be less than the order's quantity (a decrease only; to "
        "increase, cancel and place again). In an OCO both legs change together. Named by "
        "client_order_id, the order keeps it; by order_id alone, Binance gives it a new one unless "
        "new_client_order_id is given."
    ),
    inputs=AmendOrderInput,
    output=outputs.AmendedOrder,
    prepare=keep_client_order_id,
    describe=describe_amend,
)
async def amend_order(args: AmendOrderInput, call: CallContext) -> ToolOutput:
    recovered = False
    await call.about_to_send()
    try:
        raw = await call.exchange.amend_order(
            args.symbol,
            decimal_text(args.new_quantity),
            order_id=args.order_id,
            orig_client_order_id=args.client_order_id,
            new_client_order_id=args.new_client_order_id,
        )
        order, orig_id = raw["amendedOrder"], raw["amendedOrder"].get("origClientOrderId", "")
        list_id = (raw.get("listStatus") or {}).get("listClientOrderId")
    except ExchangeFailure as exc:
        if not exc.may_have_executed:
            raise
        what = exc.summary()
        order, recovered = await _check_amend(args, call, what), True
        orig_id, list_id = args.client_order_id or "", None
    amended = outputs.AmendedOrder(
        **outputs.order_detail_from_binance(order),
        orig_client_order_id=orig_id,
        network=call.network,
        list_client_order_id=list_id,
        recovered=recovered,
    )
    verb = "Recovered after a lost answer" if recovered else "Amended"
    summary = (
        f"{verb}: {amended.side} {amended.type} order {amended.order_id} on {args.symbol} now "
        f"{amended.quantity} ({amended.status}), client order id {amended.client_order_id}, "
        f"{call.network.upper()}"
    )
    return ToolOutput(
        amended.model_dump(exclude_none=True),
        summary,
        order_id=amended.order_id,
        client_order_id=amended.client_order_id,
    )


async def _check_amend(args: AmendOrderInput, call: CallContext, what_happened: str) -> dict[str, Any]:
    """The answer was lost: the order with the new quantity means the amend happened."""
    ident = args.client_order_id or str(args.order_id)
    logger.warning("amend of %s: outcome unknown (%s); looking the order up", ident, what_happened)
    lookup = await call.exchange.find_order(
        args.symbol,
        client_order_id=args.new_client_order_id if args.order_id is None else None,
        order_id=args.order_id,
        settled=lambda order: _quantity(order) == args.new_quantity,
    )
    if lookup.order is not None and _quantity(lookup.order) == args.new_quantity:
        return lookup.order
    raise Refusal(
        RefusalKind.ORDER_STATUS_UNKNOWN,
        f"the amend of order {ident} on {args.symbol} may or may not have happened ({what_happened}; then: "
        f"{lookup.detail}); it was not sent again. Check the order with get_order",
        client_order_id=args.client_order_id,
    )


def _quantity(order: dict[str, Any]) -> Decimal | None:
    try:
        return Decimal(str(order.get("origQty")))
    except InvalidOperation:
        return None


AMEND_TOOLS = (amend_order,)
