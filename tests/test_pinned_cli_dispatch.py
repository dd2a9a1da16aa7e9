"""Tests written by a mutation audit of the CLI verbs' own logic (glade.cli: the dispatch and its
exit codes, simulate's argument checks and --council, quickstart's step selection, and what the
verbs pass down to the library): each pins a behaviour that a plausible one-line change (a
comparison flipped, a clause dropped, a default changed, an argument not passed on) left
untested. The comment on each names what it guards. The library calls are replaced by
recorders where running them would train, fit or load a model."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from glade.cli import main
from glade.cli import quickstart as qs
from glade.cli.simulate import parse_council
from glade.config import ConfigError
from glade.env import load_scenario
from glade.seats import SeatSpecError

# --------------------------------------------------------------------------- dispatch


def test_glade_with_no_verb_prints_its_help_and_exits_2(capsys):
    # guards main's `if "run" not in args: ... return 2` (no verb is a usage mistake, not success)
    assert main([]) == 2
    assert capsys.readouterr().out.startswith("usage: glade ")


def test_a_key_hint_says_value_when_the_next_word_is_another_option(tmp_path, capsys):
    # guards override_hint's `not following.startswith("-")`: `--count --bogus` is no value
    with pytest.raises(SystemExit):
        main(["generate", str(tmp_path / "gen.yaml"), "--count", "--bogus"])
    assert "did you mean seeds.count=VALUE?" in capsys.readouterr().err


def test_glade_debug_shows_the_traceback_instead_of_the_one_line(monkeypatch):
    # guards main's `if os.environ.get("GLADE_DEBUG"): raise` (the documented way to see where)
    monkeypatch.setenv("GLADE_DEBUG", "1")
    with pytest.raises(ValueError, match="--seed: must be from 0 to "):
        main(["simulate", "--seed", "-1"])


# --------------------------------------------------------------------------- simulate


def test_a_council_file_naming_creatures_and_a_disposition_key_is_a_council(tmp_path):
    # guards parse_council's `and not keys & {*creatures, "*"}`: a file naming a creature is a
    # council, so a stray disposition key in it is an unknown creature, not a disposition file
    path = tmp_path / "council.yaml"
    path.write_text(yaml.safe_dump({"oona": "hoarder", "name": "mine"}))
    with pytest.raises(ConfigError, match=r"unknown creature\(s\) name \(creatures: oona"):
        parse_council(str(path), load_scenario("default"))


def test_every_seat_of_a_council_file_is_checked_before_any_seat_loads(tmp_path):
    # guards parse_council's check_spec loop: thorn's malformed spec is named before oona's hf
    # model is looked for (loading would otherwise start, and fail on oona's missing folder)
    path = tmp_path / "council.yaml"
    path.write_text(yaml.safe_dump({"oona": {"kind": "hf", "model": str(tmp_path / "none")}, "thorn": {"kind": "x"}}))
    with pytest.raises(SeatSpecError, match=r"^--council \S+: thorn: seat spec kind: unknown kind 'x'"):
        parse_council(str(path), load_scenario("default"))


def test_a_council_file_keeps_the_scenarios_seat_for_every_creature_it_does_not_name(tmp_path):
    # guards parse_council's `{**council, **loaded}`: a seat for every creature, not only those named
    path = tmp_path / "council.yaml"
    path.write_text(yaml.safe_dump({"oona": "speculator"}))
    scenario = load_scenario("default")
    council = parse_council(str(path), scenario)
    assert list(council) == list(scenario.creatures)
    assert council["oona"].disposition.name == "speculator"
    assert council["thorn"].disposition.name == scenario.creatures["thorn"].disposition


def test_a_pair_naming_a_later_creature_seats_it_and_keeps_the_earlier_ones(tmp_path):
    # guards parse_council's `if disposition is None: continue` (not break): the creatures
    # before the named one keep their seats, and the named one still gets its disposition
    scenario = load_scenario("default")
    council = parse_council("moss=hoarder", scenario)
    assert council["moss"].disposition.name == "hoarder"
    assert council["oona"].disposition.name == scenario.creatures["oona"].disposition


def test_a_pair_with_no_disposition_is_refused_as_malformed():
    # guards `or not disposition` in parse_council's pair check (`oona=` names no disposition)
    with pytest.raises(ConfigError, match=r"^--council 'oona=': expected creature=disposition$"):
        parse_council("thorn=hoarder,oona=", load_scenario("default"))


def test_simulate_takes_seed_0_and_one_turn(tmp_path):
    # guards run's bounds `args.seed < 0` and `args.turns < 1`: 0 and 1 are the least allowed
    assert main(["simulate", "--seed", "0", "--turns", "1", "--quiet", "--out", str(tmp_path / "s")]) == 0
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert (summary["seed"], summary["turns"]) == (0, 1)


def test_simulate_defaults_to_seed_7_in_a_folder_named_by_the_scenarios_name(tmp_path, monkeypatch):
    # guards --seed's default 7 and the default out `runs/simulate/<scenario.name>-seed<seed>`
    # (the scenario's own name, not the path it was given as)
    monkeypatch.chdir(tmp_path)
    path = Path(__file__).parents[1] / "recipes" / "scenarios" / "default.yaml"
    assert main(["simulate", "--scenario", str(path), "--turns", "1", "--quiet"]) == 0
    summary = json.loads((tmp_path / "runs" / "simulate" / "default-seed7" / "summary.json").read_text())
    assert summary["seed"] == 7


def test_simulate_refuses_0_turns_by_its_option(tmp_path, capsys):
    # guards `args.turns < 1` (0 turns is refused by --turns, not left to the scenario loader)
    assert main(["simulate", "--turns", "0", "--out", str(tmp_path / "s")]) == 2
    assert "--turns: must be at least 1, got 0" in capsys.readouterr().err


@pytest.mark.parametrize(("share", "code"), [("0", 0), ("1", 0), ("1.5", 2), ("-0.1", 2)])
def test_simulate_takes_a_max_fault_share_from_0_to_1(tmp_path, share, code):
    # guards `0 <= args.max_fault_share <= 1`: both ends allowed (0: no fault tolerated)
    assert (
        main(["simulate", "--turns", "1", "--quiet", "--max-fault-share", share, "--out", str(tmp_path / "s")]) == code
    )


@pytest.mark.parametrize(
    ("extra", "share", "over", "code"), [([], 0.2, [], 0), (["--max-fault-share", "0.5"], 0.5, ["oona"], 1)]
)
def test_simulate_judges_faults_at_its_share_and_exits_1_when_a_seat_is_over(
    tmp_path, monkeypatch, extra, share, over, code
):
    # guards --max-fault-share's default 0.2, that it is what too_many_faults is asked about,
    # and `return 1 if ... or over` (a seat over the share fails the run once it is written)
    import glade.cli.simulate as verb

    asked = []
    monkeypatch.setattr(verb, "too_many_faults", lambda faults, given: asked.append(given) or over)
    monkeypatch.setattr(verb, "seat_fault_hint", lambda *args, **kwargs: "")
    monkeypatch.setattr(verb, "show_faults", lambda *args, **kwargs: None)
    monkeypatch.setattr(verb, "write_episode", lambda episode, out: None)
    faults = {"oona": {"faults": {}}}
    real = verb.run_episode
    monkeypatch.setattr(verb, "run_episode", lambda *a, **k: _with_faults(real(*a, **k), faults))
    assert main(["simulate", "--turns", "1", "--quiet", "--out", str(tmp_path / "s"), *extra]) == code
    assert asked == [share]


def _with_faults(episode, faults):
    episode.summary["faults"] = faults
    return episode


# --------------------------------------------------------------------------- quickstart


def recorded_steps(monkeypatch) -> list[str]:
    """quickstart's steps, each replaced by one that records its name."""
    ran: list[str] = []

    def recorder(step):
        return dataclasses.replace(step, run=lambda args, con: ran.append(step.name))

    monkeypatch.setattr(qs, "STEPS", tuple(map(recorder, qs.STEPS)))
    monkeypatch.setattr(qs, "TRAIN_BASE", tuple(map(recorder, qs.TRAIN_BASE)))
    return ran


def test_quickstart_runs_the_steps_up_to_and_including_until(tmp_path, monkeypatch):
    # guards run's `steps[: names.index(args.until) + 1]` (the --until step itself runs)
    ran = recorded_steps(monkeypatch)
    assert main(["quickstart", "--out", str(tmp_path / "qs"), "--until", "base"]) == 0
    assert ran == ["simulate", "gambits", "generate", "base"]


def test_train_base_replaces_the_base_step_with_its_two(tmp_path, monkeypatch):
    # guards `steps[at : at + 1] = TRAIN_BASE` at the "base" step: the shipped base step goes,
    # the two rebuilding steps come in its place, before the adapters
    ran = recorded_steps(monkeypatch)
    assert main(["quickstart", "--out", str(tmp_path / "qs"), "--train-base", "--until", "train-hoarder"]) == 0
    assert ran == ["simulate", "gambits", "generate", "generate-base", "train-base", "train-hoarder"]


def test_until_a_train_base_step_without_train_base_is_refused_by_name(tmp_path, monkeypatch, capsys):
    # guards the `args.until not in names` refusal: exit 2 naming the run's steps, nothing run
    ran = recorded_steps(monkeypatch)
    assert main(["quickstart", "--out", str(tmp_path / "qs"), "--until", "train-base"]) == 2
    assert (
        "--until train-base: a step of --train-base only; add --train-base, or stop at one of: simulate, gambits,"
        in capsys.readouterr().err
    )
    assert ran == []


def test_an_out_that_is_a_file_is_refused_before_any_step(tmp_path, monkeypatch):
    # guards run's check_folder_path(OUT) before the first step (not after training)
    ran = recorded_steps(monkeypatch)
    (tmp_path / "file").write_text("x")
    assert main(["quickstart", "--out", str(tmp_path / "file" / "qs")]) == 2
    assert ran == []


class Stop(Exception):
    """Raised by a recorder once it has seen what it was passed: the step goes no further."""


def fake_train_modules(monkeypatch, seen: dict) -> None:
    """glade.train.recipe and glade.train.sft as recorders (the real ones import TRL)."""
    import sys

    def load_train_recipe(path, overrides=()):
        seen.setdefault("train", []).append((Path(path).name, list(overrides)))
        raise Stop

    fake_recipe = SimpleNamespace(load_train_recipe=load_train_recipe, shipped_recipe=lambda folder: None)
    monkeypatch.setitem(sys.modules, "glade.train.recipe", fake_recipe)
    monkeypatch.setitem(sys.modules, "glade.train.sft", SimpleNamespace(train=None))


KEPT = "/ck/tiny-base__0__20261204-000000"  # the tiny-base the base step kept


def keep_base(monkeypatch, kept: str | None) -> None:
    """The base step kept `kept` (None: it has not run); no adapter run is kept."""
    import glade.cli.quickstart.steps as steps

    monkeypatch.setattr(
        steps, "kept_checkpoint", lambda name, args: Path(kept) if kept and name == "tiny-base" else None
    )


@pytest.mark.parametrize(
    ("name", "train_base", "kept", "overrides"),
    [
        ("tiny-hoarder", True, KEPT, [f"model.base={KEPT}"]),  # the base its step kept, not latest:
        ("tiny-hoarder", True, None, ["model.base=latest:tiny-base"]),  # before the base step ran
        ("tiny-hoarder", False, KEPT, []),
        ("tiny-base", True, KEPT, []),  # the base itself is not put on the base it is building
    ],
)
def test_with_train_base_the_adapters_train_on_the_base_its_step_kept(monkeypatch, name, train_base, kept, overrides):
    # guards train_overrides: `model.base=<kept tiny-base>` if args.train_base and name != "tiny-base"
    seen: dict = {}
    fake_train_modules(monkeypatch, seen)
    keep_base(monkeypatch, kept)
    with pytest.raises(Stop):
        qs.train_recipe(name)(SimpleNamespace(train_base=train_base), None)
    assert seen["train"] == [(f"{name}.yaml", overrides)]


@pytest.mark.parametrize(("train_base", "overrides"), [(True, [f"policies.base_model.path={KEPT}"]), (False, [])])
def test_with_train_base_the_eval_step_seats_the_base_its_step_kept(monkeypatch, train_base, overrides):
    # guards evaluate_councils's `policies.base_model.path=<kept tiny-base>` override under --train-base
    import glade.eval.recipe

    seen = []

    def load_eval_recipe(path, given=()):
        seen.append((Path(path).name, list(given)))
        raise Stop

    monkeypatch.setattr(glade.eval.recipe, "load_eval_recipe", load_eval_recipe)
    keep_base(monkeypatch, KEPT)
    with pytest.raises(Stop):
        qs.evaluate_councils(SimpleNamespace(train_base=train_base), None)
    assert seen == [("crash-gambit.yaml", overrides)]


@pytest.mark.parametrize(
    ("train_base", "kept", "base"),
    [(True, KEPT, Path(KEPT)), (True, None, "latest-base"), (False, KEPT, "shipped-base")],
)
def test_the_export_step_exports_the_base_the_adapters_were_trained_on(monkeypatch, tmp_path, train_base, kept, base):
    # guards export_creatures's kept tiny-base (else latest) under --train-base, else the shipped one
    import glade.hub.export

    fake_train_modules(monkeypatch, {})
    keep_base(monkeypatch, kept)
    monkeypatch.setattr(qs.checkpoint, "latest", lambda name: f"latest-{name.removeprefix('tiny-')}")
    monkeypatch.setattr(qs.checkpoint, "shipped", lambda name: f"shipped-{name.removeprefix('tiny-')}")
    exported = []

    def export_checkpoint(folder, repo_id, **kwargs):
        exported.append((folder, repo_id, kwargs.get("council")))
        raise Stop

    monkeypatch.setattr(glade.hub.export, "export_checkpoint", export_checkpoint)
    with pytest.raises(Stop):
        qs.export_creatures(SimpleNamespace(train_base=train_base, out=str(tmp_path)), None)
    # with the crash-gambit's results: the base sat there as five_minds' base_model
    assert exported == [(base, "glade-quickstart/tiny-base", str(qs.RESULTS))]


# --------------------------------------------------------------------------- validate


def test_validate_reads_only_yaml_and_yml_files_of_a_folder(tmp_path, capsys):
    # guards collect's `x.suffix in (".yaml", ".yml")` (the glob `*.y*ml` also matches `.yxml`)
    folder = tmp_path / "recipes" / "scenarios"
    folder.mkdir(parents=True)
    (folder / "a.yml").write_text("extends: default\nturns: 3\n")
    (folder / "b.yxml").write_text("not: [a scenario\n")
    assert main(["validate", str(tmp_path / "recipes")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "1 ok, 0 FAIL (malformed), 0 NEEDS (inputs not made yet)"
