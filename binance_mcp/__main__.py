"""`python -m binance_mcp` is `binance-mcp`."""

import sys

from binance_mcp.cli import main

sys.exit(main())
