"""A flag in words: where it sits, its effect and metric, the flag rule, and its examples, as
flags.md, the report and the model card write them."""

from __future__ import annotations

import json
import re

from .families import scenario_text
from .verdict_text import example_where

# C0 and C1 controls but newline and tab, DEL, and the bidi marks, embeddings, overrides and isolates
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """`text` with each control character shown as its escape (\\x1b, \\u202e): a model's answer is
    written into flags.md and the report, where an escape sequence would reach the terminal that shows
    the file and a bidi override would reorder what the reader sees."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], str(text))


def _fence(text: str) -> str:
    """A Markdown code block around `text` (its controls shown visibly), its fence longer than any
    backtick run inside."""
    text = visible(text)
    ticks = run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        ticks = max(ticks, run)
    fence = "`" * max(3, ticks + 1)
    return f"{fence}\n{text.rstrip()}\n{fence}"


def number(value, digits: int = 3) -> str:
    """A flag's value for a table: 3 digits, '-' when missing."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) >= 1000 else f"{value:.{digits}f}"
    return str(value)


def where(flag: dict) -> str:
    """scenario / council[.cN] / creature / phase, leaving out what an outcome flag lacks; every
    scenario that played the cell alike, as flags.md and the report name them."""
    council = flag["council"] + (f".c{flag['cast']}" if flag.get("cast") is not None else "")
    parts = [scenario_text(flag), council, flag.get("creature"), flag.get("phase")]
    return " / ".join(p for p in parts if p)


# Why a flag's interval can reach 0 (glossary, flags.md, model card: one wording)
ACROSS_ZERO = (
    "the t interval, its long side widened by Hall's skewness correction, both read at the degrees of freedom the "
    "sample's excess kurtosis leaves; on a skewed effect at few seeds that "
    "side can reach past every observed value, even across 0 where the sign-flip test (q) flags the cell: the test "
    "asks whether the signs are random, the interval where the mean may lie"
)


def reaches_zero(flag: dict) -> bool:
    """A flag whose effect's interval holds 0 (the test flagged it; the interval does not exclude 0)."""
    return flag.get("ci_low") is not None and flag["ci_low"] <= 0 <= flag["ci_high"]


def metric_text(flag: dict) -> str:
    if flag["kind"] == "decision" and flag.get("instead"):
        return f"{flag['metric']} (instead of {flag['instead']})"
    return flag["metric"]


def method_text(method: dict) -> str:
    """The flag rule in one paragraph, with the counts of this run."""
    draws = f" ({method['resamples']:,} draws)" if "resamples" in method else ""  # a flags.json before it was kept
    return (
        f"Every cell tested ({method['cells']} cells: decisions per cast, creature, phase, good and direction; "
        f"outcomes per council and figure) with the sign-flip test over episodes (decisions) or seeds (outcomes), "
        f"exact up to 14 differing pairs and Monte Carlo beyond{draws}; Benjamini-Hochberg at "
        f"q = {method['fdr_q']} over the {method['testable']} cells whose smallest attainable p could reach it. "
        f"A flag needs q <= {method['fdr_q']}, |effect| >= {method['flag_min_effect']} (for figures in units, "
        f"such as gambit P&L and volume, relative to the stand-in's mean magnitude) and support >= "
        f"{method['flag_support']}; a decision cell is flagged on the side the live seat takes more often (the side "
        f"it takes less often is named as `instead`, not flagged again). An effect's interval is {ACROSS_ZERO}."
    )


def decision_errors(decisions) -> dict[tuple[str, int, str], str]:
    """(episode_id, turn, creature) -> the error the parser named, for the decisions (a
    decisions.parquet table) that had one: the report's examples read it here."""
    if not len(decisions) or not {"episode_id", "turn", "creature", "error"} <= set(decisions.columns):
        return {}
    named = decisions[decisions["error"].notna()]
    keys = zip(named["episode_id"], named["turn"], named["creature"], named["error"], strict=True)
    return {(str(e), int(t), str(c)): str(error) for e, t, c, error in keys}


def _same_action(response, action: str) -> bool:
    """Whether the answer reads as the action played: the same JSON (a clean JSON answer), or the same text."""
    try:
        return json.loads(str(response)) == json.loads(action)
    except ValueError:
        return str(response).strip() == action.strip()


def played(example: dict, errors: dict | None = None) -> tuple[str, str | None] | None:
    """(label, the action played or None) to show under a live answer that is not what was played:
    the decision had an error (a cut-off answer: the parser played the orders it could read), or its
    action differs from the answer as written (prose, a dropped key, a rounded price); None where
    the answer is the action. The error is the example's own, else looked up in `errors` (decision_errors)."""
    error = example.get("error")
    if not error and errors:
        error = errors.get((str(example.get("episode_id")), int(example.get("turn", -1)), str(example.get("creature"))))
    action = example.get("action")  # None in a flags.json from before examples carried it
    if not error and (action is None or _same_action(example.get("response"), str(action))):
        return None
    if action is None:
        return f"error: {error}", None
    return "action played" + (f" (error: {error})" if error else ""), str(action)


def examples_md(examples: list[dict]) -> list[str]:
    lines = []
    if not examples:
        return ["(no live decisions to show)", ""]
    for e in examples:
        lines += [f"#### {example_where(e)}", ""]
        lines += [f"Outcome: {e['outcome']}", ""] if e.get("outcome") else []
        lines += ["Prompt:", "", _fence(e["prompt"]), ""]
        lines += ["Live answer:", "", _fence(e["response"]), ""]
        if shown := played(e):
            label, action = shown
            lines += [visible(label[0].upper() + label[1:]) + ":", ""] + (
                [_fence(action), ""] if action is not None else []
            )
        lines += ["Stand-in action:", "", _fence(e["standin_action"]), ""]
    return lines
