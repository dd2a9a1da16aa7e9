"""The command line as a user meets it: one stream rule for every verb (progress, warnings and
errors on stderr; results on stdout), training's steps after the last optimizer step shown, an
honest `glade flag` when nothing could be tested, a misspelt option answered with the verb's own
usage (and a key=value hint), a resumed eval that keeps its part and the totals apart, and
every verb's --help ending with its exit status."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import pytest
import yaml
from resume_setup import eval_recipe
from test_train import FAST_SFT, recipe_file, workdir  # noqa: F401  (workdir: the module's traces and base)

from glade.cli import VERBS, main

BAR = re.compile(r"^[\w ,-]+ ━+ \d+/\d+ \w+", re.MULTILINE)  # a progress bar: `label ━━━ 3/3 unit`


def bars(text: str) -> list[str]:
    return [m.group(0) for m in BAR.finditer(text)]


def written(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def generate_file(tmp_path) -> Path:
    return written(
        tmp_path / "gen.yaml",
        {"out": str(tmp_path / "traces"), "scenarios": ["default"], "seeds": {"count": 2}, "turns": 3, "worlds": 2},
    )


# --- 3. one stream rule: progress on stderr, results on stdout --------------------------------


def test_generate_results_and_its_dry_run_plan_go_to_stdout(tmp_path, capsys):
    path = generate_file(tmp_path)
    assert main(["generate", str(path), "--dry-run"]) == 0
    said = capsys.readouterr()
    plan = " ".join(said.out.split())
    assert "the plan, before it runs" in plan and " episodes (" in plan and said.err == ""  # `> plan.txt` holds it
    assert main(["generate", str(path)]) == 0
    said = capsys.readouterr()
    assert "wrote 2 episodes (2 played now" in said.out and "cost: 2 episodes" in said.out
    assert bars(said.err)[0].startswith("generate ━") and not bars(said.out) and "wrote" not in said.err


def test_eval_and_rank_draw_their_bars_on_stderr(tmp_path, capsys):
    path = eval_recipe(tmp_path)
    assert main(["eval", str(path)]) == 0
    said = capsys.readouterr()
    assert "live decisions" in said.out and "valid-action rate" in said.out and not bars(said.out)
    assert (
        bars(said.err)[0].startswith("eval ━") and bars(said.err)[0].endswith(" world") and " world-turns " in said.err
    )
    assert main(["rank", str(tmp_path / "results"), "--resamples", "1743"]) == 0
    said = capsys.readouterr()
    assert "leaderboard" in said.out and "wrote" in said.out and not bars(said.out)
    assert not bars(said.err)  # under 4 (scenario, seed) units: no bootstrap, so no refits and no empty bar


def test_quickstart_draws_its_bars_on_stderr(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the generate step writes runs/traces/ here
    assert main(["quickstart", "--out", str(tmp_path / "qs"), "--until", "generate"]) == 0
    said = capsys.readouterr()
    assert "step 3/3: generate" in said.out and "episodes in runs/traces/heldout" in said.out
    assert not bars(said.out)
    assert [b.split(" ━")[0] for b in bars(said.err)] == [
        "generate standin",
        "generate panic-seller",
        "generate speculator",
        "generate heldout",
    ]


def test_the_progress_bar_takes_a_labelled_stage_in_the_same_display():
    from rich.console import Console

    from glade.console import progress_bar

    screen = io.StringIO()
    with progress_bar("train x", "steps", Console(file=screen, width=100)) as bar:
        bar.total(4)
        bar.advance(4)
        held = bar.stage("held-out states", "states")
        held.total(3)
        held.advance(3)
    lines = [line for line in screen.getvalue().splitlines() if line.strip()]
    assert lines[-2].startswith("train x") and "4/4 steps" in lines[-2]
    assert lines[-1].startswith("held-out states") and "3/3 states" in lines[-1]


# --- 1. train: the steps after the last optimizer step have bars of their own -----------------


def test_train_shows_the_eval_loss_and_each_held_out_pass_on_stderr(workdir, tmp_path, capsys):  # noqa: F811
    from glade.train.evaluate import evaluate_checkpoint
    from glade.train.recipe import load_train_recipe

    eval_spec = {"traces": [str(workdir / "heldout")], "states": 4, "probe_states": 3, "batch_size": 3}
    path = recipe_file(workdir, tmp_path, eval=eval_spec)
    argv = [str(path), *FAST_SFT[:-2], "eval.max_new_tokens=16"]
    assert main(["train", *argv]) == 0
    said = capsys.readouterr()
    assert "checkpoint:" in said.out and not bars(said.out)
    shown = [" ".join(re.sub("━+", " ", b).split()) for b in bars(said.err)]
    assert shown[0] == "train lora 6/6 steps" and shown[1].startswith("eval loss ") and shown[1].endswith(" batches")
    assert shown[2:] == ["held-out and probe states 7/7 states", "held-out and probe states, structured 7/7 states"], (
        said.err
    )
    # the bars change no answer: the held-out figures again, without a bar
    [ckpt] = (tmp_path / "checkpoints").glob("lora__0__*")
    recipe = load_train_recipe(path, argv[1:])
    meta = json.loads((ckpt / "meta.json").read_text())
    plain = evaluate_checkpoint(ckpt, None, recipe.eval, recipe.data)
    assert plain.pop("heldout_seeds") == [50] and plain.pop("heldout_trained_on") == meta["heldout"]["trained_on"]
    assert {k: meta["metrics"][k] for k in plain} == plain


# --- 2. flag with too few seeds: no all-clear --------------------------------------------------


def test_flag_with_two_seeds_says_no_cell_could_be_tested(tmp_path, capsys):
    path = eval_recipe(tmp_path, seeds={"start": 0, "count": 2})
    assert main(["eval", str(path)]) == 0
    capsys.readouterr()
    assert main(["flag", str(tmp_path / "results")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "no flags possible: no cell could be tested at this n" in out
    assert (
        "is at least 0.5 in every cell and cannot reach q = 0.1" in out
        and "Rerun glade eval with more seeds into a new folder (seeds.count=N out=DIR; at least 5 differing" in out
    )
    assert "do not part ways" not in out and "no flags:" not in out
    md = (tmp_path / "results" / "flags.md").read_text()  # the file says the same
    assert "No flags possible: no cell could be tested at this n" in md and "do not part ways" not in md


# --- 4. and 5. what the parser says ------------------------------------------------------------


@pytest.mark.parametrize(
    ("verb", "recipe", "typed", "hint"),
    [
        ("generate", "gen.yaml", ["--out", "runs/x"], "recipe keys are given as key=value; did you mean out=runs/x?"),
        ("eval", "eval.yaml", ["--seeds.count=3"], "did you mean seeds.count=3?"),
        ("train", "train.yaml", ["--max-fault-share", "1"], None),  # not a training recipe key
        ("eval", "eval.yaml", ["--max-fault-share", "0.5"], "did you mean max_fault_share=0.5?"),
        # the last part of a nested key: the whole dotted key in the hint
        ("train", "train.yaml", ["--max_steps", "3"], "did you mean sft.max_steps=3?"),
        ("train", "train.yaml", ["--states=8"], "did you mean eval.states=8?"),
        ("generate", "gen.yaml", ["--count", "2"], "did you mean seeds.count=2?"),
        ("train", "train.yaml", ["--traces", "runs/t"], None),  # data.traces or eval.traces: not guessed
        # simulate's --set on a recipe verb
        ("generate", "gen.yaml", ["--set", "seeds.count=2"], "drop --set: recipe keys are given as key=value after"),
    ],
)
def test_an_unknown_option_shows_the_verbs_usage_and_a_key_value_hint(tmp_path, capsys, verb, recipe, typed, hint):
    with pytest.raises(SystemExit) as exited:
        main([verb, str(tmp_path / recipe), *typed])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: glade {verb} ") and f"unrecognized arguments: {' '.join(typed)}" in err
    assert (hint in err) if hint else "did you mean" not in err


def test_an_unknown_simulate_option_shows_simulates_usage(capsys):
    with pytest.raises(SystemExit):
        main(["simulate", "--bogus"])
    err = capsys.readouterr().err
    assert err.startswith("usage: glade simulate ") and "unrecognized arguments: --bogus" in err


@pytest.mark.parametrize(
    ("argv", "verbose"),
    [(["--verbose", "simulate"], True), (["simulate", "--verbose"], True), (["simulate"], False)],
)
def test_verbose_may_come_before_the_verb(monkeypatch, argv, verbose):
    from glade.cli import simulate

    seen = []
    monkeypatch.setattr(simulate, "run", lambda args: seen.append(args.verbose) or 0)
    assert main(argv) == 0 and seen == [verbose]


@pytest.mark.parametrize("verb", ["generate", "eval", "train"])
def test_no_arguments_names_only_the_recipe(capsys, verb):
    with pytest.raises(SystemExit):
        main([verb])
    [line] = [x for x in capsys.readouterr().err.splitlines() if "error:" in x]
    assert line.endswith("the following arguments are required: recipe")


# --- 6. a resumed eval: its part and the totals apart: tests/test_resume.py


# --- 7. help: examples and the exit status, in one wording -------------------------------------

MINE = tuple(VERBS)  # every verb
EXAMPLES = ("train", "eval", "generate", "merge", "flag", "rank", "report", "quickstart", "export", "lm-eval")


def help_of(verb: str, capsys) -> str:
    with pytest.raises(SystemExit):
        main([verb, "--help"])
    return capsys.readouterr().out


@pytest.mark.parametrize("verb", MINE)
def test_every_verbs_help_ends_with_its_exit_status(capsys, verb):
    text = help_of(verb, capsys)
    last = text.strip().split("\n\n")[-1]
    assert last.startswith("exit status: 0 ") and " 2 bad input" in " ".join(last.split()), last
    if verb in EXAMPLES:
        examples = text.split("examples:\n")[1].split("\n\n")[0]
        assert examples.startswith(f"  glade {verb}"), examples


def test_quickstart_help_says_what_it_writes_where(capsys):
    text = " ".join(help_of("quickstart", capsys).split())
    for place in ("OUT/simulate/", "runs/traces/NAME/", "checkpoints/NAME__0__TIME/", "runs/eval/crash-gambit/"):
        assert place in text, place
    assert "OUT/exports/NAME/" in text and "--out moves only OUT/simulate and OUT/exports" in text


def test_a_bar_on_no_terminal_says_how_far_it_is_every_while(monkeypatch, capsys):
    """rich draws a bar on a log file only when it ends: a 35-minute training run wrote nothing
    until then. There, a plain line says how far it is every LOG_EVERY seconds."""
    from glade import console

    monkeypatch.setattr(console, "LOG_EVERY", 0.0)
    with console.progress_bar("train", "steps") as bar:
        bar.total(3)
        bar.note("loss 0.5")
        for _ in range(3):
            bar.advance()
    err = capsys.readouterr().err.splitlines()
    assert err[:3] == [
        "train 1/3 steps 0:00:00 loss 0.5",
        "train 2/3 steps 0:00:00 loss 0.5",
        "train 3/3 steps 0:00:00 loss 0.5",
    ]
    assert bars("\n".join(err[3:]))  # and the bar itself, once, at the end
    monkeypatch.setattr(console, "LOG_EVERY", 3600.0)
    with console.progress_bar("train", "steps") as bar:
        bar.total(3)
        bar.advance(3)
    assert len(capsys.readouterr().err.strip().splitlines()) == 1  # within the interval: the bar alone


def test_huggingface_hub_is_quiet_once_imported_after_quiet_libraries():
    # huggingface_hub sets its own log level when imported (by datasets here); offline, its retries printed ten
    # lines of "... thrown while requesting HEAD ... Retrying in 8s" before glade's one error line
    import os
    import subprocess
    import sys

    code = (
        "from glade.console import quiet_libraries; quiet_libraries(); import logging, datasets; "
        "print(logging.getLogger('huggingface_hub.utils._http').getEffectiveLevel())"
    )
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_VERBOSITY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(logging.ERROR)


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("out=runs/x", "unrecognized arguments: out=runs/x; did you mean --out runs/x?"),
        ("max_fault_share=0.5", "did you mean --max-fault-share 0.5?"),
        ("market.max_step=0.3", "scenario keys are given with --set; did you mean --set market.max_step=0.3?"),
    ],
)
def test_simulate_given_a_bare_key_value_names_its_option_or_set(capsys, given, said):
    # the recipe verbs hint `key=value` <-> `--key value`; simulate, which has no recipe, said nothing
    with pytest.raises(SystemExit) as exit_:
        main(["simulate", given])
    assert exit_.value.code == 2 and said in capsys.readouterr().err


def test_the_seats_that_bought_their_own_goods_are_named_under_the_seat_table():
    # a column of its own squeezed every interval of the seat table at 100 columns; one line beneath instead
    from glade.cli.results_tables import self_buy_line

    never = {"mean": 0.0, "ci": None, "n": 8, "note": "same value in all 8 seeds"}
    seats = [
        {"council": "five_minds", "policy": "speculator_model", "self_buy": {"mean": 0.092, "ci": [0.067, 0.123]}},
        {"council": "five_minds", "policy": "hoarder_model", "self_buy": never},
    ]
    assert self_buy_line(seats) == (
        "self-buys (the share of a seat's decisions bidding for a good its creature makes; no stand-in does): "
        "five_minds/speculator_model 0.092 [0.067, 0.123]; none by the others"
    )
    assert self_buy_line(seats[1:]).endswith("does): none by any live seat")
    assert self_buy_line([{"council": "c", "policy": "p"}]) is None  # rows from before self-buys were recorded
