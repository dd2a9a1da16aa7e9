"""Tests written by the stop-60 mutation audit of modules no earlier audit mutated: the checks of the
files glade reads (glade.trace_cells, hub_ids, shard_rows; glade.eval.json_fields). Each pins a
behaviour that a plausible one-line change (a comparison flipped, a term dropped, a constant moved)
left untested. The comment on each names what it guards."""

from __future__ import annotations

import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import constants

from glade import hub_ids
from glade.eval.json_fields import BOOL, INTEGER, NUMBER, RATE, TEXT, is_kind, said, wrong_fields
from glade.hub_ids import hub_unreachable, offline_uncached
from glade.shard_rows import episodes_in, protocol_words
from glade.trace_cells import LM_EVAL_NEEDS, TRAIN_NEEDS, check_cells


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
