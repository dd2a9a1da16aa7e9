"""Train recipes that passed every check and then trained wrong or died late, each now one named
error before training: a sft.max_length that cuts some rows' answers (TRL trained on the cut-off
JSON), and a sft.report_to name no integration has (transformers refused it as the trainer was built)."""

import pytest
import yaml
from test_walk_train import error_line, recipe_file, workdir  # noqa: F401 (workdir: the module's fixture)

from glade.cli import main
from glade.config import ConfigError
from glade.train.data import prepare
from glade.train.recipe import load_train_recipe


def row_lengths(root, tmp_path):
    """Each training and held-out row's tokens (prompt and answer) and answer tokens, as the base's
    own chat template makes them: counted apart from the trainer, to check what it is told."""
    from transformers import AutoTokenizer

    recipe = load_train_recipe(recipe_file(root, tmp_path))
    tokenizer = AutoTokenizer.from_pretrained(root / "base")
    splits = []
    for rows in prepare(recipe.data)[:2]:
        full = [len(tokenizer.apply_chat_template(m, tokenize=True)["input_ids"]) for m in rows["messages"]]
        prompt = [
            len(tokenizer.apply_chat_template(m[:-1], tokenize=True, add_generation_prompt=True)["input_ids"])
            for m in rows["messages"]
        ]
        splits.append((full, [f - p for f, p in zip(full, prompt, strict=True)]))
    return recipe, splits


def test_a_max_length_inside_some_answers_is_named_before_training(workdir, tmp_path, capsys):  # noqa: F811
    # was: TRL cut those rows to their first max_length tokens and trained on the broken JSON answers
    _, [(train, _), (held, _)] = row_lengths(workdir, tmp_path)
    longest = max(train + held)
    limit = longest - 1  # inside the answer of the longest rows only (answers are dozens of tokens)
    path = recipe_file(workdir, tmp_path)
    assert main(["train", str(path), f"sft.max_length={limit}"]) == 2
    cut = f"{sum(n > limit for n in train)} of {len(train)} training rows and {sum(n > limit for n in held)} of {len(held)} held-out rows"
    assert error_line(capsys) == (
        f"error: {path} with sft.max_length={limit}: sft.max_length: {limit} cuts the answer of {cut} (TRL keeps "
        f"each row's first {limit} tokens, so it would train on cut-off answers); the longest row is {longest} "
        f"tokens: raise sft.max_length to at least {longest} (or set it to null)"
    )
    assert 0 < sum(n > limit for n in train) < len(train)  # some rows cut, not every one (that is another error)
    assert not (tmp_path / "checkpoints").exists()  # nothing trained, nothing left behind


def test_a_max_length_of_the_longest_row_keeps_every_answer_and_one_less_does_not(workdir, tmp_path):  # noqa: F811
    from glade.train.sft import build_trainer

    recipe, [(train, _), (held, _)] = row_lengths(workdir, tmp_path)
    train_rows, eval_rows, _ = prepare(recipe.data)
    longest = max(train + held)
    for limit in (longest, longest + 1, None):
        changed = load_train_recipe(recipe_file(workdir, tmp_path), [f"sft.max_length={limit or 'null'}"])
        trainer = build_trainer(changed, str(workdir / "base"), train_rows, eval_rows, str(tmp_path / "out"))
        assert len(trainer.train_dataset) == len(train_rows)
    changed = load_train_recipe(recipe_file(workdir, tmp_path), [f"sft.max_length={longest - 1}"])
    with pytest.raises(ConfigError, match=f"cuts the answer of .* raise sft.max_length to at least {longest} "):
        build_trainer(changed, str(workdir / "base"), train_rows, eval_rows, str(tmp_path / "out"))


@pytest.mark.filterwarnings("ignore:The `'keep_end'` truncation mode is deprecated")
def test_keep_end_is_told_the_length_that_keeps_every_answer(workdir, tmp_path):  # noqa: F811
    # keep_end keeps each row's last tokens: the answer, then as much of the prompt as fits
    from glade.train.sft import build_trainer

    recipe, [(train, train_answers), (held, held_answers)] = row_lengths(workdir, tmp_path)
    train_rows, eval_rows, _ = prepare(recipe.data)
    needed = max(train_answers + held_answers)
    limit = needed - 1
    changed = load_train_recipe(
        recipe_file(workdir, tmp_path), [f"sft.max_length={limit}", "sft.truncation_mode=keep_end"]
    )
    cut = (
        f"{sum(n > limit for n in train_answers)} of {len(train)} training rows and "
        f"{sum(n > limit for n in held_answers)} of {len(held)} held-out rows"
    )
    said = (
        f"sft.max_length: {limit} cuts the answer of {cut} (TRL keeps each row's last {limit} tokens, so it would "
        f"train on cut-off answers); the longest row is {max(train + held)} tokens: raise sft.max_length to at "
        f"least {needed} (or set it to null)"
    )
    with pytest.raises(ConfigError) as caught:
        build_trainer(changed, str(workdir / "base"), train_rows, eval_rows, str(tmp_path / "out"))
    assert str(caught.value).endswith(said)


@pytest.mark.parametrize(
    ("report_to", "said"),
    [
        ("wandbb", "unknown integration 'wandbb' (known: {known}); did you mean wandb?"),
        (["tensorbord"], "unknown integration 'tensorbord' (known: {known}); did you mean tensorboard?"),
        (["none", "zzz"], "unknown integration 'zzz' (known: {known})"),
        (["none", "wandb"], "none stands alone (report_to: all, or report_to: none), not in a list with other integrations"),
    ],
)  # fmt: skip
def test_a_report_to_no_integration_has_fails_validate_and_train(tmp_path, capsys, monkeypatch, report_to, said):
    # was: validate said ok, and train died in the Trainer with "wandbb is not supported, only ... are supported."
    import importlib.util

    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    real = importlib.util.find_spec  # as on a machine with wandb installed, whatever this one has
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a, **k: object() if name == "wandb" else real(name))
    # transformers' own names, as it takes them
    said = said.replace("{known}", ", ".join([*INTEGRATION_TO_CALLBACK, "all", "none"]))
    path = recipe_file(tmp_path, tmp_path)
    data = yaml.safe_load(path.read_text())
    data["sft"]["report_to"] = report_to
    path.write_text(yaml.safe_dump(data))
    assert main(["validate", str(path), "--kind", "train"]) == 2
    assert f"FAIL   {path}: sft.report_to: {said}" in capsys.readouterr().out
    assert main(["train", str(path)]) == 2
    assert error_line(capsys) == f"error: {path}: sft.report_to: {said}"
