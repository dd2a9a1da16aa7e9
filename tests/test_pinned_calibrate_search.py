"""Tests written by the second half of a mutation audit of glade calibrate (glade.eval.live_decisions
and the rest of glade.eval.standin_search; the first half is test_pinned_calibrate.py): each pins
a behaviour that a plausible one-line change (a comparison flipped, an off-by-one, a clause
dropped, a constant changed) left untested. The comment on each names what it guards. The
live decisions are read from small hand-made results folders (decisions.parquet) and traces
datasets (data/*.parquet), so no evaluation runs here."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from test_calibrate import observations

from glade.env import standin
from glade.env.legends import RISE
from glade.eval.live_decisions import load_live, recipe_scenarios
from glade.eval.standin_search import (
    SIDE,
    SPACE,
    Features,
    base_rate_agreement,
    decision_scores,
    decode,
    encode,
    features,
    limit_prices,
    moved,
    moves,
    predict,
    prune,
    score,
)

# the scenario dispositions of gambit_rumour's creatures (what a run stores as standin_disposition)
SEATED = {"oona": "hoarder", "thorn": "balanced", "hazel": "speculator", "bramble": "panic_seller"}
NO_ORDERS = '{"orders": []}'


@pytest.fixture(scope="module")
def seen() -> str:
    """One plain observation as a decisions table stores it (JSON)."""
    return json.dumps(observations(n_seeds=1, turns=1)[0])


def decision(obs: str, creature: str = "thorn", policy: str = "a", seed: int = 0, **over) -> dict:
    """One live decision row of a results table on gambit_rumour."""
    return {
        "episode_id": f"e{seed}",
        "scenario": "gambit_rumour",
        "seed": seed,
        "turn": 1,
        "creature": creature,
        "observation": obs,
        "action": NO_ORDERS,
        "standin_action": NO_ORDERS,
        "policy_name": policy,
        "policy": f"id-{policy}",
        "standin_disposition": SEATED.get(creature, "balanced"),
        "error": None,
    } | over


def results(folder: Path, rows: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(folder / "decisions.parquet")
    return folder


# --------------------------------------------------------------------------- live_decisions: whose decisions


def test_a_policy_is_found_by_its_name_or_its_identity(tmp_path, seen):
    # guards load_live's results columns ("policy_name", "policy"), the `mine |=` over both and the known
    # policies named from both columns
    rows = [decision(seen, seed=0), decision(seen, seed=1), decision(seen, policy="b", seed=0, episode_id="e0b")]
    folder = results(tmp_path / "r", rows)
    for name in ("a", "id-a"):
        live = load_live(folder, name)
        assert (live.kind, list(live.rows["seed"])) == ("results", [0, 1]), name
    with pytest.raises(ValueError, match=r"no decisions of policy 'c' \(policies here: a, b, id-a, id-b\)$"):
        load_live(folder, "c")


def test_a_traces_policy_is_found_by_its_seat_too(tmp_path, seen):
    # guards load_live's traces columns ("policy", "seat"): a generate dataset names a seat and its policy
    rows = [
        {k: v for k, v in decision(seen, seed=s, policy=p).items() if k != "policy_name"} | {"seat": f"seat-{p}"}
        for s, p in ((0, "a"), (1, "b"), (2, "a"))
    ]
    (tmp_path / "t" / "data").mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(tmp_path / "t" / "data" / "part-0.parquet")
    for name in ("seat-a", "id-a"):
        live = load_live(tmp_path / "t", name)
        assert (live.kind, list(live.rows["seed"])) == ("traces", [0, 2]), name


def test_a_creature_keeps_only_its_own_decisions_and_references(tmp_path, seen):
    # guards load_live's `frame[frame["creature"] == creature]` (the check before it is not the filter)
    rows = [decision(seen, c, seed=s) for c in ("thorn", "oona") for s in (0, 1)]
    live = load_live(results(tmp_path / "r", rows), "a", "oona")
    assert list(live.rows["creature"]) == ["oona", "oona"] and list(live.rows.index) == [0, 1]
    assert live.references == {("gambit_rumour", "oona"): "hoarder"}
    assert set(load_live(tmp_path / "r", "a").references) == {("gambit_rumour", "oona"), ("gambit_rumour", "thorn")}


def test_only_seat_faults_are_left_out_and_counted(tmp_path, seen):
    # guards `error.map(is_fault)` (a parse error is the policy's play, kept) and `faults=int(faulted.sum())`
    errors = [None, "server_timeout", "unparseable: no JSON object", "server_refused", None]
    rows = [decision(seen, seed=s, error=e) for s, e in enumerate(errors)]
    live = load_live(results(tmp_path / "r", rows), "a")
    assert live.faults == 2 and list(live.rows["seed"]) == [0, 2, 4]


# --------------------------------------------------------------------------- live_decisions: the references


def test_decisions_stored_on_another_disposition_than_the_scenario_seats_are_refused(tmp_path, seen):
    # guards _reference's `standin.disposition(ref).name != stored`: the stored counterfactuals were
    # made on hoarder; a calibration against thorn's balanced would score the wrong original
    folder = results(tmp_path / "r", [decision(seen, standin_disposition="hoarder")])
    with pytest.raises(ValueError, match=r"scenario 'gambit_rumour' now seats thorn on 'balanced', the decisions on"):
        load_live(folder, "a")


def test_a_creature_the_scenario_no_longer_seats_falls_back_to_its_stored_disposition(tmp_path, seen):
    # guards _reference's `KeyError` among the reasons to use the stored name (gambit_rumour seats no owl)
    folder = results(tmp_path / "r", [decision(seen, "owl", standin_disposition="speculator")])
    assert load_live(folder, "a").references == {("gambit_rumour", "owl"): "speculator"}


def test_the_recipe_names_its_scenarios_and_levers_with_its_turns(tmp_path):
    # guards recipe_scenarios' `turns` override, both ends of a lever, `continue` past a spec that does not
    # load, the key `s.name` (not the spec a path gives) and `isinstance(lever, dict)`
    for name in ("low", "high"):
        (tmp_path / f"{name}.yaml").write_text(f"extends: gambit_rumour\nname: {name}\n")
    recipe = {
        "turns": 5,
        "scenarios": [str(tmp_path / "nowhere.yaml"), "gambit_rumour"],
        "levers": ["not a lever", {"from": str(tmp_path / "low.yaml"), "to": str(tmp_path / "high.yaml")}],
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    named = recipe_scenarios(tmp_path)
    assert sorted(named) == ["gambit_rumour", "high", "low"]
    assert {s.turns for s in named.values()} == {5}


@pytest.mark.parametrize("text", ["- a list\n- not a recipe\n", "name: [unclosed\n"])
def test_a_recipe_that_is_no_mapping_is_named_not_read_as_none(tmp_path, text):
    # guards the reader's mapping check and its YAMLError: a damaged recipe is named (read as none,
    # a user's own scenario paths would be lost without a word)
    (tmp_path / "recipe.yaml").write_text(text)
    for kind in ("results", "traces"):
        with pytest.raises(ValueError, match=r"recipe\.yaml: "):
            recipe_scenarios(tmp_path, kind)


# --------------------------------------------------------------------------- live_decisions: what is no source


def test_a_folder_with_a_recipe_but_no_ledger_is_no_unfinished_run(tmp_path):
    # guards `progress.json ... and recipe.yaml` (both, not either) and `folder.exists()`: an empty folder
    # is there, just not a source
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "recipe.yaml").write_text("name: x\n")
    for folder in (tmp_path / "r", tmp_path):
        with pytest.raises(ValueError, match=r"neither an eval results folder \(decisions.parquet\) nor a traces"):
            load_live(folder, "a")


def test_decisions_without_observations_say_to_run_again(tmp_path, seen):
    # guards the `"observation" not in frame.columns` refusal (a table an older glade wrote)
    rows = [{k: v for k, v in decision(seen).items() if k != "observation"}]
    with pytest.raises(ValueError, match=r"carry no observation column \(written by an older glade\); run it again"):
        load_live(results(tmp_path / "r", rows), "a")
    # a folder that records the commit that wrote it is named by it
    (tmp_path / "r" / "summary.json").write_text('{"git_commit": "55c9751abcdef"}')
    with pytest.raises(ValueError, match=r"carry no observation column \(written by glade at commit 55c9751\)"):
        load_live(tmp_path / "r", "a")


# --------------------------------------------------------------------------- standin_search: prune


def lone_buy_cell() -> Features:
    """One decision, one good: holding none of honey, needing 2 a turn, at 10.00 with 100 pebbles;
    the live seat did not trade."""
    cell = lambda v, dtype=float: np.array([[v]], dtype=dtype)  # noqa: E731
    return Features(
        ("honey",), cell(0, np.int64), cell(2, np.int64), cell(False, bool), cell(0, np.int64),
        cell(0.0), cell(10.0), cell(0.0), np.array([100.0]), cell(SIDE["none"], np.int8),
        cell(0, np.int64), cell(np.nan),
    )  # fmt: skip


def test_prune_puts_back_the_largest_move_first():
    # guards prune's `key=lambda kv: -kv[1]`: the start (horizon 2, budget 0.5) buys 4 honey where the live
    # seat did not; the fit (horizon 0, budget 0.05) does not, and neither does either half put back
    # (no gap to buy, or a budget of 5 pebbles that cannot pay one unit). Only one of the two goes back:
    # the budget, which moved 0.47 of its range, before the horizon, which moved 0.33.
    f = lone_buy_cell()
    start = replace(standin.DISPOSITIONS["balanced"], horizon=2, budget=0.5, bid=0.0, jitter=0.0, momentum=0.0)
    fitted = replace(start, horizon=0, budget=0.05)
    assert score(f, start)[0] == 0.0
    for half in (replace(fitted, horizon=2), replace(fitted, budget=0.5), fitted):
        assert score(f, half) == (1.0, 0.0) and int(predict(f, half)[0][0, 0]) == SIDE["none"]
    pruned = prune(f, fitted, start)
    assert (pruned.horizon, pruned.budget) == (0, 0.5)


# --------------------------------------------------------------------------- standin_search: the search vector


def at(**values) -> np.ndarray:
    """balanced's search vector with some entries set."""
    x = encode(standin.DISPOSITIONS["balanced"])
    for name, value in values.items():
        x[[p.name for p in SPACE].index(name)] = value
    return x


def test_decode_rounds_integers_to_the_nearest_and_floats_to_4_places():
    # guards decode's `int(round(...))` (not truncation) and `round(float(v), 4)`
    d = decode(at(horizon=2.6, surplus=7.4, on_fall=1.6, bid=0.123456), "x")
    assert (d.horizon, d.surplus, d.on_fall, d.bid) == (3, 7, "hoard", 0.1235)


def test_a_momentum_below_half_a_percent_is_no_momentum_and_above_it_is_kept():
    # guards MOMENTUM_OFF = 0.005 and `< MOMENTUM_OFF` (a searched 0.004 would trade on noise)
    assert decode(at(momentum=0.004), "x").momentum == 0.0
    assert decode(at(momentum=0.006), "x").momentum == 0.006


def test_a_start_below_the_search_range_is_clipped_into_it_and_moves_are_shares_of_the_whole_range():
    # guards encode's `max(value, p.low)` (bid may be -0.99, the search's range starts at -0.2) and
    # moves' `/ (p.high - p.low)` (bid's range is 0.7 wide, not 0.5)
    balanced = standin.DISPOSITIONS["balanced"]
    assert at()[[p.name for p in SPACE].index("bid")] == 0.05
    assert encode(replace(balanced, bid=-0.5))[[p.name for p in SPACE].index("bid")] == -0.2
    shares = moves(balanced, replace(balanced, bid=0.4, budget=0.975, on_rise="dump"))
    assert shares["bid"] == pytest.approx(0.5) and shares["budget"] == pytest.approx(0.5)
    assert shares["on_rise"] == 1.0 and shares["on_fall"] == 0.0 and shares["horizon"] == 0.0


def test_moved_lists_only_what_moved_and_at_most_five():
    # guards moved's `share > 0` and `top=5`, largest first
    balanced = standin.DISPOSITIONS["balanced"]
    assert moved(balanced, balanced) == []
    fitted = replace(balanced, horizon=3, surplus=13, dump_keep=2, hoard_units=9, swing_units=4, momentum=0.03)
    got = [(m["parameter"], m["share_of_range"]) for m in moved(balanced, fitted)]
    assert got == [("surplus", 0.25), ("hoard_units", 0.2), ("horizon", 0.1667), ("dump_keep", 0.1), ("momentum", 0.1)]


# --------------------------------------------------------------------------- standin_search: the scores


def test_decision_scores_take_quantity_errors_unsigned_and_price_errors_relative(seen):
    # guards decision_scores' `abs(q_live - q_ref)` (a hold against the stand-in's buys is an error, not a
    # negative one) and its price gaps on the goods both trade on the same side
    obs, d = json.loads(seen), standin.DISPOSITIONS["balanced"]
    ref = standin.act(obs, d)
    units = sum(o["qty"] for o in ref["orders"])
    assert units > 0
    dearer = {"orders": [o | {"price": round(o["price"] * 1.1, 6)} for o in ref["orders"]]}
    out = decision_scores([obs, obs], [{"orders": []}, dearer], [d, d])
    assert out["qty_error"].tolist() == pytest.approx([units / len(obs["inventory"]), 0.0])
    assert out["agreement"][1] == 1.0 and out["price_error"][1] == pytest.approx(0.1)
    assert np.isnan(out["price_error"][0])


def test_a_tie_in_the_base_rates_goes_to_the_first_side_by_name(seen):
    # guards base_rate_agreement's `max(sorted(c), ...)`: honey held once and bought once is "buy" (before
    # "none"), whichever came first
    obs = json.loads(seen)
    buy = {"orders": [{"side": "buy", "good": "honey", "qty": 1, "price": 5.0}]}
    fit = pd.DataFrame({"observation": [obs, obs], "action": [{"orders": []}, buy]})
    held = pd.DataFrame({"observation": [obs], "action": [buy]})
    assert base_rate_agreement(fit, held).tolist() == [1.0]


def test_a_price_more_than_double_the_live_one_is_no_closeness_not_a_negative_one():
    # guards score's `np.minimum(1.0, ...)`: the stand-in buys 4 at 10.00 where the live seat bought 4 at
    # 4.00 (|10 / 4 - 1| = 1.5): quantity closeness 1, price closeness 0, so 0.5 (not 1 - 1.5 = -0.5 -> 0.25)
    d = replace(standin.DISPOSITIONS["balanced"], horizon=2, bid=0.0, jitter=0.0, momentum=0.0)
    f = replace(lone_buy_cell(), pebbles=np.array([1000.0]), live_side=np.array([[SIDE["buy"]]], dtype=np.int8))
    f = replace(f, live_qty=np.array([[4]], dtype=np.int64), live_price=np.array([[4.0]]))
    assert score(f, d) == (1.0, 0.5)


def test_an_order_of_no_units_has_no_limit_price():
    # guards limit_prices' `if s[0] > 0` (a weighted mean over no units is a division by zero)
    zero = {"side": "sell", "good": "honey", "qty": 0, "price": 9.0}
    assert limit_prices({"orders": [zero, zero | {"good": "acorns", "qty": 2}]}) == {("acorns", "sell"): 9.0}


def test_a_hoard_over_a_surplus_buys_hoard_units_as_act_does(seen):
    # guards predict's `np.where(side == BUY, qty, 0)`: a sell of the excess is no gap to hoard, so talk of
    # a rise over 30 held buys hoard_units (5), not the 25 the surplus rule would sell
    obs = json.loads(seen)
    good = next(g for g in obs["inventory"] if not obs["produces"][g])
    obs["inventory"][good], obs["talk"][good] = 30, RISE
    d = replace(standin.DISPOSITIONS["balanced"], on_rise="hoard", hoard_units=5, budget=1.0)
    action = standin.act(obs, d)
    side, qty, _ = predict(features([obs], [action]), d)
    g = list(obs["inventory"]).index(good)
    assert [(o["side"], o["qty"]) for o in action["orders"] if o["good"] == good] == [("buy", 5)]
    assert (int(side[0, g]), int(qty[0, g])) == (SIDE["buy"], 5)
