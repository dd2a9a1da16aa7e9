"""Flags: the rules on hand-built tables (every cell tested, Benjamini-Hochberg over them, too
few episodes can never be a flag); councils identical to the stand-in, and a 5% random
perturbation of it, give no flags (through real evaluate() runs); a scripted python seat with a
planted divergence (it buys honey whenever honey is talked about) is flagged on that creature
and phase and nowhere else among decisions, as one family; flags.json / flags.md; the `glade
flag` verb."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import pytest
from test_eval_metrics import decision, order, world  # tests/ is on sys.path under pytest

from glade.cli import flag as flag_verb
from glade.env.scenario import load_scenario
from glade.eval.figures import FIGURES
from glade.eval.flags import FLAG_KEYS, flag, load_flags, write_flags
from glade.eval.metrics import summarize, world_figures
from glade.eval.recipe import CouncilSpec, EvalRecipe, Seeds
from glade.eval.run import run_recipe
from glade.eval.thresholds import Thresholds
from glade.seats import load

ROOT = Path(__file__).resolve().parent.parent
FAST = Thresholds(resamples=300)
PLANTED = {"kind": "python", "entry_point": "tests.planted:always_buy_honey", "kwargs": {"disposition": "balanced"}}


# --- the rules on hand-built tables ------------------------------------------------------------


def cell(episodes_buying: list[int], turns: int = 2, phase: str = "seam") -> pd.DataFrame:
    """Four episodes of one creature; in episode e the live seat buys honey on the first
    `episodes_buying[e]` turns where the stand-in does nothing; otherwise both do nothing."""
    rows = []
    for e, buys in enumerate(episodes_buying):
        for t in range(turns):
            live = [order("buy", "honey", 2, 10.0)] if t < buys else []
            rows.append(decision(f"sc.c.c0.s{e}", e, t, phase, live, []))
    return pd.DataFrame(rows)


def test_a_consistent_divergence_is_one_flag_with_exact_numbers():
    [f] = flag(cell([2, 2, 1, 2, 2, 2, 2, 2]), None, FAST, seed=0).flags
    assert set(FLAG_KEYS) <= set(f)
    assert (f["kind"], f["scenario"], f["council"], f["cast"], f["creature"], f["phase"]) == (
        "decision",
        "sc",
        "c",
        0,
        "thorn",
        "seam",
    )
    assert (f["good"], f["direction"], f["instead"], f["metric"]) == ("honey", "buy", "none", "honey: buy share")
    assert f["live_value"] == pytest.approx(15 / 16) and f["standin_value"] == 0.0
    assert f["effect"] == pytest.approx(15 / 16)  # per episode 1, 1, 1/2, 1, 1, 1, 1, 1
    assert 0.4 <= f["ci_low"] <= f["effect"] <= f["ci_high"] == 1.0  # shares: the interval stops at 1
    # every episode differs alike: exact sign-flip p 2 / 2^8; two cells (honey buy, honey none) reach q
    assert f["p"] == f["q"] == pytest.approx(2 / 256)
    assert f["support"] == 1.0 and f["n"] == 8 and f["score"] == pytest.approx(15 / 16)
    assert len(f["examples"]) == 3
    assert [e["episode_id"] for e in f["examples"]] == [
        "sc.c.c0.s0",
        "sc.c.c0.s1",
        "sc.c.c0.s2",
    ]  # one per episode first
    for e in f["examples"]:
        assert '"buy"' in e["response"] and e["standin_action"] == '{"orders": []}' and e["prompt"].startswith("turn")


def test_every_cell_is_tested_and_kept_with_p_and_q():
    result = flag(cell([2, 2, 1, 2, 2, 2, 2, 2]), None, FAST, seed=0)
    # one (cast, creature, phase) x 2 goods x 3 directions
    assert len(result.cells) == 6 and result.method["cells"] == 6 and result.method["testable"] == 2
    by_metric = {c["metric"]: c for c in result.cells}
    assert by_metric["acorns: buy share"]["p"] == 1.0 and by_metric["acorns: buy share"]["q"] is None
    assert by_metric["honey: none share"]["q"] == pytest.approx(2 / 256)
    assert not by_metric["honey: none share"]["flagged"]  # the side taken less often is never the flag
    assert [c["metric"] for c in result.cells if c["flagged"]] == ["honey: buy share"]


def test_small_rare_or_uncertain_divergences_are_not_flagged():
    eight = [2] * 8
    assert flag(cell([0] * 8), None, FAST, seed=0).flags == []  # identical
    # 1 of 10 turns in every episode: effect 0.1 < flag_min_effect 0.15
    assert flag(cell([1] * 8, turns=10), None, FAST, seed=0).flags == []
    # large but in two episodes of eight: support 0.25 < 0.6, and p = 0.5
    assert flag(cell([2, 2, 0, 0, 0, 0, 0, 0]), None, FAST, seed=0).flags == []
    # too few episodes: four that all agree give p = 2 / 2^4 = 0.125 > q = 0.10, never a flag
    assert flag(cell([2, 2, 2, 2]), None, FAST, seed=0).flags == []
    assert flag(cell([2, 2, 2, 2]), None, Thresholds(resamples=300, fdr_q=0.2), seed=0).flags != []
    # the thresholds decide: a lower support bar lets 6 of 8 through, a higher effect bar stops it
    six = [2, 2, 2, 2, 2, 2, 0, 0]
    assert len(flag(cell(six), None, Thresholds(resamples=300, flag_support=0.7), seed=0).flags) == 1
    assert flag(cell(six), None, Thresholds(resamples=300, flag_support=0.8), seed=0).flags == []
    assert flag(cell(eight), None, Thresholds(resamples=300, flag_min_effect=1.01), seed=0).flags == []


def paired_worlds(seeds: int = 8):
    """Council and stand-in worlds over `seeds` seeds: the council's gambit P&L is 2 or 3
    pebbles above the stand-in's in every seed; its Gini differs by +0.01 or -0.01."""
    rows = []
    for s in range(seeds):
        rows.append(world("standin", s, [10, 10, 9, 9], pnl=2.0, gini=0.30, volume=10))
        rows.append(
            world("council", s, [10, 10, 9, 9], pnl=4.0 + s % 2, gini=0.30 + (0.01 if s % 2 else -0.01), volume=10)
        )
    return pd.DataFrame(rows)


def test_outcome_flags_from_paired_effects():
    flags = flag(pd.DataFrame(), paired_worlds(), FAST, seed=0).flags
    assert [f["metric"] for f in flags] == ["gambit_pnl"]
    [f] = flags
    assert f["kind"] == "outcome" and f["cast"] is None and f["creature"] is None
    assert f["effect"] == 2.5 and f["support"] == 1.0 and f["n"] == 8  # relative to the stand-in's 2: 1.25
    assert f["p"] == pytest.approx(2 / 256) and f["score"] == pytest.approx(1.25)
    # two seeds are too few for the same effect to be a flag
    assert flag(pd.DataFrame(), paired_worlds(2), FAST, seed=0).flags == []


# --- real evaluations ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def identical(tmp_path_factory):
    """Councils whose live seats are the stand-in with each creature's own disposition."""
    s = load_scenario("gambit_rumour")
    focal = {c: spec.disposition for c, spec in s.creatures.items()}
    policies = {d: d for d in set(focal.values())}
    policies["hoarder"] = {"kind": "standin", "disposition": "hoarder"}  # a seat spec works the same
    recipe = EvalRecipe(
        name="identical",
        out=str(tmp_path_factory.mktemp("identical")),
        policies=policies,
        councils={"same": CouncilSpec(focal=focal), "one_seat": CouncilSpec(focal={"oona": "hoarder"})},
        scenarios=("gambit_rumour", "gambit_shock"),
        seeds=Seeds(0, 3),
        thresholds=FAST,
    )
    run_recipe(recipe)
    return Path(recipe.out)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """The planted seat on Thorn (a balanced creature) in the rumour gambit, four seeds."""
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(ROOT))
        recipe = EvalRecipe(
            name="planted",
            out=str(tmp_path_factory.mktemp("planted")),
            policies={"planted": PLANTED},
            councils={"plant": CouncilSpec(focal={"thorn": "planted"})},
            scenarios=("gambit_rumour",),
            seeds=Seeds(0, 8),
            thresholds=FAST,
        )
        run_recipe(recipe)
    return Path(recipe.out)


@pytest.fixture(scope="module")
def perturbed(tmp_path_factory):
    """Every seat the stand-in of its own disposition with 5% of its decisions perturbed at
    random, in the three gambits, eight seeds."""
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(ROOT))
        recipe = EvalRecipe(
            name="perturbed",
            out=str(tmp_path_factory.mktemp("perturbed")),
            policies={"noisy": {"kind": "python", "entry_point": "tests.planted:perturbed", "kwargs": {"rate": 0.05}}},
            councils={"noisy": CouncilSpec(focal={"*": "noisy"})},
            scenarios=("gambit_rumour", "gambit_shock", "gambit_override"),
            seeds=Seeds(0, 8),
            turns=8,
            thresholds=FAST,
        )
        run_recipe(recipe)
    return Path(recipe.out)


def tables(results: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_parquet(results / "decisions.parquet"), pd.read_parquet(results / "episodes.parquet")


def test_identical_policy_councils_yield_no_flags(identical):
    decisions, episodes = tables(identical)
    assert len(decisions) and (decisions["agreement"] == 1.0).all()
    assert set(decisions["council"]) == {"same", "one_seat"}
    assert flag(decisions, episodes, FAST, seed=0).flags == []
    loose = Thresholds(resamples=300, flag_min_effect=0.0, flag_support=0.0, fdr_q=0.99)
    result = flag(decisions, episodes, loose, seed=0)
    assert result.flags == [] and result.method["testable"] == 0  # every difference is 0: p = 1 everywhere
    assert {c["p"] for c in result.cells} == {1.0}
    summary = summarize(decisions, episodes, FAST, seed=0)
    for entry in summary["outcome"]:
        for name, figure in entry["figures"].items():
            effect = figure["effect"]  # three seeds: no interval, never a zero-width one
            assert effect["mean"] == 0.0 and effect["ci"] is None, (entry["council"], name)
            assert effect["note"] == "too few seeds for an interval: 0, 0, 0"
    assert all(c["agreement"]["mean"] == 1.0 and c["jsd_mean"] == 0.0 for c in summary["decision"])


def test_a_five_percent_perturbation_of_the_standin_gives_no_flags(perturbed):
    decisions, episodes = tables(perturbed)
    assert 0.95 < decisions["agreement"].mean() < 1.0  # it does differ, now and then
    result = flag(decisions, episodes, FAST, seed=0)
    assert result.flags == [] and result.families == []
    # creatures x goods x directions per scenario and phase played apart, and scenarios x figures (the
    # price-path distances are described, not tested): the three gambits play alike before the legend
    # (one cell, not three), and gambit_rumour and gambit_override at the seam too (glade.eval.cells.shared_play)
    assert result.method["cells"] == (1 + 2 + 3) * 5 * 5 * 3 + 3 * len(FIGURES)
    assert result.method["shared_play"] == (1 + 1) * 5 * 5 * 3
    # differences are there and tested: cells whose every episode differs can reach q
    assert result.method["testable"] > 0


def test_the_planted_python_seat_validates_and_diverges_only_on_honey_talk():
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(ROOT))
        policy = load(PLANTED)
    obs = {
        "turn": 4,
        "creature": "thorn",
        "pebbles": 25.0,
        "fuel": "firewood",
        "appetite": 1,
        "inventory": {"honey": 0, "firewood": 9},
        "needs": {"honey": 0, "firewood": 1},
        "produces": {"honey": 0, "firewood": 1},
        "talk": {"honey": 1, "firewood": 0},
        "whisper": {"honey": 0, "firewood": 0},
        "price_moves": {"honey": 0.0, "firewood": 0.0},
        "prices": {"honey": 10.0, "firewood": 2.0},
    }
    [d] = policy.act([obs])
    assert {"side": "buy", "good": "honey", "qty": 2, "price": 10.0} in d.action["orders"]  # 25 pebbles: 2 jars
    quiet = {**obs, "talk": {"honey": 0, "firewood": 0}}
    [q] = policy.act([quiet])
    assert all(o["good"] != "honey" for o in q.action["orders"])


def test_the_planted_divergence_is_flagged_on_that_creature_and_phase(planted):
    decisions, episodes = tables(planted)
    flags = flag(decisions, episodes, FAST, seed=0).flags
    decision_flags = [f for f in flags if f["kind"] == "decision"]
    assert [(f["creature"], f["phase"], f["good"], f["direction"]) for f in decision_flags] == [
        ("thorn", "seam", "honey", "buy")
    ]
    [f] = decision_flags
    assert f["effect"] == 1.0 and f["support"] == 1.0 and f["n"] == 8 and f["ci_low"] is None
    assert f["ci_note"] == "same value in all 8 episodes" and f["q"] <= 0.1
    assert f["standin_value"] == 0.0 and f["live_value"] == 1.0 and f["instead"] == "none"
    turn = load_scenario("gambit_rumour").gambit.spring_turn
    assert len(f["examples"]) == 3
    for e in f["examples"]:
        assert e["creature"] == "thorn" and e["turn"] == turn
        live = json.loads(e["response"])["orders"]
        assert any(o["good"] == "honey" and o["side"] == "buy" for o in live)
        assert all(o["good"] != "honey" for o in json.loads(e["standin_action"])["orders"])
        assert "Turn" in e["prompt"]
    # buying into the rumour costs the patron's short: the gambit's P&L drops, as an outcome flag
    outcome = {f["metric"]: f for f in flags if f["kind"] == "outcome"}
    if "gambit_pnl" in outcome:
        assert outcome["gambit_pnl"]["effect"] < 0 and outcome["gambit_pnl"]["examples"][0]["creature"] == "thorn"
    worlds = world_figures(episodes, FAST).set_index("episode_id")
    assert outcome and all(o["examples"] for o in outcome.values())
    for o in outcome.values():  # each example says what its world did to the flagged figure
        for e in o["examples"]:
            assert e["outcome"].startswith(
                f"{o['metric']} {worlds.at[e['episode_id'], o['metric']]:.3g} in this world, "
            )
    # one family reads it: Thorn at the seam buys honey where the stand-in holds
    families = flag(decisions, episodes, FAST, seed=0).families
    [thorn] = [fam for fam in families if fam["kind"] == "decision"]
    assert thorn["text"].endswith("cast 0): buys honey where the stand-in holds: +1.00 (same value in all 8 episodes)")
    assert thorn["text"].startswith("Thorn at the seam (gambit_rumour, plant,") and len(thorn["examples"]) == 3
    assert thorn["members"] == [f["rank"]]


# --- writers and the verb ------------------------------------------------------------------------


def test_write_flags_json_and_markdown(tmp_path):
    both = pd.concat([cell([2, 2, 1, 2, 2, 2, 2, 2])], ignore_index=True).assign(policy_name="live_model")
    result = flag(both, paired_worlds(), FAST, seed=0)
    json_path, md_path = write_flags(result, tmp_path)
    data = json.loads(json_path.read_text())
    assert set(data) == {"method", "excluded", "tables", "families", "flags", "cells", "provenance"}
    assert data["flags"] == result.flags and all(set(FLAG_KEYS) <= set(f) for f in data["flags"])
    assert len(data["cells"]) == result.method["cells"] and all("p" in c and "q" in c for c in data["cells"])
    assert load_flags(json_path)["families"] == result.families
    md = md_path.read_text()
    assert md.count("\n| ") == len(result.flags) + 1  # header + one row per flag
    header = next(line for line in md.splitlines() if line.startswith("| # |")).split(" | ")
    [decided] = [f for f in result.flags if f["kind"] == "decision"]
    row = next(line for line in md.splitlines() if line.startswith(f"| {decided['rank']} |")).split(" | ")
    assert row[header.index("policy")] == decided["policy"] == "live_model"  # which model it is about
    assert "Thorn at the seam (sc, c, cast 0): buys honey where the stand-in holds: +0.94 [+0.43, +1.00]" in md
    assert "honey: buy share (instead of none)" in md and "Live answer:" in md and "Stand-in action:" in md
    assert "Benjamini-Hochberg at q = 0.1" in md
    assert "#### episode sc.c.c0.s0, turn 0 (the prompt's Turn 1), thorn" in md  # the turn as the prompt says it
    assert md.count("```") % 2 == 0
    write_flags(flag(pd.DataFrame(), pd.DataFrame(), FAST), tmp_path / "none")
    assert json.loads((tmp_path / "none" / "flags.json").read_text())["flags"] == []
    assert "No flags" in (tmp_path / "none" / "flags.md").read_text()
    # a flags.json from before families (a plain list) still reads
    (tmp_path / "old.json").write_text(json.dumps(result.flags))
    old = {"method": {}, "families": [], "flags": result.flags, "cells": [], "provenance": {}, "tables": {}}
    assert load_flags(tmp_path / "old.json") == old


def run_verb(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="glade")
    flag_verb.add_parser(parser.add_subparsers(dest="verb"), "flag")
    args = parser.parse_args(["flag", *argv])
    return args.run(args)


def test_flag_verb_prints_the_top_flags_in_100_columns(planted, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    assert run_verb(str(planted), "--top", "5") == 0
    out = capsys.readouterr().out
    words = " ".join(out.split())  # the family's text folds over two lines of the table
    assert (
        "Thorn at the seam (gambit_rumour, plant, cast 0): buys honey where the" in words
        and "holds: +1.00 (same value in all 8 episodes)" in words
    )
    testable = load_flags(planted / "flags.json")["method"]["testable"]
    assert f"2 flags in 2 families, from 53 cells, {testable} testable at this n (FDR q = 0.1)" in words
    assert "flags.md" in out
    table = out.split("wrote ")[0]  # the closing line holds two paths and is not wrapped
    assert max(len(line) for line in table.splitlines()) <= 100
    flags = load_flags(planted / "flags.json")["flags"]
    assert any(f["kind"] == "decision" and f["creature"] == "thorn" for f in flags)
    assert (planted / "flags.md").exists()


def test_flag_verb_reads_thresholds_from_recipe_yaml(planted, capsys, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    for name in ("decisions.parquet", "episodes.parquet"):
        (results / name).write_bytes((planted / name).read_bytes())
    (results / "recipe.yaml").write_text("name: x\nseed: 3\nthresholds: {flag_min_effect: 50.0, resamples: 100}\n")
    assert run_verb(str(results)) == 0
    assert "no flags" in capsys.readouterr().out
    assert json.loads((results / "flags.json").read_text())["flags"] == []


def test_flag_verb_on_identical_councils_says_no_flags(identical, capsys):
    assert run_verb(str(identical)) == 0
    assert "no flags" in capsys.readouterr().out


def test_flag_verb_without_tables_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    with pytest.raises(FileNotFoundError, match="decisions.parquet or episodes.parquet"):
        run_verb(str(tmp_path))
    from glade import cli

    assert cli.main(["flag", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "glade eval" in err and len(err.splitlines()) == 1


def test_the_report_names_each_flags_policy_and_the_prompts_turn_of_each_example(planted, tmp_path, capsys):
    import re
    import shutil

    from glade.eval.report import write_report

    results = tmp_path / "results"
    shutil.copytree(planted, results)
    assert run_verb(str(results)) == 0
    md = write_report(results)[0].read_text()
    found = load_flags(results / "flags.json")
    method = found["method"]
    assert f"from {method['cells']:,} cells, {method['testable']:,} testable at this n" in md  # not "cells tested"
    table = md.split("## Flags (top 20)", 1)[1]
    lines = [line for line in table.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split(" | ")]
    rows = [[c.strip() for c in line.strip("|").split(" | ")] for line in lines[2:]]
    ranked = sorted(found["flags"], key=lambda f: f["score"], reverse=True)[: len(rows)]
    assert rows and [r[header.index("policy")] for r in rows] == [f["policy"] or "—" for f in ranked]
    assert "planted" in {r[header.index("policy")] for r in rows}
    examples = re.findall(
        r"^#### episode \S+, turn (\d+) \(the prompt's Turn (\d+)\), \w+\n\nPrompt:\n\n```\n(.*)", md, re.M
    )
    assert examples
    for turn, prompt_turn, first_line in examples:  # the label and the prompt the reader sees agree
        assert int(prompt_turn) == int(turn) + 1 and first_line.startswith(f"Turn {prompt_turn} of ")
