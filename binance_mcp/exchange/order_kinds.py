"""One path for an order and an order list: what is sent, how it is found again, whether what is found is it.

A single order and an order list differ only in data: Binance's parameter names, the endpoints
that place, read and cancel them, and the field that says how they stand. The rest is written
once, in `OrderKind`, for the order tools (a lost answer, a lost cancel answer) and for crash
recovery: an order is never sent twice but looked up by its client id, and what is found counts
as the one sent only if it matches field by field and, for a list, leg by leg (each leg by its
own client order id), belongs where it should (a single order to no list) and was created no
earlier than the send. Binance lets a client id be reused once its order is done, so without the
last two an old order (a filled leg of an earlier list, another program's order) would be
reported as the new one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from binance_mcp.decimals import decimal_text
from binance_mcp.exchange.errors import ExchangeFailure, ExchangePaused, LimitReached, MissingCredentials
from binance_mcp.timestamps import utc_text

if TYPE_CHECKING:
    from binance_mcp.exchange.client import ExchangeClient
    from binance_mcp.orders import Leg, Order

logger = logging.getLogger(__name__)

FINAL_STATUSES = frozenset({"CANCELED", "FILLED", "EXPIRED", "REJECTED", "EXPIRED_IN_MATCH"})
"""An order in one of these states will not change any more (a cancel has happened or never will)."""
MISSING = frozenset({-2011, -2013})
"""What Binance answers for an order or an order list it does not know."""
CLOCK_ALLOWANCE_MS = 1000
"""Binance refuses a request stamped 1 s or more ahead of its clock, so an order created from a
request is never older than the moment the request was stamped, less this."""
TAKES_TIME_IN_FORCE = frozenset({"LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"})
_COMPARED = (
    ("side", "side", "side"),
    ("type", "type", "type"),
    ("quantity", "quantity", "origQty"),
    ("quote quantity", "quote_quantity", "origQuoteOrderQty"),
    ("price", "price", "price"),
    ("stop price", "stop_price", "stopPrice"),
    ("trailing delta", "trailing_delta", "trailingDelta"),
)
"""(words, `Leg` field, Binance's field) of what an order found must share with the leg sent."""


@dataclass(frozen=True)
class Ref:
    """An order or a list on a symbol, named by its client id or by Binance's id."""

    symbol: str
    client_id: str | None = None
    exchange_id: int | None = None

    def __str__(self) -> str:
        return self.client_id or str(self.exchange_id)


@dataclass(frozen=True)
class Lookup:
    """What a lookup found (None: nothing), whether it settled, and if not, why.
    `missing`: Binance's last answer was that it does not know it."""

    order: dict[str, Any] | None
    settled: bool
    detail: str
    missing: bool = False


class OrderKind:
    """The path both kinds share, with a single order's specifics; `OrderList` overrides those."""

    noun = "order"
    id_name = "client order id"
    read_tool = "get_order"
    state_field = "status"
    cancelled_state = "CANCELED"
    final_states = FINAL_STATUSES

    def params(self, order: Order) -> dict[str, Any]:
        return single_params(order.symbol, order.legs[0])

    async def place(self, exchange: ExchangeClient, order: Order) -> dict[str, Any]:
        return await exchange.place_order(self.params(order))

    async def fetch(self, exchange: ExchangeClient, ref: Ref) -> dict[str, Any]:
        return await exchange.get_order(ref.symbol, client_order_id=ref.client_id, order_id=ref.exchange_id)

    async def cancel(self, exchange: ExchangeClient, ref: Ref) -> dict[str, Any]:
        return await exchange.cancel_order(ref.symbol, ref.exchange_id, ref.client_id)

    async def complete(self, exchange: ExchangeClient, found: dict[str, Any]) -> dict[str, Any]:
        """What was read, with what the match and the result need."""
        return found

    def members(self, found: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
        """The orders found, and the order list each must belong to (-1: none)."""
        return [found], -1

    def status(self, found: dict[str, Any]) -> str:
        return str(found.get(self.state_field))

    def done(self, found: dict[str, Any]) -> bool:
        """Will not change any more: a cancel has happened, or never will."""
        return found.get(self.state_field) in self.final_states

    def cancelled(self, found: dict[str, Any]) -> bool:
        return found.get(self.state_field) == self.cancelled_state

    async def look_up(
        self,
        exchange: ExchangeClient,
        ref: Ref,
        *,
        settled: Callable[[dict[str, Any]], bool] | None = None,
        tries: int | None = None,
    ) -> Lookup:
        """Look it up after an ambiguous failure, never raising: a few tries with backoff while it
        is not found (it may not be visible yet), the lookup fails, or `settled(found)` is False."""
        from binance_mcp.exchange.retry import lookup_retrying

        seen: dict[str, Any] = {"found": None, "detail": "not looked up", "missing": False}

        async def attempt() -> dict[str, Any] | None:
            try:
                found = await self.fetch(exchange, ref)
            except ExchangeFailure as exc:
                missing = exc.code in MISSING
                seen.update(
                    missing=missing,
                    detail=f"Binance does not know the {self.noun}" if missing else exc.summary(),
                )
                raise
            if found.get("symbol") not in (None, ref.symbol):  # a list is read without its symbol
                seen.update(missing=True, detail=f"the {self.noun} with that id is on {found.get('symbol')}")
                return None
            seen.update(found=found, missing=False, detail=f"the {self.noun} is still {self.status(found)}")
            return found

        tries = max(1, tries if tries is not None else exchange.retry.lookups)
        with exchange.ungated():  # settling what was sent: never refused for a caller's weight share
            try:
                found: dict[str, Any] | None = await lookup_retrying(
                    exchange.retry, tries, settled or _always
                )(attempt)
            except (ExchangePaused, LimitReached, MissingCredentials) as exc:  # will not pass in time
                return Lookup(seen["found"], False, exc.sentence())
            if found is not None:
                return Lookup(await self.complete(exchange, found), True, "found")
        logger.warning(
            "%s %s on %s: %d lookups did not settle it: %s", self.noun, ref, ref.symbol, tries, seen["detail"]
        )
        return Lookup(seen["found"], False, seen["detail"], missing=seen["missing"] and seen["found"] is None)

    def difference(self, order: Order, found: dict[str, Any], not_before_ms: int) -> str | None:
        """How `found` differs from `order` as sent, or None when it is that order."""
        reports, list_id = self.members(found)
        if len(reports) != len(order.legs):
            return f"{len(reports)} orders instead of {len(order.legs)}"
        by_id = {report.get("clientOrderId"): report for report in reports}
        for leg in order.legs:
            where = "" if leg.role == "order" else f"{leg.role} order: "
            report = by_id.get(leg.client_order_id, reports[0] if leg.role == "order" else None)
            if report is None:
                return f"no {leg.role} order with client order id {leg.client_order_id}"
            different = mismatch(leg, order.symbol, report)
            in_list, created = report.get("orderListId", -1), report.get("time")
            if different is None and in_list != list_id:
                different = f"it is an order of order list {in_list}" if in_list != -1 else "it is in no list"
            if different is None and isinstance(created, int) and created < not_before_ms:
                when = utc_text(datetime.fromtimestamp(created / 1000, UTC))
                different = f"it was created at {when}, before this one was sent"
            if different is not None:
                return f"{where}{different}"
        return None


class SingleOrder(OrderKind):
    """POST, GET and DELETE /api/v3/order."""


class OrderList(OrderKind):
    """POST /api/v3/orderList/{oco,oto,otoco}, GET and DELETE /api/v3/orderList."""

    noun = "order list"
    id_name = "list client order id"
    read_tool = "get_order_lists"
    state_field = "listOrderStatus"
    cancelled_state = "ALL_DONE"
    final_states = frozenset({"ALL_DONE"})

    def params(self, order: Order) -> dict[str, Any]:
        params = {
            "symbol": order.symbol,
            "listClientOrderId": order.client_order_id,
            "newOrderRespType": "FULL",
        }
        for leg in order.legs:
            params |= leg_params(leg, in_list=True)
        return {key: value for key, value in params.items() if value is not None}

    async def place(self, exchange: ExchangeClient, order: Order) -> dict[str, Any]:
        return await exchange.place_order_list(order.kind, self.params(order))

    async def fetch(self, exchange: ExchangeClient, ref: Ref) -> dict[str, Any]:
        return await exchange.get_order_list(ref.exchange_id, ref.client_id)

    async def cancel(self, exchange: ExchangeClient, ref: Ref) -> dict[str, Any]:
        return await exchange.cancel_order_list(ref.symbol, ref.exchange_id, ref.client_id)

    async def complete(self, exchange: ExchangeClient, found: dict[str, Any]) -> dict[str, Any]:
        return await with_member_details(exchange, found)

    def members(self, found: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
        return list(found.get("orderReports") or found.get("orders") or []), int(found.get("orderListId", -1))


SINGLE = SingleOrder()
LIST = OrderList()


def _always(found: dict[str, Any]) -> bool:
    return True


def kind_of(order: Order) -> OrderKind:
    return SINGLE if order.kind == "ORDER" else LIST


def single_params(symbol: str, leg: Leg) -> dict[str, Any]:
    """POST /api/v3/order (or /order/test) for one leg, in Binance's names."""
    return {"symbol": symbol, "newOrderRespType": "FULL"} | leg_params(leg, in_list=False)


def leg_params(leg: Leg, *, in_list: bool) -> dict[str, Any]:
    """One leg's parameters: `type`, `price`... for a single order; in a list, prefixed by the
    leg's place (`aboveType`, `pendingBelowStopPrice`), with the side and quantity an OCO's legs
    share (`side`) or the pending legs share (`pendingSide`)."""
    first, *rest = leg.role.split("_")
    prefix = first + "".join(word.title() for word in rest) if in_list else ""
    shared = first if in_list and leg.role not in ("above", "below") else ""
    values = {
        _named(shared, "side"): leg.side,
        _named(shared, "quantity"): leg.quantity,
        "quoteOrderQty": leg.quote_quantity,
        _named(prefix, "type"): leg.type,
        _named(prefix, "price"): leg.price,
        _named(prefix, "stopPrice"): leg.stop_price,
        _named(prefix, "trailingDelta"): leg.trailing_delta,
        _named(prefix, "timeInForce"): (leg.time_in_force or "GTC")
        if leg.type in TAKES_TIME_IN_FORCE
        else None,
        f"{prefix}ClientOrderId" if in_list else "newClientOrderId": leg.client_order_id,
    }
    return {
        key: decimal_text(v) if isinstance(v, Decimal) else str(v)
        for key, v in values.items()
        if v is not None
    }


def _named(prefix: str, name: str) -> str:
    return f"{prefix}{name[0].upper()}{name[1:]}" if prefix else name


async def with_member_details(exchange: ExchangeClient, listed: dict[str, Any]) -> dict[str, Any]:
    """A list status object names its orders only; add each order's details (best effort: a member
    that cannot be read stays as named, and then does not match what was sent)."""
    reports = []
    for member in listed.get("orders", []):
        try:
            reports.append(await exchange.get_order(member["symbol"], order_id=member["orderId"]))
        except ExchangeFailure:
            reports.append(member)
    return listed | {"orderReports": reports}


def mismatch(leg: Leg, symbol: str, found: dict[str, Any]) -> str | None:
    """How one order Binance returned differs from the leg sent (a value not sent is Binance's to
    fill in, such as a MARKET order's executed quantity), or None."""
    differences = (
        [] if found.get("symbol") == symbol else [f"symbol {found.get('symbol')} instead of {symbol}"]
    )
    if leg.cap_pct is not None and found.get("type") == "LIMIT" and found.get("timeInForce") == "IOC":
        # a MARKET order sent capped went out as a LIMIT IOC, at a price set from the book then
        leg = replace(leg, type="LIMIT", price=None)
    for words, ours, theirs in _COMPARED:
        mine = getattr(leg, ours)
        seen = found.get(theirs) if isinstance(mine, str) else _decimal(found.get(theirs))
        if mine is not None and seen != (mine if isinstance(mine, str) else Decimal(mine)):
            differences.append(f"{words} {seen} instead of {mine}")
    return "; ".join(differences) or None


def _decimal(value: object) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() and number != 0 else None
