"""The floor for the load benchmark: a bare MCPServer over streamable HTTP making the same exchange call.

    python benchmarks/bare_http.py EXCHANGE_URL

One tool, `get_price(symbol)`, that asks the exchange for the price (`GET /api/v3/ticker/price`)
and returns `{"symbol", "price"}` as binance-mcp's `get_price` does, served by uvicorn on a free
loopback port: no token check, no guard, no audit. What binance-mcp adds over this is what the
load benchmark's ratio measures. Prints `serving MCP over streamable HTTP at URL` when ready.
"""

from __future__ import annotations

import asyncio
import sys

import httpx2
import uvicorn
from mcp.server.mcpserver import MCPServer

exchange_url = sys.argv[1]
server = MCPServer("bare")
http = httpx2.AsyncClient(timeout=httpx2.Timeout(10), limits=httpx2.Limits(max_connections=100))


@server.tool()
async def get_price(symbol: str) -> dict[str, str]:
    """The symbol's last price, from the exchange."""
    answer = await http.get(exchange_url + "/api/v3/ticker/price", params={"symbol": symbol})
    answer.raise_for_status()
    body = answer.json()
    return {"symbol": body["symbol"], "price": body["price"]}


async def main() -> None:
    app = server.streamable_http_app(session_idle_timeout=None, max_sessions=None)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    service = uvicorn.Server(config)
    serving = asyncio.create_task(service.serve())
    while not service.started:
        await asyncio.sleep(0.05)
    port = service.servers[0].sockets[0].getsockname()[1]
    print(f"serving MCP over streamable HTTP at http://127.0.0.1:{port}/mcp", file=sys.stderr, flush=True)
    await serving


if __name__ == "__main__":
    asyncio.run(main())
