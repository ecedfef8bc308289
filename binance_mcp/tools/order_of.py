"""`order_of`: the order a validated `place_order` or `place_order_list` call describes, as the guard sees it.

The guard checks every leg against the symbol's filters and the policy, values the whole order
(`binance_mcp.valuation`) and words the approval question from this value, never from what the
model wrote. Pure functions of the validated arguments: no I/O.
"""

from __future__ import annotations

from binance_mcp.orders import Leg, Order
from binance_mcp.tools.order_list_inputs import PlaceOrderListInput, legs_of


def order_of_place_order_list(args: PlaceOrderListInput) -> Order:
    """An OCO (above, below), OTO (working, pending) or OTOCO (working, pending_above, pending_below)."""
    legs = tuple(
        Leg(
            side=leg.side,  # type: ignore[arg-type]
            type=leg.type,
            quantity=leg.quantity,
            price=leg.price,
            stop_price=leg.stop_price,
            trailing_delta=leg.trailing_delta,
            role=leg.role,
        )
        for leg in legs_of(args)
    )
    return Order(symbol=args.symbol, kind=args.type, legs=legs, client_order_id=args.list_client_order_id)
