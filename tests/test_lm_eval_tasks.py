"""`glade lm-eval` without a full lm-eval run: the documents it writes (a seeded shuffle of the
held-out states), the metrics and baselines read beside the scores, the errors a broken
checkpoint or an unreachable base model gives, and the command line."""

import json
from collections import Counter

import numpy as np
import pytest
from test_checkpoint import whole

from glade import checkpoint
from glade.cli import build_parser, main
from glade.env.protocol import PROTOCOL_VERSION
from glade.eval import harness, lm_docs
from glade.eval.lm_tasks import utils as lm_tasks
from glade.eval.scoring import score
from glade.traces import GenerateRecipe, generate

OBS = {
    "inventory": {"honey": 3, "acorns": 0, "berries": 2},
    "produces": {"honey": 1, "acorns": 0, "berries": 0},
    "creature": "oona",
    "pebbles": 10.0,
}
STANDIN = {"orders": [{"side": "sell", "good": "honey", "qty": 1, "price": 2.0}]}  # holds acorns and berries


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    """A stand-in traces folder of two episodes (two councils), three turns each."""
    out = tmp_path_factory.mktemp("lm_eval_tasks") / "traces"
    generate(
        GenerateRecipe(
            out=str(out),
            scenarios=("default",),
            councils={"hoarders": {"*": "hoarder"}, "panic": {"*": "panic_seller"}},
            turns=3,
            worlds=8,
        )
    )
    return out


@pytest.fixture(scope="module")
def rows(traces):
    found = lm_docs.trace_rows([traces])
    assert len({r["episode_id"] for r in found}) >= 2
    return found


def test_traces_of_another_prompt_protocol_are_refused_as_training_refuses_them(traces, monkeypatch):
    # --traces of an older glade were scored as today's prompts, and results.json said today's protocol
    from glade.env import protocol

    monkeypatch.setattr(protocol, "PROTOCOL_VERSION", "wood-chat-9+deadbeef")  # a later glade reads them
    with pytest.raises(ValueError) as info:
        lm_docs.trace_rows([traces])
    assert str(info.value) == (
        f"{traces}: its rows were rendered with prompt protocol {PROTOCOL_VERSION}, this glade renders "
        "wood-chat-9+deadbeef; the tasks would score the prompts stored in its rows, which this glade no longer "
        "writes, as this glade's: generate them again with this glade (`glade generate RECIPE` into a new out) and "
        "pass that folder"
    )


def _docs(folder, task, limit=None):
    """The first LIMIT documents of a task as written: what lm-eval scores with --limit LIMIT."""
    with open(folder / f"{task}.jsonl") as f:
        docs = [json.loads(line) for line in f]
    return docs[:limit]


# --- metrics --------------------------------------------------------------------------------


def test_direction_task_scores_acc_norm_as_lm_eval_does():
    # "hold" loses on its summed log-likelihood, wins per character (lm-eval's acc_norm)
    lls = [-3.0, -4.4, -3.9]
    out = lm_tasks.process_direction({"gold": 2}, [(ll, False) for ll in lls])
    assert out["acc"] == 0.0 and out["acc_norm"] == 1.0 and 0 < out["gold_prob"] < 0.5
    # lm-eval 0.4.13 (ConfigurableTask.process_results, multiple_choice): argmax(lls / len(choice))
    lengths = np.array([float(len(c)) for c in lm_tasks.CHOICES])
    rng = np.random.default_rng(0)
    for _ in range(200):
        lls = rng.uniform(-8, 0, size=3)
        gold = int(rng.integers(3))
        got = lm_tasks.process_direction({"gold": gold}, [(float(ll), False) for ll in lls])
        assert got["acc"] == float(np.argmax(lls) == gold)
        assert got["acc_norm"] == float(np.argmax(lls / lengths) == gold)
    text = (harness.LM_TASKS / f"{lm_docs.MC_TASK}.yaml").read_text()
    assert "{metric: acc_norm, aggregation: mean, higher_is_better: true}" in text


def test_each_direction_choice_is_scored_as_one_token(rows, tmp_path):
    """The requests lm-eval builds for glade_direction_mc, as `glade lm-eval` runs it (chat
    template applied), on the shipped tiny base: every choice's scored continuation is one
    word-initial token. (Version 2.0 scored "\\nbuy", "\\nsell" and "\\nho"+"ld": the template's
    newline moved into the continuation and a two-token "hold" that lost by ~6 nats.)"""
    from lm_eval.tasks import TaskManager, get_task_dict

    docs = lm_docs.write_tasks(rows, tmp_path / "docs", limit=2)
    lm = harness.load_model("tiny-base", {"pretrained": str(checkpoint.shipped("tiny-base")), "dtype": "float32"}, 1)
    manager = TaskManager(
        include_path=str(harness.LM_TASKS), include_defaults=False, metadata={lm_tasks.DOCS: str(docs)}
    )
    task = get_task_dict([lm_tasks.MC_TASK], manager)[lm_tasks.MC_TASK]
    task.build_all_requests(
        limit=2, apply_chat_template=True, chat_template=lm.apply_chat_template, tokenizer_name=lm.tokenizer_name
    )
    assert len(task.instances) == 2 * len(lm_tasks.CHOICES)
    for inst in task.instances:
        context, continuation = inst.arguments
        scored = [lm.tokenizer.decode([t]) for t in lm._encode_pair(context, continuation)[1]]
        assert scored == [" " + lm_tasks.CHOICES[inst.idx]]
        assert context.endswith("<|im_start|>assistant\nAnswer:")


def test_decision_task_scores_valid_action_and_an_empty_answer_is_a_hold():
    assert set(lm_tasks.score_completion("", OBS, STANDIN)) == {
        "valid_json",
        "valid_action",
        "standin_agreement",
        "self_buy",
    }
    text = (harness.LM_TASKS / f"{lm_docs.GEN_TASK}.yaml").read_text()
    assert "{metric: valid_action, aggregation: mean, higher_is_better: true}" in text
    assert "EXECUTED action" in text  # the YAML says what standin_agreement counts
    # an answer the parser cannot use is invalid, and executes (and scores) as a hold
    hold = score({"orders": []}, None, OBS, STANDIN)["standin_agreement"]
    for text in ("", "I would rather not", "{"):
        got = lm_tasks.score_completion(text, OBS, STANDIN)
        assert got["valid_action"] == 0.0 and got["standin_agreement"] == hold == pytest.approx(2 / 3)
    # readable JSON the parser had to cut (a good the creature does not have): valid JSON, invalid action
    cut = lm_tasks.score_completion(
        '{"orders": [{"side": "sell", "good": "pearls", "qty": 1, "price": 1}]}', OBS, STANDIN
    )
    assert cut["valid_json"] == 1.0 and cut["valid_action"] == 0.0
    whole = lm_tasks.score_completion(
        '{"orders": [{"side": "sell", "good": "honey", "qty": 1, "price": 3}]}', OBS, STANDIN
    )
    assert whole == {"valid_json": 1.0, "valid_action": 1.0, "standin_agreement": 1.0, "self_buy": 0.0}


# A stand-in's answer from the quickstart's held-out traces (recipes/generate/heldout.yaml): five
# orders, 139 tokens for the tiny tokenizer, the longest of its 6,600 answers.
LONG_ANSWER = (
    '{"orders": [{"side": "buy", "good": "firewood", "qty": 1, "price": 1.74}, {"side": "buy", "good": '
    '"acorns", "qty": 3, "price": 2.96}, {"side": "buy", "good": "berries", "qty": 2, "price": 2.64}, '
    '{"side": "buy", "good": "mushrooms", "qty": 2, "price": 2.65}, {"side": "sell", "good": "honey", '
    '"qty": 31, "price": 3.72}]}'
)


def test_the_decision_task_has_room_for_the_stand_ins_longest_answer():
    """A model that answers exactly as the stand-in must not be cut off by max_gen_toks and
    scored invalid (at 128 this answer lost its last order and its closing brackets)."""
    import yaml
    from transformers import AutoTokenizer

    text = (harness.LM_TASKS / f"{lm_docs.GEN_TASK}.yaml").read_text()
    budget = yaml.load(text.replace("!function", ""), Loader=yaml.SafeLoader)["generation_kwargs"]["max_gen_toks"]
    tokenizer = AutoTokenizer.from_pretrained(checkpoint.shipped("tiny-base"))
    needed = len(tokenizer.encode(LONG_ANSWER, add_special_tokens=False))
    assert needed == 139 and budget >= needed
    obs = {"inventory": {g: 5 for g in ("firewood", "acorns", "berries", "mushrooms", "honey")}, "pebbles": 50.0}
    obs |= {"produces": {"honey": 1}, "creature": "oona"}
    assert lm_tasks.score_completion(LONG_ANSWER, obs, json.loads(LONG_ANSWER))["valid_action"] == 1.0
    cut = tokenizer.decode(tokenizer.encode(LONG_ANSWER, add_special_tokens=False)[:128])  # the old budget
    assert lm_tasks.score_completion(cut, obs, json.loads(LONG_ANSWER))["valid_action"] == 0.0


# --- documents ------------------------------------------------------------------------------


def test_documents_are_a_seeded_shuffle_so_a_limit_samples_episodes(rows, tmp_path):
    a = lm_docs.write_tasks(rows, tmp_path / "a")
    b = lm_docs.write_tasks(rows, tmp_path / "b")
    for task in lm_docs.GLADE_TASKS:  # two runs: the same documents in the same order
        assert (a / f"{task}.jsonl").read_text() == (b / f"{task}.jsonl").read_text()
    first = _docs(a, lm_docs.GEN_TASK, 8)  # what lm-eval scores with --limit 8
    assert len({d["episode_id"] for d in first}) > 1
    assert len({d["turn"] for d in first}) > 1
    in_rows = [(r["episode_id"], r["creature"], r["turn"]) for r in rows[:8]]
    assert [(d["episode_id"], d["creature"], d["turn"]) for d in first] != in_rows  # not the rows' order
    assert len({d["episode_id"] for d in _docs(a, lm_docs.MC_TASK, 8)}) > 1
    # write_tasks' own limit keeps the same states: the first of that shuffle
    c = lm_docs.write_tasks(rows, tmp_path / "c", limit=8)
    assert _docs(c, lm_docs.GEN_TASK) == first
    assert len(_docs(c, lm_docs.MC_TASK)) == sum(len(json.loads(d["observation"])["inventory"]) for d in first)
    # another seed, another sample of the same states
    d = lm_docs.write_tasks(rows, tmp_path / "d", seed=1)
    assert _docs(d, lm_docs.GEN_TASK, 8) != first
    key = lambda doc: (doc["episode_id"], doc["creature"], doc["turn"])  # noqa: E731
    assert sorted(map(key, _docs(d, lm_docs.GEN_TASK))) == sorted(map(key, _docs(a, lm_docs.GEN_TASK)))


def test_the_question_follows_the_exact_turn_and_asks_for_a_word(rows, tmp_path):
    out = lm_docs.write_tasks(rows, tmp_path / "docs", limit=4)
    prompts = {(d["episode_id"], d["creature"], d["turn"]): d["user"] for d in _docs(out, lm_docs.GEN_TASK)}
    for doc in _docs(out, lm_docs.MC_TASK):
        user = prompts[(doc["episode_id"], doc["creature"], doc["turn"])]
        assert doc["user"] == user + lm_docs.QUESTION.format(good=doc["good"])  # the trained prompt, exact
        question = doc["user"][len(user) :]
        assert "Instead of the JSON" in question and doc["good"] in question
        assert question.rstrip().endswith("buy, sell or hold.")


def test_baselines_are_the_constant_answers_and_the_empty_answer(rows, tmp_path):
    out = lm_docs.write_tasks(rows, tmp_path / "docs")
    assert lm_docs.read_docs(out, lm_docs.MC_TASK, 7) == _docs(out, lm_docs.MC_TASK, 7)
    for limit in (None, 7):
        found = lm_docs.baselines(out, lm_docs.GLADE_TASKS, limit)
        mc = _docs(out, lm_docs.MC_TASK, limit)
        golds = Counter(d["answer"] for d in mc)
        shares = found[lm_docs.MC_TASK]["gold_share"]
        assert found[lm_docs.MC_TASK]["documents"] == len(mc)
        assert shares == {c: pytest.approx(golds[c] / len(mc)) for c in lm_tasks.CHOICES}
        assert sum(shares.values()) == pytest.approx(1.0)
        best = found[lm_docs.MC_TASK]["best_constant"]
        assert best["acc"] == max(shares.values()) and shares[best["answer"]] == best["acc"]
        # acc of always answering `hold` equals its share, as process_direction scores it
        always_hold = [lm_tasks.process_direction(d, [(-9.0, False), (-9.0, False), (-1.0, False)])["acc"] for d in mc]
        assert shares["hold"] == pytest.approx(sum(always_hold) / len(mc))

        gen = _docs(out, lm_docs.GEN_TASK, limit)
        empty = found[lm_docs.GEN_TASK]["empty_answer"]
        holds = [
            score({"orders": []}, None, json.loads(d["observation"]), json.loads(d["standin_action"]))[
                "standin_agreement"
            ]
            for d in gen
        ]
        assert found[lm_docs.GEN_TASK]["documents"] == len(gen)
        assert empty["standin_agreement"] == pytest.approx(sum(holds) / len(gen)) and empty["standin_agreement"] > 0
        assert empty["valid_action"] == 0.0 and empty["valid_json"] == 0.0
    assert list(lm_docs.baselines(out, [lm_docs.MC_TASK])) == [lm_docs.MC_TASK]
    line = lm_docs.baseline_text(lm_docs.MC_TASK, found[lm_docs.MC_TASK])
    assert "always hold" in line and "chance 0.3333" in line


def test_scores_below_a_constant_answer_are_said():
    found = {"documents": 24, "gold_share": {"buy": 0.2083, "sell": 0.3333, "hold": 0.4583}, "chance": 1 / 3}
    below = lm_docs.baseline_text(lm_docs.MC_TASK, found, {"acc": 0.208, "acc_norm": 0.375, "gold_prob": 0.23})
    assert below.endswith("chance 0.3333; acc and acc_norm below the best constant answer (0.4583)")
    above = lm_docs.baseline_text(lm_docs.MC_TASK, found, {"acc": 0.5, "acc_norm": 0.4583})
    assert above.endswith("chance 0.3333")  # at the constant answer's own score is not below it


# --- errors and the command line -------------------------------------------------------------


def _lora(folder, meta):
    folder.mkdir(parents=True)
    whole(folder)  # lm-eval checks the folder's files first (checkpoint_files.loadable)
    (folder / "meta.json").write_text(meta if isinstance(meta, str) else json.dumps(meta))
    return folder


def test_a_corrupt_meta_json_is_named(tmp_path, capsys):
    bad = _lora(tmp_path / "bad", "{bad")
    with pytest.raises(ValueError, match=r"bad/meta\.json: not valid JSON .*restore it"):
        checkpoint.read(bad)
    assert main(["lm-eval", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad / 'meta.json'}: not valid JSON" in err and "train the checkpoint again" in err
    listed = _lora(tmp_path / "listed", "[1, 2]")
    with pytest.raises(ValueError, match=r"listed/meta\.json: a JSON list, not an object"):
        checkpoint.read(listed)


def test_lm_eval_resolves_latest_name(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    older = _lora(tmp_path / "checkpoints" / "tiny-hoarder__0__20260101-000000", {"name": "tiny-hoarder"})
    newer = tmp_path / "checkpoints" / "tiny-hoarder__0__20260102-000000"
    newer.mkdir()
    (newer / "config.json").write_text("{}")
    whole(newer, kind="full")
    (newer / "meta.json").write_text(json.dumps({"name": "tiny-hoarder", "kind": "full", "base_model": None}))
    assert older.exists()
    # resolved to the newest checkpoint's folder, which has no held-out split saved
    found = "checkpoints/tiny-hoarder__0__20260102-000000"
    with pytest.raises(ValueError, match=rf"^{found}: no held-out split"):
        harness.run_lm_eval("latest:tiny-hoarder")
    assert main(["lm-eval", "latest:tiny-hoarder"]) == 2
    assert f"error: {found}: no held-out split" in capsys.readouterr().err
    assert main(["lm-eval", "latest:nobody"]) == 2
    assert "no complete checkpoint of 'nobody' under checkpoints/" in capsys.readouterr().err
    (tmp_path / "checkpoints" / "nobody__0__20260101-000000").mkdir()
    (tmp_path / "checkpoints" / "nobody__0__20260101-000000" / "meta.json").write_text("{bad")
    with pytest.raises(ValueError, match=r"skipped for a meta\.json that is not a JSON object: nobody__0__"):
        checkpoint.resolve("latest:nobody")
    with pytest.raises(ValueError, match="shipped model's folder is glade's own package data"):
        harness.run_lm_eval("shipped:tiny-base")


def test_an_uncached_hub_base_names_the_checkpoint_and_the_fix(traces, tmp_path, capsys):
    lora = _lora(tmp_path / "ckpt", {"name": "x", "kind": "lora", "base_model": "someorg/not-cached"})
    assert main(["lm-eval", str(lora), "--traces", str(traces), "--limit", "1"]) == 2
    err = capsys.readouterr().err
    assert f"{lora}: cannot load its base model 'someorg/not-cached'" in err
    assert "hf download someorg/not-cached" in err and f"set base_model in {lora / 'meta.json'}" in err
    # a base that is a local folder keeps lm-eval's own error: it is not a Hub look-up
    with pytest.raises(Exception) as raised:
        harness.load_model(lora, {"pretrained": str(tmp_path), "peft": str(lora), "dtype": "float32"}, 1)
    assert "cannot load its base model" not in str(raised.value)


def test_traces_takes_one_folder_each_and_leaves_the_checkpoint():
    parser = build_parser("lm-eval")
    args = parser.parse_args(["lm-eval", "--traces", "runs/traces/heldout", "CKPT", "--limit", "2"])
    assert args.checkpoint == "CKPT" and args.traces == ["runs/traces/heldout"] and args.limit == 2
    args = parser.parse_args(["lm-eval", "CKPT", "--traces", "a", "--traces", "b"])
    assert args.checkpoint == "CKPT" and args.traces == ["a", "b"]
    assert parser.parse_args(["lm-eval", "CKPT"]).traces is None


def test_tasks_that_name_nothing_are_refused(tmp_path, capsys, monkeypatch):
    """`--tasks ,` once fell back to both glade tasks over every held-out state (minutes of
    scoring nobody asked for); it is bad input, refused before anything loads."""
    called = []
    monkeypatch.setattr("glade.cli.lm_eval.run_lm_eval", lambda *a, **k: called.append(a))
    for given in (",", " , "):
        assert main(["lm-eval", str(tmp_path), "--tasks", given]) == 2
        err = capsys.readouterr().err
        assert "--tasks names no task" in err and "glade_decision_gen,glade_direction_mc" in err
        assert "Traceback" not in err
    assert main(["lm-eval", str(tmp_path), "--tasks", ""]) == 2  # as every empty argument is
    assert (
        capsys.readouterr().err == "error: an empty argument after --tasks: give a value or a path, or leave it out\n"
    )
    assert called == []


def test_scores_get_intervals_over_their_episodes_not_their_documents():
    from glade.eval.harness import episode_intervals, score_text
    from glade.eval.stats import clopper_pearson

    def sample(episode, acc, prob):
        return {"doc": {"episode_id": episode}, "metrics": ["acc", "gold_prob"], "acc": acc, "gold_prob": prob}

    # 5 episodes of 4 documents: acc agrees within each episode (3 right, 2 wrong), gold_prob varies
    logged = [sample(f"e{e}", float(e < 3), 0.2 + 0.1 * e + 0.01 * d) for e in range(5) for d in range(4)]
    found = episode_intervals({"glade_direction_mc": logged, "hellaswag": logged})
    assert set(found) == {"glade_direction_mc"}  # a standard task keeps lm-eval's own figures
    acc = found["glade_direction_mc"]["acc"]
    assert acc["n"] == 5 and acc["documents"] == 20  # 5 episodes, not 20 independent documents
    assert acc["ci"] == pytest.approx(list(clopper_pearson(3, 5)))  # exact over episodes: 3 of 5
    prob = found["glade_direction_mc"]["gold_prob"]
    assert prob["mean"] == pytest.approx(0.415) and 0.0 <= prob["ci"][0] < 0.415 < prob["ci"][1] <= 1.0
    text = score_text({"scores": {"glade_direction_mc": {"acc": 0.6}}, "intervals": found}, "glade_direction_mc", ".2f")
    assert text.startswith("acc 0.60 (over episodes 0.60 [") and text.endswith("], n 5)") and "too few" not in text
    # `--limit 3` reads one episode: its n is said in words, not only as a number
    one = episode_intervals({"glade_direction_mc": logged[:3]})
    text = score_text({"scores": {"glade_direction_mc": {"acc": 1.0}}, "intervals": one}, "glade_direction_mc", ".2f")
    assert text == "acc 1.00 (over episodes 1.00 (n 1), too few for an interval)"


def test_a_metric_scored_under_two_filters_keeps_both():
    from glade.eval.harness import _flatten

    scores, stderr = _flatten(
        {
            "gsm8k": {
                "alias": "gsm8k",
                "exact_match,strict-match": 0.25,
                "exact_match_stderr,strict-match": 0.1,
                "exact_match,flexible-extract": 0.5,
                "exact_match_stderr,flexible-extract": 0.2,
            },
            "glade_direction_mc": {"acc,none": 0.4, "acc_stderr,none": 0.05},
        }
    )
    assert scores == {
        "gsm8k": {"exact_match[strict-match]": 0.25, "exact_match[flexible-extract]": 0.5},
        "glade_direction_mc": {"acc": 0.4},
    }
    assert stderr["gsm8k"]["exact_match[flexible-extract]"] == 0.2 and stderr["glade_direction_mc"] == {"acc": 0.05}
