"""Stop 64's small fixes, each pinned where it shows."""

from __future__ import annotations

from test_pinned_standin_parser import NONE_HELD, hazel, wood  # noqa: F401  (wood is a fixture)

from glade.env.protocol import role_card


def test_a_creature_with_no_diet_is_told_it_eats_nothing_not_from_nothing(wood):  # noqa: F811
    card = role_card(hazel(wood, needs={**NONE_HELD, "firewood": 1}))
    assert "You eat no food. Each turn you burn firewood to stay warm." in card
    assert "from: nothing" not in card
    fed = role_card(hazel(wood))
    assert "different foods (one of each) from: " in fed and "You eat no food" not in fed


def test_lm_eval_heldout_rows_read_the_split_without_a_datasets_cache(tmp_path, monkeypatch):
    import datasets.config
    import pyarrow as pa
    import pyarrow.parquet as pq

    from glade.eval.lm_docs import heldout_rows

    cache = tmp_path / "hf" / "datasets"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)  # where load_dataset wrote its Arrow copy
    messages = [
        [{"role": "user", "content": f"state {i}"}, {"role": "assistant", "content": '{"orders": []}'}]
        for i in range(3)
    ]
    (tmp_path / "ck" / "data").mkdir(parents=True)
    pq.write_table(
        pa.table({"messages": messages, "episode_id": ["e0", "e0", "e1"]}), tmp_path / "ck" / "data" / "eval.parquet"
    )
    rows, _ = heldout_rows(tmp_path / "ck")
    assert [r["messages"][0]["content"] for r in rows] == ["state 0", "state 1", "state 2"]
    assert not cache.exists()


RAW = ("\x00", "\x1b", "\u202e")
SEAT = """
from glade.seats.base import Decision

EVIL = "RAW \\x00NUL \\x1b[31mESC \\u202eRLO"


class Seat:
    name = "evil"

    def act(self, observations):
        sell = {"orders": [{"side": "sell", "good": "honey", "qty": 1, "price": 0.5}]}
        return [Decision(action=sell, text=EVIL) for _ in observations]


def make():
    return Seat()
"""


def test_a_models_control_characters_reach_no_report_file_raw(tmp_path, monkeypatch, capsys):
    from glade.cli import main

    (tmp_path / "evilseat.py").write_text(SEAT, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    recipe = tmp_path / "ev.yaml"
    recipe.write_text(
        f"name: ev\nout: {tmp_path / 'ev'}\npolicies:\n  evp: {{kind: python, entry_point: 'evilseat:make'}}\n"
        "councils:\n  cx: {focal: {'*': evp}}\nscenarios: [gambit_rumour]\nseeds: {start: 1, count: 6}\nturns: 8\n",
        encoding="utf-8",
    )
    assert main(["eval", str(recipe)]) == 0
    assert main(["flag", str(tmp_path / "ev")]) == 0
    assert main(["report", str(tmp_path / "ev")]) == 0, capsys.readouterr().err
    for name in ("flags.md", "report.md", "report.html"):
        text = (tmp_path / "ev" / name).read_text(encoding="utf-8")
        assert "RAW \\x00NUL \\x1b[31mESC \\u202eRLO" in text, name  # the answer is shown, its controls as escapes
        assert not [c for c in RAW if c in text], name


def test_the_glade_command_says_one_line_for_a_ctrl_c_before_the_verb_runs(monkeypatch, capsys):
    import glade.cli

    def build_parser(verb):  # a Ctrl-C while the verb's module imports, before the verb's own handler is up
        raise KeyboardInterrupt

    monkeypatch.setattr(glade.cli, "build_parser", build_parser)
    monkeypatch.setattr("sys.argv", ["glade", "simulate", "--help"])
    assert glade.cli.entry() == 130  # the `glade` console script calls entry() itself, not __main__
    assert capsys.readouterr().err.strip() == "error: interrupted"


def test_reading_traces_with_a_shard_the_file_system_refuses_says_permission_not_damage(tmp_path, monkeypatch):
    import pyarrow.parquet as pq
    import pytest
    from test_stop64_unreadable_files import denied

    from glade.traces import GenerateRecipe, generate, load_traces

    out = tmp_path / "traces"
    generate(GenerateRecipe(out=str(out), scenarios=("default",), councils={"s": {}}, turns=2, worlds=1))
    shard = out / "data" / "part-00000.parquet"
    denied(monkeypatch, pq, "read_table", shard)
    with pytest.raises(ValueError, match="permission denied, so its rows cannot be read; fix its permissions"):
        load_traces(out)


def test_lm_eval_task_documents_on_a_full_disk_name_their_file_and_leave_none_half_written(tmp_path, monkeypatch):
    import errno
    from pathlib import Path

    import pytest

    from glade.cli.endings import os_error_line
    from glade.eval import lm_docs
    from glade.traces import GenerateRecipe, generate

    out = tmp_path / "traces"
    generate(GenerateRecipe(out=str(out), scenarios=("default",), councils={"s": {}}, turns=2, worlds=1))
    rows = lm_docs.trace_rows([out])
    real = Path.write_text

    def full(self, text, *args, **kwargs):  # half the text lands, then the disk is full (f.write names no file)
        real(self, text[: len(text) // 2], *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(OSError) as caught:
        lm_docs.write_tasks(rows, tmp_path / "docs")
    assert os_error_line(caught.value).startswith(
        f"{tmp_path / 'docs' / lm_docs.GEN_TASK}.jsonl: no space left on device; the disk is full"
    )
    assert list((tmp_path / "docs").iterdir()) == []


def test_a_save_names_its_path_only_for_errors_a_write_gives(tmp_path):
    import errno

    import pytest

    from glade.files import saved_into

    with pytest.raises(OSError) as caught, saved_into(tmp_path / "trainer"):  # a dataloader's, say: not the folder's
        raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
    assert caught.value.filename is None and caught.value.errno == errno.ECONNRESET
    with pytest.raises(OSError) as caught, saved_into(tmp_path / "trainer"):  # f.write on a full disk names no file
        raise OSError(errno.ENOSPC, "No space left on device")
    assert caught.value.filename == str(tmp_path / "trainer") and caught.value.errno == errno.ENOSPC
