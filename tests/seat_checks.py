"""Helpers shared by the server-seat tests (the fast doubles and the real `transformers serve`)."""

from __future__ import annotations

import json

from glade.env import parallel_env
from glade.env.protocol import parse
from glade.seats import Decision, load
from glade.seats.server import ServerPolicy

FAST = {"timeout": 0.5, "retries": 2, "backoff": 0.05, "concurrency": 8, "max_tokens": 32}


def observations(turns: int = 2, seed: int = 0) -> list[dict]:
    obs, _ = parallel_env(turns=turns).reset(seed=seed)
    return list(obs.values())


def server_seat(base_url: str, model: str = "fake", **overrides) -> ServerPolicy:
    policy = load({"kind": "server", "base_url": base_url, "model": model, **{**FAST, **overrides}})
    assert isinstance(policy, ServerPolicy)
    return policy


def assert_valid(decision: Decision, obs: dict) -> None:
    """The action is one the rules accept for this observation: parsing it again changes nothing."""
    again = parse(json.dumps(decision.action), obs)
    assert again.error is None, (decision.action, again.error)
    assert again.action["orders"] == decision.action["orders"]


def assert_all_held(decisions: list[Decision], error: str) -> None:
    for d in decisions:
        assert d.action == {"orders": []}
        assert d.error == error
        assert d.text is None
        assert d.completion_tokens == 0
