"""What the report says its numbers count, now that a council's casts on a seed are averaged
first and a pooled crash or bubble rate is over seeds: the lead and the Terms say how a rate's
interval is taken and that an outcome flag's support counts seeds; the robustness and
attribution tables carry their n ("n 3 of 4 seeds" where a council lost a seed), the casts by
name, and the interaction the caption promises; a folder without recipe.yaml reads the run's
thresholds from summary.json rather than the defaults."""

from __future__ import annotations

import json
import re
import shutil
from types import SimpleNamespace

import pandas as pd
import pytest
from test_report import _md_rows, _section, results  # noqa: F401  (results: the module's eval folder)

from glade.eval import report
from glade.eval.report.sections import family_sections
from glade.eval.report.top_flags import flag_sections
from glade.eval.stats import interval


@pytest.fixture
def copy(results, tmp_path):  # noqa: F811
    out = tmp_path / "results"
    shutil.copytree(results[0], out)
    return out


def _terms(md: str) -> dict[str, str]:
    return dict(re.findall(r"^- \*\*(.+?)\*\*: (.*)$", _section(md, "Terms"), flags=re.M))


def test_the_lead_and_terms_say_what_a_rate_s_interval_and_support_count(results):  # noqa: F811
    md = results[1].read_text()
    lead = _section(md, "What this evaluation says")
    assert (
        "exact binomial over seeds where every seed's casts agree, else Korn and Graubard's interval of each seed's share"
        in lead
    )
    assert "exact binomial for rates;" not in lead
    terms = _terms(md)
    assert "seeds (outcome flags: a council's casts on a seed averaged first" in terms["support"]
    assert "paired worlds (outcome flags)" not in terms["support"]
    assert "else Korn and Graubard's interval of each seed's share of its casts" in terms["interval"]


def test_robustness_names_the_casts_and_gives_the_pooled_rate_s_n(results):  # noqa: F811
    md = results[1].read_text()
    section = _section(md, "Robustness across casts and seeds")
    header = [c.strip() for c in section.split("\n| ", 1)[1].split("\n", 1)[0].strip("| ").split(" | ")]
    assert header[3:6] == ["per cast", "rate [CI]", "n"]
    rows = {(r[0], r[1], r[2]): r for r in _md_rows(section)}
    mixed = rows[("gambit_rumour", "crash of honey", "mixed")]  # rotate 2: two casts
    assert re.fullmatch(r"cast 0: \d of 4 seeds; cast 1: \d of 4 seeds", mixed[3]) and mixed[5] == "n 4 seeds"
    single = rows[("gambit_rumour", "crash of honey", "all_panic")]
    assert re.fullmatch(r"\d of 4 seeds", single[3]) and single[5] == "n 4 seeds"
    assert "n the seeds behind that rate" in section


def _iv(mean, n, ci=None, note=""):
    return {"mean": mean, "ci": ci, "n": n, "note": note}


def test_attribution_shows_the_interaction_and_n_and_no_minus_zero(copy):
    summary = json.loads((copy / "summary.json").read_text())
    seat = {"cast": 0, "creature": "bramble", "policy": "panic", "cast_effect": 0.1}
    summary["verdicts"]["attribution"] = [
        {
            "scenario": "gambit_shock",
            "council": "mixed",
            "figure": "final_gini",
            "effect": _iv(0.1, 3, None, "too few seeds for an interval: 0.1, 0.1, 0.1"),
            "effect_clear": True,
            "interaction": _iv(0.02, 3, None, "too few seeds for an interval: 0.02, 0.02, 0.02"),
            "seats": [
                seat | {"contribution": _iv(0.0, 3), "share": -0.001, "share_ci": [-0.004, 0.3], "share_note": ""},
                seat | {"creature": "oona", "contribution": _iv(0.08, 3), "share": 0.8, "share_ci": None},
            ],
        }
    ]
    (copy / "summary.json").write_text(json.dumps(summary))
    md = report.write_report(copy)[0].read_text()
    section = _section(md, "Which seat did it")
    assert "(the interaction: the effect minus the seats' contributions)" in section
    rows = _md_rows(section)
    assert [r[4:6] for r in rows] == [["+0.020 (too few seeds for an interval: 0.02, 0.02, 0.02)", "n 3 of 4 seeds"]]
    assert "bramble: panic (cast 0): contribution +0.000, share 0% [0%, 30%]" in rows[0][6] and "-0%" not in section


def test_without_recipe_yaml_the_summary_s_thresholds_are_the_run_s(copy):
    (copy / "recipe.yaml").unlink()
    summary = json.loads((copy / "summary.json").read_text())
    summary["thresholds"] |= {"ci_level": 0.9, "crash_drop": 0.25}
    del summary["verdicts"]  # read again from the tables, at these thresholds
    (copy / "summary.json").write_text(json.dumps(summary))
    md = report.write_report(copy)[0].read_text()
    assert "Intervals are 90%" in _section(md, "What this evaluation says")
    assert "in this run crash_drop 0.25 (a share of the price before the legend)" in _terms(md)["crash"]
    episodes = pd.read_parquet(copy / "episodes.parquet").drop_duplicates("episode_id")
    seeds = episodes.groupby(["scenario", "council", "seed"])["gambit_pnl"].mean()
    iv = interval(seeds.loc[("gambit_rumour", "standin")].to_numpy(), level=0.9)
    row = next(r for r in _md_rows(_section(md, "Results")) if r[:2] == ["gambit_rumour (rumour)", "all stand-in"])
    assert row[4] == (
        f"{iv.mean:+.2f} [{iv.low:+.2f}, {iv.high:+.2f}]" if iv.low is not None else f"{iv.mean:+.2f} ({iv.note})"
    )
    assert iv.low is not None  # a real interval, read at 90%


def test_the_lead_says_why_there_are_no_flags(copy):
    method = {"cells": 40, "testable": 0, "flags": 0, "fdr_q": 0.1, "flag_min_effect": 0.15, "flag_support": 0.6}
    method |= {"test": "sign-flip", "fdr": "BH"}
    cells = [{"n": 2, "p_min": 0.5, "effect": 0.3}]
    (copy / "flags.json").write_text(json.dumps({"method": method, "families": [], "flags": [], "cells": cells}))
    md_path, html_path = report.write_report(copy)
    lead = _section(md_path.read_text(), "What this evaluation says")
    assert "*no flags possible: no cell could be tested at this n" in lead and "\nno flags\n" not in lead
    page = html_path.read_text().split('<section id="verdicts">', 1)[1].split("</section>", 1)[0]
    assert '<p class="note">no flags possible: no cell could be tested at this n' in page


def test_captions_say_what_n_counts_and_a_lever_s_floor_in_units(copy):
    summary = json.loads((copy / "summary.json").read_text())
    summary["verdicts"]["levers"] = [
        {
            "lever": "glut",
            "from": "gambit_rumour",
            "to": "gambit_shock",
            "figure": "volume",
            "standin": _iv(-12.0, 4, [-15.0, -9.0]),
            "councils": [
                {
                    "council": "mixed",
                    "effect": _iv(-1.0, 4, [-2.0, 0.0]),
                    "did": _iv(11.0, 4, [8.0, 14.0]),
                    "verdict": "stand-in only",
                }
            ],
        }
    ]
    (copy / "summary.json").write_text(json.dumps(summary))
    md = report.write_report(copy)[0].read_text()
    levers = _section(md, "Levers: the stand-in against the councils")
    assert "(for a figure in units, such as gambit_pnl or volume, that share of the all-stand-in world's mean" in levers
    assert "a council's casts on a seed averaged first; n the seeds" in levers
    example = {
        "episode_id": "e",
        "turn": 4,
        "creature": "oona",
        "prompt": "p",
        "response": "{}",
        "standin_action": "{}",
    }
    flag = {"kind": "outcome", "metric": "crash", "effect": 0.5, "n": 6, "score": 1.0, "examples": [example]}
    family = {"family": 1, "title": "t", "text": "t: x", "n": 6, "q": 0.03, "members": [1], "examples": [example]}
    page = SimpleNamespace(r=SimpleNamespace(flags=[flag], flags_note="", families=[family], decisions=pd.DataFrame()))
    for section in (*flag_sections(page), *family_sections(page)):
        assert "n and support: seeds for an outcome flag" in section.markdown[0] or (
            "n: seeds for an outcome family" in section.markdown[0]
        ), section.title
