"""A small Binance-compatible Spot REST server for tests and benchmarks (stdlib only).

    with FakeBinance() as fake:
        client = Client("test-key", "test-secret", ping=False)
        client.API_URL = fake.base_url + "/api"
        client.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")

Order lists (OCO, OTO, OTOCO), stop and trailing orders, amend keepPriority and myTrades behave as
rest-api.md describes; `fake.set_price(symbol, price)` moves the market, filling crossed orders and
triggering stops (see exchange.py, list_engine.py, triggers.py).

Run `python -m tests.fake_binance --port 9000` to use it by hand.
"""

from .exchange import Balance
from .fake import FakeBinance
from .faults import Delay, Drop, ExecuteThenFail, Fault, Hold, Status
from .order_lists import OrderList
from .orders import Fill, Order
from .recorder import RecordedRequest
from .signing import sign

__all__ = [
    "Balance",
    "Delay",
    "Drop",
    "ExecuteThenFail",
    "FakeBinance",
    "Fault",
    "Fill",
    "Hold",
    "Order",
    "OrderList",
    "RecordedRequest",
    "Status",
    "sign",
]
