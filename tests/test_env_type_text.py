"""One home for two concepts: a key named twice travels beside plain JSON values (`Decoded.twice`,
`Extracted.twice`), and a type hint is worded by `schema.type_text` for scenarios and recipes alike."""

from __future__ import annotations

import enum
import typing
from dataclasses import dataclass

import pytest

from glade.env.jsonfix import extract_json_object
from glade.env.jsonrepair import Decoded, decode
from glade.env.schema import ConfigError, type_text
from glade.train.recipe import check_fields
from tests.test_parser_review import SELL, SELL_TEXT, oona, outcome  # noqa: F401  (oona: a fixture)

TWICE_TEXT = '{"side":"buy","good":"berries","qty":1,"qty":5,"price":3}'


def test_a_key_named_twice_is_reported_by_path_beside_plain_dicts():
    assert decode('{"a":1,"b":[{"c":1,"c":2}],"a":3}') == Decoded(
        {"a": 3, "b": [{"c": 2}]}, {(): {"a"}, ("b", 0): {"c"}}
    )
    found = extract_json_object(f"[{SELL_TEXT}, {TWICE_TEXT}]")  # a bare order list: paths under "orders"
    assert found.twice == {("orders", 1): {"qty"}}
    assert type(found.value) is dict and all(type(o) is dict for o in found.value["orders"])
    assert extract_json_object(f'{{"orders":[{SELL_TEXT}]}}').twice == {}


@pytest.mark.parametrize(
    "text, expected",
    [
        # a bare order list, and one the repairing parser read: only the order that named a key twice goes
        (
            f"[{SELL_TEXT}, {TWICE_TEXT}]",
            ({"orders": [SELL]}, "duplicate_key", ("bare_order_list",), ["duplicate_key"]),
        ),
        (
            f"{{'orders': [{SELL_TEXT}, {TWICE_TEXT},]}}",
            ({"orders": [SELL]}, "duplicate_key", ("single_quotes", "trailing_comma"), ["duplicate_key"]),
        ),
        # orders given as one object, not a list
        (f'{{"orders": {TWICE_TEXT}}}', ({"orders": []}, "duplicate_key", ("orders_not_list",), ["duplicate_key"])),
        # a lone order's gossip named twice: the order goes, and there is no top-level gossip to drop
        (
            '{"side":"sell","good":"honey","qty":2,"price":9.5,"gossip":"a","gossip":"b"}',
            ({"orders": []}, "duplicate_key", ("single_order",), ["duplicate_key"]),
        ),
        # a key named twice deeper inside an order is not one of its keys
        (
            '{"orders":[{"side":"sell","good":"honey","qty":2,"price":9.5,"x":{"a":1,"a":2}}]}',
            ({"orders": [SELL]}, None, (), []),
        ),
    ],
)
def test_an_object_named_twice_anywhere_is_judged_where_it_sits(oona, text, expected):  # noqa: F811
    assert outcome(text, oona) == expected


class Colour(enum.Enum):
    RED = "red"


@dataclass(frozen=True)
class Inner:
    x: int = 0


@pytest.mark.parametrize(
    "hint, text",
    [
        (int, "an integer"),
        (float | None, "a number or null"),
        (typing.Optional[bool], "true or false or null"),  # noqa: UP045 - peft writes its hints so
        (list[str], "a list"),
        (list[int] | list[str], "a list"),
        (dict[str, int] | None, "a mapping or null"),
        (dict, "a mapping"),
        (Inner, "a mapping"),
        (Colour | str, "Colour or a string"),
        (typing.Literal["none", "all"], "one of none, all"),
    ],
)
def test_type_text_words_a_hint_once_for_every_layer(hint, text):
    assert type_text(hint) == text


@dataclass
class Fields:
    bias: typing.Literal["none", "all"] = "none"
    rate: float = 0.1
    tags: list[str] | None = None


@pytest.mark.parametrize(
    "given, message",
    [
        ({"bias": "some"}, "lora.bias: expected one of none, all, got 'some'"),  # was "expected Literal"
        ({"tags": 5}, "lora.tags: expected a list or null, got 5"),
        ({"rate": float("nan")}, "lora.rate: expected a finite number, got nan"),
    ],
)
def test_a_recipe_field_is_worded_as_a_scenario_key_is(given, message):
    with pytest.raises(ConfigError) as info:
        check_fields(given, Fields, {}, None, "lora")
    assert str(info.value) == message
