"""The legend catalogue: historical market events in woodland dress.

A legend is public news about one good. The scenario picks how it acts:
- rumour:   its text reaches every observation; nothing else changes;
- shock:    the text, plus a change to stores or production (a glut, a failed crop);
- override: the text, plus a deterministic write at the settlement seam: the good's
            reference price is multiplied by `override_factor` after clearing.
Every mechanism publishes the same legend text on the turn it fires; an override also reports
its write in the next turn's news ("At settlement the honey price was set from ...").
"""

from __future__ import annotations

from dataclasses import dataclass

FALL, RISE = 1, 2  # what the talk says about the good; 0 is no talk
TALK_WORDS = {0: "none", FALL: "fall", RISE: "rise"}


@dataclass(frozen=True)
class Legend:
    id: str
    title: str
    good: str
    talk: int  # FALL or RISE: which way the story says the good will go
    text: str
    shock_units: int = 0  # added to every creature's store of the good (negative: taken)
    shock_production: float = 1.0  # production of the good is multiplied by this ...
    shock_turns: int = 0  # ... for this many turns
    override_factor: float = 1.0  # the seam multiplies the reference price by this
    talk_turns: int = 2  # how many turns the talk stays in the air
    creature: str | None = None  # the creature its story names (Oona's hoard): a Wood that plays it needs her


LEGENDS: dict[str, Legend] = {
    legend.id: legend
    for legend in (
        Legend(
            id="run_on_oonas_hoard",
            title="The Run on Oona's Hoard",
            good="honey",
            talk=FALL,
            text="Word runs through the Wood that Oona's honey hoard is empty and her jars are "
            "spoiled; creatures queue at her hollow to get their honey out.",
            shock_units=8,  # a windfall glut of honey in every store
            override_factor=0.5,  # the run lands: honey halves at settlement
            creature="oona",
        ),
        Legend(
            id="great_acorn_mania",
            title="The Great Acorn Mania",
            good="acorns",
            talk=RISE,
            text="Everyone swears acorns will be worth a fortune by the first frost; squirrels "
            "trade their last berries for a single acorn.",
            shock_production=0.0,  # the acorn crop fails
            shock_turns=3,
            override_factor=2.0,
        ),
        Legend(
            id="hollow_log_company",
            title="The Hollow Log Trading Company",
            good="mushrooms",
            talk=RISE,
            text="The Hollow Log Trading Company promises to buy every mushroom in the Wood at "
            "triple the price, paid next spring.",
            shock_units=-3,  # the company's agents carry off mushrooms
            override_factor=2.5,
        ),
        Legend(
            id="drought",
            title="The Dry Brook",
            good="berries",
            talk=RISE,
            text="The brook has run dry and the berry bushes wither in the heat.",
            shock_production=0.0,
            shock_turns=4,
            override_factor=1.6,
        ),
        Legend(
            id="winter_rumour",
            title="The Long Winter",
            good="firewood",
            talk=RISE,
            text="The old badger says the longest winter in memory is coming; stack your wood high.",
            shock_production=0.5,
            shock_turns=3,
            override_factor=1.5,
        ),
    )
}


def legend_words(legend_id: str) -> str:
    """What a legend is fixed to, in words: `'run_on_oonas_hoard' (The Run on Oona's Hoard) acts on honey
    and tells of creature oona`."""
    legend = LEGENDS[legend_id]
    about = f" and tells of creature {legend.creature}" if legend.creature else ""
    return f"{legend_id!r} ({legend.title}) acts on {legend.good}{about}"
