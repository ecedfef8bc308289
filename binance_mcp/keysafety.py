"""Key safety: on mainnet, API keys that can withdraw are refused for every credentialed tool.

An agent that can trade can lose money; an agent whose keys can withdraw can move it off the
exchange. Binance tells what a key may do at `GET /sapi/v1/account/apiRestrictions`; the guard
asks once, at the first credentialed call on mainnet, and refuses every credentialed call with
`withdrawal_refusal`'s sentence unless the server was started with `--allow-withdrawal-keys`.
Testnet and demo have no `/sapi` and no withdrawals: nothing is asked there. A check that fails
(an exchange error, an answer without the field) refuses too: the guard fails closed.
`binance-mcp doctor` reads the same answer through `withdrawal_problem`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from binance_mcp.exchange.errors import ExchangeFailure, MissingCredentials

__all__ = [
    "WITHDRAWAL_KEYS_REFUSED",
    "PermissionsSource",
    "unchecked_sentence",
    "withdrawal_problem",
    "withdrawal_refusal",
]

WITHDRAWAL_KEYS_REFUSED = (
    "these API keys can withdraw funds; binance-mcp refuses withdrawal-enabled keys on mainnet so that "
    "no agent can ever move money off the exchange. Create a key without withdrawals, or start with "
    "--allow-withdrawal-keys"
)


class PermissionsSource(Protocol):
    """What this check needs of the exchange layer (`ExchangeClient` has it)."""

    async def get_api_restrictions(self) -> dict[str, Any]: ...


def unchecked_sentence(detail: str) -> str:
    """The refusal when the permissions could not be read: `detail` says what went wrong."""
    return (
        f"the API keys' permissions could not be checked ({detail}); binance-mcp refuses credentialed "
        "calls on mainnet until it knows the keys cannot withdraw funds"
    )


def withdrawal_problem(restrictions: Mapping[str, Any]) -> str | None:
    """From an apiRestrictions answer: the refusal sentence if the keys can withdraw, or cannot be
    shown not to (the field missing or not a boolean); None when withdrawals are off."""
    enabled = restrictions.get("enableWithdrawals")
    if enabled is False:
        return None
    if enabled is True:
        return WITHDRAWAL_KEYS_REFUSED
    return unchecked_sentence("Binance's answer did not say whether withdrawals are enabled")


async def withdrawal_refusal(exchange: PermissionsSource, network: str) -> str | None:
    """A sentence refusing the keys, or None when they may be used.

    Mainnet only: asks `GET /sapi/v1/account/apiRestrictions` and refuses keys with withdrawals
    enabled, or whose permissions could not be read (fail closed). On testnet and demo it returns
    None without any request. Without keys it returns None: nothing can withdraw, and the tool's
    own "needs Binance API keys" refusal says more.
    """
    if str(network) != "mainnet":
        return None
    try:
        restrictions = await exchange.get_api_restrictions()
    except MissingCredentials:
        return None
    except ExchangeFailure as exc:
        return unchecked_sentence(exc.sentence())
    except Exception as exc:  # anything else: still refuse, never let it through unchecked
        return unchecked_sentence(f"unexpected {type(exc).__name__}")
    if not isinstance(restrictions, Mapping):
        return unchecked_sentence("Binance's answer was not an object")
    return withdrawal_problem(restrictions)
