"""The traces card counts its rows one shard open at a time: a folder of more shards than the
open-file limit still gets its facts (they were dropped in silence when every shard stayed open)."""

import subprocess
import sys
import textwrap

import pyarrow as pa
import pyarrow.parquet as pq

from glade.env.scenario import load_scenario
from glade.traces_card import FACT_COLUMNS


def test_more_shards_than_the_open_file_limit_are_all_counted(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(100):
        row = {"episode_id": f"default.scenario.s{i}", "scenario": "default", "seed": i, "creature": "oona"}
        row |= {"seat": "standin:hoarder", "policy": "standin:hoarder", "prompt_tokens": 0, "completion_tokens": 0}
        row |= {"action": "{}", "standin_action": "{}"}
        pq.write_table(pa.table({c: [row[c]] for c in FACT_COLUMNS}), data / f"part-{i:05d}.parquet")
    script = textwrap.dedent(
        f"""
        import resource
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        from glade.env.scenario import load_scenario
        from glade.traces_card import row_facts
        facts = row_facts({str(tmp_path)!r}, {{"default": load_scenario("default")}}, ["scenario"])
        print(facts["rows"], facts["episodes"], list(facts["councils"]))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert out.stdout.split("\n")[0] == "100 100 ['scenario']"
    assert load_scenario("default").name == "default"
