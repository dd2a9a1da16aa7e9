"""Recipes, scenarios, dispositions, council files and overrides under hostile input: each
mistake is one `error:` line naming the file and the key, exit status 2, no traceback, and
`glade validate` refuses what the run refuses."""

from __future__ import annotations

import pytest
import yaml

from glade.cli import main
from glade.config import ConfigError, load_recipe, parse_override
from glade.env.schema import apply_overrides, read_yaml
from glade.env.standin import load_disposition
from glade.seats.spec import check_inputs, check_spec
from glade.traces import GenerateRecipe, load_generate_recipe

GENERATE = (
    "out: {out}\nscenarios: [default]\ncouncils: {{c: {{}}}}\nseeds: {{start: 0, count: 1}}\nturns: 2\nworlds: 1\n"
)
EVAL = (
    "name: e\nout: {out}\npolicies: {{p: balanced}}\ncouncils: {{c: {{focal: {{oona: p}}}}}}\n"
    "scenarios: [default]\nseeds: {{start: 0, count: 1}}\n"
)


def one_error(capsys, argv: list[str]) -> str:
    """Run the CLI; it must exit 2 with exactly one `error:` line and no traceback."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


# --- duplicate keys, recursive and exploding aliases: YAML that reads as something else -------


def test_a_key_given_twice_is_refused_with_both_lines(tmp_path):
    path = write(tmp_path, "d.yaml", "horizon: 2\nbid: 0.1\nhorizon: 9\n")
    with pytest.raises(ConfigError, match=r"d\.yaml: horizon: given twice \(lines 1 and 3\); keep one"):
        read_yaml(path)


def test_a_nested_key_given_twice_is_named_by_its_path(tmp_path, capsys):
    path = write(tmp_path, "g.yaml", GENERATE.format(out=tmp_path / "out") + "seeds: {start: 0, count: 40}\n")
    line = one_error(capsys, ["generate", str(path), "--dry-run"])
    assert f"{path}: seeds: given twice (lines 4 and 7)" in line
    path = write(tmp_path, "h.yaml", "out: x\nseeds: {start: 0, count: 1, count: 4}\n")
    with pytest.raises(ConfigError, match=r"seeds\.count: given twice; keep one"):
        read_yaml(path)


def test_validate_refuses_a_disposition_with_a_key_twice(tmp_path, capsys):
    path = write(tmp_path, "twice.yaml", "bid: 0.1\nbid: 0.5\n")
    assert main(["validate", "--kind", "disposition", str(path)]) == 2
    assert "FAIL   " + f"{path}: bid: given twice" in capsys.readouterr().out


def test_a_merge_key_and_a_shared_alias_are_not_duplicates(tmp_path):
    path = write(tmp_path, "m.yaml", "base: &b {x: 1, y: 2}\nmore: {<<: *b, x: 3}\nagain: *b\n")
    assert read_yaml(path) == {"base": {"x": 1, "y": 2}, "more": {"x": 3, "y": 2}, "again": {"x": 1, "y": 2}}


def test_a_value_that_contains_itself_is_one_line_not_a_recursion_error(tmp_path, capsys):
    path = write(tmp_path, "r.yaml", f"out: {tmp_path / 'o'}\nseeds: &a {{start: 0, count: *a}}\n")
    line = one_error(capsys, ["generate", str(path), "--dry-run"])
    assert line == f"error: {path}: seeds.count: contains itself (a YAML alias inside its own anchor)"


def test_aliases_that_expand_past_a_million_values_are_refused(tmp_path):
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 7)]  # 10**7 values
    path = write(tmp_path, "bomb.yaml", "\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match="aliases expand to more than 1,000,000 values"):
        read_yaml(path)


def test_an_override_with_a_key_twice_is_refused():
    with pytest.raises(ConfigError, match=r"override .*: c\.oona: given twice; keep one"):
        parse_override("councils={c: {oona: hoarder, oona: balanced}}")


def test_numbers_yaml_1_1_reads_in_base_60_or_octal_are_refused_by_name(tmp_path, capsys):
    # PyYAML reads YAML 1.1: `turns: 010` ran 8 turns, `start: 1:30` seed 90, and nothing said so
    path = write(tmp_path, "g.yaml", GENERATE.format(out=tmp_path / "out").replace("turns: 2", "turns: 010"))
    line = one_error(capsys, ["generate", str(path), "--dry-run"])
    assert line == (
        f"error: {path}: turns: 010 reads as 8 (YAML 1.1 takes it for an octal number); write the number you "
        "mean in plain decimals, or quote it ('010'; on a command line, \"KEY='010'\") for a text"
    )
    path = write(tmp_path, "s.yaml", "out: x\nseeds: {start: 1:30, count: 1}\n")
    with pytest.raises(
        ConfigError, match=r"seeds\.start: 1:30 reads as 90 \(YAML 1\.1 takes it for a number in base 60\)"
    ):
        read_yaml(path)
    with pytest.raises(ConfigError, match=r"override 'seeds\.count=010': 010 reads as 8"):
        parse_override("seeds.count=010")
    # what reads as written stays: 07 is 7 in either base, a quoted 010 is a text, 0 and 10 are numbers,
    # and a tag says how to read it (!!float 010 is 10.0)
    text = "a: 07\nb: '010'\nc: [0, 10, 0.5, 1_000]\nd: !!float 010\n"
    assert read_yaml(write(tmp_path, "ok.yaml", text)) == {"a": 7, "b": "010", "c": [0, 10, 0.5, 1000], "d": 10.0}


# --- numbers YAML reads as text ----------------------------------------------------------------


def test_an_exponent_yaml_reads_as_text_says_how_to_write_it(tmp_path):
    path = write(tmp_path, "d.yaml", "momentum: 1e-2\n")
    with pytest.raises(
        ConfigError, match=r"momentum: expected a number, got '1e-2' \(YAML reads 1e-2 as text: write 1\.0e-2\)"
    ):
        load_disposition(path)


def test_a_plain_string_for_a_number_gets_no_hint(tmp_path):
    path = write(tmp_path, "d.yaml", "momentum: lots\n")
    with pytest.raises(ConfigError, match=r"momentum: expected a number, got 'lots'$"):
        load_disposition(path)


def test_a_train_recipe_learning_rate_3e_3_says_how_to_write_it(tmp_path):
    from glade.train.recipe import load_train_recipe

    text = "name: t\nmodel: {base: tiny}\ndata: {traces: [x]}\nsft: {learning_rate: 3e-3, use_cpu: true}\n"
    path = write(tmp_path, "t.yaml", text)
    with pytest.raises(
        ConfigError,
        match=r"sft\.learning_rate: expected a number, got '3e-3' \(YAML reads 3e-3 as text: write 3\.0e-3\)",
    ):
        load_train_recipe(path)


@pytest.mark.parametrize("field", ["learning_rate: .inf", "max_grad_norm: .nan", "num_train_epochs: .inf"])
def test_a_train_recipe_refuses_nan_and_infinity_in_sft(tmp_path, field):
    from glade.train.recipe import load_train_recipe

    text = f"name: t\nmodel: {{base: tiny}}\ndata: {{traces: [x]}}\nsft: {{{field}, use_cpu: true}}\n"
    path = write(tmp_path, "t.yaml", text)
    with pytest.raises(ConfigError, match=rf"sft\.{field.split(':')[0]}: expected a finite number"):
        load_train_recipe(path)


# --- overrides through a value that is not a mapping -------------------------------------------


def test_an_override_through_a_scalar_is_refused_not_replaced(tmp_path, capsys):
    path = write(tmp_path, "g.yaml", GENERATE.format(out=tmp_path / "out"))
    line = one_error(capsys, ["generate", str(path), "seeds.count.x=1", "--dry-run"])
    assert line.startswith(f"error: {path} with seeds.count.x=1: seeds.count: is 1, not a mapping")
    assert "(seeds.count=...)" in line


def test_an_override_into_a_policy_given_as_a_name_is_refused(tmp_path, capsys):
    # `policies.p.kind=hf` used to replace the disposition name with {kind: hf}: a seat no one wrote
    path = write(tmp_path, "e.yaml", EVAL.format(out=tmp_path / "out"))
    line = one_error(capsys, ["eval", str(path), "policies.p.kind=hf", "--dry-run"])
    assert "policies.p: is 'balanced', not a mapping" in line


def test_an_override_still_creates_what_is_missing_or_null():
    data = {"lora": None, "sft": {"max_steps": 3}}
    out = apply_overrides(data, {"lora.r": 8, "eval.targets.x": ">= 1", "sft.max_steps": 5})
    assert out == {"lora": {"r": 8}, "sft": {"max_steps": 5}, "eval": {"targets": {"x": ">= 1"}}}


# --- seeds that no row can hold ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("seeds", "said"),
    [
        ("{start: 0, count: 1000000000000000000000000000000}", "seeds.count: expected an integer of at most 9,223,"),
        ("{start: 9223372036854775807, count: 2}", "seeds: start 9223372036854775807 and count 2 run past"),
    ],
)
def test_seeds_past_a_64_bit_integer_are_refused_before_playing(tmp_path, capsys, seeds, said):
    path = write(tmp_path, "g.yaml", GENERATE.format(out=tmp_path / "out").replace("{start: 0, count: 1}", seeds))
    assert main(["validate", "--kind", "generate", str(path)]) == 2
    assert f"FAIL   {path}: {said}" in capsys.readouterr().out
    line = one_error(capsys, ["generate", str(path)])
    assert said in line
    assert not (tmp_path / "out").exists()


def test_the_largest_seed_still_plays(tmp_path):
    path = write(
        tmp_path, "g.yaml", GENERATE.format(out=tmp_path / "out").replace("start: 0", "start: 9223372036854775807")
    )
    assert load_generate_recipe(path).seeds.values() == [2**63 - 1]


def test_eval_seeds_past_a_64_bit_integer_are_refused(tmp_path, capsys):
    path = write(
        tmp_path,
        "e.yaml",
        EVAL.format(out=tmp_path / "out").replace("count: 1", "count: 1000000000000000000000000000000"),
    )
    line = one_error(capsys, ["eval", str(path), "--dry-run"])
    assert f"{path}: seeds.count: expected an integer of at most 9,223,372,036,854,775,807 in size" in line


def test_a_train_seed_past_32_bits_is_refused_before_training(tmp_path):
    from glade.train.recipe import load_train_recipe

    path = write(tmp_path, "t.yaml", "name: t\nseed: 4294967296\nmodel: {base: tiny}\ndata: {traces: [x]}\n")
    with pytest.raises(ConfigError, match=r"seed: must be a whole number from 0 to 4,294,967,295, got 4294967296"):
        load_train_recipe(path)


# --- out: empty, or a file ---------------------------------------------------------------------


def test_an_empty_out_is_refused_not_the_current_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, "g.yaml", GENERATE.format(out="''"))
    line = one_error(capsys, ["generate", str(path)])
    assert line == f"error: {path}: out: needs a folder to write in, got an empty path"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.yaml"]  # no README.md, data/ or ledger here


def test_an_empty_eval_out_and_train_output_root_are_refused(tmp_path):
    from glade.eval.recipe import load_eval_recipe
    from glade.train.recipe import load_train_recipe

    with pytest.raises(ConfigError, match="out: needs a folder to write in"):
        load_eval_recipe(write(tmp_path, "e.yaml", EVAL.format(out="' '")))
    path = write(tmp_path, "t.yaml", "name: t\noutput_root: ''\nmodel: {base: tiny}\ndata: {traces: [x]}\n")
    with pytest.raises(ConfigError, match="output_root: needs a folder to write in"):
        load_train_recipe(path)


@pytest.mark.parametrize("kind", ["generate", "eval"])
def test_validate_refuses_an_out_that_is_a_file_as_the_run_does(tmp_path, capsys, kind):
    blocker = write(tmp_path, "blocker", "a file")
    text = (GENERATE if kind == "generate" else EVAL).format(out=blocker)
    path = write(tmp_path, f"{kind}.yaml", text)
    assert main(["validate", "--kind", kind, str(path)]) == 2
    assert f"FAIL   {path}: out: {blocker}: is a file; give a folder to write into" in capsys.readouterr().out
    line = one_error(capsys, [kind, str(path), "--dry-run"])
    assert f"out: {blocker}: is a file" in line


# --- seat specs ----------------------------------------------------------------------------------


def test_a_seat_kind_that_is_a_list_is_one_line(tmp_path, capsys):
    path = write(
        tmp_path, "g.yaml", GENERATE.format(out=tmp_path / "out").replace("{c: {}}", "{c: {oona: {kind: [hf]}}}")
    )
    line = one_error(capsys, ["generate", str(path), "--dry-run"])
    assert "councils.c.oona: seat spec kind: unknown kind ['hf'] (known: standin" in line


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "server", "base_url": "http://127.0.0.1:1/v1", "model": "m", "timeout": float("inf")}, "timeout"),
        ({"kind": "server", "base_url": "http://127.0.0.1:1/v1", "model": "m", "timeout": 1e300}, "timeout"),
        ({"kind": "server", "base_url": "http://127.0.0.1:1/v1", "model": "m", "backoff": 1e12}, "backoff"),
        ({"kind": "hf", "model": "x/y", "temperature": float("inf")}, "temperature"),
        ({"kind": "hf", "model": "x/y", "seed": 10**30}, "seed"),
        ({"kind": "checkpoint", "path": "shipped:tiny-base", "seed": 2**32}, "seed"),
        ({"kind": "server", "base_url": "http://127.0.0.1:1/v1", "model": "m", "seed": 10**30}, "seed"),
    ],
)
def test_seat_numbers_that_overflow_mid_run_are_refused_up_front(spec, message):
    # a server timeout of .inf played, then died with OverflowError in the socket; a seat seed of
    # 10**30 stopped the hf seat with "Overflow when unpacking long long", naming no key
    with pytest.raises(ValueError, match=rf"seat spec \w+ {message}: expected "):
        check_spec(spec)


def test_seat_numbers_in_range_still_pass():
    check_spec({"kind": "server", "base_url": "http://127.0.0.1:1/v1", "model": "m", "timeout": 600, "seed": 7})
    check_spec({"kind": "hf", "model": "x/y", "temperature": 0.7, "seed": 2**32 - 1})
    check_spec({"kind": "standin", "disposition": "balanced", "seed": 10**30})  # a CRC of it: any size


def test_an_unknown_shipped_model_is_malformed_not_an_input_to_come(tmp_path, capsys):
    path = write(
        tmp_path,
        "g.yaml",
        GENERATE.format(out=tmp_path / "out").replace(
            "{c: {}}", "{c: {oona: {kind: checkpoint, path: 'shipped:nosuch'}}}"
        ),
    )
    assert main(["validate", "--kind", "generate", str(path)]) == 2
    assert (
        f"FAIL   {path}: councils.c.oona: seat spec checkpoint path: shipped:nosuch: glade ships no such model"
        in capsys.readouterr().out
    )


def test_a_disposition_path_that_is_a_folder_is_malformed(tmp_path):
    (tmp_path / "dispositions").mkdir()
    with pytest.raises(ValueError, match=r"dispositions/: is a folder; expected a disposition \.yaml") as info:
        check_inputs({"kind": "standin", "disposition": f"{tmp_path}/dispositions/"})
    assert type(info.value).__name__ == "SeatSpecError"


# --- what still loads ----------------------------------------------------------------------------


def test_shipped_recipes_still_load_and_validate(capsys):
    assert main(["validate"]) in (0, 1)  # NEEDS only: traces and checkpoints not made here
    assert " FAIL " not in capsys.readouterr().out.replace("0 FAIL", "")


def test_a_recipe_file_round_trips_through_load_recipe(tmp_path):
    path = write(tmp_path, "g.yaml", yaml.safe_dump({"out": "x", "seeds": {"start": 3, "count": 2}}))
    assert load_recipe(GenerateRecipe, path).seeds.values() == [3, 4]


def test_a_negative_dataloader_num_workers_is_refused_before_training(tmp_path):
    from glade.train.recipe import load_train_recipe

    text = "name: t\nmodel: {base: tiny}\ndata: {traces: [x]}\nsft: {dataloader_num_workers: -1, use_cpu: true}\n"
    with pytest.raises(ConfigError, match=r"sft\.dataloader_num_workers: out of range: -1"):
        load_train_recipe(write(tmp_path, "t.yaml", text))


# --- follow-ups outside the first review's files -----------------------------------------------


def test_a_scenario_set_through_a_scalar_names_the_scenario_file(capsys):
    line = one_error(capsys, ["simulate", "--set", "turns.b.c=1", "--quiet", "--out", "/nonexistent/never"])
    assert "recipes/scenarios/default.yaml with turns.b.c=1: turns: is 30, not a mapping" in line


def test_a_council_file_with_a_number_for_a_creature_is_one_line(tmp_path, capsys):
    council = write(tmp_path, "c.yaml", "1: balanced\n")
    line = one_error(capsys, ["simulate", "--council", str(council), "--quiet", "--out", str(tmp_path / "o")])
    assert "unknown creature(s) 1 (creatures: " in line


@pytest.mark.parametrize("name", ["../../escaped", "a/b", ".hidden", "x" * 129])
def test_a_scenario_name_that_cannot_name_a_run_folder_is_refused(tmp_path, capsys, name):
    path = write(tmp_path, "s.yaml", f"extends: default\nname: {name!r}\n")
    line = one_error(capsys, ["simulate", "--scenario", str(path), "--quiet", "--out", str(tmp_path / "o")])
    assert f"{path}: name: {name!r} cannot name a run folder" in line
    assert not (tmp_path / "o").exists() and not (tmp_path.parent / "escaped-seed7").exists()


def test_a_scenario_name_with_spaces_and_dots_still_loads(tmp_path):
    from glade.env.scenario import load_scenario

    path = write(tmp_path, "s.yaml", "extends: default\nname: my market v1.2\n")
    assert load_scenario(path).name == "my market v1.2"


def test_validate_refuses_a_train_output_root_that_is_a_file(tmp_path, capsys):
    (tmp_path / "taken").write_text("x")
    body = f"name: t\noutput_root: {tmp_path / 'taken'}\nmodel: {{base: tiny}}\ndata: {{traces: [{tmp_path / 'tr'}]}}\n"
    path = write(tmp_path, "t.yaml", body)
    assert main(["validate", "--kind", "train", str(path)]) == 2
    assert f"output_root: {tmp_path / 'taken'}: is a file; give a folder to write into" in capsys.readouterr().out


def test_emptying_a_mapping_then_adding_by_dotted_key_replaces_it():
    # README's way to put councils of your own in place of a recipe's: the overrides apply in order
    from glade.config import parse_overrides

    data = {"councils": {"scenario": {}, "balanced": {"*": "balanced"}}, "seeds": {"count": 4}}
    overrides = parse_overrides(["councils={}", "councils.solo={oona: hoarder}"])
    assert apply_overrides(data, overrides)["councils"] == {"solo": {"oona": "hoarder"}}
    # given twice, a key takes the last value: the second mapping merges into the recipe's
    twice = parse_overrides(["councils={}", "councils={solo: {oona: hoarder}}"])
    assert list(apply_overrides(data, twice)["councils"]) == ["scenario", "balanced", "solo"]
