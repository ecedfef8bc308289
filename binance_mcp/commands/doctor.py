"""`binance-mcp doctor`: is this setup safe and working? Network, clock, keys, permissions, policy.

    binance-mcp doctor [--testnet|--demo|--mainnet] [--base-url URL] [--policy FILE]
                       [--state-dir DIR | --state-url URL] [--rate-limit-url URL]
                       [--allow-withdrawal-keys]

Configuration comes from the same flags, environment and `.env` as the server
(`config.build_config`), so the doctor checks what the server would run with. Each check prints
one line, `ok|FAIL|warn|skip|info  <what>: <detail>`:

- the base URL answers (`GET /api/v3/time`, with the round trip);
- the clock against the server's time (FAIL beyond 1000 ms, saying by how much and which way;
  the key checks then run with the clock corrected, so they report on the keys, not the clock);
- which kind of API key signs (HMAC, or the Ed25519 or RSA private key in `BINANCE_PRIVATE_KEY_FILE`),
  warning when other users can read the key file (with the `chmod` that fixes it);
- the API keys are present and accepted: one request signed with them (`GET /api/v3/account`);
- on mainnet, the keys' permissions (`GET /sapi/v1/account/apiRestrictions`): withdrawals enabled
  FAIL unless `--allow-withdrawal-keys`, IP restriction off warns, spot trading off FAILs when
  the policy allows a trading tool;
- the policy is valid, and what it allows on this network; the state dir is usable;
- each shared backend it is given (`--state-url` PostgreSQL, `--rate-limit-url` Redis): connected
  to, its version, a value written and read back in a scratch place removed after; and where the
  policy's `agent`/`global` rate-limit counts will live (FAIL when there they cannot be kept; in
  the state dir, a note that only the servers of this machine share them): `doctor_backends.py`.

Exit status: 0 no FAIL (warnings allowed), 1 a check failed, 2 bad configuration (a private key
file that is encrypted without its passphrase, holds a public key or a key of a kind Binance does
not take is bad configuration: one line). Nothing printed contains the API key, the secret, the
private key or its passphrase: every line is redacted of them before it is written.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import anyio

from binance_mcp.commands.doctor_backends import check_postgresql, check_redis, check_shared_limits
from binance_mcp.commands.state_url import add_state_url
from binance_mcp.config import ConfigError, ServerConfig, build_config
from binance_mcp.decimals import decimal_text
from binance_mcp.exchange.errors import BinanceRejected, ExchangeFailure
from binance_mcp.keyfile import KeyType, ask_on_terminal, readable_by_others
from binance_mcp.keysafety import WITHDRAWAL_KEYS_REFUSED, unchecked_sentence, withdrawal_problem
from binance_mcp.stores.audit import redact_text
from binance_mcp.tools.names import TOOL_RISK, Risk

if TYPE_CHECKING:  # imported where used: `binance-mcp doctor --help` stays fast
    from binance_mcp.exchange.client import ExchangeClient
    from binance_mcp.policy.engine import PolicyEngine

PROG = "binance-mcp doctor"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

MAX_CLOCK_SKEW_MS = 1000
TRADING_RISKS = frozenset({Risk.FINANCIAL, Risk.DESTRUCTIVE})

OK, FAIL, WARN, SKIP, INFO = "ok", "FAIL", "warn", "skip", "info"


def add_parser(subparsers: Any) -> None:
    """Register `doctor` on the top-level parser's subparsers (`parser.add_subparsers()`)."""
    parser = subparsers.add_parser(
        "doctor",
        help="check the network, clock, keys, their permissions and the policy in force",
        description="Check the network, the clock, the API keys and their permissions, and the policy.",
    )
    _add_arguments(parser)
    parser.set_defaults(func=run)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS everywhere: the same option given before `doctor` (the server's own flags) is kept.
    network = parser.add_mutually_exclusive_group()
    for name, text in (
        ("testnet", "Binance Spot Testnet"),
        ("demo", "Binance Spot demo trading"),
        ("mainnet", "the real exchange"),
    ):
        network.add_argument(
            f"--{name}",
            dest="network",
            action="store_const",
            const=name,
            default=argparse.SUPPRESS,
            help=text,
        )
    parser.add_argument(
        "--base-url",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="REST root override, e.g. http://127.0.0.1:9000",
    )
    parser.add_argument(
        "--policy",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="policy file (default: $BINANCE_MCP_POLICY or the bundled default)",
    )
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="the state dir (default: $BINANCE_MCP_STATE_DIR, else the platform's user state dir)",
    )
    add_state_url(parser)
    parser.add_argument(
        "--rate-limit-url",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="the Redis the servers keep rate-limit counts in (default: $BINANCE_MCP_RATE_LIMIT_URL)",
    )
    parser.add_argument(
        "--allow-withdrawal-keys",
        action="store_true",
        default=argparse.SUPPRESS,
        help="on mainnet, accept keys that can withdraw (a warning instead of a failure)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`binance-mcp doctor` on its own: `argv` is what follows the subcommand name."""
    parser = argparse.ArgumentParser(prog=PROG, description="Check the network, clock, keys and policy.")
    _add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or bad usage (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    return run(args)


def run(args: argparse.Namespace) -> int:
    """Run every check and print one line each; 1 if any failed, 2 on bad configuration."""
    try:
        config = build_config(
            network_flag=getattr(args, "network", None),
            base_url_flag=getattr(args, "base_url", None),
            policy_flag=getattr(args, "policy", None),
            state_dir_flag=getattr(args, "state_dir", None),
            state_url_flag=getattr(args, "state_url", None),
            rate_limit_url_flag=getattr(args, "rate_limit_url", None),
            allow_withdrawal_keys=bool(getattr(args, "allow_withdrawal_keys", False)),
            ask_passphrase=ask_on_terminal,
        )
    except ConfigError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    report = Report(secrets=config.secrets)
    try:
        anyio.run(diagnose, config, report)
    except BrokenPipeError:
        return EXIT_FAILED if report.failed else EXIT_OK
    report.finish()
    return EXIT_FAILED if report.failed else EXIT_OK


# --------------------------------------------------------------------------- the report


@dataclass
class Report:
    """Check lines, printed as they come, never with a secret in them."""

    secrets: tuple[str, ...] = ()
    out: TextIO | None = None
    lines: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, status: str, what: str, detail: str) -> None:
        self.lines.append((status, what, detail))
        text = redact_text(f"{status:<4}  {what}: {detail}", self.secrets) or ""
        stream = self.out or sys.stdout
        print(text, file=stream, flush=True)

    @property
    def failed(self) -> list[str]:
        return [what for status, what, _ in self.lines if status == FAIL]

    @property
    def warnings(self) -> list[str]:
        return [what for status, what, _ in self.lines if status == WARN]

    def finish(self) -> None:
        stream = self.out or sys.stdout
        failed, warned = self.failed, self.warnings
        warn_text = f" ({len(warned)} warning{'s' if len(warned) != 1 else ''})" if warned else ""
        if failed:
            noun = "check" if len(failed) == 1 else "checks"
            print(f"{len(failed)} {noun} failed: {', '.join(failed)}{warn_text}", file=stream, flush=True)
        else:
            print(f"no problems found{warn_text}", file=stream, flush=True)


# --------------------------------------------------------------------------- the checks


async def diagnose(config: ServerConfig, report: Report) -> None:
    """Every check, in order, onto `report`."""
    from binance_mcp.exchange.client import ExchangeClient, Timeouts
    from binance_mcp.exchange.retry import RetryPolicy

    network = config.network.value
    report.add(INFO, "network", f"{network} at {config.base_url}")
    engine = _check_policy(config, report)

    # One retry at most: the doctor reports what it finds rather than wait out a flaky network.
    exchange = ExchangeClient(
        config.base_url,
        config.credentials,
        timeouts=Timeouts(connect=5.0, read=10.0),
        retry=RetryPolicy(attempts=2, total=5.0),
    )
    try:
        await _check_exchange(exchange, config, engine, report)
    finally:
        await anyio.to_thread.run_sync(_close_worker_loop)

    if engine is not None:
        _summarise_policy(engine, config, report)
    reachable = _check_state_dir(config, report)
    if config.rate_limit_url:
        reachable = check_redis(config.rate_limit_url, report.add)
    check_shared_limits(engine, config, report.add, reachable=reachable)


def _check_policy(config: ServerConfig, report: Report) -> PolicyEngine | None:
    """Load the policy the server would run with; returns its `PolicyEngine`, or None if invalid."""
    from binance_mcp.policy.engine import PolicyEngine
    from binance_mcp.policy.model import PolicyError, bundled_policy_path, load_policy_file

    if config.policy_path is not None:
        path, source = config.policy_path, str(config.policy_path)
    else:
        path = bundled_policy_path("default")
        source = f"the bundled default ({path})"
    try:
        policy = load_policy_file(path)
    except PolicyError as exc:
        errors = list(exc.errors)
        more = f" (and {len(errors) - 1} more: binance-mcp policy check {path})" if len(errors) > 1 else ""
        report.add(FAIL, "policy", f"{source} is invalid: {errors[0] if errors else exc}{more}")
        return None
    except OSError as exc:
        report.add(FAIL, "policy", f"{source} cannot be read: {exc.strerror or exc}")
        return None
    report.add(OK, "policy", f"{source} is valid (default {policy.default})")
    return PolicyEngine(policy)


async def _check_exchange(
    exchange: ExchangeClient, config: ServerConfig, engine: PolicyEngine | None, report: Report
) -> None:
    """The base URL, the clock, then the keys and (on mainnet) their permissions."""
    _report_key_type(config, report)
    skew_ms = await _check_base_url_and_clock(exchange, report)
    if skew_ms is None:
        for what in ("API keys", "key permissions"):
            report.add(SKIP, what, "not checked: the base URL did not answer")
        return
    if engine is not None:
        await _check_budget_assets(exchange, engine, report)
        await _check_constraint_symbols(exchange, engine, report)
    # As the server does after a -1021: sign with the server's time, so the keys are checked, not the clock.
    exchange.timestamp_offset_ms = skew_ms
    corrected = abs(skew_ms) > MAX_CLOCK_SKEW_MS
    if await _check_keys(exchange, config, engine, report, clock_corrected=corrected):
        await _check_permissions(exchange, config, engine, report)


async def _check_budget_assets(exchange: ExchangeClient, engine: PolicyEngine, report: Report) -> None:
    """A budget in an asset Binance does not list (`USTD`) limits nothing: a problem, with a did-you-mean."""
    from binance_mcp.exchange.errors import ExchangeFailure
    from binance_mcp.guard.budget import unknown_budget_assets

    assets = list(engine.policy.budgets.daily_notional)
    if not assets:
        return
    try:
        listed = await exchange.listed_assets()
    except ExchangeFailure as exc:
        report.add(WARN, "budget assets", f"not checked: exchangeInfo could not be read ({exc.message})")
        return
    unknown = sorted(asset for asset in assets if asset not in listed)
    if unknown:
        report.add(FAIL, "budget assets", f"{unknown_budget_assets(unknown, listed)}; fix the policy")
    else:
        report.add(OK, "budget assets", f"{', '.join(assets)} listed by Binance")


async def _check_constraint_symbols(exchange: ExchangeClient, engine: PolicyEngine, report: Report) -> None:
    """A `symbols` bound naming a symbol Binance does not list (`BTCUSTD`) refuses what it meant to allow."""
    from difflib import get_close_matches

    policy = engine.policy
    levels = [("rules", policy.rules)] + [
        (f"agents.{name}.rules", a.rules) for name, a in policy.agents.items()
    ]
    named = {
        f"{prefix}.{key}.constraints.symbols": rule.constraints.symbols
        for prefix, rules in levels
        for key, rule in rules.items()
        if rule.constraints is not None and rule.constraints.symbols
    }
    if not named:
        return
    listed = await exchange.listed_symbols()
    if not listed:
        report.add(WARN, "policy symbols", "not checked: exchangeInfo could not be read")
        return
    problems = []
    for path, symbols in named.items():
        for symbol in symbols:
            if symbol not in listed:
                close = get_close_matches(symbol, listed, n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]}?)" if close else ""
                problems.append(f"{path} names {symbol}, which Binance does not list{hint}")
    if problems:
        report.add(FAIL, "policy symbols", "; ".join(problems))
    else:
        report.add(OK, "policy symbols", "every symbol the policy names is listed by Binance")


def _close_worker_loop() -> None:
    """python-binance's `Client` makes an asyncio loop in the worker thread it is built in and never
    closes it; left to the garbage collector at exit it prints a traceback. The doctor's calls run
    one after another, so they share one worker thread: close its loop there."""
    import asyncio

    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:  # no loop in this thread: nothing to close
        return
    if not loop.is_running() and not loop.is_closed():
        loop.close()


def _reach_hint(message: str, base_url: str) -> str:
    """The next step when the base URL could not be reached at all."""
    text = message.lower()
    if "refused" in text or "could not connect" in text or "timed out" in text or "name or service" in text:
        return (
            f" — check that {base_url} is right and running: drop --base-url (or BINANCE_BASE_URL) to use the "
            "network's own, or start what it points at; a proxy or firewall may also block it"
        )
    return ""


async def _check_base_url_and_clock(exchange: ExchangeClient, report: Report) -> int | None:
    """The base URL and the clock; returns the skew (server − local, ms) or None if no answer.

    Asked twice: the first request pays for importing the client library and opening the
    connection, the second is timed, so its round trip (and the skew's error) is the network's.
    """
    try:
        await exchange.get_server_time()
        wall_before, started = time.time(), time.perf_counter()
        server_ms = await exchange.get_server_time()
    except BinanceRejected as exc:
        report.add(FAIL, "base URL", f"{exchange.base_url} answered GET /api/v3/time with {exc.sentence()}")
    except ExchangeFailure as exc:
        report.add(FAIL, "base URL", exc.message + _reach_hint(exc.message, exchange.base_url))
    except Exception as exc:  # an answer that is not Binance's (HTML, garbage): still one line
        report.add(
            FAIL, "base URL", f"{exchange.base_url} did not answer like Binance ({type(exc).__name__})"
        )
    else:
        round_trip_ms = (time.perf_counter() - started) * 1000
        local_ms = (wall_before * 1000) + round_trip_ms / 2  # our clock when the server read its own
        report.add(
            OK, "base URL", f"{exchange.base_url} answers (GET /api/v3/time in {round_trip_ms:.0f} ms)"
        )
        skew_ms = round(server_ms - local_ms)
        _report_clock(skew_ms, round_trip_ms, report)
        return skew_ms
    report.add(SKIP, "clock", "not checked: the base URL did not answer")
    return None


def _report_clock(skew_ms: int, round_trip_ms: float, report: Report) -> None:
    if skew_ms == 0:
        amount = "in step with the server's time"
    else:
        amount = f"{abs(skew_ms)} ms {'behind' if skew_ms > 0 else 'ahead of'} the server's time"
    if abs(skew_ms) > MAX_CLOCK_SKEW_MS:
        report.add(
            FAIL,
            "clock",
            f"this machine is {amount}, over {MAX_CLOCK_SKEW_MS} ms: Binance refuses signed requests stamped "
            "over 1000 ms ahead of its clock or older than their recvWindow (10000 ms as binance-mcp signs them); "
            "sync the clock (NTP: timedatectl set-ntp true)",
        )
    else:
        report.add(OK, "clock", f"this machine is {amount} (±{round_trip_ms / 2:.0f} ms)")


def _trading_tools_allowed(engine: PolicyEngine | None, network: str) -> list[str]:
    """Trading tools (orders, cancels) the policy lets an agent call on this network at all."""
    if engine is None:
        return []
    return [
        row.tool
        for row in engine.explain(network)
        if TOOL_RISK[row.tool] in TRADING_RISKS and row.visible and row.action != "deny"
    ]


def _report_key_type(config: ServerConfig, report: Report) -> None:
    """Which kind of key signs; the private key file's permissions (a warning with the chmod)."""
    credentials = config.credentials
    if credentials is None:
        return
    private_key = credentials.private_key
    if private_key is None:
        report.add(
            INFO,
            "key type",
            "HMAC (BINANCE_API_SECRET); Binance calls HMAC keys deprecated and recommends Ed25519: "
            "see the README's API keys section",
        )
        return
    recommended = "" if private_key.key_type is KeyType.ED25519 else "; Binance recommends Ed25519"
    report.add(
        OK,
        "key type",
        f"{private_key.describe()} (public key {private_key.public_key_line}){recommended}",
    )
    exposed = readable_by_others(private_key.path)
    if exposed:
        report.add(WARN, "private key file", exposed)
    else:
        report.add(OK, "private key file", f"{private_key.path} is readable by its owner only")


async def _check_keys(
    exchange: ExchangeClient,
    config: ServerConfig,
    engine: PolicyEngine | None,
    report: Report,
    *,
    clock_corrected: bool,
) -> bool:
    """Whether keys are present and Binance accepts them (`GET /api/v3/account`)."""
    if config.credentials is None:
        report.add(
            SKIP,
            "API keys",
            "none set (BINANCE_API_KEY and BINANCE_API_SECRET, or BINANCE_API_KEY and BINANCE_PRIVATE_KEY_FILE "
            "for an Ed25519 or RSA key, in the environment or .env): "
            "market data works without them, account and trading tools do not",
        )
        report.add(SKIP, "key permissions", "not checked: no API keys")
        return False
    corrected = "; checked with the clock corrected" if clock_corrected else ""
    try:
        account = await exchange.get_account()
    except BinanceRejected as exc:
        report.add(FAIL, "API keys", f"Binance refused them: {_without_doctor(exc.sentence())}{corrected}")
    except ExchangeFailure as exc:
        report.add(FAIL, "API keys", f"not checked: {exc.message}")
    except Exception as exc:
        report.add(FAIL, "API keys", f"not checked: unexpected {type(exc).__name__}")
    else:
        can_trade = account.get("canTrade")
        trade_text = "yes" if can_trade is True else "no" if can_trade is False else "unknown"
        signed = f"GET /api/v3/account signed with the {config.credentials.key_type.value} key"
        detail = f"accepted ({signed}; account type {account.get('accountType', '?')}, can trade: {trade_text}{corrected})"
        trading = _trading_tools_allowed(engine, config.network.value)
        if can_trade is False and trading:
            report.add(
                FAIL,
                "API keys",
                f"{detail}, but the policy allows {', '.join(trading)} on {config.network.value}",
            )
        else:
            report.add(OK, "API keys", detail)
        return True
    report.add(SKIP, "key permissions", "not checked: the API keys did not work")
    return False


async def _check_permissions(
    exchange: ExchangeClient, config: ServerConfig, engine: PolicyEngine | None, report: Report
) -> None:
    """On mainnet: withdrawals, IP restriction and spot trading of the keys."""
    network = config.network.value
    if network != "mainnet":
        report.add(
            SKIP,
            "key permissions",
            f"checked on mainnet only ({network} has no /sapi/v1/account/apiRestrictions)",
        )
        return
    try:
        restrictions = await exchange.get_api_restrictions()
    except BinanceRejected as exc:
        report.add(FAIL, "key permissions", unchecked_sentence(_without_doctor(exc.sentence())))
        return
    except ExchangeFailure as exc:
        report.add(FAIL, "key permissions", unchecked_sentence(exc.message))
        return
    except Exception as exc:
        report.add(FAIL, "key permissions", unchecked_sentence(f"unexpected {type(exc).__name__}"))
        return

    problem = withdrawal_problem(restrictions)
    if problem is None:
        report.add(OK, "withdrawals", "disabled on these keys")
    elif problem == WITHDRAWAL_KEYS_REFUSED and config.allow_withdrawal_keys:
        report.add(
            WARN,
            "withdrawals",
            "ENABLED on these keys, accepted because of --allow-withdrawal-keys: an agent's keys could move "
            "money off the exchange",
        )
    else:
        report.add(FAIL, "withdrawals", problem)

    if restrictions.get("ipRestrict") is True:
        report.add(OK, "IP restriction", "on: the keys work only from the IP addresses set at Binance")
    else:
        report.add(
            WARN,
            "IP restriction",
            "off: anyone holding these keys can use them from anywhere; restrict them to this machine's IP "
            "in Binance's API management",
        )

    trading = _trading_tools_allowed(engine, network)
    if restrictions.get("enableSpotAndMarginTrading") is True:
        report.add(OK, "spot trading", "enabled on these keys")
    elif trading:
        report.add(
            FAIL,
            "spot trading",
            f"disabled on these keys, but the policy allows {', '.join(trading)} on {network}: "
            "enable Spot & Margin Trading for the key, or deny those tools",
        )
    else:
        report.add(
            OK, "spot trading", f"disabled on these keys, and the policy allows no trading tool on {network}"
        )


def _summarise_policy(engine: PolicyEngine, config: ServerConfig, report: Report) -> None:
    """What the policy lets an agent without rules of its own do on this network."""
    network = config.network.value
    rows = engine.explain(network)
    visible = [row for row in rows if row.visible]
    allowed = [row.tool for row in visible if row.action == "allow" and row.approval is None]
    approval = [f"{row.tool} ({row.approval})" for row in visible if row.approval is not None]
    denied = [row.tool for row in visible if row.action == "deny"]
    hidden = [row.tool for row in rows if not row.visible]
    report.add(INFO, "tools", f"{len(visible)} of {len(rows)} visible on {network}")
    for what, tools in (
        ("allowed", allowed),
        ("need approval", approval),
        ("denied", denied),
        ("hidden", hidden),
    ):
        report.add(INFO, what, ", ".join(tools) if tools else "none")
    limits = [
        f"{row.tool} {row.rate_limit.max} per {row.rate_limit.window} s per {row.rate_limit.scope}"
        for row in visible
        if row.rate_limit is not None and row.action != "deny"
    ]
    report.add(INFO, "rate limits", "; ".join(limits) if limits else "none")
    dry = [row.tool for row in visible if row.dry_run and row.action != "deny"]
    if dry or config.dry_run:
        report.add(INFO, "dry run", "every order (--dry-run)" if config.dry_run else ", ".join(dry))
    budgets = engine.policy.budgets.daily_notional
    if budgets:
        spent = _spent_today(config, list(budgets))
        parts = []
        for asset, amount in budgets.items():
            used = spent.get(asset)
            tail = f" ({decimal_text(used)} spent today)" if used is not None else ""
            parts.append(f"{decimal_text(amount)} {asset} per UTC day{tail}")
        report.add(INFO, "budgets", f"on {network}: " + "; ".join(parts))
    else:
        report.add(INFO, "budgets", "none (orders are not limited by a daily notional)")
    if engine.agent_names:
        report.add(
            INFO, "agents", f"rules of their own for {', '.join(engine.agent_names)} (policy explain --agent)"
        )


def _spent_today(config: ServerConfig, assets: list[str]) -> dict[str, Decimal]:
    """Today's spending per asset from the state dir's budgets, if it has any (never creates it)."""
    from binance_mcp.account import AccountKey
    from binance_mcp.state_dir import resolve_state_dir
    from binance_mcp.stores.budgets import BudgetStore, budgets_path

    account = str(AccountKey.of(config.network, config.credentials.api_key if config.credentials else None))
    try:
        if config.state_url:
            from binance_mcp.stores import PostgresState

            with PostgresState(config.state_url) as state, state.budgets() as budgets:
                return {asset: budgets.spent_today(account, asset) for asset in assets}
        path = budgets_path(resolve_state_dir(config.state_dir, create=False))
        if not path.is_file():
            return {}
        with BudgetStore(path) as store:
            return {asset: store.spent_today(account, asset) for asset in assets}
    except Exception:  # a summary, not a check: the state dir line says what is wrong with it
        return {}


def _without_doctor(sentence: str) -> str:
    """An error's next step, minus "run binance-mcp doctor": this is doctor."""
    for tail in (", and run `binance-mcp doctor`", ", then run `binance-mcp doctor`"):
        sentence = sentence.replace(tail, "")
    return sentence


def _check_state_dir(config: ServerConfig, report: Report) -> bool:
    """The state: PostgreSQL (connected, version, a row written and read back) or the state dir.
    Whether it can be used."""
    from binance_mcp.state_dir import StateError, resolve_state_dir, state_dir_problem

    if config.state_url:
        return check_postgresql(config.state_url, report.add)

    try:
        path = resolve_state_dir(config.state_dir, create=False)
    except StateError as exc:
        report.add(FAIL, "state dir", str(exc))
        return False
    problem = state_dir_problem(path)
    if problem is not None:
        report.add(FAIL, "state dir", problem)
        return False
    if not path.exists():
        report.add(OK, "state dir", f"{path} does not exist yet; the server creates it on start")
    else:
        found = [name for name in _STATE_FILES if (Path(path) / name).is_file()]
        report.add(OK, "state dir", f"{path} is writable" + (f" ({', '.join(found)})" if found else ""))
    return True


_STATE_FILES = ("audit.sqlite3", "approvals.sqlite3", "budgets.sqlite3")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
