"""The report's Terms section: each name the report uses for a figure, a flag's numbers, a seat's
error or a cost, said once in words (the glossary), so the tables can stay short. Figure
definitions come from their catalogue (eval/figures.py); the error codes listed are the ones
this run's seats made (env/market.py and env/protocol.py name them)."""

from __future__ import annotations

import html

from glade.eval.figures import FIGURES

from .markup import Section

# What a parser or order error means (the `error` column of decisions.parquet).
ERRORS = {
    "empty": "the answer was empty",
    "no_json": "the answer held no JSON object",
    "bad_json": "the answer's JSON did not parse, even repaired",
    "not_object": "the answer's JSON was not an object",
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
    "too_many_orders": "more orders than the parser takes",
    "both_sides": "a buy and a sell of the same good in one answer (the second is dropped)",
    "sell_not_held": "a sell of a good the creature does not hold",
    "no_pebbles": "a buy the creature's pebbles cannot pay for at its limit price",
}


def _threshold(method: dict, key: str, words: str) -> str:
    return f"; {words} {method[key]}" if method.get(key) is not None else ""


def glossary(page) -> list[tuple[str, str]]:
    """(term, what it means) for the names this report uses, in reading order."""
    r = page.r
    m = r.flags_method or {}
    terms = [
        (
            "turn",
            "counted from 0, as in decisions.parquet's turn column and on the figures' x axes; the prompt a creature "
            "reads says Turn t+1 (turn 4 is the prompt's 'Turn 5 of 8' in an 8-turn episode)",
        ),
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
            "what an interval stands on: seeds, or seeds x casts where a council has several casts (casts on one "
            "seed averaged first in the Results table); episodes for a decision flag",
        ),
        ("legend_ratio", f"{FIGURES['legend_ratio'].about} (the Results table's 'price at settlement / before')"),
        (
            "log points",
            "100 x ln(price after / price before): the legend turn's move in log points is the traded part plus the "
            "seam's part exactly; -69.3 log points is a halving (-50%)",
        ),
        (
            "traded, at the seam, seam's share",
            f"{FIGURES['traded_move'].about}; {FIGURES['seam_move'].about}; the seam's share is |seam| / (|traded| + "
            "|seam|), in log points",
        ),
        (
            "path_distance_<good>",
            "the mean over turns of |ln council price - ln stand-in price| of that good: the council's world against "
            "the all-stand-in world on the same seed (0: the same path; 0.10: about 10% apart on average)",
        ),
        ("effect", "live minus stand-in: the council's value minus the stand-in's in the same states or paired worlds"),
        (
            "support",
            "the share of episodes (decision flags) or paired worlds (outcome flags) whose difference has the "
            "effect's sign" + _threshold(m, "flag_support", "a flag needs at least"),
        ),
        (
            "q",
            "the p-value adjusted by Benjamini-Hochberg over the testable cells, the false-discovery rate at which "
            "the cell would be flagged" + _threshold(m, "fdr_q", "a flag needs q at most"),
        ),
        (
            "interval",
            "of a mean: the t interval, its long side widened by Hall's skewness correction; on a skewed effect "
            "at few seeds that side can reach past every observed value, even across 0 where the sign-flip test "
            "(q) flags the cell: the test asks whether the signs are random, the interval where the mean may lie. "
            "Of a rate: the exact binomial interval",
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
    terms = glossary(page)
    md = [f"- **{term}**: {words}" for term, words in terms]
    dl = (
        '<dl class="meta">'
        + "".join(f"<dt>{html.escape(term)}</dt><dd>{html.escape(words)}</dd>" for term, words in terms)
        + "</dl>"
    )
    return [Section("terms", "Terms", md, [dl])]
