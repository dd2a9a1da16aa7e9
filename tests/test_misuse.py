"""A library user's mistakes get a named error or a named note, never a silent hold or a
Python internal: the env's step/reset/render, the single-creature env's council,
run_episode's council, python seats, load_traces."""

from __future__ import annotations

import json

import pytest

from glade.env import SingleCreatureEnv, parallel_env
from glade.env.scenario import load_scenario
from glade.rollout import EpisodeSpec, run_episode
from glade.seats import Decision, PythonSeat, SeatSpecError, load
from glade.seats.python import Scripted


def test_step_refuses_unknown_agents_and_non_dicts():
    env = parallel_env(turns=2)
    env.reset(seed=1)
    with pytest.raises(ValueError, match=r"unknown agent 'owl' \(agents: oona, thorn"):
        env.step({"owl": {"orders": []}})
    with pytest.raises(TypeError, match="dict of agent -> action, got a list"):
        env.step(["oops"])
    assert env.world.turn == 0  # nothing was played by the refused steps


def test_a_misspelt_action_key_is_a_named_note():
    env = parallel_env(turns=2)
    env.reset(seed=1)
    order = {"side": "sell", "good": "honey", "qty": 1, "price": 3.0}
    _, _, _, _, infos = env.step({"oona": {"order": [order], "thought": "fine"}})
    assert infos["oona"]["notes"] == [
        {"order": None, "reason": "unknown_key", "outcome": "ignored", "qty": 0, "key": "order"}
    ]
    assert infos["thorn"]["notes"] == []  # a hold by omission stays silent


@pytest.mark.parametrize("seed", [-5, 1.5, "7", True])
def test_reset_refuses_a_seed_that_is_not_a_whole_number(seed):
    env = parallel_env(turns=2)
    with pytest.raises(ValueError, match=rf"reset\(seed={seed!r}\): a seed is a whole number >= 0"):
        env.reset(seed=seed)


def test_render_modes():
    with pytest.raises(ValueError, match=r"render_mode 'rgb_array': the Wood renders as \['ansi', 'human'\] or None"):
        parallel_env(turns=2, render_mode="rgb_array")
    env = parallel_env(turns=2)
    env.reset(seed=0)
    with pytest.warns(UserWarning, match='render_mode="ansi"'):
        assert env.render() is None  # Gymnasium's convention: no mode, nothing rendered, nothing printed


def test_spaces_name_the_unknown_agent():
    env = parallel_env(turns=2)
    with pytest.raises(KeyError, match=r"unknown agent 'owl' \(agents: oona"):
        env.action_space("owl")


def test_single_creature_env_refuses_a_council_of_strangers():
    with pytest.raises(ValueError, match=r"council: 'owl' is not one of the other creatures \(thorn, hazel"):
        SingleCreatureEnv("oona", council={"owl": "hoarder"})
    with pytest.raises(ValueError, match="council: 'oona' is not one of the other creatures"):
        SingleCreatureEnv("oona", council={"oona": "hoarder"})  # the learner is not seated by the council


def test_episode_spec_refuses_strangers_and_non_policies():
    scenario = load_scenario("default", turns=2)
    with pytest.raises(ValueError, match=r"x: council names 'Oona', which is not a creature of scenario default"):
        EpisodeSpec("x", scenario, 0, {"Oona": load("hoarder")})
    with pytest.raises(TypeError, match=r"x: the seat of oona is a str, not a Policy; .*PythonSeat"):
        EpisodeSpec("x", scenario, 0, {"oona": "hoarder"})


def test_run_episode_takes_seat_specs_and_a_star():
    played = run_episode("default", 3, 2, {"*": "hoarder", "oona": {"kind": "standin", "disposition": "speculator"}})
    council = played.summary["council"]
    assert council["oona"] == "standin:speculator"
    assert {council[c] for c in ("thorn", "hazel", "bramble", "moss")} == {"standin:hoarder"}
    with pytest.raises(ValueError, match=r"council: unknown creature\(s\) owl \(creatures: oona"):
        run_episode("default", 3, 2, {"owl": "hoarder"})


class Seller:
    name = "seller"

    def __init__(self, answer=None):
        self.answer = answer

    def act(self, observations):
        if self.answer is not None:
            return self.answer
        return [{"orders": [{"side": "sell", "good": "honey", "qty": 1, "price": 1.0}]} for _ in observations]


def test_python_seat_answers_with_action_dicts_or_decisions():
    played = run_episode("default", 3, 2, {"oona": PythonSeat(Seller())})
    mine = [r for r in played.rows if r["creature"] == "oona"]
    assert [json.loads(r["action"])["orders"][0]["good"] for r in mine] == ["honey", "honey"]
    assert {r["seat"] for r in mine} == {"seller"}
    # an action dict is read as a model's answer: what the parser cannot use is a named error
    played = run_episode("default", 3, 2, {"oona": PythonSeat(Seller([{"orders": "lots"}]))})
    [first, *_] = [r for r in played.rows if r["creature"] == "oona"]
    assert first["error"] == "orders_not_list" and json.loads(first["action"]) == {"orders": []}
    # the action-space form (side 1 = sell, good 0 = honey) means the same as the names
    indexed = [{"orders": [{"side": 1, "good": 0, "qty": 1, "price": 1.0}]}]
    played = run_episode("default", 3, 2, {"oona": PythonSeat(Seller(indexed))})
    [first, *_] = [r for r in played.rows if r["creature"] == "oona"]
    assert first["error"] is None and json.loads(first["action"])["orders"][0]["good"] == "honey"
    seat = PythonSeat(Seller([Decision({"orders": []}, error="mine")]))
    assert seat.act([{}]) == [Decision({"orders": []}, error="mine")]


@pytest.mark.parametrize(
    "answer, message",
    [
        ([], r"python seat seller: act must return a list with one answer per observation \(1\), got list of 0"),
        ("hold", r"python seat seller: act must return a list .* got str"),
        ([["sell"]], "python seat seller: act returned a list; expected a Decision or an action dict"),
    ],
)
def test_python_seat_names_a_wrong_answer(answer, message):
    with pytest.raises(TypeError, match=message):
        PythonSeat(Seller(answer)).act([{}])


def test_python_seat_factory_mistakes_are_seat_spec_errors(tmp_path, monkeypatch):
    (tmp_path / "glade_test_factories.py").write_text(
        "class Seller:\n    name = 'seller'\n\n    def act(self, observations):\n        return []\n\n\n"
        "def seller():\n    return Seller()\n\n\ndef nothing():\n    return 42\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert isinstance(load({"kind": "python", "entry_point": "glade_test_factories:seller"}).scripted, Scripted)
    with pytest.raises(
        SeatSpecError, match="glade_test_factories:seller' with kwargs: .*unexpected keyword argument 'x'"
    ):
        load({"kind": "python", "entry_point": "glade_test_factories:seller", "kwargs": {"x": 1}})
    with pytest.raises(SeatSpecError, match="the factory returned an int; it must return an object with a `name`"):
        load({"kind": "python", "entry_point": "glade_test_factories:nothing"})
    with pytest.raises(SeatSpecError, match="'os:sep': sep is a str, not a factory to call"):
        load({"kind": "python", "entry_point": "os:sep"})


def test_standin_act_takes_a_disposition_or_its_name():
    from glade.env import standin

    env = parallel_env(turns=2)
    obs, _ = env.reset(seed=4)
    assert standin.act(obs["oona"], "panic_seller") == standin.act(obs["oona"], standin.disposition("panic_seller"))
    with pytest.raises(ValueError, match="disposition: expected a name or a path to a .yaml file, got 3"):
        standin.act(obs["oona"], 3)
