"""API keys as Binance recommends: Ed25519 and RSA beside HMAC (issue #19).

Every signed tool through `mcp.Client` with each type of key, the test exchange verifying each
signature as Binance describes it; the signature's encoding on the wire; `binance-mcp doctor` with
each key type and each bad key file, as a subprocess; nothing secret in what anyone sees.
"""

from __future__ import annotations

import base64
import gc
import json
import logging
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from mcp import Client

from binance_mcp.config import Credentials
from binance_mcp.exchange.client import ExchangeClient
from binance_mcp.exchange.errors import ExchangeFailure
from binance_mcp.keyfile import KeyType, PrivateKey
from binance_mcp.server import App
from binance_mcp.tools import SPECS
from tests.conftest import every_key_type
from tests.fake_binance import FakeBinance
from tests.keys import (
    API_KEYS,
    KEY_TYPES,
    PASSPHRASES,
    key_env,
    key_secrets,
    private_key,
    private_pem,
    public_pem,
    write_key,
)
from tests.test_doctor import STATUS_LINE, lines, run_doctor

pytestmark = pytest.mark.anyio

BRACKET = {"symbol": "BTCUSDT", "type": "OCO", "legs": [
    {"side": "SELL", "type": "LIMIT_MAKER", "quantity": "0.01", "price": "70000"},
    {"side": "SELL", "type": "STOP_LOSS_LIMIT", "quantity": "0.01", "price": "60000", "stop_price": "60500"},
]}  # fmt: skip
PASSPHRASE = PASSPHRASES["Ed25519"]


def assert_nothing_secret(text: str, key_type: str, passphrase: str | None = None) -> None:
    for secret in key_secrets(key_type, passphrase):
        assert secret not in text


# --------------------------------------------------------------------------- every signed tool


@every_key_type
async def test_every_signed_tool_works_with_each_key_type(
    client: Client, fake: FakeBinance, app: App, key_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.set_price("BTCUSDT", "65000")
    called: list[str] = []
    texts: list[str] = []

    async def call(tool: str, arguments: dict) -> dict:
        result = await client.call_tool(tool, arguments)
        texts.append(json.dumps(result.model_dump(mode="json")))
        assert not result.is_error, result.content[0].text
        called.append(tool)
        return result.structured_content

    await call("get_account_info", {})
    placed = await call(
        "place_order",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.02", "price": "60000",
         "client_order_id": "keys-1"},
    )  # fmt: skip
    await call("get_order", {"symbol": "BTCUSDT", "order_id": placed["order_id"]})
    await call("get_open_orders", {"symbol": "BTCUSDT"})
    await call("amend_order", {"symbol": "BTCUSDT", "client_order_id": "keys-1", "new_quantity": "0.01"})
    await call("cancel_order", {"symbol": "BTCUSDT", "client_order_id": "keys-1"})
    await call("place_order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quote_quantity": "100"})
    await call("get_my_trades", {"symbol": "BTCUSDT"})
    await call("get_order_history", {"symbol": "BTCUSDT"})
    listed = await call("place_order_list", BRACKET | {"list_client_order_id": "keys-list"})
    await call("get_order_lists", {"symbol": "BTCUSDT"})
    await call("cancel_order_list", {"symbol": "BTCUSDT", "order_list_id": listed["order_list_id"]})
    await call("place_order", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01",
                               "price": "59000"})  # fmt: skip
    await call("cancel_all_orders", {"symbol": "BTCUSDT"})
    await call(
        "get_order_preview",
        {
            "tool": "place_order",
            "arguments": {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"},
        },
    )

    signed_tools = {name for name, spec in SPECS.items() if spec.needs_credentials}
    assert set(called) == signed_tools
    signed = [r for r in fake.requests if r.signature_ok is not None or "signature" in r.params]
    assert {(r.method, r.path) for r in signed} >= {
        ("GET", "/api/v3/account"), ("POST", "/api/v3/order"), ("PUT", "/api/v3/order/amend/keepPriority"),
        ("DELETE", "/api/v3/order"), ("POST", "/api/v3/orderList/oco"), ("DELETE", "/api/v3/orderList"),
        ("DELETE", "/api/v3/openOrders"), ("GET", "/api/v3/myTrades"),
    }  # fmt: skip
    for request in signed:
        assert (request.signature_ok, request.key_type, request.api_key) == (
            True,
            key_type,
            API_KEYS[key_type],
        )
    audit = json.dumps([record.to_dict() for record in app.audit.query()])
    assert_nothing_secret("\n".join([*texts, audit, caplog.text]), key_type)


async def test_a_private_key_other_than_the_registered_one_is_refused_with_1022(
    tmp_path: Path, fake: FakeBinance, build
) -> None:
    """A signature by another key than the one registered for the API key: -1022, as Binance answers."""
    env = key_env("Ed25519", tmp_path, fake)
    fake.register_key(API_KEYS["Ed25519"], public_pem("RSA"))  # the account registered another key
    app = build({"version": "1", "default": "allow"}, keys=env)
    async with Client(app.server) as client:
        result = await client.call_tool("get_account_info", {})
    assert result.is_error and result.structured_content["code"] == -1022
    reason = result.structured_content["reason"]
    assert "BINANCE_PRIVATE_KEY_FILE" in reason and "Ed25519 key" in reason, reason
    assert "BINANCE_API_SECRET" not in reason  # this user has no HMAC secret to check
    [request] = [r for r in fake.requests if r.path == "/api/v3/account"]
    assert request.signature_ok is False and request.key_type == "RSA"


# --------------------------------------------------------------------------- the signature on the wire


def _signed_query(key_type: str, timestamp: int) -> tuple[str, str]:
    """A query for GET /api/v3/account and its base64 signature, made as Binance's docs show."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    payload = f"timestamp={timestamp}&recvWindow=60000"
    key = private_key(key_type)
    if key_type == "RSA":
        raw = key.sign(payload.encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[call-arg]
    else:
        raw = key.sign(payload.encode())  # type: ignore[call-arg]
    return payload, base64.b64encode(raw).decode()


@pytest.mark.parametrize("key_type", ["Ed25519", "RSA"])
def test_the_exchange_verifies_base64_signatures_percent_encoded_and_refuses_them_raw(
    fake: FakeBinance, key_type: str
) -> None:
    fake.register_key(API_KEYS[key_type], public_pem(key_type))
    headers = {"X-MBX-APIKEY": API_KEYS[key_type]}
    timestamp = fake.server_time()
    while True:  # a signature with a '+' in it: sent raw, it reads as a space
        payload, signature = _signed_query(key_type, timestamp)
        if "+" in signature:
            break
        timestamp -= 1
    encoded = requests.get(
        f"{fake.base_url}/api/v3/account?{payload}&signature={quote(signature, safe='')}",
        headers=headers,
        timeout=5,
    )
    assert encoded.status_code == 200, encoded.text
    raw = requests.get(
        f"{fake.base_url}/api/v3/account?{payload}&signature={signature}", headers=headers, timeout=5
    )
    assert (raw.status_code, raw.json()["code"]) == (400, -1022)
    flipped = signature.swapcase()  # case-sensitive, unlike an HMAC signature
    wrong_case = requests.get(
        f"{fake.base_url}/api/v3/account?{payload}&signature={quote(flipped, safe='')}",
        headers=headers,
        timeout=5,
    )
    assert (wrong_case.status_code, wrong_case.json()["code"]) == (400, -1022)
    assert [r.signature_ok for r in fake.requests] == [True, False, False]


@pytest.mark.parametrize("key_type", ["Ed25519", "RSA"])
async def test_python_binance_percent_encodes_the_signature_in_query_and_body(
    tmp_path: Path, fake: FakeBinance, key_type: str
) -> None:
    """What python-binance sends, as the exchange received it: `%2B`/`%2F`/`%3D`, never a bare `+`,
    in a GET's query and in a POST's and DELETE's body."""
    credentials = _credentials(tmp_path, fake, key_type)
    exchange = ExchangeClient(fake.base_url, credentials)
    for _ in range(4):  # a few signatures: most hold a '+' or a '/' somewhere
        await exchange.get_account()
        placed = await exchange.place_order(
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.01",
                "price": "50000",
            }
        )
        await exchange.cancel_order("BTCUSDT", placed["orderId"], None)
    sent = [
        (r.raw_query if r.method == "GET" else r.raw_body) for r in fake.requests if r.path != "/api/v3/time"
    ]
    signatures = [part.split("signature=", 1)[1] for part in sent if "signature=" in part]
    assert len(signatures) == 12 and all(r.signature_ok for r in fake.requests if r.signature_ok is not None)
    assert not any(char in text for text in signatures for char in "+/=")
    assert any("%2B" in text or "%2F" in text for text in signatures)


def _credentials(tmp_path: Path, fake: FakeBinance, key_type: str) -> Credentials:
    from binance_mcp.config import load_credentials

    credentials = load_credentials(key_env(key_type, tmp_path, fake))
    assert credentials is not None and credentials.key_type.value == key_type
    return credentials


async def test_a_key_python_binance_cannot_load_is_a_sentence_without_a_traceback(
    fake: FakeBinance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """python-binance's failed construction used to print `Exception ignored in: Client.__del__`."""
    unraisable: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    damaged = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"
    key = PrivateKey(KeyType.ED25519, Path("/keys/ed25519.pem"), damaged, "", 256)
    exchange = ExchangeClient(fake.base_url, Credentials(API_KEYS["Ed25519"], private_key=key))
    with pytest.raises(ExchangeFailure) as info:
        await exchange.get_account()
    gc.collect()
    assert unraisable == []
    assert "python-binance could not load /keys/ed25519.pem" in info.value.sentence()
    assert "MC4CAQ" not in info.value.sentence()


# --------------------------------------------------------------------------- doctor, as a subprocess


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_doctor_names_the_key_type_and_signs_with_it(
    tmp_path: Path, fake: FakeBinance, key_type: str
) -> None:
    env = key_env(key_type, tmp_path, fake)
    done = run_doctor("--testnet", "--base-url", fake.base_url, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    found = lines(done.stdout)
    assert found["API keys"].startswith(
        f"ok    API keys: accepted (GET /api/v3/account signed with the {key_type} key; account type SPOT"
    )
    [request] = [r for r in fake.requests if r.path == "/api/v3/account"]
    assert (request.signature_ok, request.key_type) == (True, key_type)
    if key_type == "HMAC":
        assert found["key type"].startswith(
            "info  key type: HMAC (BINANCE_API_SECRET); Binance calls HMAC keys deprecated"
        )
    else:
        size = "2048-bit " if key_type == "RSA" else ""
        assert found["key type"].startswith(
            f"ok    key type: {size}{key_type} private key {env['BINANCE_PRIVATE_KEY_FILE']}"
        )
        public_line = "".join(public_pem(key_type).decode().splitlines()[1:-1])
        assert f"(public key {public_line})" in found["key type"]
        assert found["private key file"].endswith("is readable by its owner only")
    assert_nothing_secret(done.stdout, key_type)


def test_doctor_with_an_encrypted_key_and_its_passphrase(tmp_path: Path, fake: FakeBinance) -> None:
    path = write_key(tmp_path / "locked.pem", private_pem("Ed25519", PASSPHRASE))
    fake.register_key(API_KEYS["Ed25519"], public_pem("Ed25519"))
    env = {
        "BINANCE_API_KEY": API_KEYS["Ed25519"],
        "BINANCE_PRIVATE_KEY_FILE": str(path),
        "BINANCE_PRIVATE_KEY_PASSPHRASE": PASSPHRASE,
    }
    done = run_doctor("--testnet", "--base-url", fake.base_url, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "signed with the Ed25519 key" in lines(done.stdout)["API keys"]
    assert_nothing_secret(done.stdout + done.stderr, "Ed25519", PASSPHRASE)


def _public_key_file(directory: Path) -> Path:
    return write_key(directory / "public.pem", public_pem("Ed25519"))


def _ec_key_file(directory: Path) -> Path:
    return write_key(directory / "ec.pem", private_pem("EC"))


def _encrypted_key_file(directory: Path) -> Path:
    return write_key(directory / "locked.pem", private_pem("Ed25519", PASSPHRASE))


@pytest.mark.parametrize(
    ("make", "passphrase", "words"),
    [
        (
            _encrypted_key_file,
            None,
            "is encrypted and no passphrase was given: set BINANCE_PRIVATE_KEY_PASSPHRASE",
        ),
        (_encrypted_key_file, "not it at all", "the passphrase does not decrypt"),
        (_public_key_file, None, "holds a public key; give the private key here"),
        (
            _ec_key_file,
            None,
            "holds an EC (secp256r1) key, which Binance does not take; Binance accepts Ed25519",
        ),
    ],
    ids=["encrypted-without-passphrase", "wrong-passphrase", "public-key", "ec-p256-key"],
)
def test_a_bad_key_file_is_one_line_and_exit_2(
    tmp_path: Path, fake: FakeBinance, make, passphrase: str | None, words: str
) -> None:
    path = make(tmp_path)
    env = {"BINANCE_API_KEY": API_KEYS["Ed25519"], "BINANCE_PRIVATE_KEY_FILE": str(path)}
    if passphrase:
        env["BINANCE_PRIVATE_KEY_PASSPHRASE"] = passphrase
    done = run_doctor("--testnet", "--base-url", fake.base_url, env=env, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("binance-mcp doctor: BINANCE_PRIVATE_KEY_FILE: ") and words in line, line
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    assert fake.requests == []  # nothing was signed, nothing sent
    assert_nothing_secret(done.stderr, "Ed25519", passphrase or PASSPHRASE)


def _fifo(directory: Path) -> Path:
    import os

    os.mkfifo(directory / "key.pem")  # nobody writes to it: opening it would wait for ever
    return directory / "key.pem"


def _endless(directory: Path) -> Path:
    (directory / "key.pem").symlink_to("/dev/zero")  # reading it to its end would never end
    return directory / "key.pem"


@pytest.mark.parametrize("make", [_fifo, _endless], ids=["fifo", "symlink-to-dev-zero"])
def test_a_key_file_that_is_not_a_regular_file_is_one_line_and_exit_2(
    tmp_path: Path, fake: FakeBinance, make
) -> None:
    path = make(tmp_path)
    env = {"BINANCE_API_KEY": API_KEYS["Ed25519"], "BINANCE_PRIVATE_KEY_FILE": str(path)}
    done = run_doctor("--testnet", "--base-url", fake.base_url, env=env, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.splitlines() == [
        f"binance-mcp doctor: BINANCE_PRIVATE_KEY_FILE: {path} is not a regular file; "
        "give the PEM file of the private key"
    ]


def test_doctor_shows_the_whole_public_key_of_a_pkcs1_rsa_key(tmp_path: Path, fake: FakeBinance) -> None:
    """A "BEGIN RSA PRIVATE KEY" file (`openssl rsa -traditional`) holds the modulus at the same base64
    alignment as the public key: the public key doctor shows is not scrubbed as if it were secret."""
    from cryptography.hazmat.primitives import serialization

    pkcs1 = private_key("RSA").private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert pkcs1.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    path = write_key(tmp_path / "rsa-pkcs1.pem", pkcs1)
    fake.register_key(API_KEYS["RSA"], public_pem("RSA"))
    env = {"BINANCE_API_KEY": API_KEYS["RSA"], "BINANCE_PRIVATE_KEY_FILE": str(path)}
    done = run_doctor("--testnet", "--base-url", fake.base_url, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    public_line = "".join(public_pem("RSA").decode().splitlines()[1:-1])
    assert f"(public key {public_line})" in lines(done.stdout)["key type"]
    assert "[redacted]" not in done.stdout
    assert_nothing_secret(done.stdout + done.stderr, "RSA")


@pytest.mark.parametrize("form", ["pem", "base64-line"])
def test_the_key_itself_where_its_path_belongs_is_refused_without_showing_it(
    tmp_path: Path, fake: FakeBinance, form: str
) -> None:
    """Binance's own CLI takes "content of private key": a user who pastes the PEM (or its base64 line)
    into BINANCE_PRIVATE_KEY_FILE gets a line saying so, and the key is not echoed to stderr (an MCP
    client keeps the server's stderr in its logs)."""
    pem = private_pem("Ed25519").decode()
    value = pem if form == "pem" else "".join(pem.splitlines()[1:-1])
    env = {"BINANCE_API_KEY": API_KEYS["Ed25519"], "BINANCE_PRIVATE_KEY_FILE": value}
    done = run_doctor("--testnet", "--base-url", fake.base_url, env=env, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("binance-mcp doctor: BINANCE_PRIVATE_KEY_FILE ") and "not a path" in line, line
    assert_nothing_secret(done.stdout + done.stderr, "Ed25519")
    assert fake.requests == []


def test_a_passphrase_in_a_non_utf8_locale_decrypts_the_key(tmp_path: Path, fake: FakeBinance) -> None:
    """A passphrase typed in a Latin-1 terminal reaches Python as surrogates: its bytes, as openssl
    took them, decrypt the key (it was a UnicodeEncodeError traceback)."""
    import os

    passphrase = os.fsdecode(b"caf\xe9-passphrase")  # the environment as Python sees it
    path = write_key(tmp_path / "latin1.pem", private_pem_with_bytes("Ed25519", b"caf\xe9-passphrase"))
    fake.register_key(API_KEYS["Ed25519"], public_pem("Ed25519"))
    env = {
        "BINANCE_API_KEY": API_KEYS["Ed25519"],
        "BINANCE_PRIVATE_KEY_FILE": str(path),
        "BINANCE_PRIVATE_KEY_PASSPHRASE": passphrase,
    }
    done = run_doctor_bytes(fake, env, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "signed with the Ed25519 key" in lines(done.stdout)["API keys"]


@pytest.mark.parametrize("name", ["BINANCE_API_KEY", "BINANCE_API_SECRET"])
def test_an_api_key_with_characters_no_key_has_is_one_line_and_exit_2(
    tmp_path: Path, fake: FakeBinance, name: str
) -> None:
    """Bytes that are not UTF-8 (a key copied through a Latin-1 terminal): one line, not "the base
    URL did not answer" (the key) or "unexpected UnicodeEncodeError" (the secret)."""
    import os

    env = key_env("Ed25519" if name == "BINANCE_API_KEY" else "HMAC", tmp_path, fake)
    env[name] = os.fsdecode(b"\xe9" + env[name].encode())
    done = run_doctor_bytes(fake, env, tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"binance-mcp doctor: {name} holds characters an API key never has"), line
    assert_nothing_secret(done.stderr, "Ed25519" if name == "BINANCE_API_KEY" else "HMAC")


def private_pem_with_bytes(key_type: str, passphrase: bytes) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return private_key(key_type).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )


def run_doctor_bytes(fake: FakeBinance, env: dict[str, str], cwd: Path):
    """`run_doctor` with values that are not UTF-8 (surrogates), passed to the child as their bytes."""
    import os
    import subprocess

    base = {k: v for k, v in os.environ.items() if not k.startswith("BINANCE")}
    return subprocess.run(
        [sys.executable, "-m", "binance_mcp.cli", "doctor", "--testnet", "--base-url", fake.base_url],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=60,
        env={os.fsencode(k): os.fsencode(v) for k, v in (base | env).items()},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def test_a_short_passphrase_is_not_revealed_by_where_it_is_scrubbed(
    tmp_path: Path, fake: FakeBinance
) -> None:
    """A passphrase that is an ordinary word ("testnet") was scrubbed from every line doctor printed:
    "network: [redacted]" and "ed_[redacted].pem" told the reader what it is. Nothing prints the
    passphrase; only one too long to be ordinary text is scrubbed, as defence in depth."""
    path = write_key(tmp_path / "ed_testnet.pem", private_pem_with_bytes("Ed25519", b"testnet"))
    fake.register_key(API_KEYS["Ed25519"], public_pem("Ed25519"))
    env = {
        "BINANCE_API_KEY": API_KEYS["Ed25519"],
        "BINANCE_PRIVATE_KEY_FILE": str(path),
        "BINANCE_PRIVATE_KEY_PASSPHRASE": "testnet",
    }
    done = run_doctor("--testnet", "--base-url", fake.base_url, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[redacted]" not in done.stdout
    assert lines(done.stdout)["network"].startswith("info  network: testnet at ")


def test_a_key_file_others_can_read_is_a_warning_with_the_chmod(tmp_path: Path, fake: FakeBinance) -> None:
    env = key_env("Ed25519", tmp_path, fake)
    Path(env["BINANCE_PRIVATE_KEY_FILE"]).chmod(0o644)
    done = run_doctor("--testnet", "--base-url", fake.base_url, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr  # a warning, as doctor's warnings go
    path = env["BINANCE_PRIVATE_KEY_FILE"]
    assert lines(done.stdout)["private key file"] == (
        f"warn  private key file: {path} can be read by every user of this machine (mode 0644): "
        f"run `chmod 600 {path}` so that only you can read the private key"
    )
    assert done.stdout.splitlines()[-1] == "no problems found (1 warning)"
    assert all(STATUS_LINE.match(line) for line in done.stdout.splitlines()[:-1])


# --------------------------------------------------------------------------- the server, as a subprocess


def test_the_server_refuses_a_bad_key_file_before_it_starts(tmp_path: Path) -> None:
    from tests.test_cli import run_cli

    env = {"BINANCE_API_KEY": API_KEYS["Ed25519"], "BINANCE_PRIVATE_KEY_FILE": str(_ec_key_file(tmp_path))}
    done = run_cli("--testnet", env=env, cwd=tmp_path)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith("binance-mcp: BINANCE_PRIVATE_KEY_FILE: ") and "EC (secp256r1)" in line


def test_the_server_warns_when_others_can_read_the_key_file(tmp_path: Path) -> None:
    from tests.test_cli import run_cli

    env = key_env("RSA", tmp_path)
    Path(env["BINANCE_PRIVATE_KEY_FILE"]).chmod(0o640)
    done = run_cli("--testnet", env=env, cwd=tmp_path)  # stdin closed: the stdio server ends at once
    path = env["BINANCE_PRIVATE_KEY_FILE"]
    assert (
        f"binance-mcp: warning: {path} can be read by the other users of its group (mode 0640): "
        f"run `chmod 600 {path}` so that only you can read the private key"
    ) in done.stderr.splitlines()
    assert "Traceback" not in done.stderr
    assert_nothing_secret(done.stdout + done.stderr, "RSA")


def test_a_secret_and_a_key_file_together_are_refused(tmp_path: Path, fake: FakeBinance) -> None:
    env = key_env("Ed25519", tmp_path, fake) | {"BINANCE_API_SECRET": "also-a-secret"}
    done = run_doctor("--testnet", "--base-url", fake.base_url, env=env, cwd=tmp_path)
    assert done.returncode == 2
    assert "both BINANCE_API_SECRET and BINANCE_PRIVATE_KEY_FILE are set" in done.stderr


def _doctor_on_a_terminal(tmp_path: Path, fake: FakeBinance, typed: bytes) -> tuple[int, str]:
    """`doctor` run on a pseudo-terminal for the encrypted key, `typed` at its passphrase prompt:
    its exit status and all it wrote."""
    import os
    import pty
    import select

    path = _encrypted_key_file(tmp_path)
    fake.register_key(API_KEYS["Ed25519"], public_pem("Ed25519"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINANCE")} | {
        "BINANCE_API_KEY": API_KEYS["Ed25519"],
        "BINANCE_PRIVATE_KEY_FILE": str(path),
        "LC_ALL": "C.UTF-8",
    }
    argv = [sys.executable, "-m", "binance_mcp.cli", "doctor", "--testnet", "--base-url", fake.base_url]
    pid, fd = pty.fork()
    if pid == 0:  # the child, on the pseudo-terminal
        os.chdir(tmp_path)
        os.execve(sys.executable, argv, env)
    seen = b""

    def read_until(marker: bytes | None) -> None:
        nonlocal seen
        while marker is None or marker not in seen:
            ready, _, _ = select.select([fd], [], [], 60)
            if not ready:
                raise AssertionError(f"no answer from doctor; so far: {seen!r}")
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                return
            if not chunk:
                return
            seen += chunk

    read_until(f"passphrase for {path}: ".encode())
    os.write(fd, typed + b"\n")
    read_until(None)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), seen.decode(errors="replace")


def test_on_a_terminal_doctor_asks_for_the_passphrase(tmp_path: Path, fake: FakeBinance) -> None:
    """No BINANCE_PRIVATE_KEY_PASSPHRASE, but a terminal: the passphrase is asked for, not echoed."""
    status, out = _doctor_on_a_terminal(tmp_path, fake, PASSPHRASE.encode())
    assert status == 0, out
    assert "signed with the Ed25519 key" in out
    assert PASSPHRASE not in out  # not echoed


def test_a_passphrase_typed_in_another_encoding_than_the_terminals_is_one_line(
    tmp_path: Path, fake: FakeBinance
) -> None:
    """Latin-1 bytes typed on a UTF-8 terminal: a line naming the way round it, not getpass's
    UnicodeDecodeError traceback."""
    status, out = _doctor_on_a_terminal(tmp_path, fake, b"caf\xe9")
    assert status == 2, out
    assert "Traceback" not in out
    assert "set BINANCE_PRIVATE_KEY_PASSPHRASE instead" in out, out
    assert fake.requests == []


@pytest.mark.parametrize("key_type", ["Ed25519", "RSA"])
def test_on_mainnet_doctor_reads_the_keys_permissions_signed_with_the_private_key(
    tmp_path: Path, fake: FakeBinance, key_type: str
) -> None:
    fake.withdraw_enabled = True
    env = key_env(key_type, tmp_path, fake)
    done = run_doctor("--mainnet", "--base-url", fake.base_url, env=env, cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert lines(done.stdout)["withdrawals"].startswith(
        "FAIL  withdrawals: these API keys can withdraw funds"
    )
    [request] = [r for r in fake.requests if r.path == "/sapi/v1/account/apiRestrictions"]
    assert (request.signature_ok, request.key_type) == (True, key_type)
