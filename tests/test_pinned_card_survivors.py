"""Tests written by a mutation audit of the model card and its model-index (glade.hub.model_card,
model_index, card_sections): each pins what a one-line change (a clause dropped, two values swapped,
a threshold moved) changed in the card unnoticed. The comment on each names what it guards."""

from __future__ import annotations

import json

from test_card_reader_fixes import META, card
from test_pinned_export_numbers import view

from glade.hub.card_sections import lm_source
from glade.hub.card_targets import targets_section
from glade.hub.council_view import ranks_for
from glade.hub.model_card import base_doubt, seconds
from glade.hub.model_index import seat_results


def rank_row(entry: str, note: str | None) -> dict:
    return {
        "rank": 1,
        "entry": entry,
        "strength": 0.0,
        "ci": None,
        "rank_ci": None,
        "note": note,
        "wins": 1.0,
        "comparisons": 2.0,
    }


def test_the_leaderboard_entry_names_its_rank_and_the_boards_size():
    # guards seat_results' metric_name "strength (rank R of N)": the "of N" says what the rank means
    rank = {"rank": 2, "of": 3, "outcome": "seat", "level": 0.95, "strength": 0.5, "ci": [0.0, 1.0]}
    rank.update(rank_ci=[2, 3], wins=30.0, comparisons=60.0, entry="hf:base+creature")
    [found] = [r for r in seat_results(view(ranks=(rank,))) if r.metric_type == "bradley_terry_strength"]
    assert (found.task_name, found.metric_name, found.metric_value) == (
        "leaderboard (seat comparisons, Bradley-Terry)",
        "strength (rank 2 of 3)",
        0.5,
    )


def test_the_boards_note_wins_over_the_entrys(tmp_path):
    # guards ranks_for's `extra["note"] or row.get("note")`: too few seeds for any interval is said with
    # the board's count, not the entry's own
    board = {
        "outcome": "seat",
        "level": 0.95,
        "note": "too few seeds for an interval: 3, at least 8",
        "board": [rank_row("hf:base+m", "too few seeds for an interval: 2, at least 8"), rank_row("standin:x", None)],
    }
    (tmp_path / "rank.json").write_text(json.dumps(board))
    [found] = ranks_for(tmp_path, "m")
    assert (found["note"], found["of"]) == ("too few seeds for an interval: 3, at least 8", 2)
    board["note"] = None
    (tmp_path / "rank.json").write_text(json.dumps(board))
    assert ranks_for(tmp_path, "m")[0]["note"] == "too few seeds for an interval: 2, at least 8"


def test_the_lm_eval_source_names_how_many_states_were_left_out_of_how_many():
    # guards left_out_words' order: rows left out, then the split's size
    text = lm_source(
        {
            "held_out": "the checkpoint's held-out split (data/eval.parquet)",
            "held_out_episodes": 3,
            "trained_on_left_out": {"rows": 12, "of": 1500},
        }
    )
    assert text.startswith("turns of 3 episodes `glade train` set aside")
    assert text.endswith("; 12 of its 1,500 states left out, their prompt being in a training split")


def test_a_target_recorded_before_its_ci_takes_the_metrics_interval():
    # guards targets_section's fallback to metrics.intervals for a target written before targets had a ci
    meta = {
        "targets": {"valid_action_rate": {"target": ">= 0.9", "measured": 0.95, "met": True}},
        "metrics": {"intervals": {"valid_action_rate": {"ci": [0.91, 0.98], "n": 40}}},
    }
    assert "| valid_action_rate | >= 0.9 | 0.9500 | [0.9100, 0.9800] | 40 states | met |" in "\n".join(
        targets_section(meta)
    )


def test_a_run_under_ten_minutes_is_told_in_seconds():
    # guards seconds' threshold: 90 s was "2 min" (1.5 rounded up); whole minutes only where that is off by 5% at most
    assert [seconds(v) for v in (32.9, 75, 90, 599, 600, 2100)] == ["33 s", "75 s", "90 s", "599 s", "10 min", "35 min"]
    text = card(meta={**META, "wall_seconds": 75.0})
    assert "The run that made this one took 75 s, 7 s of it in the trainer, 6 steps." in text


def test_only_an_adapters_card_names_the_base_it_needs():
    # guards `exported_kind == "lora"` on the base-fingerprint row and on the unverified-base line: a merged
    # model carries its base's weights, so neither is said of it
    assert "| base fingerprint |" in card() and "| base fingerprint |" not in card(exported_kind="merged")
    assert "Unverified base" in card(base_unverified=True)
    assert "Unverified base" not in card(exported_kind="merged", base_unverified=True)


def test_an_adapter_on_the_shipped_bases_recorded_repo_id_is_doubted():
    # guards base_doubt's `base == shipped_repo_id(meta)` branch: nothing offline shows that repo was pushed
    [line, blank] = base_doubt({"base_model_given": "shipped:tiny-base"}, "glade/tiny-base", False, "lora")
    assert line == (
        "Unverified base: nothing offline showed that `glade/tiny-base` on the Hub holds the base weights this model "
        "was trained on (it is the repo id glade's export of `shipped:tiny-base` records); the base fingerprint above "
        "names them."
    )
    assert blank == ""
    assert base_doubt({"base_model_given": "shipped:tiny-base"}, "someone/else", False, "lora") == []
