"""Seat and run mistakes found by an exploratory walk through the CLI: each is refused with a
one-line error that names what is wrong, or noticed where it would corrupt a resumed run."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from test_rollout_review import Answers

from glade.env import standin
from glade.env.schema import ConfigError
from glade.eval.plan import shard_log
from glade.eval.recipe import load_eval_recipe
from glade.run_limits import results_recipe
from glade.seats import SeatSpecError, load, results_spec

HOARDER = Path(standin.DISPOSITION_DIR) / "hoarder.yaml"


def tweaked_hoarder(folder: Path, name: str | None = None, **changes) -> Path:
    data = yaml.safe_load(HOARDER.read_text())
    if name is not None:
        data["name"] = name
    data.update(changes)
    path = folder / "tweaked.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


# --------------------------------------------------------------------------- disposition identity


def test_a_file_that_changes_a_shipped_disposition_under_its_name_is_refused(tmp_path):
    # rows, ranks and calibrations tell stand-ins apart by name: a tweaked copy still called
    # hoarder would merge with the shipped hoarder in every table
    path = tweaked_hoarder(tmp_path, budget=0.0)
    with pytest.raises(ConfigError) as err:
        standin.disposition(str(path))
    assert str(err.value) == (
        f"{path}: its name 'hoarder' is a shipped disposition's, but it differs from the shipped one in budget 0.0 "
        "(shipped 0.7); results tell stand-ins apart by name, so give the file a name of its own (name: ...), or "
        "write the shipped values"
    )
    with pytest.raises(SeatSpecError, match="its name 'hoarder' is a shipped disposition's"):
        load({"kind": "standin", "disposition": str(path)})


def test_a_file_named_after_its_stem_is_held_to_the_same_rule(tmp_path):
    # `name` defaults to the file's stem: a copy saved as hoarder.yaml without `name:` is a hoarder
    data = yaml.safe_load(HOARDER.read_text())
    del data["name"]
    data["surplus"] = 2
    (tmp_path / "hoarder.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(
        ConfigError, match=r"'hoarder' \(from its file's name: it writes no name:\) .* surplus 2 \(shipped 30\);"
    ):
        standin.disposition(str(tmp_path / "hoarder.yaml"))


def test_a_faithful_copy_or_a_renamed_tweak_is_accepted(tmp_path):
    same = tweaked_hoarder(tmp_path)
    assert standin.disposition(str(same)) == standin.DISPOSITIONS["hoarder"]
    (tmp_path / "own").mkdir()
    own = tweaked_hoarder(tmp_path / "own", name="thrifty_hoarder", budget=0.0)
    loaded = standin.disposition(str(own))
    assert (loaded.name, loaded.budget) == ("thrifty_hoarder", 0.0)
    assert load({"kind": "standin", "disposition": str(own)}).name == "standin:thrifty_hoarder"


# --------------------------------------------------------------------------- what a resumed run checks


def test_a_disposition_files_parameters_are_part_of_what_decides_the_rows(tmp_path):
    path = tweaked_hoarder(tmp_path, name="thrifty", budget=0.2)
    recorded = results_spec(str(path))
    assert recorded["kind"] == "standin" and recorded["disposition"] == str(path)
    assert recorded["parameters"]["budget"] == 0.2 and recorded["parameters"]["name"] == "thrifty"
    assert results_spec({"kind": "standin", "disposition": str(path), "seed": 3})["parameters"]["budget"] == 0.2
    # a shipped disposition by name stays as it was written (older ledgers still match)
    assert results_spec("hoarder") == "hoarder"
    assert results_spec({"kind": "standin", "disposition": "hoarder"}) == {"kind": "standin", "disposition": "hoarder"}


def test_editing_a_disposition_file_between_interrupt_and_resume_is_refused(tmp_path):
    path = tweaked_hoarder(tmp_path, name="thrifty", budget=0.2)
    recipe_path = tmp_path / "eval.yaml"
    recipe_path.write_text(
        yaml.safe_dump(
            {
                "name": "walk",
                "out": str(tmp_path / "out"),
                "policies": {"mine": {"kind": "standin", "disposition": str(path)}},
                "councils": {"mine_all": {"focal": {"*": "mine"}}},
                "scenarios": ["default"],
                "seeds": {"start": 0, "count": 1},
                "turns": 13,
            }
        )
    )
    recipe = load_eval_recipe(recipe_path)
    log = shard_log(recipe.out)
    log.start(results_recipe(recipe))
    log.check(results_recipe(recipe))  # unchanged: resumes
    tweaked_hoarder(tmp_path, name="thrifty", budget=0.4)
    with pytest.raises(
        ValueError, match=r"holds a run of another recipe \(policies\.mine\.parameters\.budget: 0\.2 -> 0\.4\)"
    ):
        log.check(results_recipe(load_eval_recipe(recipe_path)))


# --------------------------------------------------------------------------- a run too large to plan


def test_a_seed_count_too_large_to_plan_is_refused_by_name(tmp_path, capsys):
    # a count of a trillion fits in a row but was planned as a list of a trillion seeds (MemoryError)
    from glade.cli import main

    shipped = (Path(standin.DISPOSITION_DIR).parent / "generate" / "standin.yaml").read_text()
    for count in (1_000_000_000_000, 100_000):
        path = tmp_path / f"g{count}.yaml"
        path.write_text(shipped.replace("count: 4}", f"count: {count}}}"))
        assert main(["validate", "--kind", "generate", str(path)]) == (2 if count > 100_000 else 0)
    out = capsys.readouterr().out
    assert "seeds.count: must be at most 100,000 (each seed is a world of every council), got 1,000,000,000,000" in out


# --------------------------------------------------------------------------- a python seat's Decision


HOLD = {"orders": []}


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"latency_s": "fast"}, "latency_s is 'fast'; expected a number of seconds, 0 or more"),
        ({"latency_s": float("nan")}, "latency_s is nan; expected a number of seconds, 0 or more"),
        ({"prompt_tokens": 1.5}, "prompt_tokens is 1.5; expected a whole number, 0 or more"),
        ({"completion_tokens": -1}, "completion_tokens is -1; expected a whole number, 0 or more"),
        ({"completion_tokens": True}, "completion_tokens is True; expected a whole number, 0 or more"),
        ({"repaired": "no"}, "repaired is 'no'; expected True or False"),
        ({"error": 404}, "error is 404; expected a string or None"),
        ({"text": b"raw"}, "text is b'raw'; expected a string or None"),
    ],
)
def test_a_python_seats_decision_with_a_field_of_the_wrong_type_is_named(fields, message):
    # was an ArrowTypeError (or a TypeError) when the episode's rows were written, after playing
    from glade.rollout import run_episode
    from glade.seats import PythonSeat
    from glade.seats.base import Decision, SeatAnswerError

    with pytest.raises(SeatAnswerError) as err:
        run_episode("default", 1, 2, {"oona": PythonSeat(Answers(Decision(HOLD, **fields)))})
    assert str(err.value) == f"python seat answers: act returned a Decision whose {message}"
    played = run_episode("default", 1, 2, {"oona": PythonSeat(Answers(Decision(HOLD, latency_s=2, prompt_tokens=0)))})
    assert [r["latency_s"] for r in played.rows if r["creature"] == "oona"] == [2, 2]


def test_simulate_refuses_a_seed_no_row_can_hold(tmp_path, capsys):
    # was played, then written into trace.parquet's int64 seed column (or failed there)
    from glade.cli import main

    out = tmp_path / "sim"
    assert main(["simulate", "--seed", str(2**63), "--turns", "1", "--out", str(out), "--quiet"]) == 2
    assert (
        "error: --seed: must be from 0 to 9,223,372,036,854,775,807 (it seeds the world), got 9223372036854775808"
        in (" ".join(capsys.readouterr().err.split()))
    )
    assert not out.exists()


def test_an_empty_disposition_file_is_refused(tmp_path, capsys):
    # it read as the balanced stand-in under the file's name: a save that went wrong played on
    from glade.cli import main

    (tmp_path / "cautious.yaml").write_text("# nothing yet\n")
    assert main(["validate", "--kind", "disposition", str(tmp_path / "cautious.yaml")]) == 2
    assert f"FAIL   {tmp_path / 'cautious.yaml'}: is empty; a disposition sets its parameters (see " in (
        capsys.readouterr().out
    )
    with pytest.raises(SeatSpecError, match="cautious.yaml: is empty"):
        load({"kind": "standin", "disposition": str(tmp_path / "cautious.yaml")})


def test_calibrate_refuses_to_name_a_fitted_disposition_after_a_shipped_one():
    # the fitted file would then be refused wherever it is seated (and merged with the shipped one before)
    from glade.eval.calibrate import check_name

    with pytest.raises(ValueError) as err:
        check_name("hoarder")
    assert str(err.value) == (
        "--name hoarder: a shipped disposition's name, and the fitted one will differ from it; pick a name of its "
        "own, or leave --name out (calibrated_<policy>[_<creature>])"
    )
    check_name("hoarder_fit")


def test_a_card_without_traces_folders_says_so_plainly(tmp_path):
    # read "none of its 1 rows is in no traces folder (recipe.yaml names none) here"
    from test_pinned_export_numbers import rows_table

    from glade.hub.lineage import scenarios_text, trained_scenarios

    rows_table(tmp_path / "ckpt" / "data" / "train.parquet", [("default.hoarders.s0", 0)])
    trained = trained_scenarios(tmp_path / "ckpt", {"data": {"traces": []}}, {})
    assert scenarios_text(trained) == (
        "default (hash not known); hashes not known: its recipe.yaml names no traces folder to look its 1 row up in"
    )


def test_two_different_disposition_files_under_one_name_in_one_recipe_are_refused(tmp_path, capsys):
    # two calibrations left at their default name, seated side by side, merged into one stand-in
    from glade.cli import main

    for folder, budget in (("fit_a", 0.2), ("fit_b", 0.4)):
        (tmp_path / folder).mkdir()
        tweaked_hoarder(tmp_path / folder, name="calibrated_live", budget=budget)
    a, b = tmp_path / "fit_a" / "tweaked.yaml", tmp_path / "fit_b" / "tweaked.yaml"
    recipe = {
        "name": "walk",
        "out": str(tmp_path / "out"),
        "policies": {"a": {"kind": "standin", "disposition": str(a)}, "b": str(b)},
        "councils": {"one": {"focal": {"oona": "a", "thorn": "b"}}},
        "scenarios": ["default"],
        "seeds": {"start": 0, "count": 1},
        "turns": 13,
    }
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert main(["validate", "--kind", "eval", str(path)]) == 2
    assert (
        f"{path}: policies: a ({a}) and b ({b}) are two different dispositions named 'calibrated_live'; results "
        "tell stand-ins apart by name, so give one of the files a name of its own (name: ...)"
    ) in " ".join(capsys.readouterr().out.split())
    generate = {
        "out": str(tmp_path / "traces"),
        "scenarios": ["default"],
        "councils": {"mine": {"oona": str(a)}, "theirs": {"oona": str(b)}},
        "seeds": {"start": 0, "count": 1},
    }
    (tmp_path / "gen.yaml").write_text(yaml.safe_dump(generate))
    assert main(["validate", "--kind", "generate", str(tmp_path / "gen.yaml")]) == 2
    assert f"councils: mine.oona ({a}) and theirs.oona ({b}) are two different" in " ".join(
        capsys.readouterr().out.split()
    )
    tweaked_hoarder(tmp_path / "fit_b", name="calibrated_live", budget=0.2)  # the same parameters: one stand-in
    assert main(["validate", "--kind", "eval", str(path)]) == 0
