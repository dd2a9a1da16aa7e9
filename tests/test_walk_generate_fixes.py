"""What a walk of generate, eval and validate with a new user's mistakes found: a python seat
whose code fails mid-run says that a rerun goes on from the finished episodes."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from glade.cli import main

SEATS = '''
from pathlib import Path

CALLS = [0]


class Flaky:
    """Holds every turn; raises on its 7th call while the marker file is there."""

    name = "flaky"

    def __init__(self, marker):
        self.marker = Path(marker)

    def act(self, observations):
        CALLS[0] += 1
        if self.marker.exists() and CALLS[0] == 7:
            raise RuntimeError("my policy broke")
        return [{"orders": []} for _ in observations]


def make(marker):
    return Flaky(marker)
'''


def test_a_seat_whose_code_fails_mid_run_says_a_rerun_goes_on_from_what_was_written(tmp_path, monkeypatch, capsys):
    (tmp_path / "walk_flaky_seats.py").write_text(SEATS)
    monkeypatch.syspath_prepend(str(tmp_path))
    marker = tmp_path / "broken"
    marker.write_text("")
    seat = f"{{kind: python, entry_point: 'walk_flaky_seats:make', kwargs: {{marker: '{marker}'}}}}"
    recipe = tmp_path / "r.yaml"
    out = tmp_path / "traces"
    recipe.write_text(f"out: {out}\ncouncils: {{h: {{'oona': {seat}}}}}\nturns: 3\nworlds: 1\nseeds: {{count: 4}}\n")
    assert main(["generate", str(recipe)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "python seat flaky: act raised RuntimeError: my policy broke on turn 0" in err
    assert err.endswith(
        "(set GLADE_DEBUG=1 for its traceback); fix the seat, then rerun the same command: it plays only the "
        "episodes not yet written"
    )
    kept = {f.name for f in (out / "data").glob("part-*.parquet")}
    assert kept  # the first two episodes (6 calls) were written
    marker.unlink()  # the seat fixed
    assert main(["generate", str(recipe)]) == 0
    episodes = pq.read_table(out / "data", columns=["episode_id", "turn", "creature"]).to_pandas()
    assert episodes["episode_id"].nunique() == 4 and not episodes.duplicated().any()


def test_validate_kind_is_for_files_outside_the_recipe_folders(capsys):
    # was: every shipped recipe of another kind a FAIL (16 of 21), exit 2
    assert main(["validate", "--kind", "generate"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: --kind generate: says what files outside recipes/scenarios, dispositions, generate, train or eval "
        "are; name them: glade validate FILE --kind generate"
    )
    assert main(["validate", "recipes/scenarios/default.yaml", "--kind", "generate"]) == 0  # its folder says
    assert capsys.readouterr().out.startswith("ok     recipes/scenarios/default.yaml")


def test_a_write_that_fails_names_the_file_not_its_hidden_temporary(monkeypatch, capsys):
    # was: "error: rofs/.progress.json.10463-9217b0df.tmp: read-only file system; it is on a read-only file system"
    import errno
    import os

    import glade.cli.simulate as verb

    def run(args):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), "/ro/out/.progress.json.10463-9217b0df.tmp")

    monkeypatch.setattr(verb, "run", run)
    assert main(["simulate"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: /ro/out/progress.json: read-only file system; choose a path you can write"
    )


def test_an_out_on_a_disk_that_cannot_be_written_is_refused_before_anything_plays(tmp_path, monkeypatch, capsys):
    # was: simulate played the whole episode, then "read-only file system"; a read-only disk, as access(2) says
    import os

    import glade.files

    ro = tmp_path / "ro"
    ro.mkdir()
    real = os.access
    monkeypatch.setattr(glade.files.os, "access", lambda p, mode: False if str(p) == str(ro) else real(p, mode))
    played = []
    monkeypatch.setattr("glade.cli.simulate.run_episode", lambda *a, **k: played.append(a))
    assert main(["simulate", "--turns", "2", "--quiet", "--out", str(ro / "sub")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {ro / 'sub'}: {ro} cannot be written (a read-only disk, or no permission); choose a path you can write"
    )
    assert not played and not (ro / "sub").exists()


def test_a_run_is_not_written_inside_another_runs_folder(tmp_path, capsys):
    # was: a dataset written under another's data/ (exit 0), after which that one's own rerun was refused
    traces = tmp_path / "traces"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"out: {traces}\nturns: 2\nworlds: 1\nseeds: {{count: 1}}\n")
    assert main(["generate", str(recipe)]) == 0
    out = capsys.readouterr().out
    assert "wrote 1 episode (1 played now" in out and "cost: 1 episode, " in out  # was "1 episodes"
    inner = traces / "data" / "sub"
    assert main(["generate", str(recipe), f"out={inner}"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: {recipe} with out={inner}: out: {inner}: inside {traces}, another glade run's folder; give a path "
        "outside it"
    )
    assert not inner.exists()
    episode = tmp_path / "sim"
    assert main(["simulate", "--turns", "2", "--quiet", "--out", str(episode)]) == 0
    assert main(["simulate", "--turns", "2", "--quiet", "--out", str(episode / "inner")]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(f"error: {episode / 'inner'}: inside {episode}, another glade run's folder; give a path outside it")
    )
    assert main(["generate", str(recipe)]) == 0  # the outer run is whole: its rerun has nothing to play


def test_a_seat_factory_that_fails_is_named_by_its_council(tmp_path, monkeypatch, capsys):
    # was "error: oona: seat spec ...": which of the councils seating oona, the line did not say
    (tmp_path / "walk_factory_seats.py").write_text("def raises():\n    raise ValueError('factory failed')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    recipe = tmp_path / "r.yaml"
    bad = "{kind: python, entry_point: 'walk_factory_seats:raises'}"
    recipe.write_text(
        f"out: {tmp_path / 'traces'}\ncouncils: {{ok: {{oona: hoarder}}, x: {{oona: {bad}}}}}\nturns: 2\nworlds: 1\n"
        "seeds: {count: 1}\n"
    )
    assert main(["generate", str(recipe)]) == 2
    assert (
        "error: councils.x.oona: seat spec entry_point 'walk_factory_seats:raises': the factory raised ValueError"
        in (" ".join(capsys.readouterr().err.split()))
    )


def test_one_factory_made_with_other_kwargs_is_two_seats_in_the_plan(tmp_path, monkeypatch, capsys):
    # was one row, python:walk_kw_seats:make 8, where the rows and the card show two seats of 4
    from glade.meter import spec_label

    assert spec_label({"kind": "python", "entry_point": "m:make", "kwargs": {"name": "a", "k": 2}}) == (
        "python:m:make(k=2, name=a)"
    )
    (tmp_path / "walk_kw_seats.py").write_text(
        "class Holds:\n    def __init__(self, name):\n        self.name = name\n\n"
        "    def act(self, observations):\n        return [{'orders': []} for _ in observations]\n\n\n"
        "def make(name):\n    return Holds(name)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    seat = "{{kind: python, entry_point: 'walk_kw_seats:make', kwargs: {{name: {}}}}}"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"out: {tmp_path / 'traces'}\ncouncils: {{a: {{oona: {seat.format('garbage')}}}, "
        f"b: {{oona: {seat.format('objecty')}}}}}\nturns: 2\nworlds: 1\nseeds: {{count: 2}}\n"
    )
    capsys.readouterr()
    monkeypatch.setenv("COLUMNS", "200")  # the plan's table folds no label
    assert main(["generate", str(recipe), "--dry-run"]) == 0
    plan = capsys.readouterr().out
    assert "python:walk_kw_seats:make(name=garbage)" in plan and "python:walk_kw_seats:make(name=objecty)" in plan


def test_validate_fails_a_generate_recipe_whose_out_the_run_would_refuse(tmp_path, capsys):
    # was "ok", then `glade generate` refused the folder straight away (another recipe's run)
    out = tmp_path / "traces"
    first = tmp_path / "first.yaml"
    first.write_text(f"out: {out}\nturns: 2\nworlds: 1\nseeds: {{count: 1}}\n")
    assert main(["generate", str(first)]) == 0
    other = tmp_path / "other.yaml"
    other.write_text(f"out: {out}\nturns: 2\nworlds: 1\nseeds: {{count: 3}}\n")
    capsys.readouterr()
    assert main(["validate", str(other), "--kind", "generate"]) == 2
    said = capsys.readouterr().out
    assert said.startswith(f"FAIL   {other}: out: ") and "seeds.count: 1 -> 3" in said
    assert main(["validate", str(first), "--kind", "generate"]) == 0  # its own run: a rerun would go on


def test_a_seat_module_that_imports_a_missing_library_is_said_to_fail_importing(tmp_path, monkeypatch):
    # was "seat spec entry_point 'walk_badimport:make': No module named ...", as if the entry point were wrong
    from glade.seats import SeatSpecError, load

    (tmp_path / "walk_badimport.py").write_text("import nonexistent_module_xyz\n\n\ndef make():\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(SeatSpecError) as caught:
        load({"kind": "python", "entry_point": "walk_badimport:make"})
    assert str(caught.value) == (
        "seat spec entry_point 'walk_badimport:make': importing walk_badimport raised ModuleNotFoundError: No module "
        "named 'nonexistent_module_xyz' (set GLADE_DEBUG=1 for its traceback)"
    )


def test_an_eval_whose_seat_code_fails_mid_run_goes_on_when_rerun(tmp_path, monkeypatch, capsys):
    (tmp_path / "walk_flaky_eval_seats.py").write_text(SEATS)
    monkeypatch.syspath_prepend(str(tmp_path))
    marker = tmp_path / "broken"
    marker.write_text("")
    out = tmp_path / "results"
    recipe = tmp_path / "eval.yaml"
    recipe.write_text(
        f"name: flaky\nout: {out}\npolicies: {{flaky: {{kind: python, entry_point: 'walk_flaky_eval_seats:make', "
        f"kwargs: {{marker: '{marker}'}}}}}}\ncouncils: {{c: {{focal: {{oona: flaky}}}}}}\n"
        "scenarios: [gambit_rumour]\nseeds: {count: 4}\nturns: 5\nworlds: 2\n"
    )
    assert main(["eval", str(recipe)]) == 2
    assert " ".join(capsys.readouterr().err.split()).endswith(
        "fix the seat, then rerun the same command: it plays only the worlds not yet written"
    )
    marker.unlink()
    assert main(["eval", str(recipe)]) == 0
    episodes = pq.read_table(out / "episodes.parquet", columns=["episode_id", "creature"]).to_pandas()
    assert not episodes.duplicated().any() and episodes["episode_id"].nunique() == 8  # 4 seeds, council and stand-in
