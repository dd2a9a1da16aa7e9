"""What a README-against-behaviour audit found outside the README: a zero share printed "-0%"."""

from __future__ import annotations

from resume_setup import written

from glade.cli import main


def test_a_seat_that_contributes_nothing_to_a_negative_effect_has_a_share_of_0_not_minus_0(tmp_path, capsys):
    recipe = {
        "name": "tiny",
        "out": str(tmp_path / "results"),
        "policies": {"panic": {"kind": "standin", "disposition": "panic_seller"}},
        "councils": {"one_model": {"focal": {"*": "panic"}}},
        "scenarios": ["gambit_rumour"],
        "seeds": {"start": 500, "count": 5},
        "turns": 6,
        "attribution": True,
    }
    assert main(["eval", str(written(tmp_path / "eval.yaml", recipe))]) == 0
    out = " ".join(capsys.readouterr().out.split())
    # the legend ratio falls (a negative effect); oona's panic selling carries it, the others add nothing
    assert "legend_ratio in gambit_rumour, one_model: effect -0.078" in out
    assert "bramble (panic, cast 0) 0% (same share in all 5 seeds)" in out and "-0%" not in out


def test_attribution_lines_print_a_share_that_rounds_to_nothing_as_0_percent():
    from glade.eval.verdict_text import attribution_lines

    iv = {"mean": -0.05, "low": -0.07, "high": -0.03, "n": 5, "note": ""}
    seat = {"creature": "moss", "policy": "panic", "cast": 0, "share": -0.003, "share_ci": [-0.004, 0.2]}
    entry = {"effect_clear": True, "figure": "legend_ratio", "scenario": "s", "council": "c", "effect": iv}
    [line] = attribution_lines([{**entry, "seats": [seat], "interaction": iv}])
    assert "moss (panic, cast 0) 0% [0%, 20%]" in line and "-0%" not in line


def test_no_flags_possible_counts_one_paired_episode_in_the_singular():
    from glade.eval.fdr import untestable

    cells = [{"p_min": 1.0, "effect": 0.2, "n": 1}]
    assert "with at most 1 paired episode or seed per cell," in untestable({"testable": 0}, cells)
    cells = [{"p_min": 0.5, "effect": 0.2, "n": 2}]
    assert "with at most 2 paired episodes or seeds per cell," in untestable({"testable": 0}, cells)
