"""Table 1 of the field notes beside glade's measured rows (glade.eval.field_notes)."""

import json

import pandas as pd
import pytest

from glade.eval.field_notes import table_one, table_one_cells
from glade.eval.stats import clopper_pearson

TURNS = 7  # the gambit springs at turn 4


def episode(scenario, council, seed, cast, honey_at_spring, pnl):
    """One world: honey 10 until the spring turn, then `honey_at_spring` and flat after."""
    path = [10.0] * 4 + [honey_at_spring] * (TURNS - 4)
    return {
        "episode_id": f"{scenario}.{council}.c{cast}.s{seed}",
        "scenario": scenario,
        "council": council,
        "cast": cast,
        "seed": seed,
        "creature": "oona",
        "legend_good": "honey",
        "legend_turn": 4,
        "price_path": json.dumps({"honey": path}),
        "start_prices": json.dumps({"honey": 10.0}),
        "gambit_pnl": pnl,
        "turns": TURNS,
    }


def seat_rows() -> pd.DataFrame:
    episodes = []
    for seed in range(4):
        for scenario in ("gambit_rumour", "gambit_override"):
            episodes.append(episode(scenario, "standin", seed, 0, 9.0, 2.0))
            # one model: a crash (10 -> 6) on seeds 0 and 1 only
            episodes.append(episode(scenario, "one_model", seed, 0, 6.0 if seed < 2 else 9.5, 10.0 + seed))
            for cast in range(2):  # five minds: honey rises in cast 0, holds in cast 1
                episodes.append(episode(scenario, "five_minds", seed, cast, 11.0 if cast == 0 else 10.0, -4.0))
    frame = pd.DataFrame(episodes)
    return pd.concat([frame, frame.assign(creature="x")])  # episodes.parquet repeats each world per seat


@pytest.fixture(scope="module")
def rows():
    return table_one(seat_rows())


def test_one_row_per_mechanism_and_world_in_table_order(rows):
    assert [(r["mechanism"], r["world"]) for r in rows] == [
        (m, w) for m in ("rumour", "override") for w in ("standin", "one_model", "five_minds")
    ]
    assert all(r["seeds"] == 4 for r in rows)
    assert [r["episodes"] for r in rows[:3]] == [4, 4, 8]


def test_figures_are_seed_means_with_intervals_and_crashes_are_counted(rows):
    one = rows[1]
    assert one["legend_ratio"]["mean"] == pytest.approx((0.6 + 0.6 + 0.95 + 0.95) / 4)
    assert one["legend_ratio"]["n"] == 4 and one["legend_ratio"]["ci"][0] < one["legend_ratio"]["mean"]
    assert one["gambit_pnl"]["mean"] == pytest.approx(11.5)
    assert one["crash"] == {
        "mean": 0.5,
        "ci": list(clopper_pearson(2, 4)),
        "n": 4,
        "note": "2 of 4 seeds",
        "exact": True,
    }
    five = rows[2]  # casts are averaged per seed before the mean over seeds
    # the same ratio in every seed: said in words, never a zero-width interval
    assert five["legend_ratio"] == {
        "mean": pytest.approx(1.05),
        "ci": None,
        "n": 4,
        "note": "same value in all 4 seeds",
    }
    # no cast crashed: 0 of 4 seeds, [0, 0.60]; the casts of a seed are not 8 independent worlds ([0, 0.37])
    assert five["crash"]["mean"] == 0 and five["crash"]["n"] == 4
    assert five["crash"]["ci"][1] == pytest.approx(clopper_pearson(0, 4)[1]) == pytest.approx(0.6024, abs=1e-4)


def test_a_crash_in_some_casts_of_a_seed_is_that_seeds_share():
    frame = seat_rows()
    five = frame[frame["council"] == "five_minds"]
    # cast 0 crashes on every seed, cast 1 on seeds 0 and 1: shares 1, 1, 0.5, 0.5
    crashed = (five["cast"] == 0) | (five["seed"] < 2)
    frame.loc[five.index[crashed.to_numpy()], "price_path"] = json.dumps({"honey": [10.0] * 5 + [6.0] * (TURNS - 5)})
    [row] = [r for r in table_one(frame) if (r["mechanism"], r["world"]) == ("rumour", "five_minds")]
    assert row["crash"]["mean"] == pytest.approx(0.75) and row["crash"]["n"] == 4 and not row["crash"]["exact"]
    assert 0.0 <= row["crash"]["ci"][0] < 0.75 < row["crash"]["ci"][1] <= 1.0
    cells = table_one_cells([row])[1][0]
    assert cells[7].startswith("0.75 [") and cells[8] == "4, 8"


def test_the_field_notes_row_sits_beside_its_world(rows):
    assert rows[1]["field_notes"]["honey"] == "10 to 3"  # one model, rumour
    assert rows[2]["field_notes"]["pnl"] == "-15"  # five minds, rumour
    assert (
        rows[5]["field_notes"]["attempt"] == "Council, settlement override" and rows[5]["field_notes"]["pnl"] == "+40"
    )
    assert rows[3]["field_notes"] is None  # the notes played no all-stand-in override
    header, cells = table_one_cells(rows)
    assert len(header) == len(cells[0]) == 9
    assert cells[1][:5] == ["rumour", "one_model", "Original, one model", "10 to 3", "the showcase win"]
    assert cells[1][7] == "2/4 [0.07, 0.93]" and cells[1][8] == "4, 4"


def test_no_gambit_no_rows():
    assert table_one(pd.DataFrame()) == []


def test_exact_interval_for_a_rate():
    assert clopper_pearson(0, 8) == pytest.approx((0.0, 0.3694), abs=1e-4)
    assert clopper_pearson(8, 8) == pytest.approx((0.6306, 1.0), abs=1e-4)


def test_a_narrow_interval_gets_the_digits_it_needs():
    from glade.console import with_ci

    assert with_ci(0.49, [0.487, 0.493], ".2f") == "0.490 [0.487, 0.493]"  # not "0.49 [0.49, 0.49]"
    # a mean that would read as one end of its interval: Table 1 showed "0.95 [0.94, 0.95]", "0.47 [0.47, 0.48]"
    assert with_ci(0.9459, [0.9402, 0.9516], ".2f") == "0.946 [0.940, 0.952]"
    assert with_ci(0.4738, [0.4702, 0.4776], ".2f") == "0.474 [0.470, 0.478]"
    assert with_ci(0.5, [0.5, 0.9], ".2f") == "0.50 [0.50, 0.90]"  # a mean that is an end reads as one
    assert with_ci(2.72, [0.62, 9.67], "+.1f") == "+2.7 [+0.6, +9.7]"
    assert with_ci(0.9, None, ".2f", "same value in all 8 seeds") == "0.90 (same value in all 8 seeds)"
    assert with_ci(float("nan"), None, ".2f", missing="—") == "—"
    # an end that excludes 0 never reads as 0: calibrate printed "-0.007 [-0.016, +0.000]  calibrated closer"
    assert with_ci(-0.007, [-0.016, -0.00046], "+.3f") == "-0.0070 [-0.0160, -0.0005]"
    assert with_ci(0.125, [0.0032, 0.5266], ".2f") == "0.125 [0.003, 0.527]"  # 1 of 8 is no 0
    assert with_ci(0.25, [-3e-17, 0.5], ".3f") == "0.250 [0.000, 0.500]"  # a float's noise is 0


def test_glade_eval_prints_every_world_and_word_whole(tmp_path, capsys):
    from glade.cli.results_tables import print_table_one, table_one_of
    from glade.console import console

    seat_rows().to_parquet(tmp_path / "episodes.parquet")
    print_table_one(console(), table_one_of(tmp_path))
    out = capsys.readouterr().out
    assert "…" not in out and "five_minds" in out  # was "five_min…", "settleme…"
    assert "over the turn before (legend_ratio) and gambit P&L" in " ".join(out.split())  # the title loses no letter


def test_at_80_columns_no_word_folds_and_the_counts_stay(capsys):
    from rich.console import Console

    from glade.cli.results_tables import print_table_one

    print_table_one(Console(width=80), table_one(seat_rows()))
    out = capsys.readouterr().out
    assert max(map(len, out.splitlines())) <= 80
    words = out.split()
    # one table of nine columns folded these mid-word ("settlemen t") and cut the last column
    assert {"settlement", "override", "Original,", "showcase"} <= set(words)
    assert out.count("4, 8") == 2 and out.count("4, 4") == 4  # seeds, episodes of each of the six worlds


def test_eval_prints_table_one_instead_of_an_outcome_table_it_repeats(tmp_path, capsys):
    from glade.cli.eval import print_results
    from glade.console import console
    from glade.eval.recipe import EvalRecipe

    seat_rows().to_parquet(tmp_path / "episodes.parquet")
    recipe = EvalRecipe(name="t", out=str(tmp_path), policies={}, councils={}, scenarios=())
    row = {"scenario": "gambit_rumour", "world": "one_model", "legend_ratio": 0.8, "gambit_pnl": 11.5, "n": 4}
    print_results(console(), recipe, {"table": [row], "seats": []})
    out = capsys.readouterr().out
    assert "legend good at settlement" not in out and "glade, measured:" in out
    print_results(console(), recipe, {"table": [row, row | {"scenario": "default"}], "seats": []})
    assert "t: legend good at settlement and gambit P&L" in capsys.readouterr().out  # a row Table 1 lacks


def test_a_world_that_lost_a_seed_says_so_in_its_n():
    frame = seat_rows()
    lost = (frame["council"] == "one_model") & (frame["seed"] == 3)
    cells = table_one_cells(table_one(frame[~lost]))[1]
    assert cells[1][8] == "3 of 4, 3" and cells[0][8] == "4, 4"


def test_two_scenarios_of_one_mechanism_get_a_row_each(monkeypatch):
    # guards table_one's rows per scenario: pooled per seed, a crash in every seed of one scenario
    # and none in the other read as a crash rate of 4 in 8 seeds, and their honey ratios averaged
    import glade.eval.field_notes as field_notes

    monkeypatch.setattr(field_notes, "mechanism", lambda scenario, turns=None: "rumour")
    frame = pd.DataFrame(
        [episode("gambit_rumour", "standin", s, 0, 9.0, 2.0) for s in range(4)]
        + [episode("my_rumour", "standin", s, 0, 5.0, 2.0) for s in range(4)]
    )
    rows = table_one(frame)
    assert [(r["scenarios"], r["crash"]["note"]) for r in rows] == [
        (["gambit_rumour"], "0 of 4 seeds"),
        (["my_rumour"], "4 of 4 seeds"),
    ]
    assert [r["legend_ratio"]["mean"] for r in rows] == pytest.approx([0.9, 0.5])
    assert [cells[0] for cells in table_one_cells(rows)[1]] == ["rumour (gambit_rumour)", "rumour (my_rumour)"]


def test_worlds_the_notes_never_played_get_words_not_an_empty_table(capsys):
    # a council named other than one_model or five_minds, under rumour: the notes have no row for any world, and
    # the notes' table printed its header over nothing
    from rich.console import Console

    from glade.cli.results_tables import print_table_one

    rumour = seat_rows()
    rumour = rumour[(rumour["scenario"] == "gambit_rumour") & (rumour["council"] != "five_minds")]
    print_table_one(Console(width=200), table_one(rumour.replace({"council": {"one_model": "mine"}})))
    out = capsys.readouterr().out
    assert (
        "the field notes: no row for these worlds (theirs: five_minds under override, five_minds under rumour," in out
    )
    assert "attempt" not in out and "glade, measured:" in out and "mine" in out
