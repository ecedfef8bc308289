"""The account's epoch: what a call's decision read, as versions, so dispatch knows whether to decide again.

A call is screened (validated, decided, perhaps approved) before it takes the account lock, and
sent under it. Between the two, another call (in this process, another process on the same state
dir, or another replica on the same PostgreSQL) may have placed, cancelled or amended an order of
the account and reserved or given back budget, or the policy may have been reloaded. The epoch
names that state explicitly; it is read before anything the decision depends on, kept in the
`Validated` value, and read again at dispatch under the lock: when it differs, the call is
decided again with what is true now (`dispatch.decide_again`). No timing is guessed.

- `policy`: the generation of this process's policy in force (`PolicyInForce.install` bumps it):
  a reload, an agent's rules included, is a new generation. Each process decides by its own policy;
  under `--watch` it first looks at the file (`PolicyInForce.catch_up`), so a policy saved before
  the epoch is read is in force for the decision, in every process, whatever the poll's phase.
- `latest_change`, `in_flight`: from the shared audit log (`AuditLog.account_changes`). Every
  call that changes the account (orders, lists, cancels, amends, not dry runs) writes its `pending`
  record, durable, under the lock, before its request leaves, and that record gets its outcome
  after. So the id of the account's latest such record moves whenever an order may have changed,
  and in the same commit as the record itself, on whichever store the state lives (SQLite or
  PostgreSQL); the budget moves only with those calls (reserved before, settled after). A call
  screened while a change was in flight (`in_flight` > 0, or a dead process's record awaiting
  recovery) read a state in motion: it is always decided again.

What the epoch does not carry, because dispatch checks it itself every time under the lock: an
operator's approval (spent atomically, or refused when used or withdrawn), and the caller's token
(looked up again before the send: a revoked token sends nothing). At the send itself, right before
the request leaves, dispatch checks the token and this epoch's `policy` generation once more
(`dispatch.check_authority`), with the lock's fence: a revoke or a reload in between sends nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from binance_mcp.tools.names import TOOL_RISK, Risk

CHANGING_TOOLS = tuple(
    sorted(name for name, risk in TOOL_RISK.items() if risk in (Risk.FINANCIAL, Risk.DESTRUCTIVE))
)
"""The tools whose calls change the account (their pending records move the epoch)."""

if TYPE_CHECKING:
    from binance_mcp.guard.services import Services


@dataclass(frozen=True)
class Epoch:
    policy: int
    """The generation of the policy in force in this process."""
    latest_change: int
    """The id of the account's latest audit record that began `pending` (0: none yet)."""
    in_flight: int
    """The account's records still `pending`: a change under way, or left for recovery."""

    @property
    def settled(self) -> bool:
        """No change of the account was under way when this was read."""
        return self.in_flight == 0

    def still(self, now: Epoch) -> bool:
        """Whether a decision taken at this epoch still holds at `now`: nothing it read moved."""
        return self.settled and now == self


async def read_epoch(services: Services) -> Epoch:
    """The epoch now. Read through the audit writer, so every record this process queued before
    is committed and counted."""
    await services.policy.catch_up()  # `--watch`: a policy saved by now is the one in force
    policy = services.policy.generation  # before anything else the decision reads
    account = services.account
    latest, in_flight = await services.audit.read(
        lambda store: store.account_changes(account, CHANGING_TOOLS)
    )
    return Epoch(policy=policy, latest_change=latest, in_flight=in_flight)
