"""A recipe's max_tokens calibration that meets a seat failing every decision (a server down)
refuses the run before anything is written, as the dry run says it would; and `glade rank`
asks for the refits an interval's ends need only where some entry gets an interval."""

from __future__ import annotations

import json
import socket

import pandas as pd
import pytest
from resume_setup import eval_recipe, generate_recipe

from glade.cli import main
from glade.eval.rank import rank
from glade.meter import Estimate, Plan, check_limits


@pytest.fixture
def dead_url():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    sock.close()


def server(url):
    return {"kind": "server", "base_url": url, "model": "tiny", "retries": 0, "timeout": 2}


def errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


def test_eval_with_max_tokens_refuses_a_dead_seat_before_writing(tmp_path, dead_url, capsys):
    live = {"policies": {"live": server(dead_url)}, "councils": {"one": {"focal": {"oona": "live"}}}}
    path = eval_recipe(tmp_path, **live, max_tokens=10)
    assert main(["eval", str(path)]) == 2
    [line] = errors(capsys.readouterr().err)
    assert line.startswith(f"error: {path}: live: ") and " trial decisions failed (server_refused " in line
    assert line.endswith(
        ": the run would fail the same way (more than max_fault_share 0.2): check that its server is up"
    )
    assert not (tmp_path / "results").exists()
    # a recipe that accepts every decision failing (max_fault_share 1) plays, as it would without max_tokens
    assert main(["eval", str(eval_recipe(tmp_path, **live, max_tokens=10, max_fault_share=1.0))]) == 0


def test_generate_with_max_tokens_refuses_a_dead_seat_before_writing(tmp_path, dead_url, capsys):
    path = generate_recipe(tmp_path, councils={"live": {"oona": server(dead_url)}}, max_tokens=10)
    assert main(["generate", str(path)]) == 2
    [line] = errors(capsys.readouterr().err)
    assert line.startswith(f"error: {path}: server:tiny: ") and "(server_refused " in line
    assert line.endswith("the run would fail the same way (more than max_fault_share 0.2): check that its server is up")
    assert not (tmp_path / "traces").exists()


def test_check_limits_refuses_an_all_failed_seat_below_a_fault_share_of_1():
    plan = Plan(episodes=1, world_turns=2, decisions={"m": 2, "n": 2})
    seats = {
        "m": {"measured_decisions": 2, "measured_faults": {"server_refused": 2}},
        "n": {"measured_decisions": 2, "measured_faults": {"server_refused": 1}},  # answered once: not dead
    }
    expected = Estimate(plan=plan, seats=seats)
    with pytest.raises(ValueError) as refused:
        check_limits(plan, "r.yaml", None, 100, expected, 0.99)
    assert str(refused.value) == (
        "r.yaml: m: 2 of 2 trial decisions failed (server_refused 2): the run would fail the same way "
        "(more than max_fault_share 0.99): check that its server is up"
    )
    check_limits(plan, "r.yaml", None, 100, expected, 1.0)  # every failure accepted: the run would not stop
    check_limits(plan, "r.yaml", None, 100, Estimate(plan=plan, seats={"n": seats["n"]}), 0.0)


def _seat(seed, policy, value):
    return {
        "episode_id": f"e.{policy}.s{seed}", "scenario": "s", "scenario_hash": "h", "seed": seed, "creature": "c1",
        "world": "council", "focal": True, "policy": policy, "wealth_change": value, "council": "k", "cast": 0,
    }  # fmt: skip


def _folder(root, name, pairs):
    """pairs: (seed, winner, loser) comparisons on creature c1."""
    folder = root / name
    folder.mkdir()
    rows = [row for seed, a, b in pairs for row in (_seat(seed, a, 2.0), _seat(seed, b, 1.0))]
    pd.DataFrame(rows).to_parquet(folder / "episodes.parquet")
    return folder


def test_rank_takes_few_refits_where_no_entry_gets_an_interval(tmp_path, capsys):
    four = _folder(tmp_path, "four", [(seed, "a", "b") for seed in range(4)])  # the board is below 8 seeds
    assert main(["rank", str(four), "--resamples", "10"]) == 0
    board = json.loads((four / "rank.json").read_text())
    assert board["resamples"] == 10 and all(row["ci"] is None for row in board["board"])
    # 9 seeds, but each entry compared on 6: none gets an interval either
    ring = [(s, "a", "b") for s in range(3)] + [(s, "b", "c") for s in range(3, 6)] + [(s, "c", "a") for s in (6, 7, 8)]
    spread = _folder(tmp_path, "spread", ring)
    assert main(["rank", str(spread), "--resamples", "10"]) == 0
    assert all(
        row["ci"] is None and row["seeds"] == 6 for row in json.loads((spread / "rank.json").read_text())["board"]
    )
    assert main(["rank", str(four), "--resamples", "0"]) == 2
    assert errors(capsys.readouterr().err) == ["error: --resamples: must be at least 1, got 0"]


def test_rank_refuses_too_few_refits_where_an_entry_gets_an_interval(tmp_path, capsys):
    # b wins one seed: refits differ (were every seed alike, no refit would spread an interval)
    eight = _folder(tmp_path, "eight", [(seed, "a", "b") for seed in range(7)] + [(7, "b", "a")])
    assert main(["rank", str(eight), "--resamples", "10"]) == 2
    assert errors(capsys.readouterr().err) == [
        "error: --resamples 10: at least 1743 refits for a 95% interval's ends (about 10 beyond each at 8 seeds; "
        "fewer and the ends are a few refits' noise)"
    ]
    assert not (eight / "rank.json").exists()
    totals = []  # refused before any refit; at the floor itself, accepted
    with pytest.raises(ValueError, match="--resamples 9: at least 10 refits"):
        rank([eight], resamples=9, least_resamples=10, on_total=totals.append)
    assert totals == [] and rank([eight], resamples=10, least_resamples=10)["board"][0]["ci"] is not None


def test_a_rerun_its_limits_refuse_keeps_the_card_of_the_last_run(tmp_path, dead_url, capsys):
    # guards _generate's order: the limits are checked before the card of a finished folder goes.
    # The dead seat's episodes are replayed by a rerun, which max_decisions then refuses.
    councils = {"live": {"oona": server(dead_url)}}
    assert main(["generate", str(generate_recipe(tmp_path, councils=councils, max_fault_share=1.0))]) == 0
    card = (tmp_path / "traces" / "README.md").read_text()
    again = generate_recipe(tmp_path, councils=councils, max_fault_share=1.0, max_decisions=1)
    assert main(["generate", str(again)]) == 2
    assert "max_decisions" in errors(capsys.readouterr().err)[0]
    assert (tmp_path / "traces" / "README.md").read_text() == card


def test_a_dry_run_says_a_dead_seat_plays_on_where_every_failure_is_accepted(tmp_path, dead_url, capsys):
    # guards plan_fails' and fault_lines' max_fault_share: the dry run agrees with the run it plans
    councils = {"live": {"oona": server(dead_url)}}
    assert main(["generate", str(generate_recipe(tmp_path, councils=councils)), "--dry-run"]) == 1
    assert "and the run would fail the same way: check that its server is up" in capsys.readouterr().out
    accepted = generate_recipe(tmp_path, councils=councils, max_fault_share=1.0)
    assert main(["generate", str(accepted), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "the run plays on, as max_fault_share 1 accepts every decision failing" in out


def test_an_eval_dry_run_honours_max_fault_share_as_its_run_does(tmp_path, dead_url, capsys):
    live = {"policies": {"live": server(dead_url)}, "councils": {"one": {"focal": {"oona": "live"}}}}
    assert main(["eval", str(eval_recipe(tmp_path, **live)), "--dry-run"]) == 1
    assert main(["eval", str(eval_recipe(tmp_path, **live, max_fault_share=1.0)), "--dry-run"]) == 0
    assert "the run plays on, as max_fault_share 1 accepts every decision failing" in capsys.readouterr().out
