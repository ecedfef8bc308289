"""Order-list tools: place an OCO, OTO or OTOCO, cancel one, look them up.

A list always carries a `listClientOrderId` and each leg its client order id (the caller's, or
made here before the call is audited), so that after an answer is lost the list is looked up by
its listClientOrderId instead of sent twice, and counts as sent only if its legs are the ones
sent. The guard checks every leg against the symbol's filters, then this tool's `check` hook
(`check_order_list`: an OCO's prices against the market, trailing deltas, an OTOCO's pending pair),
values the list and asks about it, all before anything is sent; the handler only sends.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from binance_mcp.decimals import decimal_text
from binance_mcp.exchange.errors import BinanceRejected, ExchangeFailure
from binance_mcp.exchange.order_kinds import LIST, MISSING, Ref, single_params, with_member_details
from binance_mcp.orders import Leg, Order, describe
from binance_mcp.refusals import Refusal, RefusalKind
from binance_mcp.results import ToolOutput
from binance_mcp.tools import outputs
from binance_mcp.tools.inputs import new_client_order_id
from binance_mcp.tools.names import ToolName
from binance_mcp.tools.once import cancel_once, place_once
from binance_mcp.tools.order_list_inputs import (
    CancelOrderListInput,
    GetOrderListsInput,
    PlaceOrderListInput,
    legs_of,
)
from binance_mcp.tools.spec import CallContext, tool
from binance_mcp.tools.trading import check_trailing_deltas
from binance_mcp.tools.trigger_rules import trigger_problem
from binance_mcp.valuation import value_order

if TYPE_CHECKING:
    from binance_mcp.market import Market


# -- before the call -------------------------------------------------------------------------------


def with_list_client_order_ids(args: PlaceOrderListInput) -> PlaceOrderListInput:
    """Fill the list's client order id if the caller left it out, and each leg's the caller left
    out (`order_list_inputs.leg_client_order_id`: `bmcp_` and a hash of the list's id and the
    leg's role), before the call is audited: the audit record then names every id the list sends,
    and each is refused for a later order as a single order's id is."""
    list_id = args.list_client_order_id or new_client_order_id()
    named = args.model_copy(update={"list_client_order_id": list_id})
    legs = [
        given.model_copy(update={"client_order_id": leg.client_order_id})
        for given, leg in zip(args.legs, legs_of(named), strict=True)
    ]
    return named.model_copy(update={"legs": legs})


def order_of_place_order_list(args: PlaceOrderListInput) -> Order:
    """An OCO (above, below), OTO (working, pending) or OTOCO (working, pending_above, pending_below),
    its legs in the order given, each with its own client order id."""
    legs = tuple(
        Leg(
            side=leg.side,  # type: ignore[arg-type]
            type=leg.type,
            quantity=leg.quantity,
            price=leg.price,
            stop_price=leg.stop_price,
            trailing_delta=leg.trailing_delta,
            role=leg.role,
            time_in_force=leg.time_in_force,
            client_order_id=leg.client_order_id,
            argument=leg.argument,
        )
        for leg in legs_of(args)
    )
    return Order(symbol=args.symbol, kind=args.type, legs=legs, client_order_id=args.list_client_order_id)


def check_order_list(order: Order, market: Market) -> None:
    """The rules of a list beyond each leg's own filters (which the guard checks first, including
    a stop leg's trigger direction against the market): every trailing delta within the symbol's
    bounds; an OCO's limit leg on its side of the market (SELL: price above it; BUY: below it,
    Binance's "Limit Price > Last Price > Stop Price"); an OTOCO's pending pair the right way up
    (the above leg's price or stop above the below leg's)."""
    check_trailing_deltas(order, market)
    if order.kind == "OCO":
        for leg in order.legs:
            # rest-api.md "New Order list - OCO": SELL: LIMIT_MAKER/TAKE_PROFIT_LIMIT price > last price
            # > stop-loss stop; BUY the other way round (Binance's -2010 "The relationship of the
            # prices for the orders is not correct"); stops are checked as triggers with the filters
            if leg.type in ("LIMIT_MAKER", "TAKE_PROFIT_LIMIT"):
                name = leg.field("price")
                problem = trigger_problem(leg.side, leg.type, leg.price, market.price, name)
                if problem is not None:
                    if leg.type == "TAKE_PROFIT_LIMIT":
                        problem = problem.replace(
                            "; nothing was sent",
                            " (in an OCO a take-profit's limit price lies on the far side of the last "
                            "price from the stop-loss, as Binance requires); nothing was sent",
                        )
                    raise Refusal(RefusalKind.INVALID_ARGUMENTS, problem, field=name)
    pair = {leg.role: leg for leg in order.legs if leg.role in ("pending_above", "pending_below")}
    if len(pair) == 2:
        above, below = pair["pending_above"], pair["pending_below"]
        high, low = _level(above), _level(below)
        if high is not None and low is not None and high <= low:
            raise Refusal(
                RefusalKind.INVALID_ARGUMENTS,
                f"{above.field(_level_name(above))}: the pending above leg ({above.type} at "
                f"{decimal_text(high)}) must be above the pending below leg ({below.type} at "
                f"{decimal_text(low)}); nothing was sent",
                field=above.field(_level_name(above)),
            )


def _level_name(leg: Leg) -> str:
    """Where a leg of a pair stands: a limit leg's price, a stop leg's stop price."""
    return "price" if leg.type == "LIMIT_MAKER" else "stop_price"


def _level(leg: Leg) -> Decimal | None:
    return leg.price if leg.type == "LIMIT_MAKER" else leg.stop_price


# -- the tools -------------------------------------------------------------------------------------


@tool(
    ToolName.PLACE_ORDER_LIST,
    title="Place order list",
    description=(
        "Place an OCO, OTO or OTOCO; amounts are decimal strings. Protect a position: OCO SELL, a "
        "LIMIT_MAKER above the market and a STOP_LOSS(_LIMIT) below (BUY: reversed). Bracket an entry: "
        "OTOCO, a LIMIT BUY, then a SELL LIMIT_MAKER and a SELL STOP_LOSS(_LIMIT). Each leg is checked as"
        " place_order's; valued at its largest single execution; the budget holds the working order plus "
        "the larger pending leg."
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
    value = call.valuation or value_order(call.order, call.market.price, quote_asset)
    description = describe(call.order, value.notional, quote_asset, call.network)
    if call.dry_run:
        return await _simulate(args, call, description)
    list_id = args.list_client_order_id or ""
    raw, recovered = await place_once(call)
    placed = outputs.PlacedOrderList(
        **outputs.order_list_from_binance(raw), type=args.type, network=call.network, recovered=recovered
    )
    verb = "Recovered after a lost answer" if recovered else "Placed"
    states = ", ".join(f"{o.type} {o.status}" for o in placed.orders)
    summary = f"{verb}: {description}; list {placed.order_list_id} {placed.list_order_status} ({states})"
    watch = json.dumps({"symbol": args.symbol, "order_list_id": placed.order_list_id})
    return ToolOutput(
        placed.model_dump(exclude_none=True), summary, client_order_id=list_id, extra={"budget_watch": watch}
    )


async def _simulate(args: PlaceOrderListInput, call: CallContext, description: str) -> ToolOutput:
    """Dry run: Binance has no test endpoint for lists, so each leg is tested as an order of its own."""
    orders = []
    assert call.order is not None, "the guard validates an order first"
    for leg in call.order.legs:
        await call.exchange.test_order(single_params(args.symbol, leg))
        orders.append(
            outputs.OrderDetail(
                symbol=args.symbol,
                order_id=0,
                client_order_id=leg.client_order_id or "",
                side=leg.side,
                type=leg.type,
                status="SIMULATED",
                price=decimal_text(leg.price) if leg.price is not None else None,
                quantity=decimal_text(leg.quantity or Decimal(0)),
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


async def find_list_to_cancel(args: CancelOrderListInput, call: CallContext) -> dict[str, Any] | None:
    """The order list a cancel names, as Binance has it now (None when Binance does not know it):
    an approval binds to its order list id, never to a list client id another list may reuse."""
    try:
        return await LIST.fetch(
            call.exchange, Ref(args.symbol, args.list_client_order_id, args.order_list_id)
        )
    except BinanceRejected as exc:
        if exc.code in MISSING:
            return None
        raise


def describe_cancel_order_list(args: CancelOrderListInput, found: object, network: str) -> str:
    which = args.list_client_order_id or f"id {args.order_list_id}"
    if isinstance(found, dict) and found.get("orderListId") is not None:
        members = ", ".join(str(order.get("orderId")) for order in found.get("orders") or [])
        which = (
            f"{which} ({found.get('contingencyType')}, order list id {found['orderListId']}, status "
            f"{found.get('listOrderStatus')}, orders {members})"
        )
    return f"Cancel order list {which} (every order in it) on {args.symbol} on {network.upper()}"


@tool(
    ToolName.CANCEL_ORDER_LIST,
    title="Cancel order list",
    description="Cancel an order list (every open order in it) by order_list_id or list_client_order_id.",
    inputs=CancelOrderListInput,
    output=outputs.CancelledOrderList,
    describe=describe_cancel_order_list,
    resolve=find_list_to_cancel,  # the list it names now: an approval binds to its order list id
)
async def cancel_order_list(args: CancelOrderListInput, call: CallContext) -> ToolOutput:
    # approved: the list the human was shown, by its order list id (with the client id given,
    # Binance cancels it only while that id still names it)
    list_id = args.order_list_id if args.order_list_id is not None else call.bound_order_id
    raw = await cancel_once(LIST, call, Ref(args.symbol, args.list_client_order_id, list_id))
    cancelled = outputs.CancelledOrderList(**outputs.order_list_from_binance(raw), network=call.network)
    states = ", ".join(f"{o.order_id} {o.status}" for o in cancelled.orders)
    summary = (
        f"Cancelled order list {cancelled.order_list_id} ({cancelled.list_client_order_id}) on {args.symbol}, "
        f"{call.network.upper()}: {cancelled.list_order_status} ({states})"
    )
    return ToolOutput(
        cancelled.model_dump(exclude_none=True), summary, client_order_id=cancelled.list_client_order_id
    )


@tool(
    ToolName.GET_ORDER_LISTS,
    title="Get order lists",
    description=(
        "Open order lists, on one symbol or all; or one list in any status by order_list_id or "
        "list_client_order_id."
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
        raw = await _with_open_member_details(call, raw)
        where = f"open order lists on {args.symbol or 'all symbols'}"
    lists = [outputs.order_list_from_binance(x) for x in raw]
    result = outputs.OrderLists(order_lists=lists, count=len(lists))
    shown = "; ".join(_list_words(x) for x in lists[:5])
    more = f"; and {len(lists) - 5} more" if len(lists) > 5 else ""
    summary = f"{len(lists)} {where}" + (f": {shown}{more}" if shown else "")
    return ToolOutput(result.model_dump(exclude_none=True), summary, list_keys=("order_lists",))


def _list_words(listed: dict[str, Any]) -> str:
    """`7 OCO EXECUTING (STOP_LOSS_LIMIT NEW, LIMIT_MAKER NEW)`: a list in the one-line summary."""
    states = ", ".join(f"{o['type']} {o['status']}" for o in listed["orders"] if o.get("status"))
    head = f"{listed['order_list_id']} {listed['contingency_type']} {listed['list_order_status']}"
    return f"{head} ({states})" if states else head


async def _with_open_member_details(call: CallContext, lists: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """GET /api/v3/openOrderList names each list's orders by id only: their side, type and status
    come from the symbol's open orders (one request per symbol, PENDING_NEW legs included), and a
    member no longer open (a working order that filled) from a look-up of its own."""
    by_id: dict[int, dict[str, Any]] = {}
    for symbol in sorted({str(x.get("symbol")) for x in lists}):
        for order in await call.exchange.get_open_orders(symbol):
            by_id[int(order["orderId"])] = order
    detailed = []
    for listed in lists:
        reports = []
        for member in listed.get("orders", []):
            found = by_id.get(int(member["orderId"]))
            if found is None:
                try:
                    found = await call.exchange.get_order(member["symbol"], order_id=member["orderId"])
                except ExchangeFailure:
                    found = member  # as named: its side, type and status stay out of the result
            reports.append(found)
        detailed.append(listed | {"orderReports": reports})
    return detailed


ORDER_LIST_TOOLS = (place_order_list, cancel_order_list, get_order_lists)
