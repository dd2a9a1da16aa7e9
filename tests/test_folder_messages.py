"""What glade says of a path that is no results folder (flag, rank: as report does), of a
mistyped lm-eval task, of an export that replaces another, and what flag's "flags" column is."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from glade.cli import main


@pytest.fixture(autouse=True)
def hf_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))


@pytest.mark.parametrize(("verb", "takes"), [("flag", "the results folder"), ("rank", "results folders")])
def test_flag_and_rank_name_a_missing_folder_and_a_file_as_report_does(tmp_path, capsys, verb, takes):
    assert main([verb, str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {tmp_path / 'nope'}: no such results folder (make one with: glade eval RECIPE)"
    )
    (tmp_path / "summary.json").write_text("{}")
    assert main([verb, str(tmp_path / "summary.json")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {tmp_path / 'summary.json'}: not a folder; glade {verb} takes {takes} glade eval wrote"
    )


def test_a_mistyped_lm_eval_task_names_the_nearest_and_glades_own(tmp_path, capsys):
    from glade.eval.harness import unknown_tasks

    assert main(["lm-eval", str(tmp_path / "ckpt"), "--tasks", "glade_decison_gen"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: unknown lm-eval task(s): glade_decison_gen (glade's own: glade_decision_gen, glade_direction_mc; "
        "`lm-eval ls tasks` lists the rest); did you mean glade_decision_gen?"
    )
    assert unknown_tasks(["hellaswg", "zzz"], ["hellaswag", "arc_easy"]) == (
        "unknown lm-eval task(s): hellaswg, zzz (glade's own: glade_decision_gen, glade_direction_mc; "
        "`lm-eval ls tasks` lists the rest); did you mean hellaswag for hellaswg?"
    )


def test_export_says_which_export_it_replaced(tmp_path, capsys):
    out = str(tmp_path / "tiny-hoarder")
    assert main(["export", "shipped:tiny-base", "--repo-id", "you/first", "--out", out]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"export: {out}"
    assert main(["export", "shipped:tiny-base", "--repo-id", "you/second", "--out", out]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"export: {out} (replacing the export for you/first)"


def test_flag_says_what_its_flags_column_holds(tmp_path, monkeypatch, capsys):
    import glade.eval.flags
    import glade.eval.lean_tables
    import glade.eval.results_folder

    for name in ("decisions.parquet", "episodes.parquet"):
        (tmp_path / name).write_text("")
    fams = [{"family": 1, "text": "family-1", "members": [3, 4, 5, 6, 7, 8], "n": 9, "q": 0.01}]
    flagging = SimpleNamespace(excluded={"fault_rows": 0}, method={"flags": 6}, cells=[], flags=fams, families=fams)
    monkeypatch.setattr(glade.eval.results_folder, "read_table", lambda path: None)
    monkeypatch.setattr(glade.eval.lean_tables, "read_lean", lambda path: None)  # decisions, read lean
    monkeypatch.setattr(glade.eval.results_folder, "check_tables_agree", lambda *args: None)
    monkeypatch.setattr(glade.eval.flags, "load_thresholds", lambda results: (None, 0))
    monkeypatch.setattr(glade.eval.flags, "flag", lambda *args: flagging)
    monkeypatch.setattr(glade.eval.flags, "write_flags", lambda *a, **k: (tmp_path / "f.json", tmp_path / "f.md"))
    assert main(["flag", str(tmp_path)]) == 0
    out = " ".join(capsys.readouterr().out.split())  # at any terminal width
    assert "#3 +5" in out
    assert (
        "flags: #R is the rank of the family's best flag among all flags (flags.md lists them all), "
        "+K the K more flags the family holds"
    ) in out
