"""Agent names, one rule everywhere: a policy's `agents` key and a token's name are matched
exactly, case included (`Reader` is not `reader`). What that rule cannot catch by itself, a
policy agent that matches no token but one differing only in case, or one a typo away from a token
the policy names no agent for, is said at start-up."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["case_mismatches"]


def case_mismatches(policy_agents: Iterable[str], token_names: Iterable[str]) -> list[str]:
    """One warning per policy agent that no token names exactly but one names in another case, or
    one whose name is close to a token's that the policy has no agent for (a typo: `alcie`)."""
    tokens = list(token_names)
    exact = set(tokens)
    policy_agents = list(policy_agents)
    policy_names = set(policy_agents)
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
            continue
        from difflib import get_close_matches  # only for a name no token has

        close = get_close_matches(
            agent, [name for name in tokens if name not in policy_names], n=1, cutoff=0.75
        )
        if close:
            warnings.append(
                f'the policy has rules for agent "{agent}", but no token has that name: did you mean '
                f'"{close[0]}"? That token\'s calls get none of agents.{agent}'
            )
    return warnings
