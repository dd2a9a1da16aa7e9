"""Tests written by a mutation audit of the meter's estimate (glade.meter): what a dry run says of
loading time, and how a partly faulted seat is scaled and said in a max_tokens refusal. The
comment on each names what it guards."""

from __future__ import annotations

from collections import Counter

import pytest

from glade.faults import SeatMeter
from glade.meter import Calibration, Estimate, Plan, check_limits, estimate, estimate_lines
from glade.rollout import RolloutStats


def test_a_dry_run_says_loading_time_apart_from_model_time():
    # guards estimate_lines' `expected.setup_seconds` in "loading the seats" (not the model seconds again)
    plan = Plan(2, 6, {"a": 6, "standin:balanced": 6}, frozenset({"standin:balanced"}))
    expected = Estimate(
        plan=plan,
        prompt_tokens=100,
        completion_tokens=20,
        model_seconds=7.0,
        outside_seconds=0.5,
        setup_seconds=1.5,
        how="calibrated on 4 decisions: x",
    )
    assert estimate_lines(expected, {"max_decisions": None, "max_tokens": None})[1] == (
        "estimated wall time: 9.0 s (7.0 s in the models, 1.5 s loading the seats); calibrated on 4 decisions: x"
    )


def test_a_partly_faulted_seat_is_scaled_by_its_answered_decisions_and_the_refusal_says_so():
    # guards estimate's `answered = decisions - fault_count` (2 of 4 answered: their tokens stand for 10
    # planned decisions, not 4 halved) and check_limits' "(calibrated on ...)" in the max_tokens refusal
    m = SeatMeter(
        decisions=4, faults=Counter({"server_timeout": 2}), prompt_tokens=200, completion_tokens=40, model_seconds=2.0
    )
    calibration = Calibration(RolloutStats(4, 2.0, 3.0, 2, {"a": m}), world_turns=2, worlds=1)
    expected = estimate(Plan(1, 10, {"a": 10}), calibration)
    seat = expected.seats["a"]
    assert (seat["prompt_tokens"], seat["completion_tokens"], seat["model_seconds"]) == (1000, 200, 10.0)
    assert expected.how.startswith("measured on ")
    with pytest.raises(ValueError, match=r"about 1,200 tokens \(measured on [^)]*\), more than the 100 allowed"):
        check_limits(expected.plan, "r.yaml", None, 100, expected)
