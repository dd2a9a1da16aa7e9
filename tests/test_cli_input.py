"""What a user types, taken as meant or refused with a line that says why: overrides after
options, simulate's output folder, --council files and lists, command-line values named
as such, validate's file names and order, a gambit that never springs, a verdict whose
interval straddles its floor."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from glade.cli import main
from glade.eval.verdict_text import robustness_lines

ROOT = Path(__file__).resolve().parent.parent
GENERATE = ROOT / "recipes" / "generate" / "standin.yaml"


def sim(*extra: str) -> int:
    return main(["simulate", "--quiet", "--turns", "2", *extra])


def test_overrides_may_follow_an_option(tmp_path, capsys):
    out = str(tmp_path / "g")
    assert main(["generate", str(GENERATE), "--dry-run", f"out={out}", "seeds.count=1"]) == 0
    after = capsys.readouterr()
    assert main(["generate", str(GENERATE), f"out={out}", "seeds.count=1", "--dry-run"]) == 0
    before = capsys.readouterr()
    plan = [line for line in (after.out + after.err).splitlines() if " episodes (" in line]
    assert plan and plan[0].startswith("20 episodes")  # seeds.count=1 (80 with the recipe's 4 seeds)
    assert plan == [line for line in (before.out + before.err).splitlines() if " episodes (" in line]


def test_an_unknown_option_among_overrides_is_still_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["generate", str(GENERATE), "--dry-run", "--bogus", "seeds.count=1"])
    assert exited.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_simulate_replaces_its_own_run_and_refuses_anything_else(tmp_path, capsys):
    out = tmp_path / "sim"
    assert sim("--out", str(out)) == 0
    assert "replacing" not in capsys.readouterr().out
    assert sim("--out", str(out), "--seed", "3") == 0
    assert "(replacing the simulate run that was there)" in capsys.readouterr().out
    assert json.loads((out / "summary.json").read_text())["seed"] == 3

    (out / "notes.txt").write_text("mine")
    assert sim("--out", str(out)) == 2
    assert (
        "holds files that are not an episode glade simulate wrote (notes.txt); give a new or empty folder"
        in capsys.readouterr().err
    )

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "summary.json").write_text('{"mine": 1}')
    assert sim("--out", str(mine)) == 2
    assert "holds files that are not an episode glade simulate wrote (summary.json)" in capsys.readouterr().err
    assert (mine / "summary.json").read_text() == '{"mine": 1}' and not (mine / "trace.parquet").exists()

    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "trace.parquet").write_text("mine")  # a trace without the summary simulate writes first
    assert sim("--out", str(loose)) == 2
    assert "holds files that are not an episode glade simulate wrote (trace.parquet)" in capsys.readouterr().err

    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    assert sim("--out", str(a_file)) == 2
    assert f"{a_file}: is a file; give a folder to write into" in capsys.readouterr().err
    under = a_file / "sub"
    expected = f"{under}: {a_file} is a file, so no folder can be made under it; give another path"
    assert sim("--out", str(under)) == 2
    assert expected in capsys.readouterr().err
    recipe = tmp_path / "gen.yaml"
    recipe.write_text(
        yaml.safe_dump({"out": str(under), "scenarios": ["default"], "councils": {"c": {"*": "hoarder"}}})
    )
    assert main(["generate", str(recipe), "turns=2"]) == 2
    assert expected in capsys.readouterr().err
    assert main(["generate", str(recipe), "turns=2", f"out={a_file}"]) == 2
    assert f"{a_file}: is a file; give a folder to write into" in capsys.readouterr().err
    assert main(["quickstart", "--out", str(under)]) == 2
    assert expected in capsys.readouterr().err


def test_council_mistakes_name_the_file_creature_and_key(tmp_path, capsys):
    typo = tmp_path / "typo.yaml"
    typo.write_text(yaml.safe_dump({"name": "mine", "surplu": 3}))  # a disposition with one key mistyped
    assert sim("--council", str(typo), "--out", str(tmp_path / "a")) == 2
    assert "surplu: unknown key" in capsys.readouterr().err

    seats = tmp_path / "seats.yaml"
    seats.write_text(yaml.safe_dump({"oona": {"kind": "nosuch"}}))
    assert sim("--council", str(seats), "--out", str(tmp_path / "b")) == 2
    assert f"--council {seats}: oona: seat spec kind: unknown kind 'nosuch'" in capsys.readouterr().err

    assert sim("--council", "oona=hoarder,oona=panic_seller", "--out", str(tmp_path / "c")) == 2
    assert "oona is named twice (hoarder, panic_seller)" in capsys.readouterr().err

    assert sim("--council", "oona=hoarder,,bramble=panic_seller", "--out", str(tmp_path / "d")) == 2
    assert "an empty creature=disposition pair" in capsys.readouterr().err


def test_a_bad_value_from_the_command_line_is_named_as_given(tmp_path, capsys):
    assert sim("--set", "market.max_step=-5", "--out", str(tmp_path / "a")) == 2
    err = capsys.readouterr().err
    assert "default.yaml with market.max_step=-5, turns=2: market.max_step: must be more than 0" in err
    assert "market.max_step: must be more than 0" in err

    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    assert sim("--scenario", str(folder), "--out", str(tmp_path / "b")) == 2
    assert f"{folder}: is a folder; expected a YAML file" in capsys.readouterr().err


def test_a_gambit_after_the_last_turn_says_it_never_sprang(tmp_path, capsys):
    assert (
        main(["simulate", "--quiet", "--scenario", "gambit_shock", "--turns", "3", "--out", str(tmp_path / "s")]) == 0
    )
    out = " ".join(capsys.readouterr().out.split())  # the console wraps long lines at its width
    assert "after the last turn (2): it never sprang" in out


def _traces(folder: Path, seeds: list[int]) -> str:
    (folder / "data").mkdir(parents=True)
    pq.write_table(
        pa.table({"seed": seeds, "scenario": ["default"] * len(seeds)}), folder / "data" / "part-00000.parquet"
    )
    return str(folder)


def test_validate_refuses_held_out_traces_that_share_a_training_seed(tmp_path, capsys):
    recipe = {
        "name": "t",
        "model": {"base": "tiny"},
        "data": {"traces": [_traces(tmp_path / "train", [0, 1, 2])]},
        "eval": {"traces": [_traces(tmp_path / "heldout", [2, 9])]},
    }
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert main(["validate", str(path), "--kind", "train"]) == 2
    assert f"FAIL   {path}: eval.traces: seed(s) 2 are also in data.traces" in capsys.readouterr().out

    recipe["eval"]["traces"] = [_traces(tmp_path / "other", [9])]
    path.write_text(yaml.safe_dump(recipe))
    assert main(["validate", str(path), "--kind", "train"]) == 0


def test_a_straddling_interval_says_so_rather_than_only_not_enough_seeds():
    entry = {
        "scenario": "gambit_override",
        "phenomenon": "crash",
        "good": "honey",
        "world": "one_model",
        "casts": [{"cast": 0, "note": "5 of 5 seeds"}],
        "rate": {"mean": 1.0, "ci": [0.48, 1.0], "note": "5 of 5 seeds"},
        "verdict": "not enough seeds",
        "floor": 0.5,
    }
    [line] = robustness_lines([entry])
    assert line == (
        "crash of honey in gambit_override: not enough seeds in every world (one_model 5 of 5 seeds, rate 1.00 "
        "[0.48, 1.00] straddles the robust floor 0.50: more seeds would narrow it)"
    )
    [line] = robustness_lines([{**entry, "rate": {**entry["rate"], "ci": [0.6, 1.0]}, "verdict": "robust"}])
    assert "straddles" not in line


def test_a_council_that_lost_seeds_says_so_in_the_terminal_lines():
    from glade.eval.verdict_text import attribution_lines

    standin = {
        "scenario": "s",
        "phenomenon": "crash",
        "good": "honey",
        "world": "standin",
        "casts": [{"cast": 0, "note": "0 of 6 seeds"}],
        "rate": {"mean": 0.0, "ci": [0.0, 0.46], "n": 6, "note": "0 of 6 seeds"},
        "verdict": "absent",
    }
    council = {**standin, "world": "c", "rate": {**standin["rate"], "n": 5, "note": "0 of 5 seeds"}}
    [line] = robustness_lines([standin, council])
    assert line.endswith("(all stand-in 0 of 6 seeds, c 0 of 5 seeds; n 5 of 6 seeds)")
    seam = [{"scenario": "s", "world": "standin", "total": {"n": 6}}]
    effect = {
        "scenario": "s",
        "council": "c",
        "figure": "crash",
        "effect_clear": True,
        "effect": {"mean": 0.4, "ci": [0.1, 0.7], "n": 5},
        "seats": [],
        "interaction": {"mean": 0.0},
    }
    [line] = attribution_lines([effect], seam)
    assert "(n 5 of 6 seeds)" in line


def test_refused_input_draws_no_progress_bar_and_names_the_option(tmp_path, capsys):
    assert main(["calibrate", str(tmp_path / "nowhere"), "--policy", "p", "--out", str(tmp_path / "c.yaml")]) == 2
    err = capsys.readouterr().err
    assert "no such folder" in err and "generations" not in err  # the fit's bar never started
    assert main(["rank", str(tmp_path), "--level", "5"]) == 2
    assert "error: --level: must be between 0 and 1 (0.95 for a 95% interval), got 5.0" in capsys.readouterr().err


def test_recipe_paths_and_values_are_named_as_given(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # outside a checkout: recipes/... is not here
    assert main(["generate", "recipes/generate/standin.yaml"]) == 2
    assert f"no such file here; glade's shipped copy is {GENERATE}" in capsys.readouterr().err
    assert main(["generate", str(GENERATE), "worlds=0"]) == 2
    assert f"error: {GENERATE} with worlds=0: worlds: must be at least 1, got 0" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["validate", "empty"]) == 2
    assert "empty: no YAML files (*.yaml, *.yml) to check" in capsys.readouterr().err
    (tmp_path / "part-00000.parquet").write_bytes(b"PAR1")  # was KIND?, then FAIL with --kind
    assert main(["validate", "part-00000.parquet"]) == 2
    assert capsys.readouterr().err == (
        "error: part-00000.parquet: not a YAML file (.yaml, .yml); validate checks recipes, scenarios and "
        "dispositions\n"
    )


def test_verb_help_opens_with_what_it_does(capsys):
    verbs = (
        ("eval", "Seat a council"),
        ("flag", "Test every cell"),
        ("export", "Write a Hub-ready"),
        ("rank", "A leaderboard"),
    )
    for verb, opening in verbs:
        with pytest.raises(SystemExit):
            main([verb, "--help"])
        text = capsys.readouterr().out
        description = text.split("\n\n")[1]
        assert description.startswith(opening) and "glade." not in description, description


def test_merging_a_full_model_says_there_is_nothing_to_merge(capsys):
    assert main(["merge", str(ROOT / "models" / "tiny-base")]) == 2
    assert "tiny-base: a full model, with no LoRA adapter to merge" in capsys.readouterr().err


def test_a_recipe_of_another_kind_is_named(capsys):
    assert main(["eval", str(GENERATE), "--dry-run"]) == 2
    assert (
        f"{GENERATE}: a generate recipe (recipes/generate/); `glade eval` takes an eval recipe"
        in capsys.readouterr().err
    )


def test_a_seat_label_prints_as_written(tmp_path, capsys):
    from glade.console import console, show_faults

    tally = {"server:x [bold]": {"decisions": 3, "faults": {"server_refused": 3}, "fault_share": 1.0}}
    show_faults(console(), tally, [], 0.2)
    out = capsys.readouterr().out
    assert "seat faults: server:x [bold]: 3 of 3 decisions" in out  # no emoji, no markup eaten

    from glade.cli.eval import print_results
    from glade.eval.recipe import EvalRecipe

    pq.write_table(pa.table({"episode_id": pa.array([], pa.string())}), tmp_path / "episodes.parquet")
    recipe = EvalRecipe(name="t", out=str(tmp_path), policies={}, councils={}, scenarios=())
    valid = {"mean": 0.9, "ci": None, "n": 2, "note": "too few seeds"}
    seat = {"council": "c[/]", "policy": "model[v2]", "valid_action": valid, "decisions": 4, "errors": {}}
    print_results(console(), recipe, {"table": [], "seats": [seat]})  # "c[/]" raised a MarkupError
    out = capsys.readouterr().out
    assert "model[v2]" in out
    # the rate is over seeds (seat_validity), and the column says so
    assert "mean over seeds" in " ".join(out.split()) and "seeds" in out.split("top errors")[1].split()[0]


def test_an_hf_seat_naming_a_checkpoint_says_how_to_seat_it(tmp_path, capsys):
    seats = tmp_path / "seats.yaml"
    seats.write_text(yaml.safe_dump({"*": {"kind": "hf", "model": "shipped:tiny-base"}}))
    assert sim("--council", str(seats), "--out", str(tmp_path / "a")) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "'shipped:tiny-base' names a checkpoint, which an hf seat does not resolve" in err
    assert "{kind: checkpoint, path: shipped:tiny-base}" in err


def test_a_recipe_of_another_kind_is_named_as_such(tmp_path, capsys):
    root = Path(__file__).resolve().parents[1]
    crash = str(root / "recipes" / "eval" / "crash-gambit.yaml")
    assert sim("--scenario", crash, "--out", str(tmp_path / "a")) == 2
    assert f"{crash}: an eval recipe (recipes/eval/); --scenario takes a scenario" in capsys.readouterr().err
    assert sim("--council", crash, "--out", str(tmp_path / "a")) == 2
    assert f"{crash}: an eval recipe (recipes/eval/); --council takes a disposition" in capsys.readouterr().err


@pytest.mark.parametrize(
    "code, said",
    [
        (errno.EACCES, "error: /ro/out: permission denied; check the path and its permissions"),
        (errno.ENOSPC, "error: /ro/out: no space left on device; the disk is full: free some space, or choose"),
        (errno.ENOENT, "error: /ro/out: no such file or directory; check the path: it, or a folder above it, is not"),
        (errno.EROFS, "error: /ro/out: read-only file system; choose a path you can write"),  # not said twice
    ],
)
def test_an_os_error_no_verb_named_is_one_line_with_the_path_and_what_to_do(monkeypatch, capsys, code, said):
    # before: "error: [Errno 13] Permission denied: '/ro/out'" (the errno, and nothing to do)
    import glade.cli.simulate as verb

    def run(args):
        raise OSError(code, os.strerror(code), "/ro/out")

    monkeypatch.setattr(verb, "run", run)
    assert main(["simulate"]) == 2
    assert capsys.readouterr().err.strip().startswith(said)


def test_a_council_whose_seat_failed_every_decision_is_said_to_be_left_out_of_the_tables(tmp_path, capsys):
    # before: its rows were silently missing and the seat table printed empty; why came 40 lines later
    recipe = {
        "name": "dead",
        "out": str(tmp_path / "out"),
        "policies": {"base": {"kind": "server", "base_url": "http://127.0.0.1:9/v1", "model": "x", "retries": 0}},
        "councils": {"one": {"focal": {"oona": "base"}}},
        "scenarios": ["gambit_rumour"],
        "seeds": {"start": 500, "count": 2},
        "turns": 6,
    }
    path = tmp_path / "dead.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert main(["eval", str(path)]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert (
        "left out: 2 council worlds with seat faults (12 decisions); council one lost every world, so it has no row "
        "in the tables (see 'seat faults' below)"
    ) in out
    assert "valid-action rate per live seat: no live decision outside the worlds left out" in out
