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
