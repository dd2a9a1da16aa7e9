"""Pull one JSON action object out of a small model's messy completion.

`extract_json_object(text)` never raises. It skips reasoning preambles (`<think>` blocks, harmony analysis
channels), finds the object inside prose or code fences, repairs the usual faults, and names every repair, so a
caller can count how often a model needed help. What it cannot read truly is a named error, never a guess: an
answer still reasoning at its end, a fragment of a damaged object, a key named twice, a value the text cut off.

The work is bounded: only the first `MAX_CHARS` of the answer (after any preamble) are read, well-formed JSON
goes to the C decoder, and the repairing parser (`jsonrepair.lenient`) is one left-to-right pass with a stack,
so the cost stays linear in the input (a budget stops pathological inputs from rescanning forever).
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field

from .jsonrepair import lenient, raw_decode
from .market import ORDER_KEYS

MAX_CHARS = 20_000
# unclosed_think: a think block or analysis channel never ended; duplicate_key: a key named twice.
ERRORS = ("empty", "no_json", "bad_json", "not_object", "unclosed_think", "duplicate_key")
# Every repair name, in the order `Extracted.repairs` lists them.
REPAIRS = (
    "truncated_input",  # input longer than MAX_CHARS; only the head was read
    "final_channel",  # harmony output: only the final channel was read
    "think_block",  # a <think>...</think> block was skipped (a preamble, or one closed after the answer)
    "late_think",  # a block opened after the answer never closed: what came before it was read
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


@dataclass(frozen=True)
class Extracted:
    value: dict | None  # the JSON object found, or None
    error: str | None  # one of ERRORS when nothing usable was found
    repairs: tuple[str, ...] = ()  # names from REPAIRS; always () when value is None
    # {path: keys named twice} for the objects in value that did (each kept its last value): jsonrepair.Decoded
    twice: dict = field(default_factory=dict)


_HARMONY_STOPS = ("<|end|>", "<|return|>", "<|call|>", "<|start|>")
_THINK_ENDS = ("</think>", "</thinking>")
_THINK_END = re.compile("|".join(re.escape(end) for end in _THINK_ENDS))
_THINK_OPEN = re.compile(r"<think(?:ing)?>")
_ANALYSIS = re.compile(re.escape("<|channel|>analysis"))
_LINE_HEAD = re.compile(r"(?:\s|<[^<>\n]*>)*\Z")  # nothing but blanks and tags (<|im_start|>, </think>)
_CHAT_ENDS = re.compile(r"<\|(?:im_end|eot_id|end|return|endoftext)\|>|</s>|<end_of_turn>")
_FENCE_TAIL = re.compile(r"(?:`{3,}|~{3,})[ \t]*[\w+.-]*\Z")
_FENCE_HEAD = re.compile(r"`{3,}|~{3,}")

# A '{' counts only if a key (or '}') could follow it, so "{{{{" or "{1}" in prose costs nothing.
_OPENER = re.compile(r"\{(?=\s*(?:[\"'“”‘’}]|[^\W\d]))|\[")
_SPAN_TRIES = 3  # think blocks closed after the answer skipped, at most (each costs a pass over the text)
_FAST_TRIES = 32  # failed C-decoder tries before going lenient-only: each failure costs O(position)
_BRACKET = re.compile(r"[{}\[\]]")
_PROSE_LINE = re.compile(r"\s*[^\W\d]\Z")  # a line whose first character is a letter


def extract_json_object(text: str, prefer_key: str = "orders") -> Extracted:
    """The JSON object a completion answers with: the last one holding `prefer_key`, else the last
    complete one, else the last one closed after truncation. An object inside a value that failed to
    parse is a fragment (one order of a damaged list) and never read alone; one holding `prefer_key` is
    read even there: an order list that parses whole inside a broken answer is read as a bare order
    list (named `bare_order_list`). `prefer_key` named twice is `duplicate_key`; another key named
    twice is left to the caller (`Extracted.twice`)."""
    if text is None:
        return Extracted(None, "empty")
    if not isinstance(text, str):
        return Extracted(None, "no_json")
    text, applied = _answer_channel(text)
    if text is None:
        return Extracted(None, "unclosed_think")
    return _read_thought(text, applied, prefer_key, spans=_SPAN_TRIES)


def _read_thought(text: str, applied: set[str], prefer_key: str, spans: int) -> Extracted:
    seg, applied, thinking, without, bare = _think_cut(text, set(applied))
    found = _read(seg, set(applied), prefer_key)
    if found.error in ("empty", "no_json") and without is not None and spans > 0:
        # No answer, not even a broken one, after the last think end: a block closed after the answer
        # ("{...}\n<think>check</think>") is skipped. A closer with no opener ends a block the template
        # opened, so what stands before it is thought, unless that is nothing but the answer object.
        again = _read_thought(without, applied | {"think_block"}, prefer_key, spans - 1)
        if again.value is not None and not (bare and "prose_around" in again.repairs):
            return again
    # A block opened after the answer and never closed: what came before it is read, else it is still thinking.
    return Extracted(None, "unclosed_think") if thinking and found.value is None else found


def _read(seg: str, applied: set[str], prefer_key: str) -> Extracted:
    if not seg.strip():
        return Extracted(None, "empty")
    found, saw_list, failed_object = _scan(seg)
    keyed = [c for c in found if isinstance(prefer_key, str) and prefer_key in c[0]]
    # An object inside a larger one that failed is a fragment (one order of a damaged list), not an answer.
    whole = [c for c in found if not c[6]]
    complete = [c for c in whole if not c[4]]
    if not (keyed or whole):  # nothing found, or fragments only
        return Extracted(None, "bad_json" if failed_object or found else "not_object" if saw_list else "no_json")
    value, start, end, fixes, _closed, twice, _inside = (keyed or complete or whole)[-1]
    if prefer_key in twice.get((), ()):
        return Extracted(None, "duplicate_key")
    applied.update(fixes)
    applied.update(_outside(seg[:start], seg[end:]))
    return Extracted(value, None, tuple(r for r in REPAIRS if r in applied), twice)


def _markers(text: str, *patterns: re.Pattern) -> list[list[re.Match]]:
    """Each pattern's matches outside every answer object: one in its thought or gossip is text, not a marker."""
    spans = [(lo, hi) for _, lo, hi, *_ in _scan(text[:MAX_CHARS])[0]]
    return [[m for m in p.finditer(text) if not any(lo < m.start() < hi for lo, hi in spans)] for p in patterns]


def _answer_channel(text: str) -> tuple[str | None, set[str]]:
    """`text`'s harmony final channel if it has one (None if it reasons in an analysis channel and never
    answers), and the repairs made."""
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
    return text, applied


def _think_cut(text: str, applied: set[str]) -> tuple[str, set[str], bool, str | None, bool]:
    """The part of `text` after its reasoning, the repairs made, whether a think block opened after it
    never closed (then only what came before the block is kept), `text` without its last think block
    (None if it has none), and whether that block had no opener of its own."""
    cut, thinking, without, bare = -1, False, None, False
    if "think>" in text or "thinking>" in text:  # the last end marker ends the reasoning
        ends, opens = _markers(text, _THINK_END, _THINK_OPEN)
        if ends:
            cut, end = ends[-1].end(), ends[-1]
            lo = max((o.start() for o in opens if o.start() < end.start()), default=end.start())
            without, bare = text[:lo] + text[cut:], lo == end.start()
        # A block opened after that at a line's start is still thinking at the end: an option it weighs
        # there is not the answer. One mid-sentence ("I'll skip the <think> step") is a mention.
        opens = [o for o in opens if o.start() >= cut and _line_head(text, max(cut, 0), o.start())]
        if opens:
            text, thinking = text[: opens[0].start()], True
            applied.add("late_think")
    if cut >= 0:
        text = text[cut:]
        applied.add("think_block")
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS]
        applied.add("truncated_input")
    return text, applied, thinking, without, bare


def _line_head(text: str, lo: int, at: int) -> bool:
    """Whether only blanks and tags stand before `at` on its line (from `lo` on)."""
    return bool(_LINE_HEAD.match(text, max(lo, text.rfind("\n", 0, at) + 1), at))


def _scan(seg: str) -> tuple[list, bool, bool]:
    """Every top-level object in `seg` as (value, start, end, repairs, closed, keys named twice (by path),
    inside a failed '{' or '[').

    A brace that fails to parse is rescanned from the next character, since a stray '{' in
    prose may enclose the real object; the budget keeps such rescans linear overall.
    """
    found, saw_list, failed_object, failed = [], False, False, {}
    budget, failures = 4 * len(seg) + 4096, 0
    pos = 0
    while budget > 0 and (m := _OPENER.search(seg, pos)):
        i = m.start()
        decoded, end, fixes, closed, read = _parse_at(seg, i, fast=failures < _FAST_TRIES)
        budget -= read + 1
        if decoded is None or (closed and not decoded.value):  # closing "{" alone to "{}" proves nothing
            failed_object |= seg[i] == "{"
            failed[i] = end
            failures += 1
            pos = i + 1
            continue
        pos = end
        value, twice = decoded.value, decoded.twice
        if isinstance(value, list):
            if not (value and all(isinstance(x, dict) and not ORDER_KEYS.isdisjoint(x) for x in value)):
                saw_list = True
                continue
            value, fixes = {"orders": value}, {*fixes, "bare_order_list"}
            twice = {("orders", *path): keys for path, keys in twice.items()}
        found.append((value, i, end, fixes, closed, twice))
    inside = _inside_failed(seg, failed, [c[1] for c in found]) if failed else set()
    return [(*c, c[1] in inside) for c in found], saw_list, failed_object


def _inside_failed(seg: str, failed: dict[int, int], starts: list[int]) -> set[int]:
    """The `starts` inside a value that failed: after its opener and before the later of where its parse
    stopped (`failed`: opener -> stop) and its closing bracket, counting brackets in strings too (quotes get
    lost). One never closed reaches the end only if it read a whole object before it stopped (a damaged
    answer's first orders) and did not stop on a line of prose; else it is a stray '{' or '[' in prose, or
    a draft left unfinished, and covers what it read."""
    reach, stack = dict(failed), []
    for m in _BRACKET.finditer(seg):
        if m.group() in "{[":
            stack.append(m.start())
        elif stack and (opener := stack.pop()) in reach:
            reach[opener] = max(reach[opener], m.end())
    starts = sorted(starts)
    for opener in stack:  # never closed
        stop = failed.get(opener, -1)
        # A parse that stopped on a line of prose ("...}\nHmm, no.") was left there: it covers what it read.
        if bisect.bisect_left(starts, stop) > bisect.bisect_right(starts, opener) and not _PROSE_LINE.match(
            seg, seg.rfind("\n", 0, stop) + 1, stop + 1
        ):
            reach[opener] = len(seg)
    inside, furthest, openers, k = set(), -1, sorted(reach.items()), 0
    for p in starts:
        while k < len(openers) and openers[k][0] < p:
            furthest, k = max(furthest, openers[k][1]), k + 1
        if p < furthest:
            inside.add(p)
    return inside


def _parse_at(s: str, i: int, fast: bool) -> tuple:
    """Parse the value opening at s[i]: (Decoded or None, end, repairs, closed, chars read)."""
    read = 0
    if fast:  # well-formed JSON: the C decoder, no repairs
        try:
            decoded, end = raw_decode(s, i)
            return decoded, end, (), False, end - i
        except json.JSONDecodeError as exc:
            read = exc.pos - i
        except ValueError:  # a NaN / inf we refuse
            read = 0
        except RecursionError:  # absurdly deep nesting: give up on this start
            return None, i, (), False, len(s) - i
    decoded, end, fixes, closed = lenient(s, i, may_close=s[i] == "{")
    return decoded, end, fixes, closed, read + end - i


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
