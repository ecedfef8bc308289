"""The exchange layer: Binance Spot REST through python-binance, off the event loop.

python-binance's `Client` is blocking and keeps the last response on the instance, so each worker
thread gets its own `Client` (its own keep-alive HTTP session) and reads response headers inside
the same worker call. python-binance costs about 0.35 s to import, so it is imported on the first
call, never at start-up, and the constructor's ping is off: starting contacts nobody.

Its `testnet=`/`demo=` switches would win over `API_URL`, so both stay off and the REST root of
the chosen network (or the `--base-url` override) is set on `API_URL` / `MARGIN_API_URL`.

This module knows nothing of policies; errors leave it as `ExchangeError`,
`ExchangeUnavailable` or `MissingCredentials`, never as a library's exception.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio.to_thread

from binance_mcp.config import Credentials
from binance_mcp.exchange.errors import ExchangeError, ExchangeUnavailable, MissingCredentials

logger = logging.getLogger(__name__)

MAX_ERROR_MESSAGE = 300


@dataclass(frozen=True)
class Timeouts:
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
    """One account on one REST root. Every public method is a coroutine that runs in a worker thread."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials | None,
        *,
        timeouts: Timeouts | None = None,
        symbol_cache_ttl: float = 300.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._credentials = credentials
        self._timeouts = timeouts or Timeouts()
        self._local = threading.local()
        self._symbol_cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._symbol_cache_ttl = symbol_cache_ttl
        self.timestamp_offset_ms = 0
        self.usage = WeightUsage()

    @property
    def has_credentials(self) -> bool:
        return self._credentials is not None

    # -- market data (no keys) -------------------------------------------------------------------

    async def get_price(self, symbol: str) -> dict[str, Any]:
        return await self._call("get_symbol_ticker", signed=False, symbol=symbol)

    async def get_orderbook(self, symbol: str, limit: int) -> dict[str, Any]:
        return await self._call("get_order_book", signed=False, symbol=symbol, limit=limit)

    async def get_klines(
        self, symbol: str, interval: str, limit: int, start_time: int | None, end_time: int | None
    ) -> list[list[Any]]:
        return await self._call(
            "get_klines",
            signed=False,
            symbol=symbol,
            interval=interval,
            limit=limit,
            startTime=start_time,
            endTime=end_time,
        )

    async def get_24hr_ticker(self, symbol: str) -> dict[str, Any]:
        return await self._call("get_ticker", signed=False, symbol=symbol)

    async def get_server_time(self) -> int:
        answer = await self._call("get_server_time", signed=False)
        return int(answer["serverTime"])

    async def get_symbol_info(self, symbol: str) -> dict[str, Any]:
        """The symbol's exchangeInfo entry (filters, assets), cached for `symbol_cache_ttl` seconds."""
        cached = self._symbol_cache.get(symbol)
        now = time.monotonic()
        if cached is not None and now - cached[0] < self._symbol_cache_ttl:
            return cached[1]
        info = await self._call("get_exchange_info_for", signed=False, symbol=symbol)
        self._symbol_cache[symbol] = (now, info)
        return info

    # -- account (keys) --------------------------------------------------------------------------

    async def get_account(self) -> dict[str, Any]:
        return await self._call("get_account", signed=True, omitZeroBalances="true")

    async def get_open_orders(self, symbol: str | None) -> list[dict[str, Any]]:
        return await self._call("get_open_orders", signed=True, symbol=symbol)

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
        return await self._call("create_order", signed=True, **params)

    async def test_order(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._call("create_test_order", signed=True, computeCommissionRates="true", **params)

    async def cancel_order(
        self, symbol: str, order_id: int | None, client_order_id: str | None
    ) -> dict[str, Any]:
        return await self._call(
            "cancel_order", signed=True, symbol=symbol, orderId=order_id, origClientOrderId=client_order_id
        )

    async def cancel_all_orders(self, symbol: str) -> list[dict[str, Any]]:
        return await self._call("cancel_all_open_orders", signed=True, symbol=symbol)

    # -- plumbing --------------------------------------------------------------------------------

    async def _call(self, method: str, *, signed: bool, **params: Any) -> Any:
        if signed and self._credentials is None:
            raise MissingCredentials(method)
        clean = {key: value for key, value in params.items() if value is not None}
        return await anyio.to_thread.run_sync(self._call_in_thread, method, clean)

    def _call_in_thread(self, method: str, params: dict[str, Any]) -> Any:
        import requests
        from binance.exceptions import BinanceAPIException, BinanceRequestException

        client = self._thread_client()
        client.timestamp_offset = self.timestamp_offset_ms
        call: Callable[..., Any] = (
            self._exchange_info_for(client) if method == "get_exchange_info_for" else getattr(client, method)
        )
        try:
            result = call(**params)
        except BinanceAPIException as exc:
            self._note_usage(client)
            message = str(exc.message or "")[:MAX_ERROR_MESSAGE]
            raise ExchangeError(exc.status_code, exc.code or None, message) from None
        except BinanceRequestException as exc:
            raise ExchangeError(
                None, None, f"unreadable answer: {str(exc.message)[:MAX_ERROR_MESSAGE]}"
            ) from None
        except requests.exceptions.ConnectTimeout:
            raise ExchangeUnavailable(
                f"could not connect to Binance at {self.base_url} within {self._timeouts.connect:g} s",
                sent=False,
            ) from None
        except requests.exceptions.ReadTimeout:
            raise ExchangeUnavailable(
                f"Binance at {self.base_url} did not answer within {self._timeouts.read:g} s", sent=True
            ) from None
        except requests.exceptions.ConnectionError as exc:
            raise ExchangeUnavailable(
                _describe_connection_error(exc, self.base_url), sent=_maybe_sent(exc)
            ) from None
        except requests.exceptions.RequestException as exc:
            raise ExchangeUnavailable(
                f"request to Binance at {self.base_url} failed ({type(exc).__name__})", sent=True
            ) from None
        self._note_usage(client)
        return result

    def _thread_client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            from binance.client import Client

            creds = self._credentials
            client = Client(
                api_key=creds.api_key if creds else None,
                api_secret=creds.api_secret if creds else None,
                requests_params={"timeout": (self._timeouts.connect, self._timeouts.read)},
                ping=False,
            )
            client.API_URL = f"{self.base_url}/api"
            client.MARGIN_API_URL = f"{self.base_url}/sapi"
            self._local.client = client
        return client

    @staticmethod
    def _exchange_info_for(client: Any) -> Callable[..., Any]:
        def fetch(symbol: str) -> dict[str, Any]:
            answer = client._get("exchangeInfo", data={"symbol": symbol}, version=client.PRIVATE_API_VERSION)
            for entry in answer.get("symbols", []):
                if entry.get("symbol") == symbol:
                    return entry
            raise ExchangeError(400, -1121, "Invalid symbol.")

        return fetch

    def _note_usage(self, client: Any) -> None:
        response = getattr(client, "response", None)
        if response is None:
            return
        headers = response.headers
        usage = self.usage
        if (weight := headers.get("x-mbx-used-weight-1m")) is not None:
            usage.used_weight_1m = _int_or_none(weight)
        if (count := headers.get("x-mbx-order-count-10s")) is not None:
            usage.order_count_10s = _int_or_none(count)
        if (count := headers.get("x-mbx-order-count-1d")) is not None:
            usage.order_count_1d = _int_or_none(count)
        usage.updated_at = time.monotonic()


def _int_or_none(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def _maybe_sent(exc: Exception) -> bool:
    """A refused or unresolvable connection never reached Binance; a dropped one may have."""
    text = repr(exc)
    return not any(
        marker in text
        for marker in ("NewConnectionError", "NameResolutionError", "Connection refused", "Failed to resolve")
    )


def _describe_connection_error(exc: Exception, base_url: str) -> str:
    text = repr(exc)
    if "Connection refused" in text or "NewConnectionError" in text:
        return f"could not connect to Binance at {base_url}: connection refused"
    if "NameResolutionError" in text or "Failed to resolve" in text:
        return f"could not resolve the host of {base_url}"
    return f"the connection to Binance at {base_url} was lost before an answer came"
