"""Foreground runner: `python -m tests.fake_binance [--port 9000] [--api-key K] [--api-secret S]
[--public-key PEM]` (with `--public-key`, `--api-key` is an Ed25519 or RSA key registered with it)."""

from __future__ import annotations

import argparse
import threading

from .fake import FakeBinance


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fake_binance", description=__doc__)
    parser.add_argument("--port", type=int, default=9000, help="port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--api-key", default="test-key")
    parser.add_argument("--api-secret", default="test-secret")
    parser.add_argument(
        "--public-key", metavar="PEM", help="register --api-key with this Ed25519 or RSA public key file"
    )
    args = parser.parse_args(argv)
    fake = FakeBinance(api_key=args.api_key, api_secret=args.api_secret, port=args.port)
    if args.public_key:
        with open(args.public_key, "rb") as file:
            fake.register_key(args.api_key, file.read())
    fake.start()
    print(f"fake Binance listening on {fake.base_url} (Ctrl-C to stop)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
