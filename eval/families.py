"""Flag families: the flags a person reads as one finding.

Decision flags group per (scenario, council, creature, phase), over casts and goods: "Oona at
the seam (gambit_rumour, mixed, cast 0): sells honey where the stand-in buys: +0.62 [+0.31,
+0.90], buys acorns where the stand-in holds: +0.30 [+0.05, +0.55]". A family that spans
several seats (a council that rotates its models over casts seats a different one on a creature
in each) groups its clauses by seat, each group led by its policy and cast: "Hazel at the seam
(gambit_shock, five_minds, casts 0, 1): speculator_model (cast 0): holds berries where the
stand-in buys: +1.00 (same value in all 8 episodes); base_model (cast 1): buys firewood where
the stand-in sells: +0.88 [+0.08, +1.00]". Outcome flags group per (scenario, council):
"outcomes of gambit_shock, one_model: legend_ratio +0.1 [+0.04, +0.16] (stand-in 0.3, live
0.4)". Each effect carries its flag's 95% interval. Cells several scenarios share (the same
play, eval/cells.py) are one family that names them all: "Hazel before the legend
(gambit_override, gambit_rumour, gambit_shock: the same play; five_minds, casts 0, 1): ...".
A family ranks by its best member's score, then by its best member's rank (so the family
of flag #4 comes before one whose best is #17, however many members each has); it carries its
members' ranks and up to three of their example decisions.
"""

from __future__ import annotations

from glade.console import no_negative_zero

PHASE_WORDS = {"before": "before the legend", "seam": "at the seam", "after": "after the legend"}
VERBS = {"buy": "buys", "sell": "sells", "none": "holds"}
EXAMPLES = 3  # example decisions a flag, and a family of flags, shows


def creature_name(creature: str) -> str:
    return creature[:1].upper() + creature[1:]


def scenario_text(item: dict) -> str:
    """The scenario of a cell, flag or family, or every scenario that played it alike:
    "gambit_shock", or "gambit_override, gambit_rumour, gambit_shock: the same play"."""
    scenarios = item.get("scenarios") or [item["scenario"]]
    return scenarios[0] if len(scenarios) < 2 else f"{', '.join(scenarios)}: the same play"


def shared_text(method: dict) -> str:
    """What a headline says where cells stood for several scenarios (a flagging's method,
    `shared_play`: how many cells did); "" where none did."""
    n = method.get("shared_play") or 0
    if not n:
        return ""
    return f"scenarios that played alike were tested once ({n:,} cell{'' if n == 1 else 's'} stand for two or more)"


def effect_text(flag: dict, fmt: str = "+.3f") -> str:
    """`+0.875 [+0.610, +1.000]`, or the words said instead of an interval (`+1.000 (same value in
    all 8 episodes)`); the bare effect for a flag written before flags kept intervals."""
    fmt = no_negative_zero(fmt)  # an end of -0.0004 is no negative effect
    effect = format(flag["effect"], fmt)
    if flag.get("ci_low") is None or flag.get("ci_high") is None:
        note = flag.get("ci_note")
        return effect + (f" ({note})" if note else "")
    return f"{effect} [{format(flag['ci_low'], fmt)}, {format(flag['ci_high'], fmt)}]"


def member_text(flag: dict) -> str:
    """One member in words, its effect with its interval (effect_text): "sells honey
    where the stand-in buys: +0.62 [+0.31, +0.90]" or "volume -12 [-18.1, -5.92] (stand-in
    61.6, live 49.6)"."""
    if flag["kind"] == "decision":
        return (
            f"{VERBS.get(flag['direction'], flag['direction'])} {flag['good']} where the stand-in "
            f"{' or '.join(VERBS.get(side, side) for side in flag['instead'].split(' or '))}: "
            f"{effect_text(flag, '+.2f')}"
        )
    values = f"stand-in {flag['standin_value']:.3g}, live {flag['live_value']:.3g}"
    if flag.get("ci_low") is None and flag.get("ci_note"):  # "crash +1 (same value in all 6 seeds; stand-in 0, live 1)"
        return f"{flag['metric']} {flag['effect']:+z.3g} ({flag['ci_note']}; {values})"
    return f"{flag['metric']} {effect_text(flag, '+.3g')} ({values})"


def seat_text(flag: dict) -> str:
    """Who made a decision flag: "speculator_model (cast 0)", or what of it is known."""
    cast = f"cast {flag['cast']}" if flag.get("cast") is not None else ""
    if flag.get("policy"):
        return f"{flag['policy']} ({cast})" if cast else str(flag["policy"])
    return cast or "?"


def members_text(family: dict, members: list[dict]) -> str:
    """The members in words, best first; where they come from several seats (policies or
    casts), grouped by seat, each group led by its policy and cast."""
    if len(family["policies"]) < 2 and len(family["casts"]) < 2:
        return ", ".join(member_text(f) for f in members)
    seats: dict[str, list[str]] = {}
    for f in members:
        seats.setdefault(seat_text(f), []).append(member_text(f))
    return "; ".join(f"{seat}: {', '.join(texts)}" for seat, texts in seats.items())


def family_counts(family: dict) -> str:
    """`flags #1, #84; n 8 per flag; smallest q 0.0146`: its members, the clusters behind each
    (a family over two casts holds flags of 8 episodes each, not 8 in all): "n 8" when every
    member has 8, "n 6 to 8" when they differ, "n >= 6" for a family written before `n_max`;
    and its best q."""
    ranks = ", ".join(f"#{m}" for m in family["members"])
    return f"flags {ranks}; {n_text(family)} per flag; smallest q {family['q']:.3g}"


def n_text(family: dict) -> str:
    """ "n 8", "n 6 to 8" where the members' n differ, "n >= 6" for a family written before `n_max`."""
    low, high = family["n"], family.get("n_max")
    return f"n {low}" if high == low else f"n {low} to {high}" if high is not None else f"n >= {low}"


def family_title(family: dict) -> str:
    if family["kind"] == "decision":
        casts = family["casts"]
        cast = f", cast{'s' if len(casts) > 1 else ''} {', '.join(map(str, casts))}" if casts else ""
        sep = ";" if len(family.get("scenarios") or []) > 1 else ","  # "a, b: the same play; council"
        return (
            f"{creature_name(family['creature'])} {PHASE_WORDS.get(family['phase'], family['phase'])} "
            f"({scenario_text(family)}{sep} {family['council']}{cast})"
        )
    return f"outcomes of {family['scenario']}, {family['council']}"


def families(flags: list[dict]) -> list[dict]:
    """Flags (ranked, with examples) grouped into families, best first, each with its text."""
    groups: dict[tuple, list[dict]] = {}
    for f in flags:
        scenarios = tuple(f.get("scenarios") or [f["scenario"]])
        key = (f["kind"], f["scenario"], scenarios, f["council"], f.get("creature"), f.get("phase"))
        groups.setdefault(key, []).append(f)
    out = []
    for (kind, scenario, scenarios, council, creature, phase), members in groups.items():
        members = sorted(members, key=lambda f: f["rank"])
        examples, seen = [], set()
        for f in members:
            for e in f.get("examples") or []:
                where = (e["episode_id"], e["turn"], e["creature"])
                if where not in seen and len(examples) < EXAMPLES:
                    seen.add(where)
                    examples.append(e)
        family = {
            "kind": kind,
            "scenario": scenario,
            "scenarios": list(scenarios),
            "council": council,
            "creature": creature,
            "phase": phase,
            "casts": sorted({f["cast"] for f in members if f.get("cast") is not None}),
            "policies": sorted({f["policy"] for f in members if f.get("policy")}),
            "members": [f["rank"] for f in members],
            "score": max(f["score"] for f in members),
            "n": min(f["n"] for f in members),
            "n_max": max(f["n"] for f in members),
            "q": min(f["q"] for f in members),
            "examples": examples,
        }
        family["title"] = family_title(family)
        family["text"] = f"{family['title']}: {members_text(family, members)}"
        out.append(family)
    # equal scores: the flags' own order (their best rank), so family numbers follow flag numbers
    out.sort(key=lambda fam: (-fam["score"], fam["members"][0]))
    for i, fam in enumerate(out, 1):
        fam["family"] = i
    return out


def family_lines(found: list[dict], top: int = 5) -> list[str]:
    """The top families, a line each, as the console and the report's lead print them."""
    return [f"{f['family']}. {f['text']} ({n_text(f)}, q {f['q']:.2g})" for f in found[:top]]


def count_text(value) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def families_heading(found: list[dict], method: dict | None) -> str:
    """The flags, their families and the cells behind them: every cell tested, and the ones that
    could reach the FDR threshold at their n (the only ones Benjamini-Hochberg ran over)."""
    m = method or {}
    cells = f"{count_text(m.get('cells', '?'))} cells"
    if m.get("testable") is not None:
        cells += f", {count_text(m['testable'])} testable at this n"
    else:
        cells += " tested"
    counts = f"{count_text(m.get('flags', '?'))} flags in {len(found)} families, from {cells} (FDR q = {m.get('fdr_q', '?')})"
    if shared := shared_text(m):  # eval.cells.shared_play
        counts += f"; {shared}"
    return f"Top flag families: {counts}"
