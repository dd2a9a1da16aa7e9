"""The three lessons' verdicts on scripted python seats with known answers (tests/planted.py),
through real evaluations:

- fire-sale seats on Oona and Thorn crash honey by trading alone in every seed (an emergent
  crash); rotated to other creatures they rarely do: cast-dependent;
- the override halves honey at the seam in every world: an authored crash, robust everywhere;
- a seat that ignores its stores never sells into the glut: the glut lever is "stand-in only"
  where the stand-ins' interval clears the floor (not enough seeds where it straddles it),
  while the override lever holds live;
- seat attribution: with a third, stand-in-like seat beside the two fire-sale seats, the crash
  needs both fire-sale seats (each carries all of it; they only crash together) and none of
  the third;
- the report opens with the verdicts and links each flag family to its example decisions.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import yaml

from glade.cli import main
from glade.eval.plan import plan
from glade.eval.recipe import load_eval_recipe
from glade.eval.run import evaluate, run_recipe
from glade.eval.thresholds import Thresholds
from glade.eval.verdicts import verdicts

ROOT = Path(__file__).resolve().parent.parent
FIRE = {"kind": "python", "entry_point": "tests.planted:fire_sale"}
STUBBORN = {"kind": "python", "entry_point": "tests.planted:ignores_stores"}
LIKE_STANDIN = {"kind": "python", "entry_point": "tests.planted:perturbed", "kwargs": {"rate": 0.0}}


def write_recipe(folder: Path, **data) -> Path:
    base = {"name": "verdicts", "out": str(folder / "results"), "seeds": {"start": 0, "count": 6}, "turns": 8}
    base["thresholds"] = {"resamples": 300}
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump({**base, **data}))
    return path


@pytest.fixture(scope="module")
def lessons(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lessons")
    path = write_recipe(
        folder,
        policies={"fire": FIRE, "stubborn": STUBBORN},
        councils={
            "fire": {"focal": {"oona": "fire", "thorn": "fire"}, "rotate": 3},
            "stubborn": {"focal": {"*": "stubborn"}},
        },
        scenarios=["gambit_rumour", "gambit_override"],
        levers=[
            {"name": "glut", "from": "gambit_rumour", "to": "gambit_shock"},
            {"name": "override", "from": "gambit_rumour", "to": "gambit_override"},
        ],
        worlds=64,
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(ROOT))
        summary = run_recipe(load_eval_recipe(path))
    return folder / "results", summary["verdicts"]


def pick(entries: list[dict], **match) -> dict:
    [found] = [e for e in entries if all(e[k] == v for k, v in match.items())]
    return found


def test_levers_play_their_scenarios_and_verdicts_land_in_the_summary(lessons):
    results, v = lessons
    episodes = pd.read_parquet(results / "episodes.parquet")
    assert set(episodes["scenario"]) == {"gambit_rumour", "gambit_override", "gambit_shock"}  # shock: the glut's
    assert set(v) == {"robustness", "seam", "levers", "attribution"} and v["attribution"] == []
    assert json.loads((results / "summary.json").read_text())["verdicts"] == v
    assert "from: gambit_rumour" in (results / "recipe.yaml").read_text()  # the recipe round-trips its `from`
    assert load_eval_recipe(results / "recipe.yaml").levers[0].from_ == "gambit_rumour"


def test_an_emergent_crash_is_cast_dependent_when_only_some_casts_carry_it(lessons):
    _, v = lessons
    crash = pick(v["robustness"], scenario="gambit_rumour", phenomenon="crash", world="fire")
    assert crash["verdict"] == "cast-dependent" and crash["heterogeneity_p"] < 0.05
    oona_thorn, *others = crash["casts"]
    assert oona_thorn["note"] == "6 of 6 seeds" and oona_thorn["ci"][0] > 0.5  # Oona and Thorn: every seed
    # shifted to Thorn and Hazel, then Hazel and Bramble: at most half the seeds, then hardly any
    assert max(c["mean"] for c in others) <= 0.5 and min(c["mean"] for c in others) <= 1 / 6
    assert pick(v["robustness"], scenario="gambit_rumour", phenomenon="crash", world="standin")["verdict"] == "absent"
    assert pick(v["robustness"], scenario="gambit_rumour", phenomenon="bubble", world="fire")["verdict"] == "absent"
    # the override crashes honey in every world, whoever sits where
    for world in ("standin", "fire", "stubborn"):
        assert pick(v["robustness"], scenario="gambit_override", phenomenon="crash", world=world)["verdict"] == "robust"


def test_worlds_with_seat_faults_are_left_out_of_the_verdicts(lessons):
    results, v = lessons
    episodes = pd.read_parquet(results / "episodes.parquet")
    fire = episodes[(episodes["scenario"] == "gambit_rumour") & (episodes["council"] == "fire")]
    held = set(fire["episode_id"].unique()[:4])  # worlds where a server failed some turns
    marked = episodes.assign(faults=episodes["faults"].where(~episodes["episode_id"].isin(held), 2))
    left_out = verdicts(episodes[~episodes["episode_id"].isin(held)], None, (), Thresholds(resamples=300))
    assert verdicts(marked, None, (), Thresholds(resamples=300)) == left_out
    assert left_out != verdicts(episodes, None, (), Thresholds(resamples=300))


def test_the_override_reads_as_authored_the_fire_sale_as_emergent(lessons):
    _, v = lessons
    override = pick(v["seam"], scenario="gambit_override", world="standin")
    assert override["verdict"] == "authored" and override["authored_share"] > 0.9
    assert override["seam"]["mean"] == pytest.approx(-0.6931, abs=1e-3)  # log 0.5: the seam halves honey
    assert override["seam"]["note"] == "same value in all 6 seeds" and override["seam"]["ci"] is None
    assert pick(v["seam"], scenario="gambit_override", world="fire")["verdict"] == "authored"
    emergent = pick(v["seam"], scenario="gambit_rumour", world="fire")
    assert emergent["verdict"] == "emergent" and emergent["seam"]["mean"] == 0.0 and emergent["traded"]["ci"][1] < 0
    # the stand-ins' -2% has an interval reaching past the 5-log-point floor at 6 seeds: it straddles the floor
    quiet = pick(v["seam"], scenario="gambit_rumour", world="standin")
    assert quiet["traded"]["ci"][0] < -0.05 < quiet["traded"]["ci"][1] and quiet["verdict"] == "not enough seeds"
    assert pick(v["seam"], scenario="gambit_rumour", world="stubborn")["verdict"] == "no move"  # the same 0 everywhere


def test_the_glut_is_stand_in_only_with_a_seat_that_ignores_stores(lessons):
    _, v = lessons
    glut = pick(v["levers"], lever="glut")
    assert (glut["from"], glut["to"], glut["figure"]) == ("gambit_rumour", "gambit_shock", "legend_ratio")
    assert glut["standin"]["ci"][1] < 0 and glut["standin"]["mean"] < -0.05  # the stand-ins sell into the glut
    stubborn = pick(glut["councils"], council="stubborn")
    # at 6 seeds the stand-ins' effect interval straddles lever_min_effect: the lever cannot be told stand-in
    # only yet (the stubborn seats' same 0 in every seed is no move), so every council reads not enough seeds
    assert glut["standin"]["ci"][0] < -0.05 < glut["standin"]["ci"][1]
    assert stubborn["verdict"] == "not enough seeds" and stubborn["effect"]["mean"] == 0.0
    assert {c["verdict"] for c in glut["councils"]} == {"not enough seeds"}
    assert stubborn["did"]["mean"] == pytest.approx(-glut["standin"]["mean"])
    override = pick(v["levers"], lever="override")
    assert {c["council"]: c["verdict"] for c in override["councils"]} == {
        "fire": "holds live",
        "stubborn": "holds live",
    }


def test_the_verdicts_are_printed_by_glade_eval(lessons, tmp_path, capsys):
    results, _ = lessons
    folder = tmp_path / "again"
    folder.mkdir()
    recipe = yaml.safe_load((results / "recipe.yaml").read_text())
    recipe["out"] = str(folder / "results")
    recipe["scenarios"], recipe["levers"] = ["gambit_rumour"], [recipe["levers"][0]]
    recipe["councils"] = {"stubborn": recipe["councils"]["stubborn"]}
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(ROOT))
        assert main(["eval", str(folder / "recipe.yaml"), "seeds.count=4"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "What this evaluation says" in out and "1. Contingent emergence" in out
    assert "glut (gambit_rumour -> gambit_shock, effect on legend_ratio)" in out and "stand-in only" in out


@pytest.fixture(scope="module")
def attributed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("attribution")
    path = write_recipe(
        folder,
        policies={"fire": FIRE, "like": LIKE_STANDIN},
        councils={"trio": {"focal": {"oona": "fire", "thorn": "fire", "moss": "like"}}},
        scenarios=["gambit_rumour"],
        attribution=True,
        worlds=40,
    )
    recipe = load_eval_recipe(path)
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(ROOT))
        summary = run_recipe(recipe)
    return recipe, summary


def test_attribution_replays_each_focal_seat_left_out(attributed):
    recipe, summary = attributed
    from glade.env.scenario import load_scenario

    worlds = plan(recipe, {"gambit_rumour": load_scenario("gambit_rumour", turns=8)})
    replays = [w for w in worlds if w.left_out is not None]
    assert len(replays) == 6 * 3 and {w.left_out for w in replays} == {"oona", "thorn", "moss"}
    assert all(len(w.focal) == 2 and w.left_out not in w.focal for w in replays)
    table = pd.read_parquet(Path(recipe.out) / "attribution.parquet")
    assert table["episode_id"].nunique() == 18 and set(table["world"]) == {"attribution"}
    episodes = pd.read_parquet(Path(recipe.out) / "episodes.parquet")
    assert not episodes["episode_id"].str.contains("without").any()  # replays stay out of the council's figures
    assert summary["worlds"] == 6 * 5


def test_attribution_shares_the_crash_between_the_seats_that_make_it(attributed):
    _, summary = attributed
    crash = pick(summary["verdicts"]["attribution"], figure="crash")
    assert crash["effect"]["mean"] == 1.0 and crash["effect_clear"]  # stand-ins never crash, the trio always does
    seats = {s["creature"]: s for s in crash["seats"]}
    assert {c: s["policy"] for c, s in seats.items()} == {"oona": "fire", "thorn": "fire", "moss": "like"}
    assert seats["oona"]["share"] == seats["thorn"]["share"] == 1.0  # without either one, no crash
    assert seats["oona"]["share_note"] == "same share in all 6 seeds" and seats["oona"]["share_ci"] is None
    assert seats["moss"]["share"] == 0.0 and seats["moss"]["contribution"]["note"] == "same value in all 6 seeds"
    assert crash["interaction"]["mean"] == -1.0  # 1 - (1 + 1 + 0): they crash honey only together
    legend = pick(summary["verdicts"]["attribution"], figure="legend_ratio")
    assert {s["creature"]: s["share"] for s in legend["seats"]}["moss"] == 0.0


def test_attribution_recomputes_from_the_tables(attributed):
    recipe, summary = attributed
    out = Path(recipe.out)
    episodes = pd.read_parquet(out / "episodes.parquet")
    again = verdicts(
        episodes,
        pd.read_parquet(out / "attribution.parquet"),
        recipe.levers,
        recipe.thresholds,
        recipe.seed,
        pd.read_parquet(out / "decisions.parquet"),
    )
    assert again == summary["verdicts"]
    assert evaluate(recipe).attribution["episode_id"].nunique() == 18  # resumed: every replay from its shards


def test_replays_with_seat_faults_are_left_out_of_the_attribution(attributed):
    recipe, _ = attributed
    out = Path(recipe.out)
    episodes, replays = pd.read_parquet(out / "episodes.parquet"), pd.read_parquet(out / "attribution.parquet")
    held = set(replays["episode_id"].unique()[:6])
    marked = replays.assign(faults=replays["faults"].where(~replays["episode_id"].isin(held), 3))
    kept = replays[~replays["episode_id"].isin(held)]
    args = (recipe.levers, recipe.thresholds, recipe.seed)
    assert verdicts(episodes, marked, *args)["attribution"] == verdicts(episodes, kept, *args)["attribution"]
    assert verdicts(episodes, kept, *args)["attribution"] != verdicts(episodes, replays, *args)["attribution"]


def test_a_results_folder_from_before_attribution_still_resumes(attributed, tmp_path):
    recipe, _ = attributed
    old = tmp_path / "old"
    shutil.copytree(recipe.out, old)
    for shard in (old / "shards").glob("attribution-*.parquet"):
        shard.unlink()
    ledger = json.loads((old / "progress.json").read_text())  # an older glade listed no replays either
    ledger["episodes"] = {e: v for e, v in ledger["episodes"].items() if ".without-" not in e}
    (old / "progress.json").write_text(json.dumps(ledger))
    result = evaluate(replace(recipe, out=str(old), attribution=False))
    assert result.played_now == 0 and len(result.attribution) == 0 and result.worlds == len(ledger["episodes"]) == 6 * 2


def test_the_report_leads_with_the_verdicts_and_links_families_to_examples(attributed):
    recipe, _ = attributed
    results = Path(recipe.out)
    assert main(["flag", str(results)]) == 0
    assert main(["report", str(results)]) == 0
    md = (results / "report.md").read_text()
    assert md.split("\n## ")[1].startswith("What this evaluation says")
    lead = md.split("\n## ")[1]
    assert "**1. Contingent emergence" in lead and "crash of honey in gambit_rumour: all stand-in: absent" in lead
    assert "trio: robust (6 of 6 seeds" in lead and "trio: emergent" in lead
    assert "Which seat did it" in lead and "crash in gambit_rumour, trio: effect +1.000" in lead
    assert "**Top flag families: " in lead
    detail = md.split("## Which seat did it", 1)[1].split("\n## ", 1)[0]
    assert "| scenario | council | figure | effect | interaction | n | seats |" in detail  # one row per effect
    assert "share 38% [35%, 41%] of its cast's effect -0.133" in detail  # a share is of its cast's effect
    assert (
        "Thorn at the seam (gambit_rumour, trio, cast 0): buys honey where the stand-in holds: +1.00 (same value in all 6 episodes)"
        in lead
    )
    html = (results / "report.html").read_text()
    sections = re.findall(r'<section id="([^"]+)">', html)
    assert sections[:3] == ["verdicts", "run", "results"]
    assert {"robustness", "seam", "attribution", "families", "flags"} <= set(sections)
    links = set(re.findall(r'href="#([^"]+)"', html))
    assert "family-1" in links and "family-1-example-1" in links
    ids = set(re.findall(r'id="([^"]+)"', html))
    assert links <= ids  # every trace link lands on its example in the same page
    example = html.split('id="family-1-example-1"', 1)[1].split("</div></div>", 1)[0]
    assert "<b>prompt</b>" in example and "<b>live answer</b>" in example and "<b>stand-in action</b>" in example
    assert html.count('<table class="sortable">') >= 4


def _numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"[-+]?\d+\.\d+|[-+]?\d+", text)]


def test_the_seam_split_reads_in_log_points_that_add_up_with_n_and_the_prompt_turn(lessons):
    from glade.eval.verdict_text import lever_lines, seam_lines

    _, v = lessons
    seam = v["seam"]
    seeds = {e["scenario"]: e["total"]["n"] for e in seam if e["world"] == "standin"}
    lines = seam_lines(seam)
    authored = 0
    for e in seam:
        [line] = [x for x in lines if f" in {e['scenario']}, " in x]
        assert f"at the legend turn {e['turn']} (the prompt's Turn {e['turn'] + 1})" in line
        name = "all stand-in" if e["world"] == "standin" else e["world"]
        part = re.search(rf"{name}: {e['verdict']} \((.*?; n [^;)]*)\)", line).group(1)
        if " = traded " in part:
            total, rest = part.split(" = traded ", 1)
            traded, seam_part = rest.split(" + ", 1)
        else:  # nothing at the seam: the traded part is the whole move, said once
            traded, seam_part = part.split(", nothing", 1)
            total, seam_part = traded.removeprefix("traded "), "nothing" + seam_part
            assert e["seam"]["mean"] == 0.0 and seam_part.startswith("nothing at the seam")
        shown_total, shown_traded = _numbers(total)[0], _numbers(traded)[0]
        # every number is in log points (100 x log), the simple percent beside it in parentheses
        assert shown_total == pytest.approx(100 * e["total"]["mean"], abs=0.051)
        assert f"({100 * (math.exp(e['total']['mean']) - 1):+.1f}%" in total
        shown_seam = 0.0 if seam_part.startswith("nothing") else _numbers(seam_part.split("at the seam ", 1)[1])[0]
        assert shown_total == pytest.approx(shown_traded + shown_seam, abs=0.15)  # the parts add up as shown
        if "of the log move at the seam" in seam_part:
            authored += 1
            share = float(re.search(r"; (\d+)% of the log move at the seam", seam_part).group(1))
            assert share == pytest.approx(100 * abs(shown_seam) / (abs(shown_traded) + abs(shown_seam)), abs=1.0)
        n = e["total"]["n"]  # seeds: a council's casts on a seed are averaged first
        assert part.endswith(f"n {n} seeds" if n == seeds[e["scenario"]] else f"n {n} of {seeds[e['scenario']]} seeds")
    assert authored  # the override is written at the seam: its share is shown
    for e, line in zip(v["levers"], lever_lines(v["levers"])):
        assert f"all stand-in {e['standin']['mean']:+.3f}" in line and f"(n {e['standin']['n']} seeds)" in line
        for c in e["councils"]:
            assert re.search(rf"{c['council']} [^;]*; n {c['effect']['n']}[ )=]", line)


def test_the_flag_heading_counts_the_cells_and_those_that_could_reach_q():
    from glade.eval.families import families_heading

    method = {"flags": 246, "cells": 2103, "testable": 591, "fdr_q": 0.1}
    assert families_heading([{}] * 81, method) == (
        "Top flag families: 246 flags in 81 families, from 2,103 cells, 591 testable at this n (FDR q = 0.1)"
    )
    older = {k: v for k, v in method.items() if k != "testable"}  # a flags.json from before the count
    assert "from 2,103 cells tested (FDR q = 0.1)" in families_heading([], older)


def test_n_text_counts_seeds_and_says_when_a_council_lost_some():
    from glade.eval.verdict_text import n_text

    assert n_text(8, 8) == "n 8 seeds"
    assert n_text(7, 8) == "n 7 of 8 seeds"  # a seed lost to seat faults, not "7 seeds x casts"
    assert n_text(8) == "n 8" and n_text(None, 8) == "n -"


def _crash_worlds(crashed) -> pd.DataFrame:
    """8 seeds x 3 casts of one council; `crashed(seed, cast)`: 0/1."""
    rows = [
        {"scenario": "sc", "legend_good": "honey", "council": "c", "cast": cast, "seed": seed}
        | {"crash": float(crashed(seed, cast)), "bubble": math.nan}
        for seed in range(8)
        for cast in range(3)
    ]
    return pd.DataFrame(rows)


def test_the_pooled_rate_counts_seeds_not_the_casts_that_share_them():
    from glade.eval.verdicts import robustness

    # 6 of 8 seeds crash in all 3 casts: over 24 worlds 18 crashed, [0.53, 0.90], above the 0.5 floor;
    # the casts of a seed share its draws: 6 of 8 seeds, [0.35, 0.97], straddles it
    [entry] = robustness(_crash_worlds(lambda seed, cast: seed < 6))
    assert entry["rate"]["n"] == 8 and entry["rate"]["note"] == "6 of 8 seeds (their 3 casts agreeing in each)"
    assert entry["rate"]["ci"] == pytest.approx([0.3491, 0.9681], abs=1e-4)
    assert entry["verdict"] == "not enough seeds"
    # casts that disagree on a seed: each seed's share, a t interval kept within [0, 1]
    [entry] = robustness(_crash_worlds(lambda seed, cast: seed < 6 or (seed == 6 and cast == 0)))
    assert entry["rate"]["mean"] == pytest.approx((6 + 1 / 3) / 8) and entry["rate"]["ci"][1] <= 1.0
    assert entry["rate"]["note"] == "share 0.79 over 8 seeds (3 casts averaged in each)"


def test_a_cast_is_named_by_its_id_when_faults_left_an_earlier_one_out():
    from glade.eval.verdicts import robustness

    worlds = _crash_worlds(lambda seed, cast: seed < 6)
    [entry] = robustness(worlds[worlds["cast"] != 0])  # every world of cast 0 left out
    assert [c["cast"] for c in entry["casts"]] == [1, 2]
