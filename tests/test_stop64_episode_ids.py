"""Episode ids two (scenario, council) pairs share, council names with control characters in a generate recipe,
and the Arrow copy of the traces that reading them left under HF_HOME."""

from __future__ import annotations

from pathlib import Path

import pytest

from glade.config import ConfigError
from glade.env.scenario import SCENARIO_DIR


def scenario_file(folder: Path, file: str, name: str) -> str:
    """The default scenario under another `name:`, as a file; its path as a recipe lists it."""
    text = (Path(SCENARIO_DIR) / "default.yaml").read_text(encoding="utf-8")
    assert "\nname: default\n" in text
    (folder / file).write_text(text.replace("\nname: default\n", f"\nname: {name}\n"), encoding="utf-8")
    return str(folder / file)


def generate_recipe(tmp_path: Path, councils: str, scenarios: list[str]) -> Path:
    path = tmp_path / "g.yaml"
    path.write_text(
        f"out: {tmp_path / 'out'}\nscenarios: [{', '.join(scenarios)}]\ncouncils: {councils}\n"
        "seeds: {start: 3, count: 2}\nturns: 3\n",
        encoding="utf-8",
    )
    return path


def test_generate_refuses_two_scenario_council_pairs_of_one_episode_id_before_playing(tmp_path):
    from glade.traces import GenerateRecipe, generate, load_generate_recipe

    sx, sxy = scenario_file(tmp_path, "sx.yaml", "x"), scenario_file(tmp_path, "sxy.yaml", "x.y")
    path = generate_recipe(tmp_path, '{"y.z": {}, "z": {"*": hoarder}}', [sx, sxy])
    said = (
        f"{path}: councils: scenario 'x' with council 'y.z' and scenario 'x.y' with council 'z' make one episode id, "
        "'x.y.z.s3'; rename one of those councils or scenarios"
    )
    with pytest.raises(ConfigError) as exc:
        load_generate_recipe(path)
    assert str(exc.value) == said
    # generate() given the recipe unloaded refuses it too, before its folder is made
    unloaded = GenerateRecipe(out=str(tmp_path / "out"), scenarios=(sx, sxy), councils={"y.z": {}, "z": {}}, turns=3)
    with pytest.raises(ConfigError, match=r"^councils: scenario 'x' with council 'y\.z' and scenario 'x\.y' with"):
        generate(unloaded)
    assert not (tmp_path / "out" / "data").exists()
    # ids that only look alike are taken: 'x' with 'y.z' and 'x.y' with 'w'
    assert load_generate_recipe(generate_recipe(tmp_path, '{"y.z": {}, "w": {}}', [sx, sxy])).councils.keys() == {
        "y.z",
        "w",
    }


def test_eval_refuses_two_scenario_council_pairs_of_one_episode_id(tmp_path, monkeypatch):
    from glade.eval.recipe import load_eval_recipe

    monkeypatch.chdir(tmp_path)
    scenario_file(tmp_path, "s.yaml", "s")
    scenario_file(tmp_path, "s.yaml.y.yaml", "sy")
    path = tmp_path / "e.yaml"
    path.write_text(
        f"name: e\nout: {tmp_path / 'out'}\npolicies: {{p: balanced}}\n"
        'councils: {"y.yaml.z": {focal: {oona: p}}, "z": {focal: {thorn: p}, rotate: 2}}\n'
        "scenarios: [./s.yaml, ./s.yaml.y.yaml]\nseeds: {start: 0, count: 1}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as exc:
        load_eval_recipe(path)
    assert str(exc.value) == (
        f"{path}: councils: scenario './s.yaml' with council 'y.yaml.z' and scenario './s.yaml.y.yaml' with council "
        "'z' make one episode id, './s.yaml.y.yaml.z.c0.s0'; rename one of those councils or scenarios"
    )


def test_generate_refuses_a_council_name_with_a_control_character(tmp_path):
    from glade.traces import load_generate_recipe

    path = generate_recipe(tmp_path, '{"c\\x1b]0;PWN\\x07\\x1b[31mX": {}}', ["default"])
    with pytest.raises(ConfigError) as exc:
        load_generate_recipe(path)
    assert str(exc.value) == (
        f"{path}: councils: 'c\\x1b]0;PWN\\x07\\x1b[31mX' cannot label episodes: control character '\\x1b' at "
        "position 1; use printable characters only"
    )


def test_reading_traces_and_preparing_sft_data_leave_no_datasets_cache(tmp_path, monkeypatch):
    import datasets.config
    import pyarrow as pa
    import pyarrow.parquet as pq

    from glade.traces import GenerateRecipe, generate, load_traces, readable_shards
    from glade.train.data import DataConfig, prepare

    out = tmp_path / "traces"
    councils = {"h": {"*": "hoarder"}, "s": {}}
    generate(GenerateRecipe(out=str(out), scenarios=("default",), councils=councils, turns=3, worlds=2))
    cache = tmp_path / "hf" / "datasets"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)  # where load_dataset wrote its Arrow copy
    rows = load_traces(out)
    files = readable_shards(out)
    assert len(files) == 4
    assert rows.to_list() == pa.concat_tables(pq.read_table(f) for f in files).to_pylist()  # the shards' rows, in order
    train, held, counts = prepare(DataConfig(traces=(str(out),), eval_share=0.5, relabel="hoarder"))
    assert (counts["traces"], len(train) + len(held)) == (120, counts["after_dedupe"])
    assert (rows.cache_files, train.cache_files, held.cache_files) == ([], [], [])
    assert not cache.exists()
