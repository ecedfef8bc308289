"""One path for an order and an order list: what is sent, how it is found again, whether what is found is it.

A single order (POST /api/v3/order) and an order list (POST /api/v3/orderList/{oco,oto,otoco})
differ only in data: Binance's parameter names, the endpoint that places and the one that reads
them back, and the field that says the whole thing is done. Everything else is written once,
in `OrderKind`, and used by the order tools after a lost answer or a lost cancel answer and by
crash recovery (`binance_mcp.guard.recovery`): an order is never sent twice, it is looked up by
its client id, and what is found counts as the one sent only if it matches field by field and,
for a list, leg by leg (each leg by its own client order id), belongs where it should (a single
order to no list), and was created no earlier than the send. Binance lets a client id be reused
once its order is done, so without the last two an old order (a filled leg of an earlier list,
an order placed by another program) would be reported as the new one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from binance_mcp.decimals import decimal_text
from binance_mcp.exchange.errors import ExchangeFailure, ExchangePaused, LimitReached, MissingCredentials

if TYPE_CHECKING:
    from binance_mcp.exchange.client import ExchangeClient
    from binance_mcp.orders import Leg, Order

logger = logging.getLogger(__name__)

FINAL_STATUSES = frozenset({"CANCELED", "FILLED", "EXPIRED", "REJECTED", "EXPIRED_IN_MATCH"})
"""An order in one of these states will not change any more (a cancel has happened or never will)."""
MISSING = frozenset({-2011, -2013})
"""What Binance answers when it does not know an order or an order list."""
CLOCK_ALLOWANCE_MS = 1000
"""Binance refuses a request stamped 1 s or more ahead of its clock, so an order it created from
a request is never older than the moment the request was stamped, less this."""
TAKES_TIME_IN_FORCE = frozenset({"LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"})


@dataclass(frozen=True)
class Lookup:
    """What looking an order (or a list) up found: the order (None if never found) and why it is
    not settled. `missing`: Binance's last answer was that it does not know it."""

    order: dict[str, Any] | None
    settled: bool
    detail: str
    missing: bool = False


class OrderKind:
    """What differs between a single order and an order list; the shared path is written here."""

    noun: str
    id_name: str
    read_tool: str

    def params(self, order: Order) -> dict[str, Any]:
        """The request that places `order`, in Binance's names."""
        raise NotImplementedError

    async def place(self, exchange: ExchangeClient, order: Order) -> dict[str, Any]:
        raise NotImplementedError

    async def fetch(
        self, exchange: ExchangeClient, symbol: str, client_id: str | None, exchange_id: int | None
    ) -> dict[str, Any]:
        """One read of the order by its client id or its exchange id (raises ExchangeFailure)."""
        raise NotImplementedError

    async def cancel(
        self, exchange: ExchangeClient, symbol: str, client_id: str | None, exchange_id: int | None
    ) -> dict[str, Any]:
        raise NotImplementedError

    async def complete(self, exchange: ExchangeClient, found: dict[str, Any]) -> dict[str, Any]:
        """What was read, with everything the match and the result need."""
        return found

    def members(self, found: dict[str, Any]) -> list[dict[str, Any]]:
        """The orders of what was found (a single order is its only member)."""
        return [found]

    def list_id(self, found: dict[str, Any]) -> int:
        """The order list every member must belong to (-1: none)."""
        return -1

    def status(self, found: dict[str, Any]) -> str:
        return str(found.get("status"))

    def done(self, found: dict[str, Any]) -> bool:
        """Will not change any more: a cancel has happened, or never will."""
        return found.get("status") in FINAL_STATUSES

    def cancelled(self, found: dict[str, Any]) -> bool:
        """A cancel of it is done (an order CANCELED; a list all done)."""
        return found.get("status") == "CANCELED"

    # -- the shared path ------------------------------------------------------------------------------

    async def look_up(
        self,
        exchange: ExchangeClient,
        symbol: str,
        *,
        client_id: str | None = None,
        exchange_id: int | None = None,
        settled: Callable[[dict[str, Any]], bool] | None = None,
        tries: int | None = None,
    ) -> Lookup:
        """Look it up after an ambiguous failure, never raising: a few tries with backoff while it
        is not found (it may not be visible yet), the lookup fails, or `settled(found)` is False.
        A ban, a rate limit or missing keys end the lookups at once (they will not pass in time)."""
        from binance_mcp.exchange.retry import lookup_retrying

        seen: dict[str, Any] = {"found": None, "detail": "not looked up", "missing": False}

        async def attempt() -> dict[str, Any] | None:
            try:
                found = await self.fetch(exchange, symbol, client_id, exchange_id)
            except ExchangeFailure as exc:
                missing = exc.code in MISSING
                detail = f"Binance does not know the {self.noun}" if missing else exc.summary()
                seen.update(missing=missing, detail=detail)
                raise
            if found.get("symbol") not in (None, symbol):  # a list is read without its symbol
                seen.update(missing=True, detail=f"the {self.noun} with that id is on {found.get('symbol')}")
                return None
            seen.update(found=found, missing=False, detail=f"the {self.noun} is still {self.status(found)}")
            return found

        policy = exchange.retry
        tries = max(1, tries if tries is not None else policy.lookups)
        try:
            found: dict[str, Any] | None = await lookup_retrying(policy, tries, settled or _always)(attempt)
        except (ExchangePaused, LimitReached, MissingCredentials) as exc:
            return Lookup(seen["found"], False, exc.sentence())
        if found is not None:
            return Lookup(await self.complete(exchange, found), True, "found")
        ident = client_id or exchange_id
        logger.warning(
            "%s %s on %s: %d lookups did not settle it: %s", self.noun, ident, symbol, tries, seen["detail"]
        )
        return Lookup(seen["found"], False, seen["detail"], missing=seen["missing"] and seen["found"] is None)

    def difference(self, order: Order, found: dict[str, Any], not_before_ms: int) -> str | None:
        """How `found` differs from `order` as sent, or None when it is that order: every leg there
        by its client order id, with the same symbol, side, type, quantity and prices, in the same
        list (a single order in none), created no earlier than `not_before_ms` (Binance's time)."""
        from datetime import UTC, datetime

        from binance_mcp.timestamps import utc_text

        reports = self.members(found)
        if len(reports) != len(order.legs):
            return f"{len(reports)} orders instead of {len(order.legs)}"
        by_id = {report.get("clientOrderId"): report for report in reports}
        for leg in order.legs:
            where = "" if leg.role == "order" else f"{leg.role} order: "
            report = by_id.get(leg.client_order_id) if leg.client_order_id else None
            if report is None and len(reports) == 1 and leg.role == "order":
                report = reports[0]  # a record without the id it was looked up by
            if report is None:
                return f"no {leg.role} order with client order id {leg.client_order_id}"
            different = mismatch(leg, order.symbol, report)
            if different is not None:
                return f"{where}{different}"
            in_list = report.get("orderListId", -1)
            if in_list != self.list_id(found):
                return (
                    f"{where}it is an order of order list {in_list}"
                    if in_list != -1
                    else f"{where}it is in no list"
                )
            created = report.get("time")
            if isinstance(created, int) and created < not_before_ms:
                return f"{where}it was created at {utc_text(datetime.fromtimestamp(created / 1000, UTC))}, before this one was sent"
        return None


class SingleOrder(OrderKind):
    noun = "order"
    id_name = "client order id"
    read_tool = "get_order"

    def params(self, order: Order) -> dict[str, Any]:
        return single_params(order.symbol, order.legs[0])

    async def place(self, exchange: ExchangeClient, order: Order) -> dict[str, Any]:
        return await exchange.place_order(self.params(order))

    async def fetch(
        self, exchange: ExchangeClient, symbol: str, client_id: str | None, exchange_id: int | None
    ) -> dict[str, Any]:
        return await exchange.get_order(symbol, client_order_id=client_id, order_id=exchange_id)

    async def cancel(
        self, exchange: ExchangeClient, symbol: str, client_id: str | None, exchange_id: int | None
    ) -> dict[str, Any]:
        return await exchange.cancel_order(symbol, exchange_id, client_id)


class OrderList(OrderKind):
    noun = "order list"
    id_name = "list client order id"
    read_tool = "get_order_lists"

    def params(self, order: Order) -> dict[str, Any]:
        params: dict[str, Any] = {
            "symbol": order.symbol,
            "listClientOrderId": order.client_order_id,
            "newOrderRespType": "FULL",
        }
        for leg in order.legs:
            params |= leg_params(leg, in_list=True)
        return {key: value for key, value in params.items() if value is not None}

    async def place(self, exchange: ExchangeClient, order: Order) -> dict[str, Any]:
        return await exchange.place_order_list(order.kind, self.params(order))

    async def fetch(
        self, exchange: ExchangeClient, symbol: str, client_id: str | None, exchange_id: int | None
    ) -> dict[str, Any]:
        return await exchange.get_order_list(exchange_id, client_id)

    async def cancel(
        self, exchange: ExchangeClient, symbol: str, client_id: str | None, exchange_id: int | None
    ) -> dict[str, Any]:
        return await exchange.cancel_order_list(symbol, exchange_id, client_id)

    async def complete(self, exchange: ExchangeClient, found: dict[str, Any]) -> dict[str, Any]:
        return await with_member_details(exchange, found)

    def members(self, found: dict[str, Any]) -> list[dict[str, Any]]:
        return list(found.get("orderReports") or found.get("orders") or [])

    def list_id(self, found: dict[str, Any]) -> int:
        return int(found.get("orderListId", -1))

    def status(self, found: dict[str, Any]) -> str:
        return str(found.get("listOrderStatus"))

    def done(self, found: dict[str, Any]) -> bool:
        return found.get("listOrderStatus") == "ALL_DONE"

    def cancelled(self, found: dict[str, Any]) -> bool:
        return self.done(found)


def _always(found: dict[str, Any]) -> bool:
    return True


SINGLE = SingleOrder()
LIST = OrderList()


def kind_of(order: Order) -> OrderKind:
    return SINGLE if order.kind == "ORDER" else LIST


def single_params(symbol: str, leg: Leg) -> dict[str, Any]:
    """POST /api/v3/order (or /order/test) for one leg, in Binance's names."""
    return {"symbol": symbol, "newOrderRespType": "FULL"} | leg_params(leg, in_list=False)


def leg_params(leg: Leg, *, in_list: bool) -> dict[str, Any]:
    """One leg's parameters: `type`, `price`... for a single order; in a list, prefixed by the
    leg's place (`aboveType`, `pendingBelowStopPrice`), the side and quantity shared by an OCO's
    legs (`side`) or by the pending legs (`pendingSide`)."""
    if in_list:
        first, *rest = leg.role.split("_")
        prefix = first + "".join(word.title() for word in rest)
        shared = "" if leg.role in ("above", "below") else first
        client_key = f"{prefix}ClientOrderId"
    else:
        prefix = shared = ""
        client_key = "newClientOrderId"
    time_in_force = (leg.time_in_force or "GTC") if leg.type in TAKES_TIME_IN_FORCE else None
    values: dict[str, Any] = {
        _named(shared, "side"): leg.side,
        _named(shared, "quantity"): leg.quantity,
        "quoteOrderQty": leg.quote_quantity,
        _named(prefix, "type"): leg.type,
        _named(prefix, "price"): leg.price,
        _named(prefix, "stopPrice"): leg.stop_price,
        _named(prefix, "trailingDelta"): leg.trailing_delta,
        _named(prefix, "timeInForce"): time_in_force,
        client_key: leg.client_order_id,
    }
    return {
        key: decimal_text(value) if isinstance(value, Decimal) else str(value)
        for key, value in values.items()
        if value is not None
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
    """How one order Binance returned differs from the leg sent, or None when symbol, side, type,
    quantity, prices and trailing delta all match (a value not sent is Binance's to fill in)."""
    sent = {
        "symbol": symbol,
        "side": leg.side,
        "type": leg.type,
        "quantity": leg.quantity,
        "quote quantity": leg.quote_quantity,
        "price": leg.price,
        "stop price": leg.stop_price,
        "trailing delta": None if leg.trailing_delta is None else Decimal(leg.trailing_delta),
    }
    seen = {
        "symbol": found.get("symbol"),
        "side": found.get("side"),
        "type": found.get("type"),
        "quantity": _decimal(found.get("origQty")),
        "quote quantity": _decimal(found.get("origQuoteOrderQty")),
        "price": _decimal(found.get("price")),
        "stop price": _decimal(found.get("stopPrice")),
        "trailing delta": _decimal(found.get("trailingDelta")),
    }
    differences = [
        f"{name} {seen[name]} instead of {mine}"
        for name, mine in sent.items()
        if mine is not None and seen[name] != mine
    ]
    return "; ".join(differences) or None


def _decimal(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number != 0 else None
