"""The verbs that read a results folder (`glade flag`, `glade report`, `glade rank`) on folders
a person has edited or broken by hand: each mistake is one named error line (exit 2), never a
traceback or numbers made up from a bad setting."""

from __future__ import annotations

import re
import shutil

import pytest

from glade.cli import main

RECIPE = """\
name: walk
out: {out}
policies:
  panic: {{kind: standin, disposition: panic_seller}}
councils:
  one: {{focal: {{"*": panic}}}}
scenarios: [gambit_rumour]
seeds: {{start: 500, count: 4}}
turns: 6
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """A small results folder as glade eval leaves it (shards left out), flagged once."""
    from glade.eval.recipe import load_eval_recipe
    from glade.eval.run import run_recipe

    root = tmp_path_factory.mktemp("walk_eval_reads")
    out = root / "results"
    (root / "recipe.yaml").write_text(RECIPE.format(out=out))
    run_recipe(load_eval_recipe(root / "recipe.yaml"))
    assert main(["flag", str(out)]) == 0
    return out


@pytest.fixture
def copy(results, tmp_path):
    out = tmp_path / "results"
    shutil.copytree(results, out, ignore=shutil.ignore_patterns("shards"))
    return out


def _error(capsys, argv: list[str]) -> str:
    """The one error line a verb prints, after checking it exits 2."""
    capsys.readouterr()
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def _edit(path, pattern: str, repl: str) -> None:
    text = path.read_text()
    edited = re.sub(pattern, repl, text, count=1, flags=re.M)
    assert edited != text
    path.write_text(edited)


# --- 1. the thresholds and seed of RESULTS/recipe.yaml, checked as the eval recipe checks them


@pytest.mark.parametrize(
    "pattern, repl, said",
    [
        (r"^  fdr_q: .*$", "  fdr_q: 5", "thresholds.fdr_q: must be between 0 and 1, both excluded, got 5.0"),
        (
            r"^  ci_level: .*$",
            "  ci_level: 1.5",
            "thresholds.ci_level: must be between 0 and 1, both excluded, got 1.5",
        ),
        (r"^thresholds:\n(  .*\n)+", "thresholds: 5\n", "thresholds: expected a mapping, got 5"),
        (r"^seed: .*$", "seed: abc", "seed: expected an integer, got 'abc'"),
        (r"^seed: .*$", "seed: -1", "seed: must be at least 0, got -1"),
    ],
)
@pytest.mark.parametrize("verb", ["flag", "report"])
def test_a_bad_threshold_or_seed_in_recipe_yaml_is_named(copy, capsys, verb, pattern, repl, said):
    _edit(copy / "recipe.yaml", pattern, repl)
    before = (copy / "flags.json").read_text()
    assert _error(capsys, [verb, str(copy)]) == f"error: {copy / 'recipe.yaml'}: {said}"
    assert (copy / "flags.json").read_text() == before  # nothing written
    assert not (copy / "report.md").exists()


def test_without_recipe_yaml_the_summary_thresholds_are_checked_too(copy, capsys):
    import json

    (copy / "recipe.yaml").unlink()
    summary = json.loads((copy / "summary.json").read_text())
    summary["thresholds"] = {"fdr_q": 0}
    (copy / "summary.json").write_text(json.dumps(summary))
    for verb in ("report", "flag"):  # flag read the defaults here, report the summary's
        said = _error(capsys, [verb, str(copy)])
        assert said == (
            f"error: {copy / 'summary.json'}: thresholds.fdr_q: must be between 0 and 1, both excluded, got 0.0"
        )


# --- 2. flag and report never write over a file glade did not write; their own they replace


@pytest.mark.parametrize(
    "verb, name, what",
    [
        ("flag", "flags.json", "flags file (flags.json)"),
        ("flag", "flags.md", "flags page (flags.md)"),
        ("report", "report.md", "report (report.md)"),
        ("report", "report.html", "report (report.html)"),
    ],
)
def test_flag_and_report_refuse_to_overwrite_a_file_of_the_users(copy, capsys, verb, name, what):
    (copy / name).write_text("my own notes\n")
    said = _error(capsys, [verb, str(copy)])
    assert said == (
        f"error: {copy / name}: exists and is not a {what} glade wrote; glade never replaces a file it did not "
        "write: move that file aside"
    )
    assert (copy / name).read_text() == "my own notes\n"
    assert not (copy / "report.md").exists() or name == "report.md"  # refused before anything was written


def test_flag_and_report_replace_what_they_wrote_before(copy):
    assert main(["flag", str(copy)]) == 0  # over the fixture's own flags.json and flags.md
    assert main(["report", str(copy)]) == 0
    first = (copy / "report.md").read_text()
    assert main(["report", str(copy)]) == 0
    assert (copy / "report.md").read_text() == first
    (copy / "flags.json").write_text("[]\n")  # what a glade from before families wrote with no flag
    assert main(["flag", str(copy)]) == 0
    assert '"method"' in (copy / "flags.json").read_text()


# --- 3. wrong-shaped files in a results folder: named, with what to do


def test_a_summary_json_that_is_not_an_object_is_named_by_rank_and_report(copy, capsys):
    (copy / "summary.json").write_text("[1]\n")
    expected = f"error: {copy / 'summary.json'}: not a summary glade eval wrote (a JSON object; this holds a list); "
    assert _error(capsys, ["rank", str(copy)]).startswith(expected)
    assert _error(capsys, ["report", str(copy)]).startswith(expected)


@pytest.mark.parametrize("verb", ["flag", "report"])
def test_a_recipe_yaml_that_is_not_a_mapping_is_named(copy, capsys, verb):
    (copy / "recipe.yaml").write_text("- 1\n")
    said = _error(capsys, [verb, str(copy)])
    assert said.startswith(
        f"error: {copy / 'recipe.yaml'}: not the recipe glade eval wrote (a mapping; this holds a list); "
    )


@pytest.mark.parametrize(
    "pattern, repl, said",
    [
        (r"^councils:\n(  .*\n)+", "councils: 5\n", "councils: expected a mapping, got 5"),
        (r"^scenarios:\n(- .*\n)+", "scenarios: gambit_rumour\n", "scenarios: expected a list, got 'gambit_rumour'"),
    ],
)
def test_a_recipe_key_of_the_wrong_shape_is_named_by_report(copy, capsys, pattern, repl, said):
    _edit(copy / "recipe.yaml", pattern, repl)
    assert _error(capsys, ["report", str(copy)]).startswith(f"error: {copy / 'recipe.yaml'}: {said}; ")


@pytest.mark.parametrize("verb", ["flag", "report"])
def test_a_decisions_table_that_is_another_table_names_the_missing_columns(copy, capsys, verb):
    shutil.copy(copy / "episodes.parquet", copy / "decisions.parquet")
    said = _error(capsys, [verb, str(copy)])
    assert said.startswith(
        f"error: {copy / 'decisions.parquet'}: missing column(s) turn, phase, policy_name, action, standin_action, "
        "agreement, so not the decisions.parquet glade eval writes; "
    )


def test_an_episodes_table_that_is_another_table_is_named_by_rank(copy, capsys):
    shutil.copy(copy / "decisions.parquet", copy / "episodes.parquet")
    said = _error(capsys, ["rank", str(copy)])
    assert said.startswith(f"error: {copy / 'episodes.parquet'}: missing column(s) world, focal, so not")


def test_a_flags_json_of_another_shape_is_a_note_in_the_report(copy):
    (copy / "flags.json").write_text("[]\n")
    assert main(["report", str(copy)]) == 0
    md = (copy / "report.md").read_text()
    assert "? flags" not in md  # it used to read as a flags file with unknown counts
    assert f"{copy / 'flags.json'}: not what glade flag writes" in md
    assert "rerun \\`glade flag\\` on its results folder" in md


# --- 4. glade rank's own options


def test_rank_names_a_negative_seed(copy, capsys):
    said = _error(capsys, ["rank", str(copy), "--seed", "-1"])
    assert said == "error: --seed: must be at least 0 (it seeds the bootstrap), got -1"
