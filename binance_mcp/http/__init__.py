"""The streamable HTTP transport: the SDK's app at `/mcp`, for several agents at once, under uvicorn.

The SDK serves MCP; this package puts around it what one server shared by many agents needs, each
part an ASGI middleware of its own, outermost first (see `app.py`):

    draining → /healthz | origins → auth → bounds → the SDK's streamable HTTP app

`settings` checks the command line before anything starts; `serve` runs it all under uvicorn.
"""
