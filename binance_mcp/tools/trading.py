"""Trading tools: place and cancel orders. The only tools that change anything on the account.

An order always carries a client order id (the caller's, or one made here before the call is
audited), so that after an answer is lost the order can be looked up instead of sent twice.
Before it is sent, it is checked against the symbol's exchangeInfo filters, so the agent hears
"price 60000.005 is not a multiple of tick size 0.01: use 60000.00 or 60000.01" instead of -1013.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import anyio

from binance_mcp.exchange.errors import ExchangeError, ExchangeUnavailable
from binance_mcp.refusals import Refusal, RefusalKind
from binance_mcp.results import ToolOutput
from binance_mcp.tools import outputs
from binance_mcp.tools.inputs import (
    CancelOrderInput,
    PlaceOrderInput,
    SymbolInput,
    decimal_text,
    new_client_order_id,
)
from binance_mcp.tools.names import Risk, ToolName
from binance_mcp.tools.spec import CallContext, ToolSpec

if TYPE_CHECKING:
    from binance_mcp.exchange.filters import SymbolRules

logger = logging.getLogger(__name__)

NO_OPEN_ORDERS = -2011
ORDER_DOES_NOT_EXIST = -2013


@dataclass(frozen=True)
class OrderQuote:
    """An order priced before it is sent: what the policy's money limits are checked against."""

    rules: SymbolRules
    reference_price: Decimal
    notional: Decimal | None

    @property
    def quote_asset(self) -> str:
        return self.rules.quote_asset


def with_client_order_id(args: PlaceOrderInput) -> PlaceOrderInput:
    if args.client_order_id is not None:
        return args
    return args.model_copy(update={"client_order_id": new_client_order_id()})


async def quote_order(args: PlaceOrderInput, call: CallContext) -> OrderQuote:
    """The symbol's rules and current price, fetched together, and the order's notional in the quote asset."""
    from binance_mcp.exchange.filters import SymbolRules

    found: dict[str, Any] = {}

    async def fetch_rules() -> None:
        found["rules"] = SymbolRules.from_exchange_info(await call.exchange.get_symbol_info(args.symbol))

    async def fetch_price() -> None:
        found["price"] = Decimal((await call.exchange.get_price(args.symbol))["price"])

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(fetch_rules)
            group.start_soon(fetch_price)
    except BaseExceptionGroup as failed:  # report the exchange's error, not the task group's wrapper
        raise failed.exceptions[0] from None
    reference: Decimal = found["price"]
    if args.quote_quantity is not None:
        notional: Decimal | None = args.quote_quantity
    elif args.quantity is not None:
        notional = args.quantity * (args.price if args.price is not None else reference)
    else:
        notional = None
    return OrderQuote(rules=found["rules"], reference_price=reference, notional=notional)


def order_params(args: PlaceOrderInput) -> dict[str, Any]:
    params: dict[str, Any] = {
        "symbol": args.symbol,
        "side": args.side,
        "type": args.type,
        "newClientOrderId": args.client_order_id,
        "newOrderRespType": "FULL",
    }
    for ours, theirs in (
        ("quantity", "quantity"),
        ("quote_quantity", "quoteOrderQty"),
        ("price", "price"),
        ("stop_price", "stopPrice"),
    ):
        value = getattr(args, ours)
        if value is not None:
            params[theirs] = decimal_text(value)
    if args.type in ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"):
        params["timeInForce"] = args.time_in_force or "GTC"
    return params


def describe_order(args: PlaceOrderInput, quote: OrderQuote | None, network: str) -> str:
    """The order in one line, from the validated arguments: "BUY 0.01 BTCUSDT LIMIT at 65000 (≈650 USDT)"."""
    amount = decimal_text(args.quantity) if args.quantity is not None else None
    what = f"{args.side} {amount} {args.symbol}" if amount else f"{args.side} {args.symbol} for"
    if args.quote_quantity is not None:
        asset = quote.quote_asset if quote else "quote asset"
        what += f" {decimal_text(args.quote_quantity)} {asset}"
    what += f" {args.type}"
    if args.price is not None:
        what += f" at {decimal_text(args.price)}"
    if args.stop_price is not None:
        what += f" (stop {decimal_text(args.stop_price)})"
    if quote is not None and quote.notional is not None and args.quote_quantity is None:
        what += f" (≈{decimal_text(quote.notional.quantize(Decimal('0.01')))} {quote.quote_asset})"
    return f"{what} on {network.upper()}"


async def place_order(args: PlaceOrderInput, call: CallContext) -> ToolOutput:
    from binance_mcp.exchange.filters import check_order

    quote = call.quote or await quote_order(args, call)
    violation = check_order(
        quote.rules,
        side=args.side,
        order_type=args.type,
        quantity=args.quantity,
        quote_quantity=args.quote_quantity,
        price=args.price,
        stop_price=args.stop_price,
        reference_price=quote.reference_price,
    )
    if violation is not None:
        raise Refusal(
            RefusalKind.INVALID_ARGUMENTS,
            f"{violation.message}; nothing was sent",
            field=violation.field,
        )
    params = order_params(args)
    description = describe_order(args, quote, call.network)
    if call.dry_run:
        commission = await call.exchange.test_order(params)
        placed = outputs.PlacedOrder(
            symbol=args.symbol,
            order_id=0,
            client_order_id=args.client_order_id or "",
            side=args.side,
            type=args.type,
            status="SIMULATED",
            price=decimal_text(args.price) if args.price is not None else None,
            quantity=decimal_text(args.quantity) if args.quantity is not None else None,
            network=call.network,
            simulated=True,
            commission=commission or None,
        )
        return ToolOutput(
            placed.model_dump(exclude_none=True),
            f"Simulated (dry run, nothing was placed): {description}",
            client_order_id=args.client_order_id,
        )

    recovered = False
    await call.about_to_send()
    try:
        raw = await call.exchange.place_order(params)
    except ExchangeUnavailable as exc:
        if not exc.sent:
            raise
        raw, recovered = await _find_after_ambiguous_failure(args, call, exc.message), True
    except ExchangeError as exc:
        if not exc.outcome_unknown:
            raise
        raw, recovered = await _find_after_ambiguous_failure(args, call, exc.sentence()), True

    shaped = outputs.order_from_binance(raw)
    for key, value in (("side", args.side), ("type", args.type), ("status", "NEW")):
        shaped[key] = shaped.get(key) or value  # an ACK answer carries none of these
    fills = [
        outputs.Fill(
            price=fill["price"], quantity=fill["qty"], commission=fill["commission"],
            commission_asset=fill["commissionAsset"],
        )
        for fill in raw.get("fills", [])
    ]  # fmt: skip
    placed = outputs.PlacedOrder(**shaped, network=call.network, fills=fills, recovered=recovered)
    verb = "Recovered after a lost answer" if recovered else "Placed"
    summary = f"{verb}: {description}; status {placed.status}, order id {placed.order_id}"
    return ToolOutput(
        placed.model_dump(exclude_none=True),
        summary,
        order_id=placed.order_id,
        client_order_id=placed.client_order_id,
    )


async def _find_after_ambiguous_failure(args: PlaceOrderInput, call: CallContext, what_happened: str) -> dict:
    """The answer was lost: look the order up by its client order id (a few tries with backoff)
    instead of sending it again. Found: it is the answer. Still unknown: a refusal naming the id."""
    client_order_id = args.client_order_id or ""
    logger.warning("order %s: outcome unknown (%s); looking it up", client_order_id, what_happened)
    lookup = await call.exchange.find_order(args.symbol, client_order_id=client_order_id)
    if lookup.order is not None:
        return lookup.order
    raise Refusal(
        RefusalKind.ORDER_STATUS_UNKNOWN,
        f"the order may or may not have been placed ({what_happened}; then: {lookup.detail}); it was "
        f"not sent again. Check it on Binance by its client order id {client_order_id} before trying again",
        client_order_id=client_order_id,
    )


async def cancel_order(args: CancelOrderInput, call: CallContext) -> ToolOutput:
    await call.about_to_send()
    try:
        raw = await call.exchange.cancel_order(args.symbol, args.order_id, args.client_order_id)
    except (ExchangeUnavailable, ExchangeError) as exc:
        ambiguous = exc.sent if isinstance(exc, ExchangeUnavailable) else exc.outcome_unknown
        if not ambiguous:
            raise
        raw = await _check_cancel(
            args, call, exc.message if isinstance(exc, ExchangeUnavailable) else exc.sentence()
        )
    cancelled = outputs.CancelledOrder(**outputs.order_from_binance(raw), network=call.network)
    summary = (
        f"Cancelled {cancelled.side} {cancelled.type} order {cancelled.order_id} "
        f"({cancelled.client_order_id}) on {args.symbol}, {call.network.upper()}: status {cancelled.status}"
    )
    return ToolOutput(
        cancelled.model_dump(exclude_none=True),
        summary,
        order_id=cancelled.order_id,
        client_order_id=cancelled.client_order_id,
    )


async def _check_cancel(args: CancelOrderInput, call: CallContext, what_happened: str) -> dict:
    """A cancel whose answer was lost: the order's status, looked up a few times, says whether it happened.

    CANCELED: the cancel is done. Another final status (FILLED, EXPIRED): it cannot happen any more,
    an error. Still open or not found: unknown, and the cancel is not sent again.
    """
    from binance_mcp.exchange.client import FINAL_STATUSES

    ident = args.client_order_id or str(args.order_id)
    logger.warning("cancel of %s: outcome unknown (%s); looking the order up", ident, what_happened)
    lookup = await call.exchange.find_order(
        args.symbol,
        client_order_id=args.client_order_id,
        order_id=args.order_id,
        settled=lambda order: order.get("status") in FINAL_STATUSES,
    )
    order = lookup.order or {}
    status = order.get("status")
    if status == "CANCELED":
        return order
    if lookup.settled:
        raise ExchangeError(
            None,
            None,
            f"order {ident} on {args.symbol} is {status}, so it was not cancelled ({what_happened})",
        )
    raise Refusal(
        RefusalKind.ORDER_STATUS_UNKNOWN,
        f"the cancel of order {ident} on {args.symbol} may or may not have happened ({what_happened}; "
        f"then: {lookup.detail}); it was not sent again. Check the order on Binance",
        client_order_id=args.client_order_id or order.get("clientOrderId"),
    )


def describe_cancel(args: CancelOrderInput, quote: object, network: str) -> str:
    which = f"order {args.order_id}" if args.order_id is not None else f"order {args.client_order_id}"
    return f"Cancel {which} on {args.symbol} on {network.upper()}"


def describe_cancel_all(args: SymbolInput, quote: object, network: str) -> str:
    return f"Cancel ALL open orders on {args.symbol} on {network.upper()}"


async def cancel_all_orders(args: SymbolInput, call: CallContext) -> ToolOutput:
    await call.about_to_send()
    try:
        raw = await call.exchange.cancel_all_orders(args.symbol)
    except ExchangeError as exc:
        if exc.code != NO_OPEN_ORDERS:
            raise
        raw = []
    cancelled = [outputs.order_from_binance(entry) for entry in raw if "orderId" in entry]
    message = (
        f"cancelled {len(cancelled)} open orders on {args.symbol}"
        if cancelled
        else f"there were no open orders on {args.symbol}; nothing was cancelled"
    )
    result = outputs.CancelledOrders(
        symbol=args.symbol,
        network=call.network,
        cancelled=cancelled,  # type: ignore[arg-type]
        count=len(cancelled),
        message=message,
    )
    return ToolOutput(
        result.model_dump(),
        f"{message[0].upper()}{message[1:]} ({call.network.upper()})",
        list_keys=("cancelled",),
    )


TRADING_TOOLS = (
    ToolSpec(
        name=ToolName.PLACE_ORDER,
        title="Place order",
        description=(
            "Place a Binance Spot order. LIMIT needs quantity and price; MARKET takes quantity or "
            "quote_quantity; LIMIT_MAKER needs quantity and price; STOP_LOSS_LIMIT and TAKE_PROFIT_LIMIT "
            "need quantity, price and stop_price. Amounts are decimal strings. The order is checked "
            "against the symbol's filters and the policy before anything is sent."
        ),
        input_model=PlaceOrderInput,
        output_model=outputs.PlacedOrder,
        risk=Risk.FINANCIAL,
        run=place_order,
        prepare=with_client_order_id,
        quote=quote_order,
        describe=describe_order,
    ),
    ToolSpec(
        name=ToolName.CANCEL_ORDER,
        title="Cancel order",
        description="Cancel one open order by order_id or client_order_id.",
        input_model=CancelOrderInput,
        output_model=outputs.CancelledOrder,
        risk=Risk.DESTRUCTIVE,
        run=cancel_order,
        describe=describe_cancel,
    ),
    ToolSpec(
        name=ToolName.CANCEL_ALL_ORDERS,
        title="Cancel all orders",
        description="Cancel every open order on a symbol. Says so when there were none.",
        input_model=SymbolInput,
        output_model=outputs.CancelledOrders,
        risk=Risk.DESTRUCTIVE,
        run=cancel_all_orders,
        describe=describe_cancel_all,
    ),
)
