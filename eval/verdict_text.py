"""The verdicts (eval/verdicts.py) and the top flag families in plain sentences, each with its
n and interval: what `glade eval`, `glade flag`, the quickstart and the report say first.
"""

from __future__ import annotations

import math

from glade.console import with_ci

from .families import families_heading, family_lines
from .floor_rule import AT_FLOOR, narrower, straddles_floor
from .recipe import STANDIN
from .stats import MIN_N
from .verdicts import (
    CAST_ALPHA,
    LEVER_RULES,
    ROBUST_RULES,
    SEAM_RULES,
    SEAM_UNDECIDED,
    did_text,
    rules_text,
)

LESSONS = {
    "robustness": "Contingent emergence: does a phenomenon survive other casts and seeds?",
    "seam": "Author the seam: how much of the legend turn's price move was traded, how much written at the seam?",
    "levers": "The stand-in flatters wrong fixes: does a lever's effect under the stand-in hold with live seats?",
}


def world_name(world: str) -> str:
    return "all stand-in" if world == STANDIN else world


def prompt_turn(turn) -> int:
    """The turn as the prompt names it ("Turn 5 of 8", env/protocol.py) for the 0-based turn
    of the tables (decisions.parquet's `turn`, the legend turn)."""
    return int(turn) + 1


def turn_text(turn) -> str:
    """A 0-based turn with the prompt's own number beside it: "turn 4 (the prompt's Turn 5)"."""
    return f"turn {int(turn)} (the prompt's Turn {prompt_turn(turn)})"


def example_where(ex: dict) -> str:
    """Where a flag's example decision was made: "episode E, turn 1 (the prompt's Turn 2), hazel"."""
    return f"episode {ex['episode_id']}, {turn_text(ex['turn'])}, {ex['creature']}"


def _pct(log_move: float) -> float:
    return 100.0 * (math.exp(log_move) - 1.0)


def _points(log_move: float) -> str:
    return f"{100.0 * log_move:+z.1f}"  # z: a move of -1e-6 is no fall, +0.0 not -0.0


# What move_text's numbers are, for the captions beside them.
LOG_POINTS = (
    "in log points (100 x ln of the price after over the price before, so the traded and seam parts add up to the "
    "move), the interval in log points, the simple % change in parentheses"
)


def move_text(iv: dict) -> str:
    """A log price move in log points (100 x log: parts of a move add up), its interval or its
    words, and the simple percent change: "-79.2 [-83.0, -73.7] (-54.7%)"."""
    if iv.get("mean") is None:
        return "-"
    head, pct = _points(iv["mean"]), f"{_pct(iv['mean']):+z.1f}%"
    if iv.get("ci"):
        low, high = iv["ci"]
        return f"{head} [{_points(low)}, {_points(high)}] ({pct})"
    if iv.get("values"):  # too few seeds: the values themselves
        return f"{head} ({pct}; too few seeds for an interval: {', '.join(map(_points, iv['values']))})"
    return f"{head} ({pct}; {iv['note']})" if iv.get("note") else f"{head} ({pct})"


def n_text(n, seeds=None) -> str:
    """What an interval stands on: "n 8 seeds", "n 7 of 8 seeds" when a council lost a seed to
    seat faults, or "n 16" when the seeds are not known (`seeds`: the all-stand-in world's n, one
    world per seed). n counts seeds, a council's casts on a seed averaged first (`metrics.per_seed`)."""
    if n is None:
        return "n -"
    n = int(n)
    if seeds and n == int(seeds):
        return f"n {n} {_seeds(n)}"
    if seeds:
        return f"n {n} of {int(seeds)} {_seeds(int(seeds))}"
    return f"n {n}"


def _seeds(n: int) -> str:
    return "seed" if n == 1 else "seeds"


def value_text(iv: dict, fmt: str = "+.3f") -> str:
    """A verdict's interval (`mean`, `ci`, `note`) as the terminal and the report both write it."""
    return with_ci(iv.get("mean"), iv.get("ci"), fmt, note=iv.get("note"))


def rate_text(entry: dict) -> str:
    """ "8 of 8 seeds, rate 1.00 [0.63, 1.00]"; with several casts, each cast's, whether their
    rates differ (the p a cast-dependent verdict rests on), and the pooled rate over seeds (the
    one a robust verdict rests on)."""
    rate = entry["rate"]
    pooled = rate["note"]
    if rate.get("ci"):
        pooled = f"{rate['note']}, rate {with_ci(rate['mean'], rate['ci'], '.2f')}"
    if len(entry["casts"]) <= 1:
        return pooled
    casts = "; ".join(f"cast {c['cast']}: {c['note']}" for c in entry["casts"])
    p = entry.get("heterogeneity_p")
    differ = "differ" if p is not None and p < CAST_ALPHA else "do not clearly differ"  # eval/verdicts.py's test
    across = "" if p is None else f"; the casts' rates {differ} (p = {p:.2g})"
    return f"{casts}{across}; pooled: {pooled}"


def robustness_lines(entries: list[dict]) -> list[str]:
    """One line per scenario and phenomenon: its verdict in each world; the phenomena absent in
    every world, when there are two or more, share one line at the end."""
    groups: dict[tuple, list[dict]] = {}
    for e in entries:
        groups.setdefault((e["scenario"], e["phenomenon"], e["good"]), []).append(e)
    seeds = {(e["scenario"], e["phenomenon"]): e["rate"].get("n") for e in entries if e["world"] == STANDIN}

    def lost(w: dict) -> str:  # a council that lost seeds to seat faults says so
        n, total = w["rate"].get("n"), seeds.get((w["scenario"], w["phenomenon"]))
        return f"; {n_text(n, total)}" if n and total and n < total else ""

    absent = {key: worlds for key, worlds in groups.items() if {w["verdict"] for w in worlds} == {"absent"}}
    if len(absent) < 2:
        absent = {}  # one such line says it as well as a shared one
    lines = []
    for (scenario, phenomenon, good), worlds in groups.items():
        if (scenario, phenomenon, good) in absent:
            continue
        verdicts = {w["verdict"] for w in worlds}
        head = f"{phenomenon} of {good} in {scenario}"
        if len(verdicts) == 1:
            counts = ", ".join(f"{world_name(w['world'])} {w['rate']['note']}{lost(w)}{straddles(w)}" for w in worlds)
            lines.append(f"{head}: {verdicts.pop()} in every world ({counts})")
            continue
        parts = [f"{world_name(w['world'])}: {w['verdict']} ({rate_text(w)}{lost(w)}{straddles(w)})" for w in worlds]
        lines.append(f"{head}: " + "; ".join(parts))
    if absent:
        lines.append(_absent_line(absent, seeds))
    return lines


def _absent_line(absent: dict[tuple, list[dict]], seeds: dict) -> str:
    """ "crash of honey in a, b; bubble of honey in a: absent in every world (0 of 8 seeds in
    each)": the phenomena never seen, each with its scenarios, and the seeds behind them."""
    where: dict[tuple, list[str]] = {}
    for scenario, phenomenon, good in absent:
        where.setdefault((phenomenon, good), []).append(scenario)
    head = "; ".join(f"{phenomenon} of {good} in {', '.join(s)}" for (phenomenon, good), s in where.items())
    worlds = [w for ws in absent.values() for w in ws]
    (n, total), *others = {(w["rate"].get("n"), seeds.get((w["scenario"], w["phenomenon"]))) for w in worlds}
    if not others and n is not None and n == total:  # every world on every seed
        return f"{head}: absent in every world (0 of {n} {_seeds(n)} in each)"
    by_world: dict[str, dict[str, None]] = {}  # a council that lost seeds somewhere says so
    for w in worlds:
        text = n_text(w["rate"].get("n"), seeds.get((w["scenario"], w["phenomenon"])))
        by_world.setdefault(world_name(w["world"]), {})[text] = None
    counts = ", ".join(f"{name} {' or '.join(texts)}" for name, texts in by_world.items())
    return f"{head}: absent in every world (0 seeds in each; {counts})"


def straddles(entry: dict) -> str:
    """Why a world with its seeds still reads 'not enough seeds': the pooled rate's interval
    reaches both sides of the robust floor. Empty otherwise."""
    ci, floor = entry["rate"].get("ci"), entry.get("floor")
    if entry["verdict"] != "not enough seeds" or not ci or floor is None or not ci[0] < floor <= ci[1]:
        return ""
    return f", rate {entry['rate']['mean']:.2f} [{ci[0]:.2f}, {ci[1]:.2f}] straddles the robust floor {floor:.2f}: more seeds would narrow it"


def seam_seeds(entries: list[dict], scenario: str):
    """The seeds behind a scenario's seam split: the all-stand-in world's n (None without it)."""
    return next((e["total"].get("n") for e in entries if e["scenario"] == scenario and e["world"] == STANDIN), None)


def larger_text(entry: dict) -> str:
    """Which part of a seam-moved move is larger, as the verdict reads it (the per-seed |seam| -
    |traded|), then the seam's share of the mean moves, a descriptive figure; "" for the other verdicts."""
    if entry["verdict"] not in ("authored", "mixed", SEAM_UNDECIDED):
        return ""
    out = ""
    if (larger := entry.get("seam_over_traded")) and larger.get("mean") is not None:
        if larger.get("ci"):
            low, high = larger["ci"]
            out = f"; |seam| - |traded| per seed {_points(larger['mean'])} [{_points(low)}, {_points(high)}]"
        else:
            out = f"; |seam| - |traded| per seed {_points(larger['mean'])} ({larger['note']})"
        if entry["verdict"] == SEAM_UNDECIDED:
            out += ": which part is larger is undecided at this n"
    if (share := entry.get("authored_share")) is not None:
        out += f"; {share:.0%} of the log move at the seam (of the mean moves: descriptive, no interval)"
    return out


def seam_note(entry: dict) -> str:
    """Which part's interval straddles the floor where a seam split with its seeds reads "at the
    floor" or "not enough seeds" (the seam's, else the traded part's beside a seam that did not move)."""
    floor = entry.get("floor")
    if entry["verdict"] not in (AT_FLOOR, "not enough seeds") or floor is None:
        return ""
    part = next((p for p in ("seam", "traded") if straddles_floor(entry[p], floor)), None)
    if part is None:
        return ""
    who = "the seam's" if part == "seam" else "the traded part's"
    out = f": {who} interval straddles the floor ({100 * floor:.3g} log points)"
    # the width, not the verdict: a summary written before "at the floor" says "not enough seeds" here
    return out + (" and is narrower than it" if narrower(*entry[part]["ci"], floor) else ": more seeds would narrow it")


def seam_lines(entries: list[dict]) -> list[str]:
    """One line per scenario: the legend good's log move split into traded and written at the
    seam, in log points (the parts add up) with the simple percent change beside each."""
    groups: dict[tuple, list[dict]] = {}
    for e in entries:
        groups.setdefault((e["scenario"], e["good"], e["turn"]), []).append(e)
    lines = []
    for (scenario, good, turn), worlds in groups.items():
        seeds = seam_seeds(entries, scenario)
        parts = []
        for w in worlds:
            authored = larger_text(w)
            nothing = w["seam"].get("mean") == 0 and not w["seam"].get("ci")
            if nothing:  # the whole move was traded: said once
                split = f"traded {move_text(w['traded'])}, nothing at the seam"
            else:
                split = (
                    f"{move_text(w['total'])} = traded {move_text(w['traded'])} + at the seam {move_text(w['seam'])}"
                )
            parts.append(
                f"{world_name(w['world'])}: {w['verdict']} ({split}{authored}{seam_note(w)}; "
                f"{n_text(w['total'].get('n'), seeds)})"
            )
        lines.append(
            f"{good} at the legend {turn_text(turn)} in {scenario}, log points (simple %): " + "; ".join(parts)
        )
    return lines


def lever_lines(entries: list[dict]) -> list[str]:
    lines = []
    for e in entries:
        seeds = e["standin"].get("n")
        floor = e.get("floor")
        scaled = f", a world moves beyond {floor:.3g}" if floor is not None and floor != e.get("min_effect") else ""
        councils = "; ".join(
            f"{c['council']} {value_text(c['effect'])} (difference in differences {value_text(c['did'])}; "
            f"{n_text(c['effect'].get('n'), seeds)}): {c['verdict']}{lever_note(e, c)}"
            for c in e["councils"]
        )
        lines.append(
            f"{e['lever']} ({e['from']} -> {e['to']}, effect on {e['figure']}{scaled}): all stand-in "
            f"{value_text(e['standin'])} ({n_text(seeds, seeds)}); {councils or 'no council'}"
        )
    return lines


def _first(entries: list[dict], key: str):
    return next((e[key] for e in entries if e.get(key) is not None), None)


def floor_line(key: str, entries: list[dict]) -> str | None:
    """A lesson's floor and every verdict its function can return, each with its rule (eval/
    verdicts.py), said once above its lines; None for entries written before they kept a floor."""
    if key == "robustness" and (floor := _first(entries, "floor")) is not None:
        return f"Verdicts, the floor being a rate of {floor:.2f} (robust_floor) — {rules_text(ROBUST_RULES)}."
    if key == "seam" and (floor := _first(entries, "floor")) is not None:
        return (
            f"Verdicts, the floor being {100 * floor:.3g} log points (move_floor {floor:g}) for each part of the move "
            f"(traded, at the seam) — {rules_text(SEAM_RULES)}."
        )
    if key == "levers" and (floor := _first(entries, "min_effect")) is not None:
        return (
            f"Verdicts, the floor being {floor:g} (lever_min_effect; for a figure in units, that share of the "
            f"all-stand-in world's mean magnitude in the 'from' scenario) for each world's effect — "
            f"{rules_text(LEVER_RULES)}. {DID_WORDS}"
        )
    return None


DID_WORDS = "Where a council's difference in differences excludes 0, its line says which world's effect is larger."


def lever_note(entry: dict, council: dict) -> str:
    """What a lever verdict's words leave out: which interval straddles the floor where it reads "at
    the floor" or "not enough seeds", and which world's effect is larger where the difference in
    differences says so."""
    floor, out = entry.get("floor"), ""
    if council["verdict"] in (AT_FLOOR, "not enough seeds") and floor is not None:
        across = [
            (who, d)
            for who, d in (("its", council["effect"]), ("the all-stand-in", entry["standin"]))
            if straddles_floor(d, floor)
        ]
        if across:
            said = " and ".join(f"{who} interval [{d['ci'][0]:+z.3f}, {d['ci'][1]:+z.3f}]" for who, d in across)
            out = f": {said} straddle{'s' if len(across) == 1 else ''} the floor {floor:.3g}"
            narrow = all(narrower(d["ci"][0], d["ci"][1], floor) for _, d in across)  # the width: older summaries too
            out += " (narrower than it)" if narrow else " (more seeds would narrow it)"
    return out + did_text(entry["standin"], council["effect"], council.get("did") or {})


def percent(value: float) -> str:
    """A share in whole percent; a share that rounds to nothing is 0%, not "-0%"."""
    return f"{value:z.0%}"


def attribution_lines(entries: list[dict], seam: list[dict] = ()) -> list[str]:
    """One line per clear outcome effect: each seat's share of it. `seam`: the seam split's
    entries, whose all-stand-in world gives each scenario's seeds ("n 5 of 6 seeds")."""
    lines = []
    for e in entries:
        if not e.get("effect_clear"):
            continue
        seats = []
        for s in e["seats"]:
            share = "share -" if s["share"] is None else percent(s["share"])
            ci = f" [{percent(s['share_ci'][0])}, {percent(s['share_ci'][1])}]" if s.get("share_ci") else ""
            if s.get("share_note"):
                ci = f" ({s['share_note']})"
            elif s["share"] is not None and not ci:  # an entry written before share_note said why
                ci = " (no interval)"
            seats.append(f"{s['creature']} ({s['policy']}, cast {s['cast']}) {share}{ci}")
        lines.append(
            f"{e['figure']} in {e['scenario']}, {e['council']}: effect {value_text(e['effect'])} "
            f"({n_text(e['effect'].get('n'), seam_seeds(seam, e['scenario']))}); "
            + ", ".join(seats)
            + f"; interaction {value_text(e['interaction'])}"
        )
    return lines


def verdict_sections(verdicts: dict) -> list[tuple[str, str, list[str]]]:
    """(key, the lesson's question, its lines) for the three lessons, then seat attribution when played."""
    out = []
    for key, lines_of in (("robustness", robustness_lines), ("seam", seam_lines), ("levers", lever_lines)):
        entries = verdicts.get(key, [])
        lines = lines_of(entries)
        floor = floor_line(key, entries) if lines else None
        out.append((key, LESSONS[key], ([floor] if floor else []) + lines))
    clear = [e for e in verdicts.get("attribution", []) if e.get("effect_clear")]
    lead = sorted((e for e in clear if e["figure"] in LEAD_FIGURES), key=lambda e: LEAD_FIGURES.index(e["figure"]))
    attributed = attribution_lines(lead[:LEAD_ATTRIBUTIONS], verdicts.get("seam", []))
    if len(clear) > len(attributed):
        attributed.append(f"... and {len(clear) - len(attributed)} more clear effects shared out in the detail")
    if verdicts.get("attribution"):  # played: with no clear effect, one line says why none is shared out
        lines = attributed or [attribution_none(verdicts["attribution"])]
        out.append(("attribution", "Which seat did it: each focal seat's share of the clearest outcome effects", lines))
    return out


def attribution_none(entries: list[dict]) -> str:
    """Why attribution, played, shares out nothing: too few seeds, or no interval away from 0."""
    ns = sorted({int(e["effect"].get("n") or 0) for e in entries})
    n = f"n {ns[0]}" if len(ns) == 1 else f"n {ns[0]}-{ns[-1]}"
    why = f"{n} {_seeds(ns[-1])}, too few for an interval (at least {MIN_N} seeds needed)"
    if ns[-1] >= MIN_N:  # some effects had an interval; none lay away from 0
        fewer = f"; fewer than {MIN_N} give none" if ns[0] < MIN_N else ""
        why = f"no effect's interval excludes 0 ({n} seeds{fewer})"
    head = f"no outcome effect of the {len(entries)} (figure by scenario and council) clearly away from 0"
    return f"{head} to share out among the seats: {why}"


LEAD_FIGURES = ("crash", "bubble", "legend_ratio", "gambit_pnl")  # the effects attribution leads with, in order
LEAD_ATTRIBUTIONS = 6


EMPTY = {
    "robustness": "no legend in the turns played: no phenomenon to judge",
    "seam": "no legend in the turns played: no move to split",
    "levers": "the recipe names no levers (levers: [{name, from, to}])",
}


def findings(verdicts: dict | None, families: list[dict] | None = None, method: dict | None = None, top: int = 5):
    """(heading, lines) for the terminal: the three lessons (and attribution when played), then
    the top flag families when flags were found (families None: not flagged yet)."""
    out = []
    for number, (key, question, lines) in enumerate(verdict_sections(verdicts or {}), 1):
        heading = f"{number}. {question}" if key in LESSONS else question
        out.append((heading, lines or [EMPTY.get(key, "nothing to say")]))
    if families is not None:
        out.append((families_heading(families, method), family_lines(families, top) or ["no flags"]))
    return out
