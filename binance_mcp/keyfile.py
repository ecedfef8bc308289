"""The private key of an Ed25519 or RSA API key: read from its PEM file, checked, decrypted in memory.

With an Ed25519 or RSA API key the account holder keeps the private key and registers only the
public key at Binance (faqs/api_key_types.md): `BINANCE_PRIVATE_KEY_FILE` names the PEM file, and
`BINANCE_PRIVATE_KEY_PASSPHRASE` (or a prompt on a terminal) decrypts it. The key is loaded once,
at start-up, with `cryptography`: a key of the wrong kind, a public key where the private one
belongs, an encrypted key without its passphrase each stop start-up with one line
(`KeyFileError`). What is kept is the key as unencrypted PKCS#8 PEM text, in memory only, which is
the form python-binance takes (its `private_key_pass` is used for RSA keys only, so an encrypted
Ed25519 key would be mistaken for RSA: it never sees an encrypted key).

Nothing here imports `cryptography` until a key file is configured: start-up without one stays fast.
"""

from __future__ import annotations

import errno
import re
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

ENV_PRIVATE_KEY_FILE = "BINANCE_PRIVATE_KEY_FILE"
ENV_PRIVATE_KEY_PASSPHRASE = "BINANCE_PRIVATE_KEY_PASSPHRASE"

RSA_SIZES = (2048, 4096)  # what Binance accepts (faqs/api_key_types.md)
ACCEPTED = "Binance accepts Ed25519 (recommended) and RSA keys of 2048 or 4096 bits"
MAKE_ONE = "make one with `openssl genpkey -algorithm ed25519 -out key.pem`"
MAX_KEY_FILE = 64 * 1024  # a 4096-bit RSA key in PEM is about 3.3 KB
_BASE64_KEY = re.compile(r"[A-Za-z0-9+][A-Za-z0-9+/]{59,}={0,2}")  # PEM body lines, not a path
_NO_SUCH_PATH = (errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG)
_KEY_TEXT = (
    "{source} holds the key itself, not a path (not shown here): save the key to a file "
    "readable by you only (chmod 600) and set {source} to that file's path"
)
MIN_REDACTED_LINE = 20  # a PEM line this long is key material; shorter ones are too common to scrub
# Nothing prints the passphrase; it is scrubbed as defence in depth only when too long to be ordinary
# text: a word such as "testnet" would be scrubbed from every line, and where "[redacted]" stands
# would tell the reader what it is.
MIN_REDACTED_PASSPHRASE = 12


class KeyType(StrEnum):
    """The three kinds of Binance API key; the name is what `doctor` shows."""

    HMAC = "HMAC"
    ED25519 = "Ed25519"
    RSA = "RSA"


class KeyFileError(ValueError):
    """The private key file cannot be used; the message is one line saying why and what to do."""


@dataclass(frozen=True)
class PrivateKey:
    """A checked private key: its type, its unencrypted PKCS#8 PEM (never shown) and its public half."""

    key_type: KeyType
    path: Path
    pem: str = field(repr=False)
    public_pem: str
    bits: int
    secrets: tuple[str, ...] = field(repr=False, default=())

    def __repr__(self) -> str:
        return f"PrivateKey({self.key_type.value}, {self.path})"

    @property
    def public_key_line(self) -> str:
        """The public key's base64 on one line, as it is pasted into Binance's API management."""
        return "".join(line for line in self.public_pem.splitlines() if not line.startswith("-----"))

    def describe(self) -> str:
        size = f"{self.bits}-bit " if self.key_type is KeyType.RSA else ""
        return f"{size}{self.key_type.value} private key {self.path}"


PassphrasePrompt = Callable[[Path], str | None]


def load_private_key(
    path: Path,
    passphrase: str | None,
    *,
    ask: PassphrasePrompt | None = None,
    source: str = ENV_PRIVATE_KEY_FILE,
) -> PrivateKey:
    """The key in the PEM file `path`, decrypted with `passphrase` (or what `ask` returns when the
    key is encrypted and no passphrase was given). `KeyFileError` names what is wrong."""
    if _looks_like_key_text(str(path)):
        raise KeyFileError(_KEY_TEXT.format(source=source))
    data = _read(path, source)
    if b"-----BEGIN" not in data:
        raise KeyFileError(f"{source}: {path} is not a PEM private key; {MAKE_ONE}")
    if b"PUBLIC KEY-----" in data and b"PRIVATE KEY-----" not in data:
        raise KeyFileError(
            f"{source}: {path} holds a public key; give the private key here (the file openssl genpkey "
            "wrote) and register the public key at Binance"
        )
    if b"-----BEGIN OPENSSH PRIVATE KEY-----" in data:
        raise KeyFileError(f"{source}: {path} is an OpenSSH key; Binance keys are PEM (PKCS#8): {MAKE_ONE}")
    from cryptography.hazmat.primitives import serialization

    password = _passphrase_bytes(passphrase) if passphrase else None
    key, used = _decrypt(data, password, path, source, ask)
    kind, bits = _key_type(key, path, source)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    secrets = {pem, data.decode("ascii", "replace")}
    public_line = "".join(line for line in public_pem.splitlines() if not line.startswith("-----"))
    for text in (pem, data.decode("ascii", "replace")):
        # a line that is also in the public key is public (a PKCS#1 RSA file holds the modulus at
        # the public key's base64 alignment): scrubbing it would mangle the public key doctor shows
        secrets.update(line for line in _key_lines(text) if line not in public_line)
    if used is not None and len(used) >= MIN_REDACTED_PASSPHRASE:
        secrets.add(used.decode("utf-8", "surrogateescape"))
    return PrivateKey(kind, path, pem, public_pem, bits, tuple(sorted(secrets, key=len, reverse=True)))


def _looks_like_key_text(value: str) -> bool:
    """Whether a path is in fact a key's PEM text or base64 (Binance's CLI takes "content of private
    key"): echoing it in "no file at ..." would put the key on the screen and in the client's logs."""
    return "-----BEGIN" in value or "\n" in value


def _read(path: Path, source: str) -> bytes:
    """The file's bytes; only a regular file is opened (a FIFO would block, /dev/zero never ends)."""
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise KeyFileError(f"{source}: {path} is a directory, not a PEM private key file")
        if not stat.S_ISREG(mode):
            raise KeyFileError(
                f"{source}: {path} is not a regular file; give the PEM file of the private key"
            )
        with path.open("rb") as file:
            data = file.read(MAX_KEY_FILE + 1)
    except OSError as exc:  # no such file, or a name too long: a key's base64 given as the path?
        if exc.errno in _NO_SUCH_PATH and _BASE64_KEY.fullmatch(str(path).strip()):
            raise KeyFileError(_KEY_TEXT.format(source=source)) from None
        if isinstance(exc, FileNotFoundError):
            raise KeyFileError(f"{source}: no file at {path}") from None
        raise KeyFileError(f"{source}: {path} cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_KEY_FILE:
        raise KeyFileError(
            f"{source}: {path} is larger than {MAX_KEY_FILE} bytes, too large for a PEM private key"
        )
    return data


def _decrypt(
    data: bytes, password: bytes | None, path: Path, source: str, ask: PassphrasePrompt | None
) -> tuple[PrivateKeyTypes, bytes | None]:
    """The key, and the passphrase that decrypted it (None if it was not encrypted)."""
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_pem_private_key(data, password=password), password
    except TypeError as exc:
        if "not encrypted" in str(exc):  # a passphrase for a key that has none: the key is what counts
            return serialization.load_pem_private_key(data, password=None), None
        asked = ask(path) if ask is not None and password is None else None
        if asked:
            return _decrypt(data, _passphrase_bytes(asked), path, source, None)
        raise KeyFileError(
            f"{source}: {path} is encrypted and no passphrase was given: set {ENV_PRIVATE_KEY_PASSPHRASE} "
            "(or run the command on a terminal to be asked for it)"
        ) from None
    except ValueError as exc:
        if password is not None and ("decrypt" in str(exc).lower() or "password" in str(exc).lower()):
            raise KeyFileError(
                f"{source}: the passphrase does not decrypt {path}; check {ENV_PRIVATE_KEY_PASSPHRASE} (or what was typed)"
            ) from None
        raise KeyFileError(
            f"{source}: {path} is not a private key cryptography can read; {MAKE_ONE}"
        ) from None
    except Exception:  # an unsupported algorithm or a damaged file: still one line
        raise KeyFileError(
            f"{source}: {path} is not a private key cryptography can read; {MAKE_ONE}"
        ) from None


def _passphrase_bytes(passphrase: str) -> bytes:
    """The passphrase's bytes as they were typed: in a locale other than UTF-8 Python holds the bytes
    it could not decode as surrogates, which `surrogateescape` turns back (as `os.fsencode` does)."""
    return passphrase.encode("utf-8", "surrogateescape")


def _key_type(key: PrivateKeyTypes, path: Path, source: str) -> tuple[KeyType, int]:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, ed25519.Ed25519PrivateKey):
        return KeyType.ED25519, 256
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size not in RSA_SIZES:
            raise KeyFileError(f"{source}: {path} holds a {key.key_size}-bit RSA key; {ACCEPTED}")
        return KeyType.RSA, key.key_size
    if isinstance(key, ec.EllipticCurvePrivateKey):
        what = f"an EC ({key.curve.name}) key"
    else:
        what = f"a key of type {type(key).__name__.removeprefix('_').removesuffix('PrivateKey')}"
    raise KeyFileError(f"{source}: {path} holds {what}, which Binance does not take; {ACCEPTED}")


def _key_lines(pem: str) -> list[str]:
    """The base64 lines of a PEM text, each on its own and all joined: parts of the key worth scrubbing."""
    lines = [line.strip() for line in pem.splitlines() if line.strip() and not line.startswith("-----")]
    body = [line for line in lines if ":" not in line]  # not the Proc-Type/DEK-Info headers
    return [line for line in [*body, "".join(body)] if len(line) >= MIN_REDACTED_LINE]


def readable_by_others(path: Path) -> str | None:
    """A warning with the `chmod` that fixes it, if users other than the owner can read `path`."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if not mode & (stat.S_IRGRP | stat.S_IROTH):
        return None
    who = "every user of this machine" if mode & stat.S_IROTH else "the other users of its group"
    return (
        f"{path} can be read by {who} (mode {stat.S_IMODE(mode):04o}): "
        f"run `chmod 600 {path}` so that only you can read the private key"
    )


def ask_on_terminal(path: Path) -> str | None:
    """The passphrase typed on the terminal (not echoed), or None when stdin is not a terminal."""
    if not sys.stdin.isatty():
        return None
    import getpass

    try:
        return getpass.getpass(f"passphrase for {path}: ") or None
    except (EOFError, KeyboardInterrupt):
        print(file=sys.stderr)
        return None
    except UnicodeDecodeError:  # typed in another encoding than the terminal's (getpass reads text)
        raise KeyFileError(
            f"{ENV_PRIVATE_KEY_FILE}: the passphrase typed for {path} is not text in this terminal's "
            f"encoding: set {ENV_PRIVATE_KEY_PASSPHRASE} instead"
        ) from None
