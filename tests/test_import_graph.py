"""No import circle in the package (issue #14 item 6): layers call down.

Every import of every module counts, at the top, under `if TYPE_CHECKING:` and inside functions:
a circle that only the type checker or a lazy import sees is still two modules that cannot be
understood (or moved) one without the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import binance_mcp

PACKAGE = Path(binance_mcp.__file__).resolve().parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, name: str, modules: set[str]) -> set[str]:
    """The package's modules that `path` imports anywhere in its text."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            # `from pkg import mod` imports the module; `from mod import name` imports mod
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        found.update(target for target in targets if target in modules and target != name)
    # importing `pkg.sub.mod` runs `pkg/sub/__init__.py` first: the packages on the way count too
    # (except this module's own packages, which are already running when it is imported)
    for target in list(found):
        parts = target.split(".")
        for depth in range(2, len(parts)):
            parent = ".".join(parts[:depth])
            if parent in modules and parent != name and not name.startswith(f"{parent}."):
                found.add(parent)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    modules = set(paths)
    return {name: imports_of(path, name, modules) for name, path in paths.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_circle() -> None:
    assert circles(import_graph()) == []


def test_the_check_sees_a_circle_through_type_checking_imports() -> None:
    """The check itself: the circle this issue found (tools/spec ↔ guard/call, one side only under
    TYPE_CHECKING) is reported."""
    graph = import_graph()
    graph["binance_mcp.tools.spec"] |= {"binance_mcp.guard.call"}
    assert any(
        {"binance_mcp.guard.call", "binance_mcp.tools.spec"} <= set(circle) for circle in circles(graph)
    )


def test_the_check_sees_a_circle_through_a_package_init(tmp_path: Path) -> None:
    """Importing `binance_mcp.stores.sqlite` runs `binance_mcp/stores/__init__.py` first, so the
    package counts as imported: the rate counters once lived in `policy/ratelimit.py`, importing
    `stores.sqlite`, while `stores/__init__.py` imported them, a circle no module-to-module edge
    showed. A module's own packages are not counted (they are running when it is imported)."""
    modules = set(import_graph())
    below = tmp_path / "ratelimit.py"
    below.write_text("def counters():\n    from binance_mcp.stores.sqlite import SqliteDatabase\n")
    found = imports_of(below, "binance_mcp.policy.ratelimit", modules)
    assert found == {"binance_mcp.stores.sqlite", "binance_mcp.stores"}
    graph = import_graph()
    graph["binance_mcp.policy.ratelimit"] = found
    graph["binance_mcp.stores"] |= {"binance_mcp.policy.ratelimit"}
    assert ["binance_mcp.policy.ratelimit", "binance_mcp.stores"] in circles(graph)
    assert "binance_mcp.stores" not in import_graph()["binance_mcp.stores.ratelimit"]


def test_tools_and_the_guard_share_values_from_below_both() -> None:
    graph = import_graph()
    assert not {name for name in graph["binance_mcp.tools.spec"] if name.startswith("binance_mcp.guard")}
    assert "binance_mcp.market" in graph["binance_mcp.tools.spec"]
