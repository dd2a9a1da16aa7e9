"""Training input refused up front: a resume under another recipe than the run was started with,
a recipe name that is not a plain folder name, and data filters that ask for what the traces
lack. The interrupted runs here stop before loading any data (no training), so all are quick."""

import json
import subprocess
import sys

import pytest
from test_train import FAST_SFT, recipe_file, workdir  # noqa: F401  (workdir: the module's traces and base)

import glade.train.sft as sft
from glade.cli import main


def interrupt_at_start(monkeypatch, *argv):
    """`glade train ARGV` killed once the run has made its partial folder (before loading data)."""

    def killed(cfg):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(sft, "prepare", killed)
        assert main(["train", *argv]) == 130


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_resume_under_another_recipe_is_refused_naming_the_keys(workdir, tmp_path, monkeypatch, capsys):  # noqa: F811
    path = recipe_file(workdir, tmp_path)
    interrupt_at_start(monkeypatch, str(path), *FAST_SFT)
    partial = tmp_path / "checkpoints" / ".lora__0.partial"
    before = listing(partial)
    assert "started.json" in before
    capsys.readouterr()
    assert main(["train", str(path), *FAST_SFT, "lora.r=8", "sft.learning_rate=0.5", "--resume"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: {partial}: holds a run of another recipe (lora.r: 4 -> 8, sft.learning_rate: 0.01 -> 0.5); "
        f"to continue it, restore its recipe (it was started as: {path} with {', '.join(FAST_SFT)}) and rerun "
        "with --resume; to train this one, give it a new name (name=NEW), or rerun with --restart to discard "
        "the interrupted run\n"
    )
    # a plain rerun of the changed recipe is told the same, rather than to --resume into the refusal
    # (once a step was saved: a run stopped before one starts over, tests/test_interrupt_fixes.py)
    (partial / "trainer" / "checkpoint-1").mkdir(parents=True)
    (partial / "trainer" / "checkpoint-1" / "trainer_state.json").write_text("{}")  # written last: a whole one
    before = listing(partial)
    assert main(["train", str(path), *FAST_SFT, "data.policies=[standin:panic_seller]"]) == 2
    assert 'holds a run of another recipe (data.policies: [] -> ["standin:panic_seller"])' in capsys.readouterr().err
    assert listing(partial) == before and not list((tmp_path / "checkpoints").glob("lora__0__*"))


def test_resume_refuses_a_newer_latest_base(workdir, tmp_path, monkeypatch, capsys):  # noqa: F811
    def trained_base(stamp):
        folder = tmp_path / "checkpoints" / f"base__0__{stamp}"
        folder.mkdir(parents=True)
        (folder / "meta.json").write_text(json.dumps({"name": "base", "kind": "full"}))
        (folder / "config.json").write_text("{}")
        (folder / "tokenizer_config.json").write_text("{}")  # a model folder, as train checks a folder base
        (folder / "tokenizer.json").write_text("{}")

    trained_base("20260101-000000")
    path = recipe_file(workdir, tmp_path, model={"base": "latest:base"})
    interrupt_at_start(monkeypatch, str(path))
    trained_base("20260102-000000")  # the base recipe trained again meanwhile
    capsys.readouterr()
    assert main(["train", str(path), "--resume"]) == 2
    old, new = (tmp_path / "checkpoints" / f"base__0__{stamp}" for stamp in ("20260101-000000", "20260102-000000"))
    err = capsys.readouterr().err
    assert "holds a run of another recipe (model.base: " in err and "base__0__20260102-000000)" in err
    assert f"rerun with --resume; its base was {old}: resume with model.base={old};" in err
    interrupt_at_start(monkeypatch, str(path), f"model.base={old}", "--resume")  # as told: it resumes


def test_a_resume_may_run_longer_log_and_save_differently(workdir, tmp_path, monkeypatch, capsys):  # noqa: F811
    path = recipe_file(workdir, tmp_path)
    interrupt_at_start(monkeypatch, str(path), *FAST_SFT)
    longer = [*FAST_SFT, "sft.max_steps=9", "sft.logging_steps=3", "eval.states=4", "--resume"]
    interrupt_at_start(monkeypatch, str(path), *longer)  # past the check: killed loading the data
    assert "holds a run of another recipe" not in capsys.readouterr().err


def test_a_partial_folder_from_before_the_record_resumes_and_says_it_cannot_be_checked(
    workdir,  # noqa: F811
    tmp_path,
    monkeypatch,
    capsys,
):
    path = recipe_file(workdir, tmp_path)
    partial = tmp_path / "checkpoints" / ".lora__0.partial"
    (partial / "data").mkdir(parents=True)  # what an older glade left: no started.json
    capsys.readouterr()
    interrupt_at_start(monkeypatch, str(path), *FAST_SFT, "--resume")
    assert (
        f"{partial}: started before glade recorded a run's recipe, so it cannot be checked; resuming it"
        in capsys.readouterr().err
    )
    record = json.loads((partial / "started.json").read_text())  # from now on, this run's recipe is checked
    assert record["recipe"]["sft"]["max_steps"] == 6 and record["source"] == f"{path} with {', '.join(FAST_SFT)}"


@pytest.mark.parametrize("name", ["../../escape", "a/b", "..", ".hidden", ""])
def test_a_name_that_is_not_a_plain_folder_name_is_refused_before_anything_runs(workdir, tmp_path, capsys, name):  # noqa: F811
    path = recipe_file(workdir, tmp_path, name="recipe")
    path.write_text(path.read_text().replace("name: recipe", f"name: '{name}'"))
    message = (
        f"name: {name!r} is not a plain folder name (it names the checkpoint folders): use letters, digits, "
        "'.', '_' and '-', starting with a letter or digit"
    )
    assert main(["train", str(path)]) == 2
    assert capsys.readouterr().err == f"error: {path}: {message}\n"
    assert main(["validate", "--kind", "train", str(path)]) == 2
    assert f"FAIL   {path}: {message}" in capsys.readouterr().out
    assert listing(tmp_path) == ["recipe.yaml"]  # no checkpoints folder, no stray one


def test_a_policy_the_traces_lack_is_refused_up_front_naming_what_they_hold(workdir, tmp_path, capsys):  # noqa: F811
    data = {"traces": [str(workdir / "traces")], "policies": ["standin:nobody"]}
    path = recipe_file(workdir, tmp_path, data=data)
    message = (
        "data.policies: standin:nobody is in none of data.traces (asked for: standin:nobody; the traces hold: "
        "standin:hoarder, standin:panic_seller); ask for what the traces hold, or generate traces that hold it"
    )
    assert main(["train", str(path), *FAST_SFT]) == 2
    assert capsys.readouterr().err == f"error: {path} with {', '.join(FAST_SFT)}: {message}\n"
    assert main(["validate", "--kind", "train", str(path)]) == 2
    assert f"FAIL   {path}: {message}" in capsys.readouterr().out
    assert not (tmp_path / "checkpoints").exists()


def test_creatures_the_traces_lack_are_named(workdir, tmp_path, capsys):  # noqa: F811
    path = recipe_file(workdir, tmp_path)
    assert main(["train", str(path), "data.creatures=[oona, nobody, nemo]"]) == 2
    assert capsys.readouterr().err == (
        f"error: {path} with data.creatures=[oona, nobody, nemo]: data.creatures: nobody, nemo are in none of "
        "data.traces (asked for: oona, nobody, nemo; the traces hold: bramble, hazel, moss, oona, thorn); ask for "
        "what the traces hold, or generate traces that hold it\n"
    )


def test_a_run_of_a_recipe_another_run_is_training_is_refused_not_resumed_into(workdir, tmp_path, monkeypatch, capsys):  # noqa: F811
    path = recipe_file(workdir, tmp_path)
    interrupt_at_start(monkeypatch, str(path), *FAST_SFT)
    partial = tmp_path / "checkpoints" / ".lora__0.partial"
    assert not (tmp_path / "checkpoints" / ".lora__0.lock").exists()  # a run's lock goes with it
    before = listing(partial)
    capsys.readouterr()
    lock = tmp_path / "checkpoints" / ".lora__0.lock"
    hold = f"from glade.files import only_writer\nwith only_writer({str(partial)!r}, lock={str(lock)!r}):\n"
    hold += "    print('held', flush=True)\n    import time; time.sleep(600)\n"
    other = subprocess.Popen([sys.executable, "-c", hold], stdout=subprocess.PIPE, text=True)  # a run still going
    try:
        assert other.stdout.readline().strip() == "held"
        for resume in ([], ["--resume"]):
            assert main(["train", str(path), *FAST_SFT, *resume]) == 2
            assert capsys.readouterr().err == (
                f"error: {partial}: another glade run (pid {other.pid}) is writing it now; let it finish (then "
                "`--resume` keeps its checkpoint), or train another seed\n"
            )
    finally:
        other.kill()
        other.wait()
    assert listing(partial) == before
    interrupt_at_start(monkeypatch, str(path), *FAST_SFT, "--resume")  # once it has ended, it resumes
