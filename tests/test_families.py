"""Flag families (glade.eval.families): one finding a person reads per creature and phase, and
where its flags come from several seats, each seat's model and cast named."""

from __future__ import annotations

import pandas as pd
from test_eval_metrics import decision, order  # tests/ is on sys.path under pytest

from glade.eval.families import families, member_text
from glade.eval.flags import flag
from glade.eval.thresholds import Thresholds


def test_a_family_across_casts_names_the_policy_and_cast_of_each_clause():
    def seat_flag(rank: int, cast: int, policy: str, good: str, effect: float) -> dict:
        return {
            "kind": "decision",
            "scenario": "gambit_shock",
            "council": "five_minds",
            "cast": cast,
            "creature": "hazel",
            "phase": "seam",
            "policy": policy,
            "good": good,
            "direction": "none",
            "instead": "buy",
            "effect": effect,
            "score": effect,
            "n": 8,
            "q": 0.01,
            "rank": rank,
            "examples": [],
        }

    rotated = [
        seat_flag(1, 0, "speculator_model", "berries", 1.0),
        seat_flag(2, 1, "base_model", "firewood", 1.0),
        seat_flag(3, 0, "speculator_model", "honey", 0.75),
        seat_flag(4, 1, "base_model", "berries", 0.625),
    ]
    [family] = families(rotated)
    assert family["text"] == (
        "Hazel at the seam (gambit_shock, five_minds, casts 0, 1): "
        "speculator_model (cast 0): holds berries where the stand-in buys: +1.00, "
        "holds honey where the stand-in buys: +0.75; "
        "base_model (cast 1): holds firewood where the stand-in buys: +1.00, "
        "holds berries where the stand-in buys: +0.62"
    )
    # one policy in two casts: the same clause twice is told apart by its cast
    [same] = families([seat_flag(1, 0, "panic_model", "honey", 0.96), seat_flag(2, 1, "panic_model", "honey", 0.96)])
    assert same["text"].endswith(
        "panic_model (cast 0): holds honey where the stand-in buys: +0.96; "
        "panic_model (cast 1): holds honey where the stand-in buys: +0.96"
    )
    # one seat: no names in the clauses (the title says the cast; the flags table the policy)
    [single] = families(rotated[:1] + rotated[2:3])
    assert single["text"] == (
        "Hazel at the seam (gambit_shock, five_minds, cast 0): holds berries where the stand-in buys: +1.00, "
        "holds honey where the stand-in buys: +0.75"
    )


def test_a_seat_that_parts_from_two_stand_in_sides_alike_names_both():
    # guards cells._least: the live seat always sells honey, the stand-in buys in half the states
    # and holds in the rest; the text said only "where the stand-in buys" (the first of a tie)
    rows = []
    for e in range(8):
        for t in range(2):
            ref = [order("buy", "honey", 2, 10.0)] if t == 0 else []
            rows.append(decision(f"sc.c.c0.s{e}", e, t, "seam", [order("sell", "honey", 1, 10.0)], ref))
    [f] = flag(pd.DataFrame(rows), None, Thresholds(resamples=300), seed=0).flags
    assert (f["direction"], f["instead"]) == ("sell", "buy or none")
    assert member_text(f) == "sells honey where the stand-in buys or holds: +1.00 (same value in all 8 episodes)"


def test_a_member_says_its_effect_with_the_flags_interval():
    outcome = {"kind": "outcome", "metric": "volume", "effect": -12.04, "standin_value": 61.6, "live_value": 49.56}
    interval = {"ci_low": -18.13, "ci_high": -5.92, "ci_note": ""}
    assert member_text({**outcome, **interval}) == "volume -12 [-18.1, -5.92] (stand-in 61.6, live 49.6)"
    decision_flag = {"kind": "decision", "direction": "sell", "instead": "buy", "good": "honey", "effect": 0.625}
    assert member_text({**decision_flag, "ci_low": 0.3071, "ci_high": 0.9, "ci_note": ""}) == (
        "sells honey where the stand-in buys: +0.62 [+0.31, +0.90]"
    )
    # no interval at this n: the words that stand for one
    same = {"ci_low": None, "ci_high": None, "ci_note": "same value in all 6 seeds"}
    assert member_text({**outcome, **same}) == "volume -12 (same value in all 6 seeds; stand-in 61.6, live 49.6)"
    assert member_text({**decision_flag, "ci_low": None, "ci_high": None, "ci_note": "too few episodes"}) == (
        "sells honey where the stand-in buys: +0.62 (too few episodes)"
    )
