"""A policy's fingerprint: the first 16 hex digits of the SHA-256 of its canonical JSON.

Every audit record names the fingerprint of the policy in force when the guard decided, and each
load or reload is an audit event (`policy_loaded`) with the fingerprint, so a rule path such as
`rules.place_order` in a record points at one policy, even across reloads.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def fingerprint(policy: Any) -> str:
    """The fingerprint of a policy model (`binance_mcp.policy.model.Policy`)."""
    text = json.dumps(
        policy.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]
