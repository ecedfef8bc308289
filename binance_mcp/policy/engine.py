"""Deciding what a call to a tool may do, from a policy, with one dictionary lookup per call.

The tool list is fixed and a `Policy` is immutable, so the engine works out every decision for
every (agent, network, tool) once, in its constructor; `decide` then costs a few hundred
nanoseconds whatever the number of rules and globs. Precedence, as README *Policies* says: the agent's own
rules (the exact name, then the longest matching glob, of equally long globs the first written),
then the top-level rules the same way, then `default`. A rule whose `networks` leave out the
current network denies. Hiding is decided here too (a hidden tool is denied, `hidden=True`), so a
single `Decision` tells the guard everything the policy says about a call before its arguments are
seen: the rate limit, the constraints, approval and dry run, each with its path for refusals.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fnmatch import fnmatchcase

from binance_mcp.policy.model import (
    NETWORKS,
    Action,
    Constraints,
    Policy,
    RateLimit,
    Rule,
    is_glob,
    tools_matching,
)
from binance_mcp.tools.names import ORDER_TOOLS, SYMBOL_TOOLS, TOOL_NAMES, TOOL_RISK

__all__ = ["DEFAULT_APPROVERS", "TRANSPORTS", "Budget", "Decision", "ExplainRow", "PolicyEngine"]

DEFAULT_APPROVAL_TTL = 600

TRANSPORTS: tuple[str, ...] = ("stdio", "http")
DEFAULT_APPROVERS: dict[str, frozenset[str]] = {
    # Over stdio the client is the user's own application: asking in it reaches the user.
    "stdio": frozenset({"elicitation", "operator"}),
    # Over HTTP the MCP client is the agent's own code: only a human out of band can approve.
    "http": frozenset({"operator"}),
}


@dataclass(frozen=True, slots=True)
class Decision:
    """What the policy says about one tool, for one agent, on one network.

    `action` is final for `deny`; for `allow` and `require_approval` the guard still applies the
    rate limit, the constraints, `approve_above_notional` and budgets. Every `*_path` is the place
    in the policy to name in a refusal (`rule` in README *Refusals and errors*).
    """

    tool: str
    network: str
    action: Action
    rule_path: str
    """`rules.cancel_order`, `rules.get_*`, `agents.bob.rules.place_order`, `default`,
    `rules.place_order.networks` (a network refusal), `hide` or `agents.bob.hide` (hidden)."""
    reason: str | None = None
    """For a deny or approval: a sentence for the agent (the rule's own reason where it gives one)."""
    rule: Rule | None = None
    hidden: bool = False
    rate_limit: RateLimit | None = None
    rate_limit_path: str | None = None
    constraints: Constraints | None = None
    """Only the bounds that apply to this tool: all of them for place_order, `symbols` for a tool
    that takes a symbol, None where nothing applies."""
    constraints_path: str | None = None
    approve_above_notional: Decimal | None = None
    approve_above_notional_path: str | None = None
    approval_ttl: int = DEFAULT_APPROVAL_TTL
    dry_run: bool = False
    networks: tuple[str, ...] | None = None
    """The deciding rule's networks (None: every network)."""

    @property
    def allowed(self) -> bool:
        return self.action == "allow"

    @property
    def denied(self) -> bool:
        return self.action == "deny"

    @property
    def needs_approval(self) -> bool:
        """Every call needs a human's approval (`approve_above_notional` is decided per order)."""
        return self.action == "require_approval"

    def constraint_path(self, field: str) -> str:
        """The place of one bound, e.g. `rules.place_order.constraints.max_notional`."""
        return f"{self.constraints_path or self.rule_path + '.constraints'}.{field}"


@dataclass(frozen=True, slots=True)
class Budget:
    """A daily notional budget for one quote asset (per network and UTC day, kept by the guard)."""

    asset: str
    daily_notional: Decimal
    path: str
    """e.g. `budgets.daily_notional.USDT`."""


@dataclass(frozen=True, slots=True)
class ExplainRow:
    """One line of `policy explain`: what one tool may do."""

    tool: str
    risk: str
    visible: bool
    action: Action
    rule_path: str
    reason: str | None
    rate_limit: RateLimit | None
    approval: str | None
    """None, `"every call"`, or `"above <notional>"`."""
    dry_run: bool
    networks: tuple[str, ...] | None
    constraints: Constraints | None
    decision: Decision


class _RuleTable:
    """One level of rules (an agent's or the top level's), ready for lookups."""

    def __init__(self, rules: Mapping[str, Rule], prefix: str) -> None:
        self.prefix = prefix
        self.exact = {key: rule for key, rule in rules.items() if not is_glob(key)}
        ordered = sorted(
            enumerate(key for key in rules if is_glob(key)), key=lambda item: (-len(item[1]), item[0])
        )
        self.globs = [(key, rules[key]) for _, key in ordered]

    def lookup(self, tool: str) -> tuple[str, Rule] | None:
        rule = self.exact.get(tool)
        if rule is not None:
            return tool, rule
        for key, rule in self.globs:
            if fnmatchcase(tool, key):
                return key, rule
        return None


def _hidden_by(entries: Iterable[str]) -> frozenset[str]:
    return frozenset(tool for entry in entries for tool in tools_matching(entry))


def _words(items: Iterable[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


class PolicyEngine:
    """Decisions and hidden tools for a policy, all computed when the engine is made."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        top = _RuleTable(policy.rules, "rules")
        top_hidden = _hidden_by(policy.hide)
        self._hidden: dict[str | None, frozenset[str]] = {None: top_hidden}
        self._decisions: dict[str | None, dict[str, dict[str, Decision]]] = {
            None: self._table(None, top_hidden, frozenset(), (top,))
        }
        for name, agent in policy.agents.items():
            own_hidden = _hidden_by(agent.hide) - top_hidden
            self._hidden[name] = top_hidden | own_hidden
            tables = (_RuleTable(agent.rules, f"agents.{name}.rules"), top)
            self._decisions[name] = self._table(name, top_hidden, own_hidden, tables)
        self._budgets = {
            asset: Budget(asset, amount, f"budgets.daily_notional.{asset}")
            for asset, amount in policy.budgets.daily_notional.items()
        }

    # ----------------------------------------------------------------------- asking

    @property
    def agent_names(self) -> tuple[str, ...]:
        """The agents the policy names (an agent it does not name gets the top-level decisions)."""
        return tuple(self.policy.agents)

    def hidden_tools(self, agent: str | None = None) -> frozenset[str]:
        """The tools this agent does not see: the top-level hide plus the agent's own."""
        hidden = self._hidden.get(agent)
        return self._hidden[None] if hidden is None else hidden

    def is_hidden(self, tool: str, agent: str | None = None) -> bool:
        return tool in self.hidden_tools(agent)

    def visible_tools(self, agent: str | None = None) -> tuple[str, ...]:
        """The tools for tools/list, in the tool list's order."""
        hidden = self.hidden_tools(agent)
        return tuple(tool for tool in TOOL_NAMES if tool not in hidden)

    def decide(self, tool: str, agent: str | None, network: str) -> Decision:
        """The policy's decision for a call; a tool or network that does not exist raises ValueError."""
        by_network = self._decisions.get(agent)
        if by_network is None:
            by_network = self._decisions[None]
        try:
            return by_network[network][tool]
        except KeyError:
            if network not in NETWORKS:
                raise ValueError(f"unknown network {network!r}") from None
            raise ValueError(f"unknown tool {tool!r}") from None

    def budget(self, quote_asset: str) -> Budget | None:
        """The daily notional budget for a quote asset, or None when that asset is not limited."""
        return self._budgets.get(quote_asset)

    def approvers(self, agent: str | None, transport: str) -> frozenset[str]:
        """Who may approve this agent's calls on this transport (`stdio` or `http`): a subset of
        {"elicitation", "operator"}. The agent's own `approvals.via` wins, then the top-level
        `approvals.via`, then the default: both over stdio, `operator` only over HTTP."""
        return self.approvers_with_source(agent, transport)[0]

    def approvers_with_source(self, agent: str | None, transport: str) -> tuple[frozenset[str], str]:
        """`approvers` and the place in the policy that decided it (`default` when none did)."""
        if transport not in DEFAULT_APPROVERS:
            raise ValueError(f"unknown transport {transport!r}; use stdio or http")
        entry = self.policy.agents.get(agent) if agent is not None else None
        if entry is not None and entry.approvals is not None:
            return frozenset(entry.approvals.via), f"agents.{agent}.approvals.via"
        if self.policy.approvals.via is not None:
            return frozenset(self.policy.approvals.via), "approvals.via"
        return DEFAULT_APPROVERS[transport], "default"

    @property
    def pending_ttl(self) -> int:
        """Seconds a request for approval waits for a human (`approvals.pending_ttl`)."""
        return self.policy.approvals.pending_ttl

    @property
    def notify_url(self) -> str | None:
        """Where a request that starts waiting is announced (`approvals.notify`), or None."""
        return self.policy.approvals.notify

    def explain(self, network: str, agent: str | None = None) -> list[ExplainRow]:
        """What each tool may do on a network, for `policy explain`."""
        rows = []
        for tool in TOOL_NAMES:
            decision = self.decide(tool, agent, network)
            if decision.needs_approval:
                approval: str | None = "every call"
            elif decision.approve_above_notional is not None and decision.allowed:
                approval = f"above {decision.approve_above_notional}"
            else:
                approval = None
            rows.append(
                ExplainRow(
                    tool=tool,
                    risk=TOOL_RISK[tool].value,
                    visible=not decision.hidden,
                    action=decision.action,
                    rule_path=decision.rule_path,
                    reason=decision.reason,
                    rate_limit=decision.rate_limit,
                    approval=approval,
                    dry_run=decision.dry_run,
                    networks=decision.networks,
                    constraints=decision.constraints,
                    decision=decision,
                )
            )
        return rows

    # ----------------------------------------------------------------------- working it out

    def _table(
        self,
        agent: str | None,
        top_hidden: frozenset[str],
        own_hidden: frozenset[str],
        tables: tuple[_RuleTable, ...],
    ) -> dict[str, dict[str, Decision]]:
        return {
            network: {
                tool: self._decide(tool, network, agent, top_hidden, own_hidden, tables)
                for tool in TOOL_NAMES
            }
            for network in NETWORKS
        }

    def _decide(
        self,
        tool: str,
        network: str,
        agent: str | None,
        top_hidden: frozenset[str],
        own_hidden: frozenset[str],
        tables: tuple[_RuleTable, ...],
    ) -> Decision:
        if tool in top_hidden or tool in own_hidden:
            path = "hide" if tool in top_hidden else f"agents.{agent}.hide"
            return Decision(tool, network, "deny", path, f"{tool} is hidden by the policy", hidden=True)
        for table in tables:
            found = table.lookup(tool)
            if found is not None:
                key, rule = found
                return _from_rule(tool, network, f"{table.prefix}.{key}", rule)
        if self.policy.default == "allow":
            return Decision(tool, network, "allow", "default")
        reason = f"no rule allows {tool} and the policy's default is deny"
        return Decision(tool, network, "deny", "default", reason)


def _from_rule(tool: str, network: str, path: str, rule: Rule) -> Decision:
    if rule.networks is not None and network not in rule.networks:
        reason = f"{tool} may run only on {_words(rule.networks)}, not on {network}"
        return Decision(tool, network, "deny", f"{path}.networks", reason, rule=rule, networks=rule.networks)
    if rule.action == "deny":
        reason = rule.reason or f"the policy denies {tool}"
        return Decision(tool, network, "deny", path, reason, rule=rule)
    allowed_because: str | None = rule.reason
    if rule.action == "require_approval":
        allowed_because = rule.reason or f"{tool} needs a human's approval"
    for_orders = tool in ORDER_TOOLS
    constraints = rule.constraints
    if constraints is not None and not for_orders:
        symbols = constraints.symbols if tool in SYMBOL_TOOLS else None
        constraints = Constraints(symbols=symbols) if symbols is not None else None
    approve_above = rule.approve_above_notional if for_orders and rule.action == "allow" else None
    return Decision(
        tool,
        network,
        rule.action,
        path,
        allowed_because,
        rule=rule,
        rate_limit=rule.rate_limit,
        rate_limit_path=f"{path}.rate_limit" if rule.rate_limit is not None else None,
        constraints=constraints,
        constraints_path=f"{path}.constraints" if constraints is not None else None,
        approve_above_notional=approve_above,
        approve_above_notional_path=f"{path}.approve_above_notional" if approve_above is not None else None,
        approval_ttl=rule.approval_ttl,
        dry_run=rule.dry_run and for_orders,
        networks=rule.networks,
    )
