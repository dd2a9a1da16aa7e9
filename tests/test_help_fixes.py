"""Every verb's --help read at 80 columns as a user copies from it, and the hint a recipe verb
gives for an option that names a mapping key (`--seeds 3`)."""

from __future__ import annotations

import re

import pytest

from glade.cli import VERBS, main


def _help(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--help"])
    assert stop.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("verb", [None, *VERBS])
def test_help_fits_80_columns_and_never_cuts_a_word_at_its_hyphen(verb, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    text = _help(capsys, *([verb] if verb else []))
    long = [line for line in text.splitlines() if len(line) > 80]
    assert not long, long
    cut = [line for line in text.splitlines() if re.search(r"[A-Za-z]-$", line)]  # crash- / gambit.yaml
    assert not cut, cut


def test_a_path_with_a_hyphen_stays_whole_where_the_line_breaks(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    words = " ".join(_help(capsys, "eval").split())
    assert "recipes/eval/crash-gambit.yaml" in words
    assert "(Bradley-Terry" in " ".join(_help(capsys).split())


def test_eval_usage_shows_the_recipe_as_required(capsys):
    usage = " ".join(_help(capsys, "eval").split("\n\n")[0].split())
    assert usage == "usage: glade eval [-h] [--ray [ADDRESS]] [--dry-run] [--verbose] recipe [key=value ...]"


def _refused(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as stop:
        main(list(argv))
    assert stop.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_an_option_naming_a_mapping_key_is_pointed_at_its_own_keys(capsys):
    assert _refused(capsys, "eval", "recipes/eval/crash-gambit.yaml", "--seeds", "3").endswith(
        "unrecognized arguments: --seeds 3; recipe keys are given as key=value, and seeds holds keys of its own "
        "(seeds.count, seeds.start): e.g. seeds.count=3"
    )
    # TRL's many settings are not listed
    assert _refused(capsys, "train", "recipes/train/tiny-base.yaml", "--sft", "3").endswith(
        "and sft holds keys of its own: sft.KEY=3"
    )
    assert _refused(capsys, "eval", "recipes/eval/crash-gambit.yaml", "--turns", "3").endswith("did you mean turns=3?")


def test_the_dry_run_calls_its_timing_a_trial_not_a_calibration(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    for verb in ("eval", "generate"):
        text = _help(capsys, verb)
        assert "a time estimate measured on a few trial turns" in text and "calibrat" not in text
