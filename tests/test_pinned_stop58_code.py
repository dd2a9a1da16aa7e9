"""Tests written by the stop-59 mutation audit of the code stop 58 added (glade.eval.attribution's
noise and same-share rules, glade.faults' turn watch, results_folder's row keys, rank's flat
entries, the thresholds' resamples rule, flags_fields' stale thresholds, the server seat's body cap,
files' leftovers of a kill): each pins a behaviour that a plausible one-line change left untested.
The comment on each names what it guards."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest
from test_pinned_verdicts import _attribute, _seat_world
from test_rank_intervals import _seat

from glade import faults, files
from glade.env.schema import ConfigError
from glade.eval import rank as rank_module
from glade.eval.attribution import attribution
from glade.eval.flags_fields import stale_thresholds
from glade.eval.metrics import world_figures
from glade.eval.results_folder import read_table
from glade.eval.thresholds import DEFAULTS, Thresholds, run_settings
from glade.faults import shard_watch
from glade.files import left_by_a_kill
from glade.seats.server import MAX_BODY


def _by_contribution(effects: list[float], contributions: dict[str, list[float]], thresholds=DEFAULTS) -> dict:
    """The council's volume falls by effects[s] below the stand-in's 10 on seed s; the replay without
    a creature has the volume it would have had without that creature's contributions[c][s]."""
    rows, replays = [], []
    for s, e in enumerate(effects):
        rows.append(_seat_world("standin", s, "oona", 10.0))
        live = 10.0 - e
        for creature, parts in contributions.items():
            rows.append(_seat_world("council", s, creature, live))
            replay = _seat_world("council", s, creature, live + parts[s], left_out=creature)
            replays.append(replay | {"episode_id": f"{replay['episode_id']}.without-{creature}"})
    episodes = pd.DataFrame(rows)
    out = attribution(world_figures(episodes), episodes, pd.DataFrame(replays), thresholds)
    [entry] = [e for e in out if e["figure"] == "volume"]
    return {seat["creature"]: seat for seat in entry["seats"]}


def test_a_same_share_over_fewer_than_four_moved_seeds_is_said_in_words_not_a_zero_width_interval():
    # guards attribution.py:101-102 (Fieller's zero-width interval -> same share, no interval):
    # 3 moved seeds (fewer than MIN_N, so `same` is False) and 1 where nothing moved; at ci_level
    # 0.8 the effect is clear of 0 and Fieller's interval is [1, 1] for hazel and [0, 0] for thorn
    effects = [0.0, 1.0, 1.1, 0.9]
    seats = _by_contribution(effects, {"hazel": effects, "thorn": [0.0] * 4}, Thresholds(ci_level=0.8))
    for seat in seats.values():
        assert seat["share_ci"] is None  # never "100% [100%, 100%]"
        assert seat["share_note"] == "same share in all 3 seeds where the figure moved (in 1 of 4 it did not)"


def test_a_seat_that_moved_the_figure_where_the_council_did_not_has_no_same_share():
    # guards attribution.py:95's `part["contribution"].abs() >= NOISE`: on seed 0 the council's
    # effect is 0 but hazel moved the figure by 0.5 (thorn by -0.5): not a "0/0" seed to skip
    seats = _by_contribution(
        [0.0, 0.6, 1.2, 0.9, 0.3], {"hazel": [0.5, 0.6, 1.2, 0.9, 0.3], "thorn": [-0.5, 0, 0, 0, 0]}
    )
    assert not seats["hazel"]["share_note"].startswith("same share")
    assert not seats["thorn"]["share_note"].startswith("same share")


def test_four_seeds_whose_effect_is_not_clear_of_zero_are_not_called_fewer_than_four():
    # guards attribution.py:113's `pairs < MIN_N` (and :103's pairs of every seed, not only the moved)
    seats = _by_contribution([1.0, -1.0, 1.2, -0.8], {"hazel": [0.6, -0.4, 0.5, -0.5], "thorn": [0.4, -0.6, 0.7, -0.3]})
    assert seats["hazel"]["share_ci"] is None
    assert seats["hazel"]["share_note"] == "no interval: this cast's effect is not clearly away from 0"
    # 5 seeds, 2 where nothing moved: Fieller had 5 pairs, not "fewer than 4 seeds"
    seats = _by_contribution(
        [0.0, 0.0, 1.0, -1.0, 1.2], {"hazel": [0.0, 0.0, 0.6, -0.4, 0.5], "thorn": [0.0, 0.0, 0.4, -0.6, 0.7]}
    )
    assert seats["hazel"]["share_ci"] is None
    assert seats["hazel"]["share_note"] == "no interval: this cast's effect is not clearly away from 0"


def test_a_small_but_real_effect_gets_its_share():
    # guards attribution.py:25's NOISE: it is float noise (1e-15), not a small move (a rate's 1/400)
    _, seats = _attribute([0.0025, 0.005, 0.0075, 0.01], {"oona": 1.0})
    assert seats[(0, "oona")]["share"] == 1.0 and seats[(0, "oona")]["cast_effect"] == pytest.approx(-0.00625)


def test_the_turn_watch_counts_only_the_turns_a_seat_decided_in(monkeypatch):
    # guards faults.py:214's `t["decisions"] > before...` and :215's before.update: a turn the seat
    # sat out (its world over, another world's turn) is not one of "its turns"
    monkeypatch.setattr(faults, "GRACE_S", 0.0)
    meters = {"s": faults.SeatMeter(), "ok": faults.SeatMeter()}
    watch = faults.failing_watch(meters, 0.2)

    def turn(failed: int) -> None:
        for _ in range(failed):
            meters["s"].count("server_refused")
        meters["ok"].count(None)
        watch(True)

    turn(failed=4)
    turn(failed=0)  # s sat this turn out: still one turn of its own
    turn(failed=0)
    with pytest.raises(faults.SeatsFailing, match=r"'s': 8 of 8 decisions .* in its first 2 turns, more than"):
        turn(failed=4)


def test_a_shard_has_turns_left_while_its_worlds_play_or_shards_follow():
    # guards faults.py:230's `live > 0 or not last`: at the end of a shard that is not the last,
    # turns are left (the watch may stop the run); only the last shard's last turn has none
    said = []
    middle, last = shard_watch(said.append, last=False), shard_watch(said.append, last=True)
    middle(3), middle(0), last(2), last(0)
    assert said == [True, True, True, False]


def test_an_attribution_table_with_a_repeated_replay_row_is_refused(tmp_path):
    # guards results_folder.py:108's ROW_KEYS entry for attribution.parquet: a hand-made concat
    # of replays would count a seat's contribution twice
    replay = "s.c.c0.s0.without-oona"
    rows = [{"episode_id": replay, "creature": c, "left_out": "oona"} for c in ("oona", "hazel")]
    path = tmp_path / "attribution.parquet"
    pd.DataFrame(rows).to_parquet(path)
    assert len(read_table(path)) == 2  # one row per creature of a replay: not repeats
    pd.DataFrame(rows + rows[:1]).to_parquet(path)
    with pytest.raises(
        ValueError,
        match=rf"attribution.parquet: 1 row\(s\) repeat another's episode_id, creature \({replay}, oona first\)",
    ):
        read_table(path)


def test_flags_flagged_at_another_support_are_stale():
    # guards flags_fields.py:50's "flag_support" in FLAGGED_AT: flags.json records it, and the
    # flags (which cells are flagged) depend on it as on fdr_q and flag_min_effect
    then = 0.9 if DEFAULTS.flag_support != 0.9 else 0.5
    assert stale_thresholds({"flag_support": then}, DEFAULTS) == (
        f"flagged at flag_support {then}, where the run's thresholds are now flag_support {DEFAULTS.flag_support}"
    )


def test_refits_that_differ_only_in_float_dust_are_still_one_strength(tmp_path, monkeypatch):
    # guards rank.py:267's `_tidy(low[i]) == _tidy(high[i])`: refits of the same order that differ in
    # the 14th digit are no spread either (else the board shows "+0.23 [+0.23, +0.23]")
    real = rank_module.resample_intervals

    def dusty(*args, **kwargs):
        low, high, missing = real(*args, **kwargs)
        return low, high + 1e-14, missing

    monkeypatch.setattr(rank_module, "resample_intervals", dusty)
    rows = [_seat("s", seed, p, v) for seed in range(12) for p, v in (("a", 3.0), ("b", 2.0), ("c", 0.0))]
    folder = tmp_path / "r"
    folder.mkdir()
    pd.DataFrame(rows).to_parquet(folder / "episodes.parquet")
    board = rank_module.rank([folder], resamples=200, seed=0)
    assert all(row["ci"] is None and row["note"].startswith("the same strength") for row in board["board"])


def test_only_atomics_own_temporary_names_are_a_kills_leftovers():
    # guards files.py:45's `[0-9a-f]{8}`: .NAME.PID-HEX.tmp with 8 hex digits is atomic's; a
    # user's file that merely looks like it (other letters, other length) is never deleted
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(gone.stdout)
    assert left_by_a_kill(f".summary.json.{dead}-0badc0de.tmp")
    for mine in (f".notes.{dead}-draft123.tmp", f".notes.{dead}-0badc0de1.tmp", f".notes.{dead}-0badc0.tmp"):
        assert not left_by_a_kill(mine), mine


def test_no_resamples_at_all_is_not_blamed_on_an_older_glade(tmp_path):
    # guards thresholds.py:67's `thresholds.resamples >= 1`: an older glade took 1 to 99, never 0
    with pytest.raises(ConfigError, match="got 0") as refused:
        run_settings({"thresholds": {"resamples": 0}}, {}, tmp_path)
    assert "older glade" not in str(refused.value)


def test_a_completion_body_is_capped_at_megabytes_not_gigabytes():
    # guards server.py:70's MAX_BODY (the flood test sets its own): a few kB is a completion
    assert 2**20 <= MAX_BODY <= 64 * 2**20


def test_a_temporary_of_another_users_live_writer_or_of_no_pid_is_left_alone(monkeypatch):
    # guards files.py:58's `except (PermissionError, OverflowError)`: os.kill(pid, 0) on another
    # user's live process raises PermissionError (kept, no traceback); a pid past C's int, OverflowError
    def not_yours(pid, sig):
        raise PermissionError(1, "Operation not permitted")

    assert not files.left_by_a_kill(".decisions.parquet.99999999999999999999-0badc0de.tmp")
    monkeypatch.setattr(files.os, "kill", not_yours)
    assert not files.left_by_a_kill(f".decisions.parquet.{os.getpid() + 1}-0badc0de.tmp")
