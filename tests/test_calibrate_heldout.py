"""`glade calibrate`'s held-out check: no held-out decision repeats a fit decision (twin scenarios
play alike until the legend on a seed), every interval counts seeds, not episodes, and the
verdict claims no negative result its interval does not support."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from planted import CHANGED  # tests/ is on sys.path under pytest

from glade.config import Seeds
from glade.eval.calibrate import calibrate, compare
from glade.eval.calibrate_words import MIN_GAIN, NOT_CLEARLY_BETTER, fit_verdict
from glade.eval.stats import interval
from glade.traces import GenerateRecipe, generate


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    """The changed stand-in on every creature of two scenarios that part only at the legend, six
    seeds of eight turns, gambit_shock held out; fitted briefly."""
    out = tmp_path_factory.mktemp("heldout") / "traces"
    generate(
        GenerateRecipe(
            out=str(out),
            scenarios=("gambit_override", "gambit_shock"),
            councils={"changed": {"*": CHANGED}},
            seeds=Seeds(0, 6),
            turns=8,
        )
    )
    return calibrate(out, "changed:changed", seed=0, popsize=3, maxiter=2)


def keys(rows: pd.DataFrame) -> list[tuple]:
    return [
        (int(s), int(t), c, json.dumps(o, sort_keys=True))
        for s, t, c, o in zip(rows["seed"], rows["turn"], rows["creature"], rows["observation"])
    ]


def test_no_held_out_decision_repeats_a_fit_decision(twins):
    rows, part = twins.live.rows, twins.split
    assert part.heldout_scenario == "gambit_shock"
    every = keys(rows)
    fitted = {k for k, f in zip(every, part.fit) if f}
    leaked = [k in fitted for k in every]
    assert any(leaked)  # the twins do play alike before the legend: the check has something to catch
    assert not any(k in fitted for k, h in zip(every, part.heldout) if h)
    # what was left out is exactly that: gambit_shock's turns before the legend on the fit seeds, and (any
    # seed) a decision whose creature and observation a fit decision had, as openings repeat across seeds
    left = rows[~part.fit & ~part.heldout]
    assert set(left.loc[~left["seed"].isin(part.heldout_seeds), "scenario"]) == {"gambit_shock"}
    inputs = {k[2:] for k, f in zip(every, part.fit) if f}
    assert all((k[2:] in inputs) != h for k, h, f in zip(every, part.heldout, part.fit) if not f)
    assert (
        twins.summary["split"]["heldout_seen_in_fit"]
        == len(left)
        == sum(k[2:] in inputs for k in every) - part.fit.sum()
    )
    # the scenario never fitted keeps its decisions after the legend on the fit seeds
    kept = rows[part.heldout & ~rows["seed"].isin(part.heldout_seeds).to_numpy()]
    assert len(kept) and set(kept["scenario"]) == {"gambit_shock"} and kept["turn"].min() > left["turn"].max()


def test_the_held_out_intervals_count_seeds_not_episodes(twins):
    s, rows = twins.summary, twins.live.rows
    held = s["parts"]["heldout"]
    seeds = rows.loc[twins.split.heldout, "seed"].nunique()
    assert held["seeds"] == seeds == 6 and held["episodes"] == 2 * 2 + 4  # both scenarios of 2 seeds, shock on 4
    for column in ("agreement", "qty_error", "price_error"):
        assert held[column]["after"]["n"] == held[column]["change"]["n"] == seeds, column
    assert (
        s["base_rate"]["gain"]["n"] == seeds
        and f"over the {seeds} seeds with held-out decisions, each seed's averaged" in s["verdict"]
    )
    assert s["parts"]["fit"]["agreement"]["after"]["n"] == s["parts"]["fit"]["seeds"] == 4


def test_compare_averages_a_seeds_episodes_first():
    # two episodes on each of four seeds; a seed's pair differ, the seeds do not: one unit per seed
    rows = pd.DataFrame({"episode_id": [f"e{i}" for i in range(8)], "seed": [0, 0, 1, 1, 2, 2, 3, 3]})
    before = pd.DataFrame({"agreement": [0.2, 0.8] * 4, "qty_error": [1.0] * 8, "price_error": [0.1] * 8})
    after = pd.DataFrame({"agreement": [0.4, 1.0] * 4, "qty_error": [0.0] * 8, "price_error": [0.1] * 8})
    out = compare(rows, before, after, level=0.95)
    assert (out["episodes"], out["seeds"]) == (8, 4)
    agreement = out["agreement"]
    assert agreement["before"]["n"] == 4 and agreement["before"]["note"] == "same value in all 4 seeds"
    assert agreement["change"]["mean"] == pytest.approx(0.2) and agreement["change"]["n"] == 4


def said(calibrated, original, base):
    calibrated, original, base = (np.asarray(v, dtype=float) for v in (calibrated, original, base))
    parts = (calibrated, original, base, calibrated - original, calibrated - base)
    return fit_verdict(*(interval(v, unit="seeds", bounds=(-1, 1)) for v in parts))


def test_an_interval_across_0_is_no_evidence_that_the_fit_did_not_generalise():
    # five seeds, a gain of +0.160 [-0.183, +0.472] over base rates and +0.200 [-0.048, +0.448] over the original
    v = said([0.9, 0.5, 0.8, 0.4, 0.9], [0.5, 0.5, 0.6, 0.4, 0.5], [0.5, 0.6, 0.4, 0.5, 0.7])
    assert not v.generalised and v.against_original == NOT_CLEARLY_BETTER
    assert v.text.startswith(
        "could not show that the fit generalised at n = 5 seeds (the interval spans 0); it is not clearly better than "
        "the original disposition (+0.200 [-0.048, +0.448], the interval spans 0): "
    )
    assert "did not generalise" not in v.text and "no disposition" not in v.text and "no better" not in v.text


def test_did_not_generalise_only_when_the_whole_interval_lies_below_the_gain_needed():
    rng = np.random.default_rng(0)
    base = 0.6 + rng.normal(0, 0.02, 12)
    below = said(base + 0.02 + rng.normal(0, 0.002, 12), base, base)  # about +0.02, all of it below MIN_GAIN
    assert below.text.startswith(
        "the fit did not generalise; it agrees better than the original disposition ("
    ) and below.text.endswith("the whole interval lies below it")
    # above 0 but a mean below MIN_GAIN, with an interval that reaches it: not shown, not refuted
    gains = MIN_GAIN - 0.01 + np.array([0.02, -0.02, 0.015, -0.015, 0.01, -0.01, 0.005, -0.005])
    unsure = said(base[:8] + gains, base[:8], base[:8])
    gain = interval(gains, unit="seeds")
    assert gain.low > 0 and gain.mean < MIN_GAIN <= gain.high
    assert unsure.text.startswith(
        f"could not show that the fit generalised at n = 8 seeds (the mean is below {MIN_GAIN:+.3f})"
    )
    same = said(base[:6] + 0.01, base[:6], base[:6])  # +0.010 on every seed: below, with no interval
    assert same.text.startswith(
        "the fit did not generalise; it agrees better than the original disposition (+0.010 in all 6): "
    ) and same.text.endswith("on every seed lies below it")


def test_too_few_held_out_seeds_say_what_to_do():
    v = said([0.9, 0.8, 0.9], [0.5, 0.5, 0.6], [0.5, 0.6, 0.4])
    assert v.against_original is None and not v.generalised
    assert v.text == (
        "too few seeds with held-out decisions to tell whether the fit generalised: n = 3, an interval needs 4; "
        "calibrate on a run of more seeds (or, from one scenario, hold out more of them: --holdout)"
    )


def test_agreement_intervals_stay_within_what_a_share_can_be():
    from glade.eval.calibrate import compare

    rows = pd.DataFrame({"episode_id": [f"e{i}" for i in range(8)], "seed": range(8)})
    before = pd.DataFrame({"agreement": [0.2] * 7 + [0.9], "qty_error": [0.0] * 7 + [4.0], "price_error": [0.5] * 8})
    after = pd.DataFrame({"agreement": [1.0] * 7 + [0.6], "qty_error": [0.0] * 8, "price_error": [0.5] * 8})
    out = compare(rows, before, after, level=0.95)
    unbounded = interval(after["agreement"].to_numpy(), unit="episodes")
    assert unbounded.high > 1  # what the interval said before it knew a share's bounds
    assert out["agreement"]["after"]["ci"][1] == 1.0 and out["agreement"]["after"]["ci"][0] < 0.95
    assert out["qty_error"]["before"]["ci"][0] == 0.0  # an error is never below 0
    assert -1.0 <= out["agreement"]["change"]["ci"][0]
