"""The exchange layer: Binance Spot REST through python-binance, off the event loop, with retries.

python-binance's `Client` is blocking and keeps the last response on the instance, so each worker
thread gets its own `Client` (its own keep-alive HTTP session, reused call after call) and reads
response headers inside the same worker call. python-binance costs about 0.35 s to import, so it
is imported on the first call, never at start-up, and the constructor's ping is off: starting
contacts nobody.

Its `testnet=`/`demo=` switches would win over `API_URL`, so both stay off and the REST root of
the chosen network (or the `--base-url` override) is set on `API_URL` / `MARGIN_API_URL`.

Reliability (README *Reliability*; Binance's rest-api.md "General API Information" and "LIMITS", errors.md):
- reads are retried on connection errors, timeouts, 5xx and 429 (`retry`);
- an order or a cancel is sent once: after an ambiguous failure the caller looks it up by its
  client id (`order_kinds`) instead of resending; whether a failed request may have reached
  Binance is decided by where it failed (`_reached_binance`);
- a 418 stops every call until the ban ends, a 429's Retry-After holds every call back too
  (`ExchangePaused`);
- a -1021 resyncs the clock offset from `/api/v3/time` and the request goes once more;
- a request that changes the account, sent under the account lock (`SEND_WINDOW`), proves just
  before it leaves (and again before a resend after -1021) that the sender still holds the lock,
  and carries a `recvWindow` that ends no later than the lock's lease, so that Binance refuses it
  if it arrives after another holder may have taken over; every other signed request carries
  `recvWindow` 10000 ms;
- used weight and order counts are tracked against exchangeInfo's limits, and a request waits
  for the next window rather than break one (`limits`).
- market data, exchange rules and the account's open-order count are read once for every caller
  asking the same at the same time, and kept briefly (`shared_reads`): Binance's weight is counted
  per IP address, for every agent behind this server.

This module knows nothing of policies; every error leaves it as an `ExchangeFailure` (errors.py:
`BinanceRejected` with Binance's code, message and the next step; `ExchangePaused`,
`LimitReached`, `ExchangeUnavailable`, `MissingCredentials`), never as a library's exception.
At DEBUG, each request is logged with its weight, its time and its outcome (never a key or secret:
python-binance signs inside the worker, the parameters logged carry none).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from binance_mcp.config import Credentials
from binance_mcp.exchange.clock import INVALID_TIMESTAMP, offset_ms, server_now_ms
from binance_mcp.exchange.errors import (
    BinanceRejected,
    ExchangeFailure,
    ExchangePaused,
    ExchangeUnavailable,
    LimitReached,
    MissingCredentials,
)
from binance_mcp.exchange.shared_reads import Reading, SharedReads
from binance_mcp.exchange.weights import new_orders, request_weight

if TYPE_CHECKING:  # imported on first use: the server must start fast (see the cold-start benchmark)
    from binance_mcp.exchange.retry import RetryPolicy
    from binance_mcp.exchange.usage import UsageTracker

logger = logging.getLogger(__name__)

_UNGATED: ContextVar[bool] = ContextVar("binance_mcp_ungated", default=False)

MAX_ERROR_MESSAGE = 300
INVALID_SYMBOL = -1121
RECV_WINDOW_MS = 10_000
"""The `recvWindow` of a signed request sent with no lease to respect (python-binance's too)."""
MAX_RECV_WINDOW_MS = 60_000
"""Binance refuses a larger `recvWindow` (-1102; rest-api.md, "Timing security")."""
FUTURE_TIMESTAMP_MS = 1_000
"""Binance takes a timestamp up to this far ahead of its own clock without -1021 (rest-api.md,
"Timing security"): a server whose clock runs ahead by less is never resynced, and its request is
accepted for that much longer than its `recvWindow` says."""
LEASE_MARGIN_MS = 500 + FUTURE_TIMESTAMP_MS
"""Taken off what is left of a lease when it becomes a `recvWindow`: the request's own way from
the signing to the wire, and the time a timestamp may run ahead of Binance's clock."""


@dataclass
class SendWindow:
    """Until when a write may still be accepted: `prove()` checks, against the shared store, that
    the sender still holds the account's lock (a fencing token) and returns until when it is sure
    to (on `time.monotonic()`), or raises when it does not. Set for the writes of one held call
    in `SEND_WINDOW`."""

    prove: Callable[[], Awaitable[float]]


SEND_WINDOW: ContextVar[SendWindow | None] = ContextVar("SEND_WINDOW", default=None)
"""The lock a write is sent under (dispatch sets it around a call that holds the account lock)."""


def recv_window_ms(sure_until: float | None, now: float | None = None) -> int:
    """The `recvWindow` of a request signed now: what is left of the lease (less a margin, at
    least 1 ms: a request that cannot arrive in time is refused by Binance, -1021), at most 60 s;
    10 s with no lease."""
    if sure_until is None:
        return RECV_WINDOW_MS
    left = int((sure_until - (time.monotonic() if now is None else now)) * 1000) - LEASE_MARGIN_MS
    return max(1, min(MAX_RECV_WINDOW_MS, left))


MARKET_DATA_MAX_AGE = 0.5
"""Seconds a market-data answer (price, ticker, book, candles) serves every caller asking the same
after it, unless the server says otherwise (`config.ServerConfig.market_data_max_age`)."""
GUARD_MAX_AGE = 1.0
"""The oldest market reading the guard decides an order on, whatever `--market-data-max-age` says."""
OPEN_ORDERS_MAX_AGE = 2.0
"""Seconds one count of the account's open orders serves the guard's screening of other calls (the
check under the account lock at dispatch always counts afresh)."""
OPEN_ORDER_COUNT = "open order count"


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait for a connection, and for each read of the answer."""

    connect: float = 5.0
    read: float = 10.0


@dataclass
class WeightUsage:
    """The last `X-MBX-USED-WEIGHT-1M` and order counts Binance reported."""

    used_weight_1m: int | None = None
    order_count_10s: int | None = None
    order_count_1d: int | None = None
    updated_at: float = 0.0


class ExchangeClient:
    """One account on one REST root. Every public method is a coroutine that runs in a worker thread.

    `timeouts` and `retry` may be replaced at any time; the next request uses them.
    """

    def __init__(
        self,
        base_url: str,
        credentials: Credentials | None,
        *,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        symbol_cache_ttl: float = 300.0,
        market_data_max_age: float = MARKET_DATA_MAX_AGE,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._credentials = credentials
        self.timeouts = timeouts or Timeouts()
        self._retry = retry
        self._local = threading.local()
        self.market_reads = SharedReads(market_data_max_age)
        """Prices, tickers, books, candles, averages and reference prices: one request for every
        caller asking the same within `market_data_max_age` seconds (`shared_reads`)."""
        self.rules_reads = SharedReads(symbol_cache_ttl)
        """Each symbol's exchangeInfo entry, kept `symbol_cache_ttl` seconds."""
        self.account_reads = SharedReads(OPEN_ORDERS_MAX_AGE)
        """The account's open-order count, shared for `OPEN_ORDERS_MAX_AGE` seconds and forgotten
        whenever this client sends an order, a cancel or an amend."""
        self._symbol_cache_ttl = symbol_cache_ttl
        self._all_symbols: tuple[float, tuple[str, ...], frozenset[str]] | None = None
        self.timestamp_offset_ms = 0
        self.usage = WeightUsage()
        self._limits: UsageTracker | None = None
        self._limits_asked = False
        self._pause: ExchangePaused | None = None
        self.gate: Callable[[str, int], None] | None = None
        """Asked before each request leaves, with its method and weight: raises an
        `ExchangeFailure` (a `ShareUsed`) to keep it from being sent (the guard's share of the
        weight per agent). Set once by whoever builds the client's users."""
        self.observers: list[Callable[[SentRequest], None]] = []
        """Told of every request this client sent to Binance, once it ended (the audit log keeps
        one compact record of each: retries, look-ups and market data included)."""

    @property
    def has_credentials(self) -> bool:
        return self._credentials is not None

    def _key_type(self) -> str | None:
        """The kind of key that signs ("HMAC", "Ed25519", "RSA"), None without keys."""
        return self._credentials.key_type.value if self._credentials is not None else None

    @property
    def retry(self) -> RetryPolicy:
        """The bounds of retries and waits; may be replaced, the next request uses the new one."""
        if self._retry is None:
            from binance_mcp.exchange.retry import RetryPolicy

            self._retry = RetryPolicy()
        return self._retry

    @retry.setter
    def retry(self, policy: RetryPolicy) -> None:
        self._retry = policy

    @property
    def limits(self) -> UsageTracker:
        """Used weight and order counts against Binance's limits (see `limits`)."""
        if self._limits is None:
            from binance_mcp.exchange.usage import UsageTracker

            self._limits = UsageTracker()
        return self._limits

    # -- market data (no keys) -------------------------------------------------------------------
    #
    # Each `read_*` goes through `market_reads` (`shared_reads`): callers asking the same thing at
    # once share one request, and its answer serves the next ones until it is `max_age` seconds
    # old (default `market_data_max_age`; 0: a request of the caller's own). The `get_*` forms are
    # the guard's reads: they accept a reading at most `guard_max_age` old.

    @property
    def guard_max_age(self) -> float:
        """How old a market reading the guard (validation, valuation, the re-decision at dispatch)
        accepts: the server's freshness, but never more than `GUARD_MAX_AGE`."""
        return min(self.market_reads.max_age, GUARD_MAX_AGE)

    async def read_price(self, symbol: str, *, max_age: float | None = None) -> Reading[dict[str, Any]]:
        """GET /api/v3/ticker/price."""
        return await self.market_reads.read(
            ("price", symbol),
            lambda: self._call("get_symbol_ticker", signed=False, symbol=symbol),
            max_age=max_age,
        )

    async def get_price(self, symbol: str) -> dict[str, Any]:
        return (await self.read_price(symbol, max_age=self.guard_max_age)).value

    async def read_avg_price(self, symbol: str, *, max_age: float | None = None) -> Reading[dict[str, Any]]:
        """GET /api/v3/avgPrice: the volume-weighted average over the symbol's `avgPriceMins`."""
        return await self.market_reads.read(
            ("avg", symbol), lambda: self._call("get_avg_price", signed=False, symbol=symbol), max_age=max_age
        )

    async def get_avg_price(self, symbol: str) -> dict[str, Any]:
        return (await self.read_avg_price(symbol, max_age=self.guard_max_age)).value

    async def read_reference_price(
        self, symbol: str, *, max_age: float | None = None
    ) -> Reading[Decimal | None]:
        """GET /api/v3/referencePrice: the symbol's reference price, or None when it has none (null
        now, -2043 never set, or a REST root that does not serve the endpoint: 404)."""

        async def fetch() -> Decimal | None:
            try:
                answer = await self._call("get_reference_price", signed=False, symbol=symbol)
            except BinanceRejected as exc:
                if exc.code == NO_REFERENCE_PRICE or exc.status == 404:
                    return None
                raise
            value = answer.get("referencePrice") if isinstance(answer, dict) else None
            return Decimal(str(value)) if value is not None else None

        return await self.market_reads.read(("reference", symbol), fetch, max_age=max_age)

    async def get_reference_price(self, symbol: str) -> Decimal | None:
        return (await self.read_reference_price(symbol, max_age=self.guard_max_age)).value

    async def read_orderbook(
        self, symbol: str, limit: int, *, max_age: float | None = None
    ) -> Reading[dict[str, Any]]:
        """GET /api/v3/depth."""
        return await self.market_reads.read(
            ("book", symbol, limit),
            lambda: self._call("get_order_book", signed=False, symbol=symbol, limit=limit),
            max_age=max_age,
        )

    async def get_orderbook(self, symbol: str, limit: int) -> dict[str, Any]:
        return (await self.read_orderbook(symbol, limit, max_age=self.guard_max_age)).value

    async def read_klines(
        self,
        symbol: str,
        interval: str,
        limit: int,
        start_time: int | None,
        end_time: int | None,
        *,
        max_age: float | None = None,
    ) -> Reading[list[list[Any]]]:
        """GET /api/v3/klines."""
        return await self.market_reads.read(
            ("klines", symbol, interval, limit, start_time, end_time),
            lambda: self._call(
                "get_klines",
                signed=False,
                symbol=symbol,
                interval=interval,
                limit=limit,
                startTime=start_time,
                endTime=end_time,
            ),
            max_age=max_age,
        )

    async def get_klines(
        self, symbol: str, interval: str, limit: int, start_time: int | None, end_time: int | None
    ) -> list[list[Any]]:
        return (await self.read_klines(symbol, interval, limit, start_time, end_time)).value

    async def read_24hr_ticker(self, symbol: str, *, max_age: float | None = None) -> Reading[dict[str, Any]]:
        """GET /api/v3/ticker/24hr."""
        return await self.market_reads.read(
            ("ticker", symbol), lambda: self._call("get_ticker", signed=False, symbol=symbol), max_age=max_age
        )

    async def get_24hr_ticker(self, symbol: str) -> dict[str, Any]:
        return (await self.read_24hr_ticker(symbol)).value

    async def get_server_time(self) -> int:
        answer = await self._call("get_server_time", signed=False)
        return int(answer["serverTime"])

    async def read_symbol_info(self, symbol: str, *, max_age: float | None = None) -> Reading[dict[str, Any]]:
        """The symbol's exchangeInfo entry (filters, assets), kept `symbol_cache_ttl` seconds
        (`rules_reads`; `max_age=0` reads it again).

        The answer's `rateLimits` become the limits the server tracks (see `limits`).
        """

        async def fetch() -> dict[str, Any]:
            answer = await self._call("exchange_info", signed=False, symbol=symbol)
            self._take_rate_limits(answer)
            for entry in answer.get("symbols", []):
                if entry.get("symbol") == symbol:
                    return dict(entry)
            rejected = BinanceRejected(400, INVALID_SYMBOL, "Invalid symbol.")
            await self._advise_on_symbol(rejected, {"symbol": symbol})
            raise rejected

        return await self.rules_reads.read(("rules", symbol), fetch, max_age=max_age)

    async def get_symbol_info(self, symbol: str) -> dict[str, Any]:
        return (await self.read_symbol_info(symbol)).value

    @staticmethod
    @contextlib.contextmanager
    def ungated() -> Iterator[None]:
        """Requests made inside pass no `gate`: the lookups that settle an order already sent
        (after a lost answer, or in recovery) must never be refused for a caller's share."""
        token = _UNGATED.set(True)
        try:
            yield
        finally:
            _UNGATED.reset(token)

    def cached_quote_asset(self, symbol: str) -> str | None:
        """The symbol's quote asset if its exchangeInfo entry is kept (`rules_reads`; no request is made)."""
        kept = self.rules_reads.peek(("rules", symbol))
        quote = kept.value.get("quoteAsset") if kept is not None else None
        return str(quote) if quote else None

    # -- account (keys) --------------------------------------------------------------------------

    async def get_account(self) -> dict[str, Any]:
        return await self._call("get_account", signed=True, omitZeroBalances="true")

    async def get_open_orders(self, symbol: str | None) -> list[dict[str, Any]]:
        return await self._call("get_open_orders", signed=True, symbol=symbol)

    async def count_open_orders(self, *, max_age: float | None = None, version: Any = None) -> Reading[int]:
        """How many orders the account has open on every symbol (GET /api/v3/openOrders, weight 80),
        one request shared by the callers asking within `max_age` seconds (default
        `OPEN_ORDERS_MAX_AGE`; 0: counted afresh) for the same `version` of the account (the
        guard's epoch: any order of the account from any process sharing the state moves it).
        Forgotten whenever this client sends an order, a cancel or an amend (`_write`)."""

        async def fetch() -> int:
            return len(await self._call("get_open_orders", signed=True))

        return await self.account_reads.read(OPEN_ORDER_COUNT, fetch, max_age=max_age, version=version)

    async def get_all_orders(
        self, symbol: str, limit: int, start_time: int | None, end_time: int | None
    ) -> list[dict[str, Any]]:
        return await self._call(
            "get_all_orders", signed=True, symbol=symbol, limit=limit, startTime=start_time, endTime=end_time
        )

    async def get_order(
        self, symbol: str, client_order_id: str | None = None, order_id: int | None = None
    ) -> dict[str, Any]:
        return await self._call(
            "get_order", signed=True, symbol=symbol, origClientOrderId=client_order_id, orderId=order_id
        )

    async def get_api_restrictions(self) -> dict[str, Any]:
        return await self._call("get_account_api_permissions", signed=True)

    # -- trading (keys) --------------------------------------------------------------------------

    async def place_order(self, params: dict[str, Any]) -> dict[str, Any]:
        """Sent once (after an ambiguous failure it is looked up, `order_kinds`); a -1021 resyncs and sends once more."""
        return await self._write("create_order", **params)

    async def test_order(self, params: dict[str, Any]) -> dict[str, Any]:
        # The test endpoint executes nothing: it is retried like a read.
        return await self._call("create_test_order", signed=True, computeCommissionRates="true", **params)

    async def cancel_order(
        self, symbol: str, order_id: int | None, client_order_id: str | None
    ) -> dict[str, Any]:
        return await self._write(
            "cancel_order", symbol=symbol, orderId=order_id, origClientOrderId=client_order_id
        )

    async def cancel_all_orders(self, symbol: str) -> list[dict[str, Any]]:
        return await self._write("cancel_all_open_orders", symbol=symbol)

    # -- clock -----------------------------------------------------------------------------------

    def server_time_ms(self) -> int:
        """Binance's time now as this client estimates it (the clock its signed requests carry)."""
        return server_now_ms(self.timestamp_offset_ms)

    async def resync_clock(self) -> int:
        """Set `timestamp_offset_ms` from `/api/v3/time`; returns it."""
        answer = await self._call("get_server_time", signed=False)
        self.timestamp_offset_ms = offset_ms(int(answer["serverTime"]), time.time())
        logger.info("clock resynced with Binance: offset %d ms", self.timestamp_offset_ms)
        return self.timestamp_offset_ms

    # -- plumbing --------------------------------------------------------------------------------

    async def _call(self, method: str, *, signed: bool, **params: Any) -> Any:
        """A read: retried on transient failures, within the policy's bounds."""
        if signed and self._credentials is None:
            raise MissingCredentials(method)
        from binance_mcp.exchange.retry import read_retrying

        clean = {key: value for key, value in params.items() if value is not None}
        return await read_retrying(self.retry)(self._attempt, method, clean, signed)

    async def _write(self, method: str, **params: Any) -> Any:
        """An order or a cancel: never retried after it may have executed. Before the first new
        order, exchangeInfo's rate limits are read (the order-count limits it must respect)."""
        if self._credentials is None:
            raise MissingCredentials(method)
        symbol = params.get("symbol")
        if new_orders(method) and not self.limits.from_exchange and not self._limits_asked and symbol:
            await self._load_rate_limits(str(symbol))
        clean = {key: value for key, value in params.items() if value is not None}
        self.account_reads.forget(OPEN_ORDER_COUNT)  # an order of the account: the count is no longer true
        try:
            return await self._attempt(method, clean, True, SEND_WINDOW.get())
        finally:
            self.account_reads.forget(OPEN_ORDER_COUNT)  # a count read while it flew may not show it

    async def _attempt(
        self, method: str, params: dict[str, Any], signed: bool, window: SendWindow | None = None
    ) -> Any:
        """One request; after a -1021 (rejected before it executed), a clock resync and one more.
        Under a lock (`window`), each one is sent only once the lock is proved held, and lives no
        longer than its lease."""
        try:
            sure_until = await window.prove() if window is not None else None
            return await self._send(method, params, sure_until)
        except BinanceRejected as exc:
            if not signed or exc.code != INVALID_TIMESTAMP:
                raise
            rejected = exc
        try:
            await self.resync_clock()
        except ExchangeFailure as exc:
            logger.warning("could not resync the clock after -1021: %s", exc.message)
            raise rejected from None
        sure_until = await window.prove() if window is not None else None
        return await self._send(method, params, sure_until)

    async def _send(self, method: str, params: dict[str, Any], sure_until: float | None = None) -> Any:
        weight = request_weight(method, params)
        if self.gate is not None and not _UNGATED.get():
            self.gate(method, weight)
        await self._clearance(weight, new_orders(method))
        seen: dict[str, str] = {}
        started = time.perf_counter()
        try:
            answer = await anyio.to_thread.run_sync(self._call_in_thread, method, params, seen, sure_until)
        except BinanceRejected as exc:
            self._ended(method, params, weight, started, exc)
            if exc.code == INVALID_SYMBOL:
                await self._advise_on_symbol(exc, params)
            self._pause_after(exc)
            raise
        except ExchangeFailure as exc:
            self._ended(method, params, weight, started, exc)
            raise
        finally:
            if seen:
                self._take_usage(seen)
        self._ended(method, params, weight, started, None)
        return answer

    def _ended(
        self,
        method: str,
        params: dict[str, Any],
        weight: int,
        started: float,
        failure: ExchangeFailure | None,
    ) -> None:
        """A request ended: logged at DEBUG, and told to every observer (never raising into the call)."""
        _log_request(method, params, weight, started, failure)
        if not self.observers:
            return
        sent = SentRequest(
            method=method,
            symbol=str(params.get("symbol") or "") or None,
            weight=weight,
            ms=round((time.perf_counter() - started) * 1000, 3),
            outcome="ok" if failure is None else ("unknown" if failure.may_have_executed else "error"),
            failure=None if failure is None else failure.summary(),
            reached=failure is None or bool(getattr(failure, "sent", True)),
        )
        for observe in self.observers:
            try:
                observe(sent)
            except Exception:
                logger.exception("an observer of exchange requests failed")

    async def _advise_on_symbol(self, exc: BinanceRejected, params: dict[str, Any]) -> None:
        """A -1121's next step names the symbol and, when one is close, the symbols meant."""
        from binance_mcp.exchange.advice import did_you_mean, next_step

        symbol = params.get("symbol")
        if not isinstance(symbol, str):
            return
        known = await self._known_symbols()
        suggestion = did_you_mean(symbol, known) if known else None
        exc.next_step = next_step(exc.code, exc.message, params, self.base_url, suggestion=suggestion)

    async def _known_symbols(self) -> tuple[str, ...]:
        """Every symbol of exchangeInfo (weight 20), cached like a symbol's entry; empty if unreadable."""
        try:
            return (await self._listing())[0]
        except ExchangeFailure as exc:
            logger.info("could not read exchangeInfo's symbols for a suggestion: %s", exc.message)
            return ()

    async def listed_symbols(self) -> tuple[str, ...]:
        """Every symbol exchangeInfo lists (weight 20, cached); empty if it cannot be read."""
        return await self._known_symbols()

    async def listed_assets(self) -> frozenset[str]:
        """Every base and quote asset of the symbols exchangeInfo lists (weight 20, cached like a
        symbol's entry): what a policy's budget may name. Raises `ExchangeFailure` if unreadable."""
        return (await self._listing())[1]

    async def _listing(self) -> tuple[tuple[str, ...], frozenset[str]]:
        now = time.monotonic()
        if self._all_symbols is not None and now - self._all_symbols[0] < self._symbol_cache_ttl:
            return self._all_symbols[1], self._all_symbols[2]
        answer = await self._send("exchange_info", {})
        entries = answer.get("symbols", []) if isinstance(answer, dict) else []
        entries = [entry for entry in entries if isinstance(entry, dict) and "symbol" in entry]
        names = tuple(str(entry["symbol"]) for entry in entries)
        assets = frozenset(
            str(entry[key]) for entry in entries for key in ("baseAsset", "quoteAsset") if entry.get(key)
        )
        self._all_symbols = (now, names, assets)
        return names, assets

    async def _clearance(self, weight: int, orders: int) -> None:
        """Wait until a request may go: no ban or Retry-After running, and room under every limit."""
        policy = self.retry
        while True:
            pause = self._pause
            if pause is not None:
                left = pause.until - time.time()
                if left > policy.max_pause:
                    raise ExchangePaused(pause.status or 418, pause.code, pause.message, until=pause.until)
                if left > 0:
                    await anyio.sleep(left)
                    continue
                self._pause = None
            now = server_now_ms(self.timestamp_offset_ms)
            wait = self.limits.wait_for(weight, orders, now)
            if wait is None:
                self.limits.add(weight, orders, now)
                return
            if wait.seconds > policy.max_pause:
                raise LimitReached(wait.limit.describe(), wait.used, wait.seconds, policy.max_pause)
            logger.info("waiting %.2f s for Binance's limit of %s", wait.seconds, wait.limit.describe())
            await anyio.sleep(wait.seconds)

    def _pause_after(self, exc: BinanceRejected) -> None:
        """A 418 bans every call until it ends; a 429 with Retry-After holds them back that long."""
        from binance_mcp.exchange.usage import ban_end

        if exc.status == 418:
            until = ban_end(exc.message, exc.retry_after, time.time(), self.timestamp_offset_ms)
            paused = ExchangePaused(418, exc.code, exc.message, until=until, from_response=True)
            if self._pause is None or self._pause.until < until:
                self._pause = paused
            logger.warning("%s", paused.sentence())
            raise paused from None
        if exc.status == 429 and exc.retry_after:
            until = time.time() + exc.retry_after
            if self._pause is None or self._pause.until < until:
                self._pause = ExchangePaused(429, exc.code, exc.message, until=until)

    def _take_usage(self, seen: dict[str, str]) -> None:
        self.limits.observe(seen, server_now_ms(self.timestamp_offset_ms))
        usage = self.usage
        for header, attribute in (
            ("x-mbx-used-weight-1m", "used_weight_1m"),
            ("x-mbx-order-count-10s", "order_count_10s"),
            ("x-mbx-order-count-1d", "order_count_1d"),
        ):
            if header in seen:
                setattr(usage, attribute, _int_or_none(seen[header]))
        usage.updated_at = time.monotonic()

    def _take_rate_limits(self, answer: Any) -> None:
        from binance_mcp.exchange.usage import parse_rate_limits

        limits = parse_rate_limits(answer.get("rateLimits") if isinstance(answer, dict) else None)
        if limits is not None and (not self.limits.from_exchange or limits != self.limits.limits):
            self.limits.set_limits(limits)

    async def _load_rate_limits(self, symbol: str) -> None:
        """exchangeInfo's rateLimits, once, lazily; the documented defaults stay if it cannot be read."""
        self._limits_asked = True
        try:
            self._take_rate_limits(await self._call("exchange_info", signed=False, symbol=symbol))
        except ExchangeFailure as exc:
            logger.warning(
                "could not read Binance's rate limits; using the documented ones (%s)", exc.message
            )

    def _call_in_thread(
        self, method: str, params: dict[str, Any], seen: dict[str, str], sure_until: float | None = None
    ) -> Any:
        import requests
        from binance.exceptions import BinanceAPIException, BinanceRequestException

        from binance_mcp.exchange.advice import connection_step, next_step
        from binance_mcp.exchange.usage import parse_retry_after

        client = self._thread_client()
        client.timestamp_offset = self.timestamp_offset_ms
        client._requests_params["timeout"] = (self.timeouts.connect, self.timeouts.read)
        client.REQUEST_RECVWINDOW = recv_window_ms(sure_until)  # signed here, in this thread, right away
        call: Callable[..., Any] = self._library_call(client, method)
        base = self.base_url
        try:
            result = call(**params)
        except BinanceAPIException as exc:
            headers = getattr(exc.response, "headers", None) or {}
            _copy_mbx_headers(headers, seen)
            message = str(exc.message or "")[:MAX_ERROR_MESSAGE]
            code = exc.code or None
            raise BinanceRejected(
                exc.status_code,
                code,
                message,
                retry_after=parse_retry_after(headers.get("Retry-After")),
                next_step=next_step(code, message, params, base, key_type=self._key_type()),
            ) from None
        except BinanceRequestException as exc:
            _copy_mbx_headers(getattr(client.response, "headers", None) or {}, seen)
            raise ExchangeUnavailable(
                f"Binance at {base} sent an unreadable answer: {str(exc.message)[:MAX_ERROR_MESSAGE]}",
                sent=True,
                next_step=connection_step(base),
            ) from None
        except requests.exceptions.ConnectTimeout:
            raise ExchangeUnavailable(
                f"could not connect to Binance at {base} within {self.timeouts.connect:g} s",
                sent=False,
                next_step=connection_step(base),
            ) from None
        except requests.exceptions.ReadTimeout:
            raise ExchangeUnavailable(
                f"Binance at {base} did not answer within {self.timeouts.read:g} s",
                sent=True,
                next_step=connection_step(base),
            ) from None
        except requests.exceptions.SSLError as exc:
            raise ExchangeUnavailable(
                f"the TLS connection to {base} failed ({_tls_reason(exc)})",
                sent=_tls_handshake_failure(exc) is None,
                next_step=connection_step(base),
            ) from None
        except requests.exceptions.ConnectionError as exc:
            raise ExchangeUnavailable(
                _describe_connection_error(exc, base),
                sent=_reached_binance(exc),
                next_step=connection_step(base),
            ) from None
        except requests.exceptions.RequestException as exc:
            raise ExchangeUnavailable(
                f"request to Binance at {base} failed ({type(exc).__name__})",
                sent=True,
                next_step=connection_step(base),
            ) from None
        _copy_mbx_headers(client.response.headers, seen)
        return result

    def _thread_client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            client = _new_library_client(self._credentials, self.timeouts)
            client.API_URL = f"{self.base_url}/api"
            client.MARGIN_API_URL = f"{self.base_url}/sapi"
            _close_unused_loop(client)
            self._local.client = client
        return client

    @staticmethod
    def _exchange_info(client: Any) -> Callable[..., Any]:
        def fetch(symbol: str | None = None) -> dict[str, Any]:
            data = {"symbol": symbol} if symbol else {}
            answer: dict[str, Any] = client._get(
                "exchangeInfo", data=data, version=client.PRIVATE_API_VERSION
            )
            return answer

        return fetch

    # -- order lists, fills, amend (issue #11) -----------------------------------------------------

    def _library_call(self, client: Any, method: str) -> Callable[..., Any]:
        """python-binance's method `method`, or its generic signed request for an endpoint it lacks."""
        if method == "exchange_info":
            return self._exchange_info(client)
        generic = GENERIC_CALLS.get(method)
        if generic is not None:
            http_method, path, signed = generic

            def send(**params: Any) -> Any:
                return client._request_api(http_method, path, signed, data=params)

            return send
        return getattr(client, method)

    async def place_order_list(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        """POST /api/v3/orderList/{oco,oto,otoco} with Binance's parameters, sent once.

        After an ambiguous failure the caller looks the list up by its `listClientOrderId`
        (`order_kinds`) instead of resending; a -1021 resyncs and sends once more.
        """
        method = ORDER_LIST_METHODS.get(kind.upper())
        if method is None:
            raise ValueError(f"unknown order list kind {kind!r}: use OCO, OTO or OTOCO")
        return await self._write(method, **params)

    async def cancel_order_list(
        self, symbol: str, order_list_id: int | None = None, list_client_order_id: str | None = None
    ) -> dict[str, Any]:
        """DELETE /api/v3/orderList: cancels every open order of the list, sent once."""
        return await self._write(
            "v3_delete_order_list",
            symbol=symbol,
            orderListId=order_list_id,
            listClientOrderId=list_client_order_id,
        )

    async def get_order_list(
        self, order_list_id: int | None = None, list_client_order_id: str | None = None
    ) -> dict[str, Any]:
        """GET /api/v3/orderList by orderListId or listClientOrderId (sent as origClientOrderId)."""
        return await self._call(
            "v3_get_order_list",
            signed=True,
            orderListId=order_list_id,
            origClientOrderId=list_client_order_id,
        )

    async def get_open_order_lists(self) -> list[dict[str, Any]]:
        """GET /api/v3/openOrderList: every open order list of the account (all symbols)."""
        return await self._call("get_open_oco_orders", signed=True)

    async def get_my_trades(
        self,
        symbol: str,
        *,
        start_time: int | None = None,
        end_time: int | None = None,
        order_id: int | None = None,
        from_id: int | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """GET /api/v3/myTrades: the account's fills on a symbol (weight 5 with order_id, else 20)."""
        return await self._call(
            "get_my_trades",
            signed=True,
            symbol=symbol,
            startTime=start_time,
            endTime=end_time,
            orderId=order_id,
            fromId=from_id,
            limit=limit,
        )

    async def amend_order(
        self,
        symbol: str,
        new_qty: str,
        *,
        order_id: int | None = None,
        orig_client_order_id: str | None = None,
        new_client_order_id: str | None = None,
    ) -> dict[str, Any]:
        """PUT /api/v3/order/amend/keepPriority: reduce an open order's quantity, sent once."""
        return await self._write(
            "amend_order_keep_priority",
            symbol=symbol,
            orderId=order_id,
            origClientOrderId=orig_client_order_id,
            newClientOrderId=new_client_order_id,
            newQty=str(new_qty),
        )

    async def get_order_amendments(self, symbol: str, order_id: int) -> list[dict[str, Any]]:
        """GET /api/v3/order/amendments: every amendment of one order (MAX_NUM_ORDER_AMENDS counts them)."""
        return list(await self._call("get_order_amendments", signed=True, symbol=symbol, orderId=order_id))


# python-binance 1.0.37's method for each order-list kind (POST /api/v3/orderList/...).
ORDER_LIST_METHODS = {
    "OCO": "create_oco_order",
    "OTO": "v3_post_order_list_oto",
    "OTOCO": "v3_post_order_list_otoco",
}
# Endpoints python-binance 1.0.37 has no method for: our name → (HTTP method, path under /api/v3).
GENERIC_CALLS = {  # python-binance has no method of its own for these: (HTTP method, path, signed)
    "amend_order_keep_priority": ("put", "order/amend/keepPriority", True),
    "get_order_amendments": ("get", "order/amendments", True),
    "get_reference_price": ("get", "referencePrice", False),
}
NO_REFERENCE_PRICE = -2043  # "This symbol doesn't have a reference price." (never set)


def _new_library_client(credentials: Credentials | None, timeouts: Timeouts) -> Any:
    """python-binance's `Client` for these keys: HMAC with the secret; Ed25519 or RSA with the private
    key as the unencrypted PKCS#8 PEM text `keyfile` made of it (python-binance would take a
    passphrase for RSA keys only, and tells the two apart by the text's length: a PKCS#8 Ed25519
    key is 119 characters, an RSA key over 1600). Which one it chose is checked, not assumed.

    A construction that fails must not print python-binance's `__del__` traceback (its `close_connection`
    reads a session that was never made): `_QuietClient` gives it one to find. The failure becomes
    an `ExchangeUnavailable` naming the key file, never the key."""
    from binance_mcp.keyfile import KeyType

    private_key = credentials.private_key if credentials else None
    try:
        client = _quiet_client_class()(
            api_key=credentials.api_key if credentials else None,
            api_secret=credentials.api_secret if credentials else None,
            private_key=private_key.pem if private_key else None,
            requests_params={"timeout": (timeouts.connect, timeouts.read)},
            ping=False,
        )
    except Exception as exc:
        where = private_key.path if private_key else "the API keys"
        raise ExchangeUnavailable(
            f"python-binance could not load {where} ({type(exc).__name__})",
            sent=False,
            next_step="check the key with `binance-mcp doctor`",
        ) from None
    if private_key is not None and bool(client._is_rsa) != (private_key.key_type is KeyType.RSA):
        raise ExchangeUnavailable(
            f"python-binance took the {private_key.key_type.value} key {private_key.path} for another type",
            sent=False,
            next_step="check the key with `binance-mcp doctor`",
        )
    return client


_QUIET_CLIENT: type | None = None


def _quiet_client_class() -> type:
    """python-binance's `Client` with a class-level `session = None`: after a failed construction its
    `__del__` finds nothing to close instead of printing a traceback. Made on first use (the library
    is imported then, never at start-up)."""
    global _QUIET_CLIENT
    if _QUIET_CLIENT is None:
        from binance.client import Client

        _QUIET_CLIENT = type("_QuietClient", (Client,), {"session": None})
    return _QUIET_CLIENT


def _close_unused_loop(client: Any) -> None:
    """python-binance's constructor makes an asyncio loop for this worker thread, which its REST
    calls never use; left open, the garbage collector reports it at exit ("Invalid file
    descriptor" from BaseEventLoop.__del__). Close it now."""
    import asyncio

    loop = getattr(client, "loop", None)
    if isinstance(loop, asyncio.AbstractEventLoop) and not loop.is_running() and not loop.is_closed():
        loop.close()
        asyncio.set_event_loop(None)


def _copy_mbx_headers(headers: Any, seen: dict[str, str]) -> None:
    for name, value in headers.items():
        lower = name.lower()
        if lower.startswith("x-mbx-"):
            seen[lower] = value


def _int_or_none(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def _reached_binance(exc: Exception) -> bool:
    """Whether a request that failed with a connection error may have reached Binance, from where
    it failed: urllib3 raises `NewConnectionError` (and its `NameResolutionError`) while it makes
    the connection, before any byte of the request is written, so the request never left; any
    other failure (the connection reset, closed or answered with garbage after the request was
    written: `ProtocolError`) may have left it executed on Binance."""
    return _connect_failure(exc) is None


def _connect_failure(exc: BaseException) -> BaseException | None:
    """The urllib3 error that stopped the connection from being made, or None if it was made:
    requests wraps it in a `MaxRetryError`, a proxy's failure in a `ProxyError`."""
    from urllib3.exceptions import MaxRetryError, NewConnectionError, ProxyError

    cause: object = exc.args[0] if exc.args else None
    if isinstance(cause, MaxRetryError):
        cause = cause.reason
    if isinstance(cause, ProxyError):
        cause = cause.original_error
    return cause if isinstance(cause, NewConnectionError) else None


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and every exception it wraps (as an argument, a urllib3 `reason`, a cause or a context)."""
    found: list[BaseException] = []
    waiting: list[object] = [exc]
    while waiting:
        current = waiting.pop()
        if not isinstance(current, BaseException) or any(current is seen for seen in found):
            continue
        found.append(current)
        waiting.extend(
            (*current.args, getattr(current, "reason", None), current.__cause__, current.__context__)
        )
    return found


def _tls_handshake_failure(exc: Exception) -> str | None:
    """Why the TLS handshake failed, when that is where it failed (the request was never written);
    None for a TLS error of an established connection (urllib3 reports both as `SSLError`), after
    which the request may have executed on Binance."""
    import ssl

    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return "its certificate could not be verified"
        if isinstance(cause, ssl.SSLError) and cause.reason == "WRONG_VERSION_NUMBER":
            return "it does not speak TLS there: is the URL http://?"
        if isinstance(cause, ssl.SSLError) and "HANDSHAKE" in str(cause.reason or "").upper():
            return "handshake failed"
    return None


def _tls_reason(exc: Exception) -> str:
    return _tls_handshake_failure(exc) or "the secure connection broke"


@dataclass(frozen=True)
class SentRequest:
    """One request this client sent to Binance (or tried to: `reached` is False when it failed
    before any byte of it was written), as the audit log keeps it: compact, never its signature."""

    method: str
    symbol: str | None
    weight: int
    ms: float
    outcome: str  # ok | error | unknown (it may have executed; its answer was lost)
    failure: str | None
    reached: bool


def _log_request(
    method: str, params: dict[str, Any], weight: int, started: float, failure: ExchangeFailure | None
) -> None:
    """At DEBUG: each request to Binance, its weight, how long it took and how it ended."""
    if not logger.isEnabledFor(logging.DEBUG):
        return
    elapsed_ms = (time.perf_counter() - started) * 1000
    outcome = "ok" if failure is None else failure.summary()
    shown = {key: value for key, value in params.items() if key not in ("signature", "timestamp")}
    logger.debug("exchange %s %s weight %d: %s in %.0f ms", method, shown, weight, outcome, elapsed_ms)


def _describe_connection_error(exc: Exception, base_url: str) -> str:
    from urllib3.exceptions import NameResolutionError

    failure = _connect_failure(exc)
    if failure is None:
        return f"the connection to Binance at {base_url} was lost before an answer came"
    if isinstance(failure, NameResolutionError):
        return f"could not resolve the host of {base_url}"
    reason = failure.__cause__ or failure.__context__
    if isinstance(reason, ConnectionRefusedError):
        return f"could not connect to Binance at {base_url}: connection refused"
    words = reason.strerror if isinstance(reason, OSError) and reason.strerror else "no connection"
    return f"could not connect to Binance at {base_url}: {words[0].lower()}{words[1:]}"
