"""A signed figure that rounds to zero reads +0.00, never -0.00, in the texts that had kept the plain
format: flag effects and their interval ends, the gambit's P&L (and its colour), the gambit's cover
event, and a model card's Bradley-Terry strength and interval. A mean of -4e-4 is no loss."""

from __future__ import annotations

from test_pinned_export_numbers import view
from test_pinned_verdict_words import _summary

from glade.console_tables import summary_lines, turn_table
from glade.env.scenario import load_scenario
from glade.eval.families import effect_text, member_text
from glade.hub.card_sections import seat_section


def test_a_flag_effect_and_its_ends_that_round_to_zero_read_plus_zero():
    flag = {"effect": -0.0004, "ci_low": -0.21, "ci_high": -0.0001}
    assert effect_text(flag) == "+0.000 [-0.210, +0.000]"
    assert effect_text({"effect": -0.0004, "ci_note": "n 2"}, "+.2f") == "+0.00 (n 2)"
    outcome = {"kind": "outcome", "metric": "crash", "effect": -0.0, "ci_low": None, "standin_value": 0.0}
    outcome.update(live_value=0.0, ci_note="same value in all 6 seeds")
    assert member_text(outcome).startswith("crash +0 (same value in all 6 seeds;")


def test_a_gambit_pnl_of_minus_a_tenth_of_a_cent_reads_plus_zero_in_green():
    lines = summary_lines(load_scenario("gambit_shock", turns=8), _summary(8, -0.001))
    assert "[bold green]+0.00[/]" in lines[1]
    assert "[bold red]-0.01[/]" in summary_lines(load_scenario("gambit_shock", turns=8), _summary(8, -0.006))[1]


def test_a_cover_event_of_float_noise_reads_plus_zero():
    s = load_scenario("gambit_shock", turns=2)
    base = {"prices": {g: 1.0 for g in s.goods}, "events": [], "seam_writes": [], "trades": 0, "volume": {}}
    history = [{**base, "turn": 0, "gambit_pnl": 0.0}, {**base, "turn": 1, "gambit_pnl": -1e-12}]
    text = " ".join(str(cell) for column in turn_table(s, 7, history).columns for cell in column._cells)
    assert "gambit covered +0.00" in text and "-0.00" not in text


def test_a_model_cards_strength_and_interval_ends_near_zero_read_plus_zero():
    rank = {"rank": 1, "of": 2, "outcome": "seat", "level": 0.95, "strength": -0.001, "ci": [-0.0004, 1.0]}
    rank.update(rank_ci=[1, 2], wins=3.0, comparisons=4.0)
    card = "\n".join(seat_section(view(ranks=(rank,))))
    assert "Bradley-Terry strength +0.00 (95% CI +0.00 to +1.00; rank 1 to 2" in card
