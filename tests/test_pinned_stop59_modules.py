"""Tests written by the stop-59 mutation audit of modules no earlier audit mutated
(glade.eval.exact, families; glade.run_limits; glade.env.scenario_check; glade.tracejson): each
pins a behaviour that a plausible one-line change (a comparison flipped, a term dropped, min and
max swapped, a range end moved) left untested. The comment on each names what it guards."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import numpy as np
import pytest

from glade.config import ConfigError
from glade.env import load_scenario
from glade.env.scenario_check import MAX_ID, _check_names
from glade.eval.exact import clopper_pearson, korn_graubard, lattice_bounds
from glade.eval.families import effect_text, families, family_lines, member_text
from glade.run_limits import check_ranges, results_recipe, samples_by_batch
from glade.tracejson import canonical, fills_json
from glade.traces import GenerateRecipe


# eval/exact.py:59 -- the high end must subtract |low| x the lower end of the down share
def test_lattice_high_end_subtracts_the_down_shares_lower_end():
    x = np.array([1, 1, 1, 1, 1, -1, -1, 0.0])  # 5 seeds up, 2 down, 1 no difference
    up, down = clopper_pearson(5, 8), clopper_pearson(2, 8)
    low, high = lattice_bounds(x, (-1.0, 1.0), 0.95)
    assert low == pytest.approx(up[0] - down[1])
    assert high == pytest.approx(up[1] - down[0]) == pytest.approx(0.88291, abs=1e-4)


# eval/exact.py:56 -- a zero bound (a rate figure in [0, 1]) has no share that way, not 0/0
def test_lattice_rate_figure_with_a_zero_seed_is_finite():
    low, high = lattice_bounds(np.array([0, 0.5, 1, 1, 0, 1, 1, 1.0]), (0.0, 1.0), 0.95)
    assert np.isfinite([low, high]).all()
    assert (low, high) == pytest.approx((0.29482, 0.94403), abs=1e-4)


# eval/exact.py:36 -- equal shares (zero variance) take n* = members, no ZeroDivisionError
def test_korn_graubard_equal_shares_use_members():
    assert korn_graubard(np.array([0.5] * 6), 8, 0.95) == pytest.approx((0.13433, 0.86567), abs=1e-4)


# eval/families.py:71 -- a lattice interval comes with a note ("same value in all 8 seeds"); the
# member must keep the interval, not swap it for the note
def test_outcome_member_with_an_interval_and_a_note_keeps_the_interval():
    flag = {
        "kind": "outcome",
        "metric": "crash",
        "effect": 1.0,
        "standin_value": 0.0,
        "live_value": 1.0,
        "ci_low": 0.6306,
        "ci_high": 1.0,
        "ci_note": "same value in all 8 seeds",
    }
    assert member_text(flag) == "crash +1 [+0.631, +1] (stand-in 0, live 1)"


# eval/families.py:54 -- an interval missing either end is no interval (a hand-edited or partial flag)
def test_effect_text_with_one_end_missing_says_no_interval():
    assert effect_text({"effect": 0.5, "ci_low": 0.1, "ci_high": None}) == "+0.500"
    assert effect_text({"effect": 0.5, "ci_low": None, "ci_high": 0.9, "ci_note": "too few"}) == "+0.500 (too few)"


def _member(rank, score, n, q, examples, **kw):
    return {
        "kind": "decision",
        "scenario": "gambit_shock",
        "council": "one_model",
        "cast": 0,
        "creature": "hazel",
        "phase": "seam",
        "policy": "m",
        "good": "honey",
        "direction": "sell",
        "instead": "buy",
        "effect": score,
        "score": score,
        "n": n,
        "q": q,
        "rank": rank,
        "examples": examples,
        **kw,
    }


def _ex(episode, turn, creature="hazel"):
    return {"episode_id": episode, "turn": turn, "creature": creature}


# eval/families.py:135-152 -- a family's figures and examples come from all its members
def test_family_aggregates_best_score_n_range_best_q_and_distinct_examples():
    members = [
        _member(1, 0.9, 8, 0.02, [_ex("e1", 3), _ex("e2", 4)]),
        _member(5, 0.4, 6, 0.001, [_ex("e1", 3), _ex("e3", 1), _ex("e4", 2)]),  # e1/3 again: shown once
    ]
    [fam] = families(members)
    assert fam["score"] == 0.9 and fam["q"] == 0.001
    assert (fam["n"], fam["n_max"]) == (6, 8)
    assert fam["members"] == [1, 5]
    assert [(e["episode_id"], e["turn"]) for e in fam["examples"]] == [("e1", 3), ("e2", 4), ("e3", 1)]  # 3 at most


# eval/families.py:135 -- an outcome family's examples at one turn of one episode but of two creatures are two
def test_family_examples_of_two_creatures_in_one_turn_are_both_kept():
    outcome = {
        "kind": "outcome",
        "scenario": "gambit_shock",
        "council": "one_model",
        "metric": "volume",
        "effect": 1.0,
        "standin_value": 1.0,
        "live_value": 2.0,
        "score": 1.0,
        "n": 8,
        "q": 0.01,
    }
    flags = [
        {**outcome, "rank": 1, "examples": [_ex("e1", 3, "hazel")]},
        {**outcome, "metric": "crash", "rank": 2, "examples": [_ex("e1", 3, "oona")]},
    ]
    [fam] = families(flags)
    assert [e["creature"] for e in fam["examples"]] == ["hazel", "oona"]


# eval/families.py:159-161 -- families rank by best score, ties by best flag rank, numbered from 1
def test_families_order_and_numbers():
    a = _member(2, 0.5, 8, 0.01, [], creature="oona")
    b = _member(1, 0.5, 8, 0.01, [], creature="hazel")
    c = _member(3, 0.9, 8, 0.01, [], creature="bram")
    out = families([b, a, c])
    assert [(f["family"], f["creature"]) for f in out] == [(1, "bram"), (2, "hazel"), (3, "oona")]
    assert len(family_lines(out, top=2)) == 2 and family_lines(out)[0].startswith("1. Bram at the seam")


# glade/tracejson.py:65,81-88 -- every fast path writes what json.dumps writes
@pytest.mark.parametrize(
    "fill",
    [
        {"side": "buy", "good": "honey", "qty": True, "price": 1.5, "with": "oona"},  # a bool is no int
        {"good": "honey", "side": "buy", "qty": 1, "price": 1.5, "with": "oona"},  # other key order
        {"side": "buy", "good": "honey", "qty": 1, "price": float("inf"), "with": "oona"},
        {"side": "buy", "good": "honey", "qty": 1, "price": float("nan"), "with": "oona"},
        {"side": "buy", "good": "honey", "qty": 1, "price": 2, "with": "oona"},  # an int price
        {"side": "buy", "good": "honey", "qty": 1, "price": 2.5, "with": 'o"na\u00e9'},  # escaped counterparty
    ],
)
def test_fills_json_is_json_dumps_on_every_path(fill):
    assert fills_json([fill]) == json.dumps([fill])


def test_canonical_nan_price_is_written_as_json_writes_it():
    order = {"side": "buy", "good": "honey", "qty": 2.0, "price": float("nan")}
    want = json.dumps(
        {"orders": [{"side": "buy", "good": "honey", "qty": 2, "price": float("nan")}]}, separators=(", ", ": ")
    )
    assert canonical({"orders": [order]}) == want


# glade/run_limits.py:42,45 -- the ends of each range are allowed: max_fault_share 0 (stop at any
# fault) and 1, max_decisions / max_tokens 1
@pytest.mark.parametrize("share, decisions, tokens", [(0, None, None), (0.0, 1, 1), (1, None, None)])
def test_limit_range_ends_are_accepted(share, decisions, tokens):
    check_ranges(SimpleNamespace(max_fault_share=share, max_decisions=decisions, max_tokens=tokens), "r.yaml")


@pytest.mark.parametrize(
    "share, decisions, tokens, key",
    [
        (-0.01, None, None, "max_fault_share"),
        (1.01, None, None, "max_fault_share"),
        (0.2, 0, None, "max_decisions"),
        (0.2, None, 0, "max_tokens"),
    ],
)
def test_limit_just_past_its_range_is_refused(share, decisions, tokens, key):
    with pytest.raises(ConfigError, match=key):
        check_ranges(SimpleNamespace(max_fault_share=share, max_decisions=decisions, max_tokens=tokens), "r.yaml")


# glade/tracejson.py:66 -- the fast path escapes the side as json.dumps does
def test_canonical_escapes_an_odd_side_as_json_dumps_does():
    order = {"side": 'b"\u00fcy', "good": "h\\oney", "qty": 1, "price": 2.5}
    assert canonical({"orders": [order]}) == json.dumps({"orders": [order]}, separators=(", ", ": "))


# glade/run_limits.py:56 -- only a model run here samples by batch; a server or python seat at
# temperature 1 draws per request, so `worlds` may change between reruns
def test_only_model_seats_sample_by_batch():
    assert samples_by_batch({"kind": "hf", "temperature": 1.0})
    assert samples_by_batch({"kind": "checkpoint", "temperature": 0.7, "engine": "hf"})
    for kind in ("server", "python", "standin"):
        assert not samples_by_batch({"kind": kind, "temperature": 1.0})
    assert not samples_by_batch({"kind": "hf", "temperature": 1.0, "engine": "vllm"})
    assert not samples_by_batch({"kind": "hf", "temperature": 0})


# glade/run_limits.py:83 -- one sampling seat among greedy ones is enough to keep `worlds`
def test_one_sampling_seat_keeps_worlds_in_the_results_recipe():
    def recipe(worlds):
        seats = {
            "oona": {"kind": "checkpoint", "path": "shipped:tiny-base", "temperature": 1.0},
            "*": {"kind": "checkpoint", "path": "shipped:tiny-base"},
        }
        return results_recipe(GenerateRecipe(out="a", councils={"c": seats}, worlds=worlds))

    assert recipe(2) != recipe(3)


# env/scenario_check.py:64 -- an id of exactly MAX_ID (64) characters is allowed, 65 is not
def test_an_id_of_max_id_characters_is_allowed():
    s = load_scenario("default")
    first, *rest = s.creatures.items()

    def named(cid):
        return dataclasses.replace(s, creatures={cid: first[1], **dict(rest)})

    _check_names(named("a" * MAX_ID), "s.yaml")
    with pytest.raises(ConfigError, match="1 to 64 characters"):
        _check_names(named("a" * (MAX_ID + 1)), "s.yaml")
