"""`~` in a recipe's folder to write in (`out`, `output_root`) is the home folder, as in a shell:
before, glade made a folder named `~` in the working folder, while pyarrow expanded it, so a
run failed after its first shard."""

import yaml

from glade.cli import main
from glade.eval.recipe import load_eval_recipe
from glade.traces import load_generate_recipe
from glade.train.recipe import load_train_recipe


def test_a_tilde_out_is_the_home_folder(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump({"out": "~/traces", "scenarios": ["default"], "seeds": {"count": 1}, "turns": 2}))
    assert load_generate_recipe(path).out == str(home / "traces")
    assert main(["generate", str(path), "out=~/other"]) == 0  # an override's too
    assert (home / "other" / "README.md").is_file() and not (tmp_path / "~").exists()
    train = tmp_path / "t.yaml"
    train.write_text(
        yaml.safe_dump({"name": "t", "model": {"base": "tiny"}, "output_root": "~/ck", "data": {"traces": ["x"]}})
    )
    assert load_train_recipe(train).output_root == str(home / "ck")
    council = {"name": "e", "out": "~/e", "policies": {"p": "hoarder"}, "councils": {"c": {"focal": {"oona": "p"}}}}
    (tmp_path / "e.yaml").write_text(yaml.safe_dump({**council, "scenarios": ["gambit_rumour"], "turns": 8}))
    assert load_eval_recipe(tmp_path / "e.yaml").out == str(home / "e")
