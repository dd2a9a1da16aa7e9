"""Bad input is caught before anything runs (issue 14 items 6-9, 11): types and ranges of every
recipe field and seat key, `glade validate` catching what the run itself would reject, and the
run refusing the same with one `error:` line and exit 2."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from glade.cli import main

ROOT = Path(__file__).resolve().parent.parent
TRAIN = {
    "name": "t",
    "model": {"base": "tiny"},
    "data": {"traces": ["runs/traces/standin"]},
    "sft": {"max_steps": 2, "bf16": False, "use_cpu": True, "report_to": "none"},
}
GENERATE = {"out": "runs/traces/x", "scenarios": ["default"], "councils": {"c": {"*": "hoarder"}}}
EVAL = {
    "name": "e",
    "out": "runs/eval/e",
    "policies": {"p": "panic_seller"},
    "councils": {"c": {"focal": {"oona": "p"}}},
    "scenarios": ["gambit_override"],
    "turns": 6,
}


def merged(base: dict, changes: dict) -> dict:
    out = dict(base)
    for key, value in changes.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


# (kind, recipe, the line validate prints): the bad recipes of the issue and their kin
BAD = [
    ("train", merged(TRAIN, {"sft": {"max_steps": "abc"}}), "FAIL   {}: sft.max_steps: expected an integer, got 'abc'"),
    ("train", merged(TRAIN, {"sft": {"learning_rate": "fast"}}), "FAIL   {}: sft.learning_rate: expected a number, got 'fast'"),
    ("train", merged(TRAIN, {"sft": {"per_device_train_batch_size": 0}}), "FAIL   {}: sft.per_device_train_batch_size: out of range: 0"),
    ("train", merged(TRAIN, {"eval": {"max_new_tokens": 0}}), "FAIL   {}: eval.max_new_tokens: must be at least 1, got 0"),
    ("train", merged(TRAIN, {"model": {"base": "shipped:nosuch"}}), "FAIL   {}: model.base: "),  # before the traces it waits for
    ("scenario", {"extends": "nosuch"}, "FAIL   {}: extends: scenario 'nosuch': no such scenario"),
    ("generate", merged(GENERATE, {"scenarios": ["defualt"]}), "FAIL   {}: scenarios[0]: scenario 'defualt': no such scenario"),
    ("generate", merged(GENERATE, {"councils": {"c": {"owl": "hoarder"}}}), "FAIL   {}: scenarios[0]: councils.c: unknown creature(s) owl"),
    ("generate", merged(GENERATE, {"councils": {"c": {"*": "hoardr"}}}), "FAIL   {}: councils.c.*: seat spec standin disposition: expected one of"),
    ("generate", merged(GENERATE, {"councils": {"c": {"oona": "nowhere.yaml"}}}), "NEEDS  {}: councils.c.oona: seat spec disposition: nowhere.yaml: no such disposition file (glade calibrate --out writes one)"),
    ("generate", merged(GENERATE, {"councils": {"c": {"*": {"kind": "standin", "disposition": "no/such.yaml"}}}}), "NEEDS  {}: councils.c.*: seat spec disposition: no/such.yaml: no such disposition file (glade calibrate --out writes one)"),
    ("generate", merged(GENERATE, {"scenarios": ["default", "gambit_shock", "default"]}), "FAIL   {}: scenarios: default listed twice; list each scenario once"),
    ("eval", merged(EVAL, {"scenarios": ["gambit_rumour", "gambit_rumour"]}), "FAIL   {}: scenarios: gambit_rumour listed twice; list each scenario once"),
    ("generate", merged(GENERATE, {"worlds": -3}), "FAIL   {}: worlds: must be at least 1, got -3"),
    ("generate", merged(GENERATE, {"worlds": 0}), "FAIL   {}: worlds: must be at least 1, got 0"),
    ("generate", merged(GENERATE, {"seeds": {"count": 0}}), "FAIL   {}: seeds.count: must be at least 1, got 0"),
    ("generate", merged(GENERATE, {"seeds": {"count": -1}}), "FAIL   {}: seeds.count: must be at least 1, got -1"),
    ("generate", merged(GENERATE, {"seeds": {"start": -5}}), "FAIL   {}: seeds.start: must be 0 or more"),
    ("eval", merged(EVAL, {"policies": {"p": {"kind": "hf", "model": "x", "max_new_tokns": 8}}}), "FAIL   {}: policies.p: seat spec hf: unknown key 'max_new_tokns'"),
    ("eval", merged(EVAL, {"policies": {"p": {"kind": "hf", "model": "x", "temperature": "hot"}}}), "FAIL   {}: policies.p: seat spec hf temperature: expected a number >= 0 and <= 2, got 'hot'"),
    ("eval", merged(EVAL, {"policies": {"p": {"kind": "standin", "disposition": "hoardr"}}}), "FAIL   {}: policies.p: seat spec standin disposition: expected one of"),
    ("eval", merged(EVAL, {"councils": {"c": {"focal": {"owl": "p"}}}}), "FAIL   {}: councils.c.focal: focal seats name unknown creature(s) owl"),
    ("eval", merged(EVAL, {"councils": {"c": {"focal": {"*": "p", "oonaa": "p"}}}}), "FAIL   {}: councils.c.focal: focal seats name unknown creature(s) oonaa"),
    ("eval", merged(EVAL, {"councils": {"c": {"rotate": 9}}}), "FAIL   {}: councils.c.rotate: 9: scenario gambit_override has 5 creatures, so at most 5 casts; set rotate to at most 5"),
    ("eval", merged(EVAL, {"councils": {"c": {"focal": {"*": "p"}, "rotate": 2}}}), "FAIL   {}: councils.c.rotate: 2 with focal '*': every creature is focal, so there is one cast; drop rotate"),
    ("eval", {**EVAL, "councils": {"c": {"focal": {}}}}, "FAIL   {}: councils.c.focal: names no seat; seat at least one creature (or '*': every creature)"),
    ("eval", merged(EVAL, {"turns": 3}), "FAIL   {}: turns: 3 turns (0 to 2) never reach gambit_override's legend at turn 4, gambit cover at turn 4: its figures would read '-' and +0.00; set turns to at least 5"),
    ("eval", merged(EVAL, {"thresholds": {"ci_level": 1.5}}), "FAIL   {}: thresholds.ci_level: must be between 0 and 1"),
    ("eval", merged(EVAL, {"policies": {"p": {"kind": "checkpoint", "path": "checkpoints/nope__0__20260101-000000"}}}), "NEEDS  {}: policies.p: seat spec checkpoint path: 'checkpoints/nope__0__20260101-000000': no such folder"),
    ("eval", merged(EVAL, {"policies": {"p": {"kind": "hf", "model": "runs/no/model"}}}), "NEEDS  {}: policies.p: seat spec hf model: 'runs/no/model': no such folder"),
    ("scenario", {"extends": "default", "market": {"max_step": -5}}, "FAIL   {}: market.max_step: must be more than 0 and at most 1, got -5"),
]  # fmt: skip


@pytest.mark.parametrize("kind, recipe, line", BAD, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(BAD)])
def test_validate_catches_what_the_run_would_reject(tmp_path, monkeypatch, capsys, kind, recipe, line):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "mine.yaml"  # outside recipes/<kind>/: --kind says what it is
    path.write_text(yaml.safe_dump(recipe))
    status = main(["validate", str(path), "--kind", kind])
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith(line.format(path)), printed[0]
    assert status == (1 if line.startswith("NEEDS") else 2)


def test_the_runs_refuse_the_same_with_one_line_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cases = [
        ("train", merged(TRAIN, {"sft": {"max_steps": "abc"}}), "sft.max_steps: expected an integer, got 'abc'"),
        ("generate", merged(GENERATE, {"seeds": {"count": 0}}), "seeds.count: must be at least 1, got 0"),
        ("eval", merged(EVAL, {"turns": 3}), "turns: 3 turns (0 to 2) never reach gambit_override's legend"),
        (
            "eval",
            merged(EVAL, {"policies": {"p": {"kind": "hf", "model": "runs/no/model"}}}),
            "'runs/no/model': no such folder",
        ),
    ]
    for verb, recipe, message in cases:
        path = tmp_path / f"{verb}.yaml"
        path.write_text(yaml.safe_dump(recipe))
        assert main([verb, str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("error:") == 1 and message in err, err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "checkpoints").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["simulate", "--seed", "-5"], "error: --seed: must be from 0 to 9,223,372,036,854,775,807"),
        (["simulate", "--turns", "0"], "error: --turns: must be at least 1"),
        (["simulate", "--set", "market.max_step=-5"], "market.max_step: must be more than 0 and at most 1, got -5"),
        (["lm-eval", "nowhere", "--batch-size", "0"], "error: --batch-size must be at least 1, got 0"),
    ],
)
def test_nonsense_numbers_on_the_command_line(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and message in err
    assert not (tmp_path / "runs").exists()


def test_validate_without_arguments_checks_the_local_recipes(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "recipes" / "train").mkdir(parents=True)
    (tmp_path / "recipes" / "train" / "mine.yaml").write_text(
        yaml.safe_dump(merged(TRAIN, {"sft": {"max_steps": "abc"}}))
    )
    assert main(["validate"]) == 2
    out = capsys.readouterr().out
    assert "recipes/train/mine.yaml: sft.max_steps: expected an integer" in out and "1 FAIL (malformed)" in out


def test_a_file_outside_the_recipe_folders_asks_for_kind(tmp_path, capsys):
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump({"turns": 3, "seeds": {"count": 2}}))  # keys a generate and an eval recipe share
    assert main(["validate", str(path)]) == 2
    out = capsys.readouterr().out
    assert "cannot tell what it is: say it with --kind (scenario, disposition, generate, train, eval)" in out
    # not malformed: a kind glade cannot tell is counted as such
    assert out.startswith(f"KIND?  {path}: not under") and out.splitlines()[-1] == (
        "0 ok, 0 FAIL (malformed), 0 NEEDS (inputs not made yet), 1 KIND? (say what they are with --kind)"
    )
    path.write_text(yaml.safe_dump(GENERATE))  # councils and no policies: a generate recipe, as validate guesses
    assert main(["validate", str(path)]) == 2
    assert (
        "it looks like a generate recipe (it has councils and no policies): say --kind generate"
        in capsys.readouterr().out
    )
    assert main(["validate", str(path), "--kind", "generate"]) == 0


def test_a_kind_glade_can_tell_by_its_own_keys_is_named_in_the_kind_line(tmp_path, capsys):
    # guards validate.looks_like: a train recipe has keys only train recipes have
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump(TRAIN))
    assert main(["validate", str(path)]) == 2
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith(f"KIND?  {path}: not under") and line.endswith(
        "so glade cannot tell what it is; it looks like a train recipe (it has data, model, sft): say --kind train"
    )


def test_shipped_recipes_are_well_formed(capsys):
    assert main(["validate", str(ROOT / "recipes")]) in (0, 1)  # 1: inputs an earlier step writes
    out = capsys.readouterr().out
    assert not re.search(r"^FAIL ", out, re.M) and " 0 FAIL (malformed)" in out


def test_a_scenario_of_your_own_is_found_before_the_shipped_ones(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "recipes" / "scenarios").mkdir(parents=True)
    (tmp_path / "recipes" / "scenarios" / "mine.yaml").write_text("extends: default\nturns: 3\n")
    assert main(["simulate", "--scenario", "mine", "--quiet"]) == 0
    assert "turns 3" in capsys.readouterr().out  # its own turns, over the default's 30


def test_a_seat_on_a_malformed_disposition_file_fails_validate_and_the_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine-disposition.yaml").write_text("horizn: 3\n")  # a misspelt key
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(merged(GENERATE, {"councils": {"c": {"oona": "mine-disposition.yaml"}}})))
    assert main(["validate", str(path), "--kind", "generate"]) == 2
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith(f"FAIL   {path}: councils.c.oona: seat spec disposition: ") and "horizn: unknown key" in line
    assert main(["generate", str(path)]) == 2  # named before any work, not mid-run
    err = capsys.readouterr().err
    assert "councils.c.oona: seat spec disposition: " in err and "horizn: unknown key" in err
    assert not (tmp_path / "runs").exists()


def test_a_policy_no_council_seats_is_said_beside_ok(tmp_path, capsys):
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump(merged(EVAL, {"policies": {"ghost": "hoarder"}})))
    assert main(["validate", str(path), "--kind", "eval"]) == 0  # not malformed: the run plays without it
    assert f"ok     {path}  (eval recipe; policies.ghost: no council seats it)" in capsys.readouterr().out


def test_traces_of_an_interrupted_generate_are_needs_not_fail(tmp_path, monkeypatch, capsys):
    """A generate run cut short is an input to finish (rerun it), like one not written yet."""
    from glade.traces import GenerateRecipe, generate

    monkeypatch.chdir(tmp_path)
    generate(GenerateRecipe(out="runs/traces/standin", scenarios=("default",), councils={"a": {}}, turns=2, worlds=1))
    (tmp_path / "runs" / "traces" / "standin" / "README.md").unlink()  # the card is written last
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(TRAIN))
    status = main(["validate", str(path), "--kind", "train"])
    printed = capsys.readouterr().out.splitlines()
    assert status == 1
    assert printed[0].startswith(
        f"NEEDS  {path}: data.traces[0]: runs/traces/standin: an interrupted `glade generate` run"
    )
