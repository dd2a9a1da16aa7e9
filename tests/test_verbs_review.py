"""Review of generate, merge, validate, rank and export-traces as a new user meets them: a tie
on the leaderboard is a shared place, the all-stand-in world's unseated creatures do not block
a ranking, a repair cut short leaves no dataset card, and a merge starts its hidden folder afresh."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest

from glade.cli import main
from glade.eval.rank import rank


def _seat(seed, creature, policy, value, world="council", council="k"):
    return {
        "episode_id": f"{world}.{council}.{creature}.{policy}.s{seed}", "scenario": "s", "scenario_hash": "h",
        "seed": seed, "creature": creature, "world": world, "focal": world != "standin", "policy": policy,
        "wealth_change": value, "council": council, "cast": 0,
    }  # fmt: skip


def _results(tmp_path, rows):
    folder = tmp_path / "results"
    folder.mkdir()
    pd.DataFrame(rows).to_parquet(folder / "episodes.parquet")
    return folder


def test_tied_strengths_share_a_place_and_their_rank_range_spans_both(tmp_path):
    """a and b win and lose the same in every cell; c loses to both. The stable sort used to
    rank a 1st and b 2nd (by name), each with a one-place rank range, as if that were known."""
    rows = []
    for seed in range(6):
        rows += [_seat(seed, "c1", "a", 5.0), _seat(seed, "c1", "b", 5.0), _seat(seed, "c1", "c", 1.0)]
    board = rank([_results(tmp_path, rows)], resamples=50)
    rows = {row["entry"]: row for row in board["board"]}
    assert rows["a"]["strength"] == pytest.approx(rows["b"]["strength"])
    assert rows["a"]["rank"] == rows["b"]["rank"] == 1 and rows["c"]["rank"] == 3
    assert rows["a"]["rank_ci"] is None and board["seeds"] == 6  # under 8 seeds no range: tests/test_rank_intervals.py


def test_creatures_no_council_seated_are_left_out_not_a_refusal(tmp_path, capsys):
    """A council on oona alone: the all-stand-in world's other creatures (their own stand-ins)
    sat where no other policy did. They used to make `glade rank` refuse the whole evaluation
    as 'groups never compared with each other'; they are not ranked, and it says so."""
    rows = []
    for seed in range(5):
        rows += [
            _seat(seed, "oona", "standin:hoarder", 2.0, world="standin", council="all"),
            _seat(seed, "thorn", "standin:balanced", 1.0, world="standin", council="all"),
            _seat(seed, "oona", "model", 3.0 if seed != 1 else 0.0),
        ]
    folder = _results(tmp_path, rows)
    board = rank([folder], resamples=50)
    assert [row["entry"] for row in board["board"]] == ["model", "standin:hoarder"]
    assert board["not_compared"] == ["standin:balanced"]
    assert main(["rank", str(folder), "--resamples", "1743", "--out", str(tmp_path / "rank.json")]) == 0
    out = capsys.readouterr().out
    assert "not ranked: standin:balanced" in out
    assert json.loads((tmp_path / "rank.json").read_text())["not_compared"] == ["standin:balanced"]


def test_no_two_policies_ever_on_one_creature_is_refused_by_name(tmp_path):
    rows = [_seat(s, c, p, 1.0) for s in range(3) for c, p in (("oona", "a"), ("thorn", "b"))]
    with pytest.raises(ValueError, match=r"no two policies ever sat on the same creature.*\(a, b\)"):
        rank([_results(tmp_path, rows)], resamples=10)


def test_a_bound_at_zero_is_not_printed_minus_zero(tmp_path, capsys):
    """Floating-point dust (-1e-16) in a strength or bound showed as "-0.00" in the table."""
    rows = []
    for seed, values in enumerate(((1, 1, 1), (3, 1, 2), (1, 2, 3), (2, 2, 2))):  # ties: resamples centred on 0
        rows += [_seat(seed, "c1", p, float(v)) for p, v in zip("abc", values)]
    board = rank([_results(tmp_path, rows)], resamples=200)
    figures = [x for row in board["board"] for x in (row["strength"], *(row["ci"] or ()))]  # 4 seeds: no ci
    assert all(f"{x:+.2f}" != "-0.00" for x in figures)


def test_too_few_units_give_no_interval_and_say_so(tmp_path, capsys):
    """A bootstrap over 3 (scenario, seed) units printed "+4.16 [+4.16, +4.16]"; glade gives no
    interval below 4 clusters anywhere else (glade.eval.stats.MIN_N)."""
    rows = [_seat(seed, "c1", p, v) for seed in range(3) for p, v in (("a", 3.0), ("b", 1.0))]
    folder = _results(tmp_path, rows)
    board = rank([folder], resamples=50)
    assert [row["ci"] for row in board["board"]] == [None, None]
    assert [row["rank_ci"] for row in board["board"]] == [None, None]
    assert board["note"] == "too few seeds for an interval: 3, at least 8"
    assert main(["rank", str(folder), "--out", str(tmp_path / "rank.json")]) == 0
    out = capsys.readouterr().out
    assert "too few seeds for an interval: 3, at least 8" in " ".join(out.split())
    assert "[+" not in out


def test_a_repair_cut_short_leaves_no_card_so_readers_refuse_the_folder(tmp_path):
    """A finished folder with an unreadable shard: a rerun moves it aside and plays its episodes
    again. Killed then, the folder kept the old card (8 episodes) over 6, and every reader took
    it for a finished dataset."""
    from glade.traces import GenerateRecipe, generate, readable_shards

    recipe = GenerateRecipe(
        out=str(tmp_path / "t"), scenarios=("default",), councils={"a": {}, "b": {"*": "hoarder"}}, turns=2, worlds=2
    )
    generate(recipe)
    shard = tmp_path / "t" / "data" / "part-00001.parquet"
    shard.write_bytes(shard.read_bytes()[:100])

    def killed(_):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(recipe, progress=killed)
    assert not (tmp_path / "t" / "README.md").exists()
    with pytest.raises(ValueError, match="an interrupted `glade generate` run"):
        readable_shards(tmp_path / "t")
    assert generate(recipe)["episodes"] == 8 and '"episodes": 8' in (tmp_path / "t" / "README.md").read_text()


@pytest.fixture
def lora_checkpoint(tmp_path):
    """A LoRA checkpoint as glade train leaves one (adapter, tokenizer, meta.json naming the
    base), made in seconds: an untrained adapter on the tiny model."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from glade.train.tiny import save_tiny

    base = tmp_path / "base"
    save_tiny(base)
    ckpt = tmp_path / "checkpoints" / "creature__0__20260101-000000"
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base), LoraConfig(r=2, target_modules=["q_proj"]))
    model.save_pretrained(ckpt)
    AutoTokenizer.from_pretrained(base).save_pretrained(ckpt)
    (ckpt / "meta.json").write_text(json.dumps({"name": "creature", "kind": "lora", "base_model": str(base)}))
    return ckpt


def test_a_merge_starts_its_hidden_folder_afresh(lora_checkpoint, tmp_path):
    """A merge killed earlier left `.NAME.partial`: the next one moved its files into the model."""
    out = tmp_path / "merged"
    stale = tmp_path / ".merged.partial"
    stale.mkdir()
    (stale / "model.safetensors.index.json").write_text("{}")  # an earlier merge's, of a sharded model
    assert main(["merge", str(lora_checkpoint), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir() if "safetensors" in p.name) == ["model.safetensors"]
    assert json.loads((out / "meta.json").read_text())["kind"] == "merged" and not stale.exists()


def test_ranking_an_interrupted_eval_says_to_finish_it(tmp_path, capsys):
    """An eval cut short has its ledger and shards but no episodes.parquet yet: `glade rank`
    told the user to give 'a results folder written by glade eval', which it was."""
    folder = tmp_path / "cut"
    (folder / "shards").mkdir(parents=True)
    (folder / "progress.json").write_text(
        json.dumps({"format": 2, "shards": ["decisions", "episodes"], "episodes": {}})
    )
    assert main(["rank", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "an interrupted `glade eval` run: rerun the same eval command to finish it" in err
    # calibrate, flag and report said "neither an eval results folder ..." or "run 'glade eval RECIPE'"
    for verb, then in (("flag", "flag it"), ("report", "report it"), ("calibrate", "calibrate")):
        argv = [verb, str(folder)] + (
            ["--policy", "p", "--out", str(tmp_path / "fit.yaml")] if verb == "calibrate" else []
        )
        assert main(argv) == 2
        said = capsys.readouterr().err
        assert f"rerun the same eval command to finish it (it plays only what is missing), then {then}" in said


def test_flag_names_a_familys_best_flag_and_how_many_more(tmp_path, monkeypatch, capsys):
    # was "#6, #51, #56, #81, #104, #126 ...": six ranks that squeezed the family's words to half the width
    from test_pinned_cli_arguments import flag_folder

    folder, _ = flag_folder(tmp_path, monkeypatch, 2)
    sys.modules["glade.eval.flags"].flag().families[0]["members"] = [6, 51, 56, 81, 104, 126, 140]
    assert main(["flag", str(folder)]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["1", "family-1", "#6", "+6", "9", "0.01"] in rows and ["2", "family-2", "#2", "9", "0.01"] in rows
