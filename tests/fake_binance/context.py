"""What endpoint handlers may use of the running fake (a Protocol, so handlers don't import the server)."""

from __future__ import annotations

from typing import Protocol

from .exchange import Exchange


class Context(Protocol):
    exchange: Exchange
    withdraw_enabled: bool
    trading_enabled: bool
    ip_restrict: bool
    key_create_time: int

    def server_time(self) -> int:
        """Current server time in ms (wall clock + server_time_offset_ms)."""
        ...
