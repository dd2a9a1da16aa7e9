"""The repairing JSON parser behind `jsonfix`: one left-to-right pass over a damaged value.

`lenient(s, i, may_close)` re-emits strict JSON from the value opening at s[i] (quotes, keys,
literals, escapes, commas fixed, each fix named) and says where it stopped, so a caller can tell
what a failed value covered. Its decoder keeps a key named twice visible (`Decoded.twice`),
never last-wins silently.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Decoded:
    """A JSON value (plain dicts and lists) and {path: keys named twice} for each object in it
    that named a key twice, keeping the last value (which one was meant is unknown). A path is the
    keys and indices down to the object, () for the value itself."""

    value: Any
    twice: dict = field(default_factory=dict)


class _Twice(Exception):
    """An object named a key twice: `raw_decode` reads the value again, naming the keys."""


def _object(pairs: list) -> dict:
    value = dict(pairs)
    if len(value) < len(pairs):  # rare: stop here rather than track keys in every object
        raise _Twice
    return value


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999 parses as inf; a price of inf is not an answer
        raise ValueError(text)
    return number


def _reject(name: str) -> None:
    raise ValueError(name)  # NaN / Infinity are not JSON


_DECODER = json.JSONDecoder(parse_float=_finite, parse_constant=_reject, object_pairs_hook=_object)


def raw_decode(s: str, i: int) -> tuple[Decoded, int]:
    """The strict JSON value opening at s[i] (no NaN, no inf) and where it ends; raises as
    `json.JSONDecoder.raw_decode` does (ValueError, RecursionError)."""
    try:
        value, end = _DECODER.raw_decode(s, i)
        return Decoded(value), end
    except _Twice:
        pass
    marked = []  # (object, its keys named twice), for this one read: no state shared between threads

    def named_twice(pairs: list) -> dict:
        value, seen, twice = dict(pairs), set(), set()
        for key, _ in pairs:
            (twice if key in seen else seen).add(key)
        if twice:
            marked.append((value, frozenset(twice)))
        return value

    decoder = json.JSONDecoder(parse_float=_finite, parse_constant=_reject, object_pairs_hook=named_twice)
    value, end = decoder.raw_decode(s, i)
    return Decoded(value, _paths(value, marked)), end


def _paths(value: Any, marked: list) -> dict:
    """{path: keys} for the `marked` objects, found in `value` by identity (all are alive, held in `marked`)."""
    keys = {id(obj): twice for obj, twice in marked}
    paths, todo = {}, [((), value)]
    while todo:  # no recursion: the value may nest as deep as the decoder allowed
        path, node = todo.pop()
        if isinstance(node, dict):
            if id(node) in keys:
                paths[path] = keys[id(node)]
            todo.extend(((*path, k), v) for k, v in node.items())
        elif isinstance(node, list):
            todo.extend(((*path, k), v) for k, v in enumerate(node))
    return paths


# quote -> its string and its closing quote (empty for one the end of the text cut off).
_STRINGS = {
    '"': re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*\\?)("?)', re.S),
    "'": re.compile(r"'([^'\\]*(?:\\.[^'\\]*)*\\?)('?)", re.S),
    "“": re.compile(r"[“”]([^“”]*)([“”]?)"),
    "‘": re.compile(r"[‘’]([^‘’]*)([‘’]?)"),
}
_STRINGS["”"], _STRINGS["’"] = _STRINGS["“"], _STRINGS["‘"]
_STRING_FIX = re.compile(r'\\(u[0-9a-fA-F]{4}|["\\/bfnrt])|\\(.?)|(")|([\x00-\x1f])', re.S)
_NUMBER = re.compile(r"-?[0-9][0-9.eE+-]*")
_WORD = re.compile(r"[^\W\d][\w-]*")
_COLON_AHEAD = re.compile(r"\s*:")
_BLANK_TO_END = re.compile(r"\s*\Z")
_SPACE = re.compile(r"\s*")
_END_MARKS = ("```", "<|", "</")  # a fence or chat token after truncated JSON ends it
_LITERALS = {"true": "true", "false": "false", "null": "null", "True": "true", "False": "false", "None": "null"}
_CLOSER = {"{": "}", "[": "]"}


def _fix_one(m: re.Match) -> str:
    valid, other, quote, control = m.groups()
    if valid is not None:  # a valid JSON escape stays
        return m.group(0)
    if quote is not None:  # a bare " inside a '...' or “...” string
        return '\\"'
    if other is None:  # a raw control character
        return json.dumps(control)[1:-1]
    if other == "'":  # \' is a common slip for '
        return "'"
    # Any other backslash is a literal one (a dangling one at a truncated end is dropped).
    return "\\\\" + json.dumps(other)[1:-1] if other else ""


def _closable(level: list) -> bool:
    # An object after a value or comma (or just opened); an array anywhere but mid-pair.
    return level[1] in ("next", "key") or (level[1] == "value" and level[0] == "]")


def lenient(s: str, i: int, may_close: bool) -> tuple:
    """Parse a damaged value opening at s[i]: (Decoded or None, end, repairs, closed). For a value
    that failed, `end` is where it stopped: what it covered ends there.

    One pass re-emits strict JSON. Each open container keeps [closer, state, start, cut]:
    its grammar state ("key", "colon", "value", "next") catches prose early, so a stray
    brace in a sentence costs little; `cut` is where its last whole item ends, so truncated
    output can be cut back there and closed.
    """
    out, fixes = [s[i]], set()
    stack = [[_CLOSER[s[i]], "key" if s[i] == "{" else "value", 1, 1]]
    pending = False  # a comma was read; it is written only once another item follows
    j, n = i + 1, len(s)
    while j < n:
        c = s[j]
        if c.isspace():
            j += 1
            continue
        top = stack[-1]
        closer, state = top[0], top[1]
        if c == ",":
            if state != "next":
                return None, j, fixes, False
            top[1], top[3], pending = ("key" if closer == "}" else "value"), len(out), True
            j += 1
            continue
        if c == ":":
            if state != "colon":
                return None, j, fixes, False
            out.append(":")
            top[1] = "value"
            j += 1
            continue
        if c in "}]":
            if c != closer and all(level[0] != c for level in stack):
                return None, j, fixes, False
            while True:  # a } that skips an open [ closes it too
                top = stack.pop()
                if not _closable(top):
                    return None, j, fixes, False
                if pending:
                    fixes.add("trailing_comma")
                    pending = False
                out.append(top[0])
                if top[0] == c:
                    break
                fixes.add("closed_braces")
            j += 1
            if not stack:
                break
            continue

        # A key or a value.
        key_slot = closer == "}" and state in ("key", "next")
        is_key = cut = False
        if c in _STRINGS:
            m = _STRINGS[c].match(s, j)
            raw = m.group(1)
            if m.group(2) and (len(raw) - len(raw.rstrip("\\"))) % 2:
                raw += "\\"  # a curly quote closed it: no backslash escapes one, so a last lone \ is literal
            body = _STRING_FIX.sub(_fix_one, raw)
            if c != '"':
                fixes.add("single_quotes" if c == "'" else "smart_quotes")
            elif body != m.group(1) and m.group(2):  # a string cut off is dropped, not repaired
                fixes.add("string_escapes")
            tok, k, is_key, cut = '"' + body + '"', m.end(), key_slot, not m.group(2)
        elif c in "{[":
            tok, k = c, j + 1
        elif c in "-0123456789" and (m := _NUMBER.match(s, j)):
            if m.end() == n:  # cut off by the end of the text: "price": 9 may have been 95, so
                j = n  # it is dropped with its key, as a half-written word is, never guessed at
                break
            tok, k = m.group(), m.end()  # the decoder judges it at the end
        else:
            m = _WORD.match(s, j)
            word = m.group() if m else c
            k = j + len(word)
            if m and key_slot and _COLON_AHEAD.match(s, k):
                tok, is_key = '"' + word + '"', True
                fixes.add("unquoted_keys")
            elif word in _LITERALS:
                tok = _LITERALS[word]
                if word[0].isupper():
                    fixes.add("python_literals")
            elif _BLANK_TO_END.match(s, k):  # a half-written word at the very end
                j = n
                break
            elif s.startswith(_END_MARKS, j):  # a closing fence or chat token ends the JSON
                break
            else:
                return None, j, fixes, False  # prose, not JSON
        if state == "next":  # two items with no comma between them
            if not (closer == "]" or is_key):
                return None, j, fixes, False
            top[3] = len(out)
            out.append(",")
            fixes.add("missing_commas")
            state = "key" if closer == "}" else "value"
        elif pending:
            out.append(",")
            pending = False
        if state == "colon" or (state == "key" and not is_key):
            return None, j, fixes, False
        if cut:  # no closing quote: "price": "9 may have been "95", so it goes with its key, as a number
            if closer == "}":  # cut off does; an order cut in its first value stays, to be named
                del out[top[3] :]
                top[1] = "next" if top[3] > top[2] else "key" if state == "value" else "colon"
            j = n
            break
        out.append(tok)
        top[1] = "colon" if state == "key" else "next"
        if c in "{[":
            stack.append([_CLOSER[c], "key" if c == "{" else "value", len(out), len(out)])
        j = k

    if stack:  # the text ran out with containers open: truncated output
        if not may_close:
            # A list the text leaves open right after its only item covers no more than that item
            # (`ok :-[ {...}`): reading the item alone loses nothing the list held.
            if len(stack) == 1 and stack[0][1] == "next" and stack[0][3] == 1 and not pending:
                return None, _SPACE.match(s, i + 1).end(), fixes, False
            return None, j, fixes, False
        fixes.add("closed_braces")
        closers = "".join(level[0] for level in reversed(stack))
        attempts = ["".join(out) + closers] if _closable(stack[-1]) else []
        # Else cut back to the innermost container's last whole item (dropping it if empty).
        top = stack[-1]
        if top[3] == top[2] and len(stack) > 1:
            closers, top = closers[1:], stack[-2]
        attempts.append("".join(out[: top[3]]) + closers)
        for attempt in attempts:
            decoded = decode(attempt)
            if decoded is not None:
                return decoded, j, fixes, True
        return None, j, fixes, False
    return decode("".join(out)), j, fixes, False


def decode(text: str) -> Decoded | None:
    """`text` (a value lenient re-emitted: it opens at 0) as strict JSON, or None."""
    try:
        decoded, end = raw_decode(text, 0)
    except (ValueError, RecursionError):
        return None
    return decoded if end == len(text) else None
