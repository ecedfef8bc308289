"""The policies shipped inside the package, found by name: `--policy read-only`, `policy list`.

After `pip install .` the files live in site-packages, where nobody looks; so a bundled policy
is also accepted by its name (with or without `.json`), `binance-mcp policy list` names each
with what it is for, and a `--policy` that names no file says where they are. Nothing here
imports the policy model: the server's start-up stays fast.
"""

from __future__ import annotations

from pathlib import Path

BUNDLED_DIR = Path(__file__).resolve().parent / "policies"
SCHEMA_FILE = "policy.schema.json"

# name → what it is for; in the order `policy list` shows them.
PURPOSES: dict[str, str] = {
    "default": (
        "used when no --policy is given: market and account reads allowed; every order and "
        "cancel needs a human's approval"
    ),
    "read-only": "market data and account reads only; the trading tools are hidden",
    "testnet-trader": (
        "trading on the testnet only, within limits: BTCUSDT/ETHUSDT, at most 1000 USDT an order "
        "(a human approves above 200), 5000 USDT a day, rate-limited; cancels allowed there"
    ),
    "policylayer-recommended": (
        "the PolicyLayer example this project started from, word for word: default deny with "
        "cancel_order hidden, so every tool is refused; a starting point to add allow rules to"
    ),
}


def bundled_policy(name: str) -> Path | None:
    """The bundled file `name` stands for (`read-only`, `read-only.json`), or None."""
    stem = name.strip().removesuffix(".json")
    if stem not in PURPOSES:
        return None
    path = BUNDLED_DIR / f"{stem}.json"
    return path if path.is_file() else None


def where_they_are() -> str:
    """The clause an error about a missing policy file ends with."""
    return f"the bundled policies ({', '.join(PURPOSES)}) are in {BUNDLED_DIR}; `binance-mcp policy list` describes them"
