"""The OrderList record (OCO, OTO, OTOCO) and its JSON: the list status objects of the order-list endpoints.

A list holds its member orders (the same `Order` objects the account holds). Its status follows
theirs: EXEC_STARTED / EXECUTING while any member is open or pending, ALL_DONE / ALL_DONE once
every member is final. An OTOCO reports `contingencyType` "OTO", as Binance's does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .orders import Order

ListKind = Literal["OCO", "OTO", "OTOCO"]


@dataclass
class OrderList:
    order_list_id: int
    kind: ListKind
    list_client_order_id: str
    symbol: str
    transaction_time: int
    orders: list[Order] = field(default_factory=list)
    updated: bool = False  # a member's clientOrderId was changed by an amend (listStatusType UPDATED)

    @property
    def contingency_type(self) -> str:
        return "OCO" if self.kind == "OCO" else "OTO"

    @property
    def is_open(self) -> bool:
        return any(order.is_open for order in self.orders)

    @property
    def working(self) -> Order | None:
        """The working order of an OTO / OTOCO (None for an OCO)."""
        return self.orders[0] if self.kind != "OCO" else None

    @property
    def oco_pair(self) -> list[Order]:
        """The two orders that cancel each other: an OCO's legs, or an OTOCO's pending pair."""
        if self.kind == "OCO":
            return self.orders
        return self.orders[1:] if self.kind == "OTOCO" else []

    def statuses(self) -> tuple[str, str]:
        """(listStatusType, listOrderStatus)."""
        if not self.is_open:
            return "ALL_DONE", "ALL_DONE"
        return ("UPDATED" if self.updated else "EXEC_STARTED"), "EXECUTING"

    def to_api(self, reports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        status_type, order_status = self.statuses()
        out: dict[str, Any] = {
            "orderListId": self.order_list_id,
            "contingencyType": self.contingency_type,
            "listStatusType": status_type,
            "listOrderStatus": order_status,
            "listClientOrderId": self.list_client_order_id,
            "transactionTime": self.transaction_time,
            "symbol": self.symbol,
            "orders": [
                {"symbol": o.symbol, "orderId": o.order_id, "clientOrderId": o.client_order_id}
                for o in self.orders
            ],
        }
        if reports is not None:
            out["orderReports"] = reports
        return out

    def to_amend_status(self) -> dict[str, Any]:
        """The `listStatus` of an amend answer for a member order."""
        out = self.to_api()
        del out["listStatusType"], out["transactionTime"]
        return out
