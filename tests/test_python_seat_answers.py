"""What a python seat's answers become: its observations are its own copies, and an action dict's
values JSON cannot hold (bytes, objects, arrays, NaN) are named no-ops, never their str()."""

from __future__ import annotations

import json

import numpy as np
import pytest

from glade.env import parallel_env
from glade.env.scenario import load_scenario
from glade.rollout import EpisodeSpec, run_episode
from glade.seats import Decision, PythonSeat, SeatAnswerError

SELL = {"side": "sell", "good": "honey", "qty": 1, "price": 3.0}  # oona holds 32 honey at seed 0


class Answers:
    name = "answers"

    def __init__(self, answer, edit=False):
        self.answer, self.edit = answer, edit

    def act(self, observations):
        for obs in observations if self.edit else ():
            obs["inventory"]["honey"] = 12345
            obs["pebbles"][...] = 777777.0
            obs["memory"] = "tampered"
        return [self.answer for _ in observations]


@pytest.fixture(scope="module")
def oona():
    obs, _ = parallel_env("default", turns=2).reset(seed=0)
    return obs["oona"]


def answer(action, obs) -> Decision:
    [decision] = PythonSeat(Answers(action)).act([obs])
    return decision


def oona_rows(seat) -> list[dict]:
    played = run_episode("default", 1, 2, {"oona": PythonSeat(seat), "*": "hoarder"})
    return [r for r in played.rows if r["creature"] == "oona"]


def test_a_seat_that_edits_its_observations_leaves_the_rows_and_the_parser_untouched():
    big_sale = {"orders": [{"side": "sell", "good": "honey", "qty": 500, "price": 9.0}]}
    edited, clean = oona_rows(Answers(big_sale, edit=True)), oona_rows(Answers(big_sale))
    for column in ("observation", "messages", "standin_action", "action", "error", "rejected"):
        assert [r[column] for r in edited] == [r[column] for r in clean], column
    observed = json.loads(edited[0]["observation"])
    assert observed["inventory"]["honey"] < 12345 and observed["memory"] != "tampered"
    # the parser cut the sale to what oona really holds, not to the 12345 the seat wrote in
    assert json.loads(edited[0]["action"])["orders"][0]["qty"] == observed["inventory"]["honey"]


@pytest.mark.parametrize("gossip", [b"hi", object(), np.array(["a", "b"]), 7], ids=["bytes", "object", "array", "int"])
def test_gossip_that_is_not_text_is_dropped_and_named(oona, gossip):
    decision = answer({"orders": [SELL], "gossip": gossip}, oona)
    assert decision.action == {"orders": [SELL]} and decision.error == "gossip_not_text"


def test_a_thought_that_is_not_text_and_an_unknown_key_are_named(oona):
    assert answer({"orders": [SELL], "thought": 5}, oona).error == "thought_not_text"
    plan = answer({"orders": [SELL], "plan": "x"}, oona)
    assert plan.action == {"orders": [SELL]} and plan.error == "unknown_key"
    # an order's own reason comes first: it cost the action an order
    assert answer({"orders": [{**SELL, "good": "gold"}], "plan": "x"}, oona).error == "unknown_good"
    # one order written without "orders" is still the parser's single order, not unknown keys
    single = answer(dict(SELL), oona)
    assert single.action == {"orders": [SELL]} and single.error is None


@pytest.mark.parametrize("price", [float("nan"), float("inf"), np.float64("nan"), np.array([1.0, 2.0]), object()])
def test_a_price_json_cannot_hold_rejects_only_its_order(oona, price):
    decision = answer({"orders": [{**SELL, "price": price}, SELL]}, oona)
    assert decision.action == {"orders": [SELL]} and decision.error == "bad_price"


def test_numpy_numbers_in_an_action_dict_read_as_numbers(oona):
    order = {"side": "sell", "good": "honey", "qty": np.int64(2), "price": np.array(9.5)}
    decision = answer({"orders": [order], "gossip": np.str_("fresh honey")}, oona)
    assert decision.action == {"orders": [{**SELL, "qty": 2, "price": 9.5}], "gossip": "fresh honey"}
    assert decision.error is None and decision.repaired is False  # str() made qty "2", a repaired qty_string


@pytest.mark.parametrize("price", [float("nan"), float("-inf")])
def test_a_decision_with_a_price_that_is_not_finite_is_refused(oona, price):
    with pytest.raises(SeatAnswerError, match=r"python seat answers: act returned a Decision whose order 1 has price"):
        answer(Decision({"orders": [SELL, {**SELL, "price": price}]}), oona)


def test_a_seat_that_is_not_a_policy_is_named_with_its_article():
    with pytest.raises(TypeError, match=r"x: the seat of oona is an int, not a Policy;"):
        EpisodeSpec("x", load_scenario("default", turns=2), 0, {"oona": 5})


@pytest.mark.parametrize("where", ["top", "order", "deep"])
def test_an_answer_that_holds_itself_is_named_not_a_recursion_error(oona, where):
    looped = {"orders": [dict(SELL)]}
    if where == "top":
        looped["loop"] = looped  # an unknown key, but the row's completion writes the whole answer
    elif where == "order":
        looped["orders"][0]["reason"] = looped["orders"]
    else:  # no cycle: nested past Python's recursion limit
        deep = []
        for _ in range(5000):
            deep = [deep]
        looped["orders"][0]["reason"] = deep
    with pytest.raises(SeatAnswerError) as caught:
        PythonSeat(Answers(looped)).act([oona])
    assert str(caught.value) == (
        "python seat answers: act returned an answer that holds itself (a cycle) or nests too deeply on turn 0"
    )
