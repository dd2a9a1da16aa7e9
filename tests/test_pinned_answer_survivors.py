"""Two rules of reading an answer a mutation audit found no test for: every side word the parser
knows is read as its side and named a repair, and an order past max_orders gets no note but its own
too_many_orders (it is never read)."""

from __future__ import annotations

import json

import pytest

from glade.env import parallel_env
from glade.env.protocol import _canonical_observations, parse


@pytest.mark.parametrize(
    ("word", "side"), [("bid", "buy"), ("purchase", "buy"), ("ask", "sell"), ("offer", "sell"), (" Offer ", "sell")]
)
def test_every_side_word_is_read_and_named(word, side):
    obs = _canonical_observations()[0]  # Oona: makes honey, holds 12, 40 pebbles
    good = "honey" if side == "sell" else "acorns"
    p = parse(json.dumps({"orders": [{"side": word, "good": good, "qty": 1, "price": 4}]}), obs)
    assert (p.error, p.repairs) == (None, ("side_word",))
    assert p.action["orders"] == [{"side": side, "good": good, "qty": 1, "price": 4.0}]


def test_an_order_past_max_orders_gets_only_its_too_many_orders_note():
    env = parallel_env("default", turns=2)
    env.reset(seed=1)
    order = {"side": "buy", "good": "honey", "qty": 1, "price": 0.01}
    ninth = {"side": "sell", "good": "honey", "qty": "1", "price": 5.0, "foo": 1}  # a qty string, an unknown key
    _, _, _, _, infos = env.step({"oona": {"orders": [order] * 8 + [ninth]}})
    assert [n for n in infos["oona"]["notes"] if n["order"] == 8] == [
        {"order": 8, "reason": "too_many_orders", "outcome": "rejected", "qty": 0}
    ]
