"""The mutation audit of the CLI verbs (see test_pinned_cli_dispatch.py), its second part: what
rank, calibrate, export, export-traces, lm-eval, train, merge and flag pass down to the library,
their defaults included, each library call replaced by a recorder that stops the verb once it
has seen its arguments. The comment on each test names what it guards."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from test_pinned_cli_dispatch import Stop, fake_train_modules

from glade.cli import main


def recorder(seen: list, result=Stop):
    """A stand-in for a library call: records (args, kwargs), then raises Stop or returns `result`."""

    def call(*args, **kwargs):
        seen.append((args, kwargs))
        if result is Stop:
            raise Stop
        return result

    return call


# --------------------------------------------------------------------------- rank


@pytest.mark.parametrize(
    ("extra", "out", "passed"),
    [
        ([], "a/rank.json", {"outcome": "seat", "resamples": 4000, "level": 0.95, "seed": 0}),
        (
            ["--outcome", "team", "--resamples", "467", "--level", "0.9", "--seed", "3"],
            "a/rank.json",
            {"outcome": "team", "resamples": 467, "level": 0.9, "seed": 3},
        ),
        (["--out", "x.json"], "x.json", {"outcome": "seat", "resamples": 4000, "level": 0.95, "seed": 0}),
    ],
)
def test_rank_passes_its_options_and_writes_beside_the_first_results(monkeypatch, extra, out, passed):
    # guards rank's defaults (seat, 4000 refits, 0.95, seed 0), that each option is passed on, and
    # the default out `RESULTS[0]/rank.json` (the first folder named, not the last)
    import glade.eval.rank

    checked, ranked = [], []
    monkeypatch.setattr(glade.eval.rank, "check_out", recorder(checked, None))
    monkeypatch.setattr(glade.eval.rank, "rank", recorder(ranked))
    with pytest.raises(Stop):
        main(["rank", "a", "b", *extra])
    assert checked == [((Path(out),), {})]
    [(args, kwargs)] = ranked
    assert args == (["a", "b"],)
    assert {k: kwargs[k] for k in passed} == passed


@pytest.mark.parametrize("extra", [["--resamples", "1743"], ["--level", "0.99", "--resamples", "109163"]])
def test_rank_takes_the_least_refits_and_the_highest_level_it_runs(monkeypatch, extra):
    # guards the bounds `args.resamples < min_resamples(level)` and `least > MOST_RESAMPLES` (1743 refits
    # at 95% and 0.99 with its least refits are allowed)
    import glade.eval.rank

    ranked = []
    monkeypatch.setattr(glade.eval.rank, "check_out", recorder([], None))
    monkeypatch.setattr(glade.eval.rank, "rank", recorder(ranked))
    with pytest.raises(Stop):
        main(["rank", "a", *extra])
    assert len(ranked) == 1


def test_rank_refuses_a_level_of_1(capsys):
    # guards the upper bound of `0 < args.level < 1` (a 100% interval is no interval)
    assert main(["rank", "a", "--level", "1"]) == 2
    assert "--level: must be between 0 and 1" in capsys.readouterr().err


HEADER = ["rank", "policy", "recipe names", "strength", "95% CI", "rank range", "wins / comparisons"]
ROWS = [
    ["1", "standin:panic_seller", "speculator_model", "+0.96", "[+0.54, +1.43]", "2-5", "80 / 120"],
    ["2", "hf:tiny-base+tiny-panic-seller__0__20261202-132820", "x", "+0.1", "[-0.2, +0.4]", "1-5", "1 / 2"],
]


def test_a_table_that_fits_exactly_keeps_its_natural_widths():
    # guards column_widths's `sum(lines) <= budget` (a table exactly as wide as the room fits)
    from glade.cli.rank import column_widths

    longest = [max(len(str(cell)) for cell in col) for col in zip(HEADER, *ROWS)]
    assert column_widths(HEADER, ROWS, sum(longest), 1) is None
    assert column_widths(HEADER, ROWS, sum(longest) - 1, 1) is not None


def test_on_a_narrow_terminal_the_id_still_gets_at_least_its_share_of_8_columns():
    # guards `max(budget - sum(widths), 8)`: with no room left the id folds into 8-wide lines
    # (its fewest lines at that width), not one character a line
    from glade.cli.rank import column_widths

    widths = column_widths(HEADER, ROWS, 20, 1)
    n = len(ROWS[1][1])
    assert widths[1] == -(-n // -(-n // 8))


@pytest.mark.parametrize(
    ("extra", "passed"),
    [
        ([], {"seed": 0, "holdout": 1 / 3, "holdout_scenario": None, "popsize": 10, "maxiter": 60, "name": None}),
        (
            ["--seed", "4", "--holdout", "0.5", "--holdout-scenario", "gambit_shock", "--popsize", "3"]
            + ["--maxiter", "2", "--name", "mine"],
            {"seed": 4, "holdout": 0.5, "holdout_scenario": "gambit_shock", "popsize": 3, "maxiter": 2, "name": "mine"},
        ),
    ],
)
def test_calibrate_passes_its_options_down(monkeypatch, tmp_path, extra, passed):
    # guards calibrate's defaults and that every option reaches glade.eval.calibrate.calibrate
    import glade.eval.calibrate

    fitted = []
    monkeypatch.setattr(glade.eval.calibrate, "calibrate", recorder(fitted))
    out = str(tmp_path / "fit.yaml")
    with pytest.raises(Stop):
        main(["calibrate", "src", "--policy", "p", "--creature", "oona", "--out", out, *extra])
    [(args, kwargs)] = fitted
    assert args == ("src", "p", "oona")
    assert {k: kwargs[k] for k in passed} == passed


@pytest.mark.parametrize(("option", "bad"), [("--popsize", "0"), ("--maxiter", "0"), ("--seed", "-1")])
def test_calibrate_refuses_a_bad_search_option_before_fitting(monkeypatch, tmp_path, option, bad):
    # guards `args.popsize < 1 or args.maxiter < 1` and `args.seed < 0`: exit 2, nothing fitted
    import glade.eval.calibrate

    fitted = []
    monkeypatch.setattr(glade.eval.calibrate, "calibrate", recorder(fitted))
    assert main(["calibrate", "src", "--policy", "p", "--out", str(tmp_path / "f.yaml"), option, bad]) == 2
    assert fitted == []


def test_calibrate_takes_seed_0_and_one_generation(monkeypatch, tmp_path):
    # guards the bounds' edges: --seed 0 and --maxiter 1 reach the fit
    import glade.eval.calibrate

    fitted = []
    monkeypatch.setattr(glade.eval.calibrate, "calibrate", recorder(fitted))
    with pytest.raises(Stop):
        main(["calibrate", "src", "--policy", "p", "--out", str(tmp_path / "f.yaml"), "--seed", "0", "--maxiter", "1"])
    assert len(fitted) == 1


# --------------------------------------------------------------------------- export, export-traces


def test_export_passes_every_option_down(monkeypatch):
    # guards export's run: each option reaches export_checkpoint (no --license is None: it takes the base's)
    import glade.cli.export as verb

    fake_train_modules(monkeypatch, {})
    exported = []
    monkeypatch.setattr(verb, "export_checkpoint", recorder(exported))
    with pytest.raises(Stop):
        main(
            ["export", "ck", "--repo-id", "me/c", "--merge", "--private", "--out", "o", "--push"]
            + ["--council", "runs/e", "--base-model", "me/base", "--dataset", "me/d"]
        )
    with pytest.raises(Stop):
        main(["export", "ck", "--repo-id", "me/c", "--license", "mit"])
    [(args, kwargs), (_, plain)] = exported
    assert args == ("ck", "me/c")
    wanted = {"merge": True, "private": True, "out": "o", "push": True, "council": "runs/e"}
    wanted |= {"base_model": "me/base", "dataset": "me/d", "license": None}
    assert {k: kwargs[k] for k in wanted} == wanted
    assert (plain["merge"], plain["private"], plain["push"], plain["license"]) == (False, False, False, "mit")


@pytest.mark.parametrize("verb", ["export", "export-traces"])
def test_a_failed_push_exits_3_and_private_without_push_warns(monkeypatch, tmp_path, capsys, verb):
    # guards `return PUSH_FAILED` (3: the folder is there, the push is not) and the warning's
    # condition `args.private and not args.push` (a private push says nothing of the sort)
    import glade.cli.export as export_verb
    import glade.cli.export_traces as traces_verb
    from glade.hub.cards import PushFailed

    fake_train_modules(monkeypatch, {})
    module, name = (export_verb, "export_checkpoint") if verb == "export" else (traces_verb, "export_traces")

    def failed(*args, **kwargs):
        raise PushFailed("no network", tmp_path, "hf upload")

    monkeypatch.setattr(module, name, failed)
    monkeypatch.setattr(export_verb, "local_base", lambda *args: None)  # a failed push warns of the base too
    monkeypatch.setattr(export_verb, "shipped_base", lambda *args: None)
    assert main([verb, "x", "--repo-id", "me/x", "--push"]) == 3
    passed = []
    monkeypatch.setattr(module, name, recorder(passed, tmp_path))
    assert main([verb, "x", "--repo-id", "me/x", "--private"]) == 0
    assert "--private acts only with --push" in capsys.readouterr().err
    assert passed[0][1]["private"] is True
    monkeypatch.setattr("glade.cli.export.private_unused", None)  # a warning would fail to build
    monkeypatch.setattr("glade.cli.export_traces.private_unused", None)
    assert main([verb, "x", "--repo-id", "me/x", "--private", "--push"]) == 0
    assert "(private)" in capsys.readouterr().out


def test_export_warns_of_a_local_base_only_when_no_hub_id_is_given(monkeypatch, tmp_path):
    # guards `local_base(checkpoint, args.merge, args.base_model)`: --base-model is what silences it
    import glade.cli.export as verb

    fake_train_modules(monkeypatch, {})
    asked = []
    monkeypatch.setattr(verb, "export_checkpoint", recorder([], tmp_path))
    monkeypatch.setattr(verb, "local_base", recorder(asked, None))
    monkeypatch.setattr(verb, "shipped_base", lambda *args: None)
    assert main(["export", "ck", "--repo-id", "me/c", "--base-model", "me/base"]) == 0
    assert asked == [(("ck", False, "me/base"), {})]


# --------------------------------------------------------------------------- lm-eval


def test_lm_eval_passes_its_options_and_defaults_down(monkeypatch):
    # guards lm-eval's run: the tasks (both glade tasks by default), --limit, every --traces and
    # --batch-size (default 4) reach run_lm_eval
    import glade.cli.lm_eval as verb

    calls = []
    monkeypatch.setattr(verb, "run_lm_eval", recorder(calls))
    with pytest.raises(Stop):
        main(["lm-eval", "ck"])
    with pytest.raises(Stop):
        main(
            ["lm-eval", "ck", "--tasks", " a, ,b", "--limit", "1", "--traces", "t1", "--traces", "t2"]
            + ["--batch-size", "1"]
        )
    (default, _), (given, _) = calls
    assert default == ("ck", list(verb.GLADE_TASKS), None, None, 4)
    assert given == ("ck", ["a", "b"], 1, ["t1", "t2"], 1)


@pytest.mark.parametrize("option", [["--limit", "0"], ["--batch-size", "0"], ["--tasks", " , "]])
def test_lm_eval_refuses_a_bad_option_before_scoring(monkeypatch, capsys, option):
    # guards `args.limit < 1`, `args.batch_size < 1` and `if not tasks`: exit 2, nothing scored
    import glade.cli.lm_eval as verb

    calls = []
    monkeypatch.setattr(verb, "run_lm_eval", recorder(calls))
    assert main(["lm-eval", "ck", *option]) == 2
    assert calls == [] and option[0] in capsys.readouterr().err


# --------------------------------------------------------------------------- train, merge


@pytest.mark.parametrize(
    ("flag", "resume", "restart"), [([], False, False), (["--resume"], True, False), (["--restart"], False, True)]
)
def test_train_passes_resume_and_restart_down(monkeypatch, flag, resume, restart):
    # guards train's `resume=args.resume, restart=args.restart`
    calls = []
    recipe = SimpleNamespace(name="r")
    monkeypatch.setitem(sys.modules, "glade.train.recipe", SimpleNamespace(load_train_recipe=lambda p, o: recipe))
    monkeypatch.setitem(sys.modules, "glade.train.sft", SimpleNamespace(train=recorder(calls)))
    monkeypatch.setitem(sys.modules, "glade.train.interrupted", SimpleNamespace(partial_dir=None))
    with pytest.raises(Stop):
        main(["train", "r.yaml", "a=1", *flag])
    [(args, kwargs)] = calls
    assert args[0] is recipe and (kwargs["resume"], kwargs["restart"]) == (resume, restart)


def test_merge_passes_its_out_down(monkeypatch):
    # guards merge's `merge(str(resolve(args.checkpoint)), args.out)`
    calls = []
    monkeypatch.setitem(sys.modules, "glade.train.merge", SimpleNamespace(merge=recorder(calls, "m")))
    monkeypatch.setattr("glade.checkpoint_files.loadable", lambda folder: None)  # "ck" is no folder
    assert main(["merge", "ck", "--out", "o"]) == 0
    assert main(["merge", "ck"]) == 0
    assert [c[0] for c in calls] == [("ck", "o"), ("ck", None)]


# --------------------------------------------------------------------------- flag


def flag_folder(tmp_path, monkeypatch, families: int) -> tuple[Path, list]:
    """A results folder whose flagging finds `families` families; glade.eval's calls recorded."""
    import glade.eval.flags
    import glade.eval.lean_tables
    import glade.eval.results_folder

    for name in ("decisions.parquet", "episodes.parquet"):
        (tmp_path / name).write_text("")
    fams = [
        {"family": i + 1, "text": f"family-{i + 1}", "members": [i + 1], "n": 9, "q": 0.01} for i in range(families)
    ]
    flagging = SimpleNamespace(
        excluded={"fault_rows": 0}, method={"flags": families}, cells=[], flags=fams, families=fams
    )
    written = []
    monkeypatch.setattr(glade.eval.results_folder, "read_table", lambda path: None)
    monkeypatch.setattr(glade.eval.lean_tables, "read_lean", lambda path: None)  # decisions, read lean
    monkeypatch.setattr(glade.eval.results_folder, "check_tables_agree", lambda *args: None)
    monkeypatch.setattr(glade.eval.flags, "load_thresholds", lambda results: (None, 0))
    monkeypatch.setattr(glade.eval.flags, "flag", lambda *args: flagging)
    monkeypatch.setattr(glade.eval.flags, "write_flags", recorder(written, (tmp_path / "f.json", tmp_path / "f.md")))
    return tmp_path, written


@pytest.mark.parametrize(("extra", "top"), [([], 10), (["--top", "3"], 3)])
def test_flag_shows_and_writes_the_top_families(tmp_path, monkeypatch, capsys, extra, top):
    # guards --top's default 10, `families[: args.top]` and `write_flags(..., top=args.top)`
    folder, written = flag_folder(tmp_path, monkeypatch, 12)
    assert main(["flag", str(folder), *extra]) == 0
    out = " ".join(capsys.readouterr().out.split())  # at any terminal width
    assert f"top {top}" in out and f"family-{top}" in out and f"family-{top + 1}" not in out
    assert written[0][1]["top"] == top


def test_flag_top_0_writes_the_files_and_prints_only_the_heading(tmp_path, monkeypatch, capsys):
    # guards `args.top < 0` (0 is allowed) and the `elif not args.top` branch: no table at all
    folder, written = flag_folder(tmp_path, monkeypatch, 2)
    assert main(["flag", str(folder), "--top", "0"]) == 0
    out = capsys.readouterr().out
    assert "2 flags in 2 families" in out and "family-1" not in out and "top " not in out
    assert written[0][1]["top"] == 0
    assert main(["flag", str(folder), "--top", "-1"]) == 2


def test_a_figure_missing_from_the_checkpoint_skips_only_its_own_row(tmp_path):
    # guards print_checkpoint's `if found[0] is None: continue` (not break): a checkpoint without
    # valid_json_rate's interval still shows the figures after it
    import io
    import json

    from rich.console import Console

    from glade.cli.train import print_checkpoint

    interval = {"mean": 0.75, "ci": [0.4, 1.0], "n": 4}
    metrics = {"train_loss": 0.5, "train_steps": 2, "heldout_states": 4}
    metrics["intervals"] = {"valid_action_rate": interval, "direction_agreement": interval}
    (tmp_path / "meta.json").write_text(json.dumps({"metrics": metrics}))
    buffer = io.StringIO()
    print_checkpoint(Console(file=buffer, width=150), tmp_path)
    text = buffer.getvalue()
    assert "valid actions" in text and "direction agreement" in text and "valid JSON" not in text


# --------------------------------------------------------------------------- eval


@pytest.mark.parametrize(
    ("ray", "overrides", "address"),
    [
        (["--ray", "seeds.count=2"], ["a=1", "seeds.count=2"], "auto"),  # an override after --ray
        (["--ray", "10.0.0.1:6379"], ["a=1"], "10.0.0.1:6379"),
        (["--ray"], ["a=1"], "auto"),
    ],
)
def test_eval_ray_takes_a_key_value_after_it_as_an_override(monkeypatch, ray, overrides, address):
    # guards eval's `"=" in args.ray`: the override is appended, and the cluster is then `auto`
    import glade.cli.eval as verb
    import glade.eval
    import glade.eval.plan
    import glade.eval.recipe

    loaded, backends = [], []
    recipe = SimpleNamespace(name="r", seeds=SimpleNamespace(count=8))
    monkeypatch.setattr(glade.eval.recipe, "load_eval_recipe", lambda path, given: loaded.append(given) or recipe)
    monkeypatch.setattr(glade.eval.recipe, "check_inputs", lambda *args: None)
    monkeypatch.setattr(glade.eval.plan, "check_ledger", lambda *args: None)
    monkeypatch.setattr(glade.eval.recipe, "unseated", lambda recipe: [])
    monkeypatch.setattr(glade.eval.recipe, "lever_scenarios_line", lambda recipe: None)
    monkeypatch.setattr(verb, "recipe_source", lambda *args: None)
    fake = SimpleNamespace(ray_backend=recorder(backends))
    monkeypatch.setitem(sys.modules, "glade.eval.distributed", fake)
    monkeypatch.setattr(glade.eval, "distributed", fake, raising=False)
    with pytest.raises(Stop):
        main(["eval", "r.yaml", "a=1", *ray])
    assert loaded == [overrides]
    assert backends[0][0][0] == address


@pytest.mark.parametrize(
    ("episodes", "said"),
    [
        (4, "timing and cost are those of the run that played them: 2.0 s"),
        (3, "the run that played the last 3 of them"),
    ],
)
def test_a_rerun_with_nothing_to_play_says_whose_timing_it_shows(episodes, said):
    # guards run_lines's `cost["episodes"] < worlds`: a kept cost that played every world is
    # "the run that played them", one that played only the last part says how many
    from glade.cli.eval import run_lines

    cost = {"kept": True, "episodes": episodes, "wall_seconds": 2.0}
    summary = {"timing": {"seconds": 9.0, "outside_model_share": 0.5}, "cost": cost, "worlds": 4, "decisions": 10}
    text = run_lines(summary, "runs/x")
    assert text.startswith("nothing left to play: every episode was finished; ") and said in text
