"""The traces dataset card read as a stranger reads it (a walk of the card `glade generate` writes
and `glade export-traces` publishes): who answered the rows, what `standin_action` compares with,
the units and timing of the outcome columns, the words it uses, the counts up front, the Hub's
front matter and how to make the data again. Every number asserted is read from the rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.resources import files

import pyarrow.parquet as pq
import pytest
import yaml

from glade import traces as gen
from glade.config import load_recipe
from glade.traces_card import facts_text, size_category


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    """A small generate run (8 episodes of 4 turns, 160 rows): its folder, card and rows. The recipe file
    is dumped with sorted keys, so its councils are in the order hoarders, scenario."""
    root = tmp_path_factory.mktemp("card")
    data = {
        "out": str(root / "traces"),
        "scenarios": ["default", "gambit_override"],
        "councils": {"scenario": {}, "hoarders": {"*": {"kind": "standin", "disposition": "hoarder"}}},
        "seeds": {"start": 3, "count": 2},
        "turns": 4,
        "worlds": 8,
    }
    (root / "recipe.yaml").write_text(yaml.safe_dump(data))
    gen.generate(load_recipe(gen.GenerateRecipe, root / "recipe.yaml"))
    out = root / "traces"
    rows = pq.read_table(sorted((out / "data").glob("*.parquet"))).to_pylist()
    return out, (out / "README.md").read_text(), rows


def schema_line(card: str, column: str) -> str:
    return next(line for line in card.splitlines() if line.startswith(f"| `{column}"))


def test_standin_action_is_said_to_be_the_creatures_scenario_standin_not_the_acting_seat(traces):
    _, card, rows = traces
    differs = sum(r["action"] != r["standin_action"] for r in rows)
    hoarder_seat = {r["standin_disposition"] for r in rows if r["seat"] == "standin:hoarder"}
    assert differs and hoarder_seat > {"hoarder"}  # a hoarder seat's rows name other dispositions
    assert schema_line(card, "standin_action") == (
        "| `standin_action / standin_disposition` | what the scenario's stand-in for this creature would have done "
        "in the same state, and its disposition: the creature's disposition in the scenario, not the acting seat's, "
        "so it can differ from `action` wherever another policy held the seat (compare `seat` / `policy` to see who "
        "acted) |"
    )
    assert (
        f"`standin_action` differs from `action` in {differs:,} of {len(rows):,} rows: it is the scenario's "
        "stand-in for the creature, not the seat that acted." in card
    )


def test_the_card_says_in_a_sentence_who_answered_the_rows(traces):
    _, card, rows = traces
    counts = {p: sum(r["policy"] == p for r in rows) for p in {r["policy"] for r in rows}}
    # the hoarders council's 80 rows and oona's 16 in the scenario council; then the scenario's other seats
    assert counts == {
        "standin:hoarder": 96,
        "standin:balanced": 32,
        "standin:panic_seller": 16,
        "standin:speculator": 16,
    }
    assert (
        "Every row was answered by rule-based stand-ins (no model: 0 tokens): `standin:hoarder` 96 rows, "
        "`standin:balanced` 32 rows, `standin:panic_seller` 16 rows, `standin:speculator` 16 rows." in card
    )
    facts = {
        "rows": 30, "episodes": 1, "scenarios": ["default"], "seeds": [7], "councils": {"mixed": {}},
        "policies": {"hf:tiny+hoarder": 20, "standin:balanced": 10}, "tokens": (4000, 300), "standin_differs": 5,
    }  # fmt: skip
    assert (
        "30 rows from 1 episode: 1 scenario (default) x 1 council (mixed) x 1 seed (7). The rows were answered by "
        "2 policies (4,000 prompt + 300 completion tokens in all): `hf:tiny+hoarder` 20 rows, `standin:balanced` "
        "10 rows. `standin_action` differs from `action` in 5 of 30 rows"
    ) in facts_text(facts)


def test_each_outcome_column_says_its_unit_and_when_it_is_measured(traces):
    _, card, rows = traces
    # checked against the rows: pebbles and mood are the next observation's, wealth_after the next wealth_before
    by_turn = {(r["episode_id"], r["creature"], r["turn"]): r for r in rows}
    pairs = [(r, by_turn.get((r["episode_id"], r["creature"], r["turn"] + 1))) for r in rows]
    pairs = [(row, after) for row, after in pairs if after is not None]
    assert len(pairs) == 8 * 5 * 3  # every episode's creatures, turns 0-2 each with its next
    for row, after in pairs:
        seen = json.loads(after["observation"])
        assert (row["pebbles"], row["mood"]) == (seen["pebbles"], seen["mood"])
        assert row["wealth_after"] == after["wealth_before"]
    assert all(0 < r["mood"] <= 1 for r in rows)
    assert schema_line(card, "pebbles") == (
        "| `pebbles` | the creature's pebbles (the Wood's money) once the turn is over: after its trades and the "
        "settlement (what its next observation shows) |"
    )
    assert schema_line(card, "wealth_before") == (
        "| `wealth_before / wealth_after / wealth_change` | wealth in pebbles, its pebbles plus its goods at the "
        "reference prices: as the turn began (the observation's holdings and prices), once it is over (the next "
        "turn's wealth_before: the goods made at its start included), and after minus before |"
    )
    assert schema_line(card, "mood") == (
        "| `mood` | the creature's mood once the turn is over (after its meals and the fuel it burns, firewood in "
        "the default Wood), from 0 (miserable) to 1 (content), as its prompt says; never below the scenario's mood "
        "floor |"
    )
    assert "seconds (a server seat's round trip" in schema_line(card, "latency_s")


def test_the_card_defines_its_words_and_each_scenario_by_its_own_description(traces):
    _, card, _ = traces
    terms = card.split("## Terms\n\n")[1].split("\n\n## ")[0].splitlines()
    names = [t.split("**")[1] for t in terms]
    assert names[:6] == ["turn", "pebbles", "seat", "stand-in", "disposition", "council"]
    assert "scenario `gambit_override`" in names and "gambit, patron, legend" in names
    line = dict(zip(names, terms))
    assert line["scenario `gambit_override`"] == (
        "- **scenario `gambit_override`**: 4 turns, 5 creatures: Short honey, tip Oona, spring the Run on Oona's "
        "Hoard (override), cover."
    )
    assert line["disposition"].endswith(
        "each creature has one in each scenario: oona hoarder, thorn balanced, hazel speculator, bramble "
        "panic_seller, moss balanced"
    )
    assert line["council"].endswith(
        "; `hoarders`: every creature `standin:hoarder`; `scenario`: names no seat, so each creature sits on its "
        "scenario stand-in"
    )


def test_the_opening_lines_count_the_rows_and_the_front_matter_is_the_hubs(traces):
    _, card, rows = traces
    seeds = sorted({r["seed"] for r in rows})
    assert (len(rows), len({r["episode_id"] for r in rows}), seeds) == (160, 8, [3, 4])
    opening = card.split("## Schema")[0]
    assert (
        "160 rows from 8 episodes: 2 scenarios (default, gambit_override) x 2 councils (hoarders, scenario) x "
        "2 seeds (3-4)." in opening
    )
    front = yaml.safe_load(card.split("---")[1])
    assert front["size_categories"] == ["n<1K"] and front["language"] == ["en"]
    assert front["task_categories"] == ["text-generation"]
    assert [size_category(n) for n in (999, 1000, 9999, 10**4, 10**6, 10**12)] == [
        "n<1K", "1K<n<10K", "1K<n<10K", "10K<n<100K", "1M<n<10M", "n>1T",
    ]  # fmt: skip


def test_the_card_says_how_to_make_the_data_again(traces):
    out, card, _ = traces
    assert (
        "Made by `glade generate recipe.yaml`, the resolved recipe this folder holds (under Recipe below): "
        "`glade generate recipe.yaml out=NEW_FOLDER` plays the same episodes again" in card.split("## Schema")[0]
    )
    again = load_recipe(gen.GenerateRecipe, out / "recipe.yaml")
    assert (list(again.scenarios), again.seeds.count, again.turns) == (["default", "gambit_override"], 2, 4)


def test_the_exported_card_keeps_it_all_and_an_older_card_gets_the_front_matter(traces, tmp_path):
    from glade.hub.export_traces import export_traces

    out, card, _ = traces
    folder = export_traces(out, "me/wood-traces", out=tmp_path / "exp")
    text = (folder / "README.md").read_text()
    front = yaml.safe_load(text.split("---")[1])
    assert front["size_categories"] == ["n<1K"] and front["task_categories"] == ["text-generation"]
    assert "160 rows from 8 episodes" in text and "Made by `glade generate recipe.yaml`" in text
    assert "## Terms" in text and 'Load it as "Load from the Hub" below shows.' in text
    older = tmp_path / "older"
    older.mkdir()
    for name in ("data", "recipe.yaml", "progress.json"):
        src = out / name
        (older / name).symlink_to(src, target_is_directory=src.is_dir())
    before = yaml.safe_load(card.split("---")[1])
    for key in ("size_categories", "language", "task_categories"):
        before.pop(key)
    (older / "README.md").write_text("---\n" + yaml.safe_dump(before) + "---\n" + card.split("---\n", 2)[2])
    text = (export_traces(older, "me/old-traces", out=tmp_path / "old") / "README.md").read_text()
    front = yaml.safe_load(text.split("---")[1])
    assert (front["size_categories"], front["language"], front["task_categories"]) == (
        ["n<1K"], ["en"], ["text-generation"],
    )  # fmt: skip


def test_councils_are_named_for_a_scenario_given_by_path(tmp_path):
    # the episode id starts with the recipe's scenario string (the path), the rows' scenario column with its name
    scenario = tmp_path / "my_scenario.yaml"
    scenario.write_text(files("glade.recipes.scenarios").joinpath("gambit_shock.yaml").read_text())
    data = {
        "out": str(tmp_path / "traces"),
        "scenarios": [str(scenario)],
        "councils": {"scenario": {}, "hoarders": {"*": {"kind": "standin", "disposition": "hoarder"}}},
        "seeds": {"start": 3, "count": 1},
        "turns": 2,
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    gen.generate(load_recipe(gen.GenerateRecipe, tmp_path / "recipe.yaml"))
    card = (tmp_path / "traces" / "README.md").read_text()
    assert "1 scenario (gambit_shock) x 2 councils (scenario, hoarders) x 1 seed (3)." in card
    assert (
        "the episode id's middle part names it; `scenario`: names no seat, so each creature sits on its scenario "
        "stand-in; `hoarders`: every creature `standin:hoarder`\n" in card
    )


def test_the_rows_are_counted_a_batch_at_a_time(tmp_path):
    # what row_facts holds at once is a batch, not the shards' columns: its Arrow peak stays below the action
    # columns' size (counted in a fresh process, whose memory pool's peak is its own)
    import pyarrow as pa

    n, data = 60_000, tmp_path / "data"
    data.mkdir()
    actions = [os.urandom(200).hex() for _ in range(n)]  # 400 characters each, incompressible
    table = pa.table(
        {"episode_id": ["default.c.s1"] * n, "scenario": ["default"] * n, "seed": [1] * n, "creature": ["oona"] * n}
        | {"seat": ["standin:hoarder"] * n, "policy": ["standin:hoarder"] * n, "prompt_tokens": [0] * n}
        | {"completion_tokens": [0] * n, "action": actions, "standin_action": actions[::-1]}
    )
    pq.write_table(table, data / "part-00000.parquet", row_group_size=10_000)
    code = (
        "import json, sys, pyarrow as pa; from glade.env import load_scenario; from glade.traces_card import row_facts; "
        "f = row_facts(sys.argv[1], {'default': load_scenario('default')}, ['c']); "
        "print(json.dumps([f['rows'], f['standin_differs'], list(f['councils']), pa.default_memory_pool().max_memory()]))"
    )
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    rows, differs, councils, peak = json.loads(run.stdout)
    assert (rows, differs, councils) == (n, n, ["c"])
    assert peak < table.column("action").nbytes + table.column("standin_action").nbytes
