"""`binance-mcp policy check | explain | schema | list`: the policy file, for the people who write it.

`check` validates files and prints every problem with its place (exit 1), or a one-line summary
per valid file (the JSON Schema lying beside the policies is recognised and skipped, with a note);
`explain` shows, per tool, what an agent may do on a network; `schema` prints the JSON Schema that
editors use through a policy's `$schema`; `list` names the bundled policies and what each is for.
A bundled policy may be named instead of a file (`policy explain read-only`). Exit status: 0 done,
1 a policy is invalid, 2 bad usage (a file that cannot be read, an unknown option). Nothing here
touches the network or the state dir.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from binance_mcp.bundled_policies import BUNDLED_DIR, PURPOSES, bundled_policy, where_they_are
from binance_mcp.policy.engine import ExplainRow, PolicyEngine
from binance_mcp.policy.loading import NotARegularFile
from binance_mcp.policy.model import (
    NETWORKS,
    Constraints,
    Policy,
    PolicyError,
    load_policy_file,
    policy_json_schema,
    policy_notes,
)

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2

PROG = "binance-mcp policy"


def add_parser(subparsers: Any) -> None:
    """Register `policy` and its subcommands on the main CLI's subparsers; `args.handler` is `run`."""
    parser = subparsers.add_parser(
        "policy",
        help="check, explain or describe a policy file",
        description="Check, explain or describe a policy file.",
    )
    _add_subcommands(parser)


def _add_subcommands(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(handler=run)
    commands = parser.add_subparsers(
        dest="policy_command", metavar="{check,explain,schema,list}", required=True
    )

    check = commands.add_parser(
        "check",
        help="validate policy files",
        description="Validate policy files: every error with its place (exit 1), else a one-line summary each.",
    )
    check.add_argument(
        "files", nargs="+", metavar="FILE", help="a policy file (JSON), or a bundled policy's name"
    )

    explain = commands.add_parser(
        "explain",
        help="what each tool may do",
        description="Per tool: visible or hidden, the decision, the deciding rule, rate limit, approval.",
    )
    explain.add_argument("file", metavar="FILE", help="a policy file (JSON), or a bundled policy's name")
    explain.add_argument(
        "--network", choices=NETWORKS, default="testnet", help="the network to explain for (default: testnet)"
    )
    explain.add_argument("--agent", metavar="NAME", help="explain for this agent (its token name)")
    explain.add_argument(
        "--json", action="store_true", help="print the same as JSON: one object per tool, for scripts"
    )

    commands.add_parser(
        "schema",
        help="print the policy file's JSON Schema",
        description="Print the policy file's JSON Schema (policies/policy.schema.json).",
    )
    commands.add_parser(
        "list",
        help="the bundled policies and what each is for",
        description="The policies shipped with binance-mcp: pass one by name, e.g. --policy read-only.",
    )


def build_parser() -> argparse.ArgumentParser:
    """A parser for `policy`'s own arguments (`check FILE...`, `explain FILE`, `schema`)."""
    parser = argparse.ArgumentParser(prog=PROG, description="Check, explain or describe a policy file.")
    _add_subcommands(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `policy` with the arguments that follow it, e.g. `main(["check", "policy.json"])`."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or bad usage (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    return run(args)


def run(args: argparse.Namespace) -> int:
    """Run a parsed `policy` command; returns the exit status."""
    command = getattr(args, "policy_command", None)
    if command == "check":
        return check(args.files)
    if command == "explain":
        return explain(args.file, args.network, args.agent, as_json=getattr(args, "json", False))
    if command == "schema":
        sys.stdout.write(schema_text())
        return EXIT_OK
    if command == "list":
        sys.stdout.write(bundled_list())
        return EXIT_OK
    print(f"{PROG}: choose check, explain, schema or list", file=sys.stderr)
    return EXIT_USAGE


# --------------------------------------------------------------------------- check


def check(files: Sequence[str], out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Validate each file; 2 if one cannot be read, else 1 if one is invalid, else 0."""
    out = out or sys.stdout
    err = err or sys.stderr
    status = EXIT_OK
    for given in files:
        file = shown_path(given)
        if is_json_schema(given):
            print(f"{file}: skipped — the policy files' JSON Schema, not a policy", file=out)
            continue
        try:
            policy = load_policy_file(_resolve(given))
            text = summary(policy)
            notes = policy_notes(policy)
        except PolicyError as exc:
            for line in exc.errors:
                print(f"{file}: {line}", file=err)
            status = max(status, EXIT_INVALID)
        except OSError as exc:
            print(f"{PROG}: {file}: {_os_problem(exc)}{_bundled_hint(exc)}", file=err)
            status = EXIT_USAGE
        except Exception as exc:  # a defect, not the file's fault: still one line, never a traceback
            print(f"{PROG}: {file}: cannot be checked ({_one_line(exc)})", file=err)
            status = max(status, EXIT_INVALID)
        else:
            print(f"{file}: valid — {text}", file=out)
            for note in notes:
                print(f"{file}: warning: {note}", file=err)
    return status


def shown_path(path: str) -> str:
    """A path as it can be printed: bytes that are not UTF-8 (kept by Python as surrogates) escaped."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"[:300]
    return " ".join(text.encode("utf-8", "backslashreplace").decode("utf-8").split())


def _resolve(file: str) -> str:
    """A file as given, or the bundled policy it names when no such file exists (`read-only`)."""
    if Path(file).exists():
        return file
    bundled = bundled_policy(file)
    return str(bundled) if bundled is not None else file


def _bundled_hint(exc: OSError) -> str:
    return f"; {where_they_are()}" if isinstance(exc, FileNotFoundError) else ""


def is_json_schema(file: str) -> bool:
    """Is `file` a JSON Schema (such as policies/policy.schema.json) rather than a policy?"""
    path = Path(file)
    try:
        if not path.is_file() or path.stat().st_size > 1_000_000:
            return False
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError, RecursionError):  # not JSON at all: not a schema (check says why)
        return False
    marker = document.get("$schema") if isinstance(document, dict) else None
    return isinstance(marker, str) and marker.startswith(
        ("https://json-schema.org/", "http://json-schema.org/")
    )


def _os_problem(exc: OSError) -> str:
    if isinstance(exc, NotARegularFile):
        return "is not a regular file (a FIFO, socket or device), not a policy file"
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a policy file"
    if isinstance(exc, PermissionError):
        return "cannot be read (permission denied)"
    return f"cannot be read ({exc.strerror or exc.__class__.__name__})"


def summary(policy: Policy) -> str:
    """`default deny, 10 tools visible, 3 need approval, 0 rate-limited` (top level, any network)."""
    engine = PolicyEngine(policy)
    visible = engine.visible_tools()
    decisions = [engine.decide(tool, None, network) for tool in visible for network in NETWORKS]
    approval = {d.tool for d in decisions if d.needs_approval or d.approve_above_notional is not None}
    limited = {d.tool for d in decisions if d.limits and not d.denied}
    shared = {
        limit.path: limit.tools for d in decisions if not d.denied for limit in d.limits if limit.shared
    }
    text = (
        f"default {policy.default}, {len(visible)} tool{'s' if len(visible) != 1 else ''} visible, "
        f"{len(approval)} need{'s' if len(approval) == 1 else ''} approval, {len(limited)} rate-limited"
    )
    if shared:
        text += (
            " ("
            + "; ".join(f"{path} is one limit for {len(tools)} tools" for path, tools in shared.items())
            + ")"
        )
    if not any(d.action != "deny" for d in decisions):
        text += (
            "; it denies every tool: an agent sees them but every call is refused (add rules to allow some)"
        )
    if policy.agents:
        text += f"; agents: {', '.join(policy.agents)}"
    return text


# --------------------------------------------------------------------------- explain


def explain(
    given: str, network: str, agent: str | None, out: TextIO | None = None, *, as_json: bool = False
) -> int:
    """Print what each tool may do under a policy, as an aligned table (or JSON)."""
    out = out or sys.stdout
    file = shown_path(given)
    try:
        policy = load_policy_file(_resolve(given))
    except PolicyError as exc:
        for line in exc.errors:
            print(f"{file}: {line}", file=sys.stderr)
        return EXIT_INVALID
    except OSError as exc:
        print(f"{PROG}: {file}: {_os_problem(exc)}{_bundled_hint(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # a defect, not the file's fault: still one line, never a traceback
        print(f"{PROG}: {file}: cannot be explained ({_one_line(exc)})", file=sys.stderr)
        return EXIT_INVALID
    engine = PolicyEngine(policy)
    if as_json:
        out.write(json.dumps(explain_json(engine, network, agent), indent=2) + "\n")
    else:
        out.write(render_explain(file, engine, network, agent))
    return EXIT_OK


def explain_json(engine: PolicyEngine, network: str, agent: str | None = None) -> dict[str, Any]:
    """`policy explain --json`: per tool, what the table says, with every constraint set and rate
    limit that holds (a layered agent rule's and the top-level rule's each), and the budgets."""
    tools = []
    for row in engine.explain(network, agent):
        decision = row.decision
        tools.append(
            {
                "tool": row.tool,
                "visible": row.visible,
                "decision": row.action,
                "rule": row.rule_path,
                "rules": list(decision.rules),
                "rule_of": decision.inherited_from,
                "reason": row.reason,
                "approval": row.approval,
                "approve_above_notional": _decimal(decision.approve_above_notional),
                # as get_limits says it: how a dry run treats this tool (None: it runs for real)
                "dry_run": ("refused" if decision.dry_run_refused else "simulated") if row.dry_run else None,
                "networks": list(row.networks) if row.networks else None,
                "constraints": [
                    {"rule": bounds.path, **bounds.constraints.model_dump(mode="json", exclude_none=True)}
                    for bounds in decision.bounds
                ],
                "rate_limits": [
                    {
                        "rule": limit.path,
                        "max": limit.rate_limit.max,
                        "window_s": limit.rate_limit.window,
                        "scope": limit.rate_limit.scope,
                        "count_refused": limit.rate_limit.count_refused,
                        "shared_by": list(limit.tools),
                    }
                    for limit in decision.limits
                ],
            }
        )
    budgets = {asset: _decimal(amount) for asset, amount in engine.policy.budgets.daily_notional.items()}
    share = engine.weight_share(agent)
    approvals = engine.policy.approvals
    return {
        "network": network,
        "agent": agent,
        "default": engine.policy.default,
        "tools": tools,
        "budgets": budgets,
        "weight_share": {"max_pct": share[0], "rule": share[1]} if share is not None else None,
        "approvals": {
            "max_pending_per_agent": approvals.max_pending_per_agent,
            "notify_every_s": approvals.notify_every,
        },
    }


def _decimal(value: Any) -> str | None:
    return None if value is None else format(value, "f")


_HEADERS = (
    "TOOL",
    "RISK",
    "VISIBLE",
    "DECISION",
    "RULE",
    "RATE LIMIT",
    "APPROVAL",
    "DRY RUN",
    "NETWORKS",
    "REASON",
)


def render_explain(source: str, engine: PolicyEngine, network: str, agent: str | None = None) -> str:
    """The `policy explain` text: a heading, one aligned row per tool, then constraints and budgets."""
    policy = engine.policy
    who = f" for agent {agent}" if agent else ""
    lines = [f"{source} on {network}{who}: default {policy.default}"]
    if agent and agent not in policy.agents:
        lines.append(f"(the policy has no entry for agent {agent}: the top-level rules decide)")
    lines.append("")
    rows = engine.explain(network, agent)
    table = [_HEADERS, *(_cells(row) for row in rows)]
    widths = [max(len(cells[i]) for cells in table) for i in range(len(_HEADERS) - 1)]
    for cells in table:
        line = "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=False))
        lines.append(f"{line}  {cells[-1]}".rstrip())
    notes = [
        f"{row.tool} constraints ({bounds.path}.constraints): {_constraints_text(bounds.constraints)}"
        for row in rows
        if row.visible and row.action != "deny"
        for bounds in row.decision.bounds
    ]
    inheriting = [row.tool for row in rows if row.visible and row.decision.inherited_from]
    if inheriting:
        notes.append(
            f"{' and '.join(inheriting)} have no rule of their own name, so place_order's rule is theirs "
            "(its action, constraints, approval, dry run, and its rate limit, counted together)"
        )
    layered = [row.tool for row in rows if row.visible and len(row.decision.rules) > 1]
    if layered:
        notes.append(
            f"{', '.join(layered)}: the agent's rule and the top-level rule both hold (the stricter wins)"
        )
    notes += [
        f"budget ({budget.path}): {budget.daily_notional} {budget.asset} of orders per UTC day, per network"
        for asset in policy.budgets.daily_notional
        if (budget := engine.budget(asset)) is not None
    ]
    notes += approvals_notes(engine, agent)
    notes += weight_share_notes(engine, agent)
    if policy.agents and not agent:
        notes.append(f"agents with rules of their own: {', '.join(policy.agents)} (see --agent NAME)")
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"


def weight_share_notes(engine: PolicyEngine, agent: str | None) -> list[str]:
    """Each agent's share of Binance's request weight (per IP address, 6000 a minute), where one is set."""
    policy = engine.policy
    agents = (
        [agent]
        if agent
        else [None, *(name for name, entry in policy.agents.items() if entry.max_weight_share_pct)]
    )
    notes = []
    for name in agents:
        share = engine.weight_share(name)
        if share is None:
            continue
        subject = f"agent {name}" if name else "each agent"
        notes.append(
            f"{subject} may use at most {share[0]} % of Binance's request weight per minute ({share[1]})"
        )
    return notes


_ROUTE_WORDS = {"elicitation": "the MCP client asks its user (elicitation)", "operator": "an operator"}


def _who(routes: frozenset[str]) -> str:
    return " or ".join(_ROUTE_WORDS[route] for route in ("elicitation", "operator") if route in routes)


def approvals_notes(engine: PolicyEngine, agent: str | None) -> list[str]:
    """Who may approve (per transport, and for each agent with its own `approvals.via`), how long a
    request waits, and whether anyone is notified (the URL's host only: a webhook URL is a secret)."""
    from urllib.parse import urlsplit

    policy = engine.policy
    agents = [agent] if agent else [None, *(name for name, entry in policy.agents.items() if entry.approvals)]
    notes = []
    for name in agents:
        parts = []
        for transport, label in (("stdio", "over stdio"), ("http", "over HTTP")):
            routes, source = engine.approvers_with_source(name, transport)
            parts.append(f"{label} {_who(routes)} ({source})")
        subject = f"for agent {name}" if name else "by default"
        notes.append(f"who may approve {subject}: {'; '.join(parts)}")
    notify = engine.notify_url
    told = (
        f"POSTed to {urlsplit(notify).scheme}://{urlsplit(notify).hostname}/…"
        if notify
        else "nobody is notified"
    )
    notes.append(
        f"a request for approval waits {engine.pending_ttl} s for a human (approvals.pending_ttl); {told}"
    )
    every = engine.notify_every
    grouped = f"; notifications at most one post per {every} s per agent (approvals.notify_every)"
    notes.append(
        f"each agent may have {engine.max_pending_per_agent} requests waiting at once "
        f"(approvals.max_pending_per_agent){grouped if notify and every else ''}"
    )
    return notes


def _cells(row: ExplainRow) -> tuple[str, ...]:
    decision = row.decision
    networks = (", ".join(row.networks) if row.networks else "all") if row.visible else "-"
    rule = (
        " + ".join(decision.rules) if len(decision.rules) > 1 and not row.decision.denied else row.rule_path
    )
    if decision.inherited_from:
        rule += f" ({decision.inherited_from}'s rule)"
    limits = "; ".join(
        f"{limit.rate_limit.max} per {limit.rate_limit.window}s per {limit.rate_limit.scope}"
        + (f" (shared by {len(limit.tools)} tools)" if limit.shared else "")
        + ("" if limit.rate_limit.count_refused else " (refused calls not counted)")
        for limit in decision.limits
    )
    dry_run = "refused" if row.dry_run and decision.dry_run_refused else "yes" if row.dry_run else "-"
    return (
        row.tool,
        row.risk,
        "yes" if row.visible else "hidden",
        row.action,
        rule,
        limits if limits and not decision.denied else "-",
        row.approval or "-",
        dry_run,
        networks,
        row.reason or "",
    )


def _constraints_text(constraints: Constraints | None) -> str:
    if constraints is None:
        return "none"
    parts = []
    for field, value in constraints.model_dump(exclude_none=True).items():
        parts.append(f"{field} {', '.join(value) if isinstance(value, tuple) else value}")
    return "; ".join(parts)


# --------------------------------------------------------------------------- list


def bundled_list() -> str:
    """`policy list`: each bundled policy's name and what it is for, then where the files are."""
    width = max(len(name) for name in PURPOSES)
    lines = [f"{name.ljust(width)}  {purpose}" for name, purpose in PURPOSES.items()]
    lines += ["", f"in {BUNDLED_DIR}; use one with --policy NAME, e.g. --policy read-only"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- schema


def schema_text() -> str:
    """The JSON Schema as committed in policies/policy.schema.json (`policy schema > that file` updates it)."""
    return json.dumps(policy_json_schema(), indent=2, ensure_ascii=False) + "\n"
