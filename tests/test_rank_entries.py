"""`glade rank`: what an entry is and which units count. A `team` entry (RECIPE/COUNCIL) is one
council only: folders merge into it when they seat the same policies, and are refused by name
when they do not; the bootstrap's units are those where something was compared, so a folder
that adds no comparison changes no figure; a council of the stand-ins themselves is named."""

from __future__ import annotations

import pytest

from glade.eval import run as eval_run
from glade.eval.rank import rank
from glade.eval.recipe import load_eval_recipe
from tests.resume_setup import eval_recipe

PANIC = {"kind": "standin", "disposition": "panic_seller"}
MIX = {"mix": {"focal": {"oona": "hoard", "bramble": "panic"}}}


def evaluate(root, folder: str, **changes):
    """A stand-in-only eval of gambit_rumour (about a second), into root/folder/results."""
    (root / folder).mkdir()
    base = {"name": "quick", "scenarios": ["gambit_rumour"], "turns": 8, "worlds": 8}
    base |= {"out": str(root / folder / "results"), "seeds": {"start": 500, "count": 4}}
    eval_run.run_recipe(load_eval_recipe(eval_recipe(root / folder, **(base | changes))))
    return root / folder / "results"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("entries")
    return {
        # quick/mix with a hoarder on Oona: the creature's own stand-in
        "hoarder": evaluate(root, "hoarder", policies={"hoard": "hoarder", "panic": PANIC}, councils=MIX),
        # the same council on four more seeds, its policies written (and named) otherwise
        "hoarder_later": evaluate(
            root,
            "hoarder_later",
            policies={"h": {"kind": "standin", "disposition": "hoarder"}, "panic": PANIC},
            councils={"mix": {"focal": {"oona": "h", "bramble": "panic"}}},
            seeds={"start": 504, "count": 4},
        ),
        # quick/mix again, with a speculator on Oona: another council under the same name
        "speculator": evaluate(root, "speculator", policies={"hoard": "speculator", "panic": PANIC}, councils=MIX),
        # the same policy identity (standin:hoarder), another seat spec
        "seeded": evaluate(
            root,
            "seeded",
            policies={"hoard": {"kind": "standin", "disposition": "hoarder", "seed": 3}, "panic": PANIC},
            councils=MIX,
        ),
        # a speculator on every creature in turn: compared with each creature's stand-in, 6 seeds
        "rotated": evaluate(
            root,
            "rotated",
            name="cmp",
            policies={"spec": "speculator"},
            councils={"rot": {"focal": {"oona": "spec"}, "rotate": 5}},
            seeds={"start": 500, "count": 6},
        ),
        # 30 seeds of other units where nothing differs from the stand-ins: no comparison at all
        "unrelated": evaluate(
            root,
            "unrelated",
            name="other",
            policies={"hoard": "hoarder"},
            councils={"same": {"focal": {"oona": "hoard"}}},
            seeds={"start": 900, "count": 30},
        ),
    }


def test_team_merges_folders_of_one_council_and_refuses_two_councils_under_one_name(runs):
    a, b = runs["hoarder"], runs["speculator"]
    # the same council on other seeds, its policies written and named otherwise: one entry
    merged = rank([a, runs["hoarder_later"]], outcome="team", resamples=10)
    assert sorted(row["entry"] for row in merged["board"]) == ["all stand-ins", "quick/mix"]
    assert merged["units"] == 8 and merged["comparisons"] == 8
    with pytest.raises(ValueError) as err:
        rank([a, b], outcome="team", resamples=10)
    assert str(err.value) == (
        f"{a} and {b} both hold council quick/mix, seating different policies (hoard on oona: standin:hoarder vs "
        "standin:speculator); give one of them another name (rerun its glade eval with name=NEW: nothing plays "
        "again) to rank them apart"
    )
    # another seed of one stand-in: its identity says so (standin:NAME@SEED)
    with pytest.raises(
        ValueError, match=r"seating different policies \(hoard on oona: standin:hoarder vs standin:hoarder@3\)"
    ):
        rank([a, runs["seeded"]], outcome="team", resamples=10)


def test_team_refusal_is_a_one_line_cli_error(runs, tmp_path, capsys):
    from glade.cli import main

    argv = ["rank", str(runs["speculator"]), str(runs["hoarder"]), "--outcome", "team"]
    assert main([*argv, "--out", str(tmp_path / "rank.json")]) == 2
    err = capsys.readouterr().err
    assert f"{runs['speculator']} and {runs['hoarder']} both hold council quick/mix" in err
    assert "hoard on oona: standin:speculator vs standin:hoarder" in err
    assert not (tmp_path / "rank.json").exists()


def test_units_where_nothing_was_compared_change_no_figure(runs):
    alone = rank([runs["rotated"]], resamples=200, seed=3)
    both = rank([runs["rotated"], runs["unrelated"]], resamples=200, seed=3)
    assert alone["units"] == both["units"] == 6  # not 36: the unrelated folder's 30 seeds compare nothing
    assert both["comparisons"] == alone["comparisons"]
    keys = ("entry", "strength", "ci", "rank_ci", "wins", "comparisons", "resamples_without")
    assert [{k: row[k] for k in keys} for row in both["board"]] == [{k: row[k] for k in keys} for row in alone["board"]]
    assert all(row["resamples_without"] == 0 for row in both["board"])
    assert alone["note"] == both["note"] == "too few seeds for an interval: 6, at least 8"  # not 36 seeds


def test_a_council_of_the_stand_ins_themselves_names_its_policies(runs):
    with pytest.raises(ValueError) as err:
        rank([runs["hoarder"]], resamples=10)
    assert str(err.value) == (
        "no two policies ever sat on the same creature, scenario and seed, so none can be compared "
        "(standin:balanced, standin:hoarder, standin:panic_seller, standin:speculator); the recipe's policies are "
        "the stand-ins the all-stand-in world seats on their creatures (hoard is standin:hoarder, panic is "
        "standin:panic_seller): seat a policy that differs from the creature's stand-in"
    )


def test_the_cli_says_why_an_entry_is_not_ranked(runs, tmp_path, capsys):
    # bramble's panic policy is bramble's own stand-in: alone wherever it sat, like the stand-ins
    # of the creatures no council seated; the line names both reasons (before, only the second)
    from glade.cli import main

    assert main(["rank", str(runs["speculator"]), "--out", str(tmp_path / "rank.json")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "standin:panic_seller" in out.split("not ranked: ")[1].split(": never")[0]
    assert (
        "(a creature of the all-stand-in world that no council seated, or a council's policy that is that "
        "creature's own stand-in), so nothing to compare with"
    ) in out
