"""Agent names, one rule everywhere: a policy's `agents` key and a token's name are matched
exactly, case included (`Reader` is not `reader`). What that rule cannot catch by itself, a
policy agent that matches no token but one differing only in case, is said at start-up."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["case_mismatches"]


def case_mismatches(policy_agents: Iterable[str], token_names: Iterable[str]) -> list[str]:
    """One warning per policy agent that no token names exactly but one names in another case."""
    tokens = list(token_names)
    exact = set(tokens)
    warnings = []
    for agent in policy_agents:
        if agent in exact:
            continue
        near = [name for name in tokens if name.casefold() == agent.casefold()]
        if near:
            warnings.append(
                f'the policy has rules for agent "{agent}", but the token is named "{near[0]}": names '
                f"are matched exactly, so that token's calls get none of agents.{agent}; rename one of them"
            )
    return warnings
