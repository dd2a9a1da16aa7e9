"""What creatures make, feel and say: the production draw, mood, sentiment, the memory
summary, and gossip hygiene."""

from __future__ import annotations

import math
import re
import string
import unicodedata

import numpy as np

# Text in observations is printable ASCII (plus newline in multi-line fields): the
# observation space's Text charset, and no way for gossip to smuggle control bytes.
LINE_CHARSET = frozenset(string.ascii_letters + string.digits + string.punctuation + " ")
TEXT_CHARSET = "".join(sorted(LINE_CHARSET)) + "\n"


def production_trials(rate: float, factor: float = 1.0) -> int:
    """The most units `produced` can make in a turn: its coin flips, fraction included (the
    bound scenario_check.check_reach and patron.windfall_reach count on)."""
    return math.ceil(2 * rate * factor)


def produced(rng: np.random.Generator, rate: float, factor: float = 1.0) -> int:
    """Units made in a turn: binomial(2 x rate x factor, 1/2), mean exactly `rate` x `factor`.

    A count of flips that is not whole (stacked shocks: 1.0 x 0.5 x 0.5 is half a flip) takes
    one more flip with the fraction's probability; rounding it made 0 of an expected 0.25. The
    extra draw is made only for a fraction, so a whole count draws what it always drew."""
    flips = 2 * rate * factor
    trials = math.floor(flips)
    if flips > trials and rng.random() < flips - trials:
        trials += 1
    return int(rng.binomial(trials, 0.5)) if trials > 0 else 0


def heard_line(name: str, text: str) -> str:
    """One line of the gossip others hear (scenario_check.check_reach bounds their total)."""
    return f"{name}: {text}"


# Chat-role markers a creature could use to forge turns in another creature's prompt.
_ROLE_MARKERS = re.compile(
    r"<\|[^|<>]{0,40}\|>"  # <|im_start|>, <|system|>, <|channel|> ...
    r"|\[/?INST\]|<</?SYS>>|</?s>|</?think>"
    r"|(?:^|(?<=\s))(?:system|assistant|user|developer|tool)\s*:",
    re.IGNORECASE,
)


def sanitise_gossip(text, cap: int) -> str:
    """One printable line of at most `cap` characters with chat-role markers removed."""
    if not isinstance(text, str) or not text:
        return ""
    text = text[: cap * 8]  # bound the work before normalising
    # accents come apart under NFKD and their marks are dropped ("café" -> "cafe", not "cafe "),
    # and the fraction slash of "½" -> "1⁄2" reads as "/"
    text = unicodedata.normalize("NFKD", text).replace("\u2044", "/")
    kept = (ch if ch in LINE_CHARSET else " " for ch in text if not unicodedata.combining(ch))
    text = " ".join("".join(kept).split())
    for _ in range(8):  # markers can nest ("<|im_<|x|>start|>"): strip until stable
        # whitespace collapsed first, so the collapse cannot join what is left into a marker
        stripped = " ".join(_ROLE_MARKERS.sub(" ", text).split())
        if stripped == text:
            break
        text = stripped
    return text[:cap].strip()


FELT = 0.15  # a feeling this strong or stronger has a word


def feeling_word(value: float) -> str | None:
    if value >= 0.5:
        return "fond of"
    if value >= FELT:
        return "warm toward"
    if value <= -0.5:
        return "bitter toward"
    if value <= -FELT:
        return "wary of"
    return None


def memory_summary(feelings: dict[str, float], names: dict[str, str], shown: int) -> str:
    """The strongest feelings, bucketed: 'warm toward Oona, wary of the patron'.

    Prompts see only this; the exact numbers stay in the trace.
    """
    # Only feelings with a word are named, strongest first (ties by name); most turns have none.
    strong = []  # plain loops: a comprehension's setup costs more than five feelings
    for who, value in feelings.items():
        if value >= FELT or value <= -FELT:
            strong.append((-abs(value), who, value))
    if not strong:
        return "no strong feelings"
    strong.sort()  # (-strength, name): each name once, so the value is never compared
    words = []
    for _, who, value in strong[:shown]:
        words.append(f"{feeling_word(value)} {names.get(who, who)}")
    return ", ".join(words) or "no strong feelings"


def nudge(feelings: dict[str, float], who: str, delta: float) -> None:
    value = feelings.get(who)
    if value is not None:  # clamped to [-1, 1] as max(-1.0, min(1.0, value)) would, NaN included
        value += delta
        value = value if value < 1.0 else 1.0
        feelings[who] = value if value > -1.0 else -1.0


def next_mood(mood: float, fed_share: float, warm: bool, m) -> float:
    """Mood mean-reverts, rises when fed and warm, falls when hungry or cold; never below floor."""
    mood += m.reversion * (m.mean - mood)
    mood += m.fed * fed_share - m.hungry * (1.0 - fed_share)
    mood += m.warm if warm else -m.cold
    mood = mood if mood > m.floor else m.floor  # min(1.0, max(floor, mood)), without the calls
    return mood if mood < 1.0 else 1.0
