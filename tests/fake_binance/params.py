"""Typed access to request parameters with Binance's validation errors (-1102, -1100, -1111, -1130...)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from .errors import (
    INVALID_SYMBOL,
    SYMBOL_TWICE,
    ApiError,
    error,
    illegal_chars,
    invalid_value,
    mandatory,
    too_much_precision,
)

SYMBOL_RE = re.compile(r"^[A-Z0-9-_.]{1,20}$")
SYMBOL_LEGAL = "^[A-Z0-9-_.]{1,20}$"
SYMBOLS_LEGAL = '^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$'
DECIMAL_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
DECIMAL_LEGAL = "^([0-9]{1,20})(\\.[0-9]{1,20})?$"
INT_RE = re.compile(r"^-?[0-9]{1,20}$")
MAX_DECIMALS = 8


class Params:
    """Merged request parameters (query wins over body) with validating getters; empty means absent."""

    def __init__(self, values: dict[str, str], symbols: dict[str, dict[str, Any]]) -> None:
        self.values = values
        self._symbols = symbols

    def has(self, name: str) -> bool:
        return bool(self.values.get(name))

    def opt(self, name: str) -> str | None:
        value = self.values.get(name)
        return value if value else None

    def req(self, name: str) -> str:
        value = self.opt(name)
        if value is None:
            raise mandatory(name)
        return value

    def opt_int(self, name: str) -> int | None:
        value = self.opt(name)
        if value is None:
            return None
        if not INT_RE.match(value):
            raise illegal_chars(name, "^-?[0-9]{1,20}$")
        return int(value)

    def int_in_range(self, name: str, default: int, low: int, high: int) -> int:
        value = self.opt_int(name)
        if value is None:
            return default
        if not low <= value <= high:
            raise invalid_value(name)
        return value

    def opt_decimal(self, name: str) -> Decimal | None:
        value = self.opt(name)
        if value is None:
            return None
        if not DECIMAL_RE.match(value):
            raise illegal_chars(name, DECIMAL_LEGAL)
        number = Decimal(value)
        if -number.normalize().as_tuple().exponent > MAX_DECIMALS:  # type: ignore[operator]
            raise too_much_precision(name)
        return number

    def opt_bool(self, name: str) -> bool:
        value = self.opt(name)
        if value is None:
            return False
        if value.lower() not in ("true", "false"):
            raise mandatory(name)
        return value.lower() == "true"

    def enum(self, name: str, allowed: tuple[str, ...] | list[str], err: ApiError) -> str | None:
        value = self.opt(name)
        if value is not None and value not in allowed:
            raise err
        return value

    def symbol(self, required: bool = True) -> str | None:
        """The `symbol` param checked for charset (-1100) and existence (-1121)."""
        value = self.req("symbol") if required else self.opt("symbol")
        if value is None:
            return None
        if not SYMBOL_RE.match(value):
            raise illegal_chars("symbol", SYMBOL_LEGAL)
        if value not in self._symbols:
            raise error(INVALID_SYMBOL)
        return value

    def symbols_list(self) -> list[str] | None:
        """The `symbols` param: a JSON array of known, distinct symbol names."""
        raw = self.opt("symbols")
        if raw is None:
            return None
        try:
            names = json.loads(raw)
        except ValueError:
            raise illegal_chars("symbols", SYMBOLS_LEGAL) from None
        if not isinstance(names, list) or not all(isinstance(n, str) and SYMBOL_RE.match(n) for n in names):
            raise illegal_chars("symbols", SYMBOLS_LEGAL)
        if len(set(names)) != len(names):
            raise error(SYMBOL_TWICE)
        for name in names:
            if name not in self._symbols:
                raise error(INVALID_SYMBOL)
        return names
