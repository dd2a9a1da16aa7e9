"""Pull one JSON action object out of a small model's messy completion.

`extract_json_object(text)` never raises. It skips reasoning preambles (`<think>` blocks, harmony analysis
channels), finds the object inside prose or code fences, repairs the usual faults, and names every repair, so a
caller can count how often a model needed help. What it cannot read truly is a named error, never a guess: an
answer still reasoning at its end, a fragment of a damaged object, a key named twice, a value the text cut off.

The work is bounded: only the first `MAX_CHARS` of the answer (after any preamble) are read, well-formed JSON
goes to the C decoder, and the repairing parser is one left-to-right pass with a stack, so the cost stays linear
in the input (a budget stops pathological inputs from rescanning forever).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

MAX_CHARS = 20_000
# unclosed_think: a think block or analysis channel never ended; duplicate_key: a key named twice.
ERRORS = ("empty", "no_json", "bad_json", "not_object", "unclosed_think", "duplicate_key")
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


class DuplicateKeys(dict):
    """A JSON object that named a key twice (the last value kept): which one was meant is unknown."""


def _object(pairs: list) -> dict:
    return DuplicateKeys(pairs) if len({key for key, _ in pairs}) < len(pairs) else dict(pairs)


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


_DECODER = json.JSONDecoder(parse_float=_finite, parse_constant=_reject, object_pairs_hook=_object)

_HARMONY_STOPS = ("<|end|>", "<|return|>", "<|call|>", "<|start|>")
_THINK_ENDS = ("</think>", "</thinking>")
_THINK_END = re.compile("|".join(re.escape(end) for end in _THINK_ENDS))
_THINK_OPEN = re.compile(r"<think(?:ing)?>")
_ANALYSIS = re.compile(re.escape("<|channel|>analysis"))
_CHAT_ENDS = re.compile(r"<\|(?:im_end|eot_id|end|return|endoftext)\|>|</s>|<end_of_turn>")
_FENCE_TAIL = re.compile(r"(?:`{3,}|~{3,})[ \t]*[\w+.-]*\Z")
_FENCE_HEAD = re.compile(r"`{3,}|~{3,}")

# A '{' counts only if a key (or '}') could follow it, so "{{{{" or "{1}" in prose costs nothing.
_OPENER = re.compile(r"\{(?=\s*(?:[\"'“”‘’}]|[^\W\d]))|\[")
_FAST_TRIES = 32  # failed C-decoder tries before going lenient-only: each failure costs O(position)
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
_END_MARKS = ("```", "<|", "</")  # a fence or chat token after truncated JSON ends it
_LITERALS = {"true": "true", "false": "false", "null": "null", "True": "true", "False": "false", "None": "null"}
_CLOSER = {"{": "}", "[": "]"}
_BRACKET = re.compile(r"[{}\[\]]")


def extract_json_object(text: str, prefer_key: str = "orders") -> Extracted:
    """The JSON object a completion answers with: the last one holding `prefer_key`, else the last
    complete one, else the last one closed after truncation (never a fragment of a failed one)."""
    if text is None:
        return Extracted(None, "empty")
    if not isinstance(text, str):
        return Extracted(None, "no_json")
    seg, applied = _answer_segment(text)
    if seg is None:
        return Extracted(None, "unclosed_think")
    if not seg.strip():
        return Extracted(None, "empty")
    found, saw_list, failed_object = _scan(seg)
    keyed = [c for c in found if isinstance(prefer_key, str) and prefer_key in c[0]]
    # An object inside a larger one that failed is a fragment (one order of a damaged list), not an answer.
    whole = [c for c in found if not c[5]]
    complete = [c for c in whole if not c[4]]
    if not (keyed or whole):  # nothing found, or fragments only
        return Extracted(None, "bad_json" if failed_object or found else "not_object" if saw_list else "no_json")
    value, start, end, fixes, _closed, _inside = (keyed or complete or whole)[-1]
    if isinstance(value, DuplicateKeys):
        return Extracted(None, "duplicate_key")
    applied.update(fixes)
    applied.update(_outside(seg[:start], seg[end:]))
    return Extracted(value, None, tuple(r for r in REPAIRS if r in applied))


def _markers(text: str, *patterns: re.Pattern) -> list[list[re.Match]]:
    """Each pattern's matches outside every answer object: one in its thought or gossip is text, not a marker."""
    spans = [(lo, hi) for _, lo, hi, *_ in _scan(text[:MAX_CHARS])[0]]
    return [[m for m in p.finditer(text) if not any(lo < m.start() < hi for lo, hi in spans)] for p in patterns]


def _answer_segment(text: str) -> tuple[str | None, set[str]]:
    """The part of `text` holding the answer (None if still reasoning at its end), and the repairs made."""
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
    elif "<|channel|>analysis" in text and _markers(text, _ANALYSIS)[0]:
        return None, applied  # analysis with no final channel: whatever JSON it holds is a draft
    cut = -1
    if "think>" in text or "thinking>" in text:  # the last end marker ends the reasoning
        ends, opens = _markers(text, _THINK_END, _THINK_OPEN)
        cut = ends[-1].end() if ends else -1
        if opens and opens[-1].start() >= cut:
            return None, applied  # still thinking: an option it weighed is not its answer
    if cut >= 0:
        text = text[cut:]
        applied.add("think_block")
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS]
        applied.add("truncated_input")
    return text, applied


def _scan(seg: str) -> tuple[list, bool, bool]:
    """Every top-level object in `seg` as (value, start, end, repairs, closed, inside a failed '{' or '[').

    A brace that fails to parse is rescanned from the next character, since a stray '{' in
    prose may enclose the real object; the budget keeps such rescans linear overall.
    """
    found, saw_list, failed_object, failed = [], False, False, set()
    budget, failures = 4 * len(seg) + 4096, 0
    pos = 0
    while budget > 0 and (m := _OPENER.search(seg, pos)):
        i = m.start()
        value, end, fixes, closed, read = _parse_at(seg, i, fast=failures < _FAST_TRIES)
        budget -= read + 1
        if value is None or (closed and not value):  # closing "{" alone to "{}" proves nothing
            failed_object |= seg[i] == "{"
            failed.add(i)
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
    inside = _inside_failed(seg, failed, [c[1] for c in found]) if failed else set()
    return [(*c, c[1] in inside) for c in found], saw_list, failed_object


def _inside_failed(seg: str, failed: set[int], starts: list[int]) -> set[int]:
    """The `starts` inside a bracket opened at a `failed` start, counting brackets in strings too (quotes get lost)."""
    wanted, inside, stack, open_failed = set(starts), set(), [], 0
    for m in _BRACKET.finditer(seg, 0, max(starts, default=-1) + 1):
        p = m.start()
        if p in wanted and open_failed:
            inside.add(p)
        if m.group() in "{[":
            stack.append(p in failed)
            open_failed += p in failed
        elif stack:
            open_failed -= stack.pop()
    return inside


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
        is_key = cut = False
        if c in _STRINGS:
            m = _STRINGS[c].match(s, j)
            body = _STRING_FIX.sub(_fix_one, m.group(1))
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
