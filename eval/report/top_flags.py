"""The report's last section: the top flags of flags.json, ranked by score, each with its
first example decision (report.md) or its first three in folds (report.html)."""

from __future__ import annotations

import html
import math

from glade.eval.families import effect_text, scenario_text
from glade.eval.flags_text import decision_errors, played, visible
from glade.eval.verdict_text import example_where

from .data import TOP_FLAGS
from .markup import Section, html_table, md_table, md_text


def _num(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return format(value, fmt)


def flag_rows(flags: list[dict]) -> tuple[list[str], list[list[str]], list[dict]]:
    ranked = sorted(flags, key=_rank_key, reverse=True)[:TOP_FLAGS]
    header = [
        "#",
        "kind",
        "scenario",
        "council",
        "cast",
        "creature",
        "policy",
        "phase",
        "metric",
        "stand-in",
        "live",
        "effect [CI]",
        "support",
        "n",
        "q",
        "score",
        "first example",
    ]
    rows = []
    for i, f in enumerate(ranked, 1):
        examples = f.get("examples") or []
        ex = examples[0] if examples else {}
        where = example_where(ex) if ex else "—"
        rows.append(
            [
                str(i),
                _text(f.get("kind")),
                scenario_text(f) if f.get("scenario") is not None else "—",  # several where they played alike
                *(_text(f.get(k)) for k in ("council", "cast", "creature", "policy", "phase", "metric")),
                _num(_float(f.get("standin_value")), ".3g"),
                _num(_float(f.get("live_value")), ".3g"),
                effect_text(f),
                _num(_float(f.get("support")), ".0%"),
                _text(f.get("n")),
                _num(_float(f.get("q")), ".2g"),
                _num(_float(f.get("score")), ".3g"),
                where,
            ]
        )
    return header, rows, ranked


def _rank_key(flag: dict) -> tuple[bool, float]:
    """Highest score first; a flag without a number last (a NaN key would stop the sort)."""
    score = _float(flag.get("score"))
    return (not math.isnan(score), 0.0 if math.isnan(score) else score)


def _float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _text(value) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def flag_sections(page) -> list[Section]:
    r = page.r
    if not r.flags:
        return [
            Section(
                "flags",
                f"Flags (top {TOP_FLAGS})",
                [f"*{md_text(r.flags_note, inside=True)}*"],
                [f'<p class="note">{html.escape(r.flags_note)}</p>'],
            )
        ]
    header, rows, ranked = flag_rows(r.flags)
    errors = decision_errors(r.decisions)
    about = (
        f"{len(r.flags)} flag(s) in flags.json, ranked by score; policy: the model in that seat (a council that rotates "
        "its models seats a different one on a creature in each cast); the first example points at a row of "
        "decisions.parquet: episode, turn (from 0, as there; the prompt's Turn is one more) and creature. n and support: "
        "seeds for an outcome flag (a council's casts on a seed averaged first), episodes for a decision flag."
    )
    # the examples in a full-width row under their flag: as a last column they were crushed to a sliver
    element = html_table(
        header[:-1],
        [row[:-1] for row in rows],
        {9, 10, 11, 12, 13, 14, 15},
        under=lambda i: _examples_html(ranked[i], errors, i + 1),
    )
    return [
        Section(
            "flags",
            f"Flags (top {TOP_FLAGS})",
            [about, ""] + md_table(header, rows),
            [f'<p class="caption">{html.escape(about)}</p>', element],
        )
    ]


def _examples_html(flag: dict, errors: dict, rank: int) -> str:
    parts = []
    for ex in (flag.get("examples") or [])[:3]:
        summary = html.escape(example_where(ex) + (f"; {ex['outcome']}" if ex.get("outcome") else ""))
        sides = (("prompt", "prompt"), ("response", "response"), ("standin_action", "stand-in action"))
        blocks = [(label, ex[key]) for key, label in sides if ex.get(key) is not None]
        if extra := played(ex, errors):  # a cut-off answer: its error and the part of it played, after the answer
            blocks.insert(len(blocks) - (ex.get("standin_action") is not None), extra)
        body = "".join(
            f"<b>{html.escape(visible(label))}</b>"
            + ("" if text is None else f"<pre>{html.escape(visible(str(text)[:4000]))}</pre>")
            for label, text in blocks
        )
        parts.append(f"<details><summary>{summary}</summary>{body}</details>")
    return f"<b>examples of flag {rank}:</b> " + ("".join(parts) or "—")
