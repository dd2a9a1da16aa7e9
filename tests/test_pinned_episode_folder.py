"""Tests written by a mutation audit of glade's episode folder and traces card (glade.episode_folder,
traces_card): each pins a behaviour that a plausible one-line change (a comparison flipped, an
off-by-one, a clause dropped, a constant changed) left untested. The comment on each names what
it guards. The audit's tests of `glade export`'s card, model-index and lineage are in
test_pinned_export_numbers.py."""

from __future__ import annotations

import json

import pytest

from glade.episode_folder import check_episode_folder
from glade.traces_card import write_card

# --------------------------------------------------------------------------- episode_folder


@pytest.mark.parametrize(
    "text",
    ["not json {", '["scenario_hash", "seed", "conservation_problems"]'],
)
def test_a_summary_json_glade_did_not_write_is_refused_by_name(tmp_path, text):
    # guards check_episode_folder's `ValueError` caught for a summary that is no JSON (the refusal, not the
    # parser's error) and its `isinstance(summary, dict)` (a list naming the keys is no summary)
    (tmp_path / "summary.json").write_text(text)
    with pytest.raises(
        ValueError,
        match=r"holds files that are not an episode glade simulate wrote \(summary.json\); give a new or empty folder",
    ):
        check_episode_folder(tmp_path)


def test_a_refusal_names_three_foreign_files_and_says_when_there_are_more(tmp_path):
    # guards check_episode_folder's `len(foreign) > 3`: three files are named in full, a fourth is ", ..."
    for name in ("a.txt", "b.txt", "c.txt"):
        (tmp_path / name).write_text("mine")
    with pytest.raises(ValueError, match=r"glade simulate wrote \(a.txt, b.txt, c.txt\); give"):
        check_episode_folder(tmp_path)
    (tmp_path / "d.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"glade simulate wrote \(a.txt, b.txt, c.txt, ...\); give"):
        check_episode_folder(tmp_path)


# --------------------------------------------------------------------------- traces_card


def test_the_traces_card_records_each_scenarios_hash_and_the_versions_that_wrote_it(tmp_path):
    # guards write_card's provenance: every scenario's hash (what rules played the rows) and the datasets
    # and numpy versions
    from glade.env.scenario import load_scenario
    from glade.provenance import package_version

    scenarios = {"short": load_scenario("default", turns=2), "long": load_scenario("default", turns=3)}
    write_card({"out": str(tmp_path)}, tmp_path, scenarios, {"a": 1, "b": 2, "c": 3})
    text = (tmp_path / "README.md").read_text()
    provenance = json.loads(text.split("## Provenance")[1].split("```json")[1].split("```")[0])
    assert provenance["scenario_hashes"] == {name: s.hash() for name, s in scenarios.items()}
    assert provenance["scenario_hashes"]["short"] != provenance["scenario_hashes"]["long"]
    assert provenance["versions"] == {"datasets": package_version("datasets"), "numpy": package_version("numpy")}
    assert provenance["episodes"] == 3
