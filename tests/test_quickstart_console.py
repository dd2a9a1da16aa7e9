"""What `glade quickstart` tells a first-time user beyond the steps' own results: where its
outputs went and what to try next, a mistyped --until with the step meant, each adapter's
rates with their n, and what a missed target means for the run."""

import json
from types import SimpleNamespace

import pytest

from glade.cli import main
from glade.cli import quickstart as qs
from glade.cli.quickstart.steps import metric_line, train_recipe


def test_the_run_ends_with_what_it_made_and_where(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "eval" / "crash-gambit").mkdir(parents=True)
    (tmp_path / "runs" / "eval" / "crash-gambit" / "report.html").write_text("<html></html>")
    done = tmp_path / "checkpoints" / "tiny-hoarder__0__20260101-000000"
    done.mkdir(parents=True)
    # a run of exactly the shipped recipe on the shipped base: the one the train step keeps
    import yaml

    from glade import checkpoint
    from glade.cli.quickstart.steps import RECIPES
    from glade.config import as_plain
    from glade.train.recipe import load_train_recipe

    base = str(checkpoint.shipped("tiny-base").resolve())
    (done / "meta.json").write_text(json.dumps({"name": "tiny-hoarder", "kind": "lora", "base_model": base}))
    (done / "recipe.yaml").write_text(
        yaml.safe_dump(as_plain(load_train_recipe(RECIPES / "train" / "tiny-hoarder.yaml")))
    )
    from rich.console import Console

    qs.closing(SimpleNamespace(out="qs", train_base=False), Console(width=200))  # wide: one line per output
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "what the quickstart made (a rerun reuses it and carries on):"
    shown = {line.split()[0]: line.split()[1] for line in lines[1:] if line.startswith("  ") and len(line.split()) > 1}
    assert shown["report"] == "runs/eval/crash-gambit/report.html"
    assert shown["results"] == "runs/eval/crash-gambit/" and shown["checkpoints"] == "checkpoints/"
    assert "tiny-hoarder__0__20260101-000000" in " ".join(lines)
    assert "exports" not in shown and "simulation" not in shown and "traces" not in shown  # not made: not listed
    # a traces folder of the user's own is not the generate step's; the step's folders are named as they are
    (tmp_path / "runs" / "traces" / "mine" / "data").mkdir(parents=True)
    qs.closing(SimpleNamespace(out="qs", train_base=False), Console(width=200))
    assert "traces" not in capsys.readouterr().out
    (tmp_path / "runs" / "traces" / "heldout" / "data").mkdir(parents=True)
    qs.closing(SimpleNamespace(out="qs", train_base=False), Console(width=200))
    [row] = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("  traces")]
    assert row == ["traces", "runs/traces/", "stand-in", "episodes:", "heldout"]
    assert (
        "  glade eval recipes/eval/crash-gambit.yaml seeds.count=16 name=crash-gambit-16 "
        "out=runs/eval/crash-gambit-16 --dry-run" in lines
    )


@pytest.mark.parametrize(
    ("until", "said"),
    [
        ("evl", "--until evl: not a step (the steps: simulate, gambits,"),
        ("evl", "); did you mean eval?\n"),
        ("trian", "; did you mean train-hoarder or train-panic-seller or train-speculator or train-shrewd?\n"),
        ("train-base", "--until train-base: a step of --train-base only; add --train-base, or stop at one of:"),
    ],
)
def test_a_mistyped_until_names_the_step_meant(tmp_path, capsys, until, said):
    assert main(["quickstart", "--out", str(tmp_path / "qs"), "--until", until]) == 2
    err = capsys.readouterr().err
    assert said in err and err.count("error:") == 1  # one error, glade's (argparse's choices said another)
    assert not (tmp_path / "qs").exists()


def test_an_adapters_rates_say_their_n():
    metrics = {"valid_action_rate": 0.5, "self_buy_rate": 0.0625, "heldout_states": 48, "fall_talk_states": 40}
    assert metric_line(metrics) == (
        "valid_action_rate 0.500, self_buy_rate 0.062 (n: 48 held-out states, 40 fall-talk probes; intervals in "
        "meta.json)"
    )
    assert metric_line({"train_loss": 0.3}) == "train_loss 0.300"
    held = {"direction_agreement": 0.763, "direction_agreement_hold_baseline": 0.608, "standin_agreement": 0.6}
    assert metric_line(held) == "direction_agreement 0.763 (a hold: 0.608), standin_agreement 0.600"


def test_a_missed_target_says_what_it_means_for_the_run(tmp_path, monkeypatch, capsys):
    out = tmp_path / "ckpt"
    out.mkdir()
    meta = {
        "metrics": {"valid_action_rate": 0.4},
        "targets": {"valid_action_rate": {"target": ">= 0.95", "measured": 0.4, "met": False}},
    }
    (out / "meta.json").write_text(json.dumps(meta))
    monkeypatch.setattr("glade.train.sft.train", lambda *a, **k: out)
    monkeypatch.setattr("glade.train.recipe.load_train_recipe", lambda path, overrides: None)
    train_recipe("tiny-hoarder")(SimpleNamespace(train_base=False), qs.console())
    said = " ".join(capsys.readouterr().out.split())
    assert "target valid_action_rate >= 0.95: NOT met (0.400)" in said
    assert "the targets are the recipe's aims for a competent creature model" in said and "the run goes on" in said
    meta["targets"]["valid_action_rate"].update(met=True, measured=0.958, ci=[0.857, 0.995])
    (out / "meta.json").write_text(json.dumps(meta))
    train_recipe("tiny-hoarder")(SimpleNamespace(train_base=False), qs.console())
    said = " ".join(capsys.readouterr().out.split())
    assert "the run goes on" not in said
    # met on the mean, its interval reaching past the target: said so, as the card says it
    assert (
        "target valid_action_rate >= 0.95: met on the mean (0.958; its 95% CI [0.857, 0.995] reaches past the "
        "target: too few states to show it)"
    ) in said


def test_the_seat_table_loses_no_character_at_80_columns(tmp_path, monkeypatch, capsys):
    from rich.console import Console

    from glade.cli.results_tables import print_results
    from glade.eval.recipe import EvalRecipe

    recipe = EvalRecipe(name="t", out=str(tmp_path), policies={}, councils={}, scenarios=())
    errors = {"sell_not_held": 110, "both_sides": 101, "no_pebbles": 7}
    seat = {"council": "five_minds", "policy": "speculator_model", "decisions": 384, "errors": errors}
    seat["valid_action"] = {"mean": 0.451, "ci": [0.389, 0.513], "n": 48}
    monkeypatch.setattr("glade.cli.results_tables.table_one_of", lambda *a: [])  # no gambit: the seat table alone
    print_results(Console(width=80), recipe, {"table": [], "seats": [seat, seat | {"policy": "p"}]})
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80
    words = out.split()
    # before: 'sell_not_', 'both_sid', a cut 'decisio' header, and 'speculator_mo…'
    assert {"speculator_model", "sell_not_held", "110", "both_sides", "101", "no_pebbles", "decisions"} <= set(words)
    assert "0.451" in words and "[0.389," in words and "0.513]" in words


def test_a_suggested_command_calls_glade_as_this_run_was_called(monkeypatch, tmp_path):
    from glade.cli import glade_command

    monkeypatch.chdir(tmp_path)
    venv_glade = tmp_path / ".venv" / "bin" / "glade"
    monkeypatch.setattr("sys.argv", [str(venv_glade)])
    monkeypatch.setattr("shutil.which", lambda name: None)  # make runs .venv/bin/glade: not on PATH
    assert glade_command() == ".venv/bin/glade"
    monkeypatch.setattr("shutil.which", lambda name: str(venv_glade))  # the venv activated
    assert glade_command() == "glade"
    monkeypatch.setattr("sys.argv", ["/usr/lib/python3/pytest"])  # not started as glade: the plain name
    assert glade_command() == "glade"


def test_a_target_missed_on_the_mean_whose_interval_reaches_it_says_so():
    from glade.cli.train import target_text

    missed = {"target": "<= 0.01", "measured": 0.0208, "met": False, "ci": [0.0005, 0.1107]}
    assert target_text(missed) == (
        "NOT met on the mean (0.021; its 95% CI [0.001, 0.111] reaches the target: too few states to show it "
        "either way)"
    )
    clear = {"target": ">= 0.95", "measured": 0.5, "met": False, "ci": [0.4, 0.6]}
    assert target_text(clear) == "NOT met (0.500, 95% CI [0.400, 0.600])"
    shown = {"target": ">= 0.8", "measured": 0.96, "met": True, "ci": [0.9, 0.99]}
    assert target_text(shown) == "met (0.960, 95% CI [0.900, 0.990])"
