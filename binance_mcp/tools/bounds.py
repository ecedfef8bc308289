"""Bounds on a tool call's raw arguments, checked first, before any model, audit or formatting sees them.

A tool's arguments are a small flat object (`{"symbol": "BTCUSDT", "quantity": "0.01", ...}`),
at most a list of small objects inside it. Whatever a client sends is walked here once, without
recursion and stopping at the first problem, so that the work is bounded by the limits below and
not by the input: a million-item list, a string of ten megabytes, an object nested 100,000 deep,
an integer of 5,000 digits, NaN, or text with a lone surrogate (which no UTF-8 log or database can
store) is refused in microseconds with one sentence naming the argument. What passes is small
enough for every later stage to handle and to audit whole.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_CONTAINER_ITEMS",
    "MAX_DEPTH",
    "MAX_INTEGER",
    "MAX_KEY_CHARS",
    "MAX_STRING_CHARS",
    "MAX_TOTAL_CHARS",
    "MAX_VALUES",
    "ArgumentsOutOfBounds",
    "check_raw_arguments",
]

MAX_DEPTH = 4  # levels of containers, the arguments object first: {"legs": [{"price": "1"}]} uses 3
MAX_CONTAINER_ITEMS = 100  # keys of one object, items of one list
MAX_VALUES = 1000  # values in the whole arguments object, containers included
MAX_STRING_CHARS = 1000  # one string value
MAX_KEY_CHARS = 64  # one object key
MAX_TOTAL_CHARS = 16_384  # every key and string together
MAX_INTEGER = 2**63  # Binance's ids and times are 64-bit; a whole number outside ±2^63 is refused


@dataclass(frozen=True)
class ArgumentsOutOfBounds:
    """The first bound the arguments break: the top-level argument at fault (None for the object
    itself) and one sentence that starts with the argument's place, e.g. `quantity: ...`."""

    field: str | None
    message: str

    def __str__(self) -> str:
        return self.message


def _place(path: tuple[str | int, ...]) -> str:
    place = ""
    for part in path:
        place += f"[{part}]" if isinstance(part, int) else (f".{part}" if place else part)
    return place or "arguments"


def _out(path: tuple[str | int, ...], problem: str) -> ArgumentsOutOfBounds:
    field = path[0] if path and isinstance(path[0], str) else None
    return ArgumentsOutOfBounds(field, f"{_place(path)}: {problem}")


def _bad_text(text: str) -> str | None:
    """Why a string cannot be stored and shown as UTF-8 text, or None (the string is bounded already)."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"contains {text[exc.start]!r}, a lone surrogate: not valid Unicode text"
    return None


def check_raw_arguments(arguments: Any) -> ArgumentsOutOfBounds | None:
    """The first bound that a tool call's raw arguments break, or None when they are within bounds.

    Checked, in one non-recursive walk that stops early: the arguments are a JSON object; no more
    than MAX_DEPTH containers deep; no object or list with more than MAX_CONTAINER_ITEMS entries;
    no more than MAX_VALUES values in all; keys are strings of at most MAX_KEY_CHARS; strings at
    most MAX_STRING_CHARS and MAX_TOTAL_CHARS together, valid Unicode (no lone surrogates);
    numbers finite and whole numbers within ±2^63; only JSON's types (object, list, string,
    number, true/false, null). Its cost is bounded by these limits, whatever the input's size.
    """
    if not isinstance(arguments, dict):
        return ArgumentsOutOfBounds(None, f"arguments: must be a JSON object, not {type(arguments).__name__}")
    stack: list[tuple[tuple[str | int, ...], Any, int]] = [((), arguments, 0)]
    values = 0
    chars = 0
    while stack:
        path, value, depth = stack.pop()
        values += 1
        if values > MAX_VALUES:
            return _out(path[:1], f"too many values: the arguments may hold at most {MAX_VALUES} in all")
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, str):
            if len(value) > MAX_STRING_CHARS:
                return _out(path, f"text of {len(value)} characters is too long (at most {MAX_STRING_CHARS})")
            chars += len(value)
            if chars > MAX_TOTAL_CHARS:
                return _out(
                    path, f"too much text: the arguments may hold at most {MAX_TOTAL_CHARS} characters"
                )
            bad = _bad_text(value)
            if bad:
                return _out(path, bad)
        elif isinstance(value, int):
            if not -MAX_INTEGER < value < MAX_INTEGER:  # compared, never converted to text
                return _out(path, "the whole number is too large (at most 19 digits)")
        elif isinstance(value, float):
            if not math.isfinite(value):
                return _out(path, f"{value!r} is not a finite number")
        elif isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                return _out(path, f"nested too deeply (at most {MAX_DEPTH} levels of lists and objects)")
            if len(value) > MAX_CONTAINER_ITEMS:
                kind = "list" if isinstance(value, list) else "object"
                return _out(
                    path, f"a {kind} of {len(value)} entries is too long (at most {MAX_CONTAINER_ITEMS})"
                )
            if isinstance(value, list):
                for index in range(len(value) - 1, -1, -1):
                    stack.append(((*path, index), value[index], depth + 1))
                continue
            entries = list(value.items())
            for key, item in reversed(entries):
                if not isinstance(key, str):
                    return _out(path, f"an object key must be text, not {type(key).__name__}")
                if len(key) > MAX_KEY_CHARS:
                    return _out(path, f"a key of {len(key)} characters is too long (at most {MAX_KEY_CHARS})")
                bad = _bad_text(key)
                if bad:
                    return _out(path, f"a key {bad}")
                chars += len(key)
                stack.append(((*path, key), item, depth + 1))
            if chars > MAX_TOTAL_CHARS:
                return _out(
                    path, f"too much text: the arguments may hold at most {MAX_TOTAL_CHARS} characters"
                )
        else:
            return _out(path, f"has a type JSON does not have ({type(value).__name__})")
    return None
