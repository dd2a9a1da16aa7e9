"""The words of `glade calibrate`'s verdict on held-out decisions (glade.eval.calibrate, step 4):
whether the fit generalised beyond base rates, how it compares with the original disposition,
and a held-out error it made clearly worse."""

from __future__ import annotations

from dataclasses import dataclass

from .stats import MIN_N, Interval, ci_text

MIN_GAIN = 0.05  # held-out agreement the fit must add over base rates to count as generalised
IMPROVED, NO_BETTER, WORSE = "improved", "no better", "worse"  # held-out agreement against the original
NOT_CLEARLY_BETTER = "not clearly better"  # the change's interval spans 0 (NO_BETTER: the same on every seed)
ERROR_WORDS = {"qty_error": ("quantity error", "+.2f"), "price_error": ("price error", "+.3f")}  # as the report's table


@dataclass(frozen=True)
class FitVerdict:
    generalised: bool
    against_original: str | None  # IMPROVED, NOT_CLEARLY_BETTER, NO_BETTER or WORSE; None with too few seeds
    text: str  # "headline: what was measured" (the YAML header carries the headline)


def worse_errors(heldout: dict | None) -> str:
    """ "; its held-out price error is worse (+0.023 [+0.008, +0.045])" for each error whose held-out
    change (calibrated minus original, paired by seed: `compare`) lies wholly above 0; else ""."""
    worse = []
    for column, (words, fmt) in ERROR_WORDS.items():
        change = ((heldout or {}).get(column) or {}).get("change") or {}
        ci, same = change.get("ci"), change.get("note", "").startswith("same value") and change.get("n", 0) >= MIN_N
        # a same value in every seed is its own interval unless one was given (a lattice's exact one)
        if change.get("mean") is not None and ((ci and ci[0] > 0) or (same and not ci and change["mean"] > 0)):
            worse.append(f"{words} is worse ({ci_text(change, fmt)})")
    return f"; its held-out {' and its '.join(worse)}" if worse else ""


def against_words(against: str, change: Interval) -> str:
    """ "; it agrees better than the original disposition (+0.162 [+0.101, +0.210])": the comparison
    with the original where the fit did not (or could not be shown to) generalise. No ": " inside:
    the headline ends at the first one."""
    if against == IMPROVED:
        return f"; it agrees better than the original disposition ({ci_text(change, '+.3f')})"
    if against == WORSE:
        return f"; it agrees worse than the original disposition ({ci_text(change, '+.3f')})"
    if against == NOT_CLEARLY_BETTER:
        return f"; it is not clearly better than the original disposition ({ci_text(change, '+.3f')}, the interval spans 0)"
    return f"; it is no better than the original disposition ({ci_text(change, '+.3f')})"


def fit_verdict(
    calibrated: Interval,
    original: Interval,
    base: Interval,
    change: Interval,
    gain: Interval,
    heldout: dict | None = None,
) -> FitVerdict:
    """Held-out agreement per seed: the calibrated stand-in, the original disposition, base rates
    (each good's most common live side), change = calibrated minus original and gain =
    calibrated minus base rates, both paired by seed. Generalised: the gain is at least MIN_GAIN
    and excludes 0 upwards; did not generalise: the whole interval (or the same value on every
    seed) lies below MIN_GAIN; otherwise it could not be shown at this n. Against the original:
    improved or worse when the change excludes 0 (an interval, or the same nonzero change on all
    of at least MIN_N seeds), not clearly better where its interval spans 0, no better where it
    is 0 on every seed; said in either case. `heldout` (`compare`'s held-out part): an error made
    clearly worse is named."""
    n = calibrated.n
    if n < MIN_N:
        return FitVerdict(
            False,
            None,
            f"too few seeds with held-out decisions to tell whether the fit generalised: n = {n}, an interval needs "
            f"{MIN_N}; calibrate on a run of more seeds (or, from one scenario, hold out more of them: --holdout)",
        )
    if change.excludes_zero():
        against, versus = (IMPROVED, "") if change.mean > 0 else (WORSE, "")
    elif change.low is not None:
        against, versus = NOT_CLEARLY_BETTER, " (the interval spans 0)"
    else:
        against, versus = NO_BETTER, " (the same on every seed)"
    said = (
        f"held-out agreement (the share of goods on the live side) over the {n} seeds with held-out decisions, each "
        "seed's averaged: "
        f"calibrated stand-in {ci_text(calibrated, '.3f')}, original disposition {ci_text(original, '.3f')}, always "
        f"each good's most common side {base.mean:.3f}; the calibrated stand-in's change is {ci_text(gain, '+.3f')} "
        f"over base rates and {ci_text(change, '+.3f')} over the original"
    )
    needs = f"generalising needs {MIN_GAIN:+.3f} or more over base rates, interval above 0"
    errors = worse_errors(heldout)  # in the headline: the YAML header and the report's first words say it
    if not (gain.excludes_zero() and gain.mean >= MIN_GAIN):
        # a negative result only where the interval rules the needed gain out: absence of evidence is no evidence
        versus = against_words(against, change)  # the original is compared here too, not only when it generalised
        top = gain.high if gain.low is not None else gain.mean  # no interval: the same value on every seed
        if top < MIN_GAIN:
            where = "the whole interval" if gain.low is not None else "the same value on every seed"
            return FitVerdict(
                False,
                against,
                f"the fit did not generalise{versus}{errors}: {said}; {needs}, and {where} lies below it",
            )
        if gain.low is None:
            why = gain.note
        elif gain.low <= 0:
            why = "the interval spans 0"
        else:
            why = f"the mean is below {MIN_GAIN:+.3f}"
        return FitVerdict(
            False,
            against,
            f"could not show that the fit generalised at n = {n} seeds ({why}){versus}{errors}: {said}; {needs}",
        )
    if against == IMPROVED:
        head = "the fit generalised and improved agreement over the original disposition"
    else:
        than = {WORSE: "worse", NOT_CLEARLY_BETTER: "not clearly better"}.get(against, "no better")
        head = f"the fit generalised beyond base rates but is {than} than the original disposition{versus}"
    return FitVerdict(True, against, f"{head}{errors}: {said}")
