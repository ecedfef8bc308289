"""API keys of each type for the tests: the HMAC key of `conftest`, and Ed25519 and RSA keys made once
per test session, registered on the test exchange as a user registers a public key at Binance.

`key_env(key_type, directory, fake)` writes the private key to a PEM file readable by its owner only,
registers its public key on `fake` and returns the environment that configures it.
"""

from __future__ import annotations

import functools
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tests.fake_binance import FakeBinance

# The HMAC key and secret of Binance's documented examples (binance-api.md §3.3's test vectors).
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
API_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
KEY_TYPES = ("HMAC", "Ed25519", "RSA")
# API keys as Binance writes them (64 letters and digits), one for each registered public key.
ED25519_API_KEY = "Ed25519kJ6mYwq0pNf3sR8tV1xZ4bD7gH2jL5nP9rT3vX6yA0cE4iK8mO2qS5uW9"
RSA_API_KEY = "Rsa2048aB3dF6hJ9kM2nP5qS8tV1wY4zC7eG0iL3oR6uX9bE2fH5jK8mN1pQ4sT7"
API_KEYS = {"HMAC": API_KEY, "Ed25519": ED25519_API_KEY, "RSA": RSA_API_KEY}


@functools.cache
def private_key(key_type: str) -> ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    if key_type == "Ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if key_type == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "EC":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(key_type)


def private_pem(key_type: str, passphrase: str | None = None) -> bytes:
    """The private key as `openssl genpkey` writes it (PKCS#8 PEM), encrypted with `passphrase` if given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    return private_key(key_type).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def public_pem(key_type: str) -> bytes:
    """The public key to register, as `openssl pkey -in key.pem -pubout` writes it."""
    return (
        private_key(key_type)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def write_key(path: Path, data: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    return path


# The Ed25519 key's file is encrypted with this (the RSA key's is not): both ways are used everywhere.
PASSPHRASES = {"Ed25519": "correct horse battery staple"}


def key_env(key_type: str, directory: Path, fake: FakeBinance | None = None) -> dict[str, str]:
    """The environment for an API key of `key_type`; Ed25519 and RSA keys are registered on `fake`.
    The Ed25519 key's file is encrypted, with BINANCE_PRIVATE_KEY_PASSPHRASE set."""
    if key_type == "HMAC":
        return {"BINANCE_API_KEY": API_KEY, "BINANCE_API_SECRET": API_SECRET}
    passphrase = PASSPHRASES.get(key_type)
    path = write_key(directory / f"{key_type.lower()}-key.pem", private_pem(key_type, passphrase))
    if fake is not None:
        fake.register_key(API_KEYS[key_type], public_pem(key_type))
    env = {"BINANCE_API_KEY": API_KEYS[key_type], "BINANCE_PRIVATE_KEY_FILE": str(path)}
    return env | ({"BINANCE_PRIVATE_KEY_PASSPHRASE": passphrase} if passphrase else {})


def key_secrets(key_type: str, passphrase: str | None = None) -> list[str]:
    """What must never be shown for a key of `key_type`: the secret or the private key's PEM, whole and
    line by line, and the passphrase (`passphrase`, and the one `key_env` uses)."""
    if key_type == "HMAC":
        return [API_KEY, API_SECRET]
    pem = private_pem(key_type).decode()
    body = [line for line in pem.splitlines() if not line.startswith("-----")]
    found = [API_KEYS[key_type], pem, "".join(body), *[line for line in body if len(line) >= 20]]
    return found + [p for p in (passphrase, PASSPHRASES.get(key_type)) if p]
