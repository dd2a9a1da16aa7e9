"""Tests written by a mutation audit of the council's results modules (glade.eval.flags,
thresholds, rank, scoring, rows, recipe): each pins a behaviour that a plausible one-line
change (a comparison flipped, an off-by-one, a clause dropped, a constant changed) left
untested. The comment on each names what it guards."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from test_eval_metrics import decision, order
from test_flags import FAST, cell, paired_worlds
from test_validate import EVAL, merged

from glade.config import ConfigError, MissingInput
from glade.env.scenario import load_scenario
from glade.eval.flags import flag, load_thresholds
from glade.eval.flags_text import where
from glade.eval.rank import best_ranks, comparisons, rank, seat_values, team_values
from glade.eval.recipe import CouncilSpec, casts, check_inputs, load_eval_recipe, played_scenarios, unseated
from glade.eval.rows import PlannedWorld, decision_rows, episode_rows
from glade.eval.scoring import direction_agreement, quantities
from glade.eval.thresholds import DEFAULTS, Thresholds, check_thresholds, run_settings
from glade.rollout import run_episode

# --------------------------------------------------------------------------- rank


def _ep(seed, creature, policy, value, *, world="council", focal=True, council="k", cast=0):
    return {
        "episode_id": f"s.{council}.c{cast}.s{seed}", "scenario": "s", "scenario_hash": "h", "seed": seed,
        "creature": creature, "world": world, "focal": focal, "policy": policy, "wealth_change": value,
        "council": council, "cast": cast, "recipe": "r", "source": 0,
    }  # fmt: skip


def test_a_seat_value_is_the_mean_over_the_worlds_it_sat_in_and_background_seats_do_not_count():
    # guards seat_values' filter `world == standin | focal` and its `.mean()` over worlds
    rows = [
        _ep(0, "c1", "a", 2.0, cast=0),  # a on c1 in two councils: its value is the mean, 2
        _ep(0, "c1", "a", 2.0, council="k2"),
        _ep(0, "c2", "standin:h", 10.0, cast=0, focal=False),  # background seat: not the policy's play
        _ep(0, "c2", "a", 2.0, cast=1),
        _ep(0, "c1", "standin:h", 3.0, world="standin", focal=False, council="standin"),
        _ep(0, "c2", "standin:h", 1.0, world="standin", focal=False, council="standin"),
    ]
    values = seat_values(pd.DataFrame(rows)).set_index(["cell", "entry"])["value"].to_dict()
    assert values == {("c1", "a"): 2.0, ("c1", "standin:h"): 3.0, ("c2", "a"): 2.0, ("c2", "standin:h"): 1.0}
    c = comparisons(pd.DataFrame(rows))
    assert c.entries == ["a", "standin:h"] and c.wins[0].tolist() == [[0, 1], [1, 0]]  # c1 lost, c2 won


def test_a_team_value_is_the_focal_lift_over_the_paired_world_averaged_over_casts():
    # guards team_values' `.mean()` over casts and its skip of a unit whose paired world lacks a seat
    # (`any(r is None ...)`: summing a None would be a TypeError)
    standin = dict(world="standin", focal=False, council="standin")
    rows = [
        _ep(0, "c1", "a", 5.0, cast=0), _ep(0, "c2", "a", 4.0, cast=1),  # lifts +2 and 0: mean +1
        _ep(0, "c1", "standin:h", 3.0, **standin), _ep(0, "c2", "standin:h", 4.0, **standin),
        _ep(1, "c1", "a", 9.0, cast=0), _ep(1, "c2", "a", 9.0, cast=0),  # one cast seating c1 and c2 ...
        _ep(1, "c1", "standin:h", 3.0, **standin),  # ... whose paired world lacks c2 (its seat faulted)
        _ep(2, "c1", "a", 9.0, cast=0), _ep(2, "c1", "standin:h", 3.0, **standin),
    ]  # fmt: skip
    values = team_values(pd.DataFrame(rows))
    got = sorted(values[["seed", "entry", "value"]].itertuples(index=False, name=None))
    assert got == [(0, "all stand-ins", 0.0), (0, "r/k", 1.0), (2, "all stand-ins", 0.0), (2, "r/k", 6.0)]


def test_strengths_a_nanometre_apart_share_a_place():
    # guards TIE = 1e-9 itself (the audit-2 test scales its input by TIE, so TIE = 0 passed it)
    assert best_ranks(np.array([0.0, 1e-10, -1.0])).tolist() == [1, 1, 3]
    assert best_ranks(np.array([0.0, 1e-8, -1.0])).tolist() == [2, 1, 3]


def test_four_seeds_are_too_few_for_a_bootstrap_interval(tmp_path):
    # guards `too_few = len(c.units) < MIN_N` (MIN_N = 4: four (scenario, seed) units get intervals)
    rows = []
    for seed, (b, c) in enumerate(((2.0, 1.0), (1.0, 2.0), (2.0, 1.0), (1.0, 2.0))):
        # a council each: one world holds one row per creature (glade.eval.results_folder.ROW_KEYS)
        rows += [_ep(seed, "c1", "a", 9.0, council="ka"), _ep(seed, "c1", "b", b, council="kb")]
        rows += [_ep(seed, "c1", "c", c, council="kc")]
    (tmp_path / "r").mkdir()
    pd.DataFrame(rows).drop(columns=["recipe", "source"]).to_parquet(tmp_path / "r" / "episodes.parquet")
    totals = []
    board = rank([tmp_path / "r"], resamples=20, on_total=totals.append)
    assert totals == [0] and board["units"] == 4 and board["note"] == "too few seeds for an interval: 4, at least 8"
    assert all(row["ci"] is None and row["rank_ci"] is None for row in board["board"])  # 8 are: test_rank_intervals


# --------------------------------------------------------------------------- thresholds

EDGES = [  # (key, the edge value that is allowed, the nearest refused one, the message)
    ("crash_drop", 1.0, 1.01, "between 0 (excluded) and 1"),
    ("crash_drop", 0.01, 0.0, "between 0 (excluded) and 1"),
    ("crash_within", 0, -1, "0 or more"),
    ("bubble_rise", 0.01, 0.0, "more than 0"),
    ("flag_support", 0.0, -0.01, "between 0 and 1"),
    ("flag_support", 1.0, 1.01, "between 0 and 1"),
    ("fdr_q", 0.99, 1.0, "between 0 and 1, both excluded"),
    ("fdr_q", 0.01, 0.0, "between 0 and 1, both excluded"),
    ("robust_floor", 1.0, 1.01, "between 0 and 1"),
    ("ci_level", 0.5, 0.0, "between 0 and 1, both excluded"),
    ("resamples", 100, 99, "at least 100 (a Monte Carlo p is at least 1/(resamples+1))"),
]


@pytest.mark.parametrize("key, ok, bad, expected", EDGES, ids=[f"{e[0]}-{e[2]}" for e in EDGES])
def test_each_threshold_allows_its_edge_and_refuses_one_step_past_it_in_one_line(key, ok, bad, expected):
    # guards every comparison of check_thresholds (an edge the message promises must pass)
    check_thresholds(Thresholds(**{key: ok}), "r.yaml")
    with pytest.raises(ConfigError) as info:
        check_thresholds(Thresholds(**{key: bad}), "r.yaml")
    assert str(info.value) == f"r.yaml: thresholds.{key}: must be {expected}, got {bad}"


def test_a_results_folders_thresholds_mapping_overrides_the_defaults_key_by_key(tmp_path):
    # guards run_settings' build: a recipe.yaml's thresholds win, keys left out take the defaults
    thresholds, _ = run_settings({"thresholds": {"fdr_q": 0.2}}, {}, tmp_path)
    assert thresholds.fdr_q == 0.2 and thresholds.flag_support == 0.6
    assert run_settings({}, {}, tmp_path)[0] == DEFAULTS and DEFAULTS.crash_within == 2
    assert run_settings({}, {"thresholds": {"crash_within": 5}}, tmp_path)[0] == Thresholds(crash_within=5)


def test_the_defaults_are_the_ones_the_readme_states():
    # guards the defaults the README's flag rule quotes (q = 0.10) and the shipped recipes repeat
    assert (DEFAULTS.fdr_q, DEFAULTS.flag_min_effect, DEFAULTS.flag_support) == (0.10, 0.15, 0.6)
    assert (DEFAULTS.crash_drop, DEFAULTS.crash_within, DEFAULTS.bubble_rise) == (0.3, 2, 0.3)


# --------------------------------------------------------------------------- scoring


def test_quantities_add_up_every_order_on_a_good():
    # guards quantities' `+=` (the signed units of several orders on one good are summed, not the last one's)
    action = {"orders": [order("buy", "honey", 2, 9.0), order("buy", "honey", 3, 9.5), order("sell", "acorns", 4, 2.0)]}
    assert quantities(action, ["honey", "acorns", "moss"]) == {"honey": 5, "acorns": -4, "moss": 0}


def test_two_actions_over_no_goods_agree_fully():
    # guards direction_agreement's `else 1.0`: with no goods there is nothing to disagree on
    assert direction_agreement({"orders": []}, {"orders": [order("buy", "honey", 1, 1.0)]}, []) == 1.0


# --------------------------------------------------------------------------- flags


def test_a_cell_exactly_at_every_threshold_is_a_flag():
    # guards _passes' `q <= fdr_q`, `|effect| >= flag_min_effect` and `support >= flag_support` (edges included)
    at = Thresholds(resamples=300, fdr_q=2 / 256, flag_min_effect=15 / 16, flag_support=1.0)
    [f] = flag(cell([2, 2, 1, 2, 2, 2, 2, 2]), None, at, seed=0).flags  # q 2/256, effect 15/16, support 1
    assert (f["metric"], f["q"], f["effect"], f["support"]) == ("honey: buy share", 2 / 256, 15 / 16, 1.0)


def test_flags_of_equal_score_rank_by_phase_in_play_order():
    # guards _rank's tie-break by PHASES' order (before, seam, after), not the phases' names
    table = pd.concat([cell([2] * 8, phase=p) for p in ("after", "seam", "before")], ignore_index=True)
    flags = flag(table, None, FAST, seed=0).flags
    assert [(f["rank"], f["phase"]) for f in flags] == [(1, "before"), (2, "seam"), (3, "after")]
    assert len({f["score"] for f in flags}) == 1


def test_a_decision_flags_examples_are_the_turns_where_the_stand_in_took_another_side():
    # guards _flag_examples' `standin_dir != direction`: a turn both bought on is no example of the divergence
    rows = []
    for e in range(8):  # the live seat buys honey on both turns, the stand-in on turn 0 only
        rows.append(
            decision(f"sc.c.c0.s{e}", e, 0, "seam", [order("buy", "honey", 2, 10.0)], [order("buy", "honey", 1, 9.0)])
        )
        rows.append(decision(f"sc.c.c0.s{e}", e, 1, "seam", [order("buy", "honey", 2, 10.0)], []))
    [f] = flag(pd.DataFrame(rows), None, FAST, seed=0).flags
    assert f["metric"] == "honey: buy share" and f["effect"] == 0.5
    assert [(e["episode_id"], e["turn"]) for e in f["examples"]] == [(f"sc.c.c0.s{e}", 1) for e in range(3)]


def test_an_outcome_flags_examples_come_from_the_worlds_that_moved_most_and_the_legend_good_first():
    # guards _outcome_examples' `sort_values("moved", ascending=False)` and its `_legend` key (a
    # disagreement on the legend good comes before one nearer the legend turn on another good)
    rows = []
    for s in range(8):  # each council world: agrees on turn 0, parts on honey on turn 1, on acorns on turn 2
        e = f"sc.council.c0.s{s}"
        rows.append(decision(e, s, 0, "before", [], [], council="council"))
        rows.append(decision(e, s, 1, "before", [order("buy", "honey", 1, 9.0)], [], council="council"))
        rows.append(decision(e, s, 2, "seam", [order("sell", "acorns", 1, 2.0)], [], council="council"))
    flags = flag(pd.DataFrame(rows), paired_worlds(), FAST, seed=0).flags
    [pnl] = [f for f in flags if f["metric"] == "gambit_pnl"]
    examples = pnl["examples"]
    assert len(examples) == 3 and all(e["turn"] == 1 for e in examples)
    # the odd seeds moved most (+3 over the stand-in's world, the even ones +2)
    assert {int(e["episode_id"].rsplit(".s", 1)[1]) % 2 for e in examples} == {1}
    assert all(e["outcome"].endswith("2 in the all-stand-in world on its seed") for e in examples)


def test_a_results_folders_recipe_gives_its_thresholds_and_its_seed(tmp_path):
    # guards load_thresholds' seed (the permutation tests of `glade flag` rerun at the recipe's seed)
    (tmp_path / "recipe.yaml").write_text("name: r\nseed: 7\nthresholds: {fdr_q: 0.2}\n")
    assert load_thresholds(tmp_path) == (Thresholds(fdr_q=0.2), 7)
    assert load_thresholds(tmp_path / "nowhere") == (Thresholds(), 0)


def test_where_names_cast_0_and_leaves_out_what_an_outcome_flag_lacks():
    # guards where()'s `cast is not None`: the first cast is .c0, not left out as if there were none
    decision_flag = {"scenario": "sc", "council": "c", "cast": 0, "creature": "thorn", "phase": "seam"}
    assert where(decision_flag) == "sc / c.c0 / thorn / seam"
    assert where({"scenario": "sc", "council": "c", "cast": None, "creature": None, "phase": None}) == "sc / c"


# --------------------------------------------------------------------------- rows


@pytest.fixture(scope="module")
def played():
    s = load_scenario("gambit_override", turns=6)  # legend (honey) at turn 4
    return s, run_episode(s, seed=1)


def test_a_decision_row_keeps_the_user_prompt_and_the_live_quantities_beside_the_stand_ins(played):
    # guards decision_rows' `messages[-1]` (the prompt is what the seat was asked this turn, not
    # the system card) and which side each qty_ / standin_qty_ column holds
    s, p = played
    rows = [dict(r) for r in p.rows]
    first = next(r for r in rows if r["creature"] == "oona")
    first["action"] = json.dumps({"orders": [order("buy", "honey", 3, 20.0)]})
    first["standin_action"] = json.dumps({"orders": [order("sell", "honey", 2, 9.0)]})
    w = PlannedWorld("e", "pair", s.name, "c", 0, 1, {"oona": "p"})
    out = decision_rows(w, s, rows)
    assert len(out) == 6 and {r["creature"] for r in out} == {"oona"}
    assert all(r["prompt"].startswith(f"Turn {r['turn'] + 1} of 6.") for r in out)
    assert (out[0]["qty_honey"], out[0]["standin_qty_honey"], out[0]["qty_acorns"]) == (3, -2, 0)
    assert (out[0]["dir_honey"], out[0]["standin_dir_honey"], out[0]["agreement"]) == ("buy", "sell", 0.8)


def test_an_episode_row_counts_errors_and_faults_apart_and_reads_the_whole_episode(played):
    # guards episode_rows' `errors` (every error) vs `faults` (server_ ones only), the seam ratio
    # over every write of the legend good that turn (last after / first before), the volume summed
    # over every turn and the Gini of the last turn
    s, p = played
    rows = [dict(r) for r in p.rows]
    oona = [r for r in rows if r["creature"] == "oona"]
    oona[0]["error"], oona[1]["error"], oona[2]["error"] = "unknown_good", "server_timeout", "server_http"
    history = [dict(h, volume={"honey": t, "acorns": 1}, gini=t / 10) for t, h in enumerate(p.history)]
    history[4]["seam_writes"] = [
        {"legend": "x", "good": "honey", "before": 10.0, "after": 8.0},
        {"legend": "x", "good": "acorns", "before": 2.0, "after": 1.0},
        {"legend": "x", "good": "honey", "before": 8.0, "after": 5.0},
    ]
    w = PlannedWorld("e", "pair", s.name, "c", 0, 1, {"oona": "p"})
    by = {r["creature"]: r for r in episode_rows(w, s, rows, history)}
    assert (by["oona"]["errors"], by["oona"]["faults"]) == (3, 2)
    assert (by["thorn"]["errors"], by["thorn"]["faults"]) == (0, 0)
    assert by["oona"]["seam_ratio"] == 0.5  # 5 / 10, not the first write's 8 / 10
    assert (by["thorn"]["volume"], by["thorn"]["final_gini"], by["thorn"]["turns"]) == (21, 0.5, 6)  # 0+..+5 + 6


# --------------------------------------------------------------------------- recipe


def load(tmp_path, changes: dict):
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump(merged(EVAL, changes)))
    return load_eval_recipe(path)


REFUSED = [  # (changes to test_validate's EVAL, the one line naming the key)
    ({"councils": {"standin": {"focal": {"oona": "p"}}}}, "councils.standin: 'standin' names the all-stand-in world"),
    ({"councils": {"c": {"rotate": 0}}}, "councils.c.rotate: must be at least 1"),
    ({"councils": {"c": {"rotate": 6}}}, "councils.c.rotate: 6: scenario gambit_override has 5 creatures"),
    ({"turns": 4}, "turns: 4 turns (0 to 3) never reach gambit_override's legend at turn 4"),
    ({"max_fault_share": 1.01}, "max_fault_share: must be between 0 and 1, got 1.01"),
    ({"levers": [{"name": "g", "from": "gambit_rumour", "to": "gambit_shock"}] * 2}, "levers[1].name: 'g' names two levers"),
    ({"levers": [{"name": "g", "from": "gambit_shock", "to": "gambit_shock"}]}, "levers[0].to: a lever needs two different"),
    ({"levers": [{"name": "g", "from": "gambit_rumour", "to": "gambit_shock", "figure": "vibes"}]}, "levers[0].figure: unknown figure 'vibes'"),
    ({"levers": [{"name": "g", "from": "gambit_rumour", "to": "nosuch"}]}, "levers: scenario 'nosuch': no such scenario"),
    ({"levers": [{"name": "", "from": "gambit_rumour", "to": "gambit_shock"}]}, "levers[0].name: a name needs at least one visible character, got ''"),
    ({"policies": {" ": "hoarder"}}, "policies: a name needs at least one visible character, got ' '"),
    ({"councils": {"": {"focal": {"oona": "p"}}}}, "councils: a name needs at least one visible character, got ''"),
]  # fmt: skip


@pytest.mark.parametrize("changes, message", REFUSED, ids=[m.split(":")[0] for _, m in REFUSED])
def test_a_bad_council_recipe_is_one_line_naming_the_key(tmp_path, changes, message):
    # guards each refusal of load_eval_recipe / check_rotate / check_turns_reach_legend / check_levers (and its edge)
    with pytest.raises(ConfigError) as info:
        load(tmp_path, changes)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert str(info.value).startswith(f"{tmp_path / 'e.yaml'}: {message.split(':')[0]}:")


def test_the_edges_of_a_council_recipe_still_load(tmp_path):
    # guards the same checks from the other side: rotate = creatures, turns one past the legend, a share of 1
    recipe = load(tmp_path, {"councils": {"c": {"rotate": 5}}, "turns": 5, "max_fault_share": 1.0})
    assert recipe.councils["c"].rotate == 5 and recipe.turns == 5
    levers = load(tmp_path, {"levers": [{"name": "g", "from": "gambit_rumour", "to": "gambit_shock"}]})
    assert played_scenarios(levers) == ("gambit_override", "gambit_rumour", "gambit_shock")


def test_casts_rotate_every_focal_seat_forward_and_a_named_seat_beats_the_star():
    # guards casts' `(index + shift) % n` and `focal.get(c, focal["*"])`
    creatures = ["oona", "thorn", "hazel"]
    rotated = casts(CouncilSpec(focal={"oona": "a", "hazel": "b"}, rotate=3), creatures)
    assert rotated == [{"oona": "a", "hazel": "b"}, {"thorn": "a", "oona": "b"}, {"hazel": "a", "thorn": "b"}]
    star = casts(CouncilSpec(focal={"*": "a", "thorn": "b"}), creatures)
    assert star == [{"oona": "a", "thorn": "b", "hazel": "a"}]


def test_only_the_inputs_of_seated_policies_are_checked(tmp_path):
    # guards check_inputs' `- unseated(recipe)`: a policy no council seats plays nowhere, its files are not needed
    recipe = load(tmp_path, {"policies": {"spare": {"kind": "hf", "model": str(tmp_path / "no" / "model")}}})
    assert unseated(recipe) == ["spare"]
    check_inputs(recipe, "e.yaml")  # refuses nothing
    seated = merged(EVAL, {"policies": {"p": {"kind": "hf", "model": str(tmp_path / "no" / "model")}}})
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(seated))
    with pytest.raises(MissingInput, match="policies.p: .*no such folder"):
        check_inputs(load_eval_recipe(tmp_path / "s.yaml"), "s.yaml")
