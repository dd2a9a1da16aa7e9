"""Flag families: the flags a person reads as one finding.

Decision flags group per (scenario, council, creature, phase), over casts and goods: "Oona at
the seam (gambit_rumour, mixed): sells honey where the stand-in buys (+0.62), buys acorns
where the stand-in holds (+0.30)". Outcome flags group per (scenario, council): "outcomes
of gambit_shock, one_model: legend_ratio +0.100, volume -12.0". A family ranks by its best
member's score, then by how many members it has; it carries its members' ranks and up to
three of their example decisions.
"""

from __future__ import annotations

PHASE_WORDS = {"before": "before the legend", "seam": "at the seam", "after": "after the legend"}
VERBS = {"buy": "buys", "sell": "sells", "none": "holds"}
EXAMPLES = 3


def creature_name(creature: str) -> str:
    return creature[:1].upper() + creature[1:]


def member_text(flag: dict) -> str:
    """One member in words: "sells honey where the stand-in buys (+0.62)" or "volume -12.0"."""
    if flag["kind"] == "decision":
        return (
            f"{VERBS.get(flag['direction'], flag['direction'])} {flag['good']} where the stand-in "
            f"{VERBS.get(flag['instead'], flag['instead'])} ({flag['effect']:+.2f})"
        )
    return (
        f"{flag['metric']} {flag['effect']:+.3g} (stand-in {flag['standin_value']:.3g}, live {flag['live_value']:.3g})"
    )


def family_title(family: dict) -> str:
    if family["kind"] == "decision":
        casts = family["casts"]
        cast = f", cast{'s' if len(casts) > 1 else ''} {', '.join(map(str, casts))}" if casts else ""
        return (
            f"{creature_name(family['creature'])} {PHASE_WORDS.get(family['phase'], family['phase'])} "
            f"({family['scenario']}, {family['council']}{cast})"
        )
    return f"outcomes of {family['scenario']}, {family['council']}"


def families(flags: list[dict]) -> list[dict]:
    """Flags (ranked, with examples) grouped into families, best first, each with its text."""
    groups: dict[tuple, list[dict]] = {}
    for f in flags:
        key = (f["kind"], f["scenario"], f["council"], f.get("creature"), f.get("phase"))
        groups.setdefault(key, []).append(f)
    out = []
    for (kind, scenario, council, creature, phase), members in groups.items():
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
            "council": council,
            "creature": creature,
            "phase": phase,
            "casts": sorted({f["cast"] for f in members if f.get("cast") is not None}),
            "members": [f["rank"] for f in members],
            "score": max(f["score"] for f in members),
            "n": min(f["n"] for f in members),
            "q": min(f["q"] for f in members),
            "examples": examples,
        }
        family["title"] = family_title(family)
        family["text"] = f"{family['title']}: " + ", ".join(member_text(f) for f in members)
        out.append(family)
    out.sort(key=lambda fam: (-fam["score"], -len(fam["members"]), fam["members"][0]))
    for i, fam in enumerate(out, 1):
        fam["family"] = i
    return out
