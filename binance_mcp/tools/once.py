"""An order, an order list or a cancel of either: sent once, and after a lost answer found, never resent.

The tools that change the account send through here. `about_to_send()` (where the guard makes the
`pending` audit record durable, and the place for any last check before sending) is awaited
immediately before the one request leaves, with nothing in between; when its
answer is lost in a way that may have let it execute, the order is looked up by its client id
(`binance_mcp.exchange.order_kinds`), the same way for both kinds: found and the one sent, it is
the answer; anything else is `order_status_unknown`, naming the id to check, and nothing is sent
again. A cancel whose answer is lost is answered by the order's status, looked up the same way.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from binance_mcp.exchange.errors import ExchangeFailure
from binance_mcp.exchange.order_kinds import CLOCK_ALLOWANCE_MS, OrderKind, Ref, kind_of
from binance_mcp.refusals import Refusal, RefusalKind

if TYPE_CHECKING:
    from binance_mcp.tools.spec import CallContext

logger = logging.getLogger(__name__)


async def place_once(call: CallContext) -> tuple[dict[str, Any], bool]:
    """Send the order the guard checked (`call.order`); returns Binance's answer and whether it
    was found after a lost answer rather than received."""
    order = call.order
    assert order is not None, "the guard validates an order first"
    kind, ident = kind_of(order), order.client_order_id or ""
    sent_at, offset = call.exchange.server_time_ms(), call.exchange.timestamp_offset_ms
    await call.about_to_send()
    try:
        return await kind.place(call.exchange, order), False
    except ExchangeFailure as exc:
        if not exc.may_have_executed:
            raise
        what = exc.summary()
    # created no earlier than the send, on Binance's clock (a -1021 resync may have set ours back)
    not_before = sent_at + min(0, call.exchange.timestamp_offset_ms - offset) - CLOCK_ALLOWANCE_MS
    logger.warning("%s %s: outcome unknown (%s); looking it up", kind.noun, ident, what)
    lookup = await kind.look_up(call.exchange, Ref(order.symbol, ident))
    if lookup.order is None:
        detail = lookup.detail
    else:
        different = kind.difference(order, lookup.order, not_before)
        if different is None:
            return lookup.order, True
        detail = f"an {kind.noun} with {kind.id_name} {ident} exists but is not this one ({different})"
    raise Refusal(
        RefusalKind.ORDER_STATUS_UNKNOWN,
        f"the {kind.noun} may or may not have been placed ({what}; then: {detail}); it was not sent "
        f"again. Check it on Binance by its {kind.id_name} {ident} before trying again",
        client_order_id=ident,
    )


async def cancel_once(kind: OrderKind, call: CallContext, ref: Ref) -> dict[str, Any]:
    """Cancel an order or a list; after a lost answer its status says: cancelled (a list all done),
    it happened; otherwise done (FILLED, EXPIRED), it never will (an error); still open or not
    found, unknown, and the cancel is not sent again."""
    await call.about_to_send()
    try:
        return await kind.cancel(call.exchange, ref)
    except ExchangeFailure as exc:
        if not exc.may_have_executed:
            raise
        what = exc.summary()
    logger.warning("cancel of %s %s: outcome unknown (%s); looking it up", kind.noun, ref, what)
    lookup = await kind.look_up(call.exchange, ref, settled=kind.done)
    found = lookup.order or {}
    if lookup.settled and kind.cancelled(found):
        return found
    if lookup.settled:
        where = f"{kind.noun} {ref} on {ref.symbol}"
        raise ExchangeFailure(
            None, None, f"{where} is {kind.status(found)}, so it was not cancelled ({what})"
        )
    raise Refusal(
        RefusalKind.ORDER_STATUS_UNKNOWN,
        f"the cancel of {kind.noun} {ref} on {ref.symbol} may or may not have happened ({what}; then: "
        f"{lookup.detail}); it was not sent again. Check it with {kind.read_tool}",
        client_order_id=ref.client_id or found.get("clientOrderId"),
    )
