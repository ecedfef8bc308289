"""Order-list tools: place an OCO, OTO or OTOCO, cancel one, look them up.

A list always carries a `listClientOrderId` and each leg its client order id (the caller's, or
made here before the call is audited), so that after an answer is lost the list is looked up by
its listClientOrderId instead of sent twice. Before it is sent, every leg is checked against the
symbol's filters, and an OCO's legs against the market (Binance's price rules), so the agent hears
what to change instead of -1013 or -1166.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import anyio

from binance_mcp.exchange.errors import ExchangeError, ExchangeUnavailable
from binance_mcp.refusals import Refusal, RefusalKind
from binance_mcp.results import ToolOutput
from binance_mcp.tools import outputs
from binance_mcp.tools.inputs import decimal_text, new_client_order_id
from binance_mcp.tools.names import Risk, ToolName
from binance_mcp.tools.order_list_inputs import (
    TAKES_TIF,
    CancelOrderListInput,
    GetOrderListsInput,
    ListLeg,
    PlaceOrderListInput,
    legs_of,
)
from binance_mcp.tools.order_of import order_of_place_order_list
from binance_mcp.tools.spec import CallContext, ToolSpec
from binance_mcp.tools.trading import OrderQuote
from binance_mcp.tools.trigger_rules import trigger_problem

logger = logging.getLogger(__name__)


# -- before the call -------------------------------------------------------------------------------


def with_list_client_order_ids(args: PlaceOrderListInput) -> PlaceOrderListInput:
    """Fill the list's and every leg's client order id the caller left out (before the audit)."""
    update: dict[str, Any] = {}
    if args.list_client_order_id is None:
        update["list_client_order_id"] = new_client_order_id()
    for leg in legs_of(args):
        if leg.client_order_id is None:
            update[f"{leg.prefix}_client_order_id"] = new_client_order_id()
    return args.model_copy(update=update) if update else args


async def quote_order_list(args: PlaceOrderListInput, call: CallContext) -> OrderQuote:
    """The symbol's rules and price, and the list's value: the most it can cost or bring."""
    from binance_mcp.exchange.filters import SymbolRules
    from binance_mcp.valuation import value_order

    found: dict[str, Any] = {}

    async def fetch_rules() -> None:
        found["rules"] = SymbolRules.from_exchange_info(await call.exchange.get_symbol_info(args.symbol))

    async def fetch_price() -> None:
        found["price"] = Decimal((await call.exchange.get_price(args.symbol))["price"])

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(fetch_rules)
            group.start_soon(fetch_price)
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    rules, price = found["rules"], found["price"]
    valuation = value_order(order_of_place_order_list(args), price, rules.quote_asset)
    return OrderQuote(rules=rules, reference_price=price, notional=valuation.notional)


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


def _leg_words(leg: ListLeg) -> str:
    words = leg.type
    if leg.price is not None:
        words += f" at {decimal_text(leg.price)}"
    triggers = []
    if leg.stop_price is not None:
        triggers.append(f"stop {decimal_text(leg.stop_price)}")
    if leg.trailing_delta is not None:
        triggers.append(f"trailing {leg.trailing_delta} BIPS")
    if triggers:
        words += f" ({', '.join(triggers)})"
    return words


def describe_order_list(args: PlaceOrderListInput, quote: Any, network: str) -> str:
    """Every leg in one line: "OCO SELL 0.01 BTCUSDT: LIMIT_MAKER at 70000 / STOP_LOSS_LIMIT at 60000
    (stop 60500), ≈700 USDT on TESTNET". `quote` is anything with `notional` and `quote_asset`."""
    legs = legs_of(args)
    if args.type == "OCO":
        what = f"OCO {legs[0].side} {decimal_text(legs[0].quantity)} {args.symbol}: "
        what += " / ".join(_leg_words(leg) for leg in legs)
    else:
        working, pending = legs[0], legs[1:]
        what = (
            f"{args.type} {args.symbol}: {working.side} {decimal_text(working.quantity)} {_leg_words(working)}, "
            f"then {pending[0].side} {decimal_text(pending[0].quantity)} "
            + " / ".join(_leg_words(leg) for leg in pending)
        )
    notional = getattr(quote, "notional", None)
    if notional is not None:
        what += f", ≈{decimal_text(notional.quantize(Decimal('0.01')))} {quote.quote_asset}"
    return f"{what} on {network.upper()}"


def check_legs(args: PlaceOrderListInput, quote: OrderQuote) -> None:
    """Every leg against the symbol's filters, an OCO's against the market price; refused before sending."""
    from binance_mcp.exchange.filters import check_order

    market = quote.reference_price
    for leg in legs_of(args):
        violation = check_order(
            quote.rules,
            side=leg.side,
            order_type=leg.type,
            quantity=leg.quantity,
            quote_quantity=None,
            price=leg.price,
            stop_price=leg.stop_price,
            reference_price=None if leg.role.startswith("pending") else market,
        )
        if violation is not None:
            raise Refusal(
                RefusalKind.INVALID_ARGUMENTS,
                f"{leg.prefix} leg: {violation.message}; nothing was sent",
                field=f"{leg.prefix}_{violation.field}",
            )
    if args.type == "OCO":
        for leg in legs_of(args):
            _check_against_market(leg, market)


def _check_against_market(leg: ListLeg, market: Decimal) -> None:
    """Binance's OCO price rules: SELL limit/take-profit above the market, stop-loss below; BUY reversed."""
    compared, name = (leg.price, "price") if leg.type == "LIMIT_MAKER" else (leg.stop_price, "stop_price")
    problem = trigger_problem(leg.side, leg.type, compared, market, f"{leg.prefix}_{name}")
    if problem is not None:
        raise Refusal(RefusalKind.INVALID_ARGUMENTS, problem, field=f"{leg.prefix}_{name}")


# -- the tools -------------------------------------------------------------------------------------


async def place_order_list(args: PlaceOrderListInput, call: CallContext) -> ToolOutput:
    quote = call.quote or await quote_order_list(args, call)
    check_legs(args, quote)
    description = describe_order_list(args, quote, call.network)
    if call.dry_run:
        return await _simulate(args, call, description)
    params = order_list_params(args)
    list_id = args.list_client_order_id or ""
    recovered = False
    await call.about_to_send()
    try:
        raw = await call.exchange.place_order_list(args.type, params)
    except ExchangeUnavailable as exc:
        if not exc.sent:
            raise
        raw, recovered = await _find_after_ambiguous_failure(args, call, exc.message), True
    except ExchangeError as exc:
        if not exc.outcome_unknown:
            raise
        raw, recovered = await _find_after_ambiguous_failure(args, call, exc.sentence()), True
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
    """The answer was lost: look the list up by its listClientOrderId (never send it again)."""
    list_id = args.list_client_order_id or ""
    logger.warning("order list %s: outcome unknown (%s); looking it up", list_id, what_happened)
    lookup = await call.exchange.find_order_list(args.symbol, list_id)
    if lookup.order is not None:
        return await _with_member_details(call, lookup.order)
    raise Refusal(
        RefusalKind.ORDER_STATUS_UNKNOWN,
        f"the order list may or may not have been placed ({what_happened}; then: {lookup.detail}); it was "
        f"not sent again. Check it on Binance by its list client order id {list_id} before trying again",
        client_order_id=list_id,
    )


async def _with_member_details(call: CallContext, listed: dict[str, Any]) -> dict[str, Any]:
    """A list status object names its orders only; add each order's details (best effort)."""
    reports = []
    for member in listed.get("orders", []):
        try:
            reports.append(await call.exchange.get_order(member["symbol"], order_id=member["orderId"]))
        except (ExchangeError, ExchangeUnavailable):
            reports.append(member)
    return listed | {"orderReports": reports}


async def cancel_order_list(args: CancelOrderListInput, call: CallContext) -> ToolOutput:
    await call.about_to_send()
    try:
        raw = await call.exchange.cancel_order_list(
            args.symbol, args.order_list_id, args.list_client_order_id
        )
    except (ExchangeUnavailable, ExchangeError) as exc:
        ambiguous = exc.sent if isinstance(exc, ExchangeUnavailable) else exc.outcome_unknown
        if not ambiguous:
            raise
        raw = await _check_cancel(
            args, call, exc.message if isinstance(exc, ExchangeUnavailable) else exc.sentence()
        )
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
        except (ExchangeError, ExchangeUnavailable) as exc:
            detail = getattr(exc, "message", str(exc))
    if listed is not None and listed.get("listOrderStatus") == "ALL_DONE":
        return await _with_member_details(call, listed)
    raise Refusal(
        RefusalKind.ORDER_STATUS_UNKNOWN,
        f"the cancel of order list {ident} on {args.symbol} may or may not have happened ({what_happened}; "
        f"then: {detail}); it was not sent again. Check the list with get_order_lists",
        client_order_id=args.list_client_order_id,
    )


def describe_cancel_order_list(args: CancelOrderListInput, quote: object, network: str) -> str:
    which = args.list_client_order_id or f"id {args.order_list_id}"
    return f"Cancel order list {which} (every order in it) on {args.symbol} on {network.upper()}"


async def get_order_lists(args: GetOrderListsInput, call: CallContext) -> ToolOutput:
    if args.order_list_id is not None or args.list_client_order_id is not None:
        listed = await call.exchange.get_order_list(args.order_list_id, args.list_client_order_id)
        if args.symbol is not None and listed.get("symbol") != args.symbol:
            raw = []
        else:
            raw = [await _with_member_details(call, listed)]
        where = f"order list {args.list_client_order_id or args.order_list_id}"
    else:
        raw = [
            x for x in await call.exchange.get_open_order_lists() if args.symbol in (None, x.get("symbol"))
        ]
        where = f"open order lists on {args.symbol or 'all symbols'}"
    lists = [outputs.order_list_from_binance(x) for x in raw]
    result = outputs.OrderLists(order_lists=lists, count=len(lists))  # type: ignore[arg-type]
    return ToolOutput(
        result.model_dump(exclude_none=True), f"{len(lists)} {where}", list_keys=("order_lists",)
    )


ORDER_LIST_TOOLS = (
    ToolSpec(
        name=ToolName.PLACE_ORDER_LIST,
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
            "checked against the symbol's filters and the policy before anything is sent."
        ),
        input_model=PlaceOrderListInput,
        output_model=outputs.PlacedOrderList,
        risk=Risk.FINANCIAL,
        run=place_order_list,
        prepare=with_list_client_order_ids,
        quote=quote_order_list,
        describe=describe_order_list,
    ),
    ToolSpec(
        name=ToolName.CANCEL_ORDER_LIST,
        title="Cancel order list",
        description="Cancel an OCO, OTO or OTOCO (every open order in it) by order_list_id or list_client_order_id.",
        input_model=CancelOrderListInput,
        output_model=outputs.CancelledOrderList,
        risk=Risk.DESTRUCTIVE,
        run=cancel_order_list,
        describe=describe_cancel_order_list,
    ),
    ToolSpec(
        name=ToolName.GET_ORDER_LISTS,
        title="Get order lists",
        description=(
            "The account's open order lists (OCO, OTO, OTOCO), optionally on one symbol; or one list in "
            "any status by order_list_id or list_client_order_id, with its orders' details."
        ),
        input_model=GetOrderListsInput,
        output_model=outputs.OrderLists,
        risk=Risk.ACCOUNT,
        run=get_order_lists,
    ),
)
