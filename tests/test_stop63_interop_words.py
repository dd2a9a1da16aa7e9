"""What glade writes for the standard tools says what they need: a model card names the transformers it loads
with (transformers 4 cannot read the tokenizer files transformers 5 saves), and a direct lm_eval run is told to
apply the chat template, without which the tasks score the model on prompts it never sees in glade."""

import importlib.util
from pathlib import Path

import pytest

from glade.eval.harness import LM_TASKS
from glade.hub.card_usage import usage_section


@pytest.mark.parametrize(
    "kind, needs", [("lora", "transformers>=5' peft datasets"), ("full", "transformers>=5' datasets")]
)
def test_the_cards_usage_names_the_transformers_it_loads_with(kind, needs):
    lines = usage_section({"protocol_version": "p"}, {}, "you/creature", kind, "you/base", None)
    said = next(line for line in lines if line.startswith("It loads with transformers 5 or later"))
    assert f"`pip install '{needs}`" in said
    assert ("and peft" in said) == (kind == "lora")
    assert "Served by vLLM, ask for `temperature: 0` and at most 256 tokens" in said  # no budget named: 256


def test_a_direct_lm_eval_run_is_told_to_apply_the_chat_template():
    spec = importlib.util.spec_from_file_location("glade_lm_utils", LM_TASKS / "utils.py")
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    with pytest.raises(ValueError, match="and --apply_chat_template"):
        utils.decision_docs()


def test_the_readme_gives_the_direct_lm_eval_command_with_the_chat_template():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    command = readme[readme.index("lm_eval --model hf") :].split("```")[0]
    assert "--apply_chat_template" in command and "--include_path eval/lm_tasks" in command


def test_the_shipped_bases_card_is_the_one_glade_export_writes_for_it_today(tmp_path, monkeypatch, capsys):
    from glade.cli import main

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    base = Path(__file__).resolve().parents[1] / "models" / "tiny-base"
    assert main(["export", "shipped:tiny-base", "--repo-id", "glade/tiny-base", "--out", str(tmp_path / "out")]) == 0
    card = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    assert card == (base / "README.md").read_text(encoding="utf-8"), (
        "regenerate it: glade export shipped:tiny-base --repo-id glade/tiny-base --out DIR, then copy DIR/README.md"
    )
