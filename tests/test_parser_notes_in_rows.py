"""The parser's cuts and rejections reach the trace row's `rejected` (marked "by": "parser"),
for every seat whose answer is parsed: a python seat's action dict, a server's completion, a
model's reply. Before, the parser cut or dropped an order and the Wood saw only the clean
action, so the row named none of it; and a python seat's `completion` was the parsed action,
not what it answered."""

from __future__ import annotations

import json
import random

import pytest
from seat_checks import observations, server_seat

import glade.env.protocol as protocol
from glade.console_tables import scoreboard
from glade.env import parallel_env
from glade.rollout import run_episode
from glade.seats import Decision, PythonSeat, SeatAnswerError
from glade.seats.base import model_decisions, parser_notes

GREEDY = {
    "orders": [
        {"side": "buy", "good": "acorns", "qty": 400, "price": 5.0},  # more than Oona's pebbles buy: cut
        {"side": "buy", "good": "honey", "qty": 1, "price": 5.0},  # nothing left to pay with: rejected
        {"side": "sell", "good": "honey", "qty": 2, "price": 5.0},
    ],
    "mood": 1,  # no action key: ignored
}


class Answers:
    name = "greedy"

    def __init__(self, answer):
        self.answer = answer

    def act(self, observations):
        return [self.answer for _ in observations]


def oona_rows(answer, turns: int = 1) -> list[dict]:
    played = run_episode("default", 1, turns, {"oona": PythonSeat(Answers(answer))})
    return [r for r in played.rows if r["creature"] == "oona"]


def test_a_python_seats_cut_and_refused_orders_are_named_in_its_row():
    [row] = oona_rows(GREEDY)
    kept = json.loads(row["action"])["orders"]
    assert [o["qty"] for o in kept] == [12, 2]  # 400 acorns cut to what 60 pebbles buy at 5
    assert json.loads(row["rejected"]) == [
        {"order": 0, "reason": "overspend", "outcome": "cut", "qty": 12, "by": "parser"},
        {"order": 1, "reason": "no_pebbles", "outcome": "rejected", "qty": 0, "by": "parser"},
        {"order": None, "reason": "unknown_key", "outcome": "ignored", "qty": 0, "key": "mood", "by": "parser"},
    ]
    assert row["error"] == "no_pebbles"


def test_a_python_seats_completion_is_what_it_answered():
    [row] = oona_rows(GREEDY)
    assert json.loads(row["completion"]) == GREEDY  # the 400 and the stray key, not the parsed action


def test_the_scoreboard_counts_the_parsers_refusals():
    played = run_episode("default", 1, 2, {"oona": PythonSeat(Answers(GREEDY))})
    table = scoreboard(played.scenario, played.rows)
    [oona] = [i for i, name in enumerate(table.columns[0]._cells) if name == "Oona"]
    assert table.columns[-1]._cells[oona] == "2"  # one refused buy a turn; cuts and ignored keys are not refusals


def test_a_server_completions_cut_is_on_its_decision(monkeypatch):
    obs = observations()[0]
    held = obs["inventory"]["honey"]
    text = json.dumps({"orders": [{"side": "sell", "good": "honey", "qty": held + 5, "price": 4.0}]})
    policy = server_seat("http://127.0.0.1:9/v1")
    monkeypatch.setattr(policy, "_request", lambda messages, schema=None: ((text, 10, 7, "stop"), None, None))
    [decision] = policy.act([obs])
    assert decision.text == text and decision.action["orders"][0]["qty"] == held
    assert decision.notes == ({"order": 0, "reason": "oversell", "outcome": "cut", "qty": held, "by": "parser"},)


def test_a_model_replys_notes_are_on_its_decision():
    obs = observations()[0]
    text = 'Fine. {"orders": [{"side": "buy", "good": "honey", "qty": 0, "price": 2}, {"side": "buy", "good": "acorns", "qty": 999, "price": 2}]}'
    [decision] = model_decisions([obs], [(text, 5, 9)], ["hf:tiny"], 0.0, 256, [False])
    assert decision.notes == (
        {"order": 0, "reason": "bad_qty", "outcome": "rejected", "qty": 0, "by": "parser"},
        {"order": 1, "reason": "absurd_qty", "outcome": "rejected", "qty": 0, "by": "parser"},
    )


def test_parser_notes_are_the_notes_the_parsers_order_check_made(monkeypatch):
    # the cuts are found by checking the kept orders again: they must be the very notes parse's
    # own validate_orders call made (the dropped ones as parse renamed them), on every answer
    made: list[list[dict]] = []
    real = protocol.validate_orders
    monkeypatch.setattr(protocol, "validate_orders", lambda *a: made.append(real(*a)[1]) or real(*a))
    wood, _ = parallel_env().reset(seed=3)
    rng = random.Random(0)
    goods = ["honey", "acorns", "firewood", "mushrooms", "berries", "Honey", "acorn", "gold"]
    cuts = 0
    for _ in range(600):
        obs = rng.choice(list(wood.values()))
        orders = [
            {
                "side": rng.choice(["buy", "sell", "bid", "x"]),
                "good": rng.choice(goods),
                "qty": rng.choice([1, 3, 15, 40, 400, 600, "20", " 12 Pebbles ", 2.0, -1, None]),
                "price": rng.choice([0.5, 3.0, 9.0, "4", 1e9]),
            }
            for _ in range(rng.randint(0, 10))
        ]
        text = json.dumps({"orders": orders})
        text = text[:-2] if rng.random() < 0.2 else text  # cut off: the parser closes it
        made.clear()
        parsed = protocol.parse(text, obs)
        dropped = {n["order"]: n for n in parsed.dropped}
        wanted = [dropped.get(n["order"], n) for n in (made[0] if made else [])]
        assert [{**n, "by": "parser"} for n in wanted] == list(parser_notes(parsed)), text
        cuts += any(n["outcome"] == "cut" for n in wanted)
    assert cuts > 100  # the cut path was walked, not only the rejections


def test_stand_in_rows_carry_no_parser_notes():
    played = run_episode("default", 1, 3)
    notes = [n for r in played.rows for n in json.loads(r["rejected"])]
    assert all("by" not in n for n in notes)


def test_a_decision_with_notes_json_cannot_hold_is_named():
    with pytest.raises(SeatAnswerError, match="notes JSON cannot hold"):
        oona_rows(Decision({"orders": []}, notes=({"order": object()},)))
    with pytest.raises(SeatAnswerError, match="expected a tuple of note dicts"):
        oona_rows(Decision({"orders": []}, notes=["overspend"]))
