"""API keys: present for the tools that need them, and on mainnet unable to withdraw.

Both are checked while validating a call, before any human is asked about it. The withdrawal
check asks Binance once (`binance_mcp.keysafety`); a definite answer is kept for the life of the
process, a failed check is tried again at the next call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from binance_mcp.config import Network
from binance_mcp.guard.failures import missing_keys
from binance_mcp.refusals import Refusal, RefusalKind

if TYPE_CHECKING:
    from binance_mcp.exchange.client import ExchangeClient
    from binance_mcp.tools.spec import ToolSpec


class KeyCheck:
    def __init__(self, exchange: ExchangeClient, network: Network, *, allow_withdrawal_keys: bool) -> None:
        self._exchange = exchange
        self._network = network
        self._skip_withdrawal_check = network is not Network.MAINNET or allow_withdrawal_keys
        self._verdict: str | None = None  # "" once the keys were found fine

    async def check(self, spec: ToolSpec) -> None:
        if not spec.needs_credentials:
            return
        if not self._exchange.has_credentials:
            raise missing_keys(spec.name)
        if self._skip_withdrawal_check:
            return
        if self._verdict is None:
            from binance_mcp.keysafety import withdrawal_refusal

            refusal = await withdrawal_refusal(self._exchange, self._network.value)
            if refusal is None:
                self._verdict = ""
                return
            if "could not be checked" not in refusal:
                self._verdict = refusal
            raise Refusal(RefusalKind.POLICY_DENIED, refusal)
        if self._verdict:
            raise Refusal(RefusalKind.POLICY_DENIED, self._verdict)
