"""Order-list arguments in tests: one leg changed without writing the whole list again."""

from __future__ import annotations

from typing import Any


def with_leg(arguments: dict[str, Any], *indices: int, **changes: Any) -> dict[str, Any]:
    """`arguments` with the legs at `indices` (every leg when none is named) changed: a value of
    None leaves that argument out."""
    legs = [dict(leg) for leg in arguments["legs"]]
    for index in indices or range(len(legs)):
        for name, value in changes.items():
            if value is None:
                legs[index].pop(name, None)
            else:
                legs[index][name] = value
    return arguments | {"legs": legs}
