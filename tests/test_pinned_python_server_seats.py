"""Tests written by a mutation audit of the python seats (glade.seats.python) and the server
seats (glade.seats.server: which statuses are retried, which errors become which named fault,
what the request carries, how a completion is read): each pins a behaviour that a plausible
one-line change (a comparison flipped, a clause dropped, a constant changed) left untested.
The comment on each names what it guards. The second audit's server tests are in
test_pinned_bounds_gossip_servers.py (whose doubles are reused here); this audit's tests of the lm-eval
harness are in test_pinned_lm_eval_harness.py."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request

import pytest
from fake_server import completion
from seat_checks import assert_all_held, observations, server_seat
from test_pinned_bounds_gossip_servers import ScriptedOpener, http_error, seat_with, sleeps  # noqa: F401 (a fixture)

from glade.env import parallel_env
from glade.env.action_schema import portable_schema
from glade.seats import Decision, PythonSeat, SeatAnswerError, SeatSpecError, load
from glade.seats import server as server_module
from glade.seats.python import load_python

# --------------------------------------------------------------------------- server: retries and faults


@pytest.mark.parametrize("code", [408, 429, 500, 502, 503, 504])
def test_every_retryable_status_is_tried_again_up_to_the_retries(sleeps, code):  # noqa: F811
    # guards RETRYABLE's statuses and `range(retries + 1)`: 2 retries are 3 tries, then one fault
    opener = ScriptedOpener(http_error(code))
    policy = seat_with(opener, retries=2, backoff=0.1)
    assert_all_held(policy.act(observations()[:1]), f"server_http_{code}")
    assert opener.calls == 3 and len(sleeps) == 2
    assert policy.faults == {f"http_{code}": 1}


@pytest.mark.parametrize("code", [400, 401, 404, 409, 422])
def test_a_client_error_is_tried_once(sleeps, code):  # noqa: F811
    # guards RETRYABLE naming only the statuses asking again can help
    opener = ScriptedOpener(http_error(code))
    policy = seat_with(opener, retries=3)
    assert_all_held(policy.act(observations()[:1]), f"server_http_{code}")
    assert opener.calls == 1 and sleeps == []


@pytest.mark.parametrize(
    "error, fault, tries",
    [
        (TimeoutError("read timed out"), "timeout", 3),
        (urllib.error.URLError(TimeoutError("connect timed out")), "timeout", 3),
        (urllib.error.URLError(ConnectionRefusedError()), "refused", 3),
        (ConnectionResetError("reset by peer"), "refused", 3),
        (http.client.RemoteDisconnected("closed"), "refused", 3),
        (http.client.BadStatusLine("SSH-2.0"), "bad_response", 1),
        (http.client.IncompleteRead(b"{"), "bad_response", 1),
        (OSError("network unreachable"), "refused", 3),
    ],
    ids=["timeout", "url_timeout", "url_refused", "reset", "disconnected", "not_http", "cut_chunk", "oserror"],
)
def test_each_transport_error_becomes_its_named_fault(sleeps, error, fault, tries):  # noqa: F811
    # guards _exchange's except clauses: which error is which fault, and which are retried
    opener = ScriptedOpener(error)
    policy = seat_with(opener, retries=2, backoff=0.1)
    assert_all_held(policy.act(observations()[:1]), f"server_{fault}")
    assert opener.calls == tries and policy.faults == {fault: 1}


def test_faults_are_counted_per_seat_by_kind(sleeps):  # noqa: F811
    # guards `faults[fault] += 1` once per failed seat (not per try, not under another name)
    opener = ScriptedOpener(http_error(502))
    policy = seat_with(opener, retries=1, backoff=0.1, concurrency=1)
    decisions = policy.act(observations()[:3])
    assert_all_held(decisions, "server_http_502")
    assert opener.calls == 6 and policy.faults == {"http_502": 3}


def test_a_retry_after_of_zero_seconds_is_waited_as_zero(sleeps):  # noqa: F811
    # guards retry_after's `0 <= seconds`: "0" asks for no wait, not for the backoff
    assert server_module.retry_after("0") == 0.0
    assert server_module.retry_after("-1") is None and server_module.retry_after("inf") is None
    opener = ScriptedOpener(http_error(503, "0"), http_error(503, "0"), http_error(400))
    policy = seat_with(opener, retries=3, backoff=5.0)
    assert_all_held(policy.act(observations()[:1]), "server_http_400")
    assert sleeps == [0.0, 0.0]


def test_a_retry_after_on_a_500_is_not_read(sleeps):  # noqa: F811
    # guards `exc.code in (429, 503)`: only those two statuses' Retry-After is a request to wait
    opener = ScriptedOpener(http_error(500, "30"), http_error(400))
    assert_all_held(seat_with(opener, retries=2, backoff=0.25).act(observations()[:1]), "server_http_400")
    assert sleeps == [0.25]


# --------------------------------------------------------------------------- server: what is sent


def test_the_request_carries_the_seats_max_tokens_temperature_and_a_seed_of_zero(fake_server):
    # guards the body's max_tokens and temperature (not the defaults) and `seed is not None`
    server = fake_server(lambda n, body, headers: (200, completion('{"orders": []}')))
    server_seat(server.base_url + "/", max_tokens=17, temperature=0.7, seed=0).act(observations()[:1])
    [request] = server.requests
    assert request["path"] == "/v1/chat/completions"  # a trailing slash on base_url is not doubled
    body = request["body"]
    assert body["max_tokens"] == 17 and body["temperature"] == 0.7 and body["seed"] == 0


def test_the_usage_counts_reach_the_decision_each_in_its_place(fake_server):
    # guards _completion's (prompt_tokens, completion_tokens) order
    server = fake_server(lambda n, body, headers: (200, completion('{"orders": []}', 611, 9)))
    [decision] = server_seat(server.base_url).act(observations()[:1])
    assert (decision.prompt_tokens, decision.completion_tokens, decision.error) == (611, 9, None)


def test_a_loopback_host_is_known_by_name_or_address():
    # guards is_loopback: "localhost" in any case and the whole 127/8 block, never a private LAN
    assert server_module.is_loopback("LocalHost") and server_module.is_loopback("127.0.0.2")
    assert server_module.is_loopback("::1")
    assert not server_module.is_loopback("10.0.0.1") and not server_module.is_loopback("example.org")
    assert not server_module.is_loopback(None)


def test_a_remote_server_keeps_the_environments_proxy(monkeypatch):
    # guards `if is_loopback(...)`: only loopback seats drop the proxy
    monkeypatch.setenv("http_proxy", "http://proxy.invalid:3128")

    def proxies(policy) -> list[dict]:  # an empty ProxyHandler opens nothing: the opener leaves it out
        return [h.proxies for h in policy._opener.handlers if isinstance(h, urllib.request.ProxyHandler)]

    [remote] = proxies(server_seat("http://10.1.2.3:8000/v1"))
    assert remote["http"] == "http://proxy.invalid:3128"
    assert proxies(server_seat("http://localhost:8000/v1")) == []


# --------------------------------------------------------------------------- server: reading a completion


def body_with(choices: list, usage=None) -> bytes:
    return json.dumps({"choices": choices, "usage": usage or {}}).encode()


def test_a_completion_without_content_is_empty_text_not_a_bad_response():
    # guards `content is None -> ""`: a model that said nothing answered (a parse error, no fault)
    message = {"role": "assistant", "content": None}
    assert server_module._completion(body_with([{"message": message, "finish_reason": "stop"}])) == ("", 0, 0, "stop")


def test_content_parts_are_joined_as_they_are_and_parts_without_text_skipped():
    # guards the parts' `"".join` and the `isinstance(p.get("text"), str)` filter
    parts = [
        {"type": "text", "text": '{"orders": '},
        {"type": "image", "text": 5},
        "x",
        {"type": "text", "text": "[]}"},
    ]
    text, *_ = server_module._completion(body_with([{"message": {"content": parts}}]))
    assert text == '{"orders": []}'


def test_the_first_choice_is_read_and_a_finish_reason_that_is_no_string_is_none():
    # guards `choices[0]` and the finish_reason type check
    first = {"message": {"content": "first"}, "finish_reason": 7}
    second = {"message": {"content": "second"}, "finish_reason": "stop"}
    assert server_module._completion(body_with([first, second])) == ("first", 0, 0, None)


@pytest.mark.parametrize("value, count", [(True, 0), (-3, 0), (2.7, 2), ("5", 0), (float("nan"), 0), (12, 12)])
def test_a_token_count_is_a_whole_non_negative_number(value, count):
    # guards _count: a bool is no count, a negative one is 0, a float is cut to a whole count
    assert server_module._count(value) == count


# --------------------------------------------------------------------------- action_schema: portable_schema


def order_schema(goods: list[str], max_items: int) -> dict:
    forms = [
        {"type": "object", "properties": {"good": {"const": g}, "side": {"const": s}}} for g in goods for s in "bs"
    ]
    orders = {"type": "array", "items": {"anyOf": forms}, "maxItems": max_items}
    return {"type": "object", "properties": {"orders": orders}}


def test_up_to_five_goods_every_longest_sequence_of_distinct_goods_is_spelled_out():
    # guards `len(goods) <= PORTABLE_GOODS`, `permutations(goods, maxItems)` and `"items": False`
    portable = portable_schema(order_schema(list("abcde"), 2))
    refs = portable["properties"]["orders"]["anyOf"]
    assert len(refs) == 20  # 5 x 4 ordered pairs of distinct goods
    assert all(r["items"] is False and len(r["prefixItems"]) == 2 for r in refs)
    assert refs[0]["prefixItems"] == [{"$ref": "#/$defs/order_a"}, {"$ref": "#/$defs/order_b"}]
    assert len(portable["$defs"]["order_c"]["anyOf"]) == 2  # both sides of good c


def test_past_five_goods_the_orders_array_is_left_to_the_parser():
    # guards the PORTABLE_GOODS bound from the other side: six goods keep the plain array
    portable = portable_schema(order_schema(list("abcdef"), 2))
    assert portable["properties"]["orders"]["maxItems"] == 2 and "anyOf" not in portable["properties"]["orders"]
    assert len(portable["$defs"]) == 6


# --------------------------------------------------------------------------- python seats


class Answers:
    """A python seat that answers what it was given (or `make(obs)` per observation)."""

    def __init__(self, answers=None, make=None, name="scripted"):
        self.answers, self.make, self.name = answers, make, name

    def act(self, observations):
        return self.answers if self.make is None else [self.make(obs) for obs in observations]


@pytest.fixture(scope="module")
def wood():
    obs, _ = parallel_env("default", turns=2).reset(seed=0)
    return obs  # oona holds 32 honey, thorn none


def test_more_answers_than_observations_is_a_named_error(wood):
    # guards `len(answers) != len(observations)` (more is as wrong as fewer)
    hold = {"orders": []}
    with pytest.raises(SeatAnswerError, match=r"one answer per observation \(1\), got list of 2"):
        PythonSeat(Answers([hold, hold])).act([wood["oona"]])


def test_a_tuple_of_answers_is_taken_as_a_list(wood):
    # guards `isinstance(answers, (list, tuple))`
    [decision] = PythonSeat(Answers(({"orders": []},))).act([wood["oona"]])
    assert decision == Decision({"orders": []}, text='{"orders": []}', error=None, repaired=False)


def test_each_action_dict_is_read_against_its_own_observation(wood):
    # guards zip(answers, observations): thorn holds no honey, so only oona's sale stands
    sell = {"orders": [{"side": "sell", "good": "honey", "qty": 30, "price": 3}]}
    oona, thorn = PythonSeat(Answers(make=lambda obs: sell)).act([wood["oona"], wood["thorn"]])
    assert oona.error is None and oona.action["orders"][0]["qty"] == 30
    assert thorn.error == "sell_not_held" and thorn.action == {"orders": []}


def test_an_action_dict_the_parser_repaired_says_so(wood):
    # guards the Decision's `repaired` from the parse (a qty written as a string)
    [decision] = PythonSeat(Answers([{"orders": [{"side": "sell", "good": "honey", "qty": "1", "price": 3}]}])).act(
        [wood["oona"]]
    )
    assert decision.repaired is True and decision.action["orders"][0]["qty"] == 1


def test_a_decision_in_the_action_space_form_is_rewritten_with_names(wood):
    # guards _decision's `replace(answer, action=named)` and the tuple of orders becoming a list
    indexed = Decision({"orders": ({"side": 1, "good": 0, "qty": 2, "price": 4.0},)}, error="mine")
    [decision] = PythonSeat(Answers([indexed])).act([wood["oona"]])
    assert decision.action == {"orders": [{"side": "sell", "good": "honey", "qty": 2, "price": 4.0}]}
    assert decision.error == "mine"  # the rest of the Decision is the seat's own


def test_a_decision_with_a_tuple_of_named_orders_is_taken_as_a_list(wood):
    # guards _named_action taking a tuple of orders (not only a list) and listing it
    named = Decision({"orders": ({"side": "buy", "good": "acorns", "qty": 1, "price": 2.0},)})
    [decision] = PythonSeat(Answers([named])).act([wood["oona"]])
    assert decision.action == {"orders": [{"side": "buy", "good": "acorns", "qty": 1, "price": 2.0}]}


@pytest.mark.parametrize(
    "order",
    [
        {"side": "sell", "good": "honey", "qty": 1},  # no price
        {"side": "sell", "good": "honey", "qty": "lots", "price": 1.0},  # no whole qty for the row
        {"side": "sell", "good": "honey", "qty": float("inf"), "price": 1.0},  # int(inf) overflows
    ],
    ids=["missing_price", "qty_not_a_number", "qty_infinite"],
)
def test_a_decision_whose_orders_cannot_be_written_is_a_named_error(wood, order):
    # guards _check_action's ORDER_KEYS, its canonical() check and catching OverflowError
    with pytest.raises(SeatAnswerError, match="act returned a Decision whose action is not an action"):
        PythonSeat(Answers([Decision({"orders": [order]})])).act([wood["oona"]])


def test_two_python_seats_of_one_name_are_never_batched_together():
    # guards batch_key being the object, not its name: one batch is one object's act
    assert PythonSeat(Answers(name="same")).batch_key() != PythonSeat(Answers(name="same")).batch_key()


def test_python_seat_specs_refuse_an_entry_point_without_a_colon_and_a_blank_name(tmp_path, monkeypatch):
    # guards load_python's `":" not in entry` and the name's strip()
    (tmp_path / "glade_test_blank.py").write_text(
        "class Blank:\n    name = '  '\n\n    def act(self, observations):\n        return []\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    # `load` checks the spec's form first: load_python's own check is for a direct call
    with pytest.raises(SeatSpecError, match=r"expected 'module:factory', got 'glade_test_blank'"):
        load_python({"kind": "python", "entry_point": "glade_test_blank"})
    with pytest.raises(SeatSpecError, match="a seat whose name is '  '; it must be a non-empty string"):
        load({"kind": "python", "entry_point": "glade_test_blank:Blank"})
