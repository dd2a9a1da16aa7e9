"""The report's words say what its numbers support: every verdict a lesson can give is defined
(in the lead's rule, the tables' captions and Terms), a lever line says which world's effect is
larger where the difference in differences shows it and when an interval sits at the floor, the
calibration verdict names a held-out error it made worse, and the agreement heatmaps and flag
families give their n."""

from __future__ import annotations

import itertools
import types

import numpy as np
import pytest

from glade.eval import report
from glade.eval.calibrate_words import IMPROVED, fit_verdict
from glade.eval.families import family_counts
from glade.eval.report.calibration import _where
from glade.eval.report.glossary import verdict_terms
from glade.eval.report.sections import VERDICTS, _verdict_html
from glade.eval.stats import Interval, interval
from glade.eval.verdict_text import floor_line, lever_lines
from glade.eval.verdicts import (
    LEVER_RULES,
    ROBUST_RULES,
    SEAM_RULES,
    _lever_verdict,
    _robust_verdict,
    _seam_verdict,
)

RULES = {"robustness": ROBUST_RULES, "seam": SEAM_RULES, "levers": LEVER_RULES}


def _iv(low, high, n=8, mean=None, note=""):
    mean = (low + high) / 2 if mean is None and low is not None else mean
    return Interval(mean, low, high, n, note)


# intervals against a floor of 0.05: beyond it either way, inside it, across it, the same value, too few seeds
SHAPES = [
    _iv(0.06, 0.1),
    _iv(-0.1, -0.06),
    _iv(-0.02, 0.03),
    _iv(0.03, 0.07),
    _iv(None, None, mean=0.0, note="same value in all 8 seeds"),
    _iv(None, None, mean=0.2, note="same value in all 8 seeds"),
    _iv(None, None, n=3, mean=0.1, note="too few seeds"),
]


def test_every_verdict_a_function_returns_is_one_its_rule_defines():
    lever = {_lever_verdict(a, b, 0.05) for a, b in itertools.product(SHAPES, SHAPES)}
    seam = {_seam_verdict(a, b, c, 0.05) for a, b, c in itertools.product(SHAPES, SHAPES, SHAPES)}
    robust = set()
    for casts, hetero in itertools.product(([[0] * 8], [[1] * 8], [[1] * 8, [0] * 8], [[1] * 3]), (None, 0.01, 0.5)):
        for pooled in SHAPES + [_iv(0.6, 1.0), _iv(0.0, 0.3)]:
            robust.add(_robust_verdict([np.array(c) for c in casts], pooled, hetero, 0.5))
    assert lever <= set(LEVER_RULES) and seam <= set(SEAM_RULES) and robust <= set(ROBUST_RULES)
    assert {"emergent", "absent", "holds live", "neither", "stand-in only"} <= lever | seam | robust


@pytest.mark.parametrize("key", list(RULES))
def test_the_leads_rule_sentence_names_every_verdict_with_its_rule(key):
    line = floor_line(key, [{"floor": 0.05, "min_effect": 0.05}])
    for verdict, rule in RULES[key].items():
        assert f"{verdict}: {rule}" in line, verdict
    assert set(RULES[key]) <= set(VERDICTS)  # each is set in bold in the html


def test_terms_define_the_verdicts_of_the_lessons_shown():
    page = types.SimpleNamespace(verdicts={"robustness": [{}], "seam": [{}], "levers": []})
    terms = dict(verdict_terms(page))
    assert len(terms) == 2  # no levers played: no lever verdicts to define
    words = " ".join(terms.values())
    assert "emergent: trading alone moved the price" in words and "absent: seen on no seed in any cast" in words
    assert "holds live" not in words


GLUT = {
    "lever": "glut",
    "from": "gambit_rumour",
    "to": "gambit_shock",
    "figure": "legend_ratio",
    "standin": {"mean": -0.080, "ci": [-0.086, -0.074], "n": 8, "note": ""},
    "min_effect": 0.05,
    "floor": 0.05,
    "councils": [
        {
            "council": "one_model",
            "effect": {"mean": -0.049, "ci": [-0.055, -0.043], "n": 8, "note": ""},
            "did": {"mean": 0.031, "ci": [0.022, 0.043], "n": 8, "note": ""},
            "verdict": "at the floor",
        }
    ],
}


def _council(effect, did, verdict):
    return {**GLUT, "councils": [{**GLUT["councils"][0], "effect": effect, "did": did, "verdict": verdict}]}


def test_a_lever_at_the_floor_with_a_clear_difference_in_differences_says_both():
    (line,) = lever_lines([GLUT])
    assert line.endswith(
        "one_model -0.049 [-0.055, -0.043] (difference in differences +0.031 [+0.022, +0.043]; n 8 seeds): "
        "at the floor: its interval [-0.055, -0.043] straddles the floor 0.05 (narrower than it); the stand-in's "
        "effect is larger than the council's (difference in differences excludes 0)"
    )
    assert '<span class="verdict">at the floor</span>: its interval' in _verdict_html(line)


def test_the_difference_in_differences_clause_is_sign_aware_and_only_where_it_excludes_0():
    beyond = {"mean": -0.12, "ci": [-0.14, -0.10], "n": 8, "note": ""}
    (larger,) = lever_lines([_council(beyond, {"mean": -0.04, "ci": [-0.06, -0.02], "n": 8}, "holds live")])
    assert larger.endswith(
        "holds live; the council's effect is larger than the stand-in's (difference in differences excludes 0)"
    )
    (other,) = lever_lines(
        [
            _council(
                {"mean": 0.02, "ci": [0.0, 0.04], "n": 8}, {"mean": 0.1, "ci": [0.08, 0.12], "n": 8}, "stand-in only"
            )
        ]
    )
    assert other.endswith(
        "stand-in only; the council's effect lies clearly above the stand-in's (difference in differences excludes 0)"
    )
    (spans,) = lever_lines([_council(beyond, {"mean": -0.01, "ci": [-0.03, 0.01], "n": 8}, "holds live")])
    assert spans.endswith("n 8 seeds): holds live")
    wide = {"mean": -0.05, "ci": [-0.11, 0.01], "n": 8, "note": ""}
    (more,) = lever_lines([_council(wide, {"mean": 0.03, "ci": [-0.04, 0.1], "n": 8}, "not enough seeds")])
    assert more.endswith(
        "not enough seeds: its interval [-0.110, +0.010] straddles the floor 0.05 (more seeds would narrow it)"
    )


def test_the_calibration_verdict_claims_agreement_and_names_a_worse_error():
    rng = np.random.default_rng(0)
    original, base = 0.78 + rng.normal(0, 0.02, 20), 0.6 + rng.normal(0, 0.02, 20)
    calibrated = original + 0.05 + rng.normal(0, 0.01, 20)
    parts = (calibrated, original, base, calibrated - original, calibrated - base)
    heldout = {
        "qty_error": {"change": {"mean": -0.1, "ci": [-0.3, 0.1], "n": 20, "note": ""}},  # undecided: not named
        "price_error": {"change": {"mean": 0.023, "ci": [0.008, 0.045], "n": 20, "note": ""}},
    }
    v = fit_verdict(*(interval(x, unit="seeds") for x in parts), heldout)
    assert v.against_original == IMPROVED and v.generalised
    assert v.text.split(": ", 1)[0] == (
        "the fit generalised and improved agreement over the original disposition; its held-out price error is "
        "worse (+0.023 [+0.008, +0.045])"
    )
    plain = fit_verdict(*(interval(x, unit="seeds") for x in parts))
    assert plain.text.split(": ", 1)[0] == "the fit generalised and improved agreement over the original disposition"


def test_an_outcome_group_says_on_once_and_a_family_its_exact_n():
    g = {"n": 3, "worlds": 6, "group": "gambit_override", "scenario_in_fit": True}
    assert _where(g) == "Outcome check, gambit_override: 6 worlds on 3 held-out seeds"
    family = {"members": [1, 2], "n": 8, "n_max": 8, "q": 0.0146}
    assert family_counts(family) == "flags #1, #2; n 8 per flag; smallest q 0.0146"
    assert family_counts(family | {"n": 6}) == "flags #1, #2; n 6 to 8 per flag; smallest q 0.0146"
    assert family_counts({k: v for k, v in family.items() if k != "n_max"}).startswith("flags #1, #2; n >= 8 per")


RECIPE = """\
name: words
out: {out}
policies:
  panic: {{kind: standin, disposition: panic_seller}}
  hoard: hoarder
councils:
  one_model: {{focal: {{"*": panic}}}}
  mixed: {{focal: {{oona: hoard, bramble: panic}}, rotate: 2}}
scenarios: [gambit_rumour, gambit_shock]
seeds: {{start: 0, count: 4}}
turns: 6
levers:
  - {{name: glut, from: gambit_rumour, to: gambit_shock}}
"""


@pytest.fixture(scope="module")
def md(tmp_path_factory):
    from glade.eval.recipe import load_eval_recipe
    from glade.eval.run import run_recipe

    root = tmp_path_factory.mktemp("words")
    out = root / "results"
    (root / "recipe.yaml").write_text(RECIPE.format(out=out))
    run_recipe(load_eval_recipe(root / "recipe.yaml"))
    return report.write_report(out)[0].read_text()


def _section(md: str, title: str) -> str:
    return md.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def test_the_report_defines_its_verdicts_and_says_why_a_p_is_missing(md):
    robustness = _section(md, "Robustness across casts and seeds")
    assert "'—' where there is none: a world of one cast, or casts that share no seed or whose worlds all" in robustness
    assert f"absent: {ROBUST_RULES['absent']}" in robustness
    assert f"emergent: {SEAM_RULES['emergent']}" in _section(md, "The legend turn: traded or written at the seam")
    assert f"holds live: {LEVER_RULES['holds live']}" in _section(md, "Levers: the stand-in against the councils")
    terms = _section(md, "Terms")
    for rules in RULES.values():
        assert f"- **{', '.join(rules)}**: the verdicts on " in terms


def test_the_agreement_heatmaps_give_their_n_and_say_they_are_descriptive(md):
    section = _section(md, "Agreement with the stand-in")
    assert "a descriptive mean with no interval: agreement's intervals" in section
    assert "in summary.json's decision entries" in section and "mean over seeds and casts" not in section
    assert "*Council one_model, one panel per scenario: 4 seeds, 1 cast; each cell the mean of its decisions" in section
    assert "*Council mixed, one panel per scenario: 4 seeds, 2 casts;" in section
    assert "whichever model sat on the creature in each cast." in section
