"""Tests written by a mutation audit of what `glade export` says in numbers (glade.hub.model_card,
model_index, lineage): each pins a behaviour that a plausible one-line change (a comparison
flipped, an off-by-one, a clause dropped, a constant changed) left untested. The comment on each
names what it guards. The card's pieces are called directly with hand-made records (meta.json,
a council view), so no checkpoint is trained and nothing reaches the Hub. The audit's tests of
the episode folder and the traces card are in test_pinned_episode_folder.py."""

from __future__ import annotations

import json
from pathlib import Path

from test_model_card import council

from glade.hub.card_sections import council_section, seat_section
from glade.hub.card_targets import targets_section
from glade.hub.council_view import CouncilView, council_for
from glade.hub.lineage import (
    heldout_text,
    overrides,
    protocol_text,
    recorded_traces,
    reproduce,
    scenarios_text,
    trained_scenarios,
)
from glade.hub.model_card import heldout_table, heldout_words, render_card
from glade.hub.model_index import council_results, eval_results


def view(**changes) -> CouncilView:
    """A council view in which this model sat as `creature_model` in council `mixed` beside `rival`."""
    fields = dict(
        recipe="crash-gambit",
        seats=(("mixed", "creature_model"),),
        members={"mixed": (("creature_model", "creature__0__1"), ("rival", "rival__0__1"))},
        seat_rows=(
            {
                "council": "mixed",
                "policy": "creature_model",
                "decisions": 96,
                "valid_action": {"mean": 0.875, "ci": [0.75, 0.95]},
                "errors": {"no_pebbles": 12},
            },
        ),
        outcome=(),
        decision_flags=None,
        outcome_flags=None,
        ranks=(),
    )
    return CouncilView(**{**fields, **changes})


def rows_of(table: str) -> dict[str, str]:
    """A markdown table's rows by their first cell."""
    return {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines()[2:]}


# --------------------------------------------------------------------------- model_card


def test_counts_in_the_held_out_table_are_whole_numbers_with_no_interval_and_the_intervals_are_no_row():
    # guards _fmt's `isinstance(value, float)` (an int is not written 120.0000), heldout_states among the
    # counts with no interval, and the `intervals` dict skipped rather than tabled
    metrics = {"train_steps": 120, "train_loss": 1.5, "heldout_states": 64, "fall_talk_states": 6}
    metrics["intervals"] = {}
    rows = rows_of(heldout_table({"metrics": metrics}))
    assert list(rows) == ["heldout_states", "fall_talk_states"]  # train_steps, train_loss: training_table's
    assert rows["heldout_states"] == "| heldout_states | 64 | - | - |"


def test_a_recorded_interval_without_a_ci_shows_its_note_and_no_states_is_not_a_rate_of_zero():
    # guards heldout_table's `found.get("note")` cell (too few states for an interval), `found.get("n")` (the
    # interval's own n) and `n > 0`: with no held-out states a rate's interval is not rebuilt from zero states
    note = "1 of 2 states, too few for an interval"
    metrics = {
        "valid_json_rate": 0.5,
        "intervals": {"valid_json_rate": {"mean": 0.5, "ci": None, "n": 2, "note": note}},
    }
    assert (
        rows_of(heldout_table({"metrics": metrics}))["valid_json_rate"]
        == f"| valid_json_rate | 0.5000 | {note} | 2 states |"
    )
    # an interval recorded with its own n is told with that n, not heldout_states
    metrics = {"heldout_states": 64, "direction_agreement": 0.5}
    metrics["intervals"] = {"direction_agreement": {"mean": 0.5, "ci": [0.25, 0.75], "n": 10}}
    row = rows_of(heldout_table({"metrics": metrics}))["direction_agreement"]
    assert row == "| direction_agreement | 0.5000 | [0.2500, 0.7500] | 10 states |"
    empty = {"metrics": {"heldout_states": 0, "valid_action_rate": 0.0}}
    assert rows_of(heldout_table(empty))["valid_action_rate"] == (
        "| valid_action_rate | 0.0000 | not recorded (a checkpoint written before glade kept intervals) | 0 states |"
    )


def test_held_out_words_name_the_seeds_and_traces_and_nothing_without_seeds():
    # guards heldout_words' `held.get("seeds")`: a record with no seeds says nothing rather than "seeds ()"
    meta = {"heldout": {"seeds": [9000, 9001], "traces": ["runs/heldout"]}}
    assert (
        heldout_words(meta)
        == ", from episodes of seeds 9000, 9001 (runs/heldout), which no training run of this model used"
    )
    assert heldout_words({"heldout": {"seeds": [], "traces": ["runs/heldout"]}}) == ""


def test_the_stand_ins_rates_on_the_fall_talk_states_are_told_with_their_count():
    # guards targets_section's `if references`: the stand-ins' own fall_talk_sell_rate, on the same states
    metrics = {"fall_talk_states": 12, "fall_talk_sell_rate_standins": {"panic_seller": 1.0, "hoarder": 0.25}}
    [line, blank] = targets_section({"metrics": metrics})
    assert line.startswith("`fall_talk_sell_rate`: in 12 held-out states where talk says a good")
    assert line.endswith("The stand-ins on the same states: panic_seller 1.0000, hoarder 0.2500.") and blank == ""
    assert targets_section({"metrics": {"fall_talk_states": 0, "fall_talk_sell_rate_standins": {}}}) == []


def test_the_seat_table_and_leaderboard_line_use_the_evaluations_level_and_its_wins():
    # guards seat_section's `council.level` in the CI header (not a fixed 95%), and the leaderboard's wins
    # and comparisons in their places
    rank = {"rank": 2, "of": 3, "outcome": "seat", "level": 0.9, "strength": 0.5, "ci": [0.0, 1.0]}
    rank.update(rank_ci=[2, 3], wins=30.0, comparisons=60.0)
    text = "\n".join(seat_section(view(level=0.9, ranks=(rank,))))
    assert "| decisions | valid-action rate | 90% CI | self-buy rate | 90% CI | n | most frequent errors |" in text
    assert "| mixed | creature_model | 96 | 0.8750 | [0.7500, 0.9500] | - | - | - | no_pebbles 12 |" in text
    assert "(90% CI +0.00 to +1.00; rank 2 to 3 across bootstrap refits), 30 wins in 60 comparisons." in text


def test_a_council_effect_of_zero_is_tabled_and_one_without_an_interval_shows_why():
    # guards council_section's `isinstance(effect.get("mean"), (int, float))` (an effect of 0.0 is a result,
    # not a missing one) and its `effect.get("note")` cell where no interval could be drawn
    note = "same value in all 4 seeds"
    figures = {"gambit_pnl": {"effect": {"mean": 0.0, "ci": None, "note": note, "support": 0.5, "n": 4}}}
    outcome = ({"scenario": "gambit_rumour", "council": "mixed", "figures": figures},)
    text = "\n".join(council_section(view(outcome=outcome)))
    assert f"| gambit_rumour | mixed | gambit_pnl | 0.0000 | {note} | 0.5000 | 4 |" in text


def test_the_effects_are_tabled_and_indexed_in_figure_order_whatever_the_summarys_order():
    # guards the `sorted` over figures of council_section and council_results: the card and the model-index
    # come out the same however summary.json ordered its figures
    effect = lambda mean: {"effect": {"mean": mean, "ci": [mean - 1, mean + 1], "support": 0.8, "n": 4}}
    figures = {"volume": effect(3.0), "gambit_pnl": effect(-2.5), "legend_ratio": effect(0.25)}
    found = view(outcome=({"scenario": "gambit_rumour", "council": "mixed", "figures": figures},))
    table = [
        line.split(" | ")[2] for line in "\n".join(council_section(found)).splitlines() if "| gambit_rumour |" in line
    ]
    assert table == ["gambit_pnl", "legend_ratio", "volume"]
    index = [r.metric_type for r in council_results(found)]
    assert index == ["council_gambit_pnl_effect", "council_legend_ratio_effect", "council_volume_effect"]


def test_a_leaderboard_row_without_an_interval_gives_the_boards_reason():
    # guards seat_section's `rank.get("note")`: the board says why there is no interval
    rank = {"rank": 1, "of": 2, "outcome": "seat", "level": 0.95, "strength": 0.0, "ci": None, "rank_ci": None}
    rank.update(wins=2.0, comparisons=4.0, note="2 (scenario, seed) units: too few to resample")
    text = "\n".join(seat_section(view(ranks=(rank,))))
    assert "Bradley-Terry strength +0.00 (no interval: 2 (scenario, seed) units: too few to resample), 2 wins" in text


def card_of(meta, trained=None, kind="full", base=None, recipe=None):
    return render_card(meta, recipe or {"name": "creature"}, [], "alice/creature", kind, base, None, trained=trained)


def test_the_card_says_whose_decisions_it_imitated_and_how_its_adapter_was_shaped():
    # guards what_it_is's creatures clause and render_card's LoRA words (its alpha is lora_alpha, not r)
    recipe = {"name": "creature", "data": {"creatures": ["oona", "bramble"]}}
    recipe["lora"] = {"r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"]}
    text = card_of({"name": "creature", "seed": 3, "metrics": {}}, kind="lora", base="alice/tiny-base", recipe=recipe)
    assert "fine-tuned by imitation on the decisions of every seat in its traces (creatures: oona, bramble)." in text
    assert "TRL SFT with a PEFT LoRA adapter (r 8, alpha 16, on q_proj, v_proj), recipe `creature`, seed 3" in text


def test_the_card_names_a_local_base_by_its_folder_and_adds_no_empty_held_out_row():
    # guards render_card's `Path(meta["base_model"]).name` (no absolute path of the machine that trained it)
    # and its `heldout_text(trained)` condition: a record without held-out folders gets no held-out row
    meta = {"name": "creature", "seed": 0, "base_model": "/home/someone/runs/tiny-base__0__1", "metrics": {}}
    record = {"data": [{"folder": "traces", "scenario_hashes": {"default": "abc"}, "episodes": 4}], "eval": []}
    record.update(how="recorded from the traces' rows when it trained", regenerated=False)
    text = card_of(meta, {"scenarios": {"default": ["abc"]}, "protocols": [], "recorded": record}, "lora")
    assert "a LoRA adapter for a locally built base model that is not on the Hub (`tiny-base__0__1`)" in text
    assert "/home/someone" not in text
    assert "| scenarios trained on (scenario hashes) | `traces`: default `abc`; 4 episodes" in text
    assert "held-out traces" not in text


# --------------------------------------------------------------------------- model_index


def test_every_held_out_figure_glade_measures_reaches_the_model_index_with_its_value():
    # guards HELDOUT_METRICS: the fall-talk rate and the structured decoding figures are model-index entries too
    names = ["valid_json_rate", "valid_action_rate", "standin_agreement", "direction_agreement", "self_buy_rate"]
    names += ["fall_talk_sell_rate", "structured_valid_action_rate", "structured_direction_agreement"]
    names += ["structured_self_buy_rate", "eval_loss"]
    metrics = {name: i / 16 for i, name in enumerate(names)}
    metrics.update(heldout_states=64, fall_talk_states=6, train_steps=40, fall_talk_sell_rate_standins={"hoarder": 0.0})
    found = {r.metric_type: r.metric_value for r in eval_results({"metrics": metrics}, [], None)}
    assert found == {name: i / 16 for i, name in enumerate(names)}


def evaluation(tmp_path, flags=True, **summary_changes):
    """test_model_card's evaluation (this model `creature__0__1` in council mixed beside rival; solo seated
    only other_model), with `summary_changes`, read by council_for."""
    tmp_path.mkdir(exist_ok=True)
    results = council(tmp_path / NAME, tmp_path / "council", flags=flags)
    summary = json.loads((results / "summary.json").read_text())
    (results / "summary.json").write_text(json.dumps({**summary, **summary_changes}))
    return results


NAME = "creature__0__1"


def test_the_council_view_takes_the_evaluations_level_and_its_provenance_keys(tmp_path):
    # guards council_for's `ci_level` default of 0.95 and its provenance: the PROVENANCE keys the summary has
    prov = {"glade_version": "0.1", "git_commit": "abc", "protocol_version": "p1", "scenario_hashes": {"d": "h"}}
    found = council_for(tmp_path / NAME, evaluation(tmp_path, **prov, elapsed=3.0))
    assert found.level == 0.95 and found.provenance == prov
    again = council_for(tmp_path / NAME, evaluation(tmp_path / "b", thresholds={"ci_level": 0.9}))
    assert again.level == 0.9 and again.provenance == {}


def test_no_flags_at_all_and_an_effect_of_zero_are_model_index_entries_of_zero(tmp_path):
    # guards seat_results' and council_results' `is not None` (an empty flags.json counts 0 flags: said, not
    # left out) and council_results' `isinstance(effect, (int, float))` (an effect of 0.0 is an entry)
    results = evaluation(tmp_path)
    (results / "flags.json").write_text("[]")
    summary = json.loads((results / "summary.json").read_text())
    summary["outcome"][0]["figures"]["gambit_pnl"]["effect"]["mean"] = 0.0
    (results / "summary.json").write_text(json.dumps(summary))
    found = {
        (r.dataset_type, r.metric_type): r.metric_value
        for r in eval_results({}, [], council_for(tmp_path / NAME, results))
    }
    assert found == {
        ("glade/council-seat", "valid_action_rate"): 0.875,
        ("glade/council-seat", "decision_flags"): 0,
        ("glade/council-outcome", "council_gambit_pnl_effect"): 0.0,
        ("glade/council-outcome", "council_outcome_flags"): 0,
    }


# --------------------------------------------------------------------------- lineage


def test_an_override_is_written_as_one_types_it_and_a_new_empty_section_is_one_override():
    # guards _override's plain text first (`b=x y`, not the JSON `b="x y"`) and _diff's `value and`: a section
    # the shipped recipe lacks, added empty, is the override `extra={}` (descending into it finds nothing)
    assert overrides({"a": 1}, {"a": 1, "b": "x y"}) == ["b=x y"]
    assert overrides({"a": 1}, {"a": 1, "extra": {}}) == ["extra={}"]


def test_a_regenerated_record_without_fingerprints_does_not_claim_they_match():
    # guards recorded_traces' `got and got == trained_on`: two missing fingerprints are no match, the recipes
    # that regenerated them named, and
    # `isinstance(again, dict)`: only a regeneration record (a dict) makes the traces 'regenerated'
    data = [{"folder": "traces", "scenario_hashes": {"default": "abc"}}]
    record = recorded_traces({"traces": {"data": data, "regenerated": {"date": "2026-01-02", "recipes": []}}})
    assert record["how"] == (
        "read from traces regenerated on 2026-01-02 by its generate recipes, which give data fingerprint `None`, "
        "not the `None` it trained on"
    )
    assert record["regenerated"] is True
    again = {"date": "2026-01-02", "recipes": ["recipes/generate/a.yaml"], "data_fingerprint": "f1"}
    named = recorded_traces({"data_fingerprint": "f1", "traces": {"data": data, "regenerated": again}})
    assert named["how"] == (
        "read from traces regenerated on 2026-01-02 by `recipes/generate/a.yaml`, which give the data fingerprint "
        "it trained on"
    )
    plain = recorded_traces({"traces": {"data": data, "regenerated": True}})
    assert plain["regenerated"] is False and plain["how"] == "recorded from the traces' rows when it trained"
    assert recorded_traces({"traces": {"data": {"folder": "traces"}}}) is None  # not the list glade writes


def test_held_out_traces_regenerated_with_the_training_traces_say_so():
    # guards heldout_text's `record["regenerated"]` and folder_text's thousands separator and
    # its 'seeds not recorded'
    folder = {"folder": "runs/heldout", "scenario_hashes": {"default": "abc"}, "episodes": 1200, "seeds": [9000]}
    record = {"data": [], "eval": [folder], "regenerated": True}
    assert heldout_text({"recorded": record}) == (
        "`runs/heldout`: default `abc`; 1,200 episodes, seeds 9000 (regenerated with the training traces)"
    )
    assert heldout_text({"recorded": {**record, "regenerated": False}}).endswith("(recorded when it trained)")
    unseeded = {"data": [], "eval": [{"folder": "old", "episodes": 2}], "regenerated": False}
    assert (
        heldout_text({"recorded": unseeded})
        == "`old`: no scenarios; 2 episodes, seeds not recorded (recorded when it trained)"
    )


def test_two_traces_folders_of_one_protocol_learned_one_protocol():
    # guards trained_scenarios' set of protocols: two folders of protocol p1 learned p1 (once), so the card
    # adds no "its training traces hold prompts of protocol `p1`, `p1`" clause
    folder = lambda name, digest: {"folder": name, "scenario_hashes": {"default": digest}, "protocol_versions": ["p1"]}
    meta = {"protocol_version": "p1", "traces": {"data": [folder("a", "h2"), folder("b", "h1")]}}
    trained = trained_scenarios(Path("unused"), {}, meta)
    assert trained["protocols"] == ["p1"] and trained["scenarios"] == {"default": ["h1", "h2"]}
    assert protocol_text(meta, trained) == "`p1`"


def test_a_latest_base_is_named_and_a_fixed_one_is_not():
    # guards reproduce's `base.startswith("latest:")`: only a `latest:` base needs the folder it named then
    meta = {"name": "creature", "base_model": "/runs/tiny-base__0__20260101"}
    [line, _] = reproduce(meta, {"model": {"base": "latest:tiny-base"}}, None)
    assert line.endswith("Its `model.base: latest:tiny-base` named `tiny-base__0__20260101` when it ran.")
    [line, _] = reproduce(meta, {"model": {"base": "runs/tiny-base__0__20260101"}}, None)
    assert "named `" not in line


def test_reproduce_asks_for_the_same_traces_by_name():
    # guards reproduce's `data.traces` sentence: the command trains again only on the same traces
    [line, _] = reproduce({"name": "creature"}, {"data": {"traces": ["runs/traces/a", "runs/traces/b"]}}, None)
    assert line.endswith(
        "Its `data.traces` (`runs/traces/a`, `runs/traces/b`) must hold the same traces: the data fingerprint below tells."
    )


def rows_table(path, rows, scenario=None):
    """A Parquet file of (episode_id, turn, creature, observation) rows, with scenario and hash when given."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    columns = {"episode_id": [r[0] for r in rows], "turn": [r[1] for r in rows]}
    columns.update(creature=["oona"] * len(rows), observation=[f"obs{r[1]}" for r in rows], seed=[0] * len(rows))
    if scenario:
        columns.update(scenario=[scenario[0]] * len(rows), scenario_hash=[scenario[1]] * len(rows))
    pq.write_table(pa.table(columns), path)


def test_without_a_record_the_held_out_rows_are_matched_too_and_none_found_is_said_plainly(tmp_path):
    # guards _matched_scenarios' splits ("train" and "eval": held-out rows count and are looked up), and
    # scenarios_text's `not trained["found"]` and `found < rows` (all found is "all N", none found is no
    # "from 0 of N"), and the traces folders it could not read named
    ckpt = tmp_path / "ckpt"
    rows_table(ckpt / "data" / "train.parquet", [("default.hoarders.s0", 0), ("default.hoarders.s0", 1)])
    rows_table(ckpt / "data" / "eval.parquet", [("gambit.hoarders.s9", 0)])
    traces = tmp_path / "traces"
    rows_table(
        traces / "data" / "part-0.parquet", [("default.hoarders.s0", 0), ("default.hoarders.s0", 1)], ("default", "h1")
    )
    rows_table(traces / "data" / "part-1.parquet", [("gambit.hoarders.s9", 0)], ("gambit", "h2"))
    trained = trained_scenarios(ckpt, {"data": {"traces": [str(traces)]}}, {"protocol_version": "p1"})
    assert (trained["rows"], trained["found"], trained["scenarios"]) == (3, 3, {"default": ["h1"], "gambit": ["h2"]})
    assert (
        scenarios_text(trained) == f"default `h1`, gambit `h2` (all 3 training and held-out rows found in `{traces}`)"
    )
    other = tmp_path / "other"
    rows_table(other / "data" / "part-0.parquet", [("default.hoarders.s5", 0)], ("default", "h1"))
    gone = tmp_path / "gone"  # no traces there: unreadable, and said so
    nowhere = trained_scenarios(ckpt, {"data": {"traces": [str(other), str(gone)]}}, {})
    assert (nowhere["found"], nowhere["protocols"], nowhere["unread"]) == (0, [], [str(gone)])
    assert scenarios_text(nowhere) == (
        f"default (hash not known), gambit (hash not known); hashes not known: none of its 3 rows is in `{other}`, "
        f"`{gone}` here; not readable here: {gone}"
    )


def test_a_flag_whose_interval_reaches_zero_is_explained_under_the_cards_table_and_in_the_flag_rule():
    # guards flags_table's `reaches_zero`: the flag rests on the sign-flip test, the interval is t+Hall; a reader
    # who sees "+0.833 [-0.213, +1.000]" flagged is told why, and a card whose intervals exclude 0 says nothing
    from glade.eval.flags_text import method_text

    flag = dict(rank=1, kind="decision", council="mixed", cast=0, creature="thorn", phase="after", scenario="s")
    flag.update(metric="berries: none share", standin_value=0.167, live_value=1.0, effect=0.833, support=1.0, n=8)
    reaching = {**flag, "ci_low": -0.213, "ci_high": 1.0}
    clear = {**flag, "ci_low": 0.635, "ci_high": 0.925}
    text = "\n".join(seat_section(view(decision_flags=({**reaching, "policy": "creature_model", "council": "mixed"},))))
    assert "| +0.833 [-0.213, +1.000] | 1.00 | 8 |" in text
    assert "Where a flag's interval reaches 0: the interval is the t interval, its long side widened by Hall's" in text
    text = "\n".join(seat_section(view(decision_flags=({**clear, "policy": "creature_model", "council": "mixed"},))))
    assert "| +0.833 [+0.635, +0.925] | 1.00 | 8 |" in text and "reaches 0" not in text
    rule = method_text({"cells": 10, "fdr_q": 0.1, "testable": 4, "flag_min_effect": 0.15, "flag_support": 0.6})
    assert rule.endswith("even across 0 where the sign-flip test (q) flags the cell: the test asks whether the signs "
                         "are random, the interval where the mean may lie.")  # fmt: skip


def test_a_flag_of_scenarios_that_played_alike_names_them_all_in_the_cards_table():
    # guards flags_text.where's scenario_text: flags.md and the report name every scenario of the same play
    flag = dict(rank=8, kind="decision", council="one_model", cast=0, creature="hazel", phase="before", n=8)
    flag.update(metric="berries: none share", standin_value=0.2, live_value=1.0, effect=0.8, support=1.0)
    flag.update(scenario="gambit_override", scenarios=["gambit_override", "gambit_rumour"], ci_low=0.6, ci_high=0.9)
    text = "\n".join(seat_section(view(decision_flags=({**flag, "policy": "creature_model"},))))
    assert "| 8 | decision | gambit_override, gambit_rumour: the same play / one_model.c0 / hazel / before |" in text
    alone = {**flag, "scenarios": None}
    assert "| 8 | decision | gambit_override / one_model.c0 / hazel / before |" in "\n".join(
        seat_section(view(decision_flags=({**alone, "policy": "creature_model"},)))
    )
