"""Tests written by a mutation audit of the Hub export of traces and of models (glade.hub.export_traces,
export, card_usage, base_check, lineage, cards; glade.traces_card): each pins what a one-line change
(a bound dropped, a condition widened, two values swapped, a count off by one) changed unnoticed.
The comment on each names what it guards. The Hub is fake_hub's RecordingApi; the dead server is a
closed port; nothing reaches the network."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from fake_hub import RecordingApi
from huggingface_hub import DatasetCard, ModelCard
from test_export_kinds import DEAD, generated

from glade import checkpoint as checkpoints
from glade.hub.base_check import BaseNamed, check_base
from glade.hub.card_usage import adapter_base_files, limitations_section
from glade.hub.export import export_checkpoint
from glade.hub.export_traces import export_traces
from glade.hub.lineage import council_provenance
from glade.traces_card import terms_section

SHIPPED_BASE = checkpoints.shipped("tiny-base")
HELD = "these rows are held turns, not the model's behaviour"


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """Every seat a stand-in: no row is a fault (1 scenario, 1 seed, 2 turns: 10 rows)."""
    return generated(tmp_path_factory.mktemp("hub") / "clean", {"ok": {}})


@pytest.fixture(scope="module")
def dead2(tmp_path_factory):
    """Two seats, oona's (server:x) and thorn's (server:y), each a server at a closed port: every row of each is a fault."""
    councils = {"dead": {"oona": DEAD, "thorn": {**DEAD, "model": "y"}}, "ok": {}}
    return generated(tmp_path_factory.mktemp("hub") / "dead2", councils)


def copy_with(dataset: Path, folder: Path, **recipe_changes) -> Path:
    """A copy of the traces `dataset`, its recipe.yaml changed by `recipe_changes`."""
    copy = Path(shutil.copytree(dataset, folder))
    recipe = yaml.safe_load((copy / "recipe.yaml").read_text())
    (copy / "recipe.yaml").write_text(yaml.safe_dump({**recipe, **recipe_changes}))
    return copy


# --------------------------------------------------------------------------- export_traces


@pytest.mark.parametrize("share", [5, True, "x"])
def test_a_max_fault_share_that_is_no_share_is_refused_before_anything_is_written(clean, tmp_path, share):
    # guards max_fault_share's `not 0 <= share <= 1`: a share above 1 is no share, as a bool or a word is none
    dataset = copy_with(clean, tmp_path / "traces", max_fault_share=share)
    with pytest.raises(ValueError) as refused:
        export_traces(dataset, "me/clean", out=tmp_path / "exp")
    assert str(refused.value) == (
        f"{dataset / 'recipe.yaml'}: max_fault_share {share!r} is not a number between 0 and 1; "
        "restore the value glade generate wrote"
    )
    assert not (tmp_path / "exp").exists()


def test_the_push_refusal_counts_the_other_failing_seats(dead2, tmp_path):
    # guards `len(over) - 1`: with two seats over the bar, the refusal names one and counts one more
    RecordingApi.reset()
    with pytest.raises(ValueError) as refused:
        export_traces(dead2, "me/dead2", out=tmp_path / "exp", push=True, api=RecordingApi())
    assert str(refused.value) == (
        f"{dead2}: seat 'server:x': 2 of 2 decisions (100%) failed: server_refused 2, more than max_fault_share 0.2 "
        f"(and 1 more seat(s)); {HELD}, so nothing was written or pushed: fix the seat (is its server up, at its "
        "base_url?) and rerun the `glade generate` that wrote it (the episodes with faults play again), or pass "
        "--allow-faults to push it as it is"
    )
    assert RecordingApi.calls == [] and not (tmp_path / "exp").exists()


def test_only_the_seat_over_max_fault_share_is_told_it_is_over(dead2, tmp_path):
    # guards `if seat in over` in the warning: server:y fails 1 of 2 (50%), under a bar of 0.6, while server:x is over
    mixed = copy_with(dead2, tmp_path / "mixed", max_fault_share=0.6)
    [shard] = sorted((mixed / "data").glob("part-*.parquet"))
    rows = pq.read_table(shard).to_pylist()
    next(r for r in rows if r["seat"] == "server:y" and r["error"])["error"] = None  # one of its turns answered
    pq.write_table(pa.Table.from_pylist(rows, schema=pq.read_schema(shard)), shard)
    heard = []
    export_traces(mixed, "me/mixed", out=tmp_path / "exp", warn=heard.append)
    assert heard == [
        "seat 'server:x': 2 of 2 decisions (100%) failed: server_refused 2, more than max_fault_share 0.6; "
        f"{HELD} (the card says so; glade train leaves them out)",
        f"seat 'server:y': 1 of 2 decisions (50%) failed: server_refused 1; {HELD} (the card says so; glade train "
        "leaves them out)",
    ]


def test_without_push_the_warning_does_not_say_it_pushes_anyway(dead2, tmp_path):
    # guards `push and seat in over`: an export to a folder pushes nothing, whatever the seat's faults
    heard = []
    export_traces(dead2, "me/dead2", out=tmp_path / "exp", warn=heard.append)
    assert heard == [
        f"seat '{seat}': 2 of 2 decisions (100%) failed: server_refused 2, more than max_fault_share 0.2; {HELD} "
        "(the card says so; glade train leaves them out)"
        for seat in ("server:x", "server:y")
    ]


def test_the_size_category_counts_rows_not_shards(clean, tmp_path):
    # guards size_categories from the rows' decisions: one shard of 1,010 rows is 1K<n<10K, not n<1K
    big = Path(shutil.copytree(clean, tmp_path / "big"))
    [shard] = sorted((big / "data").glob("part-*.parquet"))
    table = pq.read_table(shard)
    turn = table.schema.get_field_index("turn")  # each copy at turns of its own: a repeated row is refused
    copies = [
        table.set_column(turn, "turn", pa.array([t + 100 * k for t in table["turn"].to_pylist()]))
        for k in range(1010 // table.num_rows)
    ]
    pq.write_table(pa.concat_tables(copies), shard)
    assert pq.read_metadata(shard).num_rows == 1010
    out = export_traces(big, "me/big", out=tmp_path / "exp")
    assert DatasetCard.load(out / "README.md").data.size_categories == ["1K<n<10K"]


def test_license_other_names_its_license_in_lower_case(clean, tmp_path):
    # guards add_license's `.lower()`: the Hub's license_name is lower-case, whatever the repo name's case
    text = tmp_path / "LIC.txt"
    text.write_text("my terms\n")
    out = export_traces(clean, "me/Wood-Traces", out=tmp_path / "exp", license="other", license_file=text)
    data = DatasetCard.load(out / "README.md").data
    assert (data.license, data.license_name, data.license_link) == ("other", "wood-traces-license", "LICENSE")
    assert (out / "LICENSE").read_text() == "my terms\n"


# --------------------------------------------------------------------------- traces card


def test_the_terms_name_each_scenarios_dispositions_where_they_differ(tmp_path):
    # guards terms_section's `same and dispositions`: two scenarios of other dispositions are named one by one
    from glade.env.scenario import SCENARIO_DIR, load_scenario

    default = (SCENARIO_DIR / "default.yaml").read_text()
    assert default.count("disposition: hoarder") == 1
    other = tmp_path / "other.yaml"
    other.write_text(default.replace("disposition: hoarder", "disposition: speculator"))
    scenarios = {"default": load_scenario("default"), str(other): load_scenario(str(other))}
    [line] = [x for x in terms_section(scenarios, None, {}).splitlines() if x.startswith("- **disposition")]
    assert line.endswith(
        "; each creature has one in each scenario; default: oona hoarder, thorn balanced, hazel speculator, "
        "bramble panic_seller, moss balanced; other.yaml: oona speculator, thorn balanced, hazel speculator, "
        "bramble panic_seller, moss balanced"
    )


# --------------------------------------------------------------------------- model export


@pytest.fixture(scope="module")
def lora_checkpoint(tmp_path_factory):
    """A LoRA checkpoint as glade train writes one on glade's shipped tiny-base: random non-zero weights (r 2, q_proj)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    folder = tmp_path_factory.mktemp("hub") / "tiny-hoarder__0__20261205-130453"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        model = AutoModelForCausalLM.from_pretrained(SHIPPED_BASE)
        config = LoraConfig(r=2, target_modules=["q_proj"], init_lora_weights=False)
        get_peft_model(model, config).save_pretrained(folder)
    meta = {"name": "tiny-hoarder", "seed": 0, "kind": "lora", "base_model": str(SHIPPED_BASE)}
    meta |= {"base_model_given": "shipped:tiny-base", "base_fingerprint": checkpoints.base_fingerprint(SHIPPED_BASE)}
    (folder / "meta.json").write_text(json.dumps(meta))
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy2(SHIPPED_BASE / name, folder / name)
    (folder / "recipe.yaml").write_text("name: tiny-hoarder\n")  # the recipe glade train writes beside meta.json
    return folder


TAGS = ["glade", "wood", "creature", "multi-agent", "market-simulation", "trl", "sft"]


def size_line(text: str) -> str:
    [line] = [x for x in text.splitlines() if x.startswith("- Size: ")]
    return line


def test_an_adapters_card_is_tagged_lora_and_sizes_base_and_adapter(lora_checkpoint, tmp_path):
    # guards the `lora` tag of an adapter's export, and size_words' order: the base's layers, then its hidden size
    card = ModelCard.load(export_checkpoint(lora_checkpoint, "me/tiny-hoarder", out=tmp_path / "out") / "README.md")
    assert card.data.tags == [*TAGS, "lora"]
    assert size_line(card.text) == (
        "- Size: 1,152,256 parameters: the base's 1,150,208 (Qwen2ForCausalLM, 4 layers, hidden size 128) and the "
        "LoRA adapter's 2,048 (in this repository)."
    )


def test_a_merged_export_is_sized_as_the_merged_model_and_not_tagged_lora(lora_checkpoint, tmp_path):
    # guards `model_size(tmp, ...)`: the merged weights exported, not the adapter it was merged from; and no `lora` tag
    out = export_checkpoint(lora_checkpoint, "me/tiny-merged", merge=True, out=tmp_path / "out")
    card = ModelCard.load(out / "README.md")
    assert card.data.tags == TAGS
    assert size_line(card.text) == "- Size: 1,150,208 parameters (Qwen2ForCausalLM, 4 layers, hidden size 128)."


def test_every_target_met_is_said_and_no_targets_say_nothing_of_them():
    # guards limitations_section's "Every target of the Targets table was met." where the recipe set targets
    meta = {"protocol_version": "p", "metrics": {"train_steps": 10}, "data_counts": {"train": 40}}
    met = limitations_section(meta | {"targets": {"valid_action_rate": {"target": 0.9, "met": True}}}, {}, None)
    assert met[-3:] == ["- Training: 10 steps on 40 rows.", "- Every target of the Targets table was met.", ""]
    assert limitations_section(meta, {}, None)[-2:] == ["- Training: 10 steps on 40 rows.", ""]


def test_a_shipped_base_without_a_fingerprint_is_not_counted_from_todays_shipped_base():
    # guards adapter_base_files' `isinstance(trained_on, str)`: today's shipped base may not be the one it trained on
    assert adapter_base_files({"base_model_given": "shipped:tiny-base", "base_model": "/gone/tiny-base"}) is None


# --------------------------------------------------------------------------- base_check


def test_a_record_of_the_repo_id_without_a_fingerprint_or_weights_is_no_refusal(tmp_path, monkeypatch):
    # guards `fp is not None` in the refusal: a record whose weights are unknown shows no other weights
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exports" / "base").mkdir(parents=True)
    (tmp_path / "exports" / "base" / "glade_export.json").write_text(
        json.dumps({"repo_id": "me/base", "repo_type": "model"})
    )
    assert check_base({"base_model": "/nowhere/base", "base_fingerprint": "f" * 64}, "me/base") == BaseNamed()


def test_a_shipped_base_under_its_recorded_id_says_so():
    # guards check_base's origin for glade's shipped base named by the repo id its export records
    meta = {"base_model_given": "shipped:tiny-base", "base_model": str(SHIPPED_BASE)}
    assert check_base(meta, None) == BaseNamed(
        "glade's shipped base `shipped:tiny-base`, under the repo id its export names"
    )


# --------------------------------------------------------------------------- lineage


def test_the_council_provenance_says_another_protocol_only_where_it_is_another():
    # guards `protocol not in learned_protocols`: an evaluation on the protocol it trained on is no mismatch
    prov = {"glade_version": "0.1", "git_commit": "abc", "git_dirty": False, "protocol_version": "p3"}
    prov["scenario_hashes"] = {"default": "h1"}
    ran = "The evaluation ran glade 0.1 (commit `abc`, clean working tree), prompt protocol `p3`; scenario hashes: default `h1`."
    assert council_provenance(prov, {"protocols": ["p3"], "scenarios": {"default": ["h1"]}})[0] == ran
    assert council_provenance(prov, {"protocols": ["p2"], "scenarios": {"default": ["h1"]}})[0] == (
        ran + " This model was trained on prompts of protocol `p2`, not the one it played here."
    )
