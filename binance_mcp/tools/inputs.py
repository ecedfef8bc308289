"""The tools' input models: flat snake_case arguments, checked at the edge, explained in plain words.

Each model forbids unknown arguments (a `leverage` on a spot order must not vanish silently) and
publishes the JSON Schema that tools/list shows. Quantities and prices are decimal strings; a JSON
number is accepted and read through its shortest text (`0.1`, never `0.1000000000000000055`).
`describe_validation_error` turns pydantic's errors into one sentence naming field and problem.
Decimal text is read and written by binance_mcp/decimals.py.
"""

from __future__ import annotations

import re
import secrets
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from binance_mcp.decimals import DecimalTextError, decimal_text, parse_decimal

SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]{2,20}$")
CLIENT_ORDER_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
DAY_MS = 24 * 60 * 60 * 1000

KlineInterval = Literal[
    "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M"
]
OrderSide = Literal["BUY", "SELL"]
OrderType = Literal[
    "LIMIT", "MARKET", "LIMIT_MAKER", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"
]
TimeInForce = Literal["GTC", "IOC", "FOK"]


def _symbol(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("must be a string such as BTCUSDT")
    symbol = value.strip().upper()
    if not SYMBOL_PATTERN.fullmatch(symbol):
        raise ValueError(f"{value!r} is not a Binance Spot symbol: use letters and digits only, e.g. BTCUSDT")
    return symbol


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _positive_decimal(value: Any) -> Decimal:
    """A positive decimal, bounded before anything is formatted (see binance_mcp/decimals.py)."""
    try:
        number = parse_decimal(value)
    except DecimalTextError as exc:
        raise ValueError(str(exc)) from None
    if number <= 0:
        raise ValueError(f"must be greater than 0 (got {decimal_text(number)})")
    return number


def _whole_number(value: Any) -> Any:
    """JSON's true and false are not numbers, though Python counts them as 1 and 0."""
    if isinstance(value, bool):
        raise ValueError(f"must be a whole number, not {str(value).lower()}")
    return value


WholeNumber = Annotated[int, BeforeValidator(_whole_number)]
"""An integer argument: a whole number, never a boolean (`"limit": true` is not 1)."""


def _int64(value: int) -> int:
    if not -(2**63) <= value < 2**63:  # "999…9" as text is read as a whole number; Binance's ids are 64-bit
        raise ValueError("must be at most 19 digits (Binance's ids are 64-bit numbers)")
    return value


def _client_order_id(value: Any) -> Any:
    if not isinstance(value, str) or not CLIENT_ORDER_ID_PATTERN.fullmatch(value):  # "zz\n" too
        raise ValueError("use 1 to 36 characters from A-Z, a-z, 0-9, '_' and '-'")
    return value


def new_client_order_id() -> str:
    """`bmcp_` and 22 random URL-safe characters: 27 characters from [A-Za-z0-9_-]."""
    return "bmcp_" + secrets.token_urlsafe(16)


Symbol = Annotated[
    str,
    BeforeValidator(_symbol),
    WithJsonSchema({"type": "string"}),  # BTCUSDT: a wrong one is refused saying so
]
PositiveDecimal = Annotated[
    Decimal,
    BeforeValidator(_positive_decimal),
    PlainSerializer(decimal_text, return_type=str),
    WithJsonSchema({"type": "string"}),  # a decimal string: each tool's description says so once
]
ClientOrderId = Annotated[
    str,
    BeforeValidator(_client_order_id),
    WithJsonSchema({"type": "string"}),  # 1-36 of A-Za-z0-9_-: checked here, said in the error
]
TimestampMs = Annotated[WholeNumber, Field(ge=0, le=10**14)]  # ms since the epoch: each tool says so
OrderId = Annotated[WholeNumber, Field(ge=1), AfterValidator(_int64)]
"""Binance's ids are 64-bit numbers: a longer one is refused here, not sent (-1100)."""
ListId = Annotated[WholeNumber, Field(ge=0), AfterValidator(_int64)]
"""An order list's or a trade's id."""


class ToolInput(BaseModel):
    # defer_build: built on the first call, not at start-up (tools/list uses tools/schemas.json)
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class SymbolInput(ToolInput):
    symbol: Symbol


class MarketInput(SymbolInput):
    fresh: bool = Field(False, description="true: ask Binance now")


class OrderBookInput(MarketInput):
    limit: WholeNumber = Field(100, ge=1, le=5000)


def _check_window(start_time: int | None, end_time: int | None, *, at_most_ms: int | None = None) -> None:
    """`end_time` not before `start_time`, and (where Binance bounds it) at most `at_most_ms` after."""
    if start_time is None or end_time is None:
        return
    if end_time < start_time:
        raise ValueError("end_time: must not be before start_time")
    if at_most_ms is not None and end_time - start_time > at_most_ms:
        hours = at_most_ms // 3_600_000
        raise ValueError(f"end_time: Binance allows at most {hours} hours between start_time and end_time")


class KlinesInput(MarketInput):
    interval: KlineInterval
    limit: WholeNumber = Field(100, ge=1, le=1000)
    start_time: TimestampMs | None = None
    end_time: TimestampMs | None = None

    @model_validator(mode="after")
    def _window(self) -> KlinesInput:
        _check_window(self.start_time, self.end_time)
        return self


class NoInput(ToolInput):
    pass


class OrderPreviewInput(ToolInput):
    tool: Literal["place_order", "place_order_list"]
    arguments: dict[str, Any] = Field(description="as you would send them")


class OpenOrdersInput(ToolInput):
    symbol: Symbol | None = Field(None, description="left out: all symbols")


class OrderHistoryInput(SymbolInput):
    limit: WholeNumber = Field(100, ge=1, le=1000)
    start_time: TimestampMs | None = None
    end_time: TimestampMs | None = None

    @model_validator(mode="after")
    def _window(self) -> OrderHistoryInput:
        _check_window(self.start_time, self.end_time, at_most_ms=DAY_MS)
        return self


_TYPE_NEEDS = {
    "LIMIT": {"price"},
    "LIMIT_MAKER": {"price"},
    "STOP_LOSS": set(),
    "TAKE_PROFIT": set(),
    "STOP_LOSS_LIMIT": {"price"},
    "TAKE_PROFIT_LIMIT": {"price"},
    "MARKET": set(),
}
_TAKES_TIME_IN_FORCE = {"LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"}
# Triggered types: a stop_price, a trailing_delta, or both (Binance's "stopPrice or trailingDelta").
_TRIGGERED = {"STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"}
TrailingDelta = Annotated[
    WholeNumber,
    Field(ge=1, le=10000, description="trailing stop, BIPS (100 = 1 %)"),
]


class PlaceOrderInput(SymbolInput):
    side: Annotated[OrderSide, BeforeValidator(_upper)]
    type: Annotated[OrderType, BeforeValidator(_upper)]
    quantity: PositiveDecimal | None = Field(None, description="base asset")
    quote_quantity: PositiveDecimal | None = Field(None, description="MARKET: quote asset to spend/receive")
    price: PositiveDecimal | None = None
    stop_price: PositiveDecimal | None = None
    trailing_delta: TrailingDelta | None = None
    time_in_force: Annotated[TimeInForce, BeforeValidator(_upper)] | None = Field(
        None, description="default GTC"
    )
    cap_pct: PositiveDecimal | None = Field(
        None, description="MARKET by quantity: sent as LIMIT IOC at the book's price ± this %"
    )
    client_order_id: ClientOrderId | None = None

    @model_validator(mode="after")
    def _fits_the_type(self) -> PlaceOrderInput:
        kind = self.type
        if kind == "MARKET":
            if (self.quantity is None) == (self.quote_quantity is None):
                raise ValueError("quantity: a MARKET order takes exactly one of quantity or quote_quantity")
        else:
            if self.quantity is None:
                raise ValueError(f"quantity: a {kind} order needs a quantity")
            if self.quote_quantity is not None:
                raise ValueError("quote_quantity: only MARKET orders take a quote_quantity")
        for needed in _TYPE_NEEDS[kind]:
            if getattr(self, needed) is None:
                raise ValueError(f"{needed}: a {kind} order needs a {needed}")
        if kind in _TRIGGERED:
            if self.stop_price is None and self.trailing_delta is None:
                raise ValueError(f"stop_price: a {kind} order needs a stop_price, a trailing_delta or both")
        else:
            for trigger in ("stop_price", "trailing_delta"):
                if getattr(self, trigger) is not None:
                    raise ValueError(f"{trigger}: a {kind} order takes no {trigger}")
        if "price" not in _TYPE_NEEDS[kind] and self.price is not None:
            raise ValueError(f"price: a {kind} order takes no price")
        if self.cap_pct is not None and (kind != "MARKET" or self.quantity is None):
            raise ValueError("cap_pct: only a MARKET order by quantity takes a cap_pct")
        if kind not in _TAKES_TIME_IN_FORCE and self.time_in_force is not None:
            raise ValueError(f"time_in_force: a {kind} order takes no time_in_force")
        return self


class OneOrderInput(SymbolInput):
    """One order of a symbol, named by either of its ids."""

    order_id: OrderId | None = None
    client_order_id: ClientOrderId | None = None

    @model_validator(mode="after")
    def _one_id(self) -> OneOrderInput:
        if self.order_id is None and self.client_order_id is None:
            raise ValueError("order_id: give order_id or client_order_id")
        return self


class CancelOrderInput(OneOrderInput):
    """The order to cancel."""


class GetOrderInput(OneOrderInput):
    """The order to read."""


class MyTradesInput(SymbolInput):
    order_id: OrderId | None = None
    start_time: TimestampMs | None = None
    end_time: TimestampMs | None = None
    from_id: ListId | None = Field(None, description="trade id to start from")
    limit: WholeNumber = Field(100, ge=1, le=1000)

    @model_validator(mode="after")
    def _combination(self) -> MyTradesInput:
        _check_window(self.start_time, self.end_time, at_most_ms=DAY_MS)
        windowed = self.start_time is not None or self.end_time is not None
        if windowed and (self.order_id is not None or self.from_id is not None):
            name = "order_id" if self.order_id is not None else "from_id"
            raise ValueError(f"{name}: Binance does not combine {name} with start_time or end_time")
        return self


class AmendOrderInput(SymbolInput):
    order_id: OrderId | None = None
    client_order_id: ClientOrderId | None = None
    new_quantity: PositiveDecimal = Field(description="less than now")
    new_client_order_id: ClientOrderId | None = None

    @model_validator(mode="after")
    def _one_id(self) -> AmendOrderInput:
        if self.order_id is None and self.client_order_id is None:
            raise ValueError("order_id: give order_id or client_order_id")
        return self


def describe_validation_error(exc: ValidationError, model: type[BaseModel]) -> tuple[str | None, str]:
    """The first field at fault and one sentence for every problem, in plain words."""
    problems: list[str] = []
    first_field: str | None = None
    unknown: dict[tuple[Any, ...], list[str]] = {}  # by where they were given: the arguments, or legs[1]
    for err in exc.errors():
        if err["type"] == "extra_forbidden" and err["loc"]:
            unknown.setdefault(tuple(err["loc"][:-1]), []).append(_path(err["loc"]) or "")
    for parent, names in unknown.items():
        shown = ", ".join(_shown(name) for name in names[:5])
        if len(names) > 5:
            shown += f" and {len(names) - 5} more"
        noun = "argument" if len(names) == 1 else "arguments"
        allowed = ", ".join(_fields_at(model, parent)) or "no arguments"
        taker = f"{_path(parent)} takes" if parent else "this tool takes"
        problems.append(f"unknown {noun} {shown}: {taker} {allowed}")
        first_field = first_field or names[0]
    for err in exc.errors():
        if err["type"] == "extra_forbidden":
            continue
        field_name, sentence = _sentence(err)
        first_field = first_field or field_name
        problems.append(sentence)
    return first_field, "; ".join(problems)


def _fields_at(model: type[BaseModel], parent: tuple[Any, ...]) -> list[str]:
    """The arguments the model takes at a place in its arguments (`legs[1]`: a leg's)."""
    current = model
    for part in parent:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(str(part))
        if field is None:
            return []
        inner = [t for t in get_args(field.annotation) if isinstance(t, type) and issubclass(t, BaseModel)]
        if not inner:
            return []
        current = inner[0]
    return list(current.model_fields)


def _shown(given: Any) -> str:
    """A refused value as quoted back: whole when short, cut when long (never the whole input echoed)."""
    text = repr(given)
    return text if len(text) <= 40 else f"{text[:36]}…"


def _path(loc: Any) -> str | None:
    """Where in the arguments: `price`, or `legs[1].price` inside a list of objects."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path or None


def _sentence(err: Any) -> tuple[str | None, str]:
    field_name = _path(err["loc"])
    kind = err["type"]
    ctx = err.get("ctx") or {}
    given = err.get("input")
    if kind == "value_error":
        message = str(ctx.get("error", err["msg"]))
        if field_name is None and ": " in message:  # model-level checks name their field first
            field_name, message = message.split(": ", 1)
        return field_name, f"{field_name}: {message}" if field_name else message
    if kind == "missing":
        return field_name, f"{field_name}: required"
    if kind == "literal_error":
        return field_name, f"{field_name}: must be one of {ctx.get('expected', '')} (got {_shown(given)})"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return field_name, f"{field_name}: must be a whole number (got {_shown(given)})"
    if kind in ("greater_than_equal", "greater_than"):
        return (
            field_name,
            f"{field_name}: must be at least {ctx.get('ge', ctx.get('gt'))} (got {_shown(given)})",
        )
    if kind in ("less_than_equal", "less_than"):
        return (
            field_name,
            f"{field_name}: must be at most {ctx.get('le', ctx.get('lt'))} (got {_shown(given)})",
        )
    if kind in ("string_type", "bool_type", "model_type", "dict_type"):
        return field_name, f"{field_name}: has the wrong type (got {type(given).__name__})"
    return field_name, f"{field_name}: {err['msg'].lower()}"
