"""Order-list tools: place an OCO, OTO or OTOCO, cancel one, look them up.

A list always carries a `listClientOrderId` and each leg its client order id (the caller's, or
made here before the call is audited), so that after an answer is lost the list is looked up by
its listClientOrderId instead of sent twice, and counts as sent only if its legs are the ones
sent. The guard checks every leg against the symbol's filters, then this tool's `check` hook
(`check_order_list`: an OCO's prices against the market, trailing deltas, an OTOCO's pending pair),
values the list and asks about it, all before anything is sent; the handler only sends.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from binance_mcp.decimals import decimal_text
from binance_mcp.exchange.errors import ExchangeFailure
from binance_mcp.orders import Leg, Order, describe
from binance_mcp.refusals import Refusal, RefusalKind
from binance_mcp.results import ToolOutput
from binance_mcp.tools import outputs
from binance_mcp.tools.inputs import new_client_order_id
from binance_mcp.tools.names import ToolName
from binance_mcp.tools.order_list_inputs import (
    TAKES_TIF,
    CancelOrderListInput,
    GetOrderListsInput,
    PlaceOrderListInput,
    legs_of,
)
from binance_mcp.tools.order_list_match import list_mismatch, with_member_details
from binance_mcp.tools.order_of import order_of_place_order_list
from binance_mcp.tools.spec import CallContext, guarded
from binance_mcp.tools.trading import check_trailing_deltas
from binance_mcp.tools.trigger_rules import trigger_problem
from binance_mcp.valuation import value_order

if TYPE_CHECKING:
    from binance_mcp.guard.call import Market

logger = logging.getLogger(__name__)


# -- before the call -------------------------------------------------------------------------------


def with_list_client_order_ids(args: PlaceOrderListInput) -> PlaceOrderListInput:
    """Fill the list's client order id if the caller left it out (before the call is audited); each
    leg without one of its own gets one made from it (`order_list_inputs.leg_client_order_id`)."""
    if args.list_client_order_id is not None:
        return args
    return args.model_copy(update={"list_client_order_id": new_client_order_id()})


def order_list_params(args: PlaceOrderListInput) -> dict[str, Any]:
    """The POST /api/v3/orderList/{oco,oto,otoco} parameters, in Binance's names."""
    params: dict[str, Any] = {
        "symbol": args.symbol,
        "listClientOrderId": args.list_client_order_id,
        "newOrderRespType": "FULL",
    }
    if args.type == "OCO":
        params["side"] = args.side
        params["quantity"] = decimal_text(args.quantity) if args.quantity is not None else None
    else:
        params["pendingSide"] = args.pending_side
        params["pendingQuantity"] = decimal_text(args.pending_quantity) if args.pending_quantity else None
    for leg in legs_of(args):
        prefix = leg.binance_prefix
        params[f"{prefix}Type"] = leg.type
        if leg.prefix == "working":
            params["workingSide"] = leg.side
            params["workingQuantity"] = decimal_text(leg.quantity)
        for value, name in ((leg.price, "Price"), (leg.stop_price, "StopPrice")):
            if value is not None:
                params[f"{prefix}{name}"] = decimal_text(value)
        if leg.trailing_delta is not None:
            params[f"{prefix}TrailingDelta"] = str(leg.trailing_delta)
        if leg.type in TAKES_TIF:
            params[f"{prefix}TimeInForce"] = leg.time_in_force or "GTC"
        if leg.client_order_id:
            params[f"{prefix}ClientOrderId"] = leg.client_order_id
    return {key: value for key, value in params.items() if value is not None}


def check_order_list(order: Order, market: Market) -> None:
    """The rules of a list beyond each leg's own filters (which the guard checks first, including
    a stop leg's trigger direction against the market): every trailing delta within the symbol's
    bounds; an OCO's limit leg on its side of the market (SELL: price above it; BUY: below it,
    Binance's "Limit Price > Last Price > Stop Price"); an OTOCO's pending pair the right way up
    (the above leg's price or stop above the below leg's)."""
    check_trailing_deltas(order, market)
    if order.kind == "OCO":
        for leg in order.legs:
            if leg.type == "LIMIT_MAKER":
                name = f"{leg.role}_price"
                problem = trigger_problem(leg.side, leg.type, leg.price, market.price, name)
                if problem is not None:
                    raise Refusal(RefusalKind.INVALID_ARGUMENTS, problem, field=name)
    pair = {leg.role: leg for leg in order.legs if leg.role in ("pending_above", "pending_below")}
    if len(pair) == 2:
        above, below = pair["pending_above"], pair["pending_below"]
        high, low = _level(above), _level(below)
        if high is not None and low is not None and high <= low:
            raise Refusal(
                RefusalKind.INVALID_ARGUMENTS,
                f"pending_above_{_level_name(above)}: the pending above leg ({above.type} at "
                f"{decimal_text(high)}) must be above the pending below leg ({below.type} at "
                f"{decimal_text(low)}); nothing was sent",
                field=f"pending_above_{_level_name(above)}",
            )


def _level_name(leg: Leg) -> str:
    """Where a leg of a pair stands: a limit leg's price, a stop leg's stop price."""
    return "price" if leg.type == "LIMIT_MAKER" else "stop_price"


def _level(leg: Leg) -> Decimal | None:
    return leg.price if leg.type == "LIMIT_MAKER" else leg.stop_price


# -- the tools -------------------------------------------------------------------------------------


@guarded(
    ToolName.PLACE_ORDER_LIST,
    title="Place order list (OCO, OTO, OTOCO)",
    description=(
        "Place linked orders in one call. OCO: side, quantity, and two legs (above_*, below_*) of "
        "which one cancels the other: to protect a position, SELL with above_type LIMIT_MAKER (take "
        "profit, above_price above the market) and below_type STOP_LOSS or STOP_LOSS_LIMIT "
        "(below_stop_price below the market); a BUY OCO has its stop-loss above. OTO: a working "
        "LIMIT or LIMIT_MAKER order (working_*), and a pending order (pending_*) placed once it "
        "fills. OTOCO: a working order, then an OCO pair (pending_side, pending_quantity, "
        "pending_above_*, pending_below_*): a buy with its take-profit and stop-loss. Stop legs take "
        "a stop price and/or a trailing delta (BIPS). Amounts are decimal strings. Every leg is "
        "checked against the symbol's filters and the policy before anything is sent; the policy "
        "values an OCO by its larger leg, an OTO/OTOCO by the working order plus the larger pending leg."
    ),
    inputs=PlaceOrderListInput,
    output=outputs.PlacedOrderList,
    prepare=with_list_client_order_ids,
    order=order_of_place_order_list,
    check=check_order_list,
    client_id_field="list_client_order_id",
)
async def place_order_list(args: PlaceOrderListInput, call: CallContext) -> ToolOutput:
    """Send the list the guard checked leg by leg, valued and (if asked) had approved."""
    assert call.order is not None and call.market is not None, "the guard validates an order first"
    quote_asset = call.market.rules.quote_asset
    value = value_order(call.order, call.market.price, quote_asset)
    description = describe(call.order, value.notional, quote_asset, call.network)
    if call.dry_run:
        return await _simulate(args, call, description)
    params = order_list_params(args)
    list_id = args.list_client_order_id or ""
    recovered = False
    await call.about_to_send()
    try:
        raw = await call.exchange.place_order_list(args.type, params)
    except ExchangeFailure as exc:
        if not exc.may_have_executed:
            raise
        raw, recovered = await _find_after_ambiguous_failure(args, call, exc.summary()), True
    placed = outputs.PlacedOrderList(
        **outputs.order_list_from_binance(raw), type=args.type, network=call.network, recovered=recovered
    )
    verb = "Recovered after a lost answer" if recovered else "Placed"
    states = ", ".join(f"{o.type} {o.status}" for o in placed.orders)
    summary = f"{verb}: {description}; list {placed.order_list_id} {placed.list_order_status} ({states})"
    return ToolOutput(placed.model_dump(exclude_none=True), summary, client_order_id=list_id)


async def _simulate(args: PlaceOrderListInput, call: CallContext, description: str) -> ToolOutput:
    """Dry run: Binance has no test endpoint for lists, so each leg is tested as an order of its own."""
    orders = []
    for leg in legs_of(args):
        single: dict[str, Any] = {"symbol": args.symbol, "side": leg.side, "type": leg.type,
                                  "quantity": decimal_text(leg.quantity)}  # fmt: skip
        for value, name in ((leg.price, "price"), (leg.stop_price, "stopPrice")):
            if value is not None:
                single[name] = decimal_text(value)
        if leg.trailing_delta is not None:
            single["trailingDelta"] = str(leg.trailing_delta)
        if leg.type in TAKES_TIF:
            single["timeInForce"] = leg.time_in_force or "GTC"
        await call.exchange.test_order(single)
        orders.append(
            outputs.OrderDetail(
                symbol=args.symbol,
                order_id=0,
                client_order_id=leg.client_order_id or "",
                side=leg.side,
                type=leg.type,
                status="SIMULATED",
                price=decimal_text(leg.price) if leg.price is not None else None,
                quantity=decimal_text(leg.quantity),
                stop_price=decimal_text(leg.stop_price) if leg.stop_price is not None else None,
                trailing_delta=leg.trailing_delta,
            )
        )
    placed = outputs.PlacedOrderList(
        order_list_id=0,
        list_client_order_id=args.list_client_order_id or "",
        contingency_type="OCO" if args.type == "OCO" else "OTO",
        list_status_type="SIMULATED",
        list_order_status="SIMULATED",
        symbol=args.symbol,
        orders=orders,
        type=args.type,
        network=call.network,
        simulated=True,
    )
    return ToolOutput(
        placed.model_dump(exclude_none=True),
        f"Simulated (dry run, nothing was placed): {description}",
        client_order_id=args.list_client_order_id,
    )


async def _find_after_ambiguous_failure(
    args: PlaceOrderListInput, call: CallContext, what_happened: str
) -> dict[str, Any]:
    """The answer was lost: look the list up by its listClientOrderId (never send it again). Found
    with the legs that were sent: it is the answer. Found but another list, or not found: unknown."""
    list_id = args.list_client_order_id or ""
    logger.warning("order list %s: outcome unknown (%s); looking it up", list_id, what_happened)
    lookup = await call.exchange.find_order_list(args.symbol, list_id)
    if lookup.order is not None:
        found = await with_member_details(call.exchange, lookup.order)
        assert call.order is not None
        different = list_mismatch(call.order, legs_of(args), found)
        if different is None:
            return found
        detail = f"an order list with list client order id {list_id} exists but is not this one ({different})"
    else:
        detail = lookup.detail
    raise Refusal(
        RefusalKind.ORDER_STATUS_UNKNOWN,
        f"the order list may or may not have been placed ({what_happened}; then: {detail}); it was "
        f"not sent again. Check it on Binance by its list client order id {list_id} before trying again",
        client_order_id=list_id,
    )


def describe_cancel_order_list(args: CancelOrderListInput, quote: object, network: str) -> str:
    which = args.list_client_order_id or f"id {args.order_list_id}"
    return f"Cancel order list {which} (every order in it) on {args.symbol} on {network.upper()}"


@guarded(
    ToolName.CANCEL_ORDER_LIST,
    title="Cancel order list",
    description="Cancel an OCO, OTO or OTOCO (every open order in it) by order_list_id or list_client_order_id.",
    inputs=CancelOrderListInput,
    output=outputs.CancelledOrderList,
    describe=describe_cancel_order_list,
)
async def cancel_order_list(args: CancelOrderListInput, call: CallContext) -> ToolOutput:
    await call.about_to_send()
    try:
        raw = await call.exchange.cancel_order_list(
            args.symbol, args.order_list_id, args.list_client_order_id
        )
    except ExchangeFailure as exc:
        if not exc.may_have_executed:
            raise
        raw = await _check_cancel(args, call, exc.summary())
    cancelled = outputs.CancelledOrderList(**outputs.order_list_from_binance(raw), network=call.network)
    states = ", ".join(f"{o.order_id} {o.status}" for o in cancelled.orders)
    summary = (
        f"Cancelled order list {cancelled.order_list_id} ({cancelled.list_client_order_id}) on {args.symbol}, "
        f"{call.network.upper()}: {cancelled.list_order_status} ({states})"
    )
    return ToolOutput(
        cancelled.model_dump(exclude_none=True), summary, client_order_id=cancelled.list_client_order_id
    )


async def _check_cancel(args: CancelOrderListInput, call: CallContext, what_happened: str) -> dict[str, Any]:
    """A cancel whose answer was lost: the list done (ALL_DONE) means it happened or cannot any more."""
    ident = args.list_client_order_id or str(args.order_list_id)
    logger.warning("cancel of order list %s: outcome unknown (%s); looking it up", ident, what_happened)
    listed: dict[str, Any] | None = None
    detail = "not found"
    if args.list_client_order_id is not None:
        lookup = await call.exchange.find_order_list(
            args.symbol,
            args.list_client_order_id,
            settled=lambda found: found.get("listOrderStatus") == "ALL_DONE",
        )
        listed, detail = lookup.order, lookup.detail
    else:
        try:
            listed = await call.exchange.get_order_list(order_list_id=args.order_list_id)
        except ExchangeFailure as exc:
            detail = getattr(exc, "message", str(exc))
    if listed is not None and listed.get("listOrderStatus") == "ALL_DONE":
        return await with_member_details(call.exchange, listed)
    raise Refusal(
        RefusalKind.ORDER_STATUS_UNKNOWN,
        f"the cancel of order list {ident} on {args.symbol} may or may not have happened ({what_happened}; "
        f"then: {detail}); it was not sent again. Check the list with get_order_lists",
        client_order_id=args.list_client_order_id,
    )


@guarded(
    ToolName.GET_ORDER_LISTS,
    title="Get order lists",
    description=(
        "The account's open order lists (OCO, OTO, OTOCO), optionally on one symbol; or one list in "
        "any status by order_list_id or list_client_order_id, with its orders' details."
    ),
    inputs=GetOrderListsInput,
    output=outputs.OrderLists,
)
async def get_order_lists(args: GetOrderListsInput, call: CallContext) -> ToolOutput:
    if args.order_list_id is not None or args.list_client_order_id is not None:
        listed = await call.exchange.get_order_list(args.order_list_id, args.list_client_order_id)
        if args.symbol is not None and listed.get("symbol") != args.symbol:
            raw = []
        else:
            raw = [await with_member_details(call.exchange, listed)]
        where = f"order list {args.list_client_order_id or args.order_list_id}"
    else:
        raw = [
            x for x in await call.exchange.get_open_order_lists() if args.symbol in (None, x.get("symbol"))
        ]
        where = f"open order lists on {args.symbol or 'all symbols'}"
    lists = [outputs.order_list_from_binance(x) for x in raw]
    result = outputs.OrderLists(order_lists=lists, count=len(lists))
    return ToolOutput(
        result.model_dump(exclude_none=True), f"{len(lists)} {where}", list_keys=("order_lists",)
    )


ORDER_LIST_TOOLS = (place_order_list, cancel_order_list, get_order_lists)
