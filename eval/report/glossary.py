"""The report's Terms section: each name the report uses for a figure, a flag's numbers, a lever,
a seat's attribution or error, or a cost, said once in words (the glossary), so the tables can
stay short. Every figure of the catalogue is defined, in its catalogue's words (eval/figures.py),
with the run's thresholds where a figure reads them (crash, bubble); the terms of levers and seat
attribution only where the run has them; the error codes listed are the ones this run's seats
made (env/market.py and env/protocol.py name them)."""

from __future__ import annotations

from glade.eval.figures import FIGURES
from glade.eval.flags_text import ACROSS_ZERO
from glade.eval.verdicts import LEVER_RULES, ROBUST_RULES, SEAM_RULES, rules_text
from glade.words import term

from .markup import Section, definition_list

# What a parser or order error means (the `error` column of decisions.parquet).
ERRORS = {
    "empty": "the answer was empty",
    "no_json": "the answer held no JSON object",
    "bad_json": "the answer's JSON did not parse, even repaired",
    "not_object": "the answer's JSON was not an object",
    "unclosed_think": (
        "the answer was still thinking when it ended (a think block or analysis channel never closed): "
        "nothing in it was read"
    ),
    "duplicate_key": "the answer's JSON named a key twice (in an order: that order is dropped; orders twice: a hold)",
    "no_orders": "a JSON object with no orders (read as a hold)",
    "orders_not_list": "orders was neither a list nor one order",
    "parser_fault": "the parser failed on the answer (read as a hold)",
    "cut_off": "the token budget ended the answer mid-thought or mid-order (raise max_new_tokens)",
    "not_an_order": "an order that is not an object",
    "bad_side": "an order's side is neither buy nor sell",
    "unknown_good": "an order names a good the Wood does not trade",
    "bad_qty": "an order's quantity is not a positive whole number",
    "absurd_qty": "an order's quantity is over the parser's limit",
    "bad_price": "an order's price is missing or not a positive number",
    "bad_key": "an order holding a key with JSON punctuation in it (a dropped quote ran two orders together)",
    "too_many_orders": "more orders than the parser takes",
    "both_sides": "a buy and a sell of the same good in one answer (the second is dropped)",
    "sell_not_held": "a sell of a good the creature does not hold",
    "no_pebbles": "a buy the creature's pebbles cannot pay for at its limit price",
}


def _threshold(method: dict, key: str, words: str) -> str:
    return f"; {words} {method[key]}" if method.get(key) is not None else ""


BEFORE = "a share of the price before the legend"


def _figure(name: str, more: str = "") -> tuple[str, str]:
    return name, FIGURES[name].about + more


def _thresholds(*given: tuple[str, float, str]) -> str:
    """The run's values of the thresholds a figure reads, (name, value, unit) each: "; in this run
    crash_drop 0.3 (a share of the price before the legend), crash_within 2 (turns)"."""
    return "; in this run " + ", ".join(f"{key} {value} ({unit})" for key, value, unit in given)


def figure_terms(page) -> list[tuple[str, str]]:
    """Every figure of the catalogue (tables, flags, levers and attribution name them), and the
    parts of the legend turn's move."""
    t = page.r.thresholds
    terms = [
        _figure("legend_ratio", " (the Results table's 'price at settlement / before')"),
        _figure("gambit_pnl", " (the Results table's 'gambit P&L')"),
        _figure("crash", _thresholds(("crash_drop", t.crash_drop, BEFORE), ("crash_within", t.crash_within, "turns"))),
        _figure("bubble", _thresholds(("bubble_rise", t.bubble_rise, BEFORE))),
        (
            "log points",
            "100 x ln(price after / price before): the legend turn's move in log points is the traded part plus the "
            "seam's part exactly; -69.3 log points is a halving (-50%)",
        ),
        (
            "traded (traded_move), at the seam (seam_move), seam's share",
            f"{FIGURES['traded_move'].about}; {FIGURES['seam_move'].about}; the seam's share is |seam| / (|traded| + "
            "|seam|) of the mean moves, descriptive (no interval): the verdict rests on the interval of the per-seed "
            "|seam| - |traded| instead",
        ),
        _figure("final_gini"),
        _figure("volume"),
    ]
    covered = {"legend_ratio", "gambit_pnl", "crash", "bubble", "traded_move", "seam_move", "final_gini", "volume"}
    terms += [_figure(name) for name in FIGURES if name not in covered]  # a figure added to the catalogue
    terms.append(
        (
            "path_distance_<good>",
            "the mean over turns of |ln council price - ln stand-in price| of that good: the council's world against "
            "the all-stand-in world on the same seed (0: the same path; 0.10: about 10% apart on average); never "
            "below 0, and 0 for the stand-in world itself, so it is described, not flagged (a sign test of it could "
            "not fail)",
        )
    )
    return terms


def lever_terms(page) -> list[tuple[str, str]]:
    """The words of the Levers and Which seat did it sections, where the run has them."""
    v, terms = page.verdicts or {}, []
    if v.get("levers"):
        terms.append(
            (
                "difference in differences",
                "a lever's effect (the figure in its 'to' scenario minus its 'from' scenario) in a council minus its "
                "effect in the all-stand-in world on the same seed: what the live seats add to the lever",
            )
        )
    if v.get("attribution"):
        terms += [
            (
                "contribution",
                "a focal seat's part of a council's outcome effect: the figure minus the figure with that seat back on "
                "its stand-in, replayed on the same seed",
            ),
            (
                "share, Fieller's interval",
                "a seat's share is the mean of its contribution over the mean of the effect, over its seeds; its "
                "interval is Fieller's for a ratio of paired means (none where the effect is not clearly away from 0)",
            ),
            (
                "interaction",
                "what the seats do only together: the effect minus the sum of the seats' contributions (0: the seats' "
                "parts add up to the effect)",
            ),
        ]
    return terms


def verdict_terms(page) -> list[tuple[str, str]]:
    """Every verdict each lesson can give, with its rule, for the lessons this report shows."""
    v, terms = page.verdicts or {}, []
    for key, rules, about in (
        ("robustness", ROBUST_RULES, "a phenomenon's robustness; the floor: robust_floor, a rate"),
        ("seam", SEAM_RULES, "the legend turn's move; the floor: move_floor, in log points, for each part of it"),
        ("levers", LEVER_RULES, "a lever; the floor: lever_min_effect, scaled for a figure in units"),
    ):
        if v.get(key):
            terms.append((", ".join(rules), f"the verdicts on {about}: {rules_text(rules)}"))
    return terms


def glossary(page) -> list[tuple[str, str]]:
    """(term, what it means) for the names this report uses, in reading order; the words the cards
    define too (turn, seat, stand-in, disposition, council) in glade.words' wording, this report's after it."""
    r = page.r
    m = r.flags_method or {}
    terms = [
        term(
            "turn",
            " (turn 4 is the prompt's 'Turn 5 of 8' in an 8-turn episode), as in decisions.parquet's turn column and "
            "on the figures' x axes",
        ),
        term("seat"),
        term("stand-in"),
        term("disposition"),
        term("council"),
        (
            "legend turn, legend good",
            "the turn the gambit springs (else the first legend) and the good it is about; a decision's phase is "
            "before the legend, at the seam (the legend turn) or after the legend",
        ),
        (
            "world",
            "one episode: a council (live models in its focal seats, the stand-in in the others) or all stand-in "
            "(every seat the rule-based stand-in); a council's world and the all-stand-in world on the same seed are "
            "paired",
        ),
        (
            "cast",
            "one assignment of a council's models to its creatures; a council that rotates its models seats a "
            "different one on a creature in each cast (the flag tables name the policy in each seat)",
        ),
        (
            "n",
            "what an interval stands on: seeds for an outcome (where a council has several casts, those on one seed "
            "are averaged first: they share the seed's stand-in world); episodes for a decision flag; seeds for a "
            "pooled crash or bubble rate too (exact where each seed's casts agree, else over each seed's share of its casts)",
        ),
    ]
    terms += figure_terms(page) + lever_terms(page) + verdict_terms(page)
    terms += [
        (
            "effect",
            "live minus stand-in: the council's value minus the stand-in's in the same states or paired worlds"
            + _threshold(
                m,
                "flag_min_effect",
                "a flag needs |effect| (for figures in units, relative to the stand-in's mean magnitude) at least",
            ),
        ),
        (
            "support",
            "the share of episodes (decision flags) or seeds (outcome flags: a council's casts on a seed averaged "
            "first, each beside the seed's all-stand-in world) whose difference has the effect's sign"
            + _threshold(m, "flag_support", "a flag needs at least"),
        ),
        (
            "q",
            "the p-value adjusted by Benjamini-Hochberg over the testable cells, the false-discovery rate at which "
            "the cell would be flagged" + _threshold(m, "fdr_q", "a flag needs q at most"),
        ),
        (
            "interval",
            f"of a mean: {ACROSS_ZERO}. "
            "Of a crash or bubble rate over seeds: the exact binomial interval where every seed's casts agree (one "
            "cast, or all or none of them), else Korn and Graubard's interval of each seed's share of its casts "
            "(the exact interval at the effective sample size the shares' spread gives). Of a difference in such a "
            "rate between two worlds: the exact split interval, the shares of seeds moving up and down each with its "
            "Clopper-Pearson interval, combined at their far ends (given even where every seed moved alike)",
        ),
        (
            "testable cells",
            "the cells whose smallest attainable p at their n could reach that q; the others can never be flagged at "
            "this n and are left out of Benjamini-Hochberg",
        ),
        (
            "score",
            "|effect| (for figures in units, relative to the stand-in's magnitude) x support; flags rank by it",
        ),
        (
            "flag family",
            "the flags of one creature and phase (decisions) or of one council (outcomes) in a scenario, read as one "
            "finding; where its flags come from several seats (policies or casts), they are grouped by seat, each "
            "group led by its policy and cast",
        ),
    ]
    seen = set(r.decisions["error"].dropna()) if len(r.decisions) and "error" in r.decisions else set()
    terms += [(code, words) for code, words in ERRORS.items() if code in seen]
    if r.summary.get("cost"):
        terms.append(
            (
                "model s, decisions/s",
                "a seat's time inside the models: a batched call's wall time is split equally among the decisions it "
                "answered, so seats that shared batches show the same decisions/s; stand-ins take no model time",
            )
        )
    return terms


def glossary_sections(page) -> list[Section]:
    md, dl = definition_list(glossary(page))
    return [Section("terms", "Terms", md, [dl])]
