"""Fuzzing with hypothesis: whatever an agent or a broken client sends, the server answers sanely.

- Generated arguments for each of the ten tools, in-process through `mcp.Client` against the local
  exchange: never a traceback in a result, every error result carries structured content with a
  known `error` kind, never a secret, and the server still answers `get_price` afterwards.
- Malformed JSON-RPC as raw bytes to a `binance-mcp --testnet` subprocess over stdio (invalid JSON,
  bad UTF-8, wrong types, huge ids, deep nesting, unknown methods, stray responses), and as raw
  POSTs to `/mcp` over HTTP (with odd headers too): no crash, no traceback in any answer, no 500,
  and the server still answering after each batch.

The counts (examples run, results by kind) are printed at the end of the test session. The budget
is small enough for CI: 200 examples per tool, 100 batches over stdio, 150 POSTs over HTTP.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from binance_mcp.http.bounds import HttpBounds
from binance_mcp.http.serve import HttpService
from binance_mcp.http.settings import prepare_http
from binance_mcp.refusals import RefusalKind
from binance_mcp.stores.tokens import TokenStore
from binance_mcp.tools import catalog
from binance_mcp.tools.names import TOOL_NAMES
from tests.command import BINANCE_MCP
from tests.conftest import API_KEY, API_SECRET, make_app
from tests.fake_binance import FakeBinance
from tests.test_http import QUICK_STOP

KINDS = {kind.value for kind in RefusalKind}
TOOLS = list(catalog.load())
SCHEMAS = {name: entry["input_schema"] for name, entry in catalog.load().items()}
KNOWN_SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBBTC", "btcusdt", "ETHBTC"]
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+")
FUZZ_POLICY = {
    "version": "1",
    "default": "allow",
    "rules": {
        "get_24hr_ticker": {"action": "allow", "rate_limit": {"max": 40, "window": 60}},
        "cancel_all_orders": {"action": "require_approval"},
        "get_open_orders": {"action": "deny", "reason": "not for fuzzers"},
    },
}
COUNTS: dict[str, Counter[str]] = {"tools": Counter(), "stdio": Counter(), "http": Counter()}

BASE = settings(deadline=None, suppress_health_check=list(HealthCheck), database=None)


class FuzzReport:
    """Prints the counts in pytest's terminal summary (a plugin registered by the first fuzz test)."""

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not any(COUNTS.values()):
            return
        terminalreporter.section("fuzz counts")
        for where, counts in COUNTS.items():
            if counts:
                total = counts.pop("examples", 0)
                parts = ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()))
                terminalreporter.write_line(f"{where}: {total} examples; {parts}")
                counts["examples"] = total


@pytest.fixture(scope="module", autouse=True)
def report(request: pytest.FixtureRequest) -> None:
    manager = request.config.pluginmanager
    if not manager.has_plugin("binance-mcp-fuzz-report"):
        manager.register(FuzzReport(), "binance-mcp-fuzz-report")


# -- strategies ----------------------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63, max_value=10**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["", "0", "-1", "1e400", "0.00000001", "NaN", "BTCUSDT", "\x00", "é" * 40, "A" * 5000])
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def valid(name: str, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values a property's schema allows (and a few just outside its bounds)."""
    if name == "symbol":
        return st.sampled_from(KNOWN_SYMBOLS) | st.from_regex(r"[A-Za-z0-9]{2,20}", fullmatch=True)
    options: list[st.SearchStrategy[Any]] = []
    for branch in schema.get("anyOf", [schema]):
        if "enum" in branch:
            options.append(st.sampled_from(branch["enum"]))
        elif branch.get("type") == "integer":
            low, high = branch.get("minimum", -(10**6)), branch.get("maximum", 10**15)
            # mostly small (a 5000-level order book is slow to make), and the bounds themselves
            options.append(st.integers(min_value=low - 1, max_value=min(high, low + 100)))
            options.append(st.sampled_from([low, high, high + 1]))
        elif branch.get("type") == "string" and "pattern" in branch:
            decimals = st.decimals(min_value=0, max_value=100_000, allow_nan=False, places=4).map(str)
            options.append(
                decimals
                if "[0-9]+" in branch["pattern"]
                else st.from_regex(branch["pattern"], fullmatch=True)
            )
        elif branch.get("type") == "null":
            options.append(st.none())
    return st.one_of(options) if options else JSON_VALUES


def arguments(tool: str) -> st.SearchStrategy[Any]:
    """A third well-formed, a third with one field spoiled or one unknown field, a third anything."""
    schema = SCHEMAS[tool]
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    well_formed = st.fixed_dictionaries(
        {key: valid(key, prop) for key, prop in properties.items() if key in required},
        optional={key: valid(key, prop) for key, prop in properties.items() if key not in required},
    )
    names = st.text(min_size=1, max_size=12)
    if properties:
        names = st.sampled_from(sorted(properties)) | names
    spoiled = st.builds(lambda args, key, value: {**args, key: value}, well_formed, names, JSON_VALUES)
    anything = st.dictionaries(names, JSON_VALUES, max_size=5)
    return well_formed | spoiled | anything


METHODS = [
    "initialize", "ping", "tools/list", "tools/call", "resources/list", "resources/read", "prompts/get",
    "logging/setLevel", "completion/complete", "notifications/initialized", "notifications/cancelled",
    "server/discover", "subscriptions/listen", "sampling/createMessage", "no/such/method", "",
]  # fmt: skip
IDS = (
    st.integers()
    | st.integers(min_value=10**18, max_value=10**400)
    | st.text(max_size=20)
    | st.integers(min_value=1_000, max_value=20_000).map(lambda n: "9" * n)
    | JSON_VALUES
)
MODERN_META = st.fixed_dictionaries(
    {},
    optional={
        "io.modelcontextprotocol/protocolVersion": st.sampled_from(["2026-07-28", "2025-06-18", "1999-01-01"])
        | JSON_VALUES,
        "io.modelcontextprotocol/clientInfo": st.just({"name": "fuzz", "version": "0"}) | JSON_VALUES,
        "io.modelcontextprotocol/clientCapabilities": st.just({}) | JSON_VALUES,
    },
)
PARAMS = (
    st.fixed_dictionaries(
        {},
        optional={
            "name": st.sampled_from([*TOOLS, "no_such_tool"]) | JSON_VALUES,
            "arguments": st.sampled_from(TOOLS).flatmap(arguments) | JSON_VALUES,
            "_meta": MODERN_META | JSON_VALUES,
            "protocolVersion": st.sampled_from(["2025-06-18", "2024-11-05", "2026-07-28"]) | JSON_VALUES,
            "capabilities": st.just({}) | JSON_VALUES,
            "clientInfo": st.just({"name": "fuzz", "version": "0"}) | JSON_VALUES,
            "requestId": IDS,
            "level": st.sampled_from(["debug", "emergency"]) | JSON_VALUES,
        },
    )
    | JSON_VALUES
)
ENVELOPES = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.sampled_from(["2.0", "1.0", 2.0]) | JSON_VALUES,
        "id": IDS,
        "method": st.sampled_from(METHODS) | JSON_VALUES,
        "params": PARAMS,
        "result": JSON_VALUES,
        "error": JSON_VALUES,
    },
)


REQUESTS = st.fixed_dictionaries(
    {
        "jsonrpc": st.just("2.0"),
        "id": st.integers(min_value=0, max_value=10**6) | st.text(max_size=8),
        "method": st.sampled_from(METHODS),
    },
    optional={"params": PARAMS},
)  # well-formed envelopes, so that the methods' own handling is reached too


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


MESSAGES = st.one_of(
    REQUESTS.map(_dumps),
    ENVELOPES.map(_dumps),
    st.lists(ENVELOPES, min_size=1, max_size=3).map(_dumps),  # a batch
    JSON_VALUES.map(_dumps),
    st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.binary(max_size=200),
    st.integers(min_value=100, max_value=50_000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(min_value=400, max_value=5_000).map(
        lambda n: b'{"jsonrpc":"2.0","id":' + b"9" * n + b',"method":"ping"}'
    ),
    ENVELOPES.map(_dumps).map(lambda raw: raw[: len(raw) // 2]),  # cut short
).map(lambda raw: raw.replace(b"\n", b" "))


def kind_of(result: Any) -> str:
    if not result.is_error:
        return "ok"
    structured = result.structured_content
    assert isinstance(structured, dict), result.content
    assert structured.get("error") in KINDS, structured
    return str(structured["error"])


def assert_clean(text: str) -> None:
    assert not TRACEBACK.search(text), text[:2000]
    assert API_SECRET not in text and API_KEY not in text


# -- 1. generated arguments for the ten tools, in-process ----------------------------------------


@dataclass
class InProcess:
    portal: BlockingPortal
    client: Client

    def call(self, tool: str, args: Any) -> Any:
        return self.portal.call(self.client.call_tool, tool, args)


@pytest.fixture
def in_process(tmp_path: Path) -> Iterator[InProcess]:
    """A server and exchange per tool: the exchange's request weight (6000 a minute) starts afresh."""
    with FakeBinance(api_key=API_KEY, api_secret=API_SECRET) as fake, start_blocking_portal() as portal:
        app = make_app(tmp_path, fake.base_url, policy=FUZZ_POLICY)
        with portal.wrap_async_context_manager(Client(app.server)) as client:
            yield InProcess(portal, client)
        app.close()


@pytest.mark.parametrize("tool", TOOLS)
def test_generated_arguments_get_a_readable_result(tool: str, in_process: InProcess) -> None:
    @settings(BASE, max_examples=200)
    @given(args=arguments(tool))
    def one(args: Any) -> None:
        result = in_process.call(tool, args)
        COUNTS["tools"]["examples"] += 1
        COUNTS["tools"][kind_of(result)] += 1
        assert_clean(json.dumps(result.model_dump(mode="json")))

    one()
    after = in_process.call("get_price", {"symbol": "BTCUSDT"})
    assert not after.is_error, after.content


# -- 2. malformed JSON-RPC over stdio ------------------------------------------------------------


class StdioServer:
    """`binance-mcp --testnet` with raw bytes on its stdin; every line it writes is kept."""

    def __init__(self, state: Path, base_url: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BINANCE")}
        self.process = subprocess.Popen(
            [BINANCE_MCP, "--testnet", "--state-dir", str(state), "--base-url", base_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env | {"BINANCE_API_KEY": API_KEY, "BINANCE_API_SECRET": API_SECRET},
        )
        self.lines: queue.Queue[bytes] = queue.Queue()
        self.stdout: list[bytes] = []
        self.stderr: list[bytes] = []
        threading.Thread(target=self._read, args=(self.process.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._keep, args=(self.process.stderr, self.stderr), daemon=True).start()

    @staticmethod
    def _read(stream: Any, into: queue.Queue[bytes]) -> None:
        for line in stream:
            into.put(line)

    @staticmethod
    def _keep(stream: Any, into: list[bytes]) -> None:
        for line in stream:
            into.append(line)

    def send(self, raw: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(raw + b"\n")
        self.process.stdin.flush()

    def ask(self, message: dict[str, Any], timeout: float = 20) -> dict[str, Any]:
        """Send a request and return its answer; every other line read meanwhile is kept."""
        self.send(_dumps(message))
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                stderr = b"".join(self.stderr).decode(errors="replace")[-3000:]
                raise AssertionError(f"no answer to {message} in {timeout} s; stderr:\n{stderr}") from None
            self.stdout.append(line)
            answer = json.loads(line)  # everything on stdout is JSON-RPC
            if isinstance(answer, dict) and answer.get("id") == message["id"]:
                return answer

    def close(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        return self.process.wait(20)


@pytest.fixture(scope="module")
def stdio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StdioServer]:
    with FakeBinance(api_key=API_KEY, api_secret=API_SECRET) as fake:
        server = StdioServer(tmp_path_factory.mktemp("stdio") / "state", fake.base_url)
        hello = {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "fuzz", "version": "0"},
        }
        answer = server.ask({"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": hello})
        assert answer["result"]["serverInfo"]["name"] == "binance-mcp"
        server.send(_dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        try:
            yield server
        finally:
            if server.process.poll() is None:
                server.close()


def test_malformed_json_rpc_over_stdio_crashes_nothing(stdio_server: StdioServer) -> None:
    probes = iter(range(10**9))

    @settings(BASE, max_examples=100)
    @given(batch=st.lists(MESSAGES, min_size=1, max_size=8))
    def one(batch: list[bytes]) -> None:
        for raw in batch:
            stdio_server.send(raw)
        COUNTS["stdio"]["examples"] += len(batch)
        probe = {"jsonrpc": "2.0", "id": f"probe-{next(probes)}", "method": "ping"}
        assert stdio_server.ask(probe) == {"jsonrpc": "2.0", "id": probe["id"], "result": {}}
        assert stdio_server.process.poll() is None

    one()
    call = {"name": "get_price", "arguments": {"symbol": "BTCUSDT"}}
    answer = stdio_server.ask({"jsonrpc": "2.0", "id": "last", "method": "tools/call", "params": call})
    assert answer["result"]["isError"] is False
    while not stdio_server.lines.empty():
        stdio_server.stdout.append(stdio_server.lines.get())
    for line in stdio_server.stdout:
        answer = json.loads(line)
        error = answer.get("error") if isinstance(answer, dict) else None
        COUNTS["stdio"][f"error {error['code']}" if error else "answered"] += 1
        assert_clean(line.decode())
    assert stdio_server.close() == 0
    assert_clean(b"".join(stdio_server.stderr).decode(errors="replace"))


# -- 3. malformed requests over HTTP -------------------------------------------------------------


@dataclass
class HttpTarget:
    url: str
    token: str
    session: str
    http: httpx2.Client = field(repr=False)


@pytest.fixture(scope="module")
def http_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpTarget]:
    with FakeBinance(api_key=API_KEY, api_secret=API_SECRET) as fake, start_blocking_portal() as portal:
        app = make_app(tmp_path_factory.mktemp("http-fuzz"), fake.base_url, policy=FUZZ_POLICY)
        with TokenStore.in_state_dir(app.state_dir) as store:
            token = store.add("fuzzer")
        bounds = HttpBounds(max_sessions_per_agent=10_000, max_body_bytes=256 * 1024)
        service = portal.call(lambda: _service(app, bounds))
        portal.start_task_soon(service.run)
        portal.call(service.ready.wait)
        with httpx2.Client(timeout=30) as http:
            opened = http.post(service.url, json=INITIALIZE, headers=LEGACY | bearer(token))
            assert opened.status_code == 200
            yield HttpTarget(
                url=service.url, token=token, session=opened.headers["mcp-session-id"], http=http
            )
        portal.call(service.stop)
        app.close()


async def _service(app: Any, bounds: HttpBounds) -> HttpService:
    settings = prepare_http("127.0.0.1", 0, [], app.state_dir, bounds, drain=QUICK_STOP)
    return HttpService(app, settings, on_ready=lambda: None)


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "fuzz", "version": "0"},
    },
}
LEGACY = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
MODERN_LIST = {
    "jsonrpc": "2.0",
    "id": "probe",
    "method": "tools/list",
    "params": {
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "fuzz", "version": "0"},
            "io.modelcontextprotocol/clientCapabilities": {},
        }
    },
}
MODERN = LEGACY | {"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/list"}
HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(str.strip)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def header_sets(target: HttpTarget, port: int) -> st.SearchStrategy[dict[str, str]]:
    """Mostly what a client sends (a good token, the right content type), with odd values mixed in."""
    overrides = st.fixed_dictionaries(
        {},
        optional={
            "content-type": st.sampled_from(["text/plain", "application/json; charset=utf-8"]) | HEADER_TEXT,
            "accept": st.sampled_from(["application/json", "text/event-stream", "*/*"]) | HEADER_TEXT,
            "mcp-protocol-version": st.sampled_from(["2025-06-18", "2026-07-28", "2024-11-05"]) | HEADER_TEXT,
            "mcp-session-id": st.just(target.session) | HEADER_TEXT,
            "mcp-method": st.sampled_from(METHODS) | HEADER_TEXT,
            "mcp-name": st.sampled_from(TOOLS) | HEADER_TEXT,
        },
    )
    rare = st.fixed_dictionaries(
        {},
        optional={"authorization": HEADER_TEXT, "origin": st.just(f"http://127.0.0.1:{port}") | HEADER_TEXT},
    )
    base = LEGACY | bearer(target.token)
    rare_too = st.integers(min_value=0, max_value=3).map(lambda n: n == 0)  # a quarter of the time
    return st.builds(lambda a, b, rare: {**base, **a, **(b if rare else {})}, overrides, rare, rare_too)


def test_malformed_requests_over_http_crash_nothing(http_target: HttpTarget) -> None:
    port = int(http_target.url.rsplit(":", 1)[1].split("/")[0])

    @settings(BASE, max_examples=150)
    @given(
        body=MESSAGES,
        headers=header_sets(http_target, port),
        method=st.sampled_from(["POST", "POST", "GET", "DELETE"]),
    )
    def one(body: bytes, headers: dict[str, str], method: str) -> None:
        content = body if method == "POST" else None
        if method == "GET":
            headers = {**headers, "accept": "application/json"}  # a GET stream would stay open
        answer = http_target.http.request(method, http_target.url, content=content, headers=headers)
        COUNTS["http"]["examples"] += 1
        COUNTS["http"][f"{method} {answer.status_code}"] += 1
        assert answer.status_code < 500, (answer.status_code, answer.text[:500])
        assert_clean(answer.text)
        probe = http_target.http.post(
            http_target.url, json=MODERN_LIST, headers=MODERN | bearer(http_target.token)
        )
        assert probe.status_code == 200 and len(probe.json()["result"]["tools"]) == len(TOOL_NAMES)

    one()
