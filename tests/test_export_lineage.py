"""Where an exported model came from, as its card tells: a command that trains it again (the
shipped recipe only when the run used it as it is, else with the run's overrides), the scenario
hashes of the traces it trained on and of the council results it reports, and a commit with
uncommitted changes marked as such."""

import copy
import json
import shlex
import shutil

import yaml
from test_export import council_results

from glade.cli import main
from glade.config import apply_overrides, as_plain, parse_override
from glade.env.scenario import RECIPES
from glade.hub.export import export_checkpoint
from glade.hub.lineage import commit_text

SHIPPED = {
    "name": "x",
    "sft": {"max_steps": 40, "learning_rate": 0.003},
    "eval": {"states": 48, "targets": {"valid_action_rate": ">= 0.95"}},
    "data": {"traces": ["runs/a"]},
    "lora": {"r": 16},
}


def test_overrides_rebuild_the_run_recipe_from_the_shipped_one():
    from glade.hub.lineage import overrides

    assert overrides(SHIPPED, copy.deepcopy(SHIPPED)) == []
    ran = copy.deepcopy(SHIPPED)
    ran["sft"].update(max_steps=10, report_to="10")
    ran["eval"]["targets"]["valid_action_rate"] = ">= 0.9"
    ran["data"]["traces"] = ["runs/b", "runs/c"]
    ran["lora"] = None
    found = overrides(SHIPPED, ran)
    assert found == [
        "sft.max_steps=10",
        'sft.report_to="10"',  # a string that reads as a number stays a string
        "eval.targets.valid_action_rate=>= 0.9",  # the shell quotes it in the card's command
        "data.traces=[runs/b, runs/c]",
        "lora=null",
    ]
    assert apply_overrides(SHIPPED, dict(parse_override(o) for o in found)) == ran
    fewer = copy.deepcopy(SHIPPED)
    del fewer["sft"]["learning_rate"]  # no override removes a key
    assert overrides(SHIPPED, fewer) is None


def as_shipped(ckpt, tmp_path, name, extra):
    """A copy of the checkpoint as if `glade train recipes/train/NAME.yaml *extra` had written it."""
    from glade.train.recipe import load_train_recipe

    folder = tmp_path / ckpt.name
    shutil.copytree(ckpt, folder)
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, "name": name}))
    recipe = load_train_recipe(RECIPES / "train" / f"{name}.yaml", extra)
    (folder / "recipe.yaml").write_text(yaml.safe_dump(as_plain(recipe), sort_keys=False))
    return folder


def card_text(folder, out, *extra):
    assert main(["export", str(folder), "--repo-id", "alice/creature", "--out", str(out), *extra]) == 0
    return " ".join((out / "README.md").read_text().split())


def test_a_run_with_overrides_is_not_called_the_shipped_recipe(trained_creature, tmp_path, monkeypatch):
    from glade.train.recipe import load_train_recipe

    _, ckpt = trained_creature
    monkeypatch.chdir(tmp_path)  # the shipped recipe's traces (runs/traces/...) are not here
    folder = as_shipped(ckpt, tmp_path / "over", "tiny-hoarder", ["sft.max_steps=10", "eval.states=8"])
    text = card_text(folder, tmp_path / "a")
    command = "glade train recipes/train/tiny-hoarder.yaml sft.max_steps=10 eval.states=8"
    assert (
        f"Reproduce it with `{command}`: this run used glade's shipped recipe `tiny-hoarder` with these overrides"
        in text
    )
    assert "(glade's shipped recipe" not in text and "`glade train recipe.yaml`" in text
    # the command, run, resolves to the recipe the checkpoint holds
    args = shlex.split(command)[3:]
    rebuilt = as_plain(load_train_recipe(RECIPES / "train" / "tiny-hoarder.yaml", args))
    assert json.loads(json.dumps(rebuilt)) == yaml.safe_load((folder / "recipe.yaml").read_text())
    # the shipped recipe as it is
    folder = as_shipped(ckpt, tmp_path / "same", "tiny-hoarder", [])
    text = card_text(folder, tmp_path / "b")
    assert "Reproduce it with `glade train recipes/train/tiny-hoarder.yaml` (glade's shipped recipe, as it is)." in text
    # a recipe glade does not ship: the checkpoint's own resolved recipe
    text = card_text(ckpt, tmp_path / "c")
    assert "Reproduce it with this repository's `recipe.yaml`, the recipe as the run resolved it" in text
    assert "shipped" not in text


def test_the_card_names_the_scenario_hashes_of_the_traces_it_trained_on(trained_creature, tmp_path):
    """A checkpoint written before meta.json kept its `traces` record: its rows are matched in the
    traces its recipe names (test_export_review.py: the record itself)."""
    root, ckpt = trained_creature
    card = (root / "traces" / "README.md").read_text()
    provenance = json.loads(card.split("## Provenance")[1].split("```json")[1].split("```")[0])
    [(scenario, digest)] = provenance["scenario_hashes"].items()
    folder = tmp_path / ckpt.name
    shutil.copytree(ckpt, folder)
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({k: v for k, v in meta.items() if k != "traces"}))
    out = export_checkpoint(folder, "alice/creature", out=tmp_path / "a")
    text = " ".join((out / "README.md").read_text().split())
    assert f"| scenarios trained on (scenario hashes) | {scenario} `{digest}` (all " in text
    assert "training and held-out rows found in `traces`) |" in text
    # traces no longer there: the scenario is named, its hash is not guessed
    recipe = yaml.safe_load((folder / "recipe.yaml").read_text())
    recipe["data"]["traces"] = [str(tmp_path / "gone")]
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    out = export_checkpoint(folder, "alice/creature", out=tmp_path / "b")
    text = " ".join((out / "README.md").read_text().split())
    assert (
        f"{scenario} (hash not known); hashes not known: none of its" in text
        and digest not in text.split("## Evaluation")[0]
    )


def test_council_results_and_a_dirty_tree_are_named_in_the_card(trained_creature, tmp_path):
    _, ckpt = trained_creature
    folder = tmp_path / ckpt.name
    shutil.copytree(ckpt, folder)
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, "git_commit": "abc123", "git_dirty": True}))
    council = council_results(folder, tmp_path / "council")
    summary = json.loads((council / "summary.json").read_text())
    summary.update(
        glade_version="0.1.0",
        git_commit="def456",
        git_dirty=False,
        protocol_version="wood-chat-9",
        scenario_hashes={"gambit_rumour": "0123456789abcdef", "default": "ffffffffffffffff"},
    )
    (council / "summary.json").write_text(json.dumps(summary))
    out = export_checkpoint(folder, "alice/creature", out=tmp_path / "out", council=council)
    text = " ".join((out / "README.md").read_text().split())
    assert "| glade | 0.1.0 (commit `abc123`, **with uncommitted changes in the working tree**" in text
    assert (
        "The evaluation ran glade 0.1.0 (commit `def456`, clean working tree), prompt protocol `wood-chat-9`; "
        "scenario hashes: default `ffffffffffffffff`, gambit_rumour `0123456789abcdef`."
    ) in text
    assert f"This model was trained on prompts of protocol `{meta['protocol_version']}`" in text
    assert (
        "Scenario hashes that differ from those of the traces it trained on: default (`ffffffffffffffff` here" in text
    )
    # a record that does not say whether the tree was clean (written before glade recorded it) is not read as clean
    (folder / "meta.json").write_text(json.dumps({k: v for k, v in meta.items() if k != "git_dirty"}))
    out = export_checkpoint(folder, "alice/creature", out=tmp_path / "plain")
    text = " ".join((out / "README.md").read_text().split())
    assert "whether its working tree had uncommitted changes is not recorded" in text


def test_provenance_records_whether_the_tree_had_uncommitted_changes(tmp_path, monkeypatch):
    import subprocess

    from glade import provenance

    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "provenance.py").write_text("x = 1\n")
    (repo / "pyproject.toml").write_text("[project]\n")
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    monkeypatch.setattr(provenance, "__file__", str(repo / "pkg" / "provenance.py"))
    assert provenance.git_dirty() is False
    (repo / "pkg" / "provenance.py").write_text("x = 2\n")
    assert provenance.git_dirty() is True
    assert provenance.stamp()["git_dirty"] is True and provenance.stamp()["git_commit"]
    monkeypatch.setattr(provenance, "__file__", str(tmp_path / "elsewhere" / "pkg" / "provenance.py"))
    assert provenance.git_dirty() is None and provenance.stamp()["git_dirty"] is None
    # installed into a user's project (myproj/.venv/.../site-packages/glade): that repo's commit is not glade's
    site = repo / ".venv" / "lib" / "site-packages"
    (site / "glade").mkdir(parents=True)
    monkeypatch.setattr(provenance, "__file__", str(site / "glade" / "provenance.py"))
    assert provenance.git_commit() is None and provenance.git_dirty() is None
    (site / "pyproject.toml").write_text("[project]\n")  # even beside a pyproject.toml, below the repo's top
    assert provenance.checkout() is None and provenance.stamp()["git_commit"] is None
    assert commit_text({"glade_version": "0.1", "git_commit": "abc", "git_dirty": None}).endswith("is not recorded)")


def test_a_checkpoints_provenance_names_torchs_thread_count(monkeypatch):
    # a CPU run's weights differ in the last bits at another thread count: meta.json says which it ran at
    import torch

    from glade.train.sft import provenance

    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
    made = provenance()
    assert made["torch_threads"] == 3 and made["versions"]["torch"] and made["created"]
