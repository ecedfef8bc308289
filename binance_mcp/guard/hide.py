"""Stage 1, hide: a tool the policy hides answers exactly like a tool that does not exist."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from binance_mcp.guard.call import Request
    from binance_mcp.guard.services import Services
    from binance_mcp.policy.engine import PolicyEngine

logger = logging.getLogger(__name__)


class Hidden(Exception):
    """The call is to a hidden tool: answered "Unknown tool", audited as `hidden`."""


def is_visible(engine: PolicyEngine, tool: str, agent: str | None) -> bool:
    try:
        return not engine.is_hidden(tool, agent)
    except Exception:  # fail closed: a tool we cannot decide about is not shown
        logger.exception("policy engine failed deciding visibility of %s", tool)
        return False


async def hide(request: Request, services: Services) -> Request:
    if not is_visible(services.engine, request.spec.name, request.caller.agent):
        raise Hidden(request.spec.name)
    return request
