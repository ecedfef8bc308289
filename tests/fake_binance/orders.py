"""The Order record and its JSON views: ACK/RESULT/FULL placement replies, query objects, cancel reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .data import fmt

OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED", "PENDING_NEW")
STOP_TYPES = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
ZERO = Decimal(0)


@dataclass
class Fill:
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    trade_id: int
    time: int = 0
    is_maker: bool = False

    def to_api(self) -> dict[str, Any]:
        return {
            "price": fmt(self.price),
            "qty": fmt(self.qty),
            "commission": fmt(self.commission),
            "commissionAsset": self.commission_asset,
            "tradeId": self.trade_id,
        }

    def to_trade(self, order: Order) -> dict[str, Any]:
        """One entry of GET /api/v3/myTrades: this fill as the account's trade."""
        return {
            "symbol": order.symbol,
            "id": self.trade_id,
            "orderId": order.order_id,
            "orderListId": order.order_list_id,
            "price": fmt(self.price),
            "qty": fmt(self.qty),
            "quoteQty": fmt(self.price * self.qty),
            "commission": fmt(self.commission),
            "commissionAsset": self.commission_asset,
            "time": self.time,
            "isBuyer": order.side == "BUY",
            "isMaker": self.is_maker,
            "isBestMatch": True,
        }


@dataclass
class Order:
    """One order of the fake account, in any status. Decimal fields; `to_*` methods give Binance JSON."""

    symbol: str
    order_id: int
    client_order_id: str
    side: str
    type: str
    time_in_force: str
    price: Decimal
    orig_qty: Decimal
    status: str = "NEW"
    executed_qty: Decimal = ZERO
    cummulative_quote_qty: Decimal = ZERO
    orig_quote_order_qty: Decimal = ZERO
    stop_price: Decimal = ZERO
    iceberg_qty: Decimal = ZERO
    time: int = 0
    update_time: int = 0
    working_time: int = -1
    stp_mode: str = "NONE"
    expiry_reason: str | None = None
    fills: list[Fill] = field(default_factory=list)
    locked_asset: str | None = None
    locked_amount: Decimal = ZERO
    order_list_id: int = -1
    trailing_delta: int | None = None
    trailing_time: int = -1  # when a trailing stop started tracking the price (-1: not yet)
    trail_extreme: Decimal | None = None  # highest (SELL) or lowest (BUY) price since tracking began
    amendments: int = 0
    amend_history: list[dict[str, Any]] = field(default_factory=list)  # GET /api/v3/order/amendments

    @property
    def is_open(self) -> bool:
        """Open, or waiting in an order list (PENDING_NEW) for its working order to fill."""
        return self.status in OPEN_STATUSES

    def _conditional(self, out: dict[str, Any]) -> None:
        """Fields Binance shows only for trailing stops (§ conditional fields in order responses)."""
        if self.trailing_delta is not None:
            out["trailingDelta"] = self.trailing_delta
            out["trailingTime"] = self.trailing_time

    def _common(self) -> dict[str, Any]:
        return {
            "price": fmt(self.price),
            "origQty": fmt(self.orig_qty),
            "executedQty": fmt(self.executed_qty),
            "origQuoteOrderQty": fmt(self.orig_quote_order_qty),
            "cummulativeQuoteQty": fmt(self.cummulative_quote_qty),
            "status": self.status,
            "timeInForce": self.time_in_force,
            "type": self.type,
            "side": self.side,
        }

    def to_ack(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": self.order_list_id,
            "clientOrderId": self.client_order_id,
            "transactTime": self.time,
        }

    def to_result(self) -> dict[str, Any]:
        out = self.to_ack() | self._common()
        if self.type in STOP_TYPES:
            out["stopPrice"] = fmt(self.stop_price)
        if self.iceberg_qty:
            out["icebergQty"] = fmt(self.iceberg_qty)
        self._conditional(out)
        out["workingTime"] = self.working_time
        if self.expiry_reason:
            out["expiryReason"] = self.expiry_reason
        out["selfTradePreventionMode"] = self.stp_mode
        return out

    def to_full(self) -> dict[str, Any]:
        out = self.to_result()
        out["fills"] = [f.to_api() for f in self.fills]
        return out

    def to_query(self) -> dict[str, Any]:
        """The order object of GET /api/v3/order, openOrders and allOrders (§5.9)."""
        out: dict[str, Any] = {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": self.order_list_id,
            "clientOrderId": self.client_order_id,
        }
        out |= self._common()
        out |= {
            "stopPrice": fmt(self.stop_price),
            "icebergQty": fmt(self.iceberg_qty),
            "time": self.time,
            "updateTime": self.update_time,
            "isWorking": self.working_time != -1,
            "workingTime": self.working_time,
            "selfTradePreventionMode": self.stp_mode,
        }
        self._conditional(out)
        if self.expiry_reason:
            out["expiryReason"] = self.expiry_reason
        return out

    def to_cancel(self, cancel_client_id: str, transact_time: int) -> dict[str, Any]:
        """The cancel report of DELETE /api/v3/order and /openOrders (§5.13)."""
        out: dict[str, Any] = {
            "symbol": self.symbol,
            "origClientOrderId": self.client_order_id,
            "orderId": self.order_id,
            "orderListId": self.order_list_id,
            "clientOrderId": cancel_client_id,
            "transactTime": transact_time,
        }
        out |= self._common()
        if self.type in STOP_TYPES:
            out["stopPrice"] = fmt(self.stop_price)
        if self.iceberg_qty:
            out["icebergQty"] = fmt(self.iceberg_qty)
        self._conditional(out)
        out["selfTradePreventionMode"] = self.stp_mode
        return out

    def to_amended(self, orig_client_id: str) -> dict[str, Any]:
        """The `amendedOrder` of PUT /api/v3/order/amend/keepPriority."""
        out: dict[str, Any] = {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": self.order_list_id,
            "origClientOrderId": orig_client_id,
            "clientOrderId": self.client_order_id,
            "price": fmt(self.price),
            "qty": fmt(self.orig_qty),
            "executedQty": fmt(self.executed_qty),
            "preventedQty": fmt(0),
            "quoteOrderQty": fmt(self.orig_quote_order_qty),
            "cumulativeQuoteQty": fmt(self.cummulative_quote_qty),
            "status": self.status,
            "timeInForce": self.time_in_force,
            "type": self.type,
            "side": self.side,
        }
        if self.type in STOP_TYPES:
            out["stopPrice"] = fmt(self.stop_price)
        self._conditional(out)
        if self.working_time != -1:
            out["workingTime"] = self.working_time
        out["selfTradePreventionMode"] = self.stp_mode
        return out
