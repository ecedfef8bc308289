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
from binance_mcp.exchange.order_kinds import SINGLE, Ref
from binance_mcp.refusals import Refusal, RefusalKind
from binance_mcp.results import ToolOutput
from binance_mcp.tools import outputs
from binance_mcp.tools.inputs import AmendOrderInput
from binance_mcp.tools.names import ToolName
from binance_mcp.tools.spec import CallContext, tool
from binance_mcp.tools.trading import budget_watch, find_order_to_cancel

logger = logging.getLogger(__name__)


def keep_client_order_id(args: AmendOrderInput) -> AmendOrderInput:
    """Named by its client order id, the order keeps it (Binance would make a random one), so that
    it can still be looked up by that id if the answer is lost."""
    if args.new_client_order_id is None and args.client_order_id is not None:
        return args.model_copy(update={"new_client_order_id": args.client_order_id})
    return args


OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED", "PENDING_NEW"})


def _refuse(reason: str, field: str = "new_quantity") -> Refusal:
    return Refusal(RefusalKind.INVALID_ARGUMENTS, f"{reason}; nothing was sent", field=field)


async def check_amend(args: AmendOrderInput, call: CallContext) -> None:
    """The amend as Binance would judge it, before the policy or a human is asked: the order open
    and the one named, amends allowed on the symbol, a decrease only, the new quantity on the
    symbol's step and above its minimum quantity and notional (at the order's own price or stop),
    and fewer amends so far than MAX_NUM_ORDER_AMENDS (Binance: -2038, -1013)."""
    from binance_mcp.exchange.filters import SymbolRules, check_order

    order = await call.exchange.get_order(
        args.symbol, client_order_id=args.client_order_id, order_id=args.order_id
    )
    which = f"order {order.get('orderId')} ({order.get('side')} {order.get('type')} on {args.symbol})"
    if args.order_id is not None and args.client_order_id not in (None, order.get("clientOrderId")):
        raise _refuse(
            f"order {args.order_id} has client order id {order.get('clientOrderId')}, not "
            f"{args.client_order_id}: give one of them",
            "client_order_id",
        )
    status = str(order.get("status"))
    if status not in OPEN_STATUSES:
        raise _refuse(f"{which} is {status}: only an open order can be amended (get_open_orders lists them)")
    now = Decimal(str(order.get("origQty")))
    if args.new_quantity >= now:
        more = "is its quantity already" if args.new_quantity == now else "is more than its quantity"
        raise _refuse(
            f"new_quantity {decimal_text(args.new_quantity)} {more} {decimal_text(now)} in {which}: "
            "amend_order only reduces an order; to increase, cancel it and place a new one"
        )
    info = await call.exchange.get_symbol_info(args.symbol)
    rules = SymbolRules.from_exchange_info(info)
    if info.get("amendAllowed") is False:
        raise _refuse(
            f"{args.symbol} does not allow amends (amendAllowed false): cancel the order and place a new one"
        )
    price, stop = (_decimal(order.get(key)) for key in ("price", "stopPrice"))
    violation = check_order(
        rules,
        side=str(order.get("side")),
        order_type=str(order.get("type")),
        quantity=args.new_quantity,
        quote_quantity=None,
        price=price,
        stop_price=stop,
        reference_price=None,  # the order's price and stop stay as placed: only its size is judged
    )
    if violation is not None and violation.field == "quantity":
        raise _refuse(f"{violation.message.replace('quantity', 'new_quantity', 1)} ({which})")
    if rules.max_num_order_amends is not None:
        done = len(await call.exchange.get_order_amendments(args.symbol, int(order["orderId"])))
        if done >= rules.max_num_order_amends:
            raise _refuse(
                f"{which} was amended {done} times, the most {args.symbol} allows (MAX_NUM_ORDER_AMENDS "
                f"{rules.max_num_order_amends}): cancel it and place a new order of "
                f"{decimal_text(args.new_quantity)} instead"
            )


def _decimal(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number > 0 else None


def describe_amend(args: AmendOrderInput, found: object, network: str) -> str:
    which = f"order {args.order_id}" if args.order_id is not None else f"order {args.client_order_id}"
    if isinstance(found, dict) and found.get("orderId") is not None:
        which = (
            f"{found.get('side')} {found.get('type')} order {found['orderId']} "
            f'(client order id "{found.get("clientOrderId")}", quantity {found.get("origQty")})'
        )
    return f"Reduce {which} on {args.symbol} to {decimal_text(args.new_quantity)} on {network.upper()}"


@tool(
    ToolName.AMEND_ORDER,
    title="Amend order",
    description=(
        "Reduce an open order's quantity, keeping its place in the queue (an OCO's legs together). "
        "Refused: an increase (cancel and place again), off the step size, under the minimum quantity or "
        "notional."
    ),
    inputs=AmendOrderInput,
    output=outputs.AmendedOrder,
    prepare=keep_client_order_id,
    describe=describe_amend,
    screen=check_amend,
    resolve=find_order_to_cancel,  # the order it names now: an approval binds to its exchange id
)
async def amend_order(args: AmendOrderInput, call: CallContext) -> ToolOutput:
    recovered = False
    order_id = args.order_id if args.order_id is not None else call.bound_order_id
    # the order as it is before the amend: its quantity (the budget's hold shrinks alike) and, named
    # by order_id alone, its client id (sent as its new one, or Binance makes a random one and every
    # later look-up by the id the server knows fails)
    found = await call.exchange.get_order(
        args.symbol, order_id=order_id, client_order_id=None if order_id is not None else args.client_order_id
    )
    if args.new_client_order_id is None:
        args = args.model_copy(update={"new_client_order_id": str(found["clientOrderId"])})
    await call.about_to_send()
    try:
        raw = await call.exchange.amend_order(
            args.symbol,
            decimal_text(args.new_quantity),
            order_id=order_id,
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
        extra={"budget_shrink": _budget_shrink(args, found)},
    )


def _budget_shrink(args: AmendOrderInput, before: dict[str, Any]) -> tuple[str, Decimal, Decimal] | None:
    """What the budget holds for a single order shrinks with its quantity: (the hold's watch, old
    quantity, new quantity). An order list's leg keeps the list's hold (its pending legs are held
    by their own sizes, which an amend of one leg does not change alike)."""
    if int(before.get("orderListId", -1)) != -1:
        return None
    old = _quantity(before)
    if old is None:
        return None
    return budget_watch(args.symbol, int(before["orderId"])), old, args.new_quantity


async def _check_amend(args: AmendOrderInput, call: CallContext, what_happened: str) -> dict[str, Any]:
    """The answer was lost: the order with the new quantity means the amend happened."""
    ident = args.client_order_id or str(args.order_id)
    logger.warning("amend of %s: outcome unknown (%s); looking the order up", ident, what_happened)
    lookup = await SINGLE.look_up(
        call.exchange,
        Ref(args.symbol, args.new_client_order_id if args.order_id is None else None, args.order_id),
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
