"""`FakeBinance`: the facade owning the exchange state, the server thread, faults and the request log."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from decimal import Decimal
from types import TracebackType

from .exchange import Balance, Exchange
from .faults import Fault, FaultPlan
from .order_lists import OrderList
from .orders import Order
from .ratelimit import RateLimiter
from .recorder import RecordedRequest, RequestLog
from .server import FakeHTTPServer
from .signing import ApiKey


class FakeBinance:
    """A local Binance Spot REST server for tests: `with FakeBinance() as fake: ... fake.base_url ...`.

    Requests go to `{base_url}/api/v3/...` and `{base_url}/sapi/v1/...`. Signed endpoints accept the HMAC
    key `api_key`/`api_secret` and every Ed25519 or RSA key registered with `register_key`. State (prices, balances, orders) lives in `self.exchange` and survives
    stop/start.
    """

    def __init__(
        self,
        api_key: str = "test-key",
        api_secret: str = "test-secret",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError("FakeBinance only binds to the loopback interface")
        self.api_key = api_key
        self.api_secret = api_secret
        self.keys: dict[str, ApiKey] = {api_key: ApiKey.hmac(api_secret)}
        self.host = "127.0.0.1"
        self.port = port
        self.server_time_offset_ms = 0
        self.withdraw_enabled = False
        self.trading_enabled = True
        self.ip_restrict = False
        self.exchange = Exchange(self.server_time)
        self.key_create_time = self.server_time() - 30 * 86_400_000
        self.rate_limiter = RateLimiter()
        self.faults = FaultPlan()
        self.log = RequestLog()
        self._server: FakeHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --------------------------------------------------------------------------------------------- lifecycle
    def start(self) -> FakeBinance:
        if self._server is not None:
            return self
        self._server = FakeHTTPServer((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="fake-binance",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        server.shutdown()
        server.close_all()
        server.server_close()
        if thread is not None:
            thread.join(timeout=2)

    def __enter__(self) -> FakeBinance:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """REST root without /api, e.g. "http://127.0.0.1:54321"."""
        if self._server is None:
            raise RuntimeError("FakeBinance is not started")
        return f"http://{self.host}:{self.port}"

    def register_key(self, api_key: str, public_key_pem: str | bytes) -> None:
        """Accept `api_key`, signed with the private key of `public_key_pem` (Ed25519 or RSA), as a user
        does who pastes the public key into Binance's API management and is given an API key for it."""
        self.keys[api_key] = ApiKey.registered(public_key_pem)

    # ------------------------------------------------------------------------------------------------ clock
    def server_time(self) -> int:
        return int(time.time() * 1000) + self.server_time_offset_ms

    # --------------------------------------------------------------------------------------- exchange state
    def set_price(self, symbol: str, price: str) -> None:
        """Set the current price; crossed resting orders fill and reached stop orders trigger."""
        self.exchange.set_price(symbol, Decimal(price))

    def price(self, symbol: str) -> Decimal:
        return self.exchange.price(symbol)

    def set_balance(self, asset: str, free: str) -> None:
        """Set the free amount of an asset (locked amounts are unchanged)."""
        self.exchange.set_balance(asset, Decimal(free))

    def balance(self, asset: str) -> Balance:
        """A copy of (free, locked) for an asset, as Decimals."""
        return self.exchange.balance(asset)

    @property
    def orders(self) -> list[Order]:
        """Copies of all orders in any status, oldest first."""
        return self.exchange.all_orders()

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        return self.exchange.open_orders(symbol)

    @property
    def order_lists(self) -> list[OrderList]:
        """Copies of all order lists (OCO, OTO, OTOCO) in any status, oldest first."""
        return self.exchange.all_lists()

    @property
    def commission_rate(self) -> Decimal:
        return self.exchange.commission_rate

    @commission_rate.setter
    def commission_rate(self, rate: str | Decimal) -> None:
        self.exchange.commission_rate = Decimal(rate)

    @property
    def enforce_rate_limits(self) -> bool:
        """If True: 429 -1003 above 6000 weight/minute, 429 -1015 above 50 orders/10 s. Default False."""
        return self.rate_limiter.enforce

    @enforce_rate_limits.setter
    def enforce_rate_limits(self, value: bool) -> None:
        self.rate_limiter.enforce = value

    # ---------------------------------------------------------------------------------------- request log
    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the recorded requests, oldest first."""
        return self.log.snapshot()

    def clear_requests(self) -> None:
        self.log.clear()

    # --------------------------------------------------------------------------------------------- faults
    def inject(
        self, fault: Fault, method: str | None = None, path: str | None = None, times: int = 1
    ) -> None:
        """Queue `fault` for the next `times` requests matching method and path (fnmatch; None = any)."""
        self.faults.inject(fault, method, path, times)

    def random_faults(
        self,
        seed: int,
        rate: float,
        kinds: Sequence[Fault],
        paths: Sequence[str] | None = None,
        methods: Sequence[str] | None = None,
    ) -> None:
        """Apply a random fault of `kinds` to a `rate` fraction of matching requests, seeded by `seed`."""
        self.faults.random_faults(seed, rate, kinds, paths, methods)

    def clear_faults(self) -> None:
        self.faults.clear()
