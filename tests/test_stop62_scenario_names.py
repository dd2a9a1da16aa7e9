"""A scenario of one's own given by path: its episode ids name it by its `name:` (no local path in the rows or
on the Hub, an older folder's ids included), a model card compares an evaluation's scenarios with the training
traces' by that name, two files of one name are refused, and the scenarios an eval's levers add are named."""

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from test_export import council_results
from test_stop62_other_worlds import tiny_world

from glade import traces as gen
from glade.cli import main
from glade.config import ConfigError, Seeds
from glade.env.scenario import load_scenario
from glade.hub.export import export_checkpoint
from glade.hub.export_traces import export_traces

BASE = Path(__file__).resolve().parents[1] / "models" / "tiny-base"


def world(folder: Path, file: str = "world.v1.yaml", price: float = 5.0) -> Path:
    """A scenario file named `tiny2` whose file name is not (a dotted one: the old id form broke on it)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / file).write_text(tiny_world("tiny2", turns=10, salt_price=price))
    return folder / file


def recipe(tmp_path: Path, scenario: Path, count: int = 2) -> gen.GenerateRecipe:
    return gen.GenerateRecipe(
        out=str(tmp_path / "traces"),
        scenarios=(str(scenario),),
        councils={"scenario": {}, "hoard": {"*": "hoarder"}},
        seeds=Seeds(0, count),
        turns=2,
        worlds=2,
    )


def ids_of(folder: Path) -> set[str]:
    return {e for f in sorted((folder / "data").glob("*.parquet")) for e in pq.read_table(f)["episode_id"].to_pylist()}


def as_older_glade_wrote(folder: Path, scenario: Path) -> None:
    """The ids of a finished folder as glade wrote them before: the recipe's entry (the path) for the name."""
    old = lambda e: str(scenario) + e.removeprefix("tiny2")
    for shard in (folder / "data").glob("*.parquet"):
        table = pq.read_table(shard)
        ids = pa.array([old(e) for e in table["episode_id"].to_pylist()], pa.string())
        pq.write_table(table.set_column(table.schema.get_field_index("episode_id"), "episode_id", ids), shard)
    ledger = json.loads((folder / "progress.json").read_text())
    ledger["episodes"] = {old(e): v for e, v in ledger["episodes"].items()}
    (folder / "progress.json").write_text(json.dumps(ledger))


def test_episode_ids_name_the_scenario_as_its_rows_do_and_hold_no_path(tmp_path):
    scenario = world(tmp_path / "mine")
    r = recipe(tmp_path, scenario)
    gen.generate(r)
    out = Path(r.out)
    rows = gen.load_traces(out)
    assert set(rows["scenario"]) == {"tiny2"}
    expected = {f"tiny2.{c}.s{s}" for c in ("scenario", "hoard") for s in (0, 1)}
    assert set(rows["episode_id"]) == expected  # was /tmp/.../world.v1.yaml.scenario.s0
    assert set(json.loads((out / "progress.json").read_text())["episodes"]) == expected
    card = (out / "README.md").read_text()
    assert "1 scenario (tiny2) x 2 councils (scenario, hoard)" in card  # the card reads the councils off the ids
    assert '"tiny2": ' in card  # the card's scenario hashes by name, as the rows


def test_an_older_folder_resumes_keeping_its_ids_and_plays_only_what_is_missing(tmp_path):
    scenario = world(tmp_path / "mine")
    r = recipe(tmp_path, scenario, count=2)
    gen.generate(r)
    out = Path(r.out)
    as_older_glade_wrote(out, scenario)
    # cut short: its last part not listed, its shard gone, no card yet
    ledger = json.loads((out / "progress.json").read_text())
    last = max(v["part"] for v in ledger["episodes"].values())
    dropped = sorted(e for e, v in ledger["episodes"].items() if v["part"] == last)
    ledger["episodes"] = {e: v for e, v in ledger["episodes"].items() if v["part"] != last}
    (out / "progress.json").write_text(json.dumps(ledger))
    (out / "data" / f"part-{last:05d}.parquet").unlink()
    (out / "README.md").unlink()
    assert gen.dry_run(r).plan.episodes == len(dropped) == 2
    summary = gen.generate(r)
    assert summary["played_now"] == 2 and summary["episodes"] == 4  # the old ids count as finished
    ids = ids_of(out)
    kept = {e for e in ids if e.startswith(str(scenario))}  # checkpoints trained on them match rows by these
    assert kept == set(ledger["episodes"])
    assert ids - kept == {e.replace(str(scenario), "tiny2") for e in dropped}  # played now: by name
    assert len(gen.load_traces(out)) == 4 * 2 * 2  # every episode once: 4 episodes x 2 turns x 2 creatures
    assert gen.generate(r)["played_now"] == 0
    # the card counts the councils of the old ids and the new alike
    assert "1 scenario (tiny2) x 2 councils (scenario, hoard)" in (out / "README.md").read_text()


def test_export_traces_of_an_older_folder_publishes_no_local_path(tmp_path):
    scenario = world(tmp_path / "mine")
    r = recipe(tmp_path, scenario)
    gen.generate(r)
    out = Path(r.out)
    as_older_glade_wrote(out, scenario)
    folder = export_traces(out, "alice/wood-traces", out=tmp_path / "export")
    assert ids_of(folder) == {f"tiny2.{c}.s{s}" for c in ("scenario", "hoard") for s in (0, 1)}
    for file in folder.rglob("*"):
        assert not file.is_file() or str(tmp_path).encode() not in file.read_bytes(), file
    assert ids_of(out) == {str(scenario) + e.removeprefix("tiny2") for e in ids_of(folder)}  # the folder as it was
    assert len(gen.load_traces(folder)) == 16
    # ids whose path the recipe.yaml no longer explains are refused, not published
    recorded = yaml.safe_load((out / "recipe.yaml").read_text())
    (out / "recipe.yaml").write_text(yaml.safe_dump({**recorded, "scenarios": ["elsewhere.yaml"]}))
    with pytest.raises(ValueError, match=r"episode id '/.*' holds a local path .*rerun its `glade generate`"):
        export_traces(out, "alice/wood-traces", out=tmp_path / "again")
    assert not (tmp_path / "again").exists()


def test_export_traces_refuses_two_episodes_it_would_publish_under_one_id(tmp_path):
    # an older glade let two scenario files share a name: ids `A.council.sSEED` and `B.council.sSEED`, both
    # rows labelled tiny2, would both be published as tiny2.council.sSEED (two episodes under one id)
    scenario, twin = world(tmp_path / "mine"), world(tmp_path / "other", "twin.yaml", price=9.0)
    r = recipe(tmp_path, scenario)
    gen.generate(r)
    out = Path(r.out)
    as_older_glade_wrote(out, scenario)
    shard = sorted((out / "data").glob("*.parquet"))[0]
    table = pq.read_table(shard)
    ids = pa.array([e.replace(str(scenario), str(twin)) for e in table["episode_id"].to_pylist()], pa.string())
    twins = table.set_column(table.schema.get_field_index("episode_id"), "episode_id", ids)
    pq.write_table(pa.concat_tables([table, twins]), shard)
    ledger = json.loads((out / "progress.json").read_text())
    ledger["episodes"] |= {e.replace(str(scenario), str(twin)): v for e, v in ledger["episodes"].items()}
    (out / "progress.json").write_text(json.dumps(ledger))
    recorded = yaml.safe_load((out / "recipe.yaml").read_text())
    (out / "recipe.yaml").write_text(yaml.safe_dump({**recorded, "scenarios": [str(scenario), str(twin)]}))
    with pytest.raises(ValueError, match=r"episodes '/.*' and '/.*twin.yaml.* would both be published as 'tiny2\.[a-z]+\.s[01]' .*"
                       r"one name per scenario file, and export that$"):  # fmt: skip
        export_traces(out, "alice/wood-traces", out=tmp_path / "export")
    assert not (tmp_path / "export").exists()


def test_a_folder_holding_two_scenarios_of_one_name_is_not_said_to_hold_a_changed_file(tmp_path):
    # an older glade's folder of two files named tiny2, one of them renamed since as glade now asks: its rows of
    # tiny2 under the renamed file's hash were said to be "played under other rules: the scenario file changed"
    scenario, twin = world(tmp_path / "mine"), world(tmp_path / "other", "twin.yaml", price=9.0)
    twin.write_text(twin.read_text().replace("name: tiny2", "name: twin"))
    r = gen.GenerateRecipe(**{**recipe(tmp_path, scenario).__dict__, "scenarios": (str(scenario), str(twin))})
    gen.generate(r)
    out = Path(r.out)
    for shard in (out / "data").glob("*.parquet"):  # the rows as the older glade labelled them
        table = pq.read_table(shard)
        named = pa.array(["tiny2" for _ in range(len(table))])
        pq.write_table(table.set_column(table.schema.get_field_index("scenario"), "scenario", named), shard)
    digest = load_scenario(twin, turns=r.turns).hash()
    with pytest.raises(ValueError, match=rf"episodes of tiny2 include the scenario now named twin \(hash {digest}\), "
                       "which an older glade let share that name; move the folder aside"):  # fmt: skip
        gen.generate(r)


def test_two_scenario_files_of_one_name_are_refused_before_anything_plays(tmp_path):
    one, other = world(tmp_path / "a"), world(tmp_path / "b", "other.yaml", price=9.0)
    (tmp_path / "recipe.yaml").write_text(
        yaml.safe_dump({"out": str(tmp_path / "traces"), "scenarios": [str(one), str(other)], "turns": 2})
    )
    with pytest.raises(
        ConfigError, match=rf"scenarios: '{one}' and '{other}' are two different scenarios named 'tiny2'.*name: "
    ):
        gen.load_generate_recipe(tmp_path / "recipe.yaml")
    r = gen.GenerateRecipe(out=str(tmp_path / "traces"), scenarios=(str(one), str(other)), turns=2)
    with pytest.raises(ConfigError, match="two different scenarios named 'tiny2'"):
        gen.generate(r)
    assert not (tmp_path / "traces").exists()


def path_scenario_card(tmp_path, recorded: bool = False, moved: bool = False) -> tuple[str, str, str]:
    """(the model card, the played and the trained hash) of a checkpoint trained on the path-given scenario
    `tiny2` at 10 turns and evaluated on it at 6, its summary keyed by the path as glade eval writes it;
    `recorded`: the summary names the scenario (`scenario_names`, as glade eval writes it since); `moved`:
    the scenario file is gone before the export."""
    scenario = world(tmp_path / "mine")
    trained_hash = load_scenario(str(scenario), turns=10).hash()
    played_hash = load_scenario(str(scenario), turns=6).hash()
    traces = tmp_path / "traces"
    traces.mkdir()
    (traces / "recipe.yaml").write_text(yaml.safe_dump({"out": str(traces), "scenarios": [str(scenario)]}))
    ckpt = tmp_path / "tiny-base"
    shutil.copytree(BASE, ckpt)
    meta = json.loads((ckpt / "meta.json").read_text())
    meta["traces"] = {"data": [{"folder": str(traces), "scenario_hashes": {"tiny2": trained_hash}}], "eval": []}
    (ckpt / "meta.json").write_text(json.dumps(meta))
    council = council_results(ckpt, tmp_path / "council")
    (council / "recipe.yaml").write_text(yaml.safe_dump({"name": "c", "scenarios": [str(scenario)], "turns": 6}))
    summary = json.loads((council / "summary.json").read_text())
    # as glade eval writes them: keyed by the recipe's entry, the path
    summary = {**summary, "scenario_hashes": {str(scenario): played_hash}}
    if recorded:
        summary["scenario_names"] = {str(scenario): "tiny2"}
    for row in summary["outcome"]:
        row["scenario"] = str(scenario)
    (council / "summary.json").write_text(json.dumps(summary))
    if moved:
        shutil.rmtree(tmp_path / "mine")
    readme = export_checkpoint(ckpt, "alice/creature", out=tmp_path / "out", council=council) / "README.md"
    return readme.read_text(), played_hash, trained_hash


def test_the_card_warns_of_other_rules_for_an_evaluation_that_named_its_scenario_by_path(tmp_path):
    readme, played_hash, trained_hash = path_scenario_card(tmp_path)
    text = " ".join(readme.split())
    assert f"scenario hashes: tiny2 `{played_hash}`." in text
    assert f"differ from those of the traces it trained on: tiny2 (`{played_hash}` here, `{trained_hash}`" in text
    assert "turns 6 against 10" in text
    assert str(tmp_path) not in readme and "world.v1.yaml" not in readme


def test_dry_run_names_the_scenarios_the_levers_add(tmp_path, capsys):
    (tmp_path / "eval.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "lever",
                "out": str(tmp_path / "results"),
                "policies": {"panicky": {"kind": "standin", "disposition": "panic_seller"}},
                "councils": {"one": {"focal": {"*": "panicky"}}},
                "scenarios": ["gambit_rumour"],
                "seeds": {"start": 500, "count": 1},
                "turns": 8,
                "worlds": 4,
                "levers": [{"name": "glut", "from": "gambit_rumour", "to": "gambit_shock"}],
            }
        )
    )
    assert main(["eval", str(tmp_path / "eval.yaml"), "--dry-run"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "4 episodes" in said  # the lever's scenario doubles the plan ...
    assert "levers: glut (gambit_rumour -> gambit_shock) also play gambit_shock, which `scenarios` leaves out" in said
    assert main(["eval", str(tmp_path / "eval.yaml"), "--dry-run", "levers=[]"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "2 episodes" in said and "also play" not in said  # ... and without levers, nothing to name
