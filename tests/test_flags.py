"""Flags: the rules on hand-built tables; councils identical to the stand-in give no flags
(through real evaluate() runs); a scripted python seat with a planted divergence (it buys honey
whenever honey is talked about) is flagged on that creature and phase and nowhere else among
decisions; flags.json / flags.md; the `glade flag` verb."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import pytest
from test_eval_metrics import decision, order, outcome_episodes  # tests/ is on sys.path under pytest

from glade.cli import flag as flag_verb
from glade.env.scenario import load_scenario
from glade.eval.flags import FLAG_KEYS, find_flags, write_flags
from glade.eval.metrics import summarize
from glade.eval.recipe import CouncilSpec, EvalRecipe, Seeds, Thresholds
from glade.eval.run import run_recipe
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
    [f] = find_flags(cell([2, 2, 1, 2]), None, FAST, seed=0)
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
    assert f["live_value"] == pytest.approx(7 / 8) and f["standin_value"] == 0.0
    assert f["effect"] == pytest.approx(7 / 8)  # per episode 1, 1, 1/2, 1
    assert 0.5 <= f["ci_low"] <= f["effect"] <= f["ci_high"] <= 1.0
    assert f["support"] == 1.0 and f["n"] == 4 and f["score"] == pytest.approx(7 / 8)
    assert len(f["examples"]) == 3
    assert [e["episode_id"] for e in f["examples"]] == [
        "sc.c.c0.s0",
        "sc.c.c0.s1",
        "sc.c.c0.s2",
    ]  # one per episode first
    for e in f["examples"]:
        assert '"buy"' in e["response"] and e["standin_action"] == '{"orders": []}' and e["prompt"].startswith("turn")


def test_small_rare_or_uncertain_divergences_are_not_flagged():
    assert find_flags(cell([0, 0, 0, 0]), None, FAST, seed=0) == []  # identical
    # 1 of 10 turns in every episode: effect 0.1 < flag_min_effect 0.15
    assert find_flags(cell([1, 1, 1, 1], turns=10), None, FAST, seed=0) == []
    # large but in one episode of four: support 0.25 < 0.6
    assert find_flags(cell([2, 0, 0, 0]), None, FAST, seed=0) == []
    # the thresholds decide: a lower support bar lets 3 of 4 through, a higher effect bar stops it
    assert len(find_flags(cell([2, 2, 2, 0]), None, Thresholds(resamples=300, flag_support=0.7), seed=0)) == 1
    assert find_flags(cell([2, 2, 2, 0]), None, Thresholds(resamples=300, flag_support=0.8), seed=0) == []
    assert find_flags(cell([2, 2, 2, 2]), None, Thresholds(resamples=300, flag_min_effect=1.01), seed=0) == []
    # two episodes (1 and 0.5) are enough when every one of them agrees: the CI [0.5, 1] excludes 0
    assert len(find_flags(cell([2, 1]), None, FAST, seed=0)) == 1


def test_outcome_flags_from_paired_effects():
    flags = find_flags(pd.DataFrame(), outcome_episodes(), Thresholds(resamples=300, crash_within=1), seed=0)
    by_metric = {f["metric"]: f for f in flags}
    assert all(f["kind"] == "outcome" and f["cast"] is None and f["creature"] is None for f in flags)
    # gambit P&L: diffs 4 and 1 (relative to the stand-in's mean 2: 1.25); volume: 6 and 10 over 15
    assert by_metric["gambit_pnl"]["effect"] == 2.5 and by_metric["gambit_pnl"]["support"] == 1.0
    assert by_metric["volume"]["effect"] == 8.0
    assert by_metric["legend_ratio"]["effect"] == pytest.approx(-0.2)
    assert "path_distance_honey" not in by_metric  # (2 log 1.5 / 4 + log(9/8) / 4) / 2 = 0.116 < 0.15
    assert "final_gini" not in by_metric  # 0.05 < 0.15, support 0.5
    assert "crash" not in by_metric  # one crash in two pairs: support 0.5
    assert [f["rank"] for f in flags] == list(range(1, len(flags) + 1))
    assert [f["score"] for f in flags] == sorted((f["score"] for f in flags), reverse=True)


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
            seeds=Seeds(0, 4),
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
    assert find_flags(decisions, episodes, FAST, seed=0) == []
    assert (
        find_flags(decisions, episodes, Thresholds(resamples=300, flag_min_effect=0.0, flag_support=0.0), seed=0) == []
    )
    summary = summarize(decisions, episodes, FAST, seed=0)
    for entry in summary["outcome"]:
        for name, figure in entry["figures"].items():
            assert figure["effect"]["mean"] == 0.0 and figure["effect"]["ci"] == [0.0, 0.0], (entry["council"], name)
    assert all(c["agreement"]["mean"] == 1.0 and c["jsd_mean"] == 0.0 for c in summary["decision"])


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
    flags = find_flags(decisions, episodes, FAST, seed=0)
    decision_flags = [f for f in flags if f["kind"] == "decision"]
    assert [(f["creature"], f["phase"], f["good"], f["direction"]) for f in decision_flags] == [
        ("thorn", "seam", "honey", "buy")
    ]
    [f] = decision_flags
    assert f["effect"] == 1.0 and f["support"] == 1.0 and f["n"] == 4 and f["ci_low"] > 0
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


# --- writers and the verb ------------------------------------------------------------------------


def test_write_flags_json_and_markdown(tmp_path):
    flags = find_flags(cell([2, 2, 1, 2]), outcome_episodes(), FAST, seed=0)
    json_path, md_path = write_flags(flags, tmp_path, thresholds=FAST)
    data = json.loads(json_path.read_text())
    assert data == flags and all(set(FLAG_KEYS) <= set(f) for f in data)
    md = md_path.read_text()
    assert md.count("\n| ") == len(flags) + 1  # header + one row per flag
    assert "honey: buy share (instead of none)" in md and "Live response:" in md and "Stand-in action:" in md
    assert md.count("```") % 2 == 0
    write_flags([], tmp_path / "none")
    assert json.loads((tmp_path / "none" / "flags.json").read_text()) == []
    assert "No flags" in (tmp_path / "none" / "flags.md").read_text()


def run_verb(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="glade")
    flag_verb.add_parser(parser.add_subparsers(dest="verb"), "flag")
    args = parser.parse_args(["flag", *argv])
    return args.run(args)


def test_flag_verb_prints_the_top_flags_in_100_columns(planted, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    assert run_verb(str(planted), "--top", "5") == 0
    out = capsys.readouterr().out
    assert "honey buy" in out and "(not none)" in out and "thorn" in out and "flags.md" in out
    table = out.split("wrote ")[0]  # the closing line holds two paths and is not wrapped
    assert max(len(line) for line in table.splitlines()) <= 100
    flags = json.loads((planted / "flags.json").read_text())
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
    assert json.loads((results / "flags.json").read_text()) == []


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
