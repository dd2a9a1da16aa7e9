"""`glade rank` (`seat`): an entry is a policy identity (`hf:` + the model folder's name), so
one identity standing for two seat specs (one model at two temperatures, two models in
folders of one name) would be averaged as one policy: refused, naming the identity, the
folders or policies and what differs. The same model under two names with one spec, a copy
of a folder, a folder without a ledger and stand-ins in several folders still rank."""

from __future__ import annotations

import shutil

import pytest

from glade.eval import run as eval_run
from glade.eval.rank import rank
from glade.eval.recipe import load_eval_recipe
from tests.resume_setup import eval_recipe

pytestmark = pytest.mark.usefixtures("one_thread")


def evaluate(root, folder: str, policies: dict, councils: dict, **changes):
    """A small eval of gambit_rumour into root/folder/results."""
    (root / folder).mkdir()
    base = {"name": folder, "scenarios": ["gambit_rumour"], "turns": 6, "worlds": 8, "policies": policies}
    base |= {"councils": councils, "out": str(root / folder / "results"), "seeds": {"start": 500, "count": 2}}
    eval_run.run_recipe(load_eval_recipe(eval_recipe(root / folder, **(base | changes))))
    return root / folder / "results"


@pytest.fixture(scope="module")
def runs(tiny, tmp_path_factory):
    root = tmp_path_factory.mktemp("seats")
    # two model folders of one name: one identity, hf:final
    one, two = root / "run1" / "final", root / "run2" / "final"
    shutil.copytree(tiny, one)
    shutil.copytree(tiny, two)
    seat = {"kind": "hf", "model": str(one), "max_new_tokens": 8}
    return {
        "temperatures": evaluate(
            root,
            "temperatures",
            {"greedy": seat, "hot": seat | {"temperature": 1.0}},
            {"c_greedy": {"focal": {"oona": "greedy"}}, "c_hot": {"focal": {"oona": "hot"}}},
        ),
        # the same model under two names with one spec, and a stand-in beside it
        "one": evaluate(
            root,
            "one",
            {"base": seat, "again": dict(seat), "spec": "speculator"},
            {"mix": {"focal": {"oona": "base", "hazel": "again", "bramble": "spec"}}},
        ),
        "two": evaluate(
            root,
            "two",
            {"base": seat | {"model": str(two)}, "spec": {"kind": "standin", "disposition": "speculator", "seed": 3}},
            {"mix": {"focal": {"oona": "base", "bramble": "spec"}}},
        ),
        # stand-ins only, the speculator seeded otherwise than in `one` (about a second)
        "standins": evaluate(
            root,
            "standins",
            {"s": {"kind": "standin", "disposition": "speculator", "seed": 3}},
            {"mix": {"focal": {"bramble": "s"}}},
        ),
    }


def test_one_model_at_two_temperatures_in_one_folder_is_refused(runs):
    folder = runs["temperatures"]
    with pytest.raises(ValueError) as err:
        rank([folder], resamples=10)
    assert str(err.value) == (
        f"{folder}: policies greedy and hot are both hf:final, with different seat specs (temperature unset vs 1.0); "
        "`seat` ranks a policy by its identity and would average them as one: give the model folders distinct "
        "names (a copy or link named for each), or rank with --outcome team (its entries are councils)"
    )
    # the same model folder under two names with one spec is one policy: ranked
    board = rank([runs["one"]], resamples=10)
    assert "hf:final" in [row["entry"] for row in board["board"]]
    assert next(row["names"] for row in board["board"] if row["entry"] == "hf:final") == ["again", "base"]
    # --outcome team tells the councils apart
    team = rank([folder], outcome="team", resamples=10)
    assert {row["entry"] for row in team["board"]} == {"all stand-ins", "temperatures/c_greedy", "temperatures/c_hot"}


def test_two_models_in_folders_of_one_name_are_refused_across_folders(runs, tmp_path):
    one, two = runs["one"], runs["two"]
    with pytest.raises(ValueError) as err:
        rank([one, two], resamples=10)
    model = lambda run: str(one.parent.parent / run / "final")  # noqa: E731
    assert str(err.value) == (
        f"{one} (policy again) and {two} (policy base) are both hf:final, with different seat specs "
        f'(model "{model("run1")}" vs "{model("run2")}"); `seat` ranks a policy by its identity and would average '
        "them as one: give the model folders distinct names (a copy or link named for each), or rank the folders "
        "separately"
    )
    # a copy of a folder seats the same model with the same spec; the stand-in's seed is not compared
    copy = tmp_path / "copy"
    shutil.copytree(one, copy)
    board = rank([one, copy], resamples=10)
    assert "hf:final" in [row["entry"] for row in board["board"]]
    # a stand-in is its disposition's name (its seed is no more in `seat`'s entry than the
    # all-stand-in world's is): the same stand-in in several folders is not refused
    assert "standin:speculator" in [row["entry"] for row in rank([one, runs["standins"]], resamples=10)["board"]]
    # a folder whose ledger is gone: nothing to compare its specs with, so no refusal
    blind = tmp_path / "blind"
    shutil.copytree(two, blind)
    (blind / "progress.json").unlink()
    assert "hf:final" in [row["entry"] for row in rank([one, blind], resamples=10)["board"]]
    # a ledger cut short is named, not read as none (its seat specs' checks were skipped without a word)
    (blind / "progress.json").write_text('{"format": 2, "recipe": {"policies"')
    with pytest.raises(ValueError, match=r"blind/progress.json: not a glade progress ledger .* move it aside"):
        rank([one, blind], resamples=10)


def test_the_refusal_is_a_one_line_cli_error(runs, tmp_path, capsys):
    from glade.cli import main

    argv = ["rank", str(runs["two"]), str(runs["one"]), "--out", str(tmp_path / "rank.json")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{runs['two']} (policy base) and {runs['one']} (policy again) are both hf:final" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "rank.json").exists()


def test_one_model_spelled_two_ways_is_one_entry(tmp_path, monkeypatch):
    # a relative path and the absolute one, shipped:NAME and its folder, another device: one
    # model and one spec (before, each was refused as "different seat specs")
    import json

    import pandas as pd

    from glade import checkpoint
    from glade.eval.rank_councils import check_identities

    monkeypatch.chdir(tmp_path)
    (tmp_path / "models" / "final").mkdir(parents=True)
    shipped = str(checkpoint.shipped("tiny-base"))
    pairs = [
        ({"kind": "hf", "model": "models/final"}, {"kind": "hf", "model": str(tmp_path / "models" / "final")}),
        ({"kind": "checkpoint", "path": "shipped:tiny-base"}, {"kind": "checkpoint", "path": shipped}),
        ({"kind": "hf", "model": "models/final", "device": "cuda"}, {"kind": "hf", "model": "models/final"}),
    ]
    named = pd.DataFrame({"source": [0, 1], "policy": ["hf:final"] * 2, "policy_name": ["mine"] * 2})
    for i, specs in enumerate(pairs):
        folders = []
        for j, spec in enumerate(specs):
            folder = tmp_path / f"r{i}{j}"
            folder.mkdir()
            (folder / "progress.json").write_text(json.dumps({"recipe": {"policies": {"mine": spec}}}))
            folders.append(str(folder))
        check_identities(folders, named)  # no refusal
    # two different folders are still two models
    other = {"kind": "hf", "model": str(tmp_path / "elsewhere" / "final")}
    (tmp_path / "elsewhere" / "final").mkdir(parents=True)
    (tmp_path / "r01" / "progress.json").write_text(json.dumps({"recipe": {"policies": {"mine": other}}}))
    with pytest.raises(ValueError, match="both hf:final, with different seat specs"):
        check_identities([str(tmp_path / "r00"), str(tmp_path / "r01")], named)


def test_two_stand_ins_of_one_name_with_other_parameters_are_refused_across_folders(tmp_path):
    # guards check_identities's stand-ins: two calibrations left at their default name in two
    # evaluations were ranked as one entry, `standin:calibrated_panic_model`
    import json

    import pandas as pd

    from glade.eval.rank_councils import check_identities

    def folder(name: str, spec) -> str:
        (tmp_path / name).mkdir()
        (tmp_path / name / "progress.json").write_text(json.dumps({"recipe": {"policies": {"fitted": spec}}}))
        return str(tmp_path / name)

    fitted = {"name": "calibrated_panic_model", "on_fall": "dump", "budget": 0.9}
    standin = lambda **changed: {"kind": "standin", "disposition": "x.yaml", "parameters": fitted | changed}  # noqa: E731
    named = pd.DataFrame(
        {"source": [0, 1], "policy": ["standin:calibrated_panic_model"] * 2, "policy_name": ["fitted"] * 2}
    )
    check_identities([folder("a", standin()), folder("b", {**standin(), "disposition": "y.yaml"})], named)  # one
    with pytest.raises(ValueError, match=r"both seat stand-in standin:calibrated_panic_model, with different "
                       r"parameters \(budget: 0.9 -> 0.1, on_fall: dump -> hoard\)"):  # fmt: skip
        check_identities([folder("c", standin()), folder("d", standin(on_fall="hoard", budget=0.1))], named)
    # a shipped disposition's name is that disposition: nothing to compare
    check_identities(
        [folder("e", "panic_seller"), folder("f", {"kind": "standin", "disposition": "panic_seller"})], named
    )
