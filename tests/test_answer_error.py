"""`cut_off`: a model answer whose JSON the token budget cut is named for the budget, and only
when what failed is what was cut."""

from __future__ import annotations

import json

import pytest
from fake_server import completion
from seat_checks import observations, server_seat

from glade.env import parallel_env
from glade.env.protocol import parse
from glade.seats.base import answer_error

SELL = '{"side": "sell", "good": "honey", "qty": 1, "price": 9.5}'


@pytest.fixture(scope="module")
def oona():
    obs, _ = parallel_env("default", turns=2).reset(seed=1)
    return obs["oona"]


@pytest.mark.parametrize(
    "text, tokens, expected",
    [
        ('{"orders": [' + SELL + ', {"side": "buy", "good": "hon', 32, "cut_off"),  # the last order was cut
        ('{"orders": [' + SELL + ', {"side": "buy", "good": "hon', 31, "unknown_good"),  # under the budget
        ('{"orders": [' + SELL + ', {"side": "buy", "good": "hon"}]}', 32, "unknown_good"),  # closed: not cut
        (
            '{"orders": [{"side": "sell", "good": "owl", "qty": 1, "price": 2}, ' + SELL + ', {"side": "se',
            32,
            "unknown_good",
        ),
        ('{"orders": [' + SELL + '], "thought": "honey will', 32, None),  # cut in the thought: nothing lost
        ("boursboursbours", 32, "no_json"),  # junk at the budget is junk, not a cut answer
        ("<think>honey will fall, so I", 32, "cut_off"),  # still thinking when the budget ran out
        ("<think>honey will fall, so I", 31, "unclosed_think"),
        ("<thinking>a</thinking> no answer here", 32, "no_json"),  # thought, then answered with no JSON
    ],
)
def test_cut_off_names_only_what_the_budget_cut(oona, text, tokens, expected):
    assert answer_error(parse(text, oona), text, tokens >= 32) == expected


def test_an_answer_the_budget_cut_off_is_named_cut_off(fake_server):
    """Its JSON closed by the parser at the token budget: the budget is what to raise, and the
    orders it held whole are kept. The same answer under the budget keeps the parser's error."""
    cut = '{"orders": [{"side": "sell", "good": "honey", "qty": 1, "price": 9.5}, {"side": "buy", "good": "hon'
    server = fake_server(lambda n, body, headers: (200, completion(cut, completion_tokens=32)))
    [d] = server_seat(server.base_url).act(observations()[:1])
    assert d.error == "cut_off" and d.action["orders"] == [{"side": "sell", "good": "honey", "qty": 1, "price": 9.5}]
    server = fake_server(lambda n, body, headers: (200, completion(cut, completion_tokens=31)))
    assert server_seat(server.base_url).act(observations()[:1])[0].error == "unknown_good"
    # a server that reports no usage still says why it stopped
    body = json.loads(completion(cut, completion_tokens=0))
    body["choices"][0]["finish_reason"], body["usage"] = "length", None
    server = fake_server(lambda n, b, headers: (200, json.dumps(body).encode()))
    assert server_seat(server.base_url).act(observations()[:1])[0].error == "cut_off"
