"""The policy file's shape: strict pydantic models, and the functions that read a file into them.

Strict, because a policy that says something the guard would not do is worse than none: every
field is known, every tool name and glob must name a real tool, amounts are exact decimals (never
read through a float), and a rule that cannot mean anything (`approve_above_notional` on a deny
rule, `max_notional` on a tool that places no order) is an error naming its place. A `Policy`
is immutable once built; `engine.py` decides with it, `loading.py` turns text and errors into
readable lines.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from fnmatch import fnmatchcase
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictInt,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from binance_mcp.decimals import DecimalOutOfRange, DecimalTextError, parse_decimal
from binance_mcp.policy.loading import (
    PolicyError,
    Problem,
    decode_policy_text,
    format_problems,
    problems_from_validation,
    read_json,
    read_policy_bytes,
)
from binance_mcp.tools.names import ORDER_TOOLS, SYMBOL_TOOLS, TOOL_NAMES

__all__ = [
    "APPROVAL_ROUTES",
    "BUNDLED_POLICIES",
    "DEFAULT_MAX_PENDING_PER_AGENT",
    "DEFAULT_NOTIFY_EVERY",
    "DEFAULT_PENDING_TTL",
    "NETWORKS",
    "ORDER_ONLY_FIELDS",
    "Action",
    "AgentApprovals",
    "AgentPolicy",
    "ApprovalRoute",
    "Approvals",
    "Budgets",
    "Constraints",
    "DefaultAction",
    "Network",
    "OrderType",
    "Policy",
    "PolicyError",
    "RateLimit",
    "Rule",
    "Scope",
    "Side",
    "bundled_policy_path",
    "is_glob",
    "load_policy_file",
    "parse_policy",
    "policy_json_schema",
    "policy_notes",
    "tools_matching",
]

Action = Literal["allow", "deny", "require_approval"]
DefaultAction = Literal["allow", "deny"]
Network = Literal["testnet", "mainnet", "demo"]
Scope = Literal["session", "agent", "global"]
Side = Literal["BUY", "SELL"]
OrderType = Literal[
    "LIMIT", "MARKET", "LIMIT_MAKER", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"
]
ApprovalRoute = Literal["elicitation", "operator"]
"""Who may answer an approval: `elicitation` = the calling MCP client asks its user; `operator` = a
human through `binance-mcp approvals` or the approvals page."""

APPROVAL_ROUTES: tuple[str, ...] = ("elicitation", "operator")
DEFAULT_PENDING_TTL = 3600
DEFAULT_MAX_PENDING_PER_AGENT = 5
"""Requests waiting for a human that one agent may have open at once (`approvals.max_pending_per_agent`)."""
DEFAULT_NOTIFY_EVERY = 10
"""Seconds between two notification posts about one agent's requests (`approvals.notify_every`)."""
"""Seconds a request for approval waits for a human before it expires (`approvals.pending_ttl`)."""

NETWORKS: tuple[str, ...] = ("testnet", "mainnet", "demo")

ORDER_ONLY_FIELDS: tuple[str, ...] = ("approve_above_notional", "dry_run")
"""Rule fields that only mean something for place_order (besides the constraints other than symbols)."""

_ORDER_ONLY_CONSTRAINTS = (
    "sides",
    "order_types",
    "max_quantity",
    "max_notional",
    "max_price_deviation_pct",
    "max_open_orders",
    "market_allowance_pct",
    "uncapped_orders",
)

# --------------------------------------------------------------------------- tool names and globs

_GLOB_CHARS = frozenset("*?[")


def is_glob(pattern: str) -> bool:
    """Whether a rule key or hide entry is a glob (`get_*`) rather than a tool name."""
    return not _GLOB_CHARS.isdisjoint(pattern)


@lru_cache(maxsize=4096)
def tools_matching(pattern: str) -> tuple[str, ...]:
    """The tools a name or glob stands for, in the tool list's order (case-sensitive, like the names)."""
    if is_glob(pattern):
        return tuple(tool for tool in TOOL_NAMES if fnmatchcase(tool, pattern))
    return (pattern,) if pattern in TOOL_NAMES else ()


def _unknown_tool(name: str) -> str:
    from difflib import get_close_matches  # only when there is a typo to suggest for

    suggestion = get_close_matches(name, TOOL_NAMES, n=1, cutoff=0.6)
    if suggestion:
        return f"did you mean {suggestion[0]}?"
    return "the tools are " + ", ".join(TOOL_NAMES)


def _check_rule_key(key: str) -> str:
    if tools_matching(key):
        return key
    if is_glob(key):
        raise PydanticCustomError("policy", "matches no tool")
    raise PydanticCustomError("policy", "unknown tool; {hint}", {"hint": _unknown_tool(key)})


def _check_hide_entry(entry: str) -> str:
    if tools_matching(entry):
        return entry
    if is_glob(entry):
        raise PydanticCustomError("policy", '"{entry}" matches no tool', {"entry": entry})
    hint = _unknown_tool(entry)
    raise PydanticCustomError("policy", 'unknown tool "{entry}"; {hint}', {"entry": entry, "hint": hint})


_TOOL_PATTERN_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"enum": list(TOOL_NAMES)},
        {"type": "string", "pattern": r"[*?\[]", "description": "a glob such as get_* that matches a tool"},
    ]
}

RuleKey = Annotated[str, AfterValidator(_check_rule_key)]
HideEntry = Annotated[
    str,
    AfterValidator(_check_hide_entry),
    WithJsonSchema(
        {
            "anyOf": [
                {"enum": [*TOOL_NAMES, "*"]},
                {"type": "string", "pattern": r"[*?\[]", "description": "a glob such as cancel_* or *"},
            ]
        }
    ),
]

RENAMED_TOOLS: dict[str, str] = {}
"""Old tool name → its new name. A policy that names an old tool keeps loading (its rule or hide
entry moved to the new name) with a one-line deprecation from `policy_notes`; empty while no tool
has been renamed."""


def renamed_tools(data: Any) -> tuple[Any, list[str]]:
    """Raw policy data with every renamed tool's old name replaced by its new one (rule keys and
    hide entries, top level and agents'), and a deprecation line for each."""
    if not RENAMED_TOOLS or not isinstance(data, dict):
        return data, []
    notes: list[str] = []

    def move_rules(rules: Any, where: str) -> Any:
        if not isinstance(rules, dict):
            return rules
        moved: dict[Any, Any] = {}
        for key, rule in rules.items():
            new = RENAMED_TOOLS.get(key, key) if isinstance(key, str) else key
            if new != key:
                notes.append(f"{where}.{key}: {key} is now called {new}; rename the key (deprecated)")
            moved.setdefault(new, rule)
        return moved

    def move_hide(hide: Any, where: str) -> Any:
        if not isinstance(hide, list):
            return hide
        for entry in hide:
            if isinstance(entry, str) and entry in RENAMED_TOOLS:
                notes.append(f"{where}: {entry} is now called {RENAMED_TOOLS[entry]}; rename it (deprecated)")
        return [RENAMED_TOOLS.get(e, e) if isinstance(e, str) else e for e in hide]

    data = dict(data)
    if "rules" in data:
        data["rules"] = move_rules(data["rules"], "rules")
    if "hide" in data:
        data["hide"] = move_hide(data["hide"], "hide")
    agents = data.get("agents")
    if isinstance(agents, dict):
        data["agents"] = {
            name: (
                {
                    **agent,
                    **(
                        {"rules": move_rules(agent["rules"], f"agents.{name}.rules")}
                        if "rules" in agent
                        else {}
                    ),
                    **({"hide": move_hide(agent["hide"], f"agents.{name}.hide")} if "hide" in agent else {}),
                }
                if isinstance(agent, dict)
                else agent
            )
            for name, agent in agents.items()
        }
    return data, notes


# --------------------------------------------------------------------------- names and symbols

_AGENT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SYMBOL = re.compile(r"[A-Z0-9]{2,20}")
_ASSET = re.compile(r"[A-Z0-9]{2,20}")


def _check_agent_name(name: str) -> str:
    if not _AGENT_NAME.fullmatch(name):
        raise PydanticCustomError(
            "policy", 'an agent name is 1 to 64 letters, digits, "_" or "-" (the name of its token)'
        )
    return name


def _symbol(value: Any) -> str:
    if isinstance(value, str) and _SYMBOL.fullmatch(value.upper()):
        return value.upper()
    raise PydanticCustomError(
        "policy",
        "{value} is not a symbol (2 to 20 letters and digits, like BTCUSDT)",
        {"value": json.dumps(value) if isinstance(value, str) else "this"},
    )


def _check_asset(name: str) -> str:
    if not _ASSET.fullmatch(name):
        raise PydanticCustomError("policy", "not an asset (2 to 20 capital letters and digits, like USDT)")
    return name


def _unique(values: tuple[Any, ...]) -> tuple[Any, ...]:
    seen: set[Any] = set()
    for value in values:
        if value in seen:
            raise PydanticCustomError("policy", "lists {value} twice", {"value": f'"{value}"'})
        seen.add(value)
    return values


_T = TypeVar("_T")
UniqueList = Annotated[
    tuple[_T, ...], Field(min_length=1, json_schema_extra={"uniqueItems": True}), AfterValidator(_unique)
]
"""A non-empty list without repeats (a tuple, so that a policy stays immutable)."""


def _one_line(text: str) -> str:
    if "\n" in text or "\r" in text:
        raise PydanticCustomError("policy", "must be one line")
    return text


AgentName = Annotated[
    str,
    AfterValidator(_check_agent_name),
]
Symbol = Annotated[
    str,
    BeforeValidator(_symbol),
    WithJsonSchema({"type": "string", "pattern": "^[A-Za-z0-9]{2,20}$", "description": "e.g. BTCUSDT"}),
]
Asset = Annotated[str, AfterValidator(_check_asset)]
Reason = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_one_line)]

# --------------------------------------------------------------------------- exact decimals

_DECIMAL_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")  # for the JSON Schema


def _to_decimal(value: Any) -> Decimal:
    """A JSON number (already a Decimal or int when read by loading.py) or a decimal string, exactly,
    and bounded like every other decimal (binance_mcp/decimals.py): at most 20 digits either side
    of the point, so `1e-999999999` is refused before anything writes it out."""
    if not isinstance(value, Decimal | int | float | str) or isinstance(value, bool):
        raise PydanticCustomError("policy", "not a decimal")
    try:
        return parse_decimal(value)
    except DecimalOutOfRange as exc:
        raise PydanticCustomError("policy", "{problem}", {"problem": str(exc)}) from None
    except DecimalTextError:
        raise PydanticCustomError("policy", "not a decimal") from None


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise PydanticCustomError("policy", "must be greater than 0")
    return value


def _not_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise PydanticCustomError("policy", "must not be negative")
    return value


def _decimal_schema(minimum: str) -> dict[str, Any]:
    bound = {"exclusiveMinimum": 0} if minimum == "exclusive" else {"minimum": 0}
    return {
        "anyOf": [
            {"type": "number", **bound},
            {"type": "string", "pattern": f"^{_DECIMAL_TEXT.pattern}$"},
        ]
    }


PositiveDecimal = Annotated[
    Decimal,
    BeforeValidator(_to_decimal),
    AfterValidator(_positive),
    WithJsonSchema(_decimal_schema("exclusive")),
]
NonNegativeDecimal = Annotated[
    Decimal,
    BeforeValidator(_to_decimal),
    AfterValidator(_not_negative),
    WithJsonSchema(_decimal_schema("inclusive")),
]

# --------------------------------------------------------------------------- the models


WeightSharePct = Annotated[StrictInt, Field(ge=1, le=100)]
"""Percent of the exchange's request weight per minute: 1 to 100."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise PydanticCustomError("policy", "must not be null; leave the field out instead")
        return value


class RateLimit(_Strict):
    """At most `max` calls per `window` seconds, counted per agent (default), for everyone or per MCP session."""

    max: StrictInt = Field(ge=1, description="Calls allowed per window.")
    # Whole seconds: the `limits` library counts windows in seconds, and a policy must mean
    # exactly what it says.
    window: StrictInt = Field(ge=1, description="The window in whole seconds, e.g. 60.")
    scope: Scope = Field(
        default="agent",
        description=(
            "Who shares the count: each agent (default: an HTTP token's name; over stdio the local "
            "user), everyone (global), or each MCP session (2025-era clients; a 2026-era client has "
            "no session and counts as its agent)."
        ),
    )
    count_refused: StrictBool = Field(
        default=True,
        description=(
            "Whether calls the guard refuses (bad arguments, a constraint, a budget, a filter) count "
            "toward the limit too (default true: a caller that keeps getting refused is slowed down "
            "like any other); false counts only the calls let through. A global limit defaults to "
            "false: one agent's refused calls must not use up everyone's calls."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _global_counts_passed(cls, data: Any) -> Any:
        # everyone's count is not the caller's: one agent's refusals would starve the others
        if isinstance(data, Mapping) and data.get("scope") == "global" and "count_refused" not in data:
            return {**data, "count_refused": False}
        return data

    @property
    def window_seconds(self) -> float:
        """The window as a float, for rate-limiting libraries."""
        return float(self.window)


class Constraints(_Strict):
    """Bounds that every call must keep; only place_order takes bounds other than `symbols`."""

    symbols: UniqueList[Symbol] | None = Field(
        default=None, description="The symbols the tool may be called with (upper-cased)."
    )
    sides: UniqueList[Side] | None = Field(default=None, description="Order sides allowed.")
    order_types: UniqueList[OrderType] | None = Field(default=None, description="Order types allowed.")
    max_quantity: PositiveDecimal | None = Field(
        default=None, description="Largest order quantity, in the base asset."
    )
    max_notional: PositiveDecimal | None = Field(
        default=None, description="Largest order notional (price × quantity), in the quote asset."
    )
    max_price_deviation_pct: PositiveDecimal | None = Field(
        default=None,
        description="Largest distance of a limit price from the current price, in percent of it.",
    )
    max_open_orders: StrictInt | None = Field(
        default=None, ge=0, description="Bound on the account's open orders, counted before this order."
    )
    market_allowance_pct: NonNegativeDecimal | None = Field(
        default=None,
        description=(
            "Added to the order book's price when an order has no price bound (MARKET by quantity, "
            "stop-market, trailing), in percent; left out: 1."
        ),
    )
    uncapped_orders: Literal["estimate", "refuse"] = Field(
        default="estimate",
        description=(
            "An order with a leg no price bounds (MARKET by quantity, stop-market, trailing): valued as "
            "an estimate (book + allowance), or refused (send it with a limit price instead)."
        ),
    )


class Rule(_Strict):
    """What a tool, or every tool a glob matches, may do; `action` is required (nothing is allowed by omission)."""

    action: Action = Field(description="allow, deny, or require_approval (a human approves each call).")
    reason: Reason | None = Field(default=None, description="One line shown to the agent.")
    rate_limit: RateLimit | None = Field(
        default=None, description="At most `max` calls per `window` seconds."
    )
    networks: UniqueList[Network] | None = Field(
        default=None,
        description="Where the tool may run at all; elsewhere it is denied. Left out: everywhere.",
    )
    constraints: Constraints | None = Field(default=None, description="Bounds that every call must keep.")
    approve_above_notional: NonNegativeDecimal | None = Field(
        default=None,
        description="With action allow, on place_order: orders above this notional need a human's approval.",
    )
    approval_ttl: StrictInt = Field(
        default=600,
        ge=1,
        le=86400,
        description="Seconds an out-of-band approval stays usable (with require_approval or approve_above_notional).",
    )
    dry_run: StrictBool = Field(
        default=False,
        description=(
            "place_order and place_order_list (and amend_order, which takes place_order's rule): "
            "nothing is placed or amended; orders go to the test endpoint, results marked simulated."
        ),
    )


def _check_notify_url(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(ch.isspace() for ch in url)
        or parts.fragment
    ):
        raise PydanticCustomError(
            "policy", "not an http(s) URL to POST notifications to, like https://hooks.example/approvals"
        )
    return url


NotifyUrl = Annotated[
    str,
    Field(min_length=1, max_length=2000),
    AfterValidator(_check_notify_url),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^https?://[^\\s#]+$",
            "description": "e.g. https://hooks.slack.com/services/...",
        }
    ),
]


class Approvals(_Strict):
    """Who may answer a request for approval, who is told about one, and how long one waits."""

    via: UniqueList[ApprovalRoute] | None = Field(
        default=None,
        description=(
            "Who may approve: elicitation (the calling MCP client asks its user) and/or operator "
            "(a human through `binance-mcp approvals` or the approvals page). Left out: both over "
            "stdio, operator only over HTTP."
        ),
    )
    notify: NotifyUrl | None = Field(
        default=None,
        description="A URL that gets a JSON POST (Slack-compatible `text`) when a request starts waiting.",
    )
    pending_ttl: StrictInt = Field(
        default=DEFAULT_PENDING_TTL,
        ge=60,
        le=7 * 86400,
        description="Seconds a request waits for a human before it expires (default 3600).",
    )
    max_pending_per_agent: StrictInt = Field(
        default=DEFAULT_MAX_PENDING_PER_AGENT,
        ge=1,
        le=1000,
        description=(
            "Requests waiting for a human that one agent may have open at once (default 5); past it a "
            "call that needs approval is refused instead of opening another."
        ),
    )
    notify_every: StrictInt = Field(
        default=DEFAULT_NOTIFY_EVERY,
        ge=0,
        le=3600,
        description=(
            "Seconds between two notification posts about one agent's requests (default 10): the "
            "requests that start waiting meanwhile go out together in the next post. 0 posts each at once."
        ),
    )


class AgentApprovals(_Strict):
    """Who may approve this agent's calls; wins over the top-level `approvals.via`."""

    via: UniqueList[ApprovalRoute] = Field(
        description="elicitation (the agent's MCP client asks its user) and/or operator (a human out of band)."
    )


_RuleMap = Annotated[
    dict[RuleKey, Rule],
    Field(json_schema_extra={"propertyNames": _TOOL_PATTERN_SCHEMA}),
]


class AgentPolicy(_Strict):
    """One agent (its HTTP token's name, matched exactly): its rules layer over the top-level ones
    (both apply, the stricter wins; where the top level has no rule, the agent's decides); its hide
    adds to the top-level hide."""

    hide: tuple[HideEntry, ...] = Field(default=(), description="More tools this agent does not see.")
    rules: _RuleMap = Field(
        default_factory=dict,
        description="Rules that layer over the top-level rules: both hold, the stricter wins.",
    )
    approvals: AgentApprovals | None = Field(
        default=None, description="Who may approve this agent's calls (left out: the top level decides)."
    )
    max_weight_share_pct: WeightSharePct | None = Field(
        default=None,
        description=(
            "The most of Binance's request weight per minute (6000 on one IP address) this agent's "
            "calls may use, in percent (left out: the top-level max_weight_share_pct)."
        ),
    )


class Budgets(_Strict):
    """Money the orders of one UTC day may add up to, per network."""

    daily_notional: dict[Asset, NonNegativeDecimal] = Field(
        default_factory=dict,
        description="Per quote asset (e.g. USDT): the sum of order notionals allowed per UTC day.",
        json_schema_extra={"propertyNames": {"pattern": f"^{_ASSET.pattern}$"}},
    )


class Policy(_Strict):
    """A binance-mcp policy: which tools an agent sees, and what each may do."""

    model_config = ConfigDict(title="binance-mcp policy")
    _notes: tuple[str, ...] = PrivateAttr(default=())

    schema_: str | None = Field(
        default=None,
        alias="$schema",
        title="$schema",
        description="The JSON Schema, for editors (./policy.schema.json).",
    )
    version: Literal["1"] = Field(description='The policy format: "1".')
    default: DefaultAction = Field(
        default="deny", description="What happens to a tool that no rule names (left out: deny)."
    )
    hide: tuple[HideEntry, ...] = Field(
        default=(),
        description='Tools (names or globs, "*" for all) that vanish from the tool list; calls get "Unknown tool".',
    )
    rules: _RuleMap = Field(
        default_factory=dict,
        description="Keyed by tool name or glob: the exact name wins, then the longest glob, then the first written.",
    )
    agents: dict[AgentName, AgentPolicy] = Field(
        default_factory=dict,
        description="Per agent (HTTP token name exactly, or local): more hidden tools, and rules layered over the top-level rules.",
        json_schema_extra={"propertyNames": {"pattern": "^[A-Za-z0-9_-]{1,64}$"}},
    )
    budgets: Budgets = Field(default_factory=Budgets, description="Daily limits in money.")
    approvals: Approvals = Field(
        default_factory=Approvals,
        description="Who may approve, who is notified, how long a request waits.",
    )
    max_weight_share_pct: WeightSharePct | None = Field(
        default=None,
        description=(
            "The most of Binance's request weight per minute (6000 on one IP address, shared by every "
            "agent) that each agent's calls may use, in percent; an agent's own setting wins. Left "
            "out: no share is set."
        ),
    )

    @model_validator(mode="after")
    def _rules_make_sense(self, info: ValidationInfo) -> Policy:
        if isinstance(info.context, Mapping) and info.context.get(_CHECKED_BY_PARSER):
            return self  # parse_policy already checked the raw file, with places
        problems = policy_problems(self.model_dump(by_alias=True, exclude_unset=True))
        if problems:
            raise PydanticCustomError(
                "policy_rules", "{problems}", {"problems": "; ".join(format_problems(problems))}
            )
        return self


# --------------------------------------------------------------------------- checks across fields

_CHECKED_BY_PARSER = "binance_mcp.policy.checked"


def policy_problems(data: Mapping[str, Any]) -> list[Problem]:
    """Rules that cannot mean anything, found in raw policy data (parsed JSON, unvalidated).

    Kept apart from the field validators because these checks need the rule's key and its other
    fields, and because on raw data they report every problem at its place even when other parts
    of the file are malformed. Anything malformed is left to the field validators.
    """
    problems: list[Problem] = []
    problems += _rules_problems(data.get("rules"), ("rules",))
    agents = data.get("agents")
    if isinstance(agents, Mapping):
        seen: dict[str, str] = {}
        for name in agents:
            if isinstance(name, str):
                other = seen.setdefault(name.casefold(), name)
                if other != name:
                    problems.append(
                        Problem(
                            ("agents", name),
                            f'differs from agent "{other}" only in case: agent names are matched exactly, '
                            "as token names are; keep one",
                        )
                    )
        for name, agent in agents.items():
            if isinstance(agent, Mapping):
                problems += _rules_problems(agent.get("rules"), ("agents", name, "rules"))
    return problems


def _rules_problems(rules: Any, loc: tuple[str, ...]) -> Iterable[Problem]:
    if not isinstance(rules, Mapping):
        return
    for key, rule in rules.items():
        if isinstance(key, str) and isinstance(rule, Mapping):
            yield from _rule_problems(key, rule, (*loc, key))


def _rule_problems(key: str, rule: Mapping[str, Any], loc: tuple[str, ...]) -> Iterable[Problem]:
    action = rule.get("action")
    tools = tools_matching(key)
    if action == "deny":
        for field in rule:
            if field not in ("action", "reason") and field in Rule.model_fields:
                yield Problem((*loc, field), "a deny rule takes only a reason")
        return
    if "approve_above_notional" in rule and action == "require_approval":
        yield Problem(
            (*loc, "approve_above_notional"),
            'only a rule with action "allow" takes approve_above_notional (this one asks for every call)',
        )
    if "approval_ttl" in rule and action == "allow" and "approve_above_notional" not in rule:
        yield Problem(
            (*loc, "approval_ttl"),
            "only with action require_approval or approve_above_notional: this rule never asks for approval",
        )
    if not tools:
        return  # an unknown key: its own error says so
    for_orders = not ORDER_TOOLS.isdisjoint(tools)
    for field in ORDER_ONLY_FIELDS:
        if field in rule and not for_orders:
            yield Problem((*loc, field), f"only place_order and place_order_list take {field}")
    constraints = rule.get("constraints")
    if isinstance(constraints, Mapping):
        for field in _ORDER_ONLY_CONSTRAINTS:
            if field in constraints and not for_orders:
                yield Problem(
                    (*loc, "constraints", field), f"only place_order and place_order_list take {field}"
                )
        if "symbols" in constraints and SYMBOL_TOOLS.isdisjoint(tools):
            yield Problem((*loc, "constraints", "symbols"), f"{', '.join(tools)} takes no symbol")


# --------------------------------------------------------------------------- reading files


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """A policy from JSON text; PolicyError lists every problem, each with its place."""
    data, problems = read_json(text, source)
    data, notes = renamed_tools(data)
    problems += policy_problems(data)
    policy: Policy | None = None
    try:
        policy = Policy.model_validate(data, context={_CHECKED_BY_PARSER: True})
    except ValidationError as exc:
        problems += problems_from_validation(exc, Policy)
    if problems or policy is None:
        raise PolicyError(format_problems(problems, data), source)
    policy._notes = tuple(notes)
    return policy


def policy_notes(policy: Policy) -> list[str]:
    """Warnings about a valid policy, one line each: deprecated tool names it used, and order
    tools whose own rule means place_order's rule no longer holds on them."""
    notes = list(policy._notes)
    levels = [("rules", policy.rules)] + [
        (f"agents.{name}.rules", agent.rules) for name, agent in policy.agents.items()
    ]
    for prefix, rules in levels:
        notes += _dropped_order_bounds(prefix, rules)
    return notes


_HELD_BY_PLACE_ORDER = ("constraints", "approve_above_notional", "dry_run", "rate_limit", "networks")


def _dropped_order_bounds(prefix: str, rules: Mapping[str, Rule]) -> list[str]:
    """A place_order_list or amend_order rule of its own exact name replaces place_order's rule on
    that tool: say which of place_order's limits it leaves behind (a deny drops nothing)."""
    from binance_mcp.tools.names import TAKES_RULE_OF

    notes = []
    globs = sorted(
        ((index, key) for index, key in enumerate(rules) if is_glob(key)), key=lambda g: (-len(g[1]), g[0])
    )
    for tool, source in TAKES_RULE_OF.items():
        # place_order's rule at this level: its exact one, else the longest glob it falls under
        key = source if source in rules else next((k for _i, k in globs if fnmatchcase(source, k)), None)
        own, theirs = rules.get(tool), rules.get(key) if key is not None else None
        if own is None or theirs is None or key is None or own.action == "deny":
            continue
        fields = [f for f in _HELD_BY_PLACE_ORDER if getattr(theirs, f) not in (None, False)]
        dropped = [f for f in fields if getattr(own, f) in (None, False)]
        if tool not in ORDER_TOOLS:  # amend_order: of the bounds only symbols, never approval by value
            dropped = [f for f in dropped if f != "approve_above_notional"]
            if "constraints" in dropped:
                dropped.remove("constraints")
                bounded = theirs.constraints is not None and theirs.constraints.symbols is not None
                if bounded and (own.constraints is None or own.constraints.symbols is None):
                    dropped.append("constraints.symbols")
        if theirs.action != "allow" and own.action == "allow":
            dropped.insert(0, "action")
        if dropped:
            notes.append(
                f"{prefix}.{tool} is {tool}'s own rule, so {prefix}.{key}'s {', '.join(dropped)} "
                f"do not hold on {tool}; repeat them there, or remove the rule to inherit them"
            )
    return notes


def load_policy_file(path: str | Path) -> Policy:
    """A policy from a file. A missing or unreadable file raises OSError; a bad policy PolicyError."""
    return parse_policy_bytes(read_policy_bytes(path), str(path))


def parse_policy_bytes(raw: bytes, source: str = "<policy>") -> Policy:
    """A policy from a file's bytes (UTF-8, a byte-order mark allowed); PolicyError otherwise."""
    return parse_policy(decode_policy_text(raw, source), source)


BUNDLED_POLICIES: tuple[str, ...] = ("default", "read-only", "testnet-trader", "policylayer-recommended")


def bundled_policy_path(name: str) -> Path:
    """The path of a policy shipped in binance_mcp/policies/ (`default` or `default.json`)."""
    filename = name if name.endswith(".json") else f"{name}.json"
    path = Path(str(resources.files("binance_mcp").joinpath("policies", filename)))
    if not path.is_file():
        raise FileNotFoundError(f"no bundled policy {name!r}; there are {', '.join(BUNDLED_POLICIES)}")
    return path


# --------------------------------------------------------------------------- JSON Schema


class _SchemaGenerator(GenerateJsonSchema):
    """Pydantic's generator, minus the `null` it would allow for optional fields (the models refuse it)."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        json_schema = super().default_schema(schema)
        if json_schema.get("default", ...) is None:
            del json_schema["default"]
        return json_schema


def policy_json_schema() -> dict[str, Any]:
    """The policy file's JSON Schema, generated from the models (committed as policies/policy.schema.json)."""
    schema = Policy.model_json_schema(by_alias=True, mode="validation", schema_generator=_SchemaGenerator)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
