"""Decimal text in and out, bounded: the one place where a number written by someone becomes a Decimal.

Reading (`parse_decimal`): the text's length, its digits before and after the point and its
exponent are checked before anything is formatted, so `"1e-999999999"` (twelve characters that
would be a gigabyte written out) is refused at once. No finite Binance value needs more than 20
digits on either side of the point (its own parameter pattern is `^([0-9]{1,20})(\\.[0-9]{1,20})?$`),
so anything beyond that is refused with a sentence saying why; the caller adds the field's name.

Writing (`decimal_text`): plain notation without an exponent or trailing zeros (`"0.01"`,
`"65000"`), which is what Binance and people read; a value too large or too small to write out
in plain digits (only ever built by code, never accepted by `parse_decimal`) keeps its exponent
rather than becoming a million zeros.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

__all__ = [
    "MAX_DECIMAL_TEXT_CHARS",
    "MAX_FRACTION_DIGITS",
    "MAX_INTEGER_DIGITS",
    "DecimalOutOfRange",
    "DecimalTextError",
    "decimal_text",
    "parse_decimal",
]

MAX_DECIMAL_TEXT_CHARS = 64
MAX_INTEGER_DIGITS = 20
MAX_FRACTION_DIGITS = 20
_PLAIN_LIMIT = 40  # decimal_text writes out plainly within 1E-40 .. 1E+40
_INTEGER_LIMIT = 10**MAX_INTEGER_DIGITS
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,9})?")


class DecimalTextError(ValueError):
    """A value that is not a bounded, finite decimal number; the message is one sentence without a field."""


class DecimalOutOfRange(DecimalTextError):
    """A number, but too long to read or with more digits than any Binance value has."""


def _shown(text: str) -> str:
    """The value as quoted in an error: short values whole, long ones cut (never a megabyte echoed back)."""
    return repr(text) if len(text) <= 24 else repr(text[:20]) + f"… ({len(text)} characters)"


def parse_decimal(value: object) -> Decimal:
    """A finite Decimal from decimal text, an int, a float (read through its shortest repr) or a Decimal.

    Raises DecimalTextError, in constant time for text, when the value is not a number, is not
    finite, or needs more than 20 digits before or 20 after the decimal point. The sign is kept:
    whether a value may be 0 or negative is the caller's rule.
    """
    if isinstance(value, bool):
        raise DecimalTextError("must be a decimal number, not true or false")
    if isinstance(value, int):
        if not -_INTEGER_LIMIT < value < _INTEGER_LIMIT:  # compared before str(): no 4300-digit limit hit
            raise DecimalTextError(
                f"is too large: at most {MAX_INTEGER_DIGITS} digits before the decimal point"
            )
        return Decimal(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise DecimalTextError(f"{value!r} is not a finite number")
        text = repr(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise DecimalTextError(f"{str(value)!r} is not a finite number")
        return _within_bounds(value, str(value))
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_DECIMAL_TEXT_CHARS:
            raise DecimalOutOfRange(
                f"{_shown(text)} is too long for a decimal number (at most {MAX_DECIMAL_TEXT_CHARS} characters)"
            )
        if not _DECIMAL_TEXT.fullmatch(text):
            lowered = text.lower().lstrip("+-")
            if lowered in ("nan", "snan", "inf", "infinity"):
                raise DecimalTextError(f"{_shown(text)} is not a finite number")
            raise DecimalTextError(f'{_shown(text)} is not a decimal number such as "0.01"')
    else:
        raise DecimalTextError(
            f'must be a decimal number written as a string, e.g. "0.01" (got {type(value).__name__})'
        )
    try:
        number = Decimal(text)
    except InvalidOperation:  # the pattern admits only what Decimal reads; kept as a safety net
        raise DecimalTextError(f"{_shown(text)} is not a decimal number") from None
    return _within_bounds(number, text)


def _within_bounds(number: Decimal, text: str) -> Decimal:
    """Refuse a number with more than 20 digits before or after the point (trailing zeros not counted)."""
    if number.is_zero():
        return number
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    significant, exponent = len(digits) - trailing, exponent + trailing
    fraction_digits = -exponent if exponent < 0 else 0
    integer_digits = significant + exponent  # digits before the point (≤ 0 for 0.00x)
    if integer_digits > MAX_INTEGER_DIGITS:
        raise DecimalOutOfRange(
            f"{_shown(text)} is too large: at most {MAX_INTEGER_DIGITS} digits before the decimal point"
        )
    if fraction_digits > MAX_FRACTION_DIGITS:
        raise DecimalOutOfRange(
            f"{_shown(text)} has too many decimals: at most {MAX_FRACTION_DIGITS} digits after the decimal point"
        )
    return number


def decimal_text(number: Decimal) -> str:
    """Plain notation without exponent or trailing zeros (`Decimal("1.50")` → `"1.5"`, `2E+3` → `"2000"`).

    Safe on any exponent: a value beyond 1E±40 keeps its exponent (`"1E-999999999"`), and NaN or
    Infinity come out as their names, so formatting never costs more than the value's own digits.
    """
    if not number.is_finite():
        return str(number)
    if number.is_zero():
        return "0"
    if not -_PLAIN_LIMIT <= number.adjusted() <= _PLAIN_LIMIT:
        mantissa, _, exponent = format(number, "E").partition("E")
        if "." in mantissa:
            mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}E{exponent}"
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
