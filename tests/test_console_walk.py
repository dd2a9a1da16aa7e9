"""Fixes from a user's walk: simulate says which seats answered with named errors (the
scoreboard's `rejected` counts the market's refusals only), eval's timing line says where the
wall time went, eval's bar counts world-turns as its --dry-run plan does, a python seat that
raises says on which turn, and `glade validate` takes key=value overrides."""

from __future__ import annotations

import argparse
import json

import pytest
import yaml
from rich.console import Console

from glade.cli import main
from glade.cli.eval import run_lines
from glade.console_tables import answer_errors
from glade.env import load_scenario
from glade.eval.estimate import dry_run
from glade.eval.recipe import load_eval_recipe
from glade.faults import parse_errors
from glade.rollout import run_episode
from glade.seats import PythonSeat, SeatAnswerError, SeatSpecError, load

SEATS = """
class Bad:
    name = "bad"

    def act(self, observations):
        return [{"orders": [{"side": "buy", "good": "honey", "qty": -1, "price": 1.0}]} for _ in observations]


def bad():
    return Bad()


def nothing():
    return object()
"""


@pytest.fixture
def seats(tmp_path, monkeypatch):
    (tmp_path / "walk_seats.py").write_text(SEATS)
    monkeypatch.syspath_prepend(str(tmp_path))
    council = tmp_path / "council.yaml"
    council.write_text('oona: {kind: python, entry_point: "walk_seats:bad"}\n')
    return council


def test_simulate_says_a_seat_whose_every_answer_had_a_named_error(seats, tmp_path, capsys):
    argv = ["simulate", "--council", str(seats), "--turns", "3", "--seed", "3", "--quiet", "--out", str(tmp_path / "s")]
    assert main(argv) == 0
    out = " ".join(capsys.readouterr().out.split())
    said = (
        "invalid answers: Oona (bad): 3 of 3 answers had a named error (what could not be used was dropped): bad_qty 3"
    )
    assert said in out
    assert out.count("invalid answers") == 1  # the stand-ins' answers are clean: no line of theirs


def test_answer_errors_count_each_name_most_frequent_first_and_leave_faults_out():
    s = load_scenario("default", turns=4)
    rows = [{"creature": c, "seat": "standin:balanced", "error": None} for c in s.creatures for _ in range(4)]
    for r, error in zip([r for r in rows if r["creature"] == "thorn"], ["bad_price", "bad_qty", "bad_qty", None]):
        r["error"], r["seat"] = error, "server:x[v2]"
    for r in [r for r in rows if r["creature"] == "moss"]:
        r["error"] = "server_timeout"  # a fault: show_faults says it, not this
    [line] = answer_errors(s, rows, parse_errors(rows))
    con = Console(width=200, record=True)
    con.print(line)
    assert con.export_text().strip() == (
        "invalid answers: Thorn (server:x[v2]): 3 of 4 answers had a named error "
        "(what could not be used was dropped): bad_qty 2, bad_price 1"
    )
    nan = [{**r, "error": float("nan")} for r in rows]
    assert answer_errors(s, nan, parse_errors(nan)) == []  # a table's missing error


def test_the_quickstarts_simulate_step_says_invalid_answers_too(seats, tmp_path, monkeypatch):
    from glade.cli.quickstart import steps

    real = steps.run_episode
    monkeypatch.setattr(steps, "run_episode", lambda *a, **k: real(*a, council={"oona": load(yaml.safe_load(
        seats.read_text())["oona"])}, **k))  # fmt: skip
    con = Console(width=100, record=True)
    steps.simulate_default(argparse.Namespace(out=str(tmp_path / "q")), con)
    assert "invalid answers: Oona (bad): 30 of 30 answers had a named error" in " ".join(con.export_text().split())


def _summary(cost: dict, worlds: int = 4) -> dict:
    timing = {"seconds": 1.848, "model_seconds": 1.829, "outside_model_share": 0.0103}
    return {"timing": timing, "cost": cost, "worlds": worlds, "decisions": 12}


def test_run_lines_say_where_the_wall_time_went():
    # the walk's run: 5.1 s wall of which 1.8 s play; it read "(1.0% of play outside the model)"
    cost = {"episodes": 4, "wall_seconds": 5.072, "play_seconds": 1.848, "model_share": 0.9897}
    assert run_lines(_summary(cost), "OUT") == (
        "4 worlds, 12 live decisions; 5.1 s wall: 3.2 s outside play (loading the seats, writing the shards), "
        "1.8 s play (99.0% of it in the models); results in OUT"
    )
    ray = {**cost, "wall_seconds": 1.2, "cluster": {"nodes": 2, "cpus": 8}}  # play is summed over the tasks
    assert "1.2 s wall; the tasks' play 1.8 s, summed over the tasks (99.0% of it in the models)" in (
        run_lines(_summary(ray), "OUT")
    )
    resumed = run_lines(_summary(cost, worlds=8), "OUT")
    assert resumed.startswith("this run played 4 of the 8 worlds; its timing and cost are those: 5.1 s wall: 3.2 s")


def _eval_recipe(tmp_path, **changes):
    data = {
        "name": "w",
        "out": str(tmp_path / "results"),
        "policies": {"panic": "panic_seller"},
        "councils": {"all_panic": {"focal": {"*": "panic"}}},
        "scenarios": ["default", "gambit_override"],
        "seeds": {"start": 0, "count": 1},
        "worlds": 3,
    } | changes
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_evals_progress_counts_the_dry_runs_world_turns(tmp_path):
    from glade.eval import run as eval_run

    recipe = load_eval_recipe(_eval_recipe(tmp_path))
    planned = dry_run(recipe).plan.world_turns
    totals, ticks = [], []
    eval_run.evaluate(recipe, on_total=totals.append, progress=ticks.append)
    # 4 worlds (two scenarios of unequal length, each with its stand-in world) in shards of 3
    assert totals == [planned] == [sum(ticks)] and planned == 2 * 30 + 2 * load_scenario("gambit_override").turns
    assert max(ticks) == 3 and min(ticks) >= 1  # a lockstep turn says how many worlds it played


def test_the_eval_bar_says_world_turns(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    assert main(["eval", str(_eval_recipe(tmp_path, scenarios=["gambit_override"]))]) == 0
    err = capsys.readouterr().err
    turns = 2 * load_scenario("gambit_override").turns
    assert f"{turns}/{turns} world-turns" in err


def test_a_python_seat_that_raises_mid_episode_says_on_which_turn():
    class Late:
        name = "late"

        def act(self, observations):
            if observations[0]["turn"] == 1:
                raise KeyError("nope")
            return [{"orders": []} for _ in observations]

    with pytest.raises(SeatAnswerError) as caught:
        run_episode("default", 1, 3, {"oona": PythonSeat(Late())})
    assert str(caught.value) == (
        "python seat late: act raised KeyError: 'nope' on turn 1 (set GLADE_DEBUG=1 for its traceback)"
    )


def test_a_python_seat_factory_of_the_wrong_thing_reads_with_its_article(seats):
    with pytest.raises(SeatSpecError, match="the factory returned an object; it must return an object with a `name`"):
        load({"kind": "python", "entry_point": "walk_seats:nothing"})


def test_simulate_help_says_a_seats_code_failing_exits_2(capsys):
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    assert "2 bad input, or a seat's code failed" in " ".join(capsys.readouterr().out.split())


def test_validate_takes_key_value_overrides_as_the_recipe_verbs_do(tmp_path, capsys):
    path = _eval_recipe(tmp_path)
    assert main(["validate", str(path), "--kind", "eval", "seeds.count=2", "turns=13"]) == 0
    assert f"ok     {path} with seeds.count=2, turns=13  (eval recipe)" in capsys.readouterr().out
    assert main(["validate", str(path), "seeds.count=0", "--kind", "eval"]) == 2  # before or after an option
    assert "seeds.count: must be at least 1" in capsys.readouterr().out
    assert main(["validate", str(path), "--kind", "eval", "nope=1"]) == 2
    assert "nope: unknown key" in capsys.readouterr().out
    disposition = tmp_path / "d.yaml"
    disposition.write_text(json.dumps({"name": "mine"}))
    assert main(["validate", str(disposition), "--kind", "disposition", "surplus=3"]) == 2
    assert "a disposition takes no key=value overrides (surplus=3)" in capsys.readouterr().out


def test_validate_overrides_need_a_recipe_and_a_path_like_word_stays_a_path(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "seeds.count=3"]) == 2  # not applied to every shipped recipe of every kind
    assert "seeds.count=3: key=value overrides need the recipe(s) they change" in capsys.readouterr().err
    assert main(["validate", "runs/x=1.yaml"]) == 2  # a mistyped path is said to be missing
    assert "runs/x=1.yaml: no such file or folder" in capsys.readouterr().err


def test_validate_help_documents_exit_2_for_a_file_of_no_known_kind(capsys):
    with pytest.raises(SystemExit):
        main(["validate", "--help"])
    assert "of a kind glade cannot tell (a KIND? line: give --kind)" in " ".join(capsys.readouterr().out.split())
