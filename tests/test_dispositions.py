"""Dispositions are YAML data: the shipped ones behave as before, files load by name or path
wherever a disposition is accepted, and a malformed file is a one-line error naming the key."""

from __future__ import annotations

import dataclasses
import json

import pytest
from test_standin import BALANCED, inv, observation  # the stand-in tests' hand-made states

from glade.cli import main
from glade.cli.simulate import parse_council
from glade.env import load_scenario
from glade.env.schema import ConfigError
from glade.env.standin import (
    DISPOSITION_DIR,
    DISPOSITIONS,
    SHIPPED,
    Disposition,
    act,
    check_disposition,
    disposition,
    load_disposition,
)
from glade.rollout import run_episode
from glade.seats import SeatSpecError, StandIn, load

# The four dispositions as the Python dict defined them before they became files.
HISTORICAL = {
    d.name: d
    for d in (
        Disposition("balanced"),
        Disposition("panic_seller", on_fall="dump", on_rise="hoard", surplus=2),
        Disposition("hoarder", on_fall="hoard", on_rise="hoard", horizon=3, surplus=30, budget=0.7),
        Disposition("speculator", momentum=0.04, on_rise="hoard", budget=0.6),
    )
}
# Hashes of the shipped scenarios before dispositions became files, under rules version 1:
# dispositions as files did not change them; version 2's market rule did.
SHIPPED_HASHES = {
    "default": "70b6c6e3ad306aec",
    "gambit_override": "658f7a0ac11dcde8",
    "gambit_rumour": "f754a6f96f42a559",
    "gambit_shock": "bc041aedccdeb7f4",
}


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_files_are_the_historical_dispositions():
    assert DISPOSITIONS == HISTORICAL
    assert sorted(p.stem for p in DISPOSITION_DIR.glob("*.yaml")) == sorted(SHIPPED)
    for name in SHIPPED:  # every field is written out in each shipped file
        assert load_disposition(DISPOSITION_DIR / f"{name}.yaml") == HISTORICAL[name]
        assert disposition(str(DISPOSITION_DIR / f"{name}.yaml")) == HISTORICAL[name]


@pytest.mark.parametrize("name, digest", sorted(SHIPPED_HASHES.items()))
def test_shipped_scenario_hashes_are_unchanged_but_for_the_rules_version(name, digest, monkeypatch):
    from glade.env import scenario

    assert load_scenario(name).hash() != digest  # a later rules version: the same file, other rules in code
    monkeypatch.setattr(scenario, "RULES_VERSION", 1)
    assert load_scenario(name).hash() == digest


def test_a_file_loads_by_path_and_the_name_defaults_to_its_stem(tmp_path):
    path = write(tmp_path, "dumper.yaml", "surplus: 8\non_fall: dump\n")
    d = disposition(str(path))
    assert d == Disposition("dumper", surplus=8, on_fall="dump")
    assert disposition(str(path)) is d  # read once per file version


@pytest.mark.parametrize(
    "body, problem",
    [
        ("surplus: 8\nsurpuls: 9\n", "surpuls: unknown key (known: name, horizon, surplus,"),
        ("surplus: eight\n", "surplus: expected an integer, got 'eight'"),
        ("on_fall: panic\n", "on_fall: expected one of ignore, dump, hoard, got 'panic'"),
        ("budget: 1.5\n", "budget: must be from 0.0 to 1.0, got 1.5"),
        ("horizon: -1\n", "horizon: must be at least 0, got -1"),
        ("surplus: 8\nsurpuls: 9\n", "; did you mean surplus?"),
        # a hoard or swing past the parser's limit was rejected whole (absurd_qty) every turn
        ("hoard_units: 600\n", "hoard_units: must be from 0 to 500, got 600"),
        ("swing_units: 501\n", "swing_units: must be from 0 to 500, got 501"),
        ("name: two words\n", "name: must be 1 to 64 letters, digits"),
        ("[1, 2]\n", "expected a mapping at the top level"),
    ],
)
def test_a_malformed_file_is_one_line_naming_file_and_key(tmp_path, body, problem):
    path = write(tmp_path, "bad.yaml", body)
    with pytest.raises(ConfigError) as info:
        disposition(str(path))
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: ") and problem in message


def test_missing_file_and_unknown_name():
    with pytest.raises(ConfigError, match=r"^nowhere/x\.yaml: no such disposition file$"):
        disposition("nowhere/x.yaml")
    with pytest.raises(ValueError, match="unknown disposition 'grumpy'"):
        disposition("grumpy")
    with pytest.raises(ValueError, match="expected a name or a path"):
        disposition({"surplus": 3})


def test_scenario_names_a_file_relative_to_itself_and_hashes_its_contents(tmp_path):
    (tmp_path / "d").mkdir()
    write(tmp_path / "d", "grabby.yaml", "horizon: 4\non_rise: hoard\n")
    scenario = write(
        tmp_path, "s.yaml", "extends: default\nname: mine\ncreatures: {oona: {disposition: d/grabby.yaml}}\n"
    )
    s = load_scenario(scenario)
    assert disposition(s.creatures["oona"].disposition) == Disposition("grabby", horizon=4, on_rise="hoard")
    # the same contents elsewhere: the same rules, the same hash; other contents: another hash
    (tmp_path / "e").mkdir()
    write(tmp_path / "e", "grabby.yaml", "horizon: 4\non_rise: hoard\n")
    moved = write(tmp_path, "t.yaml", "extends: default\nname: mine\ncreatures: {oona: {disposition: e/grabby.yaml}}\n")
    assert load_scenario(moved).hash() == s.hash() != load_scenario("default").hash()
    write(tmp_path / "e", "grabby.yaml", "horizon: 5\non_rise: hoard\n")
    assert load_scenario(moved).hash() != s.hash()


def test_a_scenario_with_a_broken_disposition_file_names_both(tmp_path):
    write(tmp_path, "broken.yaml", "surplus: lots\n")
    scenario = write(tmp_path, "s.yaml", "extends: default\ncreatures: {oona: {disposition: broken.yaml}}\n")
    with pytest.raises(ConfigError) as info:
        load_scenario(scenario)
    assert str(info.value).startswith(f"{scenario}: creatures.oona.disposition: {tmp_path / 'broken.yaml'}: surplus:")


def test_a_copy_of_a_shipped_file_plays_exactly_like_it(tmp_path):
    copy = write(
        tmp_path, "my_hoarder.yaml", (DISPOSITION_DIR / "hoarder.yaml").read_text().replace("name: hoarder", "")
    )
    seat = load({"kind": "standin", "disposition": str(copy)})
    assert isinstance(seat, StandIn) and seat.name == "standin:my_hoarder"
    assert dataclasses.replace(seat.disposition, name="hoarder") == DISPOSITIONS["hoarder"]
    council = {c: seat for c in ("oona", "thorn", "hazel", "bramble", "moss")}
    mine = run_episode("gambit_override", 3, 8, council, full=False)
    theirs = run_episode("gambit_override", 3, 8, {c: load("hoarder") for c in council}, full=False)
    assert [r["action"] for r in mine.rows] == [r["action"] for r in theirs.rows]
    assert mine.summary["final_prices"] == theirs.summary["final_prices"]


def test_seat_specs_take_a_path_and_name_a_bad_one(tmp_path):
    path = write(tmp_path, "calm.yaml", "budget: 0.2\n")
    assert load(str(path)).disposition == Disposition("calm", budget=0.2)
    with pytest.raises(SeatSpecError, match="seat spec disposition: nowhere.yaml: no such disposition file"):
        load({"kind": "standin", "disposition": "nowhere.yaml"})


def test_council_takes_disposition_files(tmp_path):
    scenario = load_scenario("default", turns=4)
    path = write(tmp_path, "calm.yaml", "budget: 0.2\n")
    one = parse_council(f"oona={path}", scenario)
    assert one["oona"].disposition.name == "calm" and one["thorn"].name == "standin:balanced"
    every = parse_council(str(path), scenario)  # a disposition file, not a council file
    assert {p.name for p in every.values()} == {"standin:calm"}


def test_simulate_with_a_disposition_file(tmp_path, capsys):
    path = write(tmp_path, "calm.yaml", "budget: 0.2\n")
    out = tmp_path / "sim"
    args = ["simulate", "--seed", "3", "--turns", "4", "--council", f"oona={path}", "--out", str(out), "--quiet"]
    assert main(args) == 0
    assert json.loads((out / "summary.json").read_text())["council"]["oona"] == "standin:calm"
    assert main(["simulate", "--turns", "2", "--council", f"oona={tmp_path / 'x.yaml'}", "--quiet"]) == 2
    assert "error: --council oona=" in capsys.readouterr().err


def test_validate_checks_disposition_files(tmp_path, capsys):
    folder = tmp_path / "recipes" / "dispositions"  # recipes/<kind>/ says what a file is
    folder.mkdir(parents=True)
    write(folder, "ok.yaml", "surplus: 4\n")
    write(folder, "bad.yaml", "surplus: -4\n")
    assert main(["validate", str(folder)]) == 2
    printed = capsys.readouterr().out
    assert f"ok     {folder / 'ok.yaml'}  (disposition)" in printed
    assert f"FAIL   {folder / 'bad.yaml'}: surplus: must be at least 0, got -4" in printed
    # a copy of a shipped disposition changed under the shipped name: every run refuses it, so validate does
    write(folder, "bad.yaml", "name: balanced\nbudget: 0.8\n")
    assert main(["validate", str(folder / "bad.yaml")]) == 2
    printed = " ".join(capsys.readouterr().out.split())
    assert (
        "its name 'balanced' is a shipped disposition's, but it differs from the shipped one in budget 0.8 (shipped"
        in printed
    )


# NaN passes every range check (its comparisons are all False) and YAML reads `.nan` and `.inf`
# as numbers: without a finite check they validated "ok" and ran, or died deep in the stand-in.
@pytest.mark.parametrize(
    "body, shown",
    [
        ("ask: .nan\n", "ask: expected a finite number, got nan"),
        ("dump_discount: .nan\n", "dump_discount: expected a finite number, got nan"),
        ("momentum: .nan\n", "momentum: expected a finite number, got nan"),
        ("momentum: .inf\n", "momentum: expected a finite number, got inf"),
        ("hoard_premium: .nan\n", "hoard_premium: expected a finite number, got nan"),
        ("bid: .nan\n", "bid: expected a finite number, got nan"),
        ("budget: .nan\n", "budget: expected a finite number, got nan"),
        ("jitter: -.inf\n", "jitter: expected a finite number, got -inf"),
    ],
)
def test_nan_and_infinity_are_refused_naming_file_and_key(tmp_path, body, shown):
    path = write(tmp_path, "d.yaml", body)
    with pytest.raises(ConfigError) as info:
        disposition(str(path))
    assert str(info.value) == f"{path}: {shown}"


def test_check_disposition_refuses_nan_built_in_code():
    with pytest.raises(ConfigError) as info:
        check_disposition(Disposition("odd", ask=float("nan")), "fitted")
    assert str(info.value) == "fitted: ask: expected a finite number, got nan"


def test_simulate_and_validate_refuse_a_nan_disposition(tmp_path, capsys):
    path = write(tmp_path, "d.yaml", "bid: .nan\n")
    assert main(["simulate", "--turns", "2", "--council", f"oona={path}", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert f"error: --council oona={path}: {path}: bid: expected a finite number, got nan" in err
    assert main(["validate", "--kind", "disposition", str(path)]) == 2
    assert f"FAIL   {path}: bid: expected a finite number, got nan" in capsys.readouterr().out


def test_a_disposition_at_its_bounds_is_accepted():
    top = dict(budget=1.0, bid=10.0, ask=0.99, jitter=0.99, dump_discount=0.99, hoard_premium=10.0)
    bottom = dict(budget=0.0, bid=-0.99, ask=-10.0, jitter=0.0, dump_discount=0.0, hoard_premium=0.0, horizon=0)
    for edge in (top, bottom):
        d = Disposition("edge", **edge)
        assert check_disposition(d) is d
    with pytest.raises(ConfigError, match=r"budget: must be from 0\.0 to 1\.0, got 1\.01$"):
        check_disposition(Disposition("over", budget=1.01))
    # a budget of 1.0 spends every pebble: acorns 2 x 2.10 + berries 2 x 3.15 = 10.50
    o = observation("thorn", inventory=inv(firewood=3), pebbles=10.5)
    assert [x["qty"] for x in act(o, dataclasses.replace(BALANCED, budget=1.0))["orders"]] == [2, 2]


def test_two_disposition_files_of_one_name_in_a_scenario_or_beside_its_seats_are_refused(tmp_path, capsys):
    # rows label both standin:mine, so data.policies, calibrate and rank would merge two stand-ins
    one = write(tmp_path, "one.yaml", "name: mine\nsurplus: 4\n")
    two = write(tmp_path, "two.yaml", "name: mine\nsurplus: 8\n")
    scenario = write(tmp_path, "s.yaml", f"name: s\nextends: default\ncreatures:\n  oona: {{disposition: {one}}}\n")
    both = write(tmp_path, "both.yaml", f"name: b\nextends: {scenario}\ncreatures:\n  thorn: {{disposition: {two}}}\n")
    with pytest.raises(
        ConfigError, match=rf"creatures.thorn.disposition: {two} and {one} are two different dispositions"
    ):
        load_scenario(str(both))
    load_scenario(
        str(
            write(tmp_path, "same.yaml", f"name: t\nextends: {scenario}\ncreatures:\n  thorn: {{disposition: {one}}}\n")
        )
    )
    # the scenario's oona plays beside a council seat of the other file
    recipe = write(tmp_path, "g.yaml", f"out: {tmp_path / 'traces'}\nscenarios: [{scenario}]\n"
                   f"councils:\n  c: {{thorn: {{kind: standin, disposition: {two}}}}}\nseeds: {{start: 0, count: 1}}\nturns: 2\n")  # fmt: skip
    assert main(["generate", str(recipe)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"c.thorn ({two}) and scenario {scenario}'s oona ({one}) are two different dispositions named 'mine'" in err
    assert not (tmp_path / "traces").exists()
