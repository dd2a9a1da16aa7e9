"""Held-out figures after training: valid answers whose quantity the parser cut are counted, the
base's training seeds are kept out of the held-out traces, held-out states with a training prompt
are dropped and counted (by lm-eval too, on a checkpoint's split), a merged model keeps its splits,
targets with nothing measured say so, a bare-number target says how to write it, and lm-eval
speaks of intervals only when it has one. On a tiny local model, two-turn episodes: nothing downloads."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
import yaml

import glade.train.sft as sft
from glade.checkpoint import prompt_pair, trained_prompts
from glade.config import ConfigError, Seeds
from glade.seats.base import Decision
from glade.traces import GenerateRecipe, generate
from glade.train.data import DataConfig, prepare
from glade.train.recipe import EvalSpec, load_train_recipe
from glade.train.tiny import save_tiny

ROOT = Path(__file__).resolve().parent.parent
COUNCIL = {"hoarders": {"*": "hoarder"}}
SFT = {"max_steps": 2, "per_device_train_batch_size": 2, "logging_steps": 1, "save_steps": 2, "learning_rate": 0.01}
SFT |= {"bf16": False, "use_cpu": True, "activation_checkpointing": False, "report_to": "none", "max_length": 1024}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """Training traces (seeds 0-3), held-out traces of the same council on seeds 60-61 (whose
    turn-0 prompts repeat some training ones), and a tiny base model."""
    root = tmp_path_factory.mktemp("heldout_fixes")
    generate(
        GenerateRecipe(out=str(root / "traces"), scenarios=("default",), councils=COUNCIL, seeds=Seeds(0, 4), turns=2)
    )
    generate(
        GenerateRecipe(out=str(root / "heldout"), scenarios=("default",), councils=COUNCIL, seeds=Seeds(60, 2), turns=2)
    )
    save_tiny(root / "base")
    return root


def recipe_file(workdir, tmp_path, **changes) -> Path:
    data = {
        "name": "fix",
        "output_root": str(tmp_path / "checkpoints"),
        "model": {"base": str(workdir / "base")},
        "data": {"traces": [str(workdir / "traces")], "eval_share": 0.25},
        "lora": {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]},
        "sft": SFT,
        "eval": {"traces": [str(workdir / "heldout")], "states": 8, "probe_states": 0, "max_new_tokens": 16},
        **changes,
    }
    path = tmp_path / "fix.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def trained(workdir, tmp_path_factory):
    """One two-step LoRA run evaluated on the held-out traces."""
    tmp = tmp_path_factory.mktemp("run")
    recipe = load_train_recipe(recipe_file(workdir, tmp))
    return recipe, sft.train(recipe, log=lambda line: None)


def prompts_of(rows) -> set:
    return {prompt_pair(m) for m in rows["messages"]}


# --------------------------------------------------------------------------- 3: training prompts


def test_held_out_states_with_a_training_prompt_are_dropped_and_counted(workdir, trained):
    recipe, ckpt = trained
    meta = json.loads((ckpt / "meta.json").read_text())
    from datasets import load_dataset

    train = load_dataset("parquet", data_files=str(ckpt / "data" / "train.parquet"), split="train")
    held = prepare(DataConfig(traces=(str(workdir / "heldout"),), eval_share=0.0))[0]
    seen = prompts_of(train)
    shared = [i for i, m in enumerate(held["messages"]) if prompt_pair(m) in seen]
    assert 0 < len(shared) < len(held)  # turn-0 prompts repeat across seeds
    episodes = sorted({held["episode_id"][i] for i in shared})
    assert meta["heldout"]["trained_on"] == {"rows": len(shared), "of": len(held), "episodes": episodes}
    assert meta["heldout"]["seeds"] == [60, 61]
    assert meta["metrics"]["heldout_states"] == min(8, len(held) - len(shared))
    assert "heldout_trained_on" not in meta["metrics"]


def seat(monkeypatch, answer):
    """evaluate's seat replaced by one answering `answer(i, obs)`; returns the observations it saw."""
    import glade.train.evaluate as evaluate

    shown = []

    class Seat:
        def act(self, observations):
            out = [answer(len(shown) + i, obs) for i, obs in enumerate(observations)]
            shown.extend(observations)
            return out

    monkeypatch.setattr(evaluate, "load", lambda spec: Seat())
    return shown


def test_evaluate_drops_the_trained_prompts_before_sampling(workdir, monkeypatch, tmp_path):
    import glade.train.evaluate as evaluate

    rows = prepare(DataConfig(traces=(str(workdir / "heldout"),), eval_share=0.0))[0]
    trained = prompts_of(rows.select(range(3)))  # the first three states, as if trained on
    shown = seat(monkeypatch, lambda i, obs: Decision(action={"orders": []}))
    out = evaluate.evaluate_checkpoint(tmp_path, rows, EvalSpec(states=100, batch_size=4), trained=trained)
    assert out["heldout_states"] == len(rows) - 3
    assert out["heldout_trained_on"] == {"rows": 3, "of": len(rows), "episodes": sorted(set(rows["episode_id"][:3]))}
    names = {json.dumps(o, sort_keys=True) for o in shown}
    assert not names & {json.dumps(json.loads(o), sort_keys=True) for o in rows["observation"][:3]}
    with pytest.raises(ValueError, match=f"every one of the {len(rows)} held-out states has a prompt of the training"):
        evaluate.evaluate_checkpoint(tmp_path, rows, EvalSpec(states=4), trained=prompts_of(rows))


# --------------------------------------------------------------------------- 1: quantities cut


def oversell(obs: dict) -> str:
    good = next(g for g, held in obs["inventory"].items() if held > 0)
    return json.dumps({"orders": [{"side": "sell", "good": good, "qty": obs["inventory"][good] + 5, "price": 1.0}]})


def test_valid_answers_with_a_cut_quantity_are_counted(workdir, monkeypatch, tmp_path):
    import glade.train.evaluate as evaluate
    from glade.env.protocol import parse

    rows = prepare(DataConfig(traces=(str(workdir / "heldout"),), eval_share=0.0))[0]
    obs = json.loads(rows["observation"][0])
    parsed = parse(oversell(obs), obs)
    assert parsed.error is None and "qty_cut" in parsed.repairs  # valid, yet cut

    def answer(i, obs):  # states 0, 3: cut; 1: clean; 2: an error (not valid, so not counted)
        if i % 4 in (0, 3):
            text = oversell(obs)
            return Decision(action=parse(text, obs).action, text=text)
        return Decision(action={"orders": []}, text='{"orders": []}', error="bad_json" if i % 4 == 2 else None)

    seat(monkeypatch, answer)
    out = evaluate.evaluate_checkpoint(tmp_path, rows, EvalSpec(states=4, batch_size=4))
    assert out["valid_action_rate"] == 0.75
    for prefix in ("", "structured_"):
        cut = out[prefix + "valid_action_cut"]
        assert cut["note"] == "2 of 3 valid answers, too few for an interval" and cut["n"] == 3


def cut_meta() -> dict:
    from glade.eval.stats import interval

    rate = interval([1.0] * 46 + [0.0] * 2, unit="states", rate=True).as_dict()
    return {
        "metrics": {
            "train_loss": 0.5,
            "train_steps": 2,
            "heldout_states": 48,
            "valid_action_rate": 46 / 48,
            "structured_valid_action_rate": 1.0,
            "valid_action_cut": interval([1.0] * 6 + [0.0] * 40, unit="valid answers", rate=True).as_dict(),
            "structured_valid_action_cut": interval([0.0] * 48, unit="valid answers", rate=True).as_dict(),
            "intervals": {
                "valid_action_rate": rate,
                "structured_valid_action_rate": interval([1.0] * 48, unit="states", rate=True).as_dict(),
            },
        },
        "heldout": {"seeds": [9000], "traces": ["h"], "trained_on": {"rows": 2, "of": 50, "episodes": ["e"]}},
    }


def test_the_card_and_the_console_say_how_many_valid_answers_were_cut(tmp_path):
    from rich.console import Console

    from glade.cli.train import print_checkpoint
    from glade.eval.stats import interval
    from glade.hub.model_card import heldout_table, heldout_words

    meta = cut_meta()
    table = heldout_table(meta)
    [line] = [row for row in table.splitlines() if row.startswith("| valid_action_rate ")]
    assert "48 states; a quantity cut to what was held or affordable in 6 of 46 valid answers, 0.1304 [" in line
    [line] = [row for row in table.splitlines() if row.startswith("| structured_valid_action_rate ")]
    assert "in 0 of 48 valid answers, 0.0000 [0.0000, 0.0740]" in line
    tail = "; 2 of its 50 states were left out before the 48 held-out states were sampled, because the same prompt"
    assert heldout_words(meta).endswith(f"{tail} occurs in a training split")
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    print_checkpoint(Console(file=(buffer := io.StringIO()), width=400), tmp_path)
    said = buffer.getvalue()
    assert (
        "valid actions with a quantity the parser cut to what was held or affordable: unconstrained 6 of 46 valid "
        "answers, 0.130 [0.049, 0.263]; structured 0 of 48 valid answers, 0.000 [0.000, 0.074]"
    ) in said
    assert "held-out states (48 of seeds 9000; 2 with a training prompt left out)" in " ".join(said.split())
    # a pass with no valid answer has no share to give: the other alone is named, then no line at all
    structured = "structured 0 of 48 valid answers, 0.000 [0.000, 0.074]"
    for none, shown in (("valid_action_cut", [structured]), ("structured_valid_action_cut", [])):
        meta["metrics"][none] = interval([], unit="valid answers", rate=True).as_dict()
        (tmp_path / "meta.json").write_text(json.dumps(meta))
        print_checkpoint(Console(file=(buffer := io.StringIO()), width=400), tmp_path)
        assert [line.split(": ", 1)[1] for line in buffer.getvalue().splitlines() if "the parser cut" in line] == shown


def test_the_trained_run_records_the_cut_beside_the_valid_action_rate(trained):
    _, ckpt = trained
    m = json.loads((ckpt / "meta.json").read_text())["metrics"]
    for prefix in ("", "structured_"):
        valid = round(m[prefix + "valid_action_rate"] * m["heldout_states"])
        assert m[prefix + "valid_action_cut"]["n"] == valid


def test_the_lm_eval_task_says_what_valid_action_counts():
    for path in ("eval/lm_tasks/utils.py", "eval/lm_tasks/glade_decision_gen.yaml"):
        text = " ".join((ROOT / path).read_text().replace("#", " ").split())
        assert "nothing cut or refused" not in text
        assert "refused or dropped nothing (no named error); an order whose quantity it cut to what is held or " \
            "affordable still counts" in text  # fmt: skip


# --------------------------------------------------------------------------- 2: the base's seeds


def base_with_record(folder: Path, base: Path, seeds: list[int] | None, below: Path | None = None) -> Path:
    shutil.copytree(base, folder)
    meta: dict = {"name": folder.name, "kind": "full", "base_resolved": str(below) if below else None}
    if seeds is not None:
        meta["traces"] = {"data": [{"folder": "runs/traces/x", "seeds": seeds}], "eval": []}
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


def test_held_out_seeds_the_base_trained_on_are_refused(workdir, tmp_path):
    from glade.train.inputs import check_paths

    base = base_with_record(tmp_path / "b1", workdir / "base", [7, 60, 61])
    recipe = load_train_recipe(recipe_file(workdir, tmp_path, model={"base": str(base)}))
    with pytest.raises(ConfigError) as err:
        check_paths(recipe, "fix.yaml")
    assert str(err.value) == (
        f"fix.yaml: eval.traces: seed(s) 60, 61 are also in the training traces of the base model {str(base)!r} "
        f"(by the meta.json of {base}); held-out traces must be generated from seeds neither the training traces "
        "nor the base's use"
    )
    # down the base chain: a base trained on b1, recording no traces of its own
    top = base_with_record(tmp_path / "b2", workdir / "base", None, below=base)
    recipe = load_train_recipe(recipe_file(workdir, tmp_path, model={"base": str(top)}))
    with pytest.raises(ConfigError, match=rf"of the base model '{top}' \(by the meta.json of {base}\)"):
        check_paths(recipe, "fix.yaml")
    # a base whose training seeds are apart from the held-out ones passes
    apart = base_with_record(tmp_path / "b3", workdir / "base", [0, 1])
    check_paths(load_train_recipe(recipe_file(workdir, tmp_path, model={"base": str(apart)})), "fix.yaml")


# --------------------------------------------------------------------------- 4: merge


def test_merge_keeps_the_splits_and_lm_eval_counts_trained_prompts_as_for_the_adapter(workdir, trained):
    from glade.eval.lm_docs import given_rows, heldout_rows
    from glade.train.merge import merge

    _, ckpt = trained
    merged = merge(ckpt)
    assert (merged / "recipe.yaml").read_text() == (ckpt / "recipe.yaml").read_text()
    for name in ("train.parquet", "eval.parquet"):
        assert (merged / "data" / name).read_bytes() == (ckpt / "data" / name).read_bytes()
    assert heldout_rows(merged)[1]["states"] == heldout_rows(ckpt)[1]["states"]
    adapter = given_rows(ckpt, str(workdir / "heldout"))[1]
    assert adapter["trained_on"]["rows"] > 0
    assert given_rows(merged, str(workdir / "heldout"))[1]["trained_on"] == adapter["trained_on"]
    shutil.rmtree(merged / "data")  # a merged folder from before: its adapter (merged_from) is followed
    assert given_rows(merged, str(workdir / "heldout"))[1]["trained_on"] == adapter["trained_on"]


def test_lm_eval_leaves_out_of_the_split_the_states_train_leaves_out(workdir, trained, tmp_path):
    import glade.eval.lm_docs as lm_docs
    from glade.checkpoint import lineage
    from glade.eval.lm_docs import heldout_rows, left_out_text

    # the base chain and a state's prompt are glade.checkpoint's, read by train and eval alike
    assert {f.__module__ for f in (lineage, prompt_pair, trained_prompts)} == {"glade.checkpoint"}
    assert "lineage" not in vars(lm_docs)  # no re-export left behind
    assert not [
        f for f in ("inputs", "evaluate", "sft") if "glade.eval.lm_docs" in (ROOT / f"train/{f}.py").read_text()
    ]

    _, ckpt = trained
    # the held-out traces as the checkpoint's own split: train scored them, leaving some out
    copy = shutil.copytree(ckpt, tmp_path / "ck")
    held = prepare(DataConfig(traces=(str(workdir / "heldout"),), eval_share=0.0))[0]
    held.to_parquet(str(copy / "data" / "eval.parquet"))
    rows, source = heldout_rows(copy)
    dropped = json.loads((ckpt / "meta.json").read_text())["heldout"]["trained_on"]
    assert source["trained_on_left_out"] == dropped and 0 < dropped["rows"] < len(held)
    assert len(rows) == source["states"] == len(held) - dropped["rows"]
    assert source["held_out"] == (
        f"the checkpoint's held-out split (data/eval.parquet); {dropped['rows']} of its {len(held)} states left out: "
        "their prompt is in a training split"
    )
    assert left_out_text(source) == (
        f"{dropped['rows']} of the {len(held)} held-out states were left out: their prompt is in a training split "
        "of this checkpoint (or its base), as glade train leaves them out of its held-out figures"
    )
    assert left_out_text(heldout_rows(ckpt)[1]) is None  # its own split shares no prompt with its training one
    # the base's training split counts too (lineage), and a split wholly trained on is refused
    base = shutil.copytree(workdir / "base", tmp_path / "b")
    (copy / "meta.json").write_text(
        json.dumps({**json.loads((copy / "meta.json").read_text()), "base_model": str(base)})
    )
    held.to_parquet(str(base / "data" / "train.parquet"))  # datasets makes the folder
    with pytest.raises(ValueError, match=f"every one of its {len(held)} held-out states has a prompt of a training"):
        heldout_rows(copy)


# --------------------------------------------------------------------------- 5: targets not measured


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"eval.states=0"}, "eval.states is 0, so no held-out state was answered"),
        (
            {"data.eval_share=0", "eval.traces=[]"},
            "no held-out state: eval.traces names none and the run held out no episode (data.eval_share 0)",
        ),
    ],
)
def test_targets_with_nothing_measured_are_not_met_and_say_why(workdir, tmp_path, monkeypatch, changes, why):
    from rich.console import Console

    from glade.cli.train import print_checkpoint

    targets = {"valid_action_rate": ">= 0.95", "self_buy_rate": "<= 0.01"}
    path = recipe_file(workdir, tmp_path)
    data = yaml.safe_load(path.read_text())
    data["eval"]["targets"] = targets
    path.write_text(yaml.safe_dump(data))
    recipe = load_train_recipe(path, sorted(changes))
    monkeypatch.setattr(sft, "_fit", lambda *a: ({"train_loss": 1.0, "train_steps": 2}, 1.0, 0.0))
    ckpt = sft.train(recipe, log=lambda line: None)
    meta = json.loads((ckpt / "meta.json").read_text())
    assert meta["targets_not_measured"] == why
    for name, target in targets.items():
        unmeasured = {"measured": None, "met": False, "ci": None, "shown": None, "reaches": None}
        assert meta["targets"][name] == {"target": target, **unmeasured}
    buffer = io.StringIO()
    print_checkpoint(Console(file=buffer, width=400), ckpt)
    lines = [line for line in buffer.getvalue().splitlines() if line.startswith("  target")]
    assert lines == [
        f"  targets not measured ({why}): self_buy_rate <= 0.01, valid_action_rate >= 0.95, each recorded as NOT met"
    ]


# --------------------------------------------------------------------------- 6: a bare number


def test_a_bare_number_target_says_how_to_write_it(workdir, tmp_path):
    path = recipe_file(workdir, tmp_path)
    with pytest.raises(ConfigError) as err:
        load_train_recipe(path, ["eval.targets.valid_action_rate=0.95"])
    assert str(err.value).endswith(
        "eval.targets.valid_action_rate: expected a string, got 0.95: write it as '>= 0.95' or '<= 0.95'"
    )
    with pytest.raises(ConfigError) as err:
        load_train_recipe(path, ["eval.targets.valid_action_rate=95"])
    assert str(err.value).endswith("expected a string, got 95: write it as '>= 0.95' or '<= 0.95' (for 95%)")


# --------------------------------------------------------------------------- 7: lm-eval's words


@pytest.mark.parametrize(
    ("ci", "head"),
    [
        (None, "glade_direction_mc (n=6 documents from 2 episodes): acc 0.5000"),
        ([0.2, 0.8], "glade_direction_mc (n=6 documents from 5 episodes; 95% intervals over them): acc 0.5000"),
    ],
)
def test_lm_eval_speaks_of_intervals_only_when_there_is_one(tmp_path, monkeypatch, capsys, ci, head):
    import glade.cli.lm_eval as cli
    from glade.cli import main

    episodes = {"mean": 0.5, "ci": ci, "n": 5 if ci else 2, "note": ""}
    result = {
        "checkpoint": str(tmp_path),
        "scores": {"glade_direction_mc": {"acc": 0.5}},
        "n_samples": {"glade_direction_mc": {"effective": 6}},
        "intervals": {"glade_direction_mc": {"acc": episodes}},
        "baselines": {},
    }
    monkeypatch.setattr(cli, "run_lm_eval", lambda *a, **kw: result)
    assert main(["lm-eval", str(tmp_path), "--tasks", "glade_direction_mc", "--limit", "6"]) == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("glade_direction_mc")]
    assert line.startswith(head + " (over episodes")
