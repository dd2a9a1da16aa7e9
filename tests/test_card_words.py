"""The words the traces card, the model card and the eval report share (glade.words): one wording
for each term more than one of them defines, one count-with-its-noun, one seed range."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from glade.env import load_scenario
from glade.eval.report.data import Results
from glade.eval.report.glossary import glossary
from glade.eval.report.render import Page
from glade.eval.thresholds import Thresholds
from glade.hub.card_usage import terms_section as model_terms
from glade.traces_card import terms_section as traces_terms
from glade.words import TERMS, counted, seed_spans, seeds_text, term


def test_counts_and_seeds_are_said_one_way():
    assert [counted(1, "seed"), counted(1079, "row"), counted(2, "policy", "policies")] == [
        "1 seed", "1,079 rows", "2 policies",
    ]  # fmt: skip
    assert seed_spans([102, 100, 101, 139, 139]) == "100-102, 139"
    assert [seeds_text(range(100, 140)), seeds_text([7]), seeds_text([1, 3, 5]), seeds_text([])] == [
        "seeds 100-139", "seed 7", "seeds 1, 3, 5", "no seeds",
    ]  # fmt: skip


def defined(lines) -> dict[str, str]:
    """term -> words of a card's `- **term**: words` lines."""
    pairs = (line.removeprefix("- **").split("**: ", 1) for line in lines if line.startswith("- **"))
    return {name: words.removesuffix(".") for name, words in pairs}


def test_the_cards_and_the_report_define_the_shared_terms_in_the_same_words():
    results = Results(Path("."), pd.DataFrame(), pd.DataFrame({"error": []}), {}, {}, Thresholds())
    report = dict(glossary(Page(results, pd.DataFrame(), [], {}, {})))
    traces = defined(traces_terms({"default": load_scenario("default")}, None, {}).splitlines())
    model = defined(model_terms())
    assert "balanced, " in term("disposition")[1] and "a disposition file" in term("disposition")[1]
    for name in ("seat", "stand-in", "disposition", "council"):
        for place in (report, traces, model):
            assert place[name].startswith(TERMS[name]), (name, place[name])
    assert report["turn"].startswith(TERMS["turn"]) and traces["turn"] == TERMS["turn"]
