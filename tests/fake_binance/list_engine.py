"""Order lists in the matching engine: placing OCO / OTO / OTOCO, their contingencies, amend, trades.

A mixin of `Exchange` (it uses its lock, orders, prices and balance helpers). The rules, from
rest-api.md "Order lists":
- OCO: two legs of the same side and quantity; when one fills or triggers, the other EXPIRES.
  SELL: limit / take-profit above the last price, stop-loss below; BUY the other way round.
- OTO: a working LIMIT / LIMIT_MAKER order; the pending order is PENDING_NEW until the working
  order is fully filled, then it is placed. OTOCO: the same with an OCO pair as pending orders.
- Cancelling any order of a list cancels the whole list.
Balances: an OCO pair locks once (the larger cost); a pending order locks nothing until placed.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .data import fmt, get_filter
from .errors import DUPLICATE_ORDER, UNKNOWN_ORDER, ApiError, error, filter_failure, rejected
from .filters import _check_qty
from .order_list_request import NewOrderList
from .order_lists import OrderList
from .orders import Order

if TYPE_CHECKING:
    from .exchange import Exchange

PRICE_RELATION = "The relationship of the prices for the orders is not correct."
_OCO_RULES = {  # (side, leg kind) → the error when the leg is on the wrong side of the last price
    ("BUY", "limit"): (400, -1165, "A limit order in a buy OCO must be below."),
    ("SELL", "limit"): (400, -1166, "A limit order in a sell OCO must be above."),
    ("BUY", "sl"): (400, -1196, "A stop loss order in a buy OCO must be above."),
    ("SELL", "sl"): (400, -1197, "A stop loss order in a sell OCO must be below."),
    ("BUY", "tp"): (400, -1198, "A take profit order in a buy OCO must be below."),
    ("SELL", "tp"): (400, -1199, "A take profit order in a sell OCO must be above."),
}


def _amend_rejected(msg: str) -> ApiError:
    """-2038 ORDER_AMEND_REJECTED."""
    return ApiError(400, -2038, msg)


def _leg_kind(order: Order) -> tuple[str, Decimal | None]:
    """An OCO leg as the price rules see it: limit, take-profit or stop-loss, and the price compared."""
    if order.type == "LIMIT_MAKER":
        return "limit", order.price
    stop = order.stop_price or None
    return ("sl" if order.type.startswith("STOP_LOSS") else "tp"), stop


def check_oco_pair(above: Order, below: Order, last: Decimal | None) -> None:
    """One leg contingent on a stop-loss, each on its side of `last` (None: kinds only, for a pending pair)."""
    kinds = {_leg_kind(above)[0], _leg_kind(below)[0]}
    if kinds == {"limit"}:
        raise ApiError(400, -1168, "At least one OCO order must be contingent.")
    if "sl" not in kinds or len(kinds) != 2:
        raise ApiError(400, -1158, "Order type not supported in OCO.")
    if last is None:
        return
    side = above.side
    for leg in (above, below):
        kind, value = _leg_kind(leg)
        if value is None:
            continue  # a trailing stop without a stop price starts from the last price
        wants_above = (kind == "sl") == (side == "BUY")
        if (wants_above and value <= last) or (not wants_above and value >= last):
            raise error(_OCO_RULES[(side, kind)])
    stop_leg = above if _leg_kind(above)[0] == "sl" else below
    if (stop_leg is above) != (side == "BUY"):
        raise rejected(PRICE_RELATION)
    # rest-api.md, New Order list - OCO: a TAKE_PROFIT_LIMIT's price, like a LIMIT_MAKER's, lies on
    # the far side of the last price from the stop-loss (SELL: above it; BUY: below it)
    for leg in (above, below):
        wrong_side = (side == "SELL" and leg.price <= last) or (side == "BUY" and leg.price >= last)
        if leg.type == "TAKE_PROFIT_LIMIT" and leg.price and wrong_side:
            raise rejected(PRICE_RELATION)


class OrderListEngine:
    """Order-list behaviour of the fake exchange (mixed into `Exchange`)."""

    order_lists: list[OrderList]
    _next_order_list_id: int
    _next_execution_id: int = 1

    def next_execution_id(self: Exchange) -> int:
        with self.lock:
            value = self._next_execution_id
            self._next_execution_id = value + 1
            return value

    # ------------------------------------------------------------------------------------------- lookups
    def list_of(self: Exchange, order: Order) -> OrderList | None:
        if order.order_list_id == -1:
            return None
        return next((lst for lst in self.order_lists if lst.order_list_id == order.order_list_id), None)

    def find_list(self: Exchange, list_id: int | None, client_id: str | None) -> OrderList | None:
        """By orderListId (preferred) or the most recent list with that listClientOrderId; a copy."""
        with self.lock:
            if list_id is not None:
                found = next((lst for lst in self.order_lists if lst.order_list_id == list_id), None)
            else:
                matches = [lst for lst in self.order_lists if lst.list_client_order_id == client_id]
                found = matches[-1] if matches else None
            return copy.deepcopy(found)

    def open_lists(self: Exchange) -> list[OrderList]:
        with self.lock:
            return copy.deepcopy([lst for lst in self.order_lists if lst.is_open])

    def all_lists(self: Exchange) -> list[OrderList]:
        with self.lock:
            return copy.deepcopy(self.order_lists)

    # ------------------------------------------------------------------------------------------- placing
    def place_list(self: Exchange, req: NewOrderList) -> tuple[OrderList, list[Order]]:
        """Validate and place an order list; the list and its orders as placed (pending ones PENDING_NEW)."""
        from .exchange import new_client_id

        with self.lock:
            spec = self.symbols[req.symbol]
            flag, name = ("ocoAllowed", "OCO") if req.kind == "OCO" else ("otoAllowed", "OTO")
            if not spec.get(flag, True):
                raise rejected(f"{name} orders are not supported for this symbol")
            f = get_filter(spec, "MAX_NUM_ORDER_LISTS")
            open_lists = [lst for lst in self.order_lists if lst.symbol == req.symbol and lst.is_open]
            if f and len(open_lists) >= int(f["maxNumOrderLists"]):
                raise filter_failure("MAX_NUM_ORDER_LISTS")
            if req.list_client_order_id and any(
                lst.list_client_order_id == req.list_client_order_id for lst in open_lists
            ):
                raise rejected(DUPLICATE_ORDER)
            ids = [leg.client_order_id for leg in req.legs if leg.client_order_id]
            if len(set(ids)) != len(ids):
                raise rejected(DUPLICATE_ORDER)
            orders = [
                # OCO legs: filters first, then the OCO price rules (-1165...) rather than -2010
                self._admit(leg, extra=i, pending=req.kind == "OCO" or role.startswith("pending"))
                for i, (leg, role) in enumerate(zip(req.legs, req.roles, strict=True))
            ]
            if req.kind == "OCO":
                above, below = orders
                check_oco_pair(above, below, self.prices[req.symbol])
                orders = [below, above]  # Binance numbers the below order first
                self._require(*self._pair_cost(orders))
            else:
                if req.kind == "OTOCO":
                    check_oco_pair(orders[1], orders[2], None)
                self._require_for(orders[0])
            lst = OrderList(
                order_list_id=self._next_order_list_id,
                kind=req.kind,
                list_client_order_id=req.list_client_order_id or new_client_id(),
                symbol=req.symbol,
                transaction_time=self.clock(),
            )
            self._next_order_list_id += 1
            for order in orders:
                order.order_list_id = lst.order_list_id
                self._add(order)
                lst.orders.append(order)
            self.order_lists.append(lst)
            if req.kind == "OCO":
                self._activate_pair(orders)
                reports = copy.deepcopy(orders)
            else:
                as_placed = copy.deepcopy(
                    orders[1:]
                )  # the answer shows them PENDING_NEW even if placed at once
                self._activate(orders[0])
                if orders[0].status == "EXPIRED":
                    for pending in orders[1:]:
                        self._cancel(pending, "EXPIRED")
                reports = [copy.deepcopy(orders[0]), *as_placed]
            return copy.deepcopy(lst), reports

    def _pair_cost(self: Exchange, pair: list[Order]) -> tuple[str, Decimal]:
        """What an OCO pair locks: the larger of its legs' costs (only one of them can execute)."""
        costs = [self._cost(order) for order in pair]
        return costs[0][0], max(amount for _asset, amount in costs)

    def _activate_pair(self: Exchange, pair: list[Order]) -> None:
        for order in pair:
            if order.is_open:
                self._activate(order, lock=False)
        still_open = [order for order in pair if order.is_open]
        if len(still_open) == len(pair):
            self._lock_amount(pair[0], *self._pair_cost(pair))

    # -------------------------------------------------------------------------------------- contingencies
    def _expire_oco_partner(self: Exchange, order: Order) -> None:
        """One leg of an OCO pair fills or triggers: the other expires."""
        lst = self.list_of(order)
        if lst is None or order not in lst.oco_pair:
            return
        for other in lst.oco_pair:
            if other is not order and other.is_open:
                self._cancel(other, "EXPIRED")

    def _place_pending(self: Exchange, order: Order) -> None:
        """A working order filled: its list's pending orders go on the book (or expire without funds)."""
        lst = self.list_of(order)
        if lst is None or lst.working is not order or order.status != "FILLED":
            return
        pending = [o for o in lst.orders[1:] if o.status == "PENDING_NEW"]
        if not pending:
            return
        asset, amount = self._pair_cost(pending)
        if self._bal(asset).free < amount:
            for leg in pending:
                self._cancel(leg, "EXPIRED")
            return
        if len(pending) == 1:
            self._activate(pending[0])
        else:
            self._activate_pair(pending)

    # --------------------------------------------------------------------------------------------- cancel
    def cancel_list(
        self: Exchange, symbol: str, list_id: int | None, client_id: str | None
    ) -> tuple[OrderList, list[Order]]:
        """Cancel every open order of a list (-2011 when unknown or done); the list and its orders."""
        with self.lock:
            if list_id is not None:
                lst = next((x for x in self.order_lists if x.order_list_id == list_id), None)
                if lst is not None and client_id is not None and lst.list_client_order_id != client_id:
                    lst = None
            else:
                matches = [x for x in self.order_lists if x.list_client_order_id == client_id]
                lst = matches[-1] if matches else None
            if lst is None or lst.symbol != symbol or not lst.is_open:
                raise error(UNKNOWN_ORDER)
            for order in lst.orders:
                if order.is_open:
                    self._cancel(order)
            lst.transaction_time = self.clock()
            return copy.deepcopy(lst), copy.deepcopy(lst.orders)

    # ---------------------------------------------------------------------------------------------- amend
    def amend(
        self: Exchange,
        symbol: str,
        order_id: int | None,
        client_id: str | None,
        new_client_id: str | None,
        new_qty: Decimal,
    ) -> tuple[Order, str, OrderList | None, int]:
        """Reduce an open order's quantity keeping its priority (an OCO pair's legs together).

        Returns the amended order, its client id before, its list (or None) and the time.
        """
        from .exchange import new_client_id as random_id

        with self.lock:
            spec = self.symbols[symbol]
            if not spec.get("amendAllowed", True):
                raise _amend_rejected("Order amend is not supported for this symbol.")
            order = self.find(symbol, order_id, client_id)
            if order is not None and order_id is not None and client_id not in (None, order.client_order_id):
                order = None
            if order is None or not order.is_open:
                raise _amend_rejected("Unknown order sent.")
            if new_qty > order.orig_qty:
                raise _amend_rejected("Order amend (quantity increase) is not supported.")
            if new_qty == order.orig_qty:
                raise _amend_rejected("The requested action would change no state; rejecting")
            lot = get_filter(spec, "LOT_SIZE")
            if lot:
                _check_qty("LOT_SIZE", lot, new_qty)
            limit = get_filter(spec, "MAX_NUM_ORDER_AMENDS")
            if limit and order.amendments >= int(limit["maxNumOrderAmends"]):
                raise _amend_rejected("Filter failure: MAX_NUM_ORDER_AMENDS")
            target_id = new_client_id or random_id()
            if any(
                o.client_order_id == target_id and o is not order
                for o in self.open_orders(symbol, copy_out=False)
            ):
                raise _amend_rejected(DUPLICATE_ORDER)
            lst = self.list_of(order)
            together = lst.oco_pair if lst is not None and order in lst.oco_pair else [order]
            now = self.clock()
            old_qty = order.orig_qty
            for member in together:
                self._reduce(member, new_qty, now)
            orig_client_id = order.client_order_id
            order.client_order_id = target_id
            order.amend_history.append(
                {
                    "symbol": symbol,
                    "orderId": order.order_id,
                    "executionId": self.next_execution_id(),
                    "origClientOrderId": orig_client_id,
                    "newClientOrderId": target_id,
                    "origQty": fmt(old_qty),
                    "newQty": fmt(new_qty),
                    "time": now,
                }
            )
            if lst is not None and target_id != orig_client_id:
                lst.updated = True
            self.update_id += 1
            return copy.deepcopy(order), orig_client_id, copy.deepcopy(lst), now

    def _reduce(self: Exchange, order: Order, new_qty: Decimal, now: int) -> None:
        if order.locked_asset is not None and order.orig_qty:
            keep = (order.locked_amount * new_qty / order.orig_qty).quantize(Decimal("0.00000001"))
            bal = self._bal(order.locked_asset)
            bal.locked -= order.locked_amount - keep
            bal.free += order.locked_amount - keep
            order.locked_amount = keep
        order.orig_qty = new_qty
        order.amendments += 1
        order.update_time = now
        self.account_update_time = now

    # --------------------------------------------------------------------------------------------- trades
    def trades(
        self: Exchange,
        symbol: str,
        order_id: int | None,
        start: int | None,
        end: int | None,
        from_id: int | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """The account's fills on `symbol` as GET /api/v3/myTrades lists them, by trade id."""
        with self.lock:
            found = [
                (fill, order)
                for order in self.orders
                if order.symbol == symbol and (order_id is None or order.order_id == order_id)
                for fill in order.fills
            ]
            found.sort(key=lambda pair: pair[0].trade_id)
            chosen = [
                (fill, order)
                for fill, order in found
                if (from_id is None or fill.trade_id >= from_id)
                and (start is None or fill.time >= start)
                and (end is None or fill.time <= end)
            ]
            window = chosen[:limit] if (from_id is not None or start is not None) else chosen[-limit:]
            return [fill.to_trade(order) for fill, order in window]
