"""The words glade's cards and reports share, one home each: the terms more than one of them defines
(the traces card, the model card, the eval report's glossary), a count said with its noun, and a run's
seeds in a few characters. A place may add its own words after a term's, never other ones."""

from __future__ import annotations

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
