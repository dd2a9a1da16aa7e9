"""The words glade's cards and reports share, one home each: the terms more than one of them defines
(the traces card, the model card, the eval report's glossary), a count said with its noun, and a run's
seeds in a few characters, an interval's level. A place may add its own words after a term's, never other ones. And how a
card or report writes a user's name in Markdown (md_text, md_code, md_block, md_row) and a local path for
the Hub (portable)."""

from __future__ import annotations

import os
import re
from pathlib import Path

# each in one wording; `term` gives it (the disposition's with the stand-ins glade ships)
TERMS = {
    "turn": "counted from 0; the prompt a creature reads says Turn t+1",
    "seat": "one creature's place in an episode and what sits in it: a rule-based stand-in or a live model",
    "stand-in": (
        "glade's rule-based creature policy, trading by one disposition; each creature has its own in each "
        "scenario (its scenario stand-in)"
    ),
    "disposition": "a stand-in's trading temperament, the rules by which it buys, holds and sells",
    "council": (
        'the seats an episode\'s creatures sit in, as a recipe names them (creature -> seat, "*" for every other '
        "creature); a creature it names no seat for sits on its scenario stand-in"
    ),
}


def term(name: str, more: str = "") -> tuple[str, str]:
    """(name, its shared definition followed by `more`, the place's own words)."""
    words = TERMS[name]
    if name == "disposition":
        from glade.env.standin import DISPOSITIONS  # the Wood's, read only when a disposition is defined

        words += f" ({', '.join(DISPOSITIONS)}, or one a disposition file defines)"
    return name, words + more


def counted(n: int, word: str, words: str = "") -> str:
    """`n word`, with `words` (else word + s) when n is not 1: "1 seed", "1,079 rows", "2 policies"."""
    return f"{n:,} " + (word if n == 1 else words or word + "s")


def seed_spans(seeds) -> str:
    """`0-3, 9` for seeds 0, 1, 2, 3, 9 (sorted first, each once)."""
    spans: list[list[int]] = []
    for seed in sorted({int(s) for s in seeds}):
        if spans and seed == spans[-1][1] + 1:
            spans[-1][1] = seed
        else:
            spans.append([seed, seed])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in spans)


def seeds_text(seeds) -> str:
    """`seeds 100-139`, `seed 7`, `seeds 1, 3, 5` or `no seeds`: a run's seeds in prose."""
    seeds = list(seeds)
    if not seeds:
        return "no seeds"
    return ("seed " if len(set(seeds)) == 1 else "seeds ") + seed_spans(seeds)


# --------------------------------------------------------------------------- Markdown and paths, for the cards
# The names a card or report carries (councils, policies, scenarios and their descriptions, recipes) are the
# user's: in Markdown they must read as typed, never as markup, and a local path must not reach the Hub.

# Escaped by md_text: a backslash before these is read as an escape (CommonMark's ASCII punctuation).
_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_ENTITY = re.compile(r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
_NEWLINE = re.compile(r"\r\n|[\r\n]")
_PIPE = re.compile(r"(?<!\\)((?:\\\\)*)\|")  # a pipe after an even number of backslashes: not escaped


def md_text(text, inside: bool = False) -> str:
    """Text as Markdown shows it, as typed, on one line (a newline is a space: it would end a table row or
    start a heading). A Markdown character in it must not turn into markup (emphasis, code, a link, raw
    HTML, strikethrough) or, as `|`, add a table column. Each character that could is escaped with a
    backslash; one that cannot is left, so ordinary text reads byte for byte as before: `_` inside a word
    (all_panic, creature__0__1), a lone `*` or `~` (emphasis needs two: the focal wildcard "(*: panic"),
    `]` before anything but `(` or `[`, `<` or `&` that start no tag or entity. `inside`: the text sits
    inside emphasis or a link's brackets ("*caption*", "![title]"), where a lone `*` or any bracket ends
    them early."""
    text = _NEWLINE.sub(" ", str(text))
    out = []
    for i, ch in enumerate(text):
        after = text[i + 1 : i + 2]
        if ch == "\\":
            escape = after in _PUNCT or not after  # before punctuation it escapes it; at a line's end it breaks it
        elif ch in "*_~":
            # a run of _ between letters or digits neither opens nor closes emphasis (a_b, a__b)
            intraword = ch == "_" and text[:i].rstrip("_")[-1:].isalnum() and text[i:].lstrip("_")[:1].isalnum()
            escape = not intraword and ((inside and ch == "*") or text.count(ch) > 1)
        elif ch in "[]":
            escape = inside or (ch == "]" and after in ("(", "["))  # [text](link), [text][ref]
        elif ch == "<":
            escape = after.isalpha() or after in ("/", "!", "?")  # a tag, a comment, an autolink
        elif ch == "&":
            escape = bool(_ENTITY.match(text, i))
        else:
            escape = ch in "`|"
        out.append("\\" + ch if escape else ch)
    return "".join(out)


def _fence(text: str, least: int) -> str:
    """Backticks, at least `least` of them and more than the longest run of backticks in `text`."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(least, longest + 1)


def md_code(text) -> str:
    """`text` as inline code, whole and on one line: a backtick in it would end a one-backtick span early,
    so the span's fence is longer than any backtick run inside (padded with a space where the text starts
    or ends with one, which CommonMark strips)."""
    text = _NEWLINE.sub(" ", str(text))
    fence = _fence(text, 1)
    pad = " " if text[:1] == "`" or text[-1:] == "`" or (text[:1] == text[-1:] == " " and text.strip()) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_block(text: str, info: str = "") -> str:
    """A fenced code block of `text` (`info`: its language), its fence longer than any backtick run inside,
    so no line of it (a YAML string holding ```) closes the block early."""
    fence = _fence(text, 3)
    return f"{fence}{info}\n{text.rstrip()}\n{fence}\n"


def md_row(cells) -> str:
    """A Markdown table row: each `|` not yet escaped is (GitHub splits cells on it even inside a code span,
    and reads `\\|` there as `|`), and a newline is a space, so a cell never adds a column or ends the row."""
    return "| " + " | ".join(_PIPE.sub(r"\1\\|", _NEWLINE.sub(" ", str(c))) for c in cells) + " |"


def level_percent(level: float) -> str:
    """An interval's level as a percentage, as exact as it was given: 0.995 is 99.5%, not a rounded 100%."""
    return f"{round(level * 100, 6):g}%"


def portable(value):
    """`value` (a recipe or meta.json as parsed, or one label: a scenario given by path) with every absolute
    local path shortened to its last part: a card goes to the Hub, and `/home/alice/runs/traces` says nothing
    there but who ran it and where. Relative paths and Hub ids stay as they are."""
    if isinstance(value, dict):
        return {key: portable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [portable(item) for item in value]
    if isinstance(value, str) and (os.path.isabs(value) or value.startswith("~")):
        return Path(value).name or value
    return value
