"""Pull one JSON action object out of a small model's messy completion.

`extract_json_object(text)` never raises. It skips reasoning preambles (`<think>` blocks,
harmony analysis channels), finds the object inside prose or code fences, repairs the
usual faults, and names every repair, so a caller can count how often a model needed help.

The work is bounded: only the first `MAX_CHARS` of the answer (after any preamble) are read,
well-formed JSON goes to the C decoder, and the repairing parser is one left-to-right pass
with a stack, so the cost stays linear in the input (a budget stops pathological inputs
from rescanning forever).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

MAX_CHARS = 20_000
ERRORS = ("empty", "no_json", "bad_json", "not_object")
# Every repair name, in the order `Extracted.repairs` lists them.
REPAIRS = (
    "truncated_input",  # input longer than MAX_CHARS; only the head was read
    "final_channel",  # harmony output: only the final channel was read
    "think_block",  # a <think>...</think> preamble was skipped
    "code_fence",  # the object sat inside ``` fences
    "prose_around",  # other text around the object
    "bare_order_list",  # a top-level list of orders, wrapped as {"orders": [...]}
    "smart_quotes",  # “ ” ‘ ’ used as quotes
    "single_quotes",  # 'strings'
    "unquoted_keys",  # {side: "buy"}
    "python_literals",  # True / False / None
    "string_escapes",  # raw control characters or invalid backslash escapes in a string
    "missing_commas",  # two items with no comma between them
    "trailing_comma",  # [1, 2,]
    "closed_braces",  # truncated output closed (open string, arrays, objects), or a missing ] / }
)
ORDER_KEYS = frozenset({"side", "good", "qty", "price"})


@dataclass(frozen=True)
class Extracted:
    value: dict | None  # the JSON object found, or None
    error: str | None  # one of ERRORS when nothing usable was found
    repairs: tuple[str, ...] = ()  # names from REPAIRS; always () when value is None


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999 parses as inf; a price of inf is not an answer
        raise ValueError(text)
    return number


def _reject(name: str) -> None:
    raise ValueError(name)  # NaN / Infinity are not JSON


_DECODER = json.JSONDecoder(parse_float=_finite, parse_constant=_reject)

_HARMONY_STOPS = ("<|end|>", "<|return|>", "<|call|>", "<|start|>")
_THINK_ENDS = ("</think>", "</thinking>")
_THINK_END = re.compile("|".join(re.escape(end) for end in _THINK_ENDS))
_CHAT_ENDS = re.compile(r"<\|(?:im_end|eot_id|end|return|endoftext)\|>|</s>|<end_of_turn>")
_FENCE_TAIL = re.compile(r"(?:`{3,}|~{3,})[ \t]*[\w+.-]*\Z")
_FENCE_HEAD = re.compile(r"`{3,}|~{3,}")

# A '{' counts only if a key (or '}') could follow it, so "{{{{" or "{1}" in prose costs nothing.
_OPENER = re.compile(r"\{(?=\s*(?:[\"'“”‘’}]|[^\W\d]))|\[")
_FAST_TRIES = 32  # failed C-decoder tries before going lenient-only: each failure costs O(position)
# quote -> its string; one never closed runs to the end of the text (truncated output).
_STRINGS = {
    '"': re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*\\?)"?', re.S),
    "'": re.compile(r"'([^'\\]*(?:\\.[^'\\]*)*\\?)'?", re.S),
    "“": re.compile(r"[“”]([^“”]*)[“”]?"),
    "‘": re.compile(r"[‘’]([^‘’]*)[‘’]?"),
}
_STRINGS["”"], _STRINGS["’"] = _STRINGS["“"], _STRINGS["‘"]
_STRING_FIX = re.compile(r'\\(u[0-9a-fA-F]{4}|["\\/bfnrt])|\\(.?)|(")|([\x00-\x1f])', re.S)
_NUMBER = re.compile(r"-?[0-9][0-9.eE+-]*")
_WORD = re.compile(r"[^\W\d][\w-]*")
_COLON_AHEAD = re.compile(r"\s*:")
_BLANK_TO_END = re.compile(r"\s*\Z")
_END_MARKS = ("```", "<|", "</")  # a fence or chat token after truncated JSON ends it
_LITERALS = {"true": "true", "false": "false", "null": "null", "True": "true", "False": "false", "None": "null"}
_CLOSER = {"{": "}", "[": "]"}


def extract_json_object(text: str, prefer_key: str = "orders") -> Extracted:
    """The JSON object a completion answers with: the last one holding `prefer_key`, else the
    last complete one, else the last one closed after truncation."""
    if text is None:
        return Extracted(None, "empty")
    if not isinstance(text, str):
        return Extracted(None, "no_json")
    seg, applied = _answer_segment(text)
    if not seg.strip():
        return Extracted(None, "empty")
    found, saw_list, failed_object = _scan(seg)
    if not found:
        return Extracted(None, "bad_json" if failed_object else "not_object" if saw_list else "no_json")
    keyed = [c for c in found if isinstance(prefer_key, str) and prefer_key in c[0]]
    complete = [c for c in found if not c[4]]
    value, start, end, fixes, _closed = (keyed or complete or found)[-1]
    applied.update(fixes)
    applied.update(_outside(seg[:start], seg[end:]))
    return Extracted(value, None, tuple(r for r in REPAIRS if r in applied))


def _answer_segment(text: str) -> tuple[str, set[str]]:
    """The part of `text` that holds the answer, and the repairs naming what was skipped."""
    applied = set()
    k = text.rfind("<|channel|>final")
    if k >= 0:
        m = text.find("<|message|>", k)
        start = m + len("<|message|>") if m >= 0 else k + len("<|channel|>final")
    else:  # harmony decoded with its special tokens dropped reads "...assistantfinal{...}"
        k = text.rfind("assistantfinal")
        start = k + len("assistantfinal") if k >= 0 else -1
    if start >= 0 and any(lo < k < hi for _, lo, hi, *_ in _scan(text[:MAX_CHARS])[0]):
        start = -1  # the marker is text inside an answer object (say, its gossip), not a channel
    if start >= 0:
        text = text[start:]
        for stop in _HARMONY_STOPS:
            text = text.partition(stop)[0]
        applied.add("final_channel")
    cut = -1
    if any(end in text for end in _THINK_ENDS):
        # A marker inside an answer object (its thought or gossip) is text, not the end of a think
        # block, even when what follows it parses (`..."], "gossip": ...}` reads as an order list):
        # the last marker outside every object ends the block.
        spans = [(lo, hi) for _, lo, hi, *_ in _scan(text[:MAX_CHARS])[0]]
        ends = [m.end() for m in _THINK_END.finditer(text) if not any(lo < m.start() < hi for lo, hi in spans)]
        cut = ends[-1] if ends else -1
    if cut >= 0:
        text = text[cut:]
        applied.add("think_block")
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS]
        applied.add("truncated_input")
    return text, applied


def _scan(seg: str) -> tuple[list, bool, bool]:
    """Every top-level object in `seg` as (value, start, end, repairs, closed).

    A brace that fails to parse is rescanned from the next character, since a stray '{' in
    prose may enclose the real object; the budget keeps such rescans linear overall.
    """
    found, saw_list, failed_object = [], False, False
    budget, failures = 4 * len(seg) + 4096, 0
    pos = 0
    while budget > 0 and (m := _OPENER.search(seg, pos)):
        i = m.start()
        value, end, fixes, closed, read = _parse_at(seg, i, fast=failures < _FAST_TRIES)
        budget -= read + 1
        if value is None or (closed and not value):  # closing "{" alone to "{}" proves nothing
            failed_object |= seg[i] == "{"
            failures += 1
            pos = i + 1
            continue
        pos = end
        if isinstance(value, list):
            if not (value and all(isinstance(x, dict) and not ORDER_KEYS.isdisjoint(x) for x in value)):
                saw_list = True
                continue
            value, fixes = {"orders": value}, {*fixes, "bare_order_list"}
        found.append((value, i, end, fixes, closed))
    return found, saw_list, failed_object


def _parse_at(s: str, i: int, fast: bool) -> tuple:
    """Parse the value opening at s[i]: (value or None, end, repairs, closed, chars read)."""
    read = 0
    if fast:  # well-formed JSON: the C decoder, no repairs
        try:
            value, end = _DECODER.raw_decode(s, i)
            return value, end, (), False, end - i
        except json.JSONDecodeError as exc:
            read = exc.pos - i
        except ValueError:  # a NaN / inf we refuse
            read = 0
        except RecursionError:  # absurdly deep nesting: give up on this start
            return None, i, (), False, len(s) - i
    value, end, fixes, closed = _lenient(s, i, may_close=s[i] == "{")
    return value, end, fixes, closed, read + end - i


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


def _lenient(s: str, i: int, may_close: bool) -> tuple:
    """Parse a damaged value opening at s[i]: (value or None, end, repairs, closed).

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
        is_key = False
        if c in _STRINGS:
            m = _STRINGS[c].match(s, j)
            body = _STRING_FIX.sub(_fix_one, m.group(1))
            if c != '"':
                fixes.add("single_quotes" if c == "'" else "smart_quotes")
            elif body != m.group(1):
                fixes.add("string_escapes")
            tok, k, is_key = '"' + body + '"', m.end(), key_slot
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
        out.append(tok)
        top[1] = "colon" if state == "key" else "next"
        if c in "{[":
            stack.append([_CLOSER[c], "key" if c == "{" else "value", len(out), len(out)])
        j = k

    if stack:  # the text ran out with containers open: truncated output
        if not may_close:
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
            value = _decode(attempt)
            if value is not None:
                return value, j, fixes, True
        return None, j, fixes, False
    return _decode("".join(out)), j, fixes, False


def _decode(text: str):
    try:
        return _DECODER.decode(text)
    except (ValueError, RecursionError):
        return None


def _outside(before: str, after: str) -> set[str]:
    """Repairs named by the text around the chosen object: fences, prose."""
    applied = set()
    before = before.rstrip()
    while m := _FENCE_TAIL.search(before, max(0, len(before) - 64)):
        before = before[: m.start()].rstrip()
        applied.add("code_fence")
    after = _CHAT_ENDS.sub("", after)
    while m := _FENCE_HEAD.match(after := after.lstrip()):
        after = after[m.end() :]
        applied.add("code_fence")
    if before.strip() or after.strip():
        applied.add("prose_around")
    return applied
