"""What a review found written twice, each copy with its own behaviour: now one home each."""

from __future__ import annotations

import pytest

from glade.console import with_ci
from glade.eval.report.seats import _interval_text
from glade.eval.verdict_text import rate_text, value_text


@pytest.mark.parametrize(
    ("interval", "fmt"),
    [
        ({"mean": 0.49, "ci": [0.487, 0.493]}, ".2f"),  # was 0.49 [0.49, 0.49], no spread at all
        ({"mean": -0.007, "ci": [-0.016, -0.0005]}, "+.3f"),  # was an end excluding 0 read as -0.000
        ({"mean": 0.25, "note": "n 2"}, ".3f"),
        ({"mean": None}, ".3f"),
    ],
)
def test_a_verdict_and_the_reports_seat_table_write_an_interval_as_the_terminal_does(interval, fmt):
    terminal = with_ci(interval["mean"], interval.get("ci"), fmt, note=interval.get("note"))
    assert value_text(interval, fmt) == terminal
    assert _interval_text(interval, fmt) == ("—" if interval["mean"] is None else terminal)


def test_a_narrow_interval_gets_the_digits_it_needs_in_the_verdicts():
    assert value_text({"mean": 0.49, "ci": [0.487, 0.493]}, ".2f") == "0.490 [0.487, 0.493]"
    assert _interval_text({"mean": None}, ".3f") == "—"
    entry = {"rate": {"mean": 0.5, "ci": [0.497, 0.503], "note": "4 of 8 seeds"}, "casts": [{"cast": 0}]}
    assert rate_text(entry) == "4 of 8 seeds, rate 0.500 [0.497, 0.503]"


def test_the_calibration_prose_names_held_out_seeds_as_every_other_line_does():
    from glade.eval.report.calibration import lines

    calibration = {
        "policy": "p",
        "split": {"heldout_seeds": [4, 5, 6]},
        "decisions": 10,
        "rebuilt": 10,
        "fitted": {"name": "calibrated_p"},
        "search": {"evaluations": 20, "generations": 2},
        "verdict": "x",
    }
    assert (
        lines(calibration)[0]
        == "Policy p: 10 decisions (10 rebuild the stored counterfactual exactly); held out seeds 4-6."
    )
    calibration["split"] = {"heldout_seeds": [3], "heldout_scenario": "gambit_shock"}
    assert lines(calibration)[0].endswith("held out seed 3 and scenario gambit_shock.")


def test_one_order_key_set_for_the_wood_the_parser_and_python_seats():
    from glade.env import jsonfix, market, phases
    from glade.seats import python

    assert jsonfix.ORDER_KEYS is market.ORDER_KEYS is phases.ORDER_KEYS is python.ORDER_KEYS
    assert market.ORDER_KEYS == {"side", "good", "qty", "price"}


@pytest.mark.parametrize(
    ("recipe", "override", "said"),
    [
        ("generate/standin.yaml", "worlds=0", "worlds: must be at least 1, got 0"),
        ("eval/crash-gambit.yaml", "seed=-1", "seed: must be at least 0, got -1"),
        ("train/tiny-base.yaml", "model.tiny.kv_heads=0", "model.tiny.kv_heads: must be at least 1, got 0"),
        ("train/tiny-base.yaml", "eval.batch_size=0", "eval.batch_size: must be at least 1, got 0"),
    ],
)
def test_every_recipe_kind_says_a_value_under_its_low_with_its_key(recipe, override, said, capsys):
    from glade.cli import main
    from glade.env.scenario import RECIPES

    path = RECIPES / recipe
    assert main(["validate", str(path), override]) == 2
    assert capsys.readouterr().out.startswith(f"FAIL   {path} with {override}: {said}")
