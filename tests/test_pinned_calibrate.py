"""Tests written by a mutation audit of glade calibrate and the field notes' Table 1
(glade.eval.calibrate, standin_search, live_decisions, field_notes, families): each pins a
behaviour that a plausible one-line change (a comparison flipped, an off-by-one, a clause
dropped, a constant changed) left untested. The comment on each names what it guards. One
survivor was a bug: `predict` (the search's vectorised stand-in) did not cap an order at
MAX_QTY as `act` does, so a store of 700 honey was predicted to sell 695 where the stand-in
sells 500."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_calibrate import observations
from test_field_notes import seat_rows

from glade.config import Seeds
from glade.env import standin
from glade.env.legends import FALL, RISE
from glade.env.protocol import MAX_QTY
from glade.eval import calibrate as calibration
from glade.eval.calibrate import calibrate, check_name, check_out, disposition_name, split
from glade.eval.calibrate_words import fit_verdict
from glade.eval.families import families, family_counts
from glade.eval.field_notes import table_one, table_one_cells
from glade.eval.live_decisions import Live
from glade.eval.standin_search import (
    SIDE,
    SPACE,
    base_rate_agreement,
    encode,
    features,
    limit_prices,
    moved,
    moves,
    predict,
    score,
)
from glade.eval.stats import ci_text, interval
from glade.traces import GenerateRecipe, generate

RANDOM = {"kind": "python", "entry_point": "tests.planted:random_trader", "kwargs": {"seed": 1}}

# --------------------------------------------------------------------------- calibrate: split and names


def seeds_of(n: int, scenarios=("a",)) -> pd.DataFrame:
    return pd.DataFrame([{"seed": s, "scenario": sc} for sc in scenarios for s in range(n) for _ in range(2)])


def test_a_share_that_rounds_to_no_seed_still_holds_one_out():
    # guards split's `max(1, round(share * len(seeds)))`: round(0.1 x 4) = 0 would hold out nothing
    part = split(seeds_of(4), seed=0, share=0.1)
    assert len(part.heldout_seeds) == 1 and part.fit.sum() == 6


@pytest.mark.parametrize("share", [0.0, 1.0, -0.2])
def test_a_holdout_share_of_0_or_1_is_refused(share):
    # guards split's `not 0 < share < 1` (a share of 0 would still hold out one seed, silently)
    with pytest.raises(ValueError, match=rf"--holdout: a share between 0 and 1, got {share}"):
        split(seeds_of(4), share=share)


def test_holding_out_the_only_scenario_is_refused():
    # guards split's `len(scenarios) < 2` refusal: nothing would be left to fit on
    with pytest.raises(ValueError, match=r"--holdout-scenario 'a': the only scenario; nothing would be left"):
        split(seeds_of(4), scenario="a")
    part = split(seeds_of(4, ("a", "b")), seed=0, scenario="a")  # with two, the named one is held out whole
    assert part.heldout_scenario == "a" and not part.fit[:8].any()


def test_a_name_of_64_characters_is_taken_and_65_refused():
    # guards check_name's `len(name) > 64` (a disposition name is 1 to 64 characters)
    check_name("a" * 64)
    with pytest.raises(ValueError, match=r"a disposition name is 1 to 64 letters"):
        check_name("a" * 65)


def test_a_long_policy_name_makes_a_disposition_name_of_64_characters():
    # guards disposition_name's `[:64]` and its replacement of what a name cannot carry
    name = disposition_name("org/" + "p" * 70, "oona")
    assert name == ("calibrated_org_" + "p" * 70)[:64] and len(name) == 64
    assert disposition_name("a:b", "oona") == "calibrated_a_b_oona"


def test_an_out_of_yml_is_taken_and_of_another_suffix_refused(tmp_path):
    # guards check_out's `(".yaml", ".yml")`: both are YAML names
    check_out(tmp_path / "fitted.yml")
    with pytest.raises(ValueError, match=r"name it \*\.yaml"):
        check_out(tmp_path / "fitted.json")


def test_a_split_that_leaves_no_decision_to_fit_on_is_refused_before_the_search(monkeypatch):
    # guards calibrate's `not len(fit_rows) or not len(held_rows)`: scenario a on seed 1 only, b on seed 0
    # only; seed 1 and scenario b held out leave nothing to fit on
    rows = pd.DataFrame({"scenario": ["a", "b"], "seed": [1, 0], "episode_id": ["a1", "b0"], "creature": "oona"})
    live = Live("traces", Path("."), "p", None, rows)
    monkeypatch.setattr(calibration, "load_live", lambda *args: live)
    assert split(rows, seed=0).heldout_seeds == (1,)
    with pytest.raises(ValueError, match=r"^the split left no decisions to fit on or none to hold out$"):
        calibrate(".", "p", seed=0)


@pytest.fixture(scope="module")
def random_fit(tmp_path_factory):
    """A random trader on every creature of gambit_rumour, eight seeds of three turns, half held out, fitted briefly."""
    out = tmp_path_factory.mktemp("audit5") / "traces"
    recipe = GenerateRecipe(
        out=str(out), scenarios=("gambit_rumour",), councils={"r": {"*": RANDOM}}, seeds=Seeds(0, 8), turns=3
    )
    generate(recipe)
    return calibrate(out, "random:1", seed=0, holdout=0.5, popsize=3, maxiter=2)


def test_the_base_rates_come_from_the_fit_part_and_the_verdict_names_each_figure(random_fit):
    # guards calibrate's `base_rate_agreement(fit_rows, held_rows)` (never the held-out part's own base
    # rates), the order (calibrated, original, base) fit_verdict is given and `fit_pairs` (pairs, not rows)
    cal, s = random_fit, random_fit.summary
    rows = cal.live.rows
    fit, held = rows[cal.split.fit], rows[cal.split.heldout]
    base = pd.Series(base_rate_agreement(fit, held), index=held.index).groupby(held["episode_id"]).mean()
    assert s["base_rate"]["heldout"]["mean"] == pytest.approx(base.mean())
    own = pd.Series(base_rate_agreement(held, held), index=held.index).groupby(held["episode_id"]).mean()
    assert own.mean() > base.mean()  # the held-out part's own base rates would flatter the baseline
    assert f"common side {base.mean():.3f};" in s["verdict"]
    assert f"original disposition {ci_text(s['parts']['heldout']['agreement']['before'], '.3f')}," in s["verdict"]
    assert s["split"]["fit_pairs"] == 4 and s["parts"]["fit"]["decisions"] > 4  # 4 of 8 seeds, 1 scenario


def test_a_gain_of_exactly_min_gain_generalises_and_a_gain_whose_interval_spans_0_does_not():
    # guards fit_verdict's `gain.mean >= MIN_GAIN` (at least, not above) and `gain.excludes_zero()`
    base = np.full(8, 0.6)
    for gain, generalised in ((np.full(8, 0.05), True), (np.array([0.5, -0.3, 0.4, -0.2, 0.3, -0.1, 0.1, 0.1]), False)):
        calibrated = base + gain
        parts = (calibrated, calibrated, base, np.zeros(8), gain)
        ivs = [interval(v, unit="episodes") for v in parts]
        assert ivs[4].mean >= 0.05
        verdict = fit_verdict(*ivs)
        assert verdict.generalised is generalised, gain
        assert verdict.text.startswith(("the fit did not generalise", "could not show that")) is not generalised


# --------------------------------------------------------------------------- standin_search


def test_predict_caps_an_order_at_max_qty_as_the_stand_in_does():
    # guards predict against act when a store exceeds MAX_QTY (a bug: it predicted 695 honey sold, act sells 500)
    obs = json.loads(json.dumps(observations(n_seeds=1, turns=1)[0]))
    obs["inventory"]["honey"] = 700
    d = standin.DISPOSITIONS["balanced"]
    action = standin.act(obs, d)
    side, qty, _ = predict(features([obs], [action]), d)
    honey = list(obs["inventory"]).index("honey")
    sold = next(o["qty"] for o in action["orders"] if o["good"] == "honey")
    assert sold == MAX_QTY
    assert (int(side[0, honey]), int(qty[0, honey])) == (SIDE["sell"], MAX_QTY)


def test_a_move_from_outside_the_search_range_counts_as_the_whole_range():
    # guards moves' `min(1.0, ...)`: a start beyond the search's bounds (hoard_units 100, the range is 0 to 20)
    start = replace(standin.DISPOSITIONS["balanced"], hoard_units=100)
    fitted = replace(start, hoard_units=20, surplus=13)
    assert moves(start, fitted)["hoard_units"] == 1.0 and moves(start, fitted)["surplus"] == 0.25
    assert [(m["parameter"], m["share_of_range"]) for m in moved(start, fitted)] == [
        ("hoard_units", 1.0),
        ("surplus", 0.25),
    ]


def test_talk_outweighs_a_whisper_in_the_search_as_in_the_stand_in():
    # guards features' `talk[good] or whisper[good]` (talk > whisper when both): talk says a good it holds
    # and does not make falls (dump), a whisper that it rises (hoard); the stand-in sells
    obs = json.loads(json.dumps(observations(n_seeds=1, turns=1)[0]))
    good = next(g for g, held in obs["inventory"].items() if held > 0 and not obs["produces"][g])
    obs["talk"][good], obs["whisper"][good] = FALL, RISE
    d = replace(standin.DISPOSITIONS["balanced"], on_fall="dump", on_rise="hoard")
    action = standin.act(obs, d)
    side, _, _ = predict(features([obs], [action]), d)
    assert int(side[0, list(obs["inventory"]).index(good)]) == SIDE["sell"]
    assert [o["side"] for o in action["orders"] if o["good"] == good] == ["sell"]


def test_a_start_beyond_the_search_range_is_clipped_into_it_and_no_shared_trade_is_no_closeness():
    # guards encode's `min(..., p.high)` (scipy refuses an x0 outside its bounds) and score's closeness of 0
    # where no good is traded on the same side (a seat that never trades is not perfectly close)
    x = encode(replace(standin.DISPOSITIONS["balanced"], hoard_units=100))
    assert x[[p.name for p in SPACE].index("hoard_units")] == 20.0
    seen = observations(n_seeds=1, turns=2)
    agreement, closeness = score(features(seen, [{"orders": []}] * len(seen)), standin.DISPOSITIONS["balanced"])
    assert agreement < 1.0 and closeness == 0.0


def test_a_limit_price_is_weighted_by_quantity_over_every_order_on_that_side():
    # guards limit_prices' `s[1] += qty * price` (two buys of honey: 1 at 10 and 3 at 20 are 17.50 a unit)
    action = {
        "orders": [
            {"side": "buy", "good": "honey", "qty": 1, "price": 10.0},
            {"side": "buy", "good": "honey", "qty": 3, "price": 20.0},
            {"side": "sell", "good": "honey", "qty": 2, "price": 30.0},
        ]
    }
    assert limit_prices(action) == {("honey", "buy"): 17.5, ("honey", "sell"): 30.0}


# --------------------------------------------------------------------------- field notes: Table 1


def test_n_of_a_world_is_against_the_stand_ins_seeds_only_when_it_has_fewer():
    # guards table_one_cells' `seeds` taken from the stand-in row and `r["seeds"] < total`: here both councils
    # lost seed 3 (3 of 4), and a stand-in that lost one is no total for a council that has all four
    frame = seat_rows()
    lost = frame["council"].isin(["one_model", "five_minds"]) & (frame["seed"] == 3)
    cells = table_one_cells(table_one(frame[~lost]))[1]
    assert [c[8] for c in cells[:3]] == ["4, 4", "3 of 4, 3", "3 of 4, 6"]
    cells = table_one_cells(table_one(frame[~((frame["council"] == "standin") & (frame["seed"] == 3))]))[1]
    assert [c[8] for c in cells[:3]] == ["3, 3", "4, 4", "4, 8"]


def test_crash_counts_are_rounded_and_no_crash_is_0_of_n():
    # guards `round(crash['mean'] * crash['n'])` (15/22 x 22 is 14.999...) and `crash.get("mean") is None`
    # (a mean of 0 is "0/4 [...]", not "—")
    rows = table_one(seat_rows())
    assert table_one_cells(rows)[1][2][7] == "0/4 [0.00, 0.60]"  # five minds, rumour: no seed crashed
    row = rows[1] | {"crash": {"mean": 15 / 22, "ci": [0.45, 0.86], "n": 22, "note": "", "exact": True}}
    assert table_one_cells([row])[1][0][7] == "15/22 [0.45, 0.86]"


def test_the_header_states_the_rows_level():
    # guards the header's `rows[0]['level']` (a recipe's ci_level of 0.9 is no 95% CI)
    rows = [r | {"level": 0.9} for r in table_one(seat_rows())]
    header = table_one_cells(rows)[0]
    assert header[5:8] == ["glade: legend_ratio [90% CI]", "glade: gambit P&L [90% CI]", "glade: crash rate [90% CI]"]


# --------------------------------------------------------------------------- families


def member(rank: int, score: float, **over) -> dict:
    """A decision flag of Hazel at the seam, one cast, one policy."""
    return {
        "kind": "decision",
        "scenario": "gambit_shock",
        "council": "mixed",
        "cast": 0,
        "creature": "hazel",
        "phase": "seam",
        "policy": "base_model",
        "good": "honey",
        "direction": "none",
        "instead": "buy",
        "effect": score,
        "score": score,
        "n": 8,
        "q": 0.01,
        "rank": rank,
        "examples": [],
    } | over


def example(episode: str, turn: int) -> dict:
    return {"episode_id": episode, "turn": turn, "creature": "hazel"}


def test_a_family_keeps_three_distinct_examples_in_rank_order():
    # guards EXAMPLES (`len(examples) < EXAMPLES`), the `where not in seen` dedupe and the sort by rank
    flags = [
        member(2, 0.5, good="acorns", examples=[example("e1", 1), example("e3", 1), example("e4", 2)]),
        member(1, 0.9, examples=[example("e1", 1), example("e2", 1)]),
    ]
    [family] = families(flags)
    assert [(e["episode_id"], e["turn"]) for e in family["examples"]] == [("e1", 1), ("e2", 1), ("e3", 1)]
    assert family["members"] == [1, 2]
    assert family["text"].endswith(
        "holds honey where the stand-in buys: +0.90, holds acorns where the stand-in buys: +0.50"
    )


def test_a_family_carries_its_weakest_support_and_is_numbered_from_1():
    # guards the family's `n` (the fewest worlds of a member), `q` (its best member's, the smallest) and
    # `enumerate(out, 1)`
    [family] = families([member(1, 0.9, n=8, q=0.01), member(2, 0.5, good="acorns", n=5, q=0.08)])
    assert (family["n"], family["q"], family["family"], family["score"]) == (5, 0.01, 1, 0.9)
    # told per flag, fewest to most, not as the family's n (its flags may be of two casts' episodes)
    assert family_counts(family) == "flags #1, #2; n 5 to 8 per flag; smallest q 0.01"


def test_families_of_equal_score_follow_their_best_flag():
    # guards the tie-break on best rank: at equal best score, the family holding the better-ranked flag comes first,
    # however many members the other has
    flags = [
        member(1, 0.9, creature="oona"),
        member(2, 0.9),
        member(3, 0.4, good="acorns"),
    ]
    ranked = families(flags)
    assert [(f["creature"], f["members"], f["family"]) for f in ranked] == [("oona", [1], 1), ("hazel", [2, 3], 2)]


def test_councils_are_separate_families_and_two_casts_are_plural():
    # guards the council in the grouping key and `'s' if len(casts) > 1`
    ranked = families([member(1, 0.9), member(2, 0.8, council="other", cast=1)])
    assert [f["title"] for f in ranked] == [
        "Hazel at the seam (gambit_shock, mixed, cast 0)",
        "Hazel at the seam (gambit_shock, other, cast 1)",
    ]
    [both] = families([member(1, 0.9), member(2, 0.8, cast=1)])
    assert both["title"] == "Hazel at the seam (gambit_shock, mixed, casts 0, 1)"
    assert both["text"].endswith(
        "base_model (cast 0): holds honey where the stand-in buys: +0.90; "
        "base_model (cast 1): holds honey where the stand-in buys: +0.80"
    )
