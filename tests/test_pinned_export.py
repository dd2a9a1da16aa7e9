"""Tests written by a mutation audit of `glade export` and `glade export-traces` (glade.hub.export,
cards, model_card, lineage, model_index, export_traces; glade.traces_card, glade.provenance):
each pins a behaviour that a plausible one-line change (a comparison flipped, an off-by-one, a
clause dropped, a constant changed) left untested. The comment on each names what it guards.
The Hub is the fake of fake_hub.py; nothing reaches the network. The tests of lineage,
export_traces, traces_card and provenance are in test_pinned_export_traces.py."""

from __future__ import annotations

import json

import pytest
from test_export_review import copy_of
from test_model_card import ckpt, council, export  # noqa: F401  (ckpt: the module's full-model checkpoint)

from glade.hub.cards import check_repo_id
from glade.hub.export import export_checkpoint

BASE = "alice/tiny-base"


def full_checkpoint(folder):
    """A full-model checkpoint as glade writes one (the tiny model and a meta.json), trained on nothing."""
    from glade.train.tiny import save_tiny

    save_tiny(folder)
    (folder / "meta.json").write_text(json.dumps({"name": "creature", "seed": 0, "kind": "full", "base_model": None}))
    (folder / "recipe.yaml").write_text("name: creature\n")  # the recipe glade train writes beside meta.json
    return folder


# --------------------------------------------------------------------------- export


def test_an_adapter_whose_weights_are_not_safetensors_is_refused_though_it_has_a_meta_json(trained_creature, tmp_path):
    # guards exportable's `not found.meta or not has_weights`: meta.json alone does not make an exportable checkpoint
    _, adapter = trained_creature
    folder, _ = copy_of(adapter, tmp_path)
    (folder / "adapter_model.safetensors").rename(folder / "adapter_model.bin")  # a pickle, as older PEFT wrote
    with pytest.raises(ValueError, match=r"not a glade checkpoint \(expected meta.json and adapter_model.safetensors"):
        export_checkpoint(folder, "alice/creature", out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_tokenizer_that_names_custom_code_is_refused(trained_creature, tmp_path):
    # guards exportable's check of tokenizer_config.json (not only config.json and adapter_config.json) for auto_map
    _, adapter = trained_creature
    folder, _ = copy_of(adapter, tmp_path)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["auto_map"] = {"AutoTokenizer": ["tokenization_x.XTokenizer", None]}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"tokenizer_config.json: names custom code \(auto_map\)"):
        export_checkpoint(folder, "alice/creature", out=tmp_path / "out")


def test_merge_of_a_full_checkpoint_exports_it_as_the_full_model_it_is(tmp_path):
    # guards `exported_kind = "merged" if merge and kind == "lora"`: --merge has nothing to merge in a full model
    from huggingface_hub import ModelCard

    full = full_checkpoint(tmp_path / "creature__0__20260101-000000")
    out = export_checkpoint(full, "alice/creature", merge=True, out=tmp_path / "out")
    meta = json.loads((out / "meta.json").read_text())
    assert meta["kind"] == "full" and "merged_from" not in meta
    assert json.loads((out / "glade_export.json").read_text())["kind"] == "full"
    text = ModelCard.load(out / "README.md").text
    assert "This repository holds the full model, the tokenizer" in text and "adapter merged" not in text


def test_a_merged_export_names_the_adapter_it_was_merged_from_and_the_card_its_name(trained_creature, tmp_path):
    # guards `exported_meta["merged_from"] = checkpoint.name` on --merge, and the card's model_name (NAME of OWNER/NAME)
    from huggingface_hub import ModelCard

    _, adapter = trained_creature
    out = export_checkpoint(adapter, "alice/creature-merged", merge=True, out=tmp_path / "out")
    meta = json.loads((out / "meta.json").read_text())
    assert meta["kind"] == "merged" and meta["merged_from"] == adapter.name and meta["base_model"] is None
    card = ModelCard.load(out / "README.md")
    assert card.data.model_name == "creature-merged" and card.data.library_name == "transformers"
    assert card.text.lstrip().startswith("# creature-merged\n")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"base_model": "tiny-base"}, "--base-model 'tiny-base': expected a Hub id OWNER/NAME"),
        ({"dataset": "alice/wood traces"}, "--dataset 'alice/wood traces': expected a Hub id OWNER/NAME"),
    ],
)
def test_a_base_model_or_dataset_that_is_no_hub_id_is_refused_before_anything_is_written(
    trained_creature, tmp_path, kwargs, message
):
    # guards export_checkpoint's REPO_ID check of --base-model and --dataset (they go into the card's front matter)
    _, adapter = trained_creature
    with pytest.raises(ValueError, match=message):
        export_checkpoint(adapter, "alice/creature", out=tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".*partial"))


# --------------------------------------------------------------------------- cards


def test_a_repo_name_of_96_characters_is_accepted_and_97_refused():
    # guards check_repo_id's `len(name) > 96` (the Hub's limit on a repo name)
    assert check_repo_id("alice/" + "x" * 96) == "alice/" + "x" * 96
    with pytest.raises(ValueError, match="expected OWNER/NAME"):
        check_repo_id("alice/" + "x" * 97)


@pytest.mark.parametrize("repo_id", ["alice/glade--hoarder", "alice/glade..hoarder", "al--ice/x", "al..ice/x"])
def test_a_double_dash_or_double_dot_in_a_repo_id_is_refused(repo_id):
    # guards check_repo_id's `"--" in repo_id` and `".." in repo_id` (the regex alone lets both through)
    assert check_repo_id("alice/glade-hoarder.v2") == "alice/glade-hoarder.v2"
    with pytest.raises(ValueError, match=rf"--repo-id '{repo_id}': expected OWNER/NAME"):
        check_repo_id(repo_id)


def test_an_empty_out_folder_is_used_and_a_leftover_partial_folder_is_not_carried_into_it(trained_creature, tmp_path):
    # guards start_folder's `any(out.iterdir())` (an empty folder is not someone else's) and its removal of a
    # stale `.OUT.partial` (an interrupted export's files never reach the new folder)
    from glade.hub.export_traces import export_traces

    root, _ = trained_creature
    out = tmp_path / "out"
    out.mkdir()
    stale = tmp_path / ".out.partial"
    stale.mkdir()
    (stale / "left-over.txt").write_text("from an interrupted export")
    assert export_traces(root / "traces", "alice/wood-traces", out=out) == out
    assert not (out / "left-over.txt").exists() and not stale.exists()
    assert json.loads((out / "glade_export.json").read_text())["shards"] == len(list((out / "data").iterdir()))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="exists and is not a glade export folder"):
        export_traces(root / "traces", "alice/wood-traces", out=tmp_path / "mine")


def test_portable_shortens_home_and_absolute_paths_in_dicts_and_lists_and_keeps_the_rest():
    # guards portable's `value.startswith("~")` clause and its list branch; Hub ids and relative paths stay
    from glade.hub.cards import portable

    recipe = {
        "out": "~/runs/traces",
        "data": {"traces": ["/home/alice/runs/a", "runs/b", "~alice/c"]},
        "model": {"base": "alice/tiny-base"},
        "turns": 3,
        "root": "/",
    }
    assert portable(recipe) == {
        "out": "traces",
        "data": {"traces": ["a", "runs/b", "c"]},
        "model": {"base": "alice/tiny-base"},
        "turns": 3,
        "root": "/",
    }


def test_a_refusal_to_make_a_repo_private_names_that_step_and_uploads_nothing(trained_creature, tmp_path):
    # guards push's `step = "making the repo private"`: the message says which request the Hub refused
    from fake_hub import RecordingApi, http_error

    from glade.hub.cards import PushFailed
    from glade.hub.export_traces import export_traces

    class NoSettings(RecordingApi):
        def update_repo_settings(self, repo_id, **kwargs):
            raise http_error(400, "private repos are not available on this plan")

    root, _ = trained_creature
    NoSettings.reset({"alice/wood-traces": {"private": False, "files": {".gitattributes", "old.txt"}}})
    with pytest.raises(PushFailed) as info:
        export_traces(
            root / "traces", "alice/wood-traces", private=True, out=tmp_path / "o", push=True, api=NoSettings()
        )
    assert info.value.reason == (
        "the Hub answered HTTP 400 while making the repo private: private repos are not available on this plan"
    )
    assert [name for name, _ in NoSettings.calls] == ["create_repo", "repo_info"]
    assert NoSettings.repos["alice/wood-traces"]["files"] == {".gitattributes", "old.txt"}


# --------------------------------------------------------------------------- model_index


def test_its_own_seat_table_holds_only_its_own_seats_not_a_rival_of_the_same_council(ckpt, tmp_path):  # noqa: F811
    # guards council_for's `seat_rows` filter on (council, policy): rival sat in council mixed too, and its
    # valid-action rate (0.5) is not this model's
    card = export(ckpt, tmp_path / "out", "--council", str(council(ckpt, tmp_path / "council")))
    own = card.text.split("Its own seat (its decisions only):")[1].split("\n\n")[1]
    assert own.splitlines()[2:] == [
        "| mixed | creature_model | 96 | 0.8750 | [0.7500, 0.9500] | - | - | 8 seeds | no_pebbles 12 |"
    ]
    assert "| mixed | rival |" not in card.text


def test_every_held_out_number_of_meta_json_reaches_the_model_index_and_nothing_else_does():
    # guards HELDOUT_METRICS (eval_loss among them) and the `isinstance(..., (int, float))` filter
    from glade.hub.model_index import eval_results

    metrics = {"valid_json_rate": 1, "valid_action_rate": 0.75, "eval_loss": 2.5, "self_buy_rate": None}
    metrics.update(train_loss=3.0, heldout_states=8, intervals={"valid_action_rate": {"n": 8}})
    found = {r.metric_type: r.metric_value for r in eval_results({"metrics": metrics}, [], None)}
    assert found == {"valid_json_rate": 1.0, "valid_action_rate": 0.75, "eval_loss": 2.5}


def two_councils(name, folder):
    """An evaluation in which checkpoint `name` sat twice in council mixed (creature_model, creature_b)
    and once in duo (as alt, beside another model's `creature_model`), with flags on each."""
    from glade.hub.council_view import council_for

    folder.mkdir()
    decision = lambda c, p, identity: {"council": c, "policy": p, "policy_identity": [identity]}
    summary = {
        "recipe": "crash-gambit",
        "policies": [f"hf:base+{name}", "hf:base+other__0__1"],
        "decision": [
            decision("mixed", "creature_model", f"hf:base+{name}"),
            decision("mixed", "creature_b", f"hf:base+{name}"),
            decision("duo", "alt", f"hf:base+{name}"),
            decision("duo", "creature_model", "hf:base+other__0__1"),
        ],
        "outcome": [],
    }
    flag = lambda kind, c, policy: {
        "kind": kind,
        "council": c,
        "policy": policy,
        "rank": 1,
        "metric": "m",
        "effect": 1.0,
    }
    flags = [
        flag("decision", "mixed", "creature_model"),
        *[flag("decision", "mixed", "creature_b")] * 2,
        *[flag("decision", "duo", "creature_model")] * 4,  # the other model's seat in duo
        flag("outcome", "mixed", None),
        *[flag("outcome", "duo", None)] * 2,
    ]
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "flags.json").write_text(json.dumps(flags))
    return council_for(folder / name, folder)


def test_flags_are_counted_per_seat_and_per_council_when_it_sat_in_several(tmp_path):
    # guards seat_results' match on (council, policy), council_results' `f["council"] == council_name` and
    # members_text's `own` of that council only (duo's creature_model is another model's seat)
    from glade.hub import council_view, model_index

    view = two_councils("creature__0__1", tmp_path / "results")
    assert view.seats == (("duo", "alt"), ("mixed", "creature_b"), ("mixed", "creature_model"))
    seat = {(r.dataset_split, r.dataset_config): r.metric_value for r in model_index.seat_results(view)}
    assert seat == {("duo", "alt"): 0, ("mixed", "creature_b"): 2, ("mixed", "creature_model"): 1}
    whole = {r.dataset_split: r.metric_value for r in model_index.council_results(view)}
    assert whole == {"duo": 2, "mixed": 1}
    assert council_view.members_text(view, "duo") == "alt (this model), creature_model (other__0__1)"
    assert council_view.members_text(view, "mixed") == "creature_b (this model), creature_model (this model)"


def test_a_base_named_like_owner_name_is_a_hub_id_only_where_no_such_folder_exists(tmp_path, monkeypatch):
    # guards hub_id's `not Path(value).exists()`: `runs/base` beside the export is a local folder, not a Hub repo
    from glade.hub.model_index import base_hub_id

    monkeypatch.chdir(tmp_path)
    meta = {"base_model": None, "base_model_given": "runs/base"}  # a full fine-tune records only what it was given
    assert base_hub_id(meta) == "runs/base"
    (tmp_path / "runs" / "base").mkdir(parents=True)
    assert base_hub_id(meta) is None and base_hub_id({"base_model": "runs/base"}) is None
    assert base_hub_id({"base_model": str(tmp_path / "runs" / "base"), "base_model_given": "alice/tiny"}) is None


# --------------------------------------------------------------------------- model_card


def test_the_card_shows_the_top_8_flags_and_counts_them_all(ckpt, tmp_path):  # noqa: F811
    # guards TOP_FLAGS = 8 and `min(len(flags), TOP_FLAGS)`: the table shows 8, the line counts all 9
    results = council(ckpt, tmp_path / "council")
    [own] = [f for f in json.loads((results / "flags.json").read_text()) if f["policy"] == "creature_model"]
    flags = [{**own, "rank": i, "metric": f"good{i}: sell share"} for i in range(1, 10)]
    (results / "flags.json").write_text(json.dumps(flags))
    text = export(ckpt, tmp_path / "out", "--council", str(results)).text
    assert "Decision flags of its seat (top 8 of 9), best first:" in text
    assert [i for i in range(1, 10) if f"good{i}: sell share" in text] == list(range(1, 9))


def test_a_rate_written_before_intervals_gets_its_exact_interval_from_its_own_n(monkeypatch):
    # guards heldout_table's `round(value * n)` (0.29 * 100 is 28.999...), the `structured_` prefix dropped to
    # find a rate, and fall_talk_sell_rate's n (fall_talk_states, not heldout_states)
    from glade.eval.stats import clopper_pearson
    from glade.hub.model_card import heldout_table

    metrics = {"heldout_states": 100, "fall_talk_states": 10}
    metrics.update(valid_action_rate=0.29, structured_valid_action_rate=0.875, fall_talk_sell_rate=0.5)
    rows = {line.split(" | ")[0].lstrip("| "): line for line in heldout_table({"metrics": metrics}).splitlines()}
    for key, k, n in (
        ("valid_action_rate", 29, 100),
        ("structured_valid_action_rate", 88, 100),
        ("fall_talk_sell_rate", 5, 10),
    ):
        low, high = clopper_pearson(k, n)
        assert rows[key].endswith(f"| [{low:.4f}, {high:.4f}] | {n} states |"), rows[key]


def test_the_card_says_stand_in_for_one_policy_and_not_met_for_a_missed_target():
    # guards what_it_is's plural `len(policies) > 1` and targets_section's "**not met**"
    from glade.hub.card_targets import targets_section
    from glade.hub.model_card import what_it_is

    assert "on the decisions of the hoarder stand-in." in what_it_is({"data": {"policies": ["standin:hoarder"]}})
    both = what_it_is({"data": {"policies": ["standin:hoarder", "standin:panic_seller"]}})
    assert "on the decisions of the hoarder and panic-seller stand-ins." in both
    targets = {"valid_action_rate": {"target": ">= 0.95", "measured": 0.5, "met": False}}
    targets["self_buy_rate"] = {"target": "<= 0.1", "measured": 0.0, "met": True}
    table = targets_section({"targets": targets})[2]
    assert "| valid_action_rate | >= 0.95 | 0.5000 | - | - | **not met** |" in table
    assert "| self_buy_rate | <= 0.1 | 0.0000 | - | - | met |" in table


def test_no_flags_at_all_are_said_so_and_a_figure_that_is_no_key_figure_stays_out_of_the_table(ckpt, tmp_path):  # noqa: F811
    # guards seat_section's `elif not flags` and council_section's `elif flags is not None` (an empty flags.json
    # says "no flags", not "top 0 of 0" or nothing), and the `FIGURES[figure].key` filter of the effects table
    results = council(ckpt, tmp_path / "council")
    summary = json.loads((results / "summary.json").read_text())
    summary["outcome"][0]["figures"]["seam_move"] = {"effect": {"mean": 0.5, "ci": [0.25, 0.75], "support": 0.9}}
    (results / "summary.json").write_text(json.dumps(summary))
    (results / "flags.json").write_text("[]")
    text = " ".join(export(ckpt, tmp_path / "out", "--council", str(results)).text.split())
    assert "No decision flags: its seat and the stand-in do not part ways beyond the thresholds." in text
    assert "No outcome flags: these councils and the stand-in world do not part ways beyond the thresholds." in text
    assert "top 0 of 0" not in text
    assert "| gambit_rumour | mixed | gambit_pnl | -2.5000 |" in text and "| seam_move |" not in text


def test_an_adapter_with_a_hub_base_is_not_told_to_export_its_base(trained_creature, tmp_path):
    # guards render_card's `exported_kind == "lora" and not base`: the export-the-base note is for a local base only
    _, adapter = trained_creature
    note = "The base model was built locally: export it too"
    hub = export_checkpoint(adapter, "alice/creature", out=tmp_path / "hub", base_model=BASE)
    assert note not in (hub / "README.md").read_text()
    assert 'AutoModelForCausalLM.from_pretrained("alice/tiny-base")' in (hub / "README.md").read_text()
    local = export_checkpoint(adapter, "alice/creature", out=tmp_path / "local")
    assert note in (local / "README.md").read_text()
