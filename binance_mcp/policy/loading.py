"""Reading policy text and turning every problem into one readable line that names its place.

A policy file is read as JSON with every number kept as its literal text (`parse_float=Decimal`,
so `0.1` is exactly 0.1, never a float) and with duplicate keys refused (the JSON module would
silently keep the last). Pydantic's errors are rewritten as `place: problem` lines, such as
`rules.place_order.constraints.max_notional: not a decimal`, because a validation library's dump
is not something a person should have to read. This module knows nothing of the policy's fields;
`model.py` uses it.
"""

from __future__ import annotations

import json
import types
import typing
import unicodedata
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, NamedTuple

from pydantic import BaseModel, ValidationError

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


def read_json(text: str, source: str = "<policy>") -> tuple[Any, list[Problem]]:
    """Parse policy text exactly; a syntax error raises PolicyError, duplicate keys are problems."""
    try:
        data = json.loads(
            text,
            parse_float=Decimal,
            parse_constant=Decimal,  # NaN and Infinity: rejected later as "not a decimal"
            object_pairs_hook=_object_from_pairs,
        )
    except json.JSONDecodeError as exc:
        raise PolicyError(
            [f"line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg})"], source
        ) from None
    if not isinstance(data, dict):
        raise PolicyError(["(top): a policy is a JSON object, {...}"], source)
    return data, list(_duplicate_keys(data, ()))


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
    key) are shown escaped, so that every error stays one line."""
    return "".join(json.dumps(c)[1:-1] if unicodedata.category(c) in ("Cc", "Cf") else c for c in text)


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
        problems.append(Problem(loc, _message(kind, error["msg"], ctx)))
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
