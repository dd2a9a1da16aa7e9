"""Malformed answers are named outcomes (an error, a dropped order, a named repair), never a trade
the model did not write: an unclosed think block, a fragment of a damaged order list, a quoted
number the text cut off, a key named twice or a key that swallowed JSON punctuation."""

from __future__ import annotations

import json

import pytest

from glade.env import parallel_env
from glade.env.jsonfix import ERRORS, extract_json_object
from glade.env.protocol import _canonical_observations, parse
from glade.seats.base import answer_error

HOLD = {"orders": []}
SELL = {"side": "sell", "good": "honey", "qty": 2, "price": 9.5}
SELL_TEXT = '{"side":"sell","good":"honey","qty":2,"price":9.5}'
DRAFT = '{"orders":[{"side":"sell","good":"honey","qty":30,"price":0.01}]}'


@pytest.fixture(scope="module")
def oona():
    """Oona at turn 0: honey 32 (she makes it), berries 2, 60 pebbles, honey's reference 10."""
    obs, _ = parallel_env("default", turns=2).reset(seed=0)
    return obs["oona"]


def outcome(text, obs):
    parsed = parse(text, obs)
    return parsed.action, parsed.error, parsed.repairs, [d["reason"] for d in parsed.dropped]


@pytest.mark.parametrize(
    "text",
    [
        f"<think>Option A would be {DRAFT} but that is silly. Let me think more about",
        f"<thinking>Option A would be {DRAFT}",
        f"<think>a</think><think>then {DRAFT} hm",  # a second block opened and never closed
        f"<|start|>assistant<|channel|>analysis<|message|>Maybe {DRAFT} hmm",  # no final channel
        f"<|channel|>analysis<|message|>Maybe {DRAFT}<|end|>",
    ],
)
def test_an_unclosed_think_block_is_never_read_as_the_answer(oona, text):
    assert outcome(text, oona) == (HOLD, "unclosed_think", (), [])
    assert answer_error(parse(text, oona), text, cut=False) == "unclosed_think"
    assert answer_error(parse(text, oona), text, cut=True) == "cut_off"  # the budget ended the thinking
    assert "unclosed_think" in ERRORS


@pytest.mark.parametrize(
    "text, repairs",
    [
        (f'<thinking>Option A would be {DRAFT} no</thinking>{{"orders": [{SELL_TEXT}]}}', ("think_block",)),
        # a template that opens <think> in the prompt sends only the closer
        (f'Option A would be {DRAFT}, no.</think>{{"orders": [{SELL_TEXT}]}}', ("think_block",)),
        # a think marker inside the answer object is its text
        (f'{{"orders": [{SELL_TEXT}], "thought": "<think> about honey"}}', ()),
        (
            f"<|channel|>analysis<|message|>Maybe {DRAFT}<|end|><|start|>assistant<|channel|>final<|message|>"
            f'{{"orders": [{SELL_TEXT}]}}',
            ("final_channel",),
        ),
    ],
)
def test_closed_reasoning_still_reads_the_answer_after_it(oona, text, repairs):
    action, error, got, dropped = outcome(text, oona)
    assert (action["orders"], error, got, dropped) == ([SELL], None, repairs, [])


def test_one_dropped_quote_in_an_order_list_is_bad_json_not_its_last_order(oona):
    text = (
        '{"orders":[{"side":"buy","good":"berries","qty":1,"price":2.5"}, '
        '{"side":"sell","good":"honey","qty":20,"price":0.5}]}'
    )
    assert outcome(text, oona) == (HOLD, "bad_json", (), [])
    # the same in a bare list, and a bare list the text cut off
    assert outcome(text[len('{"orders":') : -1], oona) == (HOLD, "bad_json", (), [])
    cut = f"[{SELL_TEXT}, " + '{"side": "buy", "good": "ber'
    assert outcome(cut, oona) == (HOLD, "bad_json", (), [])
    assert answer_error(parse(cut, oona), cut, cut=True) == "cut_off"


@pytest.mark.parametrize(
    "text, repairs",
    [
        (SELL_TEXT, ("single_order",)),
        (f"Sure: {SELL_TEXT} good luck", ("prose_around", "single_order")),
        (f"Plan: {{buy honey}} then {SELL_TEXT}", ("prose_around", "single_order")),  # a closed stray brace
        (f'{{"orders": [{SELL_TEXT}]}}', ()),
        (f"[{SELL_TEXT}]", ("bare_order_list",)),
    ],
)
def test_a_single_order_outside_any_failed_object_is_still_read(oona, text, repairs):
    action, error, got, dropped = outcome(text, oona)
    assert (action["orders"], error, got, dropped) == ([SELL], None, repairs, [])


def test_a_quoted_number_the_text_cut_off_is_dropped_with_its_key(oona):
    text = '{"orders": [{"side": "sell", "good": "honey", "qty": 20, "price": "1'
    assert outcome(text, oona) == (HOLD, "bad_price", ("closed_braces",), ["bad_price"])
    assert answer_error(parse(text, oona), text, cut=True) == "cut_off"
    assert extract_json_object(text).value == {"orders": [{"side": "sell", "good": "honey", "qty": 20}]}
    # an order cut in its first value stays, so it is named
    half = f'{{"orders": [{SELL_TEXT}, {{"side": "bu'
    assert outcome(half, oona) == ({"orders": [SELL]}, "bad_side", ("closed_braces",), ["bad_side"])
    # gossip cut off goes with its key; the orders before it are whole
    assert outcome(f'{{"orders": [{SELL_TEXT}], "gossip": "honey at', oona) == (
        {"orders": [SELL]},
        None,
        ("closed_braces",),
        [],
    )


def test_a_quoted_number_with_its_closing_quote_is_still_read(oona):
    text = '{"orders": [{"side": "sell", "good": "honey", "qty": "2", "price": "9.5"}]}'
    assert outcome(text, oona) == ({"orders": [SELL]}, None, ("qty_string", "price_string"), [])


def test_a_key_named_twice_is_rejected_never_last_wins(oona):
    order_twice = '{"orders":[{"side":"sell","good":"honey","qty":2,"price":9.5,"side":"buy"}]}'
    assert outcome(order_twice, oona) == (HOLD, "duplicate_key", (), ["duplicate_key"])
    bare_twice = '{"side":"sell","good":"honey","qty":2,"price":9.5,"side":"buy"}'
    assert outcome(bare_twice, oona) == (HOLD, "duplicate_key", ("single_order",), ["duplicate_key"])
    orders_twice = f'{{"orders":[{SELL_TEXT}],"orders":[]}}'
    assert outcome(orders_twice, oona) == (HOLD, "duplicate_key", (), [])
    assert "duplicate_key" in ERRORS
    # only the order that named a key twice goes
    both = f'{{"orders":[{SELL_TEXT}, {{"side":"buy","good":"berries","qty":1,"qty":5,"price":3}}]}}'
    assert outcome(both, oona) == ({"orders": [SELL]}, "duplicate_key", (), ["duplicate_key"])


def test_a_key_that_swallowed_punctuation_drops_its_order(oona):
    text = (
        '{"orders":[{"side":"sell","good":"berries","qty":2,"price:2.5},'
        '{side":"buy","good":"honey","qty":20,"price":0.5}]}'
    )
    assert outcome(text, oona) == (HOLD, "bad_key", (), ["bad_key"])
    kept = f'{{"orders":[{SELL_TEXT}, {{"side":"buy","good":"berries","qty":1,"price:3, x":1}}]}}'
    assert outcome(kept, oona) == ({"orders": [SELL]}, "bad_key", (), ["bad_key"])


def test_plain_extra_keys_are_still_ignored(oona):
    text = '{"orders": [{"side":"sell","good":"honey","qty":2,"price":9.5,"note":"x"}], "mood": "ok"}'
    assert outcome(text, oona) == ({"orders": [SELL]}, None, (), [])


# --------------------------------------------------------------------------- review of the rules above

ANSWER = f'{{"orders": [{SELL_TEXT}], "gossip": "honey will fall"}}'


@pytest.mark.parametrize(
    "text",
    [f"Prices {{honey: dear. {SELL_TEXT}", f"ok :-[ {SELL_TEXT}", f"Plan [sell honey: {SELL_TEXT}"],
)
def test_an_order_after_an_unclosed_bracket_in_prose_is_read(oona, text):
    # the failed '{' or '[' stopped before the order (or held nothing but it): the order is no fragment
    assert outcome(text, oona) == ({"orders": [SELL]}, None, ("prose_around", "single_order"), [])


def test_a_hold_after_an_unclosed_brace_in_prose_keeps_its_gossip(oona):
    text = 'Prices {honey: dear. {"gossip": "honey will fall"}'
    assert outcome(text, oona) == ({**HOLD, "gossip": "honey will fall"}, "no_orders", ("prose_around",), [])


@pytest.mark.parametrize(
    "text",
    [
        # several orders in a list the text leaves open: one of them is not the answer
        f"[{SELL_TEXT}, {SELL_TEXT.replace('sell', 'buy').replace('honey', 'berries')}",
        # an order damaged mid-list (not a lost quote): the orders after it are fragments too
        f'{{"orders":[{SELL_TEXT}, {{"side":"buy","good":"berries","qty":1,"price":2.5 pebbles}}, {SELL_TEXT}]}}',
        f'{{"orders":[{SELL_TEXT}, {{"side":"buy","good":"berries","qty":1,"price":2.5 pebbles}}, {SELL_TEXT}',
    ],
)
def test_orders_of_a_damaged_or_unclosed_list_are_still_never_read_alone(oona, text):
    assert outcome(text, oona) == (HOLD, "bad_json", (), [])


@pytest.mark.parametrize(
    "text, repairs",
    [
        (f"<think>a</think>{ANSWER} <think>", ("think_block", "prose_around")),  # a marker after the answer
        (f"Sure. I'll skip the <think> step.\n{ANSWER}", ("prose_around",)),  # a marker mentioned mid-sentence
        (f"{ANSWER}\n<think>Or maybe {DRAFT}", ("late_think",)),  # a block opened after the answer, never closed
    ],
)
def test_a_think_marker_after_or_around_a_complete_answer_does_not_refuse_it(oona, text, repairs):
    assert outcome(text, oona) == ({"orders": [SELL], "gossip": "honey will fall"}, None, repairs, [])


def test_a_block_opened_at_a_line_start_with_no_answer_before_it_is_still_thinking(oona):
    for text in (f"Let me see.\n<think>Option A would be {DRAFT} but", f"<think>a</think> x\n<think>{DRAFT}"):
        assert outcome(text, oona) == (HOLD, "unclosed_think", (), [])


@pytest.mark.parametrize("key", ["thought", "gossip"])
def test_free_text_named_twice_is_dropped_and_the_orders_kept(oona, key):
    text = f'{{"{key}":"a","orders":[{SELL_TEXT}],"{key}":"b"}}'
    assert outcome(text, oona) == ({"orders": [SELL]}, None, ("duplicate_text",), [])
    assert outcome(f'{{"{key}":"a","{key}":"b"}}', oona) == (HOLD, "no_orders", ("duplicate_text",), [])


def test_only_orders_named_twice_refuses_the_whole_answer(oona):
    assert extract_json_object(f'{{"orders":[{SELL_TEXT}],"orders":[]}}').error == "duplicate_key"
    text = f'{{"orders":[{SELL_TEXT}],"gossip":"a","thought":"t","gossip":"b"}}'
    assert outcome(text, oona) == ({"orders": [SELL], "thought": "t"}, None, ("duplicate_text",), [])


def test_an_order_list_whole_inside_a_broken_answer_is_read_as_a_bare_order_list(oona):
    # unescaped quotes break the object; its order list parses whole and is read, named, gossip gone
    text = f'{{"orders":[{SELL_TEXT}], "gossip": "honey "will" fall"}}'
    assert outcome(text, oona) == ({"orders": [SELL]}, None, ("prose_around", "bare_order_list"), [])


# The canonical observation, two orders it can place, and an answer holding both.
O1 = {"side": "sell", "good": "honey", "qty": 3, "price": 4.5}
O2 = {"side": "buy", "good": "acorns", "qty": 2, "price": 4.2}
O1_TEXT, O2_TEXT = (json.dumps(o) for o in (O1, O2))
A = json.dumps({"orders": [O1, O2], "gossip": "honey is cheap"})


@pytest.fixture(scope="module")
def canon():
    return _canonical_observations()[0]


@pytest.mark.parametrize("tail", ["\n<think>double-check</think>", "\n<think>\n\n</think>", "\n</think>"])
def test_a_think_block_closed_after_the_answer_is_skipped_not_read_as_empty(canon, tail):
    parsed = parse(A + tail, canon)
    assert (parsed.action, parsed.error, parsed.repairs, parsed.dropped) == (json.loads(A), None, ("think_block",), ())
    assert answer_error(parsed, A + tail, cut=True) is None


def test_a_closer_with_no_opener_still_ends_thought_written_as_prose(canon):
    # the template opened the block: the draft before the closer is thought, not the answer
    assert outcome(f"Option A would be {DRAFT}, no.</think>", canon) == (HOLD, "empty", (), [])
    assert outcome(f"{A}\n<think>check</think>\nDone.", canon) == (
        json.loads(A),
        None,
        ("think_block", "prose_around"),
        [],
    )


def test_an_answer_before_a_late_unclosed_block_is_cut_off_when_the_budget_ended_it(canon):
    fmt = '{"orders": [{"side": "buy", "good": "acorns", "qty": 1, "price": 4.0}]}'
    text = f"Format: {fmt}\n<think>\nLet me consider my honey"
    parsed = parse(text, canon)
    assert (parsed.action, parsed.error, parsed.repairs, parsed.dropped) == (
        json.loads(fmt),
        None,
        ("late_think", "prose_around"),
        (),
    )
    assert answer_error(parsed, text, cut=False) is None
    assert answer_error(parsed, text, cut=True) == "cut_off"  # mid-thought: what it meant is unknown
    parsed = parse(A + "\n<think>\nhmm", canon)
    assert (parsed.action, parsed.error, parsed.repairs) == (json.loads(A), None, ("late_think",))
    assert answer_error(parsed, A + "\n<think>\nhmm", cut=True) == "cut_off"


@pytest.mark.parametrize("draft", [f"Draft: [{O2_TEXT}", f'Draft: {{"order": {O2_TEXT}'])
def test_a_draft_left_unclosed_on_a_line_of_prose_does_not_swallow_the_answer_after_it(canon, draft):
    text = f"{draft}\nHmm, no. Final: {O1_TEXT}"
    assert outcome(text, canon) == ({"orders": [O1]}, None, ("prose_around", "single_order"), [])
    # an unclosed list of two orders the text simply ends in is still a damaged answer
    assert outcome(f"[{O1_TEXT}, {O2_TEXT}", canon) == (HOLD, "bad_json", (), [])
