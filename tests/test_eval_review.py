"""`glade eval` as a user meets it: attribution switched on and off between runs, replays with
seat faults, what the console says of a run (its numbers, its time, Table 1 without the worlds
with faults), an interrupt while the tables are written, a policy no council seats, and a
dry run over the recipe's limits."""

from __future__ import annotations

import json
import socket

import pandas as pd
import pytest
from resume_setup import eval_recipe

from glade.cli import main
from glade.eval import run as eval_run
from glade.eval.recipe import load_eval_recipe


@pytest.fixture
def dead_url():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused at once
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    sock.close()


def dead_seat(url):
    return {"kind": "server", "base_url": url, "model": "tiny", "retries": 0, "timeout": 2}


def test_a_shard_holding_only_replays_keeps_their_seat_faults(tmp_path, dead_url):
    # worlds=1: each leave-one-out replay is a shard of its own, with no episodes rows; the
    # replay without thorn still seats the dead server on oona, so it must replay on a rerun
    path = eval_recipe(
        tmp_path,
        policies={"live": dead_seat(dead_url), "hoard": "hoarder"},
        councils={"two": {"focal": {"oona": "live", "thorn": "hoard"}}},
        seeds={"start": 0, "count": 1},
        worlds=1,
        attribution=True,
        max_fault_share=1.0,  # played to the end, not stopped at the first shard that shows the dead seat
    )
    eval_run.evaluate(load_eval_recipe(path))
    ledger = json.loads((tmp_path / "results" / "progress.json").read_text())["episodes"]
    assert ledger["gambit_override.two.c0.s0.without-thorn"]["faults"] == 6  # oona, every turn
    assert ledger["gambit_override.two.c0.s0.without-oona"]["faults"] == 0


def test_switching_attribution_off_leaves_the_replays_out_and_on_again_keeps_them(tmp_path):
    on = load_eval_recipe(
        eval_recipe(
            tmp_path,
            policies={"panic": "panic_seller", "hoard": "hoarder"},
            councils={"two": {"focal": {"oona": "panic", "thorn": "hoard"}}},
            attribution=True,
        )
    )
    eval_run.write_results(on, eval_run.evaluate(on))
    results = tmp_path / "results"
    assert len(pd.read_parquet(results / "attribution.parquet")["episode_id"].unique()) == 3 * 2
    off = load_eval_recipe(
        eval_recipe(tmp_path, policies=on.policies, councils={"two": {"focal": {"oona": "panic", "thorn": "hoard"}}})
    )
    result = eval_run.evaluate(off)
    assert result.played_now == 0 and result.worlds == 3 * 2  # the recipe's worlds, not its replays too
    assert result.attribution.empty
    summary = eval_run.write_results(off, result)
    assert summary["worlds"] == 6 and not (results / "attribution.parquet").exists()
    again = eval_run.evaluate(on)  # the replays were kept in the ledger: nothing to play
    assert again.played_now == 0 and again.worlds == 3 * 4 and len(again.attribution)


def test_run_lines_format_their_numbers_and_say_the_wall_time():
    from glade.cli.eval import run_lines

    cost = {"episodes": 1200, "wall_seconds": 14.04, "decisions": 9000}
    summary = {
        "timing": {"seconds": 25.522, "outside_model_share": 0.009},  # summed over Ray's workers
        "cost": cost,
        "worlds": 1200,
        "decisions": 12960,
    }
    assert run_lines(summary, "OUT") == (
        "1,200 worlds, 12,960 live decisions; 14.0 s wall, 25.5 s play (99.1% of it in the models); results in OUT"
    )
    resumed = run_lines({**summary, "worlds": 2400}, "OUT")
    assert resumed.startswith("this run played 1,200 of the 2,400 worlds; its timing and cost are those: 14.0 s wall")
    assert resumed.endswith("\n2,400 worlds, 12,960 live decisions in all; results in OUT")


def test_table_one_on_the_console_leaves_out_the_worlds_with_seat_faults(tmp_path, dead_url, capsys):
    path = eval_recipe(
        tmp_path,
        policies={"live": dead_seat(dead_url)},
        councils={"deadcouncil": {"focal": {"oona": "live"}}},
        seeds={"start": 0, "count": 2},
        worlds=4,  # one shard: played to the end, then refused
    )
    assert main(["eval", str(path)]) == 1  # every decision of the live seat failed
    out = capsys.readouterr().out
    table_one = out[out.index("Table 1 of the field notes") : out.index("What this evaluation says")]
    assert "standin" in table_one and "deadcouncil" not in table_one  # as summary.json's table leaves it out
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert {row["world"] for row in summary["table"]} == {"standin"}


def test_an_interrupt_while_the_tables_are_written_says_how_to_resume(tmp_path, monkeypatch, capsys):
    path = eval_recipe(tmp_path, seeds={"start": 0, "count": 1})

    def interrupted(recipe, result):
        raise KeyboardInterrupt

    monkeypatch.setattr(eval_run, "write_results", interrupted)
    assert main(["eval", str(path)]) == 130
    assert "interrupted; rerun the same command to resume" in capsys.readouterr().err
    monkeypatch.undo()
    assert main(["eval", str(path)]) == 0
    assert "nothing left to play" in capsys.readouterr().out


def test_a_policy_no_council_seats_is_warned_about_on_stderr(tmp_path, capsys):
    path = eval_recipe(
        tmp_path,
        policies={"panic": "panic_seller", "ghost": {"kind": "checkpoint", "path": str(tmp_path / "nowhere")}},
        seeds={"start": 0, "count": 1},
    )
    assert main(["eval", str(path)]) == 0
    said = capsys.readouterr()
    assert "warning: policies.ghost: no council seats it, so it plays nowhere" in said.err
    assert "ghost" not in said.out


def test_a_dry_run_over_the_recipes_limit_says_the_run_would_stop(tmp_path, capsys):
    path = eval_recipe(
        tmp_path,
        policies={
            "panic": {
                "kind": "python",
                "entry_point": "tests.planted:always_buy_honey",
                "kwargs": {"disposition": "balanced"},
            }
        },
        seeds={"start": 0, "count": 1},
        worlds=1,
        max_decisions=10,
    )
    assert main(["eval", str(path), "--dry-run"]) == 1  # the plan is printed, and its status says the run would stop
    out = " ".join(capsys.readouterr().out.split())
    assert "(30 by model seats)" in out
    assert "over the recipe's max_decisions 10 (this plan: 30): a run would stop before starting" in out
    assert main(["eval", str(path)]) == 2
    assert not (tmp_path / "results").exists()
