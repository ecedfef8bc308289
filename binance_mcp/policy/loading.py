"""Reading policy text and turning every problem into one readable line that names its place.

A policy file is read as JSON with every number kept as its literal text (`parse_float=Decimal`,
so `0.1` is exactly 0.1, never a float) and with duplicate keys refused (the JSON module would
silently keep the last). Pydantic's errors are rewritten as `place: problem` lines, such as
`rules.place_order.constraints.max_notional: not a decimal`, because a validation library's dump
is not something a person should have to read. This module knows nothing of the policy's fields;
`model.py` uses it.

Every way a file can be bad ends as PolicyError (a line per problem, with its place) or OSError
(the file cannot be read), never as another exception: the file is opened without blocking and
must be a regular file (a FIFO swapped in under `--watch` would otherwise hang the server), at
most 1 MiB; JSON nested deeper than 32 levels, integers of more than 40 digits (Python refuses to
read those of more than 4300) and text with lone surrogates (which cannot be printed or logged)
are refused before any validation sees them.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import types
import typing
import unicodedata
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, NamedTuple

from pydantic import BaseModel, ValidationError

MAX_POLICY_BYTES = 1024 * 1024
MAX_POLICY_DEPTH = 32
MAX_INTEGER_DIGITS = 40

Loc = tuple[str | int, ...]
"""A place in the policy: dict keys and list indexes from the top, e.g. `("hide", 2)`."""


class Problem(NamedTuple):
    """One problem: its place and a short sentence (and, when it differs, where it sorts)."""

    loc: Loc
    message: str
    sort_loc: Loc | None = None


class PolicyError(Exception):
    """A policy that cannot be used; `errors` holds one `place: problem` line per problem."""

    def __init__(self, errors: Sequence[str], source: str = "<policy>") -> None:
        self.errors: list[str] = list(errors)
        self.source = source
        count = len(self.errors)
        lines = "\n".join(f"  {error}" for error in self.errors)
        super().__init__(f"{source}: invalid policy ({count} error{'s' if count != 1 else ''}):\n{lines}")


class NotARegularFile(OSError):
    """The policy path names a FIFO, a socket or a device: nothing that holds a policy."""


def read_policy_bytes(path: str | os.PathLike[str]) -> bytes:
    """The bytes of a policy file, read without blocking and bounded.

    OSError when it cannot be read (missing, a directory, not a regular file, no permission, a
    symlink loop); PolicyError when it is larger than MAX_POLICY_BYTES.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory, not a policy file", str(path))
        if not stat.S_ISREG(mode):
            raise NotARegularFile(errno.EINVAL, "is not a regular file (a FIFO, socket or device)", str(path))
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_POLICY_BYTES:
            chunk = os.read(fd, MAX_POLICY_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > MAX_POLICY_BYTES:
        raise PolicyError(
            [f"(top): the file is larger than {MAX_POLICY_BYTES // 1024} KiB (a policy is a few kilobytes)"],
            str(path),
        )
    return b"".join(chunks)


def _json_hint(text: str, exc: json.JSONDecodeError) -> str:
    """The likely cause of the usual JSON slips, when it is clear."""
    before = text[: exc.pos].rstrip()
    if before.endswith(",") and text[exc.pos : exc.pos + 1] in ("}", "]"):
        return ": a trailing comma before this bracket? JSON allows none: remove it"
    if "'" in text[max(0, exc.pos - 1) : exc.pos + 1]:
        return ": JSON strings and names take double quotes, not single"
    return ""


def decode_policy_text(raw: bytes, source: str = "<policy>") -> str:
    """UTF-8 text (a byte-order mark allowed), or PolicyError."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PolicyError(["(top): not UTF-8 text"], source) from None


class _Object(dict[str, Any]):
    """A JSON object that remembers the keys it was given more than once."""

    duplicates: tuple[str, ...] = ()


def _object_from_pairs(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object()
    duplicates: list[str] = []
    for key, value in pairs:
        if key in obj and key not in duplicates:
            duplicates.append(key)
        obj[key] = value
    if duplicates:
        obj.duplicates = tuple(duplicates)
    return obj


class _OversizedInteger:
    """An integer literal too long to be a policy value, kept as its digit count (never converted)."""

    def __init__(self, digits: int) -> None:
        self.digits = digits


def _integer(text: str) -> int | _OversizedInteger:
    digits = len(text.lstrip("-"))
    return _OversizedInteger(digits) if digits > MAX_INTEGER_DIGITS else int(text)


def read_json(text: str, source: str = "<policy>") -> tuple[Any, list[Problem]]:
    """Parse policy text exactly; a syntax error or unreadable content raises PolicyError (every
    such problem with its place), duplicate keys are returned as problems."""
    try:
        data = json.loads(
            text,
            parse_float=Decimal,
            parse_int=_integer,
            parse_constant=Decimal,  # NaN and Infinity: rejected later as "not a decimal"
            object_pairs_hook=_object_from_pairs,
        )
    except json.JSONDecodeError as exc:
        raise PolicyError(
            [
                _one_line(
                    f"line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg}){_json_hint(text, exc)}"
                )
            ],
            source,
        ) from None
    except RecursionError:
        raise PolicyError(
            [f"{_deep_place(text)}: nested too deeply (at most {MAX_POLICY_DEPTH} levels)"], source
        ) from None
    if not isinstance(data, dict):
        raise PolicyError(["(top): a policy is a JSON object, {...}"], source)
    unreadable = _unreadable_values(data)
    if unreadable:
        raise PolicyError(format_problems(unreadable), source)
    return data, list(_duplicate_keys(data, ()))


def _deep_place(text: str) -> str:
    """`line L, column C` where the nesting first goes deeper than MAX_POLICY_DEPTH (strings skipped)."""
    depth = 0
    in_string = escaped = False
    line, column = 1, 0
    for char in text:
        column += 1
        if char == "\n":
            line, column = line + 1, 0
        elif in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_POLICY_DEPTH:
                return f"line {line}, column {column}"
        elif char in "]}":
            depth -= 1
    return "(top)"


def _unreadable_values(data: Any) -> list[Problem]:
    """Values no policy can hold, found without recursion: nesting deeper than MAX_POLICY_DEPTH,
    integers of more than MAX_INTEGER_DIGITS digits, text (values or keys) with lone surrogates."""
    problems: list[Problem] = []
    stack: list[tuple[Loc, Any]] = [((), data)]
    while stack and len(problems) < 20:
        loc, value = stack.pop()
        if isinstance(value, dict | list):
            if len(loc) >= MAX_POLICY_DEPTH:
                problems.append(Problem(loc, f"nested too deeply (at most {MAX_POLICY_DEPTH} levels)"))
                continue
            items = value.items() if isinstance(value, dict) else enumerate(value)
            children: list[tuple[Loc, Any]] = []
            for key, item in items:
                surrogate = _lone_surrogate(key) if isinstance(key, str) else None
                if surrogate:
                    problems.append(
                        Problem(loc, f"a key contains {surrogate}, a lone surrogate: not valid Unicode text")
                    )
                    continue
                children.append(((*loc, key), item))
            stack.extend(reversed(children))
        elif isinstance(value, _OversizedInteger):
            problems.append(
                Problem(loc, f"a number of {value.digits} digits is too large (at most {MAX_INTEGER_DIGITS})")
            )
        elif isinstance(value, str) and (surrogate := _lone_surrogate(value)):
            problems.append(Problem(loc, f"contains {surrogate}, a lone surrogate: not valid Unicode text"))
    return problems


def _lone_surrogate(text: str) -> str | None:
    """The first lone surrogate in `text`, escaped (`\\ud800`), or None."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"\\u{ord(text[exc.start]):04x}"
    return None


def _duplicate_keys(value: Any, loc: Loc) -> Iterable[Problem]:
    if isinstance(value, dict):
        for key in getattr(value, "duplicates", ()):
            yield Problem(loc, f'"{key}" is given more than once')
        for key, item in value.items():
            yield from _duplicate_keys(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _duplicate_keys(item, (*loc, index))


def format_place(loc: Loc) -> str:
    """`("rules", "get_*", "rate_limit", "max")` → `rules.get_*.rate_limit.max`; `()` → `(top)`."""
    place = ""
    for part in loc:
        if isinstance(part, int):
            place += f"[{part}]"
        else:
            place += f".{part}" if place else str(part)
    return place or "(top)"


def format_problems(problems: Iterable[Problem], data: Any = None) -> list[str]:
    """Problems as `place: problem` lines, in the order their places appear in the file, deduplicated."""
    problems = list(problems)
    order = _document_order(data) if data is not None else {}

    def position(item: tuple[int, Problem]) -> tuple[int, int]:
        index, problem = item
        loc = problem.sort_loc or problem.loc
        for end in range(len(loc), -1, -1):
            if loc[:end] in order:
                return order[loc[:end]], index
        return -1, index

    lines: list[str] = []
    for _, (loc, message, _) in sorted(enumerate(problems), key=position):
        line = _one_line(f"{format_place(loc)}: {message}")
        if line not in lines:
            lines.append(line)
    return lines


def _one_line(text: str) -> str:
    """A policy's own keys and values appear in its errors: control characters (a newline in a
    key) and lone surrogates are shown escaped, so that every error stays one printable line."""
    return "".join(json.dumps(c)[1:-1] if unicodedata.category(c) in ("Cc", "Cf", "Cs") else c for c in text)


def _document_order(data: Any) -> dict[Loc, int]:
    order: dict[Loc, int] = {}

    def walk(value: Any, loc: Loc) -> None:
        order[loc] = len(order)
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, (*loc, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, (*loc, index))

    walk(data, ())
    return order


_MESSAGES = {
    "missing": "required",
    "string_type": "must be a string",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "dict_type": "must be an object, {...}",
    "model_type": "must be an object, {...}",
    "model_attributes_type": "must be an object, {...}",
    "list_type": "must be a list, [...]",
    "tuple_type": "must be a list, [...]",
    "string_too_short": "must not be empty",
}


def problems_from_validation(exc: ValidationError, root: type[BaseModel]) -> list[Problem]:
    """Rewrite pydantic's errors as problems: a place (without pydantic's `[key]` marker) and a sentence."""
    problems: list[Problem] = []
    for error in exc.errors(include_url=False):
        loc: Loc = tuple(part for part in error["loc"] if part != "[key]")
        kind = error["type"]
        ctx = error.get("ctx") or {}
        if kind == "extra_forbidden":
            *parent, name = loc
            message = f'unknown field "{name}"'
            from difflib import get_close_matches  # only when there is a typo to suggest for

            suggestion = get_close_matches(str(name), _field_names_at(root, tuple(parent)), n=1)
            if suggestion:
                message += f"; did you mean {suggestion[0]}?"
            problems.append(Problem(tuple(parent), message, loc))
            continue
        message = _message(kind, error["msg"], ctx)
        if kind == "literal_error" and isinstance(error.get("input"), str | int | float):
            given = str(error["input"])[:40]
            from difflib import get_close_matches

            allowed = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
            close = get_close_matches(given, allowed, n=1)
            message = f'is "{given}": {message}' + (f"; did you mean {close[0]}?" if close else "")
        problems.append(Problem(loc, message))
    return problems


def _message(kind: str, msg: str, ctx: dict[str, Any]) -> str:
    if kind.startswith("policy"):  # our own PydanticCustomError: already a sentence for people
        return msg
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind == "literal_error":
        return "must be " + str(ctx.get("expected", "")).replace("'", '"')
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}"
    if kind == "greater_than":
        return f"must be greater than {ctx.get('gt')}"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}"
    if kind == "less_than":
        return f"must be less than {ctx.get('lt')}"
    if kind == "too_short":
        minimum = ctx.get("min_length", 1)
        return "must not be empty" if minimum == 1 else f"must have at least {minimum} entries"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} entries"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    return msg[:1].lower() + msg[1:]


def _field_names_at(root: type[BaseModel], loc: Loc) -> list[str]:
    """The field names (aliases) of the model found at `loc`, for a did-you-mean on an unknown field."""
    annotation: Any = root
    for part in loc:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = next(
                (f for name, f in annotation.model_fields.items() if (f.alias or name) == part),
                None,
            )
            if field is None:
                return []
            annotation = field.annotation
        elif typing.get_origin(annotation) in (dict, tuple, list):
            args = typing.get_args(annotation)
            annotation = args[-1] if typing.get_origin(annotation) is dict else args[0]
        else:
            return []
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [field.alias or name for name, field in annotation.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    """`X | None` → X, `Annotated[X, ...]` → X."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation
