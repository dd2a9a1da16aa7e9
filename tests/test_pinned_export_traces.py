"""The second half of the mutation audit of `glade export` (test_pinned_export.py): its tests of
glade.hub.lineage, glade.hub.export_traces, glade.traces_card and glade.provenance. Each pins a
behaviour that a plausible one-line change left untested; the comment on each names what it guards."""

from __future__ import annotations

import json
import shutil

import pytest

# --------------------------------------------------------------------------- lineage


def test_overrides_descend_into_a_null_section_and_give_up_on_a_key_no_override_can_name():
    # guards _diff's `old is None` (a section the shipped recipe leaves null gets one override per key) and
    # overrides' final check by applying them (`sft.a.b=1` would set sft.a.b, not the key "a.b")
    from glade.hub.lineage import overrides

    assert overrides({"name": "x", "lora": None}, {"name": "x", "lora": {"r": 16, "lora_alpha": 8}}) == [
        "lora.r=16",
        "lora.lora_alpha=8",
    ]
    assert overrides({"name": "x", "sft": {"lr": 1}}, {"name": "x", "sft": {"lr": 1, "a.b": 1}}) is None


def test_a_recipe_overrides_cannot_express_is_not_called_the_shipped_recipe():
    # guards reproduce's `changed == []` (None, no overrides can do it, is not "as it is")
    from glade.hub.lineage import OWN_RECIPE, reproduce

    shipped = {"name": "tiny-hoarder", "sft": {"max_steps": 40, "learning_rate": 0.003}}
    ran = {"name": "tiny-hoarder", "sft": {"max_steps": 40}}  # no override removes a key
    [line, _] = reproduce({"name": "tiny-hoarder"}, ran, shipped)
    assert line == (
        "This run's recipe differs from glade's shipped `recipes/train/tiny-hoarder.yaml` in ways command-line "
        f"overrides cannot express: reproduce it with {OWN_RECIPE}."
    )
    [line, _] = reproduce({"name": "tiny-hoarder"}, dict(shipped), shipped)
    assert "(glade's shipped recipe, as it is)" in line


def test_the_protocol_and_held_out_cells_say_nothing_extra_when_there_is_nothing_to_add():
    # guards protocol_text's `learned == [own]`, council_provenance's `learned_protocols and` and heldout_text's
    # `not record["eval"]`: no "trained on protocol" clause without a difference, no held-out row without folders
    from glade.hub.lineage import council_provenance, heldout_text, protocol_text

    record = {"data": [{"folder": "traces", "protocol_versions": ["p1"]}], "eval": []}
    assert protocol_text({"protocol_version": "p1"}, {"recorded": record, "protocols": ["p1"]}) == "`p1`"
    assert protocol_text({"protocol_version": "p2"}, {"recorded": record, "protocols": ["p1"]}).startswith(
        "`p2` (glade's when it trained); its training traces hold prompts of protocol `p1`"
    )
    assert heldout_text({"recorded": record}) is None
    prov = {"glade_version": "0.1", "git_commit": None, "protocol_version": "p1"}
    [line, _] = council_provenance(prov, {"protocols": [], "scenarios": {}})
    assert line == (
        "The evaluation ran glade 0.1 (no git commit recorded: not run from a git checkout), prompt protocol `p1`; "
        "scenario hashes: not recorded."
    )


# --------------------------------------------------------------------------- export_traces


def test_a_hand_written_dataset_card_is_kept_and_glades_own_gets_its_name_and_one_load_section(
    trained_creature, tmp_path
):
    # guards export_traces' `if heading` (only glade's own recipe section is rewritten), the card's own
    # pretty_name kept, "## Load from the Hub" added only when missing, and a folder with meta.json refused
    from huggingface_hub import DatasetCard

    from glade.hub.export_traces import export_traces

    root, _ = trained_creature
    own = export_traces(root / "traces", "alice/wood-traces", out=tmp_path / "own")
    card = DatasetCard.load(own / "README.md")
    assert card.data.pretty_name == "glade traces: wood-traces"
    assert card.text.count("## Recipe\n") == 1 and card.text.count("## Load from the Hub") == 1
    traces = tmp_path / "traces"
    shutil.copytree(root / "traces", traces)
    (traces / "README.md").write_text(
        "---\npretty_name: Hazel's market days\n---\n\n# Mine\n\nNotes.\n\n## Load from the Hub\n\nAsk Hazel.\n"
    )
    out = export_traces(traces, "alice/wood-traces", out=tmp_path / "mine")
    card = DatasetCard.load(out / "README.md")
    assert card.data.pretty_name == "Hazel's market days"
    assert card.text.strip() == "# Mine\n\nNotes.\n\n## Load from the Hub\n\nAsk Hazel."
    assert (out / "recipe.yaml").exists()
    (traces / "meta.json").write_text("{}")  # a checkpoint's record: not a traces dataset
    with pytest.raises(ValueError, match="not a traces dataset"):
        export_traces(traces, "alice/wood-traces", out=tmp_path / "x")


# --------------------------------------------------------------------------- traces_card, provenance


def test_the_traces_card_counts_its_episodes_and_tables_the_cost_of_the_run(trained_creature):
    # guards write_card's `"episodes": len(done)` (4 worlds of one scenario: 4, not 1), its cost section and
    # cost_section's separator row (one `---` per column, or the table does not render)
    root, _ = trained_creature
    text = (root / "traces" / "README.md").read_text()
    provenance = json.loads(text.split("## Provenance")[1].split("```json")[1].split("```")[0])
    assert provenance["episodes"] == 4 and len(list((root / "traces" / "data").glob("part-*.parquet"))) >= 1
    cost = text.split("## Cost of the last run\n\ncost: 4 episodes, ")[1].split("## Recipe")[0]
    header, rule, *rows = [line for line in cost.splitlines() if line.startswith("|")]
    assert header.startswith("| seat | decisions | prompt tokens |") and header.count(" | ") == 6
    assert rule == "| " + " | ".join(["---"] * 7) + " |" and rows


def test_a_repo_with_no_commit_records_none_and_untracked_files_do_not_make_it_dirty(tmp_path, monkeypatch):
    # guards git_commit's returncode check (BUG fixed: a repo with no commit yet recorded git_commit "HEAD",
    # what `git rev-parse HEAD` prints there), stamp's `git_dirty() if commit else None` and `--untracked-files=no`
    import subprocess

    from glade import provenance

    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "provenance.py").write_text("x = 1\n")
    (repo / "pyproject.toml").write_text("[project]\n")  # a source checkout (provenance.checkout)
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    monkeypatch.setattr(provenance, "__file__", str(repo / "pkg" / "provenance.py"))
    assert provenance.stamp()["git_commit"] is None and provenance.stamp()["git_dirty"] is None
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    (repo / "notes.txt").write_text("untracked: not part of the code that ran\n")
    assert provenance.stamp()["git_commit"] and provenance.stamp()["git_dirty"] is False
