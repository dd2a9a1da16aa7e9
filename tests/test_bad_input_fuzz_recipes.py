"""Recipe refusals a bad-input fuzz of the generate, train and eval recipes found missing or unlike
the run's: `glade validate` takes the overrides the runs take and says a path no file system takes of
its key, and the values a run would choke on (a seat's endless retries, an answer longer than the
model's positions, 64-bit overflows, an empty LoRA target list) are refused
before anything runs."""

from __future__ import annotations

import pytest
import yaml

from glade.cli import main
from glade.config import ConfigError
from glade.env.scenario import RECIPES, load_scenario
from glade.seats import SeatSpecError, check_inputs, check_spec

STANDIN = str(RECIPES / "generate" / "standin.yaml")
TRAIN = str(RECIPES / "train" / "tiny-hoarder.yaml")


def _validate(capsys, *argv) -> tuple[int, str]:
    code = main(["validate", *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_validate_takes_an_override_for_every_seat_of_a_council(capsys):
    # `councils.C.*.KEY=` is how generate's README changes every seat; validate read it as a missing file
    code, said = _validate(capsys, STANDIN, "councils.balanced.*.seed=3")
    assert code == 0 and said.startswith(f"ok     {STANDIN} with councils.balanced.*.seed=3")


def test_validate_takes_an_override_longer_than_a_file_name(capsys):
    long = 'councils={calm: {"*": {kind: standin, disposition: balanced}' + " " * 300 + "}}"
    code, said = _validate(capsys, STANDIN, long)
    assert code == 0 and "file name too long" not in said and "... (" in said.splitlines()[0]


def test_a_path_no_file_system_takes_is_a_fail_line_naming_its_key_and_the_others_are_checked(tmp_path, capsys):
    data = yaml.safe_load(open(STANDIN))
    (tmp_path / "long.yaml").write_text(yaml.safe_dump({**data, "out": str(tmp_path / ("y" * 300))}))
    (tmp_path / "fine.yaml").write_text(yaml.safe_dump(data))
    code, said = _validate(capsys, "--kind", "generate", str(tmp_path))
    lines = said.splitlines()
    assert code == 2 and lines[-1] == "1 ok, 1 FAIL (malformed), 0 NEEDS (inputs not made yet)"
    assert [line for line in lines if line.startswith("FAIL")][0].startswith(
        f"FAIL   {tmp_path}/long.yaml: out: file name too long ("
    )


def test_an_out_folder_with_a_control_character_is_refused(capsys, tmp_path):
    # (glade.cli.main refuses such an argument first; a recipe file may hold one all the same)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({**yaml.safe_load(open(STANDIN)), "out": "runs/a\x1b[2Jb"}))
    code, said = _validate(capsys, "--kind", "generate", str(recipe))
    assert (
        code == 2 and "out: 'runs/a\\x1b[2Jb' cannot name a folder: a control character '\\x1b' at position 6" in said
    )


def test_a_key_with_a_newline_is_said_on_the_one_fail_line(capsys, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({**yaml.safe_load(open(STANDIN)), "tu\nrns": 2}))
    code, said = _validate(capsys, "--kind", "generate", str(recipe))
    [fail] = [line for line in said.splitlines() if line.startswith("FAIL")]
    assert code == 2 and "'tu\\nrns'" in fail


def test_a_server_seat_takes_at_most_ten_retries():
    # backoff doubles each try: retries of 10**30 never ended, and a SIGTERM did not stop it
    spec = {"kind": "server", "base_url": "http://127.0.0.1:9/v1", "model": "m", "retries": 10}
    check_spec(spec)
    with pytest.raises(SeatSpecError, match=r"seat spec server retries: expected a whole number from 0 to 10, got 11"):
        check_spec({**spec, "retries": 11})


def test_max_new_tokens_past_the_models_positions_is_refused(tiny):
    positions = yaml.safe_load(open(f"{tiny}/config.json"))["max_position_embeddings"]
    check_inputs({"kind": "hf", "model": tiny, "max_new_tokens": positions - 1})
    with pytest.raises(SeatSpecError, match=rf"max_new_tokens: {positions:,} leaves no room for the prompt"):
        check_inputs({"kind": "hf", "model": tiny, "max_new_tokens": positions})


@pytest.mark.parametrize(
    ("override", "said"),
    [
        ("lora.target_modules=[]", "lora.target_modules: out of range: []; must be a module name or a list of them"),
        ("sft.per_device_train_batch_size=" + "9" * 30, "sft.per_device_train_batch_size: out of range: 9999"),
        ("name=" + "n" * 129, "is not a plain folder name (it names the checkpoint folders)"),
    ],
    ids=["no-targets", "batch-past-64-bits", "name-past-128"],
)
def test_train_values_the_run_would_choke_on_are_refused_by_validate(override, said, capsys):
    # each passed validate: PEFT's own words after the data was prepared, islice's, a file name too long
    code, out = _validate(capsys, TRAIN, override)
    assert code == 2 and said in out


def test_a_whole_number_past_64_bits_is_refused_in_a_scenario():
    with pytest.raises(
        ConfigError, match=r"turns: expected an integer of at most 9,223,372,036,854,775,807 in size, got 1000"
    ):
        load_scenario("default", turns=10**30)
