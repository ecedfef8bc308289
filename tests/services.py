"""Real PostgreSQL and Redis servers for the tests: started on free loopback ports in temporary
dirs, stopped after the session. No mocks stand in for them.

PostgreSQL comes from Debian's `postgresql` package (`/usr/lib/postgresql/*/bin/initdb`,
`pg_ctl`); it refuses to run as root, so as root it is run as the `postgres` user (`runuser -u
postgres --`) in a temp dir that user owns. Redis is `redis-server` with no persistence. The
README's test command installs both when missing. Outside CI (`CI` unset) a missing binary skips
the tests that need it, saying which package to install; in CI it fails them.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["PostgresServer", "RedisServer", "postgres_server", "redis_server", "unavailable"]


def unavailable(what: str, package: str) -> None:
    """Skip (outside CI) or fail (in CI) because `what` is not installed."""
    message = f"{what} is not installed: apt-get install -y {package} (the README's test command does)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@dataclass(frozen=True)
class PostgresServer:
    port: int
    user: str = "postgres"
    control: tuple[str, ...] = ()
    """`pg_ctl -D data` (run as the postgres user when root): `stop()` and `start()` use it."""
    options: str = ""
    log: str = ""

    def stop(self) -> None:
        """Stop the server now (`-m fast`: every session is ended), as a crash or restart would."""
        subprocess.run(
            [*self.control, "-m", "fast", "-w", "stop"],
            capture_output=True,
            check=True,
            cwd=Path(self.log).parent,
        )

    def start(self) -> None:
        """Start it again on the same port and data."""
        subprocess.run(
            [*self.control, "-o", self.options, "-l", self.log, "-w", "start"],
            capture_output=True,
            check=True,
            cwd=Path(self.log).parent,
        )
        wait_for_port(self.port)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database on this server; returns its URL."""
        import uuid

        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@dataclass(frozen=True)
class RedisServer:
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """initdb + pg_ctl start on a free port, trust auth on loopback only; stopped and removed after."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        unavailable("PostgreSQL", "postgresql")
        raise AssertionError("unreachable")
    as_root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="bmcp-pg-"))
    data = base / "data"
    prefix: list[str] = []
    if as_root:
        shutil.chown(base, "postgres", "postgres")
        base.chmod(0o700)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = free_port()

    def run(*argv: str) -> None:
        done = subprocess.run([*prefix, *argv], capture_output=True, text=True, cwd=base, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(argv[0]).name} failed: {done.stderr.strip() or done.stdout.strip()}")

    run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start")
    try:
        wait_for_port(port)
        control = (*prefix, str(bin_dir / "pg_ctl"), "-D", str(data))
        yield PostgresServer(port, control=control, options=options, log=str(base / "log"))
    finally:
        subprocess.run(
            [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            cwd=base,
            check=False,
        )
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    """redis-server on a free port, no persistence, in a temp dir; stopped after."""
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("Redis", "redis-server")
        raise AssertionError("unreachable")
    base = Path(tempfile.mkdtemp(prefix="bmcp-redis-"))
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(base),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield RedisServer(port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(base, ignore_errors=True)
