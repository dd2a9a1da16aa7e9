"""The README's Python API examples run as written and do what the README says they do."""

from __future__ import annotations

import json
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_api_blocks() -> list[str]:
    text = README.read_text()
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_python_api_examples_run(capsys):
    blocks = python_api_blocks()
    assert len(blocks) == 2
    env_example, council_example = ({}, {})
    exec(compile(blocks[0], "README: Python API, env", "exec"), env_example)
    env = env_example["env"]
    assert env.agents == [] and env.world.turn == 10  # played to the end
    exec(compile(blocks[1], "README: Python API, council", "exec"), council_example)
    played = council_example["played"]
    council = played.summary["council"]
    assert council["oona"] == "holder" and council["thorn"] == "standin:hoarder"
    assert len(played.rows) == 50
    assert all(json.loads(r["action"])["orders"] == [] for r in played.rows if r["creature"] == "oona")
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1].endswith(" 50")  # the prices, then the row count
