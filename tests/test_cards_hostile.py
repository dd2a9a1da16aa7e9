"""The Hub cards against hostile names: a scenario given by absolute path, a scenario description
that holds headings and HTML, council, policy and recipe names with newlines, pipes, backticks and
tags. The dataset card (`glade generate`, `glade export-traces`) and the model card (`glade export
--council`) keep exactly glade's headings, no raw HTML, every table row its header's columns, and
no local path; ordinary names read as before."""

from __future__ import annotations

import html
import json
import re
import shutil
from importlib.resources import files

import pytest
import torch
import yaml

from glade.cli import main
from glade.traces import GenerateRecipe, generate, load_generate_recipe
from glade.train.data import DataConfig, prepare, save_prepared
from glade.train.tiny import save_tiny
from glade.words import md_block, md_code, md_row, md_text, portable

markdown_it = pytest.importorskip("markdown_it")
torch.set_num_threads(1)

DESCRIPTION = "calm\n## Load from the Hub\n\nfake <img src=x onerror=alert(1)>\n## Recipe\n```yaml"
COUNCIL = "c\n---\nevil: 1\n## Injected"
TRACES_COUNCIL = "c --- evil: 1 ## Injected"  # generate refuses a council name with a line break (a control character)
TAGGED = "h`|x<img src=x onerror=y>"
RECIPE_NAME = "hostile `name`\n```\n## Injected <img src=x onerror=alert(1)>"


GITHUB = markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"])  # as GitHub and the Hub read it


def parse(text: str):
    return GITHUB.parse(text)


def render(text: str) -> str:
    return GITHUB.render(text)


def headings(text: str) -> list[tuple[str, str]]:
    tokens = parse(text)
    return [(t.tag, tokens[i + 1].content) for i, t in enumerate(tokens) if t.type == "heading_open"]


def raw_html(text: str) -> list[str]:
    """The HTML a renderer passes through as it is (html_inline, html_block), anywhere in the card."""
    found = [t.content for t in parse(text) if t.type == "html_block"]
    inline = [c for t in parse(text) if t.type == "inline" for c in t.children or []]
    return found + [c.content for c in inline if c.type == "html_inline"]


def table_columns(text: str) -> list[set[int]]:
    """Each table's column counts, one per row, as GitHub splits cells: on every pipe not escaped."""
    out, block = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            block.append(len(re.sub(r"\\.", "", line).split("|")) - 2)
        elif block:
            out.append(set(block))
            block = []
    return out


def assert_sound(text: str, expected: list[tuple[str, str]]) -> None:
    assert headings(text) == expected
    assert raw_html(text) == [] and "<img" not in render(text)
    assert all(len(columns) == 1 for columns in table_columns(text)), table_columns(text)


# --------------------------------------------------------------------------- the helpers


def test_ordinary_names_read_as_before_and_hostile_ones_as_typed():
    for name in ("rival__0__1", "creature__0__20260101-000000", "all_panic", "standin:hoarder", "gambit_rumour"):
        assert md_text(name) == name and md_code(name) == f"`{name}`" and md_row([name]) == f"| {name} |"
    assert md_text("__init__ _x_") == "\\_\\_init\\_\\_ \\_x\\_"  # a run between words only is left
    for name in ("a`b", "`a", "a``b`", "` a `"):
        rendered = render(md_code(name)).strip()
        assert rendered == f"<p><code>{html.escape(name, quote=False)}</code></p>", rendered
    assert md_code("a\nb") == "`a b`"
    assert md_block("x: '\n  ```\n'\n", "yaml").startswith("````yaml\n") and md_block("x\n").startswith("```\n")
    assert md_row(["a|b", "c\\|d", "e\nf"]) == "| a\\|b | c\\|d | e f |"
    assert portable("/tmp/x/evil.yaml") == "evil.yaml" and portable("default") == "default"


# --------------------------------------------------------------------------- the dataset card


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    """Traces of a scenario given by absolute path, whose name and description are hostile, in two
    hostile councils."""
    root = tmp_path_factory.mktemp("hostile")
    scenario = yaml.safe_load(files("glade.recipes.scenarios").joinpath("default.yaml").read_text())
    (root / "evil.yaml").write_text(yaml.safe_dump({**scenario, "name": "evil|na`me", "description": DESCRIPTION}))
    data = {
        "out": str(root / "traces"),
        "scenarios": [str(root / "evil.yaml")],
        "councils": {TRACES_COUNCIL: {}, TAGGED: {"*": {"kind": "standin", "disposition": "hoarder"}}},
        "seeds": {"start": 3, "count": 1},
        "turns": 2,
    }
    (root / "recipe.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    generate(load_generate_recipe(root / "recipe.yaml"))
    return root


DATASET_HEADINGS = [("h2", h) for h in ("Schema", "Terms", "Provenance", "Cost of the last run", "Recipe")]


def test_the_traces_card_keeps_its_headings_and_names_the_scenario_by_its_name(traces):
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(traces / "traces" / "README.md").text
    assert_sound(card, [("h1", "glade traces: traces"), *DATASET_HEADINGS])
    terms = card.split("## Terms\n")[1].split("\n## ")[0]
    # by its `name:`, as the rows and episode ids name it (its file's path stays off the card)
    assert "- **scenario ``evil|na`me``**: 2 turns, 5 creatures: calm ## Load from the Hub  fake \\<img" in terms
    assert str(traces) not in terms and str(traces) not in card.split("## Provenance\n")[1].split("\n## ")[0]
    assert '"scenario_hashes": {\n    "evil|na`me": ' in card
    rendered = render(card)
    for name in (TRACES_COUNCIL, TAGGED):  # each council in a code span, whole
        assert f"<code>{html.escape(name, quote=False)}</code>" in rendered


def test_the_exported_traces_card_has_glades_load_section_and_no_local_path(traces, tmp_path):
    from huggingface_hub import DatasetCard

    from glade.hub.export_traces import export_traces

    out = export_traces(traces / "traces", "alice/wood-traces", out=tmp_path / "out")
    card = DatasetCard.load(out / "README.md")
    assert_sound(card.text, [("h1", "glade traces: wood-traces"), *DATASET_HEADINGS, ("h2", "Load from the Hub")])
    assert "traces = load_dataset('alice/wood-traces', split=\"train\")" in card.text
    assert str(traces) not in (out / "README.md").read_text() and "/tmp/" not in (out / "README.md").read_text()


def test_an_older_cards_paths_and_forged_heading_do_not_reach_the_hub(traces, tmp_path):
    # a card an older glade wrote: the scenario's path in Terms and Provenance, its description as typed
    from huggingface_hub import DatasetCard

    from glade.hub.export_traces import export_traces

    folder = tmp_path / "older"
    shutil.copytree(traces / "traces", folder)
    path = str(traces / "evil.yaml")
    card = (folder / "README.md").read_text()
    card = card.replace("scenario ``evil|na`me``", f"scenario `{path}`").replace(
        '"evil|na`me": ', f"{json.dumps(path)}: "
    )
    card = card.replace(md_text(DESCRIPTION), DESCRIPTION)
    assert card.count(path) == 3 and "\n## Load from the Hub\n" in card  # Terms, Provenance, Recipe
    (folder / "README.md").write_text(card)
    out = export_traces(folder, "alice/wood-traces", out=tmp_path / "out")
    text = (out / "README.md").read_text()
    assert str(traces) not in text and "scenario `evil.yaml`" in text
    assert DatasetCard.load(out / "README.md").text.count("\n## Load from the Hub\n\n```python\n") == 1


# --------------------------------------------------------------------------- the model card


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A full-model checkpoint (the tiny base, trained on nothing) whose recipe name is hostile."""
    root = tmp_path_factory.mktemp("card")
    generate(GenerateRecipe(out=str(root / "traces"), scenarios=("default",), turns=2, worlds=4))
    folder = save_tiny(root / "creature__0__20260101-000000")
    meta = {"name": RECIPE_NAME, "seed": 0, "kind": "full", "base_model": None, "metrics": {"valid_json_rate": 0.75}}
    (folder / "meta.json").write_text(json.dumps(meta))
    (folder / "recipe.yaml").write_text(yaml.safe_dump({"name": RECIPE_NAME}))
    config = DataConfig(traces=(str(root / "traces"),), eval_share=0.25, split_seed=0)
    save_prepared(folder / "data", *prepare(config), config)
    return folder


def council(ckpt, folder, name: str, policy: str, scenario: str):
    """An evaluation in which the checkpoint sat as `policy` in council `name`, on `scenario`."""
    folder.mkdir()
    identity = f"hf:base+{ckpt.name}"
    summary = {
        "recipe": name,
        "policies": [identity],
        "decision": [{"council": name, "policy": policy, "policy_identity": [identity]}],
        "seats": [{"council": name, "policy": policy, "decisions": 8, "valid_action": {"mean": 0.5, "n": 2}}],
        "outcome": [
            {"scenario": scenario, "council": name, "figures": {"gambit_pnl": {"effect": {"mean": 1.0, "ci": [0, 2]}}}}
        ],
        "scenario_hashes": {scenario: "0123456789abcdef"},
    }
    flag = {
        "kind": "decision", "scenario": scenario, "council": name, "cast": 0, "creature": "oona", "phase": "seam",
        "policy": policy, "metric": "honey: sell share", "instead": None, "standin_value": 0.0, "live_value": 1.0,
        "effect": 1.0, "ci_low": 0.5, "ci_high": 1.0, "support": 1.0, "rank": 1,
    }  # fmt: skip
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "flags.json").write_text(json.dumps([flag, {**flag, "kind": "outcome", "policy": None}]))
    return folder


def export(ckpt, results, out):
    from huggingface_hub import ModelCard

    argv = ["export", str(ckpt), "--repo-id", "alice/creature", "--out", str(out), "--council", str(results)]
    assert main(argv) == 0
    return ModelCard.load(out / "README.md")


def test_the_model_card_keeps_its_headings_and_no_local_path_against_hostile_names(ckpt, tmp_path):
    plain = export(ckpt, council(ckpt, tmp_path / "plain", "mixed", "creature_model", "gambit_rumour"), tmp_path / "a")
    scenario = str(tmp_path / "x" / "e|v<img src=x onerror=y>.yaml")  # named by its file, as typed
    hostile = council(ckpt, tmp_path / "hostile", COUNCIL, TAGGED, scenario)
    card = export(ckpt, hostile, tmp_path / "b")
    assert_sound(plain.text, headings(plain.text))
    assert_sound(card.text, headings(plain.text))  # exactly glade's headings, as with ordinary names
    written = (tmp_path / "b" / "README.md").read_text()
    assert str(tmp_path) not in written and "/tmp/" not in written
    outcome = [r for r in card.data.eval_results if r.dataset_type == "glade/council-outcome"]
    assert {r.dataset_config for r in outcome} == {"e|v<img src=x onerror=y>.yaml", None}  # None: the flag count's
    rendered = render(card.text)
    assert f"<code>{html.escape(RECIPE_NAME.replace(chr(10), ' '), quote=False)}</code>" in rendered
    assert "scenario hashes: e\\|v\\<img src=x onerror=y>.yaml `0123456789abcdef`" in card.text
    assert f"<td>{html.escape(TAGGED, quote=False)}</td>" in rendered  # the seat's name, whole in its cell
    recipe = card.text.split("The resolved recipe:\n\n")[1]
    assert recipe.startswith("````yaml\n") and yaml.safe_load(recipe.split("\n````")[0][9:]) == {"name": RECIPE_NAME}
