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


def random_adapters(base, root) -> dict[str, str]:
    """Two plain LoRA adapters on q/v of the model at `base`, random non-zero weights (seeds 1
    and 2), so each one really changes what the model says: {"hoarder": DIR, "panic": DIR}."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    out = {}
    with torch.random.fork_rng(devices=[]):
        for name, seed in (("hoarder", 1), ("panic", 2)):
            torch.manual_seed(seed)
            model = AutoModelForCausalLM.from_pretrained(base)
            model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
            model.save_pretrained(root / name)
            out[name] = str(root / name)
    return out


def wood_states(count: int, turns: int = 4) -> list[dict]:
    """`count` real observations: every creature of stand-in episodes, seed after seed."""
    from glade.env import standin

    states = []
    seed = 0
    while len(states) < count:
        env = parallel_env(turns=turns)
        obs, _ = env.reset(seed=seed)
        kinds = {c: standin.disposition(env.scenario.creatures[c].disposition) for c in env.possible_agents}
        while env.agents:
            states += [obs[c] for c in env.agents]
            obs, *_ = env.step({c: standin.act(obs[c], kinds[c], seed) for c in env.agents})
        seed += 1
    return states[:count]
