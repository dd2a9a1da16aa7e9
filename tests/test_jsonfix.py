"""glade.env.jsonfix: one JSON action out of a small model's messy completion."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from glade.env.jsonfix import ERRORS, MAX_CHARS, REPAIRS, Extracted, extract_json_object

ORDER = {"side": "buy", "good": "honey", "qty": 3, "price": 9.5}
ACTION = {"orders": [ORDER], "gossip": "Moss is hoarding acorns"}
CLEAN = json.dumps(ACTION)


def check(text, value, error=None, repairs=(), **kw):
    got = extract_json_object(text, **kw)
    assert got == Extracted(value, error, tuple(repairs))


def test_clean_object_needs_no_repair():
    check(CLEAN, ACTION)
    check(f"\n  {CLEAN}\n", ACTION)  # surrounding whitespace is not prose


# One case per repair name.
REPAIR_CASES = {
    "final_channel": (
        '<|channel|>final<|message|>{"orders": []}<|return|>',
        {"orders": []},
        ["final_channel"],
    ),
    "think_block": (
        '<think>buy? {"orders": [1]}</think>\n{"orders": []}',
        {"orders": []},
        ["think_block"],
    ),
    "code_fence": ('```json\n{"orders": []}\n```', {"orders": []}, ["code_fence"]),
    "prose_around": ('My move: {"orders": []} -- done.', {"orders": []}, ["prose_around"]),
    "bare_order_list": (json.dumps([ORDER]), {"orders": [ORDER]}, ["bare_order_list"]),
    "smart_quotes": ("{“orders”: [], “gossip”: “it’s cold”}", {"orders": [], "gossip": "it’s cold"}, ["smart_quotes"]),
    "single_quotes": (
        "{'orders': [], 'gossip': 'say \"hi\"'}",
        {"orders": [], "gossip": 'say "hi"'},
        ["single_quotes"],
    ),
    "unquoted_keys": ('{orders: [], gossip: "x"}', {"orders": [], "gossip": "x"}, ["unquoted_keys"]),
    "python_literals": (
        '{"orders": [], "a": True, "b": False, "c": None}',
        {"orders": [], "a": True, "b": False, "c": None},
        ["python_literals"],
    ),
    "string_escapes": ('{"gossip": "line one\nit\\\'s \\d"}', {"gossip": "line one\nit's \\d"}, ["string_escapes"]),
    "missing_commas": (
        '{"orders": [{"qty": 1} {"qty": 2}] "gossip": ""}',
        {"orders": [{"qty": 1}, {"qty": 2}], "gossip": ""},
        ["missing_commas"],
    ),
    "trailing_comma": ('{"orders": [1, 2,], "gossip": "x",}', {"orders": [1, 2], "gossip": "x"}, ["trailing_comma"]),
    "closed_braces": (
        '{"orders": [{"side": "buy", "good": "hon',
        {"orders": [{"side": "buy"}]},
        ["closed_braces"],
    ),
}


@pytest.mark.parametrize("name", list(REPAIR_CASES))
def test_each_repair(name):
    text, value, repairs = REPAIR_CASES[name]
    assert name in repairs
    check(text, value, repairs=repairs)


def test_truncated_input():
    head = '{"orders": [], "pad": "'
    text = head + "x" * (2 * MAX_CHARS) + '"}'
    check(text, {"orders": []}, repairs=["truncated_input", "closed_braces"])


def test_every_repair_name_has_a_case():
    assert set(REPAIRS) == set(REPAIR_CASES) | {"truncated_input", "late_think"}  # late_think: test_parser_review


@pytest.mark.parametrize(
    "text, error",
    [
        (None, "empty"),
        ("", "empty"),
        ("  \n\t", "empty"),
        ('<think>{"orders": []}</think>', "empty"),  # thought, never answered
        (42, "no_json"),
        (b'{"orders": []}', "no_json"),
        ("I will hold this turn.", "no_json"),
        ("I'd pay [about] 3 pebbles", "no_json"),
        ('{"orders": [{"side": buy}]}', "bad_json"),  # unquoted value: not guessed at
        ('{"price": NaN}', "bad_json"),
        ('{"price": 1e999}', "bad_json"),  # overflows to inf
        ("[1, 2, 3]", "not_object"),
        ('[{"orders": []}]', "not_object"),
    ],
)
def test_each_error(text, error):
    assert error in ERRORS
    check(text, None, error)


def test_truncation_cuts_back_to_last_whole_item():
    text = '{"orders": [{"side": "buy", "qty": 3}, {"side": "sell", "qty'
    check(text, {"orders": [{"side": "buy", "qty": 3}, {"side": "sell"}]}, repairs=["closed_braces"])
    text = '{"orders": [{"side": "buy", "qty": 3}, {"si'
    check(text, {"orders": [{"side": "buy", "qty": 3}]}, repairs=["closed_braces"])
    check('{"orders": [{"side": "buy", "qty": tr', {"orders": [{"side": "buy"}]}, repairs=["closed_braces"])
    # A lone '{' closed to '{}' proves nothing.
    check("I think {x", None, "bad_json")


def test_missing_bracket_before_brace():
    check('{"orders": [{"qty": 1}}', {"orders": [{"qty": 1}]}, repairs=["closed_braces"])


def test_truncated_inside_fence():
    check(
        '```json\n{"orders": [{"side": "buy"\n```',
        {"orders": [{"side": "buy"}]},
        repairs=["code_fence", "closed_braces"],
    )


def test_harmony_final_channel_beats_analysis():
    text = (
        "<|start|>assistant<|channel|>analysis<|message|>Maybe "
        '{"orders": [{"side": "sell", "good": "acorns", "qty": 9, "price": 1}]} -- no, hold.<|end|>'
        '<|start|>assistant<|channel|>final<|message|>{"orders": []}<|return|>'
    )
    check(text, {"orders": []}, repairs=["final_channel"])
    # The same with special tokens dropped by the decoder.
    check('analysisMaybe {"orders": [1]}.assistantfinal{"orders": []}', {"orders": []}, repairs=["final_channel"])
    # A marker that is text inside the answer (its gossip) is not a channel boundary
    # (hypothesis found this one: the whole object was lost to the cut).
    for marker in ("assistantfinal", "<|channel|>final"):
        said = {"orders": [], "gossip": marker}
        check(json.dumps(said), said)
        check('analysis{"orders": [1]}assistantfinal' + json.dumps(said), said, repairs=["prose_around"])


def test_braces_and_quotes_inside_strings():
    value = {"orders": [], "gossip": 'a } b { c ] "quoted" \\ done', "thought": "{not json"}
    check(json.dumps(value), value)
    check("noise " + json.dumps(value) + " noise", value, repairs=["prose_around"])
    check("{'gossip': 'a } b {', 'orders': []}", {"gossip": "a } b {", "orders": []}, repairs=["single_quotes"])


def test_nested_fences():
    value = {"orders": [], "gossip": "use ```json fences``` {like this}"}
    text = "````markdown\n```json\n" + json.dumps(value) + "\n```\n````"
    check(text, value, repairs=["code_fence"])
    check("Here:\n~~~\n" + json.dumps(value) + "\n~~~", value, repairs=["code_fence", "prose_around"])


def test_prefers_last_object_with_prefer_key():
    text = '{"orders": [1]} and later {"gossip": "x"}'
    check(text, {"orders": [1]}, repairs=["prose_around"])
    check('{"orders": [1]} then {"orders": [2]}', {"orders": [2]}, repairs=["prose_around"])
    check(text, {"gossip": "x"}, repairs=["prose_around"], prefer_key="gossip")
    check('{"a": 1} {"b": 2}', {"b": 2}, repairs=["prose_around"])
    # Else the last complete object beats a later one closed after truncation.
    check('{"a": 1} {"b": 2, "c', {"a": 1}, repairs=["prose_around"])


def test_stray_brace_in_prose_before_the_object():
    check('I think { we should buy. {"orders": []} }', {"orders": []}, repairs=["prose_around"])
    check('Plan: {buy honey} then {"orders": []}', {"orders": []}, repairs=["prose_around"])


def test_odd_prefer_key_does_not_raise():
    check(CLEAN, ACTION, prefer_key=None)
    check(CLEAN, ACTION, prefer_key=["unhashable"])


def test_pathological_inputs_stay_fast():
    for text in ["{" * 50_000, "[" * 50_000, '{"a":' * 10_000, "{'" * 20_000, "x " * 500_000 + CLEAN]:
        got = extract_json_object(text)
        assert got.error in ERRORS or got.value is not None


# Properties: never raise; always a dict and no error, or no value and a named error.


def assert_well_formed(got):
    assert isinstance(got, Extracted)
    if got.value is not None:
        assert isinstance(got.value, dict) and got.error is None
        assert set(got.repairs) <= set(REPAIRS)
    else:
        assert got.error in ERRORS and got.repairs == ()


JUNK = st.sampled_from(
    list("{}[]\"':,` \n\\")
    + ["True", "None", "“", "”", "‘", "’", "```", "<|end|>", "</think>", "NaN", "-", "1e999", "{'a'", "\x00"]
)
ORDERS = st.fixed_dictionaries(
    {
        "side": st.sampled_from(["buy", "sell"]),
        "good": st.sampled_from(["honey", "acorns", "firewood", "mushrooms"]),
        "qty": st.integers(0, 500),
        "price": st.floats(0, 1e6, allow_nan=False, allow_infinity=False),
    }
)
ACTIONS = st.fixed_dictionaries({"orders": st.lists(ORDERS, max_size=4), "gossip": st.text(max_size=30)})


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=300), st.lists(JUNK, max_size=60).map("".join)))
def test_random_text_never_raises(text):
    assert_well_formed(extract_json_object(text))


@settings(max_examples=300, deadline=None)
@given(ACTIONS, st.booleans(), st.text(max_size=40))
@example({"orders": [], "gossip": "</thinking>"}, False, "")  # a think marker in the gossip is not a think block
# nor one in a thought written before the orders, though what follows it parses as an order list
@example(
    {"thought": "done </think>", "orders": [{"side": "sell", "good": "acorns", "qty": 1, "price": 2.0}]}, False, ""
)
def test_valid_action_round_trips(action, ascii_only, prose):
    text = json.dumps(action, ensure_ascii=ascii_only)
    assert extract_json_object(text) == Extracted(action, None, ())
    got = extract_json_object(f"{prose.replace('{', '').replace('[', '')}\n```json\n{text}\n```")
    assert got.value == action


@settings(max_examples=300, deadline=None)
@given(ACTIONS, st.data())
def test_mutated_action_never_raises(action, data):
    text = json.dumps(action, indent=data.draw(st.sampled_from([None, 2])))
    for _ in range(data.draw(st.integers(0, 4))):
        op = data.draw(st.sampled_from(["delete", "insert", "truncate"]))
        at = data.draw(st.integers(0, len(text)))
        if op == "delete":
            text = text[:at] + text[at + data.draw(st.integers(1, 8)) :]
        elif op == "insert":
            text = text[:at] + data.draw(JUNK) + text[at:]
        else:
            text = text[:at]
    got = extract_json_object(text)
    assert_well_formed(got)


@settings(max_examples=300, deadline=None)
@given(ACTIONS, st.data())
def test_truncated_action_keeps_a_prefix(action, data):
    text = json.dumps(action)
    got = extract_json_object(text[: data.draw(st.integers(0, len(text)))])
    assert_well_formed(got)
    if got.value is not None:  # what survives truncation is the action's, never invented
        assert set(got.value) <= set(action)
        assert len(got.value.get("orders", [])) <= len(action["orders"])


@pytest.mark.parametrize(
    "text, value",
    [
        # "price": 9 may have been 95.5: a number the text ends inside is dropped with its key
        (
            '{"orders": [{"side": "sell", "good": "honey", "qty": 2, "price": 9',
            {"orders": [{"side": "sell", "good": "honey", "qty": 2}]},
        ),
        ('{"orders": [{"side": "buy", "good": "honey", "qty": 12', {"orders": [{"side": "buy", "good": "honey"}]}),
        ('{"orders": [1, 2, 3', {"orders": [1, 2]}),
        # a number something follows (space, fence, chat token) was written out whole
        ('{"orders": [{"qty": 12 ', {"orders": [{"qty": 12}]}),
        ('{"orders": [{"qty": 12<|im_end|>', {"orders": [{"qty": 12}]}),
    ],
)
def test_a_number_cut_off_by_truncation_is_not_guessed_at(text, value):
    check(text, value, repairs=["closed_braces"])


@settings(max_examples=300, deadline=None)
@given(ACTIONS, st.data())
def test_truncation_never_invents_a_number(action, data):
    """Every number that survives a truncation is the action's own, digit for digit."""
    text = json.dumps(action)
    got = extract_json_object(text[: data.draw(st.integers(0, len(text)))])
    for i, order in enumerate(got.value.get("orders", []) if got.value else []):
        for key in ("qty", "price"):
            if key in order:
                assert order[key] == action["orders"][i][key], (key, order, action["orders"][i])
