"""Deciding what a call to a tool may do, from a policy, with one dictionary lookup per call.

The tool list is fixed and a `Policy` is immutable, so the engine works out every decision for
every (agent, network, tool) once, in its constructor; `decide` then costs a few hundred
nanoseconds whatever the number of rules and globs. How a rule is found, at each level (the
agent's rules, then the top-level rules): the exact name; for place_order_list and amend_order
without a rule of their own exact name, place_order's rule at that level, exact or glob
(`TAKES_RULE_OF`); then the
longest matching glob (of equally long globs the first written). Agent rules layer over the
top-level rules: when both levels have a rule, both apply (a deny or a network refusal from
either denies, approval from either asks, every constraint set and rate limit of both holds),
and where the top level has none the agent's rule alone decides; without any rule, `default`.
Hiding is decided here too (a hidden tool is denied, `hidden=True`), so a single `Decision`
tells the guard everything the policy says about a call before its arguments are seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Any

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
from binance_mcp.tools.names import (
    DRY_RUN_REFUSED,
    ORDER_TOOLS,
    SYMBOL_TOOLS,
    TAKES_RULE_OF,
    TOOL_NAMES,
    TOOL_RISK,
)
from binance_mcp.valuation import DEFAULT_MARKET_ALLOWANCE_PCT

__all__ = [
    "DEFAULT_APPROVERS",
    "TRANSPORTS",
    "Bounds",
    "Budget",
    "Decision",
    "ExplainRow",
    "PolicyEngine",
    "RuleLimit",
]

DEFAULT_APPROVAL_TTL = 600

TRANSPORTS: tuple[str, ...] = ("stdio", "http")
DEFAULT_APPROVERS: dict[str, frozenset[str]] = {
    # Over stdio the client is the user's own application: asking in it reaches the user.
    "stdio": frozenset({"elicitation", "operator"}),
    # Over HTTP the MCP client is the agent's own code: only a human out of band can approve.
    "http": frozenset({"operator"}),
}


@dataclass(frozen=True, slots=True)
class RuleLimit:
    """One rule's rate limit as it applies to a call: `tools` are every tool this rule's limit
    counts for this agent (a glob's, or place_order's shared with the tools that take its rule),
    each counted on its own and the limit checked against their sum."""

    rate_limit: RateLimit
    path: str
    """`rules.place_*.rate_limit`."""
    tools: tuple[str, ...] = ()

    @property
    def shared(self) -> bool:
        return len(self.tools) > 1


@dataclass(frozen=True, slots=True)
class Bounds:
    """One rule's constraints as they apply to a tool, with the rule's path (`rules.place_order`)."""

    constraints: Constraints
    path: str

    def path_of(self, field: str) -> str:
        return f"{self.path}.constraints.{field}"


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
    """The networks every deciding rule allows (None: every network)."""
    limits: tuple[RuleLimit, ...] = ()
    """Every rate limit that holds on this call (the agent's rule's and the top-level rule's)."""
    bounds: tuple[Bounds, ...] = ()
    """Every constraint set that holds on this call, each checked on its own (the stricter wins)."""
    inherited_from: str | None = None
    """`place_order` when this tool has no rule of its own and takes place_order's."""
    rules: tuple[str, ...] = ()
    """The paths of every rule that decided (two when an agent rule layers over a top-level one)."""

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
        """The place of one bound, e.g. `rules.place_order.constraints.max_notional`: of layered
        rules, the one whose bound is the stricter (the smaller maximum; for a list, the first)."""
        setting = [b for b in self.bounds if getattr(b.constraints, field, None) is not None]
        if not setting:
            return f"{self.rule_path}.constraints.{field}"
        if field.startswith("max_"):
            return min(setting, key=lambda b: getattr(b.constraints, field)).path_of(field)
        return setting[0].path_of(field)

    @property
    def dry_run_refused(self) -> bool:
        """Under dry run this tool has no way to run without changing the account: refused."""
        return self.tool in DRY_RUN_REFUSED


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

    def lookup(self, tool: str) -> list[tuple[str, Rule, str | None]]:
        """The rules of this level that hold on `tool`, as (key, rule, inherited from): the exact
        name's; else, for a tool that takes place_order's rule, place_order's rule at this level
        (its exact rule, else its longest glob), on top of the longest glob matching the tool;
        else that glob."""
        rule = self.exact.get(tool)
        if rule is not None:
            return [(tool, rule, None)]
        found: list[tuple[str, Rule, str | None]] = []
        own_glob = next(((key, rule) for key, rule in self.globs if fnmatchcase(tool, key)), None)
        source = TAKES_RULE_OF.get(tool)
        if source is not None:
            # place_order's rule at this level: its exact one, else the glob it falls under
            # (`*_order`, `place_*`), unless that glob is this tool's own glob too
            if source in self.exact:
                found.append((source, self.exact[source], source))
            else:
                theirs = next(((key, rule) for key, rule in self.globs if fnmatchcase(source, key)), None)
                if theirs is not None and theirs != own_glob:
                    found.append((theirs[0], theirs[1], source))
        if own_glob is not None:
            found.append((own_glob[0], own_glob[1], None))
        return found


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

    @property
    def max_pending_per_agent(self) -> int:
        """Requests waiting for a human one agent may have open at once (`approvals.max_pending_per_agent`)."""
        return self.policy.approvals.max_pending_per_agent

    @property
    def notify_every(self) -> int:
        """Seconds between two notification posts about one agent's requests (`approvals.notify_every`)."""
        return self.policy.approvals.notify_every

    def weight_share(self, agent: str | None) -> tuple[int, str] | None:
        """The agent's share of the exchange's request weight per minute, in percent, and the
        policy path that sets it (the agent's own `max_weight_share_pct`, else the top level's);
        None when the policy sets none."""
        entry = self.policy.agents.get(agent) if agent is not None else None
        if entry is not None and entry.max_weight_share_pct is not None:
            return entry.max_weight_share_pct, f"agents.{agent}.max_weight_share_pct"
        if self.policy.max_weight_share_pct is not None:
            return self.policy.max_weight_share_pct, "max_weight_share_pct"
        return None

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
        table: dict[str, dict[str, Decision]] = {}
        for network in NETWORKS:
            decisions = {
                tool: self._decide(tool, network, agent, top_hidden, own_hidden, tables)
                for tool in TOOL_NAMES
            }
            table[network] = _with_shared_limits(decisions)
        return table

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
        found = [
            (f"{table.prefix}.{key}", rule, inherited)
            for table in tables
            for key, rule, inherited in table.lookup(tool)
        ]
        # place_order's rule holds on a tool that takes it, on top of what applies otherwise: a
        # glob's rule, or the default (a default deny still denies it)
        if any(inherited is None for _path, _rule, inherited in found):
            return _from_rules(tool, network, found)
        if self.policy.default == "deny":
            reason = f"no rule allows {tool} and the policy's default is deny"
            return Decision(tool, network, "deny", "default", reason)
        if found:
            return _from_rules(tool, network, found)
        return Decision(tool, network, "allow", "default")


def _with_shared_limits(decisions: dict[str, Decision]) -> dict[str, Decision]:
    """Each rate limit with the tools it counts: every tool whose decision carries that rule's limit."""
    sharing: dict[str, list[str]] = {}
    for tool, decision in decisions.items():
        if decision.action != "deny":
            for limit in decision.limits:
                sharing.setdefault(limit.path, []).append(tool)
    return {
        tool: replace(
            decision,
            limits=tuple(
                replace(limit, tools=tuple(sharing.get(limit.path, [tool]))) for limit in decision.limits
            ),
        )
        if decision.limits
        else decision
        for tool, decision in decisions.items()
    }


Found = tuple[str, Rule, str | None]
"""A rule that applies to a tool: its path, the rule, and the tool it was written for when the
tool takes another's rule (`place_order`), else None."""


def _from_rules(tool: str, network: str, found: list[Found]) -> Decision:
    """The decision of one or two layered rules (the agent's, then the top level's)."""
    paths = tuple(path for path, _rule, _source in found)
    inherited = next((source for _path, _rule, source in found if source is not None), None)
    for path, rule, _source in found:
        if rule.networks is not None and network not in rule.networks:
            reason = f"{tool} may run only on {_words(rule.networks)}, not on {network}"
            return Decision(
                tool,
                network,
                "deny",
                f"{path}.networks",
                reason,
                rule=rule,
                networks=rule.networks,
                rules=paths,
            )
    for path, rule, _source in found:
        if rule.action == "deny":
            reason = rule.reason or f"the policy denies {tool}"
            return Decision(
                tool, network, "deny", path, reason, rule=rule, inherited_from=inherited, rules=paths
            )
    asking = [(path, rule) for path, rule, _source in found if rule.action == "require_approval"]
    path, rule = asking[0] if asking else (found[0][0], found[0][1])
    action: Action = "require_approval" if asking else "allow"
    because: str | None = rule.reason
    if action == "require_approval":
        because = rule.reason or f"{tool} needs a human's approval"
    for_orders = tool in ORDER_TOOLS
    bounds = tuple(
        Bounds(applied, found_path)
        for found_path, found_rule, _source in found
        if (applied := _applicable(tool, found_rule.constraints)) is not None
    )
    approve_above, approve_path = None, None
    if for_orders and action == "allow":
        for found_path, found_rule, _source in found:
            bound = found_rule.approve_above_notional
            if bound is not None and (approve_above is None or bound < approve_above):
                approve_above, approve_path = bound, f"{found_path}.approve_above_notional"
    limits = tuple(
        RuleLimit(found_rule.rate_limit, f"{found_path}.rate_limit")
        for found_path, found_rule, _source in found
        if found_rule.rate_limit is not None
    )
    networks = _common_networks([found_rule.networks for _p, found_rule, _s in found])
    # a rule's dry_run holds on every tool of it that changes the account: a glob such as "*"
    # with dry_run keeps cancels and amends from running too (they are refused, as under --dry-run)
    takes_dry_run = for_orders or tool in TAKES_RULE_OF or tool in DRY_RUN_REFUSED
    return Decision(
        tool,
        network,
        action,
        path,
        because,
        rule=rule,
        rate_limit=limits[0].rate_limit if limits else None,
        rate_limit_path=limits[0].path if limits else None,
        constraints=_merged([b.constraints for b in bounds]),
        constraints_path=" + ".join(f"{b.path}.constraints" for b in bounds) or None,
        approve_above_notional=approve_above,
        approve_above_notional_path=approve_path,
        approval_ttl=min(
            r.approval_ttl
            for r in [r for _p, r, _s in found if r.action == "require_approval" or r.approve_above_notional]
            or [rule]
        ),
        dry_run=takes_dry_run and any(found_rule.dry_run for _p, found_rule, _s in found),
        networks=networks,
        limits=limits,
        bounds=bounds,
        inherited_from=inherited,
        rules=paths,
    )


def _applicable(tool: str, constraints: Constraints | None) -> Constraints | None:
    """The bounds of a rule that mean something for this tool: all of them for a tool that places
    orders, `symbols` for a tool that takes a symbol (amend_order included: a decrease keeps the
    order's side, type and price), None where nothing applies."""
    if constraints is None or tool in ORDER_TOOLS:
        return constraints
    symbols = constraints.symbols if tool in SYMBOL_TOOLS else None
    return Constraints(symbols=symbols) if symbols is not None else None


def _common_networks(lists: list[tuple[str, ...] | None]) -> tuple[str, ...] | None:
    given = [networks for networks in lists if networks is not None]
    if not given:
        return None
    return tuple(network for network in given[0] if all(network in other for other in given[1:]))


def _merged(sets: list[Constraints]) -> Constraints | None:
    """Several constraint sets as one (each is still checked on its own; the valuation uses this
    one's market_allowance_pct): lists intersected, every maximum the smaller, the larger market
    allowance, and uncapped orders refused when either set refuses them."""
    if not sets:
        return None
    if len(sets) == 1:
        return sets[0]
    values: dict[str, Any] = {}
    for field in Constraints.model_fields:
        given = [getattr(c, field) for c in sets if getattr(c, field) is not None]
        if not given:
            continue
        if field == "market_allowance_pct":
            # the larger allowance values an uncapped order higher, so it is the stricter; a set
            # that leaves it out means the default
            values[field] = max(
                DEFAULT_MARKET_ALLOWANCE_PCT if c.market_allowance_pct is None else c.market_allowance_pct
                for c in sets
            )
        elif field == "uncapped_orders":
            values[field] = "refuse" if "refuse" in given else "estimate"
        elif isinstance(given[0], tuple):
            values[field] = tuple(v for v in given[0] if all(v in other for other in given[1:]))
        else:
            values[field] = min(given)
    return Constraints.model_construct(**values)
