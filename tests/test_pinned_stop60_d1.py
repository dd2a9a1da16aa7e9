"""Tests written by the stop-60 mutation audit (D1) of modules no earlier audit mutated
(glade.env.jsonrepair, legends; glade.trace_cells, hub_ids, shard_rows; glade.eval.json_fields): each
pins a behaviour that a plausible one-line change (a comparison flipped, a term dropped, a constant or a
character range moved) left untested. The comment on each names what it guards."""

from __future__ import annotations

import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import constants
from test_phases import world_of

from glade import hub_ids
from glade.env import phases
from glade.env.jsonrepair import lenient
from glade.env.legends import LEGENDS
from glade.env.observation import observe, plain
from glade.env.protocol import render
from glade.eval.json_fields import BOOL, INTEGER, NUMBER, RATE, TEXT, is_kind, said, wrong_fields
from glade.hub_ids import hub_unreachable, offline_uncached
from glade.shard_rows import episodes_in, protocol_words
from glade.trace_cells import LM_EVAL_NEEDS, TRAIN_NEEDS, check_cells


# env/jsonrepair.py:99 -- every C0 control character (\x1f the last) is escaped in a repaired string
def test_a_raw_unit_separator_in_a_quoted_string_is_escaped():
    decoded, end, fixes, closed = lenient("{'a': 'x\x1fy'}", 0, False)
    assert decoded.value == {"a": "x\x1fy"}
    assert (end, fixes, closed) == (12, {"single_quotes"}, False)


# env/jsonrepair.py:100 -- a number's exponent may carry a minus sign (1e-5 is one number)
def test_a_negative_exponent_is_read_as_one_number():
    decoded, end, fixes, _closed = lenient("{'p': 1e-5}", 0, False)
    assert decoded.value == {"p": 1e-05}
    assert (end, fixes) == (11, {"single_quotes"})


# env/jsonrepair.py:105 -- a closing tag (`</s>`) after truncated JSON ends it, as ``` and <| do
def test_a_closing_tag_after_truncated_json_ends_it():
    decoded, end, fixes, closed = lenient('{"a": 1</s>', 0, True)
    assert decoded.value == {"a": 1}
    assert (end, fixes, closed) == (7, {"closed_braces"}, True)


# env/jsonrepair.py:126 -- an object mid-pair (after its colon) is not closable: the value fails at the brace
def test_an_object_closed_right_after_a_colon_fails_at_the_brace():
    assert lenient('{"a": } tail', 0, False) == (None, 6, set(), False)
    assert lenient('[{"a": ] tail', 0, False) == (None, 7, set(), False)


# env/jsonrepair.py:189 -- a string the text cut off is dropped, not repaired: its bad escape is no repair
def test_a_cut_off_string_with_a_bad_escape_names_no_string_repair():
    decoded, end, fixes, closed = lenient('{"a": 1, "b": "x\\qy', 0, True)
    assert decoded.value == {"a": 1}
    assert (end, fixes, closed) == (19, {"closed_braces"}, True)


# env/jsonrepair.py:188 -- curly single quotes are smart quotes, not single quotes
def test_curly_single_quotes_are_named_smart_quotes():
    decoded, end, fixes, _closed = lenient("{‘a’: 1}", 0, False)
    assert decoded.value == {"a": 1}
    assert (end, fixes) == (8, {"smart_quotes"})


# env/jsonrepair.py:194 -- a number may open with a minus sign
def test_a_negative_number_in_a_repaired_value_is_read():
    decoded, end, fixes, _closed = lenient("{'p': -3}", 0, False)
    assert decoded.value == {"p": -3}
    assert (end, fixes) == (9, {"single_quotes"})


# env/jsonrepair.py:220 -- a missing comma's cut point sits before the comma: a pair cut off after it goes whole
def test_a_pair_cut_off_after_a_missing_comma_is_dropped_with_the_comma():
    decoded, end, fixes, closed = lenient('{"a": 1 "b": "x', 0, True)
    assert decoded.value == {"a": 1}
    assert (end, fixes, closed) == (15, {"missing_commas", "closed_braces"}, True)


# env/jsonrepair.py:227 -- a value where an object wants a key fails at that value, not at the next mark
def test_a_value_in_a_key_slot_fails_where_it_stands():
    assert lenient('{"a": 1, 2}', 0, False) == (None, 9, set(), False)
    assert lenient('{"a": 1, [3], "b": 2}', 0, False) == (None, 9, set(), False)


# env/jsonrepair.py:245 -- only a list left open right after a whole item is read back to its first item; one cut
# inside its first item covers the text to its end
def test_a_list_cut_inside_its_first_item_covers_the_text():
    assert lenient('[ "ab', 0, False) == (None, 5, set(), False)
    assert lenient('[ {"a": 1} ', 0, False) == (None, 2, set(), False)
    assert lenient('[ {"a": 1', 0, False) == (None, 9, set(), False)  # its item itself cut off


# env/jsonrepair.py:253 -- an inner container cut before its first whole item goes with its key (or its place in
# a list): the value is cut back to the outer container's last whole item
def test_an_empty_inner_container_cut_mid_pair_is_dropped_whole():
    decoded, end, fixes, closed = lenient('{"a": 1, "b": {"c"', 0, True)
    assert (decoded.value, end, fixes, closed) == ({"a": 1}, 18, {"closed_braces"}, True)
    decoded, end, fixes, closed = lenient('[1, {"c"', 0, True)
    assert (decoded.value, end, fixes, closed) == ([1], 8, {"closed_braces"}, True)


# glade/shard_rows.py:20 -- a shard that is not there is "missing", not an unreadable file
def test_a_missing_shard_is_named_missing(tmp_path):
    assert episodes_in(tmp_path / "gone.parquet") == "missing"
    assert episodes_in(tmp_path / "gone.parquet", whole=False) == "missing"


# glade/shard_rows.py:24 -- `whole` reads every column (a damaged page anywhere is found); else the row key alone
def test_a_damaged_page_outside_the_row_key_is_found_only_by_a_whole_read(tmp_path):
    shard = tmp_path / "shard.parquet"
    table = pa.table(
        {
            "episode_id": ["e1", "e1", "e2"],
            "turn": [0, 1, 0],
            "creature": ["a", "a", "a"],
            "blob": ["x" * 5000, "y" * 5000, "z" * 5000],
        }
    )
    pq.write_table(table, shard, compression="zstd")
    chunk = pq.ParquetFile(shard).metadata.row_group(0).column(3)
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    data = bytearray(shard.read_bytes())
    for at in range(start + 20, start + chunk.total_compressed_size - 5):
        data[at] ^= 0x5A
    shard.write_bytes(bytes(data))
    assert episodes_in(shard).startswith("unreadable (")
    assert episodes_in(shard, whole=False) == {"e1", "e2"}


# glade/shard_rows.py:40 -- an emptied cell ("" as much as null) is named as such, not printed as nothing
def test_an_empty_protocol_cell_is_named_as_empty():
    assert protocol_words(["", None, "v2", 3]) == {"none (an empty cell)", "v2", "3"}


# glade/shard_rows.py:25 -- an OSError that is no Arrow error (a folder where the shard should be) is a reason
def test_a_folder_in_place_of_a_shard_is_unreadable(tmp_path):
    shard = tmp_path / "shard.parquet"
    shard.mkdir()
    assert episodes_in(shard) == f"unreadable (Cannot open for reading: path '{shard}' is a directory)"


PROXIES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


@pytest.fixture
def no_hub(monkeypatch, tmp_path):
    """Online mode, an empty cache, no proxy and a Hub whose host does not resolve."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "https://hub.glade-test.invalid")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    for key in PROXIES:
        monkeypatch.delenv(key, raising=False)
    return tmp_path / "hub"


# glade/hub_ids.py:37 -- each proxy variable (upper and lower case, HTTPS and ALL) leaves the host untried
@pytest.mark.parametrize("key", PROXIES)
def test_any_proxy_variable_leaves_an_uncached_id_to_the_loader(no_hub, monkeypatch, key):
    assert hub_unreachable("someorg/other").startswith("no local folder of that name")
    monkeypatch.setenv(key, "http://proxy.glade-test.invalid:3128")
    assert hub_unreachable("someorg/other") is None


def cached(hub, repo, *names, missing=()):
    """A Hugging Face cache entry for `repo` holding `names`, and recording `missing` as known absent."""
    folder = hub / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text("abc123")
    for name in names:
        (folder / "snapshots" / "abc123").mkdir(parents=True, exist_ok=True)
        (folder / "snapshots" / "abc123" / name).write_text("{}")
    for name in missing:
        (folder / ".no_exist" / "abc123").mkdir(parents=True, exist_ok=True)
        (folder / ".no_exist" / "abc123" / name).write_text("")


# glade/hub_ids.py:40 -- a config the cache records as absent (.no_exist) is no cached model: the Hub is tried
def test_a_config_known_absent_from_the_cache_is_not_cached(no_hub):
    cached(no_hub, "someorg/gone", missing=["config.json"])
    assert hub_unreachable("someorg/gone").startswith("no local folder of that name, not in the Hugging Face cache")


# glade/hub_ids.py:47 -- the probe goes to the endpoint's host and port (80 for http, 443 for https), for 5 s, and
# names the OS's words for the failure
@pytest.mark.parametrize(
    "endpoint, address",
    [
        ("http://hub.example.invalid", ("hub.example.invalid", 80)),
        ("https://hub.example.invalid", ("hub.example.invalid", 443)),
        ("https://hub.example.invalid:8443", ("hub.example.invalid", 8443)),
    ],
)
def test_the_hub_probe_asks_the_endpoints_host_and_port(no_hub, monkeypatch, endpoint, address):
    tried = []

    def refuse(where, timeout):
        tried.append((where, timeout))
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(hub_ids.socket, "create_connection", refuse)
    why = hub_unreachable("someorg/model")
    assert tried == [(address, 5)]
    assert "the Hub (hub.example.invalid) cannot be reached (Connection refused): download it once" in why


@pytest.fixture
def offline(no_hub, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(key, raising=False)
    return no_hub


# glade/hub_ids.py:19 -- a sharded model's index is weights enough (the safetensors index as much as the bin's)
@pytest.mark.parametrize("weights", ["model.safetensors.index.json", "pytorch_model.bin.index.json"])
def test_a_cached_sharded_index_is_weights_offline(offline, weights):
    cached(offline, "someorg/sharded", "config.json", weights)
    assert offline_uncached("someorg/sharded") is None


# glade/hub_ids.py:66 -- offline, cached weights without their config are no model
def test_cached_weights_without_a_config_are_no_model_offline(offline):
    cached(offline, "someorg/bare", "model.safetensors")
    assert offline_uncached("someorg/bare").startswith("not in the Hugging Face cache")


# glade/hub_ids.py:73 -- the words name each variable set that switches offline mode on, HF_HUB_OFFLINE if none is
@pytest.mark.parametrize(
    "set_, said",
    [
        ((), "HF_HUB_OFFLINE"),
        (("TRANSFORMERS_OFFLINE",), "TRANSFORMERS_OFFLINE"),
        (("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"), "HF_HUB_OFFLINE and TRANSFORMERS_OFFLINE"),
    ],
)
def test_offline_words_name_the_variables_that_are_set(offline, monkeypatch, set_, said):
    for key in set_:
        monkeypatch.setenv(key, "1")
    why = offline_uncached("someorg/model")
    assert why.endswith(
        f"offline mode is on ({said}), so it cannot be downloaded: download it first "
        f"(`hf download someorg/model`), or unset {said}"
    )


USER = {"role": "user", "content": "hi"}


def shards(tmp_path, *columns_per_shard):
    """Parquet shards of these columns ({name: values}); (their rows as one table of one chunk each, files)."""
    files = []
    for at, columns in enumerate(columns_per_shard):
        files.append(str(tmp_path / f"part-{at}.parquet"))
        pq.write_table(pa.table(columns), files[-1])
    return pa.concat_tables(pq.read_table(file) for file in files), files


def refusal(table, files, needs):
    with pytest.raises(ValueError) as info:
        check_cells(table, files, needs, "glade train")
    return str(info.value).split(": ", 2)


# glade/trace_cells.py:38 -- of several columns a shard lacks, the first `needs` names is the one said
def test_the_first_missing_column_in_needs_order_is_named(tmp_path):
    table, files = shards(tmp_path, {"episode_id": ["e"], "turn": [0]})
    said = refusal(table, files, ["seed", "episode_id", "observation"])
    assert said[1].startswith("no seed column, which glade train reads")


# glade/trace_cells.py:50 -- a bad conversation in a later shard is counted past every row before it (chunk by
# chunk) and named by its own shard's row
def test_a_bad_conversation_is_named_by_its_own_shards_row(tmp_path):
    later = [[USER], [{"role": "system", "content": "x"}], [], [USER]]
    table, files = shards(
        tmp_path,
        {"episode_id": ["a"] * 3, "turn": [0, 1, 2], "messages": [[USER]] * 3},
        {"episode_id": ["b"] * 2, "turn": [0, 1], "messages": [[USER]] * 2},
        {"episode_id": ["c"] * 4, "turn": [0, 1, 2, 3], "messages": later},
    )
    assert table.column("messages").num_chunks == 3
    file, where, what = refusal(table, files, ["messages"])
    assert (file, where) == (files[2], "row 1 (episode c, turn 1)")
    assert what.startswith("messages is not a conversation with a user turn")


# glade/trace_cells.py:71 -- within one chunk the first bad row is named, not the last (and a lone one at all)
def test_of_two_bad_conversations_in_one_shard_the_first_is_named(tmp_path):
    table, files = shards(
        tmp_path, {"episode_id": ["a"] * 4, "turn": [0, 1, 2, 3], "messages": [[USER], [], [USER], []]}
    )
    assert refusal(table, files, ["messages"])[:2] == [files[0], "row 1 (episode a, turn 1)"]
    table, files = shards(tmp_path, {"episode_id": ["a"] * 3, "turn": [0, 1, 2], "messages": [[USER], [USER], []]})
    assert refusal(table, files, ["messages"])[:2] == [files[0], "row 2 (episode a, turn 2)"]  # a lone bad row too


# glade/trace_cells.py:87 -- the first row of a later shard is row 0 of that shard, not one past the end of the first
def test_a_null_in_a_later_shards_first_row_is_its_row_0(tmp_path):
    table, files = shards(
        tmp_path,
        {"episode_id": ["a", "a"], "turn": [0, 1], "seed": [1, 1]},
        {"episode_id": ["b", "b"], "turn": [0, 1], "seed": [None, 2]},
    )
    file, where, what = refusal(table, files, ["episode_id", "seed"])
    assert (file, where, what.split(",")[0]) == (files[1], "row 0 (episode b, turn 0)", "seed is null")


# glade/trace_cells.py:90 -- a row no shard in `files` holds is said by its index in the rows, with its episode
def test_a_row_past_the_listed_shards_is_said_by_its_index(tmp_path):
    table, _files = shards(tmp_path, {"episode_id": ["a", "a"], "turn": [0, 1], "seed": [1, None]})
    with pytest.raises(ValueError, match=r"^row 1 \(episode a, turn 1\): seed is null, which glade train reads; "):
        check_cells(table, [], ["seed"], "glade train")


# glade/trace_cells.py:14 -- a null `error` cell is the norm (the decision had no error), not a damaged row
def test_only_the_error_column_may_be_null(tmp_path):
    table, files = shards(tmp_path, {"episode_id": ["a"], "turn": [0], "error": pa.array([None], pa.string())})
    assert check_cells(table, files, ["episode_id", "error"], "glade train") is None


# glade/trace_cells.py:18 -- the columns train reads (wealth_change, train/data.py) and lm-eval reads
# (standin_action, eval/lm_docs.py) are checked before they are read
@pytest.mark.parametrize(("needs", "column"), [(TRAIN_NEEDS, "wealth_change"), (LM_EVAL_NEEDS, "standin_action")])
def test_each_reader_checks_the_column_it_reads(tmp_path, needs, column):
    table, files = shards(tmp_path, {name: [1] for name in needs if name != column})
    assert refusal(table, files, needs)[1].startswith(f"no {column} column, which glade train reads")


# eval/json_fields.py:23 -- true/false is no count and no number; a count or a number is no true/false
def test_true_false_is_only_a_bool():
    assert [is_kind(True, kind) for kind in (INTEGER, NUMBER, RATE, BOOL)] == [False, False, False, True]
    assert [is_kind(1, kind) for kind in (INTEGER, NUMBER, RATE, BOOL)] == [True, True, True, False]
    assert is_kind(None, None) and not is_kind(0, None)


# eval/json_fields.py:27 -- a rate runs from 0 to 1, both ends in, integers and floats alike
def test_a_rate_takes_both_ends_of_zero_to_one():
    assert [is_kind(v, RATE) for v in (0, 1, 0.0, 1.0, 0.5)] == [True] * 5
    assert [is_kind(v, RATE) for v in (-0.01, 1.01, 2, float("nan"))] == [False] * 4


# eval/json_fields.py:32 -- an integer is a figure up to a float's range, both signs; an infinite float is none
def test_a_figure_ends_at_a_floats_range_on_both_sides():
    top = int(sys.float_info.max)
    assert is_kind(top, NUMBER) and is_kind(-top, NUMBER)
    assert not is_kind(top * 10, NUMBER) and not is_kind(-top * 10, NUMBER)
    assert not is_kind(float("inf"), NUMBER) and not is_kind(float("-inf"), NUMBER)


# eval/json_fields.py:38 -- a float is said as a number where a rate was wanted or it is no finite number
def test_a_float_is_said_as_itself_only_for_a_rate_or_a_non_figure():
    assert (said(float("nan")), said(float("-inf")), said(0.5)) == ("nan", "-inf", "a number")
    assert said(0.30000000000000004, (RATE,)) == "0.3"


# eval/json_fields.py:42 -- an integer is said as itself where a rate was wanted, up to 20 characters, sign
# included; past that by its digits (the sign not counted, thousands grouped); true/false never as a number
def test_an_integer_is_said_as_itself_up_to_twenty_characters():
    assert said(7, (RATE,)) == "7" and said(7) == "an integer"
    assert said(12345678901234567890, (RATE,)) == "12345678901234567890"
    assert said(-1234567890123456789, (RATE,)) == "-1234567890123456789"
    assert said(123456789012345678901, (RATE,)) == "an integer of 21 digits"
    assert said(-(10**400)) == "an integer of 401 digits"
    assert said(10**1000) == "an integer of 1,001 digits"
    assert (said(True, (RATE,)), said(None), said("x")) == ("true/false", "null", "a text")


# eval/json_fields.py:51 -- the words name the file itself, the key alone at the top, and the first kind allowed
def test_wrong_fields_words():
    assert wrong_fields([], {}, "") == "the file must be an object, not a list"
    assert wrong_fields({"a": "x"}, {"a": (TEXT,), "b": (INTEGER, None)}, "") is None
    assert wrong_fields({"b": "x"}, {"b": (INTEGER, None)}, "") == "b must be an integer, not a text"
    assert wrong_fields({"b": 2}, {"b": (RATE, None)}, "flags[3]") == "flags[3].b must be a rate between 0 and 1, not 2"
    assert wrong_fields({}, {"c": (TEXT,)}, "flags[3]") == "flags[3].c must be a text, not missing"


# env/jsonrepair.py:210 -- a half-written word at the end is dropped though blanks follow it
def test_a_half_written_word_before_trailing_blanks_is_dropped():
    decoded, end, fixes, closed = lenient('{"a": 1, "b": tru \n', 0, True)
    assert decoded.value == {"a": 1}
    assert (end, fixes, closed) == (19, {"closed_braces"}, True)


# env/legends.py:16 -- talk is written into every observation (and so every trace) as 1 for a fall, 2 for a rise,
# said in the prompt in the story's direction, and stays in the air for the legend's turn and the next (talk_turns 2)
def test_legend_talk_codes_words_and_turns():
    world = world_of()
    world.turn = 3
    phases.tell_legends(world, [("run_on_oonas_hoard", "rumour"), ("drought", "rumour")])
    assert world.talk == {"honey": (1, 4), "berries": (2, 4)}
    seen = plain(observe(world)["oona"])
    assert seen["talk"] == {"honey": 1, "firewood": 0, "acorns": 0, "berries": 2, "mushrooms": 0}
    assert "Talk in the Wood: honey will fall, berries will rise." in render(seen)[-1]["content"].splitlines()
    world.turn = 5
    assert set(plain(observe(world)["oona"])["talk"].values()) == {0}


# env/legends.py:76 -- each legend's override writes its own factor at the seam (the run halves honey, the Dry Brook
# lifts berries by 1.6, the Long Winter firewood by 1.5, ...)
def test_each_legends_override_factor():
    world = world_of()
    phases.queue_overrides(world, [(legend, "override") for legend in LEGENDS])
    assert world.pending_overrides == [
        ("run_on_oonas_hoard", "honey", 0.5),
        ("great_acorn_mania", "acorns", 2.0),
        ("hollow_log_company", "mushrooms", 2.5),
        ("drought", "berries", 1.6),
        ("winter_rumour", "firewood", 1.5),
    ]


# env/legends.py:27 -- a production shock leaves every store as it was (shock_units 0 by default) ...
@pytest.mark.parametrize("legend", ["great_acorn_mania", "drought", "winter_rumour"])
def test_a_production_shock_moves_no_store(legend):
    world = world_of()
    world.turn = 2
    before = {c: dict(world.inventory[c]) for c in world.creatures}
    phases.apply_shocks(world, [(legend, "shock")])
    assert {c: dict(world.inventory[c]) for c in world.creatures} == before


# env/legends.py:29 -- ... and a store shock schedules no change to production (shock_turns 0 by default)
@pytest.mark.parametrize("legend", ["run_on_oonas_hoard", "hollow_log_company"])
def test_a_store_shock_schedules_no_production_change(legend):
    world = world_of()
    world.turn = 2
    phases.apply_shocks(world, [(legend, "shock")])
    assert world.production_factor == {}
