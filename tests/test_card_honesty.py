"""What the model card and its model-index claim, read against what the numbers are: a target met
only on the mean, eval_loss apart from the held-out seeds, lm-eval scores beside their baselines,
the seat's n and self-buy rate, the council figures the card and the index both carry, a base
glade ships named by its export's repo id, and an interval that spans all of [0, 1] said in words.
The card's pieces are called with hand-made records: nothing is trained and nothing reaches the Hub."""

from __future__ import annotations

import json
from pathlib import Path

from glade import checkpoint as checkpoints
from glade.hub import cards
from glade.hub.card_sections import lm_eval_record, lm_eval_section, seat_section
from glade.hub.card_targets import targets_section
from glade.hub.council_view import CouncilView
from glade.hub.export import _local_base
from glade.hub.model_card import heldout_table, render_card, training_table
from glade.hub.model_index import base_hub_id, council_results, eval_results, seat_results


def rows_of(table: str) -> dict[str, str]:
    return {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines()[2:]}


# --------------------------------------------------------------------------- 1: targets


def test_a_target_met_on_the_mean_whose_interval_reaches_past_it_is_not_told_as_met():
    targets = {
        "valid_action_rate": {"target": ">= 0.9", "measured": 0.96, "met": True, "ci": [0.92, 0.99], "shown": True},
        "direction_agreement": {
            "target": ">= 0.85",
            "measured": 0.88,
            "met": True,
            "ci": [0.8, 0.93],
            "shown": False,
        },
        "self_buy_rate": {"target": "<= 0.01", "measured": 0.0, "met": True, "ci": None, "shown": None},
        "standin_agreement": {"target": ">= 0.9", "measured": 0.5, "met": False, "ci": [0.4, 0.6], "shown": None},
    }
    intervals = {name: {"n": 48} for name in targets}
    [head, _, table, _] = targets_section({"targets": targets, "metrics": {"intervals": intervals}})
    assert "met: the measured figure and its whole 95% interval on the target's side" in head
    rows = rows_of(table)
    assert rows["valid_action_rate"] == "| valid_action_rate | >= 0.9 | 0.9600 | [0.9200, 0.9900] | 48 states | met |"
    assert rows["direction_agreement"] == (
        "| direction_agreement | >= 0.85 | 0.8800 | [0.8000, 0.9300] | 48 states | met on the mean; the interval "
        "[0.8000, 0.9300] reaches past the target: too few states to show it |"
    )
    assert rows["self_buy_rate"] == "| self_buy_rate | <= 0.01 | 0.0000 | - | 48 states | met (no interval) |"
    assert rows["standin_agreement"].endswith("| [0.4000, 0.6000] | 48 states | **not met** |")
    # missed on the mean, but the interval reaches the target: too few states either way
    missed = {"target": "<= 0.01", "measured": 0.0208, "met": False, "ci": [0.0005, 0.1107], "shown": None}
    [_, _, table, _] = targets_section({"targets": {"self_buy_rate": missed}, "metrics": {"intervals": intervals}})
    assert rows_of(table)["self_buy_rate"].endswith(
        "| **not met** on the mean; the interval [0.0005, 0.1107] reaches the target: too few states to show it "
        "either way |"
    )


def test_targets_recorded_before_glade_checked_their_interval_still_render_as_met_or_not():
    targets = {"valid_action_rate": {"target": ">= 0.9", "measured": 0.95, "met": True}}
    targets["self_buy_rate"] = {"target": "<= 0.01", "measured": 0.1, "met": False}
    [head, _, table, _] = targets_section({"targets": targets})
    assert head == "Targets (from the recipe's `eval.targets`):"
    assert rows_of(table)["valid_action_rate"] == "| valid_action_rate | >= 0.9 | 0.9500 | - | - | met |"
    assert rows_of(table)["self_buy_rate"] == "| self_buy_rate | <= 0.01 | 0.1000 | - | - | **not met** |"


# --------------------------------------------------------------------------- 2: eval_loss


def test_eval_loss_is_a_training_figure_on_the_trainers_own_split_not_a_held_out_one():
    metrics = {"train_steps": 40, "train_loss": 0.32, "eval_loss": 0.28, "heldout_states": 48}
    metrics.update(valid_action_rate=0.5, intervals={"valid_action_rate": {"ci": [0.35, 0.65], "n": 48}})
    meta = {"metrics": metrics, "data_counts": {"train": 1342, "eval": 8, "eval_episodes": 1}}
    held = rows_of(heldout_table(meta))
    assert list(held) == ["heldout_states", "valid_action_rate"]
    [words, _, table, _] = training_table(meta)
    assert "`eval_loss` is on the held-out episodes of the training traces: episodes `glade train` set aside" in words
    assert "of the training traces' seeds, not the held-out seeds of the Evaluation below." in words
    assert rows_of(table)["eval_loss"] == "| eval_loss | 0.2800 | 8 rows of 1 episode(s); no interval |"
    assert list(rows_of(table)) == ["train_steps", "train_loss", "eval_loss"]
    found = {(r.dataset_type, r.metric_type) for r in eval_results(meta, [], None)}
    assert found == {("glade/wood-heldout", "valid_action_rate"), ("glade/sft-eval-split", "eval_loss")}


# --------------------------------------------------------------------------- 3: lm-eval baselines


def lm_rows() -> list[dict]:
    row = lambda task, metric, value: {"task": task, "metric": metric, "value": value, "stderr": 0.08, "n": 24}
    return [
        {**row("glade_direction_mc", "acc", 0.208), "interval": {"mean": 0.47, "ci": [0.0, 1.0], "n": 5}},
        row("glade_decision_gen", "standin_agreement", 0.625),
        row("glade_decision_gen", "self_buy", 0.0),
    ]


BASELINES = {
    "glade_direction_mc": {"best_constant": {"answer": "hold", "acc": 0.458}, "chance": 1 / 3, "documents": 24},
    "glade_decision_gen": {"empty_answer": {"standin_agreement": 0.54, "self_buy": 0.0}, "documents": 24},
}


def test_lm_eval_scores_sit_beside_chance_the_best_constant_and_the_empty_answer(tmp_path):
    data = {"held_out": "the checkpoint's held-out split (data/eval.parquet)", "held_out_episodes": 3}
    (tmp_path / "lm_eval").mkdir()
    (tmp_path / "lm_eval" / "results.json").write_text(json.dumps({"scores": {}, "data": data, "baselines": BASELINES}))
    record = lm_eval_record(tmp_path)
    assert record == {"data": data, "baselines": BASELINES} and lm_eval_record(tmp_path / "none") == {}
    text = "\n".join(lm_eval_section(lm_rows(), record))
    assert "| chance | best constant answer | empty answer |" in text
    assert "| 24 | 0.4700, no useful interval at n = 5 | 5 | 0.3333 | always hold 0.4580 | - |" in text
    assert "| glade_decision_gen | standin_agreement | 0.6250 | 0.0800 | 24 | - | - | - | - | 0.5400 |" in text
    assert (
        "Worse than a baseline on the same documents (point values; stderr above): glade_direction_mc acc 0.2080 < "
        "chance 0.3333, always hold 0.4580." in text
    )
    # the documents' source: held out from training, but of the training traces' seeds
    assert "A task's documents are turns of 3 episodes `glade train` set aside from its own training traces" in text
    assert "not the held-out seeds of the Evaluation table above" in text


# --------------------------------------------------------------------------- 4: the seat


def view(**changes) -> CouncilView:
    seat = {
        "council": "five_minds",
        "policy": "speculator_model",
        "decisions": 240,
        "valid_action": {"mean": 0.9625, "ci": [0.7467, 1.0], "n": 8},
        "self_buy": {"mean": 0.0917, "ci": [0.067, 0.1231], "n": 8},
        "errors": {"sell_not_held": 5},
    }
    fields = dict(
        recipe="crash-gambit",
        seats=(("five_minds", "speculator_model"),),
        members={"five_minds": (("speculator_model", "x"), ("base_model", "tiny-base"))},
        seat_rows=(seat,),
        outcome=(),
        decision_flags=(),
        outcome_flags=(),
        ranks=(),
    )
    return CouncilView(**{**fields, **changes})


def test_the_seat_table_gives_its_n_in_seeds_and_its_self_buy_rate_and_the_index_has_both_rates():
    text = "\n".join(seat_section(view()))
    assert "| decisions | valid-action rate | 95% CI | self-buy rate | 95% CI | n | most frequent errors |" in text
    assert "| 240 | 0.9625 | [0.7467, 1.0000] | 0.0917 | [0.0670, 0.1231] | 8 seeds | sell_not_held 5 |" in text
    found = {r.metric_type: r.metric_value for r in seat_results(view())}
    assert found == {"valid_action_rate": 0.9625, "self_buy_rate": 0.0917, "decision_flags": 0}


# --------------------------------------------------------------------------- 5: council figures


def test_the_model_index_publishes_only_the_council_figures_the_card_tables():
    effect = {"effect": {"mean": 0.1, "ci": [0.0, 0.2], "support": 0.8, "n": 8}}
    figures = {name: effect for name in ("gambit_pnl", "volume", "traded_move", "path_distance_honey")}
    outcome = ({"scenario": "gambit_rumour", "council": "five_minds", "figures": figures},)
    found = [r.metric_type for r in council_results(view(outcome=outcome)) if r.metric_type.endswith("_effect")]
    assert found == ["council_gambit_pnl_effect", "council_volume_effect"]


# --------------------------------------------------------------------------- 6: a shipped base


def shipped_base(tmp_path, repo_id: str | None) -> Path:
    folder = tmp_path / "models" / "tiny-base"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    if repo_id:
        (folder / cards.MARKER).write_text(json.dumps({"repo_id": repo_id, "repo_type": "model"}))
    return folder


def test_a_shipped_base_is_named_by_the_repo_id_of_its_export(tmp_path, monkeypatch):
    folder = shipped_base(tmp_path, "glade/tiny-base")
    meta = {"base_model": str(folder), "base_model_given": "shipped:tiny-base", "name": "c", "seed": 0}
    assert base_hub_id(meta) == "glade/tiny-base"
    # the folder it trained on gone: the shipped one of this glade names it
    monkeypatch.setattr(cards, "shipped_root", lambda: tmp_path / "models")
    assert base_hub_id({**meta, "base_model": str(tmp_path / "gone")}) == "glade/tiny-base"
    # a local folder's own export marker is not a Hub repo: only a shipped base is read that way
    assert base_hub_id({**meta, "base_model_given": str(folder)}) is None
    assert _local_base(checkpoints.Checkpoint(tmp_path, meta, "lora", str(folder)), False, None) is None
    text = render_card(meta, {"name": "c"}, [], "me/c", "lora", "glade/tiny-base", None)
    assert "a LoRA adapter for `glade/tiny-base` (glade's shipped base `shipped:tiny-base`, under the repo id" in text
    assert 'AutoModelForCausalLM.from_pretrained("glade/tiny-base")' in text and "BASE_CHECKPOINT" not in text


def test_a_shipped_base_without_a_repo_id_is_told_how_to_export_it_by_its_name(tmp_path, monkeypatch):
    folder = shipped_base(tmp_path, None)
    monkeypatch.setattr(cards, "shipped_root", lambda: tmp_path / "models")
    meta = {"base_model": str(folder), "base_model_given": "shipped:tiny-base", "name": "c", "seed": 0}
    assert base_hub_id(meta) is None
    text = render_card(meta, {"name": "c"}, [], "me/c", "lora", None, None)
    assert "a LoRA adapter for glade's shipped base `shipped:tiny-base`, whose export names no repo id" in text
    assert (
        "export it too (`glade export shipped:tiny-base --repo-id OWNER/tiny-base`) and re-export this adapter "
        "with `--base-model OWNER/tiny-base`." in text
    )
    assert "BASE_CHECKPOINT" not in text


# --------------------------------------------------------------------------- 7: intervals over all of [0, 1]


def test_an_interval_over_all_of_zero_to_one_is_said_to_say_nothing_at_its_n():
    metrics = {"valid_json_rate": 1.0, "intervals": {"valid_json_rate": {"ci": [0.0, 1.0], "n": 2}}}
    assert rows_of(heldout_table({"metrics": metrics}))["valid_json_rate"] == (
        "| valid_json_rate | 1.0000 | no useful interval at n = 2 | 2 states |"
    )
    seat = {**view().seat_rows[0], "self_buy": {"mean": 0.5, "ci": [0.0, 1.0], "n": 3}}
    assert "| 0.5000 | no useful interval at n = 3 |" in "\n".join(seat_section(view(seat_rows=(seat,))))
