"""Table 1 of the field notes (seeds/), beside the row glade measures for the same world.

The field notes play one gambit (short honey, tip Oona, spring the Run on Oona's Hoard,
cover) in four worlds: one model on every creature dumped honey under the rumour (10 -> 3);
a council of five models held under the rumour (honey rose, P&L -15); a glut moved the
rule-based stand-in but not the council (-26 to -27); the settlement override halved honey
(+40). `table_one` gives, for every mechanism x world an evaluation played, the field notes'
row where there is one and glade's measured row: the legend good at settlement over the turn
before, the gambit's P&L and the crash rate, each with n and an interval at the recipe's
`ci_level` (95% by default). The notes' row sits only beside the world they played: the shipped
gambit of that mechanism as glade ships it (name and hash, at the turns played; one that extends
it but changes it is another world) and, where the run's recipe is at hand, the council the
shipped crash-gambit recipe defines under that name.

Unit of replication: the seed. A council's casts on one seed are averaged first (as the
report does), then the mean and its interval are taken over seeds (glade.eval.stats.describe:
none below 4 seeds). The crash rate counts seeds too (glade.eval.metrics.seed_rate): where
every seed's casts agree, the seeds that crashed with an exact binomial interval, so that 0 of
8 reads as [0, 0.37] rather than as a certainty; else each seed's share of its casts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import pandas as pd

from glade.console import with_ci
from glade.env.scenario import MECHANISMS, SCENARIO_DIR, load_scenario
from glade.env.schema import RECIPES, read_yaml
from glade.words import level_percent

from .figures import FIGURES, figure_bounds, legend_good, mechanism
from .metrics import per_seed, seed_rate
from .recipe import STANDIN
from .stats import describe
from .thresholds import DEFAULTS, Thresholds

WORLDS = ("one_model", "five_minds")  # the councils Table 1 names, after the stand-in world; others follow
NOTES_SCENARIOS = {"rumour": "gambit_rumour", "shock": "gambit_shock", "override": "gambit_override"}
SHIPPED_RECIPE = RECIPES / "eval" / "crash-gambit.yaml"  # defines the notes' councils, as glade plays them
COUNCILS = {  # the notes' councils as the shipped recipe defines them, in the caption's words
    "one_model": "the panic-seller adapter on every seat",
    "five_minds": "five different creature models, one per creature, rotated over casts",
}


@dataclass(frozen=True)
class FieldNote:
    attempt: str
    what_happened: str
    honey: str  # honey at settlement, in the notes' words
    pnl: str  # the gambit's P&L, in the notes' words


# (world, mechanism) -> the field notes' row. `one_model` is one model on every creature,
# `five_minds` five different models, one per creature; the stand-in is the notes' "test policy".
FIELD_NOTES: dict[tuple[str, str], FieldNote] = {
    ("one_model", "rumour"): FieldNote(
        "Original, one model", "that model chose to dump", "10 to 3", "the showcase win"
    ),
    ("five_minds", "rumour"): FieldNote("Council, rumour only", "five models chose to hold", "rose on scarcity", "-15"),
    ("five_minds", "shock"): FieldNote(
        "Council, inventory glut", "demand collapse, test policy only", "barely moved", "-26 to -27"
    ),
    (STANDIN, "shock"): FieldNote(
        "Test policy, inventory glut", "flood its inventory and it stops buying", "fell (worked 'beautifully')", "—"
    ),
    ("five_minds", "override"): FieldNote(
        "Council, settlement override", "price crashed post-clearing, by fiat", "halved reliably", "+40"
    ),
}


def table_one(episodes: pd.DataFrame, thresholds: Thresholds = DEFAULTS, recipe: dict | None = None) -> list[dict]:
    """One row per mechanism x world found in `episodes` (episodes.parquet, one row per
    episode or per seat), one per scenario where a recipe plays a mechanism in several (their
    figures are not pooled: a crash in one and none in the other is no rate of one half):
    mechanism, world, seeds, episodes, legend_ratio / gambit_pnl
    ({"mean", "ci", "n"} over seeds), crash ({"mean", "ci", "n", "note", "exact"} over seeds, `seed_rate`) and
    legend_good, field_notes (a FieldNote as a dict, or None where the notes have no such row), withheld ("scenario"
    or "council" where the notes have a row for this mechanism and world name but played another
    world: `is_notes_scenario`, `is_notes_council`; else None), notes_scenario (`is_notes_scenario`) and level
    (of every interval). [] where no row is of the notes' scenario or has a notes' row of its mechanism and world.
    `recipe`: the run's recipe.yaml as a mapping; without it a council is the notes' by name."""
    if episodes is None or not len(episodes):
        return []
    worlds = episodes.drop_duplicates("episode_id")
    level = thresholds.ci_level
    records = worlds.to_dict("records")
    worlds = worlds.assign(
        **{name: [float(FIGURES[name].measure(ep, thresholds)) for ep in records] for name in ("legend_ratio", "crash")}
    )
    turns = worlds["turns"].max() if "turns" in worlds else None
    kinds = {s: mechanism(s, turns) for s in worlds["scenario"].unique()}
    worlds = worlds.assign(mechanism=worlds["scenario"].map(kinds))
    theirs = {s: is_notes_scenario(s, kinds[s], worlds[worlds["scenario"] == s]) for s in kinds}
    order = list(dict.fromkeys([STANDIN, *WORLDS, *worlds["council"]]))
    rows = []
    for mech, scenario in [(m, s) for m in MECHANISMS for s in kinds if kinds[s] == m]:
        for world in order:
            mine = worlds[(worlds["scenario"] == scenario) & (worlds["council"] == world)]
            if not len(mine):
                continue
            by_seed = per_seed(mine, ["legend_ratio", "gambit_pnl"])
            crashes = per_seed(mine.dropna(subset=["crash"]), ["crash"])["crash"]
            crash = seed_rate(crashes, int(mine["cast"].nunique()), level)
            note = FIELD_NOTES.get((world, mech))
            withheld = None
            if note is not None and not theirs[scenario]:
                withheld = "scenario"
            elif note is not None and not is_notes_council(world, recipe):
                withheld = "council"
            rows.append(
                {
                    "mechanism": mech,
                    "world": world,
                    "legend_good": next(iter(mine["legend_good"].dropna()), None) if "legend_good" in mine else None,
                    "scenarios": sorted(set(mine["scenario"])),
                    "seeds": int(mine["seed"].nunique()),
                    "episodes": int(len(mine)),
                    "legend_ratio": describe(
                        by_seed["legend_ratio"].to_numpy(), level=level, bounds=figure_bounds("legend_ratio")
                    ),
                    "gambit_pnl": describe(by_seed["gambit_pnl"].to_numpy(), level=level),
                    "crash": crash.as_dict() | {"exact": crash.method == "clopper-pearson"},
                    "field_notes": None if note is None or withheld else asdict(note),
                    "withheld": withheld,
                    "level": level,
                    "notes_scenario": theirs[scenario],
                }
            )
    # the notes' table sits beside the worlds they played: a run with neither their scenario nor a variant of
    # it (a world they have a row for, on their legend good) gets no Table 1, as a user's gambit on acorns
    shown = any(
        r["notes_scenario"]
        or r["field_notes"]
        or (r["withheld"] and r["legend_good"] in (None, _notes_good(r["mechanism"])))
        for r in rows
    )
    return rows if shown else []


@lru_cache(maxsize=4)
def _notes_good(mech: str) -> str | None:
    """The legend good of the notes' scenario of a mechanism (honey), as glade ships it."""
    return legend_good(load_scenario(SCENARIO_DIR / f"{NOTES_SCENARIOS[mech]}.yaml"))


def legend_goods(rows: list[dict]) -> list[str]:
    """The legend goods of Table 1's rows: honey in the notes' worlds, a user's gambit its own
    (rows without one, from before legend_good was kept, are the notes' honey)."""
    return list(dict.fromkeys(r["legend_good"] for r in rows if r.get("legend_good"))) or ["honey"]


def is_notes_scenario(name: str, mech: str | None, rows: pd.DataFrame) -> bool:
    """Whether a scenario's rows are the shipped gambit the notes' rows describe: its name, and its
    hash (from the rows) that of the shipped file at the turns played. A file of another name, or of
    that name but changed (its own `name:`, an `extends:` that changes a key, a local copy edited),
    is another world. Rows without a hash or their turns (written before they were kept) go by the name."""
    if mech is None or NOTES_SCENARIOS.get(mech) != name:
        return False
    hashes = set(rows["scenario_hash"].dropna()) if "scenario_hash" in rows else set()
    if not hashes or "turns" not in rows or rows["turns"].isna().all():
        return True
    return hashes == {_shipped_hash(name, int(rows["turns"].max()))}


@lru_cache(maxsize=16)
def _shipped_hash(name: str, turns: int) -> str | None:
    try:  # the shipped file itself, not a ./recipes/scenarios/ copy a name would find first
        return load_scenario(SCENARIO_DIR / f"{name}.yaml", turns=turns).hash()
    except (ValueError, OSError):
        return None


def is_notes_council(world: str, recipe: dict | None) -> bool:
    """Whether a world is the notes' world of that name: the stand-in always; a council where the
    recipe defines it as the shipped crash-gambit recipe does (the same focal seats under the same
    policy names and seat kinds, and casts: a checkpoint's path may differ, as the quickstart pins
    the adapters it trained), or where no recipe is at hand, by its name."""
    if world == STANDIN:
        return True
    if world not in COUNCILS:
        return False
    if not recipe or not isinstance(recipe.get("councils"), dict):
        return True
    return _definition(recipe, world) == _definition(_shipped_recipe(), world)


@lru_cache(maxsize=1)
def _shipped_recipe() -> dict:
    return read_yaml(SHIPPED_RECIPE)


def _definition(recipe: dict, council: str):
    """A council as a recipe defines it: each focal seat's policy name and kind, and its casts."""
    spec = (recipe.get("councils") or {}).get(council)
    if not isinstance(spec, dict) or not isinstance(spec.get("focal"), dict):
        return None
    policies = recipe.get("policies") or {}
    kind = {name: p.get("kind") if isinstance(p, dict) else p for name, p in policies.items()}
    return {seat: (p, kind.get(p)) for seat, p in spec["focal"].items()}, spec.get("rotate", 1)


def policy_spec(recipe: dict | None, name: str) -> str | None:
    """A policy's seat spec in words, as the recipe writes it ("checkpoint shipped:tiny-base", "the
    hoarder stand-in"): Table 1's caption and the report's seat table name a seat alike. None where
    the recipe lacks the policy."""
    p = ((recipe or {}).get("policies") or {}).get(name)
    if isinstance(p, dict):
        what = next((p[k] for k in ("path", "model", "disposition", "url") if k in p), None)
        return f"{p.get('kind')}{f' {what}' if what is not None else ''}"
    return f"the {p} stand-in" if isinstance(p, str) else None


def _described(recipe: dict | None, council: str) -> str | None:
    """`council: its focal seats' policies` in words, from the recipe; None where it lacks the council."""
    if council in COUNCILS and is_notes_council(council, recipe):
        return COUNCILS[council]
    spec = ((recipe or {}).get("councils") or {}).get(council)
    if not isinstance(spec, dict) or not isinstance(spec.get("focal"), dict):
        return None

    def policy(name) -> str:
        spec = policy_spec(recipe, name)
        return f"{name} ({spec})" if spec else str(name)

    focal = spec["focal"]
    seats = (
        f"every seat {policy(focal['*'])}"
        if "*" in focal
        else ", ".join(f"{seat} {policy(p)}" for seat, p in focal.items()) + ", every other seat its stand-in"
    )
    rotate = spec.get("rotate", 1)
    return seats + (f", rotated over {rotate} casts" if isinstance(rotate, int) and rotate > 1 else "")


def _ci(entry: dict, fmt: str) -> str:
    return with_ci(entry.get("mean"), entry.get("ci"), fmt, entry.get("note"), missing="—")


def table_one_caption(level: float, rows: list[dict] | None = None, recipe: dict | None = None) -> str:
    """The report's caption of Table 1: it describes the councils of `rows` (all the notes' worlds
    when None) from the run's `recipe`, the shipped words only for a council defined as shipped."""
    worlds = [STANDIN, *WORLDS] if rows is None else list(dict.fromkeys(r["world"] for r in rows))
    said = [f"{w}: {d}" for w in worlds if w != STANDIN and (d := _described(recipe, w))]
    if STANDIN in worlds:
        said.append(f"{STANDIN}: every seat the rule-based stand-in (the notes' 'test policy')")
    withheld = {r.get("withheld") for r in rows or []}
    legend = "'—': the notes have no such row."
    if "scenario" in withheld:
        shipped = " or ".join(NOTES_SCENARIOS[m] for m in MECHANISMS if any(r["mechanism"] == m for r in rows))
        legend += (
            " '— (not the field notes' scenario)': the notes have a row for that world and mechanism, played in the "
            f"shipped {shipped} (as glade ships it, at the turns played); this scenario differs from it in its name "
            "or its rules, so the notes' words are not set beside it."
        )
    if "council" in withheld:
        legend += (
            " '— (not the field notes' council)': the recipe defines that council otherwise than the shipped "
            f"{SHIPPED_RECIPE.name}, whose council of that name the notes' row describes."
        )
    goods = legend_goods(rows or [])
    fell = goods[0] if len(goods) == 1 else "the legend good"
    return (
        "The field notes' Table 1 (the notes: the write-up of agent markets on small models that glade's three lessons "
        "come from; their Table 1 is the same gambit in four worlds, in the notes' words) beside the row glade measured "
        f"for the same world and mechanism: the legend good ({', '.join(goods)}) at the spring turn's settlement over the turn "
        f"before and the gambit's P&L, mean over seeds (a council's casts averaged per seed) with a {level_percent(level)} "
        f"interval (none below 4 seeds); the crash rate, seeds where {fell} fell by the recipe's "
        f"crash_drop within crash_within turns, with a {level_percent(level)} exact binomial interval (where a seed's casts disagree, "
        "the mean of each seed's share of its casts, with Korn and Graubard's interval). A mechanism played in "
        f"several scenarios has a row for each, its scenario named. {'; '.join(said)}. {legend}"
    )


def table_one_cells(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """(header, rows of text) for printing: the field notes' row, then glade's measured row."""
    ci = f"[{level_percent(rows[0]['level'])} CI]" if rows else "[CI]"
    header = [
        "mechanism",
        "world",
        "field notes: attempt",
        "field notes: honey",
        "field notes: P&L",
        f"glade: legend_ratio {ci}",
        f"glade: gambit P&L {ci}",
        f"glade: crash rate {ci}",
        "n (seeds, episodes)",
    ]
    seeds = {tuple(r["scenarios"]): r["seeds"] for r in rows if r["world"] == STANDIN}  # "5 of 6": a council lost one
    several = {
        m
        for m in {r["mechanism"] for r in rows}
        if len({tuple(r["scenarios"]) for r in rows if r["mechanism"] == m}) > 1
    }
    out = []
    for r in rows:
        note = r["field_notes"] or {}
        total = seeds.get(tuple(r["scenarios"]))
        crash = r["crash"]
        if crash.get("mean") is None:
            rate = "—"
        elif crash.get("exact"):  # every seed's casts agree: k of n seeds
            rate = f"{round(crash['mean'] * crash['n'])}/{crash['n']} [{crash['ci'][0]:.2f}, {crash['ci'][1]:.2f}]"
        else:  # the mean of each seed's share of its casts, or the words instead of an interval
            rate = _ci(crash, ".2f")
        out.append(
            [
                f"{r['mechanism']} ({', '.join(r['scenarios'])})" if r["mechanism"] in several else r["mechanism"],
                r["world"],
                f"— (not the field notes' {r['withheld']})" if r.get("withheld") else note.get("attempt", "—"),
                note.get("honey", "—"),
                note.get("pnl", "—"),
                _ci(r["legend_ratio"], ".2f"),
                _ci(r["gambit_pnl"], "+.1f"),
                rate,
                f"{r['seeds']}{f' of {total}' if total and r['seeds'] < total else ''}, {r['episodes']}",
            ]
        )
    return header, out
