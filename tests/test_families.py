"""Flag families (glade.eval.families): one finding a person reads per creature and phase, and
where its flags come from several seats, each seat's model and cast named."""

from __future__ import annotations

from glade.eval.families import families


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
        "speculator_model (cast 0): holds berries where the stand-in buys (+1.00), "
        "holds honey where the stand-in buys (+0.75); "
        "base_model (cast 1): holds firewood where the stand-in buys (+1.00), "
        "holds berries where the stand-in buys (+0.62)"
    )
    # one policy in two casts: the same clause twice is told apart by its cast
    [same] = families([seat_flag(1, 0, "panic_model", "honey", 0.96), seat_flag(2, 1, "panic_model", "honey", 0.96)])
    assert same["text"].endswith(
        "panic_model (cast 0): holds honey where the stand-in buys (+0.96); "
        "panic_model (cast 1): holds honey where the stand-in buys (+0.96)"
    )
    # one seat: no names in the clauses (the title says the cast; the flags table the policy)
    [single] = families(rotated[:1] + rotated[2:3])
    assert single["text"] == (
        "Hazel at the seam (gambit_shock, five_minds, cast 0): holds berries where the stand-in buys (+1.00), "
        "holds honey where the stand-in buys (+0.75)"
    )
