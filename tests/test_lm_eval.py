"""`glade lm-eval`: the decision tasks run through lm-eval on the tiny base (a full-model
checkpoint) and on a tiny LoRA adapter over it; the adapter changes the scores."""

import json
import re
import shutil
import time

import pytest
import torch
import yaml

from glade import checkpoint
from glade.cli import main
from glade.eval import harness, lm_docs
from glade.eval.lm_tasks import utils as lm_metrics
from glade.traces import GenerateRecipe, generate
from glade.train.data import DataConfig, prepare, save_prepared
from glade.train.tiny import save_tiny

LIMIT = 3


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """Tiny stand-in traces; a full "checkpoint" (the tiny base); a LoRA checkpoint over it with
    random (non-zero) adapter weights, written as `glade train` writes one (meta.json,
    recipe.yaml naming the traces)."""
    torch.set_num_threads(1)
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root = tmp_path_factory.mktemp("lm_eval")
    generate(
        GenerateRecipe(
            out=str(root / "traces"),
            scenarios=("default",),
            councils={"hoarders": {"*": "hoarder"}, "panic": {"*": "panic_seller"}},
            turns=2,
            worlds=8,
        )
    )
    base = save_tiny(root / "base")  # a bare model folder: no recipe, so it needs --traces
    recipe = {
        "name": "tiny",
        "model": {"base": str(base)},
        "data": {"traces": [str(root / "traces")], "eval_share": 0.25, "split_seed": 0},
    }
    full = root / "full"
    shutil.copytree(base, full)
    (full / "meta.json").write_text(json.dumps({"name": "tiny", "kind": "full", "base_model": None}))
    (full / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    config = DataConfig(traces=(str(root / "traces"),), eval_share=0.25, split_seed=0)
    save_prepared(full / "data", *prepare(config), config)  # the splits, as glade train saves them

    lora = root / "lora"
    torch.manual_seed(0)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base),
        LoraConfig(
            r=4, lora_alpha=32, target_modules=["q_proj", "v_proj"], init_lora_weights=False, task_type="CAUSAL_LM"
        ),
    )
    model.save_pretrained(lora)
    AutoTokenizer.from_pretrained(base).save_pretrained(lora)
    (lora / "meta.json").write_text(json.dumps({"name": "lora", "kind": "lora", "base_model": str(base)}))
    (lora / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    save_prepared(lora / "data", *prepare(config), config)
    return root


@pytest.fixture(scope="module")
def runs(workdir):
    """Both tasks on the base and on the adapter, on the same held-out rows (from their recipe)."""
    seconds = {}
    t = time.perf_counter()
    assert main(["lm-eval", str(workdir / "full"), "--limit", str(LIMIT)]) == 0
    seconds["base"] = time.perf_counter() - t
    t = time.perf_counter()
    assert main(["lm-eval", str(workdir / "lora"), "--limit", str(LIMIT)]) == 0
    seconds["lora"] = time.perf_counter() - t
    read = lambda name: json.loads((workdir / name / "lm_eval" / "results.json").read_text())
    return {"base": read("full"), "lora": read("lora"), "seconds": seconds}


def test_metrics_score_a_completion():
    obs = {
        "inventory": {"honey": 3, "acorns": 0},
        "produces": {"honey": 1, "acorns": 0},
        "creature": "oona",
        "pebbles": 10.0,
    }
    standin = {"orders": [{"side": "sell", "good": "honey", "qty": 1, "price": 2.0}]}
    same = lm_metrics.score_completion(
        '{"orders": [{"side": "sell", "good": "honey", "qty": 2, "price": 3}]}', obs, standin
    )
    assert same == {"valid_json": 1.0, "valid_action": 1.0, "standin_agreement": 1.0, "self_buy": 0.0}
    selfbuy = lm_metrics.score_completion(
        '{"orders": [{"side": "buy", "good": "honey", "qty": 1, "price": 1}]}', obs, standin
    )
    assert selfbuy["self_buy"] == 1.0 and selfbuy["standin_agreement"] == 0.5
    assert lm_metrics.score_completion("I would rather not", obs, standin)["valid_json"] == 0.0
    mc = lm_metrics.process_direction({"gold": 1}, [(-3.0, False), (-1.0, True), (-2.0, False)])
    assert mc["acc"] == 1.0 and 0.5 < mc["gold_prob"] < 1.0


def test_tasks_are_checked_in_and_only_documents_are_written(workdir, tmp_path):
    out = lm_docs.build_tasks(workdir / "traces", tmp_path / "tasks", limit=5)
    assert out.is_absolute()
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{t}.jsonl" for t in lm_docs.GLADE_TASKS)
    for task in lm_docs.GLADE_TASKS:
        text = (harness.LM_TASKS / f"{task}.yaml").read_text()
        assert "!function utils." in text
    gen = [json.loads(line) for line in (out / f"{lm_docs.GEN_TASK}.jsonl").open()]
    mc = [json.loads(line) for line in (out / f"{lm_docs.MC_TASK}.jsonl").open()]
    assert len(gen) == 5 and len(mc) == 5 * len(json.loads(gen[0]["observation"])["inventory"])
    assert all(d["answer"] == lm_metrics.CHOICES[d["gold"]] for d in mc)
    assert len(lm_metrics.decision_docs(**{lm_metrics.DOCS: str(out)})["train"]) == 5

    from lm_eval.tasks import TaskManager

    t = time.perf_counter()
    manager = TaskManager(
        include_path=str(harness.LM_TASKS), include_defaults=False, metadata={lm_metrics.DOCS: str(out)}
    )
    assert set(lm_docs.GLADE_TASKS) <= set(manager.all_tasks)
    assert time.perf_counter() - t < 5


def test_default_rows_are_the_recipes_held_out_episodes(workdir):
    rows, source = lm_docs.heldout_rows(workdir / "lora")
    train, held, _ = prepare(DataConfig(traces=(str(workdir / "traces"),), eval_share=0.25, split_seed=0))
    assert {r["episode_id"] for r in rows} == set(held["episode_id"])
    assert {r["episode_id"] for r in rows}.isdisjoint(train["episode_id"])
    assert source["held_out_episodes"] >= 1


def test_base_and_adapter_scores(runs, workdir):
    base, lora = runs["base"], runs["lora"]
    for result in (base, lora):
        assert set(result["scores"]) == set(lm_docs.GLADE_TASKS)
        gen, mc = result["scores"][lm_docs.GEN_TASK], result["scores"][lm_docs.MC_TASK]
        assert {"valid_json", "valid_action", "standin_agreement", "self_buy"} <= set(gen)
        assert {"acc", "acc_norm", "gold_prob"} <= set(mc)
        assert all(0.0 <= v <= 1.0 for v in [*gen.values(), *mc.values()])
        assert result["model_args"]["dtype"] == "float32"
        # the baselines of exactly the documents lm-eval scored, beside the scores
        docs = workdir / ("full" if result is base else "lora") / "lm_eval" / "docs"
        golds = [d["gold"] for d in lm_docs.read_docs(docs, lm_docs.MC_TASK, LIMIT)]  # counted here, by hand
        shares = {c: golds.count(i) / len(golds) for i, c in enumerate(lm_docs.CHOICES)}
        assert result["baselines"][lm_docs.MC_TASK]["gold_share"] == pytest.approx(shares)
        for task in lm_docs.GLADE_TASKS:
            assert result["baselines"][task]["documents"] == result["n_samples"][task]["effective"] == LIMIT
        assert sum(result["baselines"][lm_docs.MC_TASK]["gold_share"].values()) == pytest.approx(1.0)
        assert result["data"]["shuffle_seed"] == lm_docs.SHUFFLE_SEED
        # each metric over the held-out episodes the documents came from: an episode's mean is one value
        episodes = {d["episode_id"] for d in lm_docs.read_docs(docs, lm_docs.MC_TASK, LIMIT)}
        for metric in ("acc", "acc_norm", "gold_prob"):
            found = result["intervals"][lm_docs.MC_TASK][metric]
            assert found["n"] == len(episodes) and found["documents"] == LIMIT
        assert set(result["intervals"][lm_docs.GEN_TASK]) >= {"valid_json", "valid_action", "standin_agreement"}
    assert "peft" in lora["model_args"] and "peft" not in base["model_args"]
    assert lora["model_args"]["pretrained"] == str(workdir / "base")
    assert base["data"] == lora["data"] and base["n_samples"] == lora["n_samples"]  # same documents
    # the adapter changes the model, so the (continuous) gold probability moves
    assert lora["scores"][lm_docs.MC_TASK]["gold_prob"] != base["scores"][lm_docs.MC_TASK]["gold_prob"]
    print(
        "\nlm-eval scores:",
        json.dumps({k: runs[k]["scores"] for k in ("base", "lora")}),
        "seconds:",
        {k: round(v, 1) for k, v in runs["seconds"].items()},
    )


def test_bad_checkpoint_is_a_clear_error(workdir, tmp_path, capsys):
    assert main(["lm-eval", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: no such folder" in capsys.readouterr().err
    with pytest.raises(ValueError, match="neither a model"):
        harness.run_lm_eval(tmp_path)
    with pytest.raises(ValueError, match="recipe.yaml"):  # a bare model folder names no traces
        harness.run_lm_eval(workdir / "base", limit=1)
    with pytest.raises(ValueError, match="unknown lm-eval task"):
        harness.run_lm_eval(
            workdir / "base", tasks=["glade_decision_gen", "no_such_task_xyz"], limit=1, traces=workdir / "traces"
        )
    assert not (workdir / "base" / "lm_eval").exists()  # a run that failed writes nothing


def test_traces_override_and_one_task(workdir, capsys):
    argv = [
        "lm-eval",
        str(workdir / "base"),
        "--tasks",
        lm_docs.GEN_TASK,
        "--limit",
        "2",
        "--traces",
        str(workdir / "traces"),
    ]
    assert main(argv) == 0
    result = json.loads((workdir / "base" / "lm_eval" / "results.json").read_text())
    assert list(result["scores"]) == [lm_docs.GEN_TASK] and result["data"]["held_out"].startswith("every row")
    printed = capsys.readouterr()
    assert lm_docs.GEN_TASK in printed.out
    assert (
        "baseline on the same 2 documents: an empty answer (executed as a hold) scores standin_agreement" in printed.out
    )
    assert result["baselines"][lm_docs.GEN_TASK]["documents"] == 2
    assert "generate_until requests" not in printed.err  # lm-eval's own bar stays off without --verbose


def test_the_quiet_run_counts_its_requests_on_a_bar(workdir, capsys):
    """lm-eval's own bars are off unless --verbose; its request loops advance glade's bar, one
    per kind of request (loglikelihood for the direction task, generate_until for decisions)."""
    assert main(["lm-eval", str(workdir / "full"), "--limit", "2"]) == 0
    bars = [line for line in capsys.readouterr().err.splitlines() if line.startswith("lm-eval")]
    assert len(bars) == 2
    assert any(re.search(r"━ \d+/\d+ requests .*loglikelihood", b) for b in bars)
    assert any(re.search(r"━ \d+/\d+ requests .*generate_until", b) for b in bars)


def test_results_say_which_glade_rendered_the_prompts(runs):
    from glade.env.protocol import PROTOCOL_VERSION

    for name in ("base", "lora"):
        provenance = runs[name]["provenance"]
        assert provenance["protocol_version"] == PROTOCOL_VERSION and provenance["glade_version"]
        assert set(provenance["versions"]) == {"lm_eval", "torch", "transformers", "peft"}


def test_traces_a_checkpoint_was_trained_on_are_said_not_held_out(workdir, tmp_path, capsys):
    # the prompts of the training split a checkpoint saved (its base's too, under an adapter):
    # scores on those very states measure fit, which the run says and results.json records
    import pyarrow.parquet as pq

    from glade.traces import load_traces

    rows = load_traces((str(workdir / "traces"),)).to_list()
    base = tmp_path / "base"
    shutil.copytree(workdir / "full", base)  # a full checkpoint with its saved split, as the adapter's base
    lora = tmp_path / "lora"
    shutil.copytree(workdir / "lora", lora)
    shutil.rmtree(lora / "data")  # the adapter saved no split of its own: the base's counts
    (lora / "meta.json").write_text(json.dumps({"name": "lora", "kind": "lora", "base_model": str(base)}))
    trained = {
        (m[0]["content"], m[1]["content"])
        for m in pq.read_table(base / "data" / "train.parquet", columns=["messages"])["messages"].to_pylist()
    }
    shared = [r for r in rows if (r["messages"][0]["content"], r["messages"][1]["content"]) in trained]
    held = pq.read_table(base / "data" / "eval.parquet", columns=["episode_id"])["episode_id"].to_pylist()
    assert 0 < len(shared) < len(rows) and held  # some rows were held out, and some trained on
    argv = ["lm-eval", str(lora), "--tasks", lm_docs.MC_TASK, "--limit", "1", "--traces", str(workdir / "traces")]
    assert main(argv) == 0
    data = json.loads((lora / "lm_eval" / "results.json").read_text())["data"]
    seeds = sorted({r["seed"] for r in shared})
    assert data["trained_on"] == {"rows": len(shared), "of": len(rows), "seeds": seeds}
    assert data["held_out"] == f"not held out: {len(shared):,} of {len(rows):,} rows were trained on"
    assert (
        f"warning: {len(shared):,} of {len(rows):,} --traces rows hold prompts this checkpoint (or its base) was "
        "trained on (the very states"
    ) in " ".join(capsys.readouterr().err.split())
    # a checkpoint that saved no split (as the shipped base ships) warns of nothing: not known
    shutil.rmtree(base / "data")
    assert checkpoint.trained_prompts(lora) == set()
