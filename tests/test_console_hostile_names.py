"""Names a recipe gives (councils, policies, seats, scenarios, folders) print as written: a
bracket is no rich markup (`a[/]` raised a MarkupError after the results were written, and
`one_model[v2]` printed as `one_model`), and a control character is refused when the recipe
loads, before it could reach the terminal raw."""

from __future__ import annotations

import pandas as pd
import pytest
from rich.console import Console

from glade.config import ConfigError
from glade.eval.recipe import EvalRecipe, load_eval_recipe
from tests.resume_setup import eval_recipe
from tests.test_field_notes import seat_rows

HOSTILE = ("a[/]", "one_model[v2]", "[bold red]x[/bold red][link=http://evil]L[/link]")


def _printed(capsys) -> str:
    return capsys.readouterr().out


def test_table_one_prints_council_names_as_written(capsys):
    from glade.cli.results_tables import print_table_one
    from glade.eval.field_notes import table_one

    frame = seat_rows()
    frame = frame[frame["council"] != "five_minds"]
    one = frame[frame["council"] == "one_model"]
    frame = pd.concat([frame, *(one.assign(council=n, episode_id=one["episode_id"] + n) for n in HOSTILE)])
    print_table_one(Console(width=400), table_one(frame))  # raised MarkupError on `a[/]`
    out = _printed(capsys)
    for name in HOSTILE:
        assert name in out, name


def test_the_outcome_and_seat_tables_and_self_buys_print_names_as_written(tmp_path, monkeypatch, capsys):
    from glade.cli.results_tables import print_results

    monkeypatch.setattr("glade.cli.results_tables.table_one_of", lambda *a: [])  # the outcome table, not Table 1
    recipe = EvalRecipe(name="run[red]", out=str(tmp_path), policies={}, councils={}, scenarios=())
    valid = {"mean": 0.9, "ci": None, "n": 2, "note": "too few seeds"}
    buys = {"mean": 0.25, "ci": None, "note": "too few seeds"}
    seat = {"council": "a[/]", "policy": "one_model[v2]", "valid_action": valid, "decisions": 4}
    seat |= {"errors": {"bad[/]": 1}, "self_buy": buys}
    row = {"scenario": "wood[v2]", "world": "a[/]", "legend_ratio": 0.8, "gambit_pnl": 1.5, "n": 2}
    print_results(Console(width=200), recipe, {"table": [row], "seats": [seat]})
    out = _printed(capsys)
    assert "run[red]: legend good at settlement" in out  # the title's recipe name
    assert "wood[v2]" in out and "a[/]" in out and "one_model[v2]" in out and "bad[/] 1" in out
    assert "a[/]/one_model[v2] 0.250 (too few seeds)" in out  # the self-buy line


def _folder(root, name: str):
    """A results folder of two policies on three seeds (as tests/test_rank_fixes builds one), and a
    third alone on another creature: compared with none, so named under the table."""
    folder = root / name
    folder.mkdir()
    rows = [
        {
            "episode_id": f"e.s.{c}.{p}.s{seed}", "scenario": "s", "scenario_hash": "h", "seed": seed,
            "creature": c, "world": "council", "focal": True, "policy": p, "wealth_change": v,
            "council": "k", "cast": 0,
        }
        for seed in range(3)
        for c, p, v in (("c1", "seat[/]", 2.0), ("c1", "one_model[v2]", 1.0), ("c2", "lone[/]", 1.0))
    ]  # fmt: skip
    pd.DataFrame(rows).to_parquet(folder / "episodes.parquet")
    return folder


def test_rank_prints_policy_names_and_folders_as_written(tmp_path, monkeypatch, capsys):
    from glade.cli import main

    monkeypatch.setenv("COLUMNS", "200")
    folder = _folder(tmp_path, "r[red]")
    assert main(["rank", str(folder), "--resamples", "10"]) == 0  # raised MarkupError on `seat[/]`
    out = " ".join(_printed(capsys).split())
    assert "seat[/]" in out and "one_model[v2]" in out and "not ranked: lone[/]: never on a creature" in out
    assert f"from {folder}" in out and f"wrote {folder / 'rank.json'}" in out


def test_a_progress_label_and_note_are_no_markup():
    import io

    from glade.console import progress_bar

    con = Console(width=100, file=io.StringIO())  # no terminal: rich draws the bar once, at the end
    with progress_bar("train a[/]", "steps", con) as bar:  # raised MarkupError when drawn
        bar.total(1)
        bar.note("loss[/]")
        bar.advance()
    out = con.file.getvalue()
    assert "train a[/]" in out and "loss[/]" in out


def test_print_table_prints_its_title_rows_and_lines_as_written(capsys):
    from glade.console_tables import print_table

    print_table(Console(width=200), "run[red]: the plan", ["seat"], [["python:a[/]"]], ["seat[/] 4 decisions"])
    out = " ".join(_printed(capsys).split())
    assert "run[red]: the plan" in out and "python:a[/]" in out and "seat[/] 4 decisions" in out


@pytest.mark.parametrize(
    ("changes", "key", "shown"),
    [
        ({"policies": {"p\x1b[2J": "panic_seller"}, "councils": {"c": {"focal": {"*": "p\x1b[2J"}}}}, "policies",
         "'p\\x1b[2J' cannot label results: control character '\\x1b' at position 1"),
        ({"councils": {"a\nb": {"focal": {"*": "panic"}}}}, "councils",
         "'a\\nb' cannot label results: control character '\\n' at position 1"),
        ({"councils": {"t\x1b]0;TITLE\x07": {"focal": {"*": "panic"}}}}, "councils",
         "'t\\x1b]0;TITLE\\x07' cannot label results: control character '\\x1b' at position 1"),
        ({"name": "run\u202e"}, "name", "'run\\u202e' cannot label results: control character '\\u202e' at position 3"),
    ],
)  # fmt: skip
def test_a_control_character_in_a_name_is_refused_naming_it(tmp_path, changes, key, shown):
    with pytest.raises(ConfigError) as info:
        load_eval_recipe(eval_recipe(tmp_path, **changes))
    message = str(info.value)
    assert message == f"{tmp_path / 'eval.yaml'}: {key}: {shown}; use printable characters only"
    assert not any(ch in message for ch in "\x1b\n\x07\u202e")  # the message itself prints nothing raw


def _hostile_scenario():
    """gambit_shock of 4 turns under hostile names: the scenario, Oona's name and species, honey
    (as a table column) and the gambit's legend."""
    from dataclasses import replace

    from glade.env import load_scenario

    s = load_scenario("gambit_shock", turns=4)
    creatures = {**s.creatures, "oona": replace(s.creatures["oona"], name="Oona[/]", species="owl[v2]")}
    goods = {("honey[v2]" if g == "honey" else g): good for g, good in s.goods.items()}
    gambit = replace(s.gambit, legend="run[/]")
    return replace(s, name="shock[red]", creatures=creatures, goods=goods, gambit=gambit)


def test_the_episode_tables_print_the_scenarios_names_as_written():
    import io

    from glade.console_tables import scoreboard, summary_lines, turn_table

    s = _hostile_scenario()
    con = Console(width=250, file=io.StringIO(), color_system=None)
    prices = {g: good.price for g, good in s.goods.items()}
    history = [{"turn": 0, "prices": prices, "events": [], "seam_writes": [], "gambit_pnl": 0.0, "trades": 0,
                "volume": {}}]  # fmt: skip
    con.print(turn_table(s, 7, history))
    rows = [{"creature": c, "fills": "[]", "self_buy": 0, "seat": "python:a[/]", "pebbles": 5.0, "wealth_after": 9.0,
             "mood": 0.5, "rejected": "[]"} for c in s.creatures]  # fmt: skip
    con.print(scoreboard(s, rows, 120))
    summary = {"gini": 0.1, "trades": 3, "volume": 4, "gambit_pnl": 1.0, "turns": 4, "patron_pebbles": 1.0,
               "scenario": "shock[red]", "scenario_hash": "h", "seed": 7, "conservation_problems": ["a[/] holds -1"]}  # fmt: skip
    for line in summary_lines(s, summary):
        con.print(line, soft_wrap=True)
    out = con.file.getvalue()
    assert "shock[red], seed 7" in out and "honey[v2]" in out  # the turn table's title and a good's column
    assert "Oona[/]" in out and "owl[v2]" in out and "python:a[/]" in out  # the scoreboard
    assert "(run[/] by shock" in out and "gambit run[/] (shock" in out  # the P&L line and the note it never sprang
    assert "scenario shock[red]  hash h" in out and "a[/] holds -1" in out


# --- the verbs' own lines: a folder such as `runs/x[/]` (the folders `x[` and `]`) is a legal --out or out=,
# and its path prints as written, not as markup that raised a MarkupError after the work was done


def _cut(shard) -> None:
    shard.write_bytes(shard.read_bytes()[: len(shard.read_bytes()) // 2])  # as a full disk leaves it


def test_generate_prints_its_out_folder_as_written(tmp_path, capsys):
    from glade.cli import main
    from tests.resume_setup import generate_recipe

    out = tmp_path / "tr[/]"
    path = generate_recipe(tmp_path, out=str(out), councils={"scenario": {}}, seeds={"start": 0, "count": 1}, turns=2)
    assert main(["generate", str(path)]) == 0  # raised MarkupError once the episodes were written
    assert f" s) to {out}\n" in _printed(capsys)
    assert main(["generate", str(path), "--dry-run"]) == 0
    assert f"{out}: nothing left to play; every episode is finished\n" in _printed(capsys)
    assert main(["generate", str(path)]) == 0
    assert f"nothing left to play: all 1 episodes of {out} were finished; " in _printed(capsys)
    _cut(out / "data" / "part-00000.parquet")
    assert main(["generate", str(path)]) == 0  # what reading the shard raised names its path
    printed = _printed(capsys)
    assert "replayed: data/part-00000.parquet: unreadable (" in printed and "; its 1 episode(s) play again" in printed


def test_eval_prints_its_name_out_folder_and_repairs_as_written(tmp_path, capsys):
    from glade.cli import main

    out = tmp_path / "res[/]"
    path = eval_recipe(tmp_path, name="run[v2]", out=str(out), seeds={"start": 0, "count": 1}, turns=5)
    assert main(["eval", str(path)]) == 0
    capsys.readouterr()
    assert main(["eval", str(path), "--dry-run"]) == 0  # raised MarkupError
    assert f"run[v2]: nothing left to play; every episode is finished in {out} (a run" in _printed(capsys)
    _cut(out / "shards" / "episodes-00000.parquet")
    assert main(["eval", str(path)]) == 0  # raised MarkupError: what reading the shard raised names its path
    printed = _printed(capsys)
    assert "replayed: shards/episodes-00000.parquet: unreadable (" in printed and "episode(s) play again" in printed


def test_simulate_prints_its_out_folder_as_written(tmp_path, capsys):
    from glade.cli import main

    out = tmp_path / "sim[/]"
    assert main(["simulate", "--quiet", "--turns", "2", "--out", str(out)]) == 0  # raised MarkupError
    assert f"wrote {out}/: trace.parquet (10 rows), summary.json\n" in _printed(capsys)


def test_calibrate_prints_the_files_it_wrote_as_written(tmp_path, capsys):
    from planted import CHANGED  # tests/ is on sys.path under pytest

    from glade.cli import main
    from glade.traces import GenerateRecipe, generate

    traces = tmp_path / "traces"
    generate(
        GenerateRecipe(out=str(traces), scenarios=("gambit_rumour",), councils={"changed": {"*": CHANGED}}, turns=4)
    )
    out = tmp_path / "c[/]fit.yaml"
    argv = [
        "calibrate",
        str(traces),
        "--policy",
        "changed:changed",
        "--out",
        str(out),
        "--popsize",
        "2",
        "--maxiter",
        "1",
    ]
    assert main(argv) == 0  # raised MarkupError once the fit was written
    assert f"wrote {out}, {out.with_suffix('.json')}\n" in _printed(capsys)


def test_calibrate_prints_an_outcome_tables_scenario_as_written():
    import io

    from glade.cli.calibrate import show

    iv = {"mean": 0.5, "ci": None, "n": 1}
    part = {k: {"before": iv, "after": iv, "change": iv} for k in ("agreement", "qty_error", "price_error")}
    group = {"group": "wood[v2]", "scenario_in_fit": True, "worlds": 2, "n": 2, "figures": {}}
    s = {
        "policy": "p", "split": {"heldout_seeds": [2]}, "decisions": 9, "rebuilt": 9, "fitted": {"name": "c"},
        "search": {"evaluations": 4, "generations": 1}, "verdict": "no clear change",
        "parts": {"fit": {**part, "seeds": 2}, "heldout": {**part, "seeds": 1}}, "outcome": {"groups": [group]},
    }  # fmt: skip
    con = Console(width=200, file=io.StringIO())
    show(con, s)
    assert "Outcome check, wood[v2]: 2 worlds on 2 held-out seeds (means)" in con.file.getvalue()


def _fake_train(monkeypatch, folder):
    """glade.train's recipe and train, stood in: train logs a line naming `folder` and returns it."""
    import sys
    from types import SimpleNamespace

    def train(recipe, source, resume, log, progress, restart=False, warn=None):
        log(f"{folder}: resuming from checkpoint-2")
        return folder

    recipe = SimpleNamespace(name="r")
    monkeypatch.setitem(sys.modules, "glade.train.recipe", SimpleNamespace(load_train_recipe=lambda p, o: recipe))
    monkeypatch.setitem(sys.modules, "glade.train.sft", SimpleNamespace(train=train))
    monkeypatch.setitem(sys.modules, "glade.train.interrupted", SimpleNamespace(partial_dir=None))


def test_train_prints_its_log_lines_as_written(tmp_path, monkeypatch, capsys):
    from glade.cli import main

    _fake_train(monkeypatch, tmp_path / "ck[/]")
    monkeypatch.setattr("glade.cli.train.print_checkpoint", lambda con, out: None)
    assert main(["train", "r.yaml"]) == 0  # raised MarkupError at the log line
    assert f"{tmp_path / 'ck[/]'}: resuming from checkpoint-2\n" in capsys.readouterr().err


def test_the_quickstart_prints_its_folders_and_log_lines_as_written(tmp_path, monkeypatch, capsys):
    import argparse
    import json
    import sys
    from types import SimpleNamespace

    from glade.cli.quickstart import steps

    out = tmp_path / "q[/]"
    con = Console(width=200)
    steps.simulate_default(argparse.Namespace(out=str(out)), con)  # raised MarkupError
    assert f"wrote {out / 'simulate'}/: trace.parquet (150 rows), summary.json\n" in _printed(capsys)
    folder = tmp_path / "ck[/]"
    folder.mkdir(parents=True)  # the folders `ck[` and `]`
    (folder / "meta.json").write_text(json.dumps({"metrics": {"train_loss": 1.5}, "created": "today"}))
    _fake_train(monkeypatch, folder)
    steps.train_recipe("tiny-hoarder")(argparse.Namespace(train_base=False), con)
    said = capsys.readouterr()
    assert f"{folder}: resuming from checkpoint-2\n" in said.err and f"{folder}: train_loss 1.500\n" in said.out
    monkeypatch.setattr("glade.checkpoint.shipped", lambda name: folder)  # the folder glade is installed in
    steps.shipped_base(argparse.Namespace(), con)
    assert f"shipped:tiny-base ({folder}): trained today" in _printed(capsys)

    def export(source, repo_id, out, **kw):
        out.mkdir(parents=True)
        (out / "README.md").write_text("card")
        return out

    monkeypatch.setitem(sys.modules, "glade.hub.export", SimpleNamespace(export_checkpoint=export))
    monkeypatch.setitem(sys.modules, "glade.train.recipe", SimpleNamespace(shipped_recipe=lambda folder: None))
    monkeypatch.setattr(steps, "kept_checkpoint", lambda name, args: folder)
    steps.export_creatures(argparse.Namespace(out=str(out), train_base=False), con)
    assert f"{out / 'exports' / 'tiny-hoarder'}/: README.md\n" in _printed(capsys)
    from glade.cli import quickstart

    monkeypatch.setattr(quickstart, "kept_checkpoint", lambda name, args: folder)
    quickstart.closing(
        argparse.Namespace(out=str(out)), con
    )  # its table of what the run made, OUT's folders among them
    printed = _printed(capsys)
    assert f"  exports      {out / 'exports'}/ " in printed and f"{out / 'simulate'}/  the default" in printed


@pytest.mark.parametrize(("name", "shown"), [("wood\x7f", "'\\x7f' at position 4"), ("run\u202e", "'\\u202e' at position 3"),
                                             ("a\x85b", "'\\x85' at position 1")])  # fmt: skip
def test_a_scenario_named_with_a_control_character_is_refused_naming_it(tmp_path, name, shown):
    import yaml

    from glade.env import load_scenario

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"extends": "default", "name": name}))  # escaped: "wood\x7F"
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    message = str(info.value)
    assert message == f"{path}: name: {name!r} cannot name a run folder: control character {shown}; " + (
        "use printable characters only"
    )
    assert not any(ch in message for ch in "\x7f\u202e\x85")  # the message itself prints nothing raw
