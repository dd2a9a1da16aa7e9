"""`glade calibrate`: the vectorised stand-in is the stand-in; a seat that IS a stand-in with
changed parameters is recovered and then predicts the council; a random seat is not fitted into
false confidence; a fit that beats base rates but not the original disposition says so; one sign
convention (calibrated minus original) throughout; the split never mixes seeds; mistakes are one
error line."""

from __future__ import annotations

import io
import json
import random
import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import yaml
from planted import CHANGED  # tests/ is on sys.path under pytest
from rich.console import Console

from glade.cli import main
from glade.cli.calibrate import show
from glade.config import Seeds
from glade.env import parallel_env, standin
from glade.env.observation import plain
from glade.eval import run as eval_run
from glade.eval.calibrate import calibrate, split, with_outcome, write
from glade.eval.calibrate_words import IMPROVED, NO_BETTER, NOT_CLEARLY_BETTER, WORSE, fit_verdict
from glade.eval.recipe import load_eval_recipe
from glade.eval.report import write_report
from glade.eval.report.calibration import CONVENTION, tables
from glade.eval.standin_search import SIDE, SPACE, Features, decode, features, predict, score, search
from glade.eval.stats import interval
from glade.traces import GenerateRecipe, generate

SAME = {"kind": "python", "entry_point": "tests.planted:changed_standin", "kwargs": {}}  # balanced, unchanged
RANDOM = {"kind": "python", "entry_point": "tests.planted:random_trader", "kwargs": {"seed": 1}}
FAST = {"popsize": 6, "maxiter": 25}  # a small search: enough for these decisions, quick in the suite


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Both scripted seats on every creature, two gambit scenarios, six seeds, eight turns."""
    folder = tmp_path_factory.mktemp("calibrate")
    data = {
        "name": "cal",
        "out": str(folder / "results"),
        "policies": {"changed": CHANGED, "random": RANDOM},
        "councils": {"all_changed": {"focal": {"*": "changed"}}, "all_random": {"focal": {"*": "random"}}},
        "scenarios": ["gambit_override", "gambit_shock"],
        "seeds": {"start": 0, "count": 6},
        "turns": 8,
        "worlds": 36,
    }
    (folder / "recipe.yaml").write_text(yaml.safe_dump(data))
    eval_run.run_recipe(load_eval_recipe(folder / "recipe.yaml"))
    return folder / "results"


@pytest.fixture(scope="module")
def changed(results):
    """The changed stand-in calibrated, with its outcome check."""
    cal = calibrate(results, "changed", seed=0, **FAST)
    return cal, with_outcome(cal)


def observations(n_seeds: int = 2, turns: int = 10) -> list[dict]:
    """Plain (JSON) observations of stand-in episodes with mixed dispositions."""
    rng, out = random.Random(0), []
    for scenario in ("default", "gambit_override"):
        for seed in range(n_seeds):
            env = parallel_env(scenario, turns=turns)
            obs, _ = env.reset(seed=seed)
            while env.agents:
                out += [json.loads(json.dumps(plain(obs[c]))) for c in env.agents]
                pick = {c: standin.DISPOSITIONS[rng.choice(standin.SHIPPED)] for c in env.agents}
                obs = env.step({c: standin.act(obs[c], pick[c]) for c in env.agents})[0]
    return out


def test_the_vectorised_stand_in_is_the_stand_in():
    seen = observations()
    rng = np.random.default_rng(3)
    for _ in range(40):  # random dispositions over the whole search space
        d = decode([rng.uniform(p.low, p.high) for p in SPACE], "probe")
        actions = [standin.act(o, d) for o in seen]
        side, qty, price = predict(features(seen, actions), d)
        for r, action in enumerate(actions):
            want = {o["good"]: (SIDE[o["side"]], o["qty"], o["price"]) for o in action["orders"]}
            got = {
                g: (int(side[r, i]), int(qty[r, i]), float(price[r, i]))
                for i, g in enumerate(seen[r]["inventory"])
                if side[r, i]
            }
            assert got == want, (d, r)


def test_the_search_is_seeded_and_starts_from_the_original():
    seen = observations(n_seeds=1, turns=6)
    live = standin.DISPOSITIONS["panic_seller"]
    f = features(seen, [standin.act(o, live) for o in seen])
    first = search(f, standin.DISPOSITIONS["balanced"], "x", seed=4, popsize=4, maxiter=6)
    again = search(f, standin.DISPOSITIONS["balanced"], "x", seed=4, popsize=4, maxiter=6)
    assert first.disposition == again.disposition and first.evaluations == again.evaluations
    exact = search(f, live, "x", seed=4, popsize=4, maxiter=2)  # starting on the truth keeps it
    assert exact.agreement == 1.0 and exact.disposition.on_fall == "dump"


def test_a_changed_stand_in_is_recovered_and_then_predicts_the_council(results, changed, tmp_path):
    cal, s = changed
    held = s["parts"]["heldout"]["agreement"]
    assert held["after"]["mean"] >= 0.95 and held["before"]["mean"] < 0.9
    assert s["fitted"]["surplus"] == 8 and s["fitted"]["on_fall"] == "dump"
    assert {m["parameter"] for m in s["moved"]} == {"surplus", "on_fall"}  # nothing the data cannot see
    assert s["generalised"] and s["verdict"].startswith("the fit generalised and improved agreement over the original")
    assert s["against_original"] == IMPROVED
    assert s["rebuilt"] == s["decisions"] == 2 * 6 * 8 * 5  # every observation rebuilt exactly
    # split by seed: held-out seeds never fit; the second scenario is held out whole
    assert s["split"]["heldout_scenario"] == "gambit_shock" and len(s["split"]["heldout_seeds"]) == 2
    outcome = s["outcome"]
    every = outcome["groups"][0]
    assert every["n"] == 6 and outcome["worlds"] == 6 + 2  # six seeds: all six shock seeds, two of them override too
    path = every["figures"]["price_path"]
    assert path["calibrated"]["mean"] < 1e-9 < path["original"]["mean"]  # the calibrated world IS the council
    assert path["verdict"] == "calibrated closer"
    # the calibrated world's gambit P&L is the council's in every world; averaged per seed (a seed's
    # scenarios together) the original's errors leave an interval wholly below 0 at n = 6
    pnl = every["figures"]["gambit_pnl"]
    assert (
        pnl["error_calibrated"]["mean"] == 0
        and pnl["error_change"]["mean"] < 0
        and pnl["verdict"] == "calibrated closer"
    )
    assert "better on 2 of 4 figures" in outcome["verdict"]

    written = write(s, tmp_path / "fitted.yaml")
    assert standin.disposition(str(written[0])) == cal.fitted  # usable by path at once
    assert json.loads(written[1].read_text())["fitted"] == s["fitted"]
    assert written[2] == results / "calibration" / "calibrated_changed.json"
    report = write_report(results)[0].read_text()
    assert "## Calibrating the stand-in" in report and "surplus 3 → 8" in report
    assert "The fit generalised and improved agreement over the original disposition" in report
    assert "*Outcome check, gambit_shock: 6 worlds on 6 seeds of a scenario the fit never saw (means)*" in report
    assert "| price_path | — | " in report  # the council's distance to itself is no figure
    assert report.count("calibrated minus original") == 1 and "original minus calibrated" not in report
    header = written[0].read_text().splitlines()
    assert "change +0.1" in header[1] and header[1].endswith("(calibrated minus original).")
    assert header[2] == "# The fit generalised and improved agreement over the original disposition."


def test_one_sign_convention_and_readable_tables(changed):
    """The numbers the sentences give are the table's, sign and digits; the convention is said once;
    no council self-distance, no repeated notes, one number format per figure."""
    s = changed[1]
    agreement, everywhere, *per_scenario = tables(s)
    held = {row[1]: row for row in agreement[2] if row[0] == "held out"}
    assert held["change"][2].startswith("+") and held["change"][2] in s["verdict"]
    path = next(row for row in everywhere[2] if row[0] == "price_path")
    assert path[1] == "—" and path[6].startswith("-") and path[6] in s["outcome"]["verdict"]
    for _, header, rows in [everywhere, *per_scenario]:
        assert header == ["figure", "council", "original", "calibrated", "original error", "calibrated error",
                          "change in error", "verdict"]  # fmt: skip
        for row in rows:
            assert not any("interval" in cell or "same value" in cell for cell in row), row
            digits = {len(d) for cell in row[1:7] for d in re.findall(r"\d\.(\d+)", cell)}
            assert len(digits) == 1, row  # one format per figure
    crash = next(row for row in everywhere[2] if row[0] == "crash")
    assert crash[6] == "+0.000 [-0.459, +0.459]" and crash[7] == "no clear difference"
    printed = io.StringIO()
    show(Console(file=printed, width=100), s)
    assert printed.getvalue().count(CONVENTION[:40]) == 1 and "original minus calibrated" not in printed.getvalue()


def test_the_verdict_tells_base_rates_from_the_original():
    """Four held-out outcomes, four wordings: beating base rates is not beating the original."""
    rng = np.random.default_rng(0)
    original, base = 0.78 + rng.normal(0, 0.02, 20), 0.6 + rng.normal(0, 0.02, 20)

    def said(calibrated):
        parts = (calibrated, original, base, calibrated - original, calibrated - base)
        return fit_verdict(*(interval(v, unit="episodes") for v in parts))

    cases = {
        "better": (original + 0.05 + rng.normal(0, 0.01, 20), True, IMPROVED),
        "same": (original + rng.normal(0, 0.02, 20), True, NOT_CLEARLY_BETTER),
        "worse": (original - 0.05 + rng.normal(0, 0.01, 20), True, WORSE),
        "base rates": (base + rng.normal(0, 0.02, 20), False, WORSE),
    }
    heads = {}
    for case, (calibrated, generalised, against) in cases.items():
        v = said(calibrated)
        assert (v.generalised, v.against_original) == (generalised, against), case
        heads[case] = v.text.split(": ", 1)[0]
    assert heads == {
        "better": "the fit generalised and improved agreement over the original disposition",
        "same": "the fit generalised beyond base rates but is not clearly better than the original disposition "
        "(the interval spans 0)",
        "worse": "the fit generalised beyond base rates but is worse than the original disposition",
        "base rates": "the fit did not generalise; it agrees worse than the original disposition (-0.173 [-0.190, -0.158])",
    }


def test_a_seat_on_its_own_disposition_is_no_better_than_the_original(tmp_path, capsys):
    """Thorn's scenario disposition is balanced; a seat that plays balanced is explained beyond base
    rates, but the fit cannot improve on the original, and the output must not say it generalised
    as if it had."""
    traces = tmp_path / "traces"
    generate(
        GenerateRecipe(
            out=str(traces),
            scenarios=("gambit_rumour",),
            councils={"same": {"*": SAME}},
            seeds=Seeds(0, 12),
            turns=6,
        )
    )
    out = tmp_path / "same.yaml"
    argv = ["calibrate", str(traces), "--policy", "changed:changed", "--creature", "thorn", "--out", str(out)]
    assert main([*argv, "--popsize", "4", "--maxiter", "8"]) == 0
    printed = capsys.readouterr().out
    s = json.loads(out.with_suffix(".json").read_text())
    assert not s["generalised"] and s["against_original"] == NO_BETTER
    headline = "could not show that the fit generalised at n = 4 seeds (the interval spans 0); it is no better than the original disposition"
    assert s["verdict"].startswith(headline + " (+0.000 in all 4): ")
    assert "+0.000 in all 4 over the original" in s["verdict"]
    assert out.read_text().splitlines()[2] == f"# {headline[0].upper()}{headline[1:]} (+0.000 in all 4)."
    assert "Could not show that the fit generalised at n = 4 seeds (the interval spans 0); it is no better" in printed


def test_a_random_seat_is_not_calibrated_into_false_confidence(results):
    s = calibrate(results, "random", seed=0, **FAST).summary
    held = s["parts"]["heldout"]["agreement"]["after"]
    assert held["mean"] < 0.6
    assert not s["generalised"] and s["verdict"].startswith(("the fit did not generalise", "could not show that"))
    assert s["base_rate"]["gain"]["ci"][0] < 0.05


def test_seat_faults_are_left_out_of_the_fit_and_the_outcome_check(results, changed, tmp_path):
    """A held turn of a seat that failed to answer is not the policy's play: a dead server's
    holds would otherwise be fitted as a disposition that never trades."""
    import shutil

    from glade.eval.live_decisions import load_live

    faulty = tmp_path / "faulty"
    shutil.copytree(results, faulty)
    decisions = pd.read_parquet(faulty / "decisions.parquet")
    episodes = pd.read_parquet(faulty / "episodes.parquet")
    dead = decisions["policy_name"].eq("changed") & decisions["seed"].eq(5)
    decisions.loc[dead, ["error", "action"]] = ["server_refused", '{"orders": []}']
    decisions.to_parquet(faulty / "decisions.parquet")
    hit = episodes["episode_id"].isin(set(decisions.loc[dead, "episode_id"]))
    episodes.loc[hit, "faults"] = 1
    episodes.to_parquet(faulty / "episodes.parquet")

    cal = calibrate(faulty, "changed", seed=0, **FAST)
    assert cal.summary["faults_left_out"] == int(dead.sum()) > 0
    assert cal.summary["decisions"] == changed[0].summary["decisions"] - int(dead.sum())
    assert 5 not in set(cal.live.rows["seed"])
    outcome = with_outcome(cal)["outcome"]
    assert outcome["fault_worlds"] == episodes.loc[hit, "episode_id"].nunique() == 2  # one world per scenario

    decisions.loc[decisions["policy_name"].eq("changed"), "error"] = "server_timeout"
    decisions.to_parquet(faulty / "decisions.parquet")
    with pytest.raises(ValueError, match="every one of the .* decisions of policy 'changed' is a seat fault"):
        load_live(faulty, "changed")


def test_the_calibrated_world_seats_only_the_policys_creatures_on_the_fit(results, monkeypatch):
    """Fit on oona alone: its calibrated world seats the fit on oona, the others as the original world."""
    import glade.eval.outcome_check as outcome_check
    from glade.seats import standin_council

    cal, seen = calibrate(results, "changed", creature="oona", seed=0, **FAST), []
    monkeypatch.setattr(outcome_check, "_play", lambda specs, *_: seen.extend(specs) or 1 / 0)  # seated, not played
    with pytest.raises(ZeroDivisionError):
        with_outcome(cal)
    for spec in [s for s in seen if s.episode_id.endswith(".calibrated")] or pytest.fail("no calibrated world"):
        shipped = {c: p.disposition for c, p in standin_council(spec.scenario).items()}
        assert {c: p.disposition for c, p in spec.council.items()} == {**shipped, "oona": cal.fitted}


def test_split_holds_out_whole_seeds_and_is_seeded():
    rows = pd.DataFrame({"seed": [0, 0, 1, 1, 2, 2, 3, 3], "scenario": ["a"] * 8})
    part = split(rows, seed=5, share=0.5)
    assert len(part.heldout_seeds) == 2 and part.heldout_scenario is None
    for s in range(4):
        assert len(set(part.fit[rows["seed"].to_numpy() == s])) == 1  # a seed is all fit or all held out
    assert split(rows, seed=5, share=0.5).heldout_seeds == part.heldout_seeds
    with pytest.raises(ValueError, match="holding out needs at least 2"):
        split(rows[rows.seed == 0], seed=0)


def test_calibrate_from_traces_and_its_mistakes(tmp_path, capsys):
    traces = tmp_path / "traces"
    recipe = GenerateRecipe(
        out=str(traces),
        scenarios=("gambit_rumour",),
        councils={"changed": {"*": CHANGED}},
        seeds={"start": 0, "count": 4},
        turns=6,
    )
    generate(recipe)
    out = tmp_path / "fitted.yaml"
    args = [
        "calibrate",
        str(traces),
        "--policy",
        "changed:changed",
        "--out",
        str(out),
        "--popsize",
        "4",
        "--maxiter",
        "8",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "Outcome check skipped: a traces dataset holds no council outcome figures" in printed
    assert standin.disposition(str(out)).name == "calibrated_changed_changed"
    for bad, message in [
        (["--policy", "nobody"], "no decisions of policy 'nobody' (policies here: changed:changed)"),
        (["--policy", "changed:changed", "--creature", "owl"], "never sat on 'owl'"),
        (["--policy", "changed:changed", "--out", str(tmp_path / "x.txt")], "name it *.yaml"),
    ]:
        argv = ["calibrate", str(traces), "--out", str(out), *bad]
        assert main(argv) == 2
        assert message in capsys.readouterr().err
    assert main(["calibrate", str(tmp_path / "none"), "--policy", "p", "--out", str(out)]) == 2
    assert "no such folder" in capsys.readouterr().err
    # a rerun may replace what calibrate wrote; never a file of the user's, before any search
    mine = tmp_path / "mine.yaml"
    mine.write_text("name: my own disposition\n")
    for target in (mine, tmp_path / "fitted.json"):
        keep = target.read_text() if target.exists() else None
        if target.suffix == ".json":
            target.write_text('{"my": "notes"}')
            keep = target.read_text()
        argv = ["calibrate", str(traces), "--policy", "changed:changed", "--out", str(target.with_suffix(".yaml"))]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"--out {target}: exists and is not a calibrat" in err and "glade never replaces a file" in err
        assert target.read_text() == keep
    assert main(["calibrate", str(traces), "--policy", "p", "--out", str(tmp_path)]) == 2
    assert "name it *.yaml" in capsys.readouterr().err


def test_a_calibration_written_before_the_sign_convention_still_shows_its_outcome_check():
    from glade.eval.report.calibration import tables

    iv = {"mean": 0.5, "ci": [0.4, 0.6], "n": 8, "note": ""}
    part = {"agreement": {k: iv for k in ("before", "after", "change")}, "episodes": 8}
    part |= {"qty_error": part["agreement"], "price_error": part["agreement"]}
    improved = {"mean": 0.066, "ci": [0.056, 0.076], "n": 8, "note": ""}  # original minus calibrated
    figure = {"council": None, "original": iv, "calibrated": iv, "improvement": improved, "verdict": "closer", "n": 8}
    group = {"group": "all", "n": 8, "scenario_in_fit": None, "figures": {"price_path": figure}}
    old = {"parts": {"fit": part, "heldout": part}, "outcome": {"groups": [group]}}
    [(_, _, rows)] = [t for t in tables(old) if t[0].startswith("Outcome check")]
    assert rows[0][0] == "price_path" and rows[0][6] == "-0.066 [-0.076, -0.056]"  # as calibrated minus original


# --- the search's rules on small hand-made cases (the split and fit verdict: test_verdict_rules.py) --------------------------------


def test_closeness_breaks_ties_between_equally_agreeing_dispositions():
    # the live seat is the balanced stand-in bidding 0.2 over the reference instead of 0.05: the
    # same sides everywhere (agreement 1 already at the start), only its buy prices differ
    seen = observations(n_seeds=1, turns=6)
    start = standin.DISPOSITIONS["balanced"]
    live = replace(start, bid=0.2)
    f = features(seen, [standin.act(o, live) for o in seen])
    assert score(f, start)[0] == score(f, live)[0] == 1.0 and score(f, start)[1] < 0.97
    found = search(f, start, "x", seed=0, popsize=4, maxiter=6)
    assert found.agreement == 1.0
    assert found.closeness > score(f, start)[1] + 0.01  # it moved towards the live prices
    assert found.disposition.bid > start.bid + 0.05


def test_quantity_closeness_is_relative_to_the_larger_of_the_two_quantities():
    # one decision, one good: the stand-in (horizon 2, needing 2 a turn, holding none) buys 4 at
    # exactly 10.00 (bid 0, no jitter); the live seat bought 2 at 10.00: price closeness 1,
    # quantity closeness 1 - |2 - 4| / max(2, 4) = 0.5, so closeness (0.5 + 1) / 2 = 0.75
    d = replace(standin.DISPOSITIONS["balanced"], horizon=2, bid=0.0, jitter=0.0, momentum=0.0)

    def one(live_qty: int) -> Features:
        cell = lambda v, dtype=float: np.array([[v]], dtype=dtype)  # noqa: E731
        return Features(
            ("honey",), cell(0, np.int64), cell(2, np.int64), cell(False, bool), cell(0, np.int64),
            cell(0.0), cell(10.0), cell(0.0), np.array([1000.0]), cell(SIDE["buy"], np.int8),
            cell(live_qty, np.int64), cell(10.0),
        )  # fmt: skip

    side, qty, price = predict(one(2), d)
    assert (int(side[0, 0]), int(qty[0, 0]), float(price[0, 0])) == (SIDE["buy"], 4, 10.0)
    assert score(one(2), d) == (1.0, 0.75)
    assert score(one(8), d) == (1.0, 0.75)  # 1 - |8 - 4| / 8
    assert score(one(4), d) == (1.0, 1.0)
