"""Tests written by the stop-60 mutation audit of modules no earlier audit mutated: the Wood's JSON
repair and legends (glade.env.jsonrepair, legends). Each pins a behaviour that a plausible one-line
change (a comparison flipped, a term dropped, a character range moved) left untested. The comment on
each names what it guards."""

from __future__ import annotations

import pytest
from test_phases import world_of

from glade.env import phases
from glade.env.jsonrepair import lenient
from glade.env.legends import LEGENDS
from glade.env.observation import observe, plain
from glade.env.protocol import render


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
