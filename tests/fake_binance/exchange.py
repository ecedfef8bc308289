"""Account and matching state: prices, balances (free/locked), orders, and the simple matching engine.

Matching is against one "current price" per symbol: MARKET orders (and stops once triggered) take the
order book `market.depth` shows at that price, level by level (so a large one slips, and what a thin book
cannot fill expires); crossing LIMIT orders fill fully at that price (taker), other LIMIT orders rest and
lock balance, and `set_price` fills resting LIMIT orders it crosses (maker, at their limit price) and
triggers stop / take-profit orders.
"""

from __future__ import annotations

import copy
import random
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from . import market
from .data import DEFAULT_BALANCES, DEFAULT_PRICES, EIGHT, get_filter, symbol_specs
from .errors import (
    DUPLICATE_ORDER,
    INSUFFICIENT_BALANCE,
    UNKNOWN_ORDER,
    WOULD_TAKE,
    WOULD_TRIGGER,
    error,
    rejected,
    rejected_cancel,
)
from .filters import ALGO_TYPES, check_filters, check_trailing_delta, floor_to_step, market_quantity
from .list_engine import OrderListEngine
from .order_lists import OrderList
from .order_request import NewOrder
from .orders import Fill, Order
from .triggers import should_trigger, start_tracking, stop_condition_met

_ID_CHARS = string.ascii_letters + string.digits
ZERO = Decimal(0)


def new_client_id() -> str:
    """A 22-character alphanumeric id like Binance generates (e.g. "6gCrw2kRUAF9CvJDGP16IP")."""
    return "".join(random.choices(_ID_CHARS, k=22))


@dataclass
class Balance:
    free: Decimal = ZERO
    locked: Decimal = ZERO


class Exchange(OrderListEngine):
    """All mutable exchange state, guarded by one re-entrant lock. `clock()` returns server time in ms."""

    def __init__(self, clock: Callable[[], int]) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.symbols: dict[str, dict[str, Any]] = symbol_specs()
        self.prices: dict[str, Decimal] = {s: Decimal(p) for s, p in DEFAULT_PRICES.items()}
        self.price_set_at: dict[str, int] = dict.fromkeys(self.prices, clock())
        # GET /api/v3/referencePrice: absent (-2043, never set) unless a test sets one (None: null)
        self.reference_prices: dict[str, Decimal | None] = {}
        # the market's trades, (time ms, price, quantity), for avgPrice's volume-weighted average: a
        # price move is a trade of 1 unit at the new price; every fill is a trade of its quantity
        self.tape: dict[str, list[tuple[int, Decimal, Decimal]]] = {
            s: [(clock(), p, Decimal(1))] for s, p in self.prices.items()
        }
        self.balances: dict[str, Balance] = {a: Balance(Decimal(f)) for a, f in DEFAULT_BALANCES.items()}
        self.orders: list[Order] = []
        self.commission_rate = Decimal("0.001")
        self.update_id = 1027024
        self.account_update_time = clock()
        self._next_order_id = 1
        self._next_trade_id = 1
        self.order_lists: list[OrderList] = []
        self._next_order_list_id = 1

    # ------------------------------------------------------------------------------------ prices, balances
    def price(self, symbol: str) -> Decimal:
        with self.lock:
            return self.prices[symbol]

    def set_price(self, symbol: str, price: Decimal) -> None:
        """Move the price; resting orders it crosses fill and stop orders it reaches trigger."""
        with self.lock:
            if symbol not in self.symbols:
                raise KeyError(symbol)
            self.prices[symbol] = price
            self.price_set_at[symbol] = self.clock()
            self.tape.setdefault(symbol, []).append((self.clock(), price, Decimal(1)))
            self.update_id += 1
            for order in [o for o in self.open_orders(symbol, copy_out=False) if o.status != "PENDING_NEW"]:
                self._on_price(order, price)

    def average_price_minutes(self, symbol: str) -> int:
        """The symbol's `avgPriceMins` (filters.md: the window of the average its filters use)."""
        spec = self.symbols[symbol]
        for name in ("PERCENT_PRICE_BY_SIDE", "PERCENT_PRICE", "NOTIONAL", "MIN_NOTIONAL"):
            f = get_filter(spec, name)
            if f is not None and "avgPriceMins" in f:
                return int(f["avgPriceMins"])
        return 0

    def filter_price(self, symbol: str) -> Decimal:
        """The price PERCENT_PRICE_BY_SIDE and a MARKET order's NOTIONAL are evaluated against
        (filters.md): the symbol's reference price when it has a non-null one, else `average_price`."""
        with self.lock:
            reference = self.reference_prices.get(symbol)
            return reference if reference is not None else self.average_price(symbol)

    def average_price(self, symbol: str) -> Decimal:
        """What PERCENT_PRICE_BY_SIDE and a MARKET order's NOTIONAL are evaluated against (filters.md):
        the volume-weighted average price of the trades of the preceding `avgPriceMins` minutes;
        with 0 minutes, or no trade in the window, the last price."""
        with self.lock:
            minutes = self.average_price_minutes(symbol)
            since = self.clock() - minutes * 60_000
            window = [(p, q) for t, p, q in self.tape.get(symbol, []) if t > since] if minutes else []
            volume = sum((q for _, q in window), ZERO)
            if not volume:
                return self.prices[symbol]
            return (sum((p * q for p, q in window), ZERO) / volume).quantize(EIGHT)

    def balance(self, asset: str) -> Balance:
        with self.lock:
            b = self.balances.get(asset, Balance())
            return Balance(b.free, b.locked)

    def set_balance(self, asset: str, free: Decimal) -> None:
        with self.lock:
            self.balances.setdefault(asset, Balance()).free = free
            self.account_update_time = self.clock()

    def _bal(self, asset: str) -> Balance:
        return self.balances.setdefault(asset, Balance())

    # ----------------------------------------------------------------------------------------------- queries
    def open_orders(self, symbol: str | None = None, copy_out: bool = True) -> list[Order]:
        with self.lock:
            found = [o for o in self.orders if o.is_open and (symbol is None or o.symbol == symbol)]
            return copy.deepcopy(found) if copy_out else found

    def all_orders(self) -> list[Order]:
        with self.lock:
            return copy.deepcopy(self.orders)

    def find(self, symbol: str, order_id: int | None, client_id: str | None) -> Order | None:
        """Look up by orderId (preferred) or the most recent order with that clientOrderId."""
        with self.lock:
            if order_id is not None:
                return next((o for o in self.orders if o.order_id == order_id and o.symbol == symbol), None)
            matches = [o for o in self.orders if o.symbol == symbol and o.client_order_id == client_id]
            return matches[-1] if matches else None

    def validate(self, order: NewOrder, extra: int = 0) -> None:
        """Filter checks only, as POST /api/v3/order/test does (no matching-engine rules).

        `extra`: orders of the same list checked before this one, counted as open.
        """
        with self.lock:
            open_orders = self.open_orders(order.symbol, copy_out=False)
            algo = sum(1 for o in open_orders if o.type in ALGO_TYPES)
            spec = self.symbols[order.symbol]
            check_filters(
                order,
                spec,
                self.prices[order.symbol],
                len(open_orders) + extra,
                algo,
                average_price=self.filter_price(order.symbol),
            )
            check_trailing_delta(order, spec)

    # ---------------------------------------------------------------------------------------------- placing
    def place(self, req: NewOrder) -> Order:
        """Validate, run the matching-engine checks (-2010) and execute a new order; returns a copy."""
        with self.lock:
            order = self._admit(req)
            self._require_for(order)
            self._add(order)
            self._activate(order)
            return copy.deepcopy(order)

    def _admit(self, req: NewOrder, extra: int = 0, order_list_id: int = -1, pending: bool = False) -> Order:
        """Filters and matching-engine checks of one new order (a list's leg too); the Order, not yet added.

        `extra` counts the list's legs admitted before this one against MAX_NUM_ORDERS; a `pending`
        leg is checked against the filters only (its price rules apply when it is placed).
        """
        self.validate(req, extra)
        ref = self.prices[req.symbol]
        if req.client_order_id and any(
            o.client_order_id == req.client_order_id for o in self.open_orders(req.symbol, copy_out=False)
        ):
            raise rejected(DUPLICATE_ORDER)
        spec = self.symbols[req.symbol]
        qty = market_quantity(req, spec, ref) if req.type == "MARKET" else req.quantity
        assert qty is not None
        if req.iceberg_qty is not None and req.iceberg_qty > qty:
            raise rejected("IcebergQty exceeds QTY.")
        if req.trailing_delta is not None and not spec.get("allowTrailingStop", True):
            raise rejected("Trailing stop orders are not supported for this symbol.")
        now = self.clock()
        order = Order(
            symbol=req.symbol,
            order_id=0,
            client_order_id=req.client_order_id or new_client_id(),
            side=req.side,
            type=req.type,
            time_in_force=req.time_in_force or "GTC",
            price=req.price or ZERO,
            orig_qty=qty,
            orig_quote_order_qty=req.quote_order_qty or ZERO,
            stop_price=req.stop_price or ZERO,
            iceberg_qty=req.iceberg_qty or ZERO,
            time=now,
            update_time=now,
            stp_mode=req.stp_mode,
            order_list_id=order_list_id,
            trailing_delta=req.trailing_delta,
            status="PENDING_NEW" if pending else "NEW",
        )
        if pending:
            return order
        if req.type == "LIMIT_MAKER" and self._crosses(order, ref):
            raise rejected(WOULD_TAKE)
        if (
            req.type in ALGO_TYPES
            and req.stop_price is not None
            and req.trailing_delta is None
            and self._triggered(order, ref)
        ):
            raise rejected(WOULD_TRIGGER)
        return order

    @staticmethod
    def _crosses(order: Order, ref: Decimal) -> bool:
        return bool(order.price) and (
            (order.side == "BUY" and order.price >= ref) or (order.side == "SELL" and order.price <= ref)
        )

    def _cost(self, order: Order) -> tuple[str, Decimal]:
        """The asset and amount a resting order locks: the base quantity to sell, or quote to pay."""
        spec = self.symbols[order.symbol]
        if order.side == "SELL":
            return spec["baseAsset"], order.orig_qty
        price = order.price or order.stop_price or self.prices[order.symbol]
        return spec["quoteAsset"], order.orig_qty * price

    def _require_for(self, order: Order) -> None:
        self._require(*self._cost(order))

    def _add(self, order: Order) -> None:
        order.order_id = self._next_order_id
        self._next_order_id += 1
        self.orders.append(order)
        self.update_id += 1

    def _activate(self, order: Order, lock: bool = True) -> None:
        """Put an admitted order to work: fill, expire, or rest (locking its cost unless `lock` is False)."""
        ref = self.prices[order.symbol]
        now = self.clock()
        order.status = "NEW"
        if order.type == "MARKET":
            order.working_time = now
            self._fill_at_market(order, ref)
        elif order.type == "LIMIT" and order.time_in_force in ("IOC", "FOK") and self._crosses(order, ref):
            order.working_time = now
            self._fill_at_market(order, ref, limit=order.price)
        elif order.type == "LIMIT" and self._crosses(order, ref):
            order.working_time = now
            self._fill(order, ref)
        elif order.type == "LIMIT" and order.time_in_force in ("IOC", "FOK"):
            order.working_time = now
            order.status = "EXPIRED"
            order.expiry_reason = (
                "UNFILLED_IOC_QUANTITY_EXPIRED"
                if order.time_in_force == "IOC"
                else "UNFILLED_FOK_ORDER_EXPIRED"
            )
        else:
            if order.type in ("LIMIT", "LIMIT_MAKER"):
                order.working_time = now
            if order.trailing_delta is not None and (order.stop_price == 0 or stop_condition_met(order, ref)):
                start_tracking(order, ref, now)
            if lock:
                asset, amount = self._cost(order)
                self._lock_amount(order, asset, amount)

    def _require(self, asset: str, amount: Decimal) -> None:
        if self._bal(asset).free < amount:
            raise rejected(INSUFFICIENT_BALANCE)

    def _lock_amount(self, order: Order, asset: str, amount: Decimal) -> None:
        bal = self._bal(asset)
        bal.free -= amount
        bal.locked += amount
        order.locked_asset, order.locked_amount = asset, amount
        self.account_update_time = self.clock()

    def _unlock(self, order: Order) -> None:
        if order.locked_asset is not None:
            bal = self._bal(order.locked_asset)
            bal.locked -= order.locked_amount
            bal.free += order.locked_amount
            order.locked_asset, order.locked_amount = None, ZERO

    def _fill_at_market(self, order: Order, price: Decimal, limit: Decimal | None = None) -> None:
        """A MARKET order (or a stop that became one): it takes the book's best levels until it is
        filled or the book runs out (faqs/market_orders_faq.md), one trade per level; what the book
        cannot fill expires. By `quoteOrderQty` it spends that much quote, a step at a time. A
        LIMIT IOC / FOK takes only the levels at its `limit` or better (FOK: all of it, or nothing)."""
        spec = self.symbols[order.symbol]
        step = Decimal(get_filter(spec, "LOT_SIZE")["stepSize"])
        levels = market.walk(spec, order.symbol, price, order.side)
        if limit is not None:
            within = []
            for at, size in levels:
                if at > limit if order.side == "BUY" else at < limit:
                    break
                within.append((at, size))
            levels = iter(within)
            if order.time_in_force == "FOK" and sum((size for _, size in within), ZERO) < order.orig_qty:
                order.status, order.expiry_reason = "EXPIRED", "UNFILLED_FOK_ORDER_EXPIRED"
                return
        pieces: list[tuple[Decimal, Decimal]] = []
        if order.orig_quote_order_qty:
            quote_left = order.orig_quote_order_qty
            for level, size in levels:
                qty = min(size, floor_to_step(quote_left / level, step))
                if qty <= 0:
                    break
                pieces.append((level, qty))
                quote_left -= qty * level
            order.orig_qty = sum((qty for _, qty in pieces), ZERO)
        else:
            left = order.orig_qty - order.executed_qty
            for level, size in levels:
                if left <= 0:
                    break
                qty = min(size, left)
                pieces.append((level, qty))
                left -= qty
        self._fill(order, price, pieces=pieces)

    def _fill(
        self,
        order: Order,
        price: Decimal,
        maker: bool = False,
        pieces: list[tuple[Decimal, Decimal]] | None = None,
    ) -> None:
        """Fill the remaining quantity at `price` (or in `pieces`, (price, quantity) per trade): move
        balances, charge commission (maker = taker rate). Filled in part only (the book ran out): the
        rest expires.

        A member of an OCO pair expires its other leg first; a filled working order places its
        list's pending orders.
        """
        self._expire_oco_partner(order)
        spec = self.symbols[order.symbol]
        base, quote = spec["baseAsset"], spec["quoteAsset"]
        self._unlock(order)
        if pieces is None:
            pieces = [(price, order.orig_qty - order.executed_qty)]
        now = self.clock()
        for at, qty in pieces:
            quote_amount = (qty * at).quantize(EIGHT)
            if order.side == "BUY":
                commission, commission_asset = (qty * self.commission_rate).quantize(EIGHT), base
                self._bal(quote).free -= quote_amount
                self._bal(base).free += qty - commission
            else:
                commission, commission_asset = (quote_amount * self.commission_rate).quantize(EIGHT), quote
                self._bal(base).free -= qty
                self._bal(quote).free += quote_amount - commission
            self.tape.setdefault(order.symbol, []).append((now, at, qty))
            order.fills.append(Fill(at, qty, commission, commission_asset, self._next_trade_id, now, maker))
            self._next_trade_id += 1
            order.executed_qty += qty
            order.cummulative_quote_qty += quote_amount
        order.status = "FILLED" if order.executed_qty >= order.orig_qty else "EXPIRED"
        order.update_time = self.clock()
        if order.working_time == -1:
            order.working_time = order.update_time
        self.account_update_time = order.update_time
        self._place_pending(order)

    # ------------------------------------------------------------------------------------------ price moves
    @staticmethod
    def _triggered(order: Order, price: Decimal) -> bool:
        stop = order.stop_price
        # STOP_LOSS BUY and TAKE_PROFIT SELL trigger as the price rises to the stop, the others as it falls
        above = order.type.startswith("STOP_LOSS") == (order.side == "BUY")
        return price >= stop if above else price <= stop

    def _on_price(self, order: Order, price: Decimal) -> None:
        if order.status not in ("NEW", "PARTIALLY_FILLED"):
            return  # filled, expired or cancelled by an earlier order's move; or still pending
        if order.type in ALGO_TYPES and order.working_time == -1:
            if not should_trigger(order, price, self.clock()):
                return
            order.working_time = self.clock()
            self._expire_oco_partner(order)
            if order.type in ("STOP_LOSS", "TAKE_PROFIT"):
                self._fill_at_market(order, price)
                return
            if self._crosses(order, price):
                self._fill(order, order.price)
            return
        if self._crosses(order, price):
            self._fill(order, order.price, maker=True)

    # --------------------------------------------------------------------------------------------- cancels
    def cancel(
        self, symbol: str, order_id: int | None, client_id: str | None, restriction: str | None = None
    ) -> Order:
        """Cancel one open order (-2011 if unknown / not open / restriction not met); returns a copy.

        An order of a list cancels the whole list ("Canceling an individual order from an order
        list will cancel the entire order list").
        """
        with self.lock:
            order = self.find(symbol, order_id, client_id)
            if order is None or not order.is_open:
                raise error(UNKNOWN_ORDER)
            if order_id is not None and client_id is not None and order.client_order_id != client_id:
                raise error(UNKNOWN_ORDER)
            if restriction is not None and order.status != restriction.removeprefix("ONLY_"):
                raise rejected_cancel("Order was not canceled due to cancel restrictions.")
            members = self.list_of(order)
            for member in members.orders if members is not None else [order]:
                if member.is_open:
                    self._cancel(member)
            return copy.deepcopy(order)

    def cancel_all(self, symbol: str) -> list[Order | OrderList]:
        """Cancel every open order and order list of a symbol: the orders, and each list once."""
        with self.lock:
            open_orders = self.open_orders(symbol, copy_out=False)
            if not open_orders:
                raise error(UNKNOWN_ORDER)
            done: list[Order | OrderList] = []
            for order in open_orders:
                members = self.list_of(order)
                if members is None:
                    self._cancel(order)
                    done.append(order)
                elif members not in done:
                    for member in members.orders:
                        if member.is_open:
                            self._cancel(member)
                    done.append(members)
            return copy.deepcopy(done)

    def _cancel(self, order: Order, status: str = "CANCELED") -> None:
        self._unlock(order)
        order.status = status
        order.update_time = self.clock()
        self.update_id += 1
        self.account_update_time = order.update_time
