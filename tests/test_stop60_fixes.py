"""What stop 60 fixed: a string in curly quotes that ends in a backslash kept it (it was taken for a
backslash dangling at a cut-off end and dropped, though the closing quote was there)."""

from __future__ import annotations

import pytest

from glade.env.jsonrepair import lenient


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("[“C:\\dir\\”]", "C:\\dir\\"),  # a lone last backslash is literal: nothing escapes a curly quote
        ("[‘x\\’]", "x\\"),
        ("[“a\\\\”]", "a\\"),  # an escaped backslash stays one backslash, as before
    ],
)
def test_a_closed_curly_string_keeps_its_last_backslash(text, value):
    decoded, end, fixes, _closed = lenient(text, 0, False)
    assert decoded.value == [value]
    assert (end, fixes) == (len(text), {"smart_quotes"})


def test_a_cut_off_string_still_drops_its_dangling_backslash():
    for text in ("[“abc\\", '["abc\\'):
        decoded, end, _fixes, _closed = lenient(text, 0, False)
        assert decoded is None and end == len(text)
