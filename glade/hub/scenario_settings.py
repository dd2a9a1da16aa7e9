"""The settings a council evaluation's scenario differs in from the one the model trained on,
for the card's scenario-hash warning (lineage.council_provenance): each side's rules read here
from the recipe.yaml beside it, kept only where they give the recorded hash again, and compared
as that hash counts them. Reads only; never prints."""

from __future__ import annotations

from pathlib import Path

from .cards import portable

ORDERED = ("goods", "creatures")  # the mappings whose order the scenario hash counts (RULES_VERSION 4)


def hashed_rules(scenario) -> dict:
    """The scenario's resolved rules as its hash counts them: a disposition given as a file by its
    contents. Where the file lies is no setting (the hash ignores it), and a local path would
    otherwise reach a card meant for the Hub."""
    from glade.env.schema import as_plain
    from glade.env.standin import disposition, is_disposition_path

    rules = scenario.to_dict()
    for creature in rules["creatures"].values():
        if is_disposition_path(creature["disposition"]):
            creature["disposition"] = as_plain(disposition(creature["disposition"]))
    return rules


def trained_settings(folders: list[dict]) -> dict[str, dict[str, dict]]:
    """{name: {hash: the rules (hashed_rules)}} for the training traces' scenarios whose recorded
    hash is given again here: by the traces folder's recipe.yaml (its `turns` included), or else by
    the scenario of that name at its own turns. A hash nothing here gives (the file changed since)
    is left out: its settings are not known."""
    from glade.env.scenario import load_scenario
    from glade.eval.live_decisions import recipe_scenarios

    out: dict[str, dict[str, dict]] = {}
    for folder in folders:
        try:
            named = recipe_scenarios(Path(str(folder.get("folder"))), "traces")
        except (ValueError, OSError):
            named = {}
        for name, digest in (folder.get("scenario_hashes") or {}).items():
            try:
                candidates = [named.get(name), load_scenario(name)]
            except (ValueError, OSError):
                candidates = [named.get(name)]
            found = next((c for c in candidates if c is not None and c.hash() == digest), None)
            if found is not None:
                out.setdefault(name, {})[digest] = hashed_rules(found)
    return out


def played_settings(results: Path, hashes: dict[str, str]) -> dict[str, dict]:
    """{name: the rules (hashed_rules)} of each scenario a council evaluation played whose recorded
    hash its recipe.yaml gives again here; one it does not give is left out."""
    from glade.eval.live_decisions import recipe_scenarios

    try:
        named = recipe_scenarios(Path(results))
    except (ValueError, OSError):
        return {}
    return {name: hashed_rules(s) for name, s in named.items() if s.hash() == hashes.get(name)}


def scenario_names(entries, recorded=None) -> dict[str, str]:
    """Each scenario a council evaluation names as its recipe gave it (a shipped name or a path: the keys of
    summary.json's `scenario_hashes`) -> its `name:`, as training traces name their scenarios: as glade eval
    recorded it (summary.json's `scenario_names`), else as the file loads from here. One neither gives (an
    older run's, its file moved since), or that shares its name with another (an older run's), is left out."""
    from glade.env.scenario import load_scenario

    named = {}
    for entry in entries:
        name = (recorded or {}).get(entry)
        if isinstance(name, str) and name and portable(name) == name:
            named[entry] = name
            continue
        try:
            named[entry] = load_scenario(entry).name
        except (ValueError, OSError, TypeError):
            continue
    shared = {name for name in named.values() if list(named.values()).count(name) > 1}
    return {entry: name for entry, name in named.items() if name not in shared}


def _quotable(value) -> bool:
    """A value short enough to print as it is; a local path is not printed (the card goes to the Hub)."""
    if isinstance(value, str):
        return len(value) <= 40 and portable(value) == value
    return isinstance(value, (int, float, bool, type(None)))


def settings_differ(here: dict, there: dict, at: str = "") -> list[str]:
    """The settings two resolved scenarios differ in, dotted: ["turns 8 against 12", ...]; a list,
    a long text or a local path that differs is named, not quoted. At the top, the order of goods
    or creatures too: the hash counts it, a plain comparison of mappings does not."""
    out = []
    for key in sorted(set(here) | set(there), key=str):
        a, b, name = here.get(key), there.get(key), f"{at}.{key}" if at else str(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += settings_differ(a, b, name)
        elif a != b:
            out.append(f"{name} {a} against {b}" if _quotable(a) and _quotable(b) else f"{name} differs")
    for key in ORDERED if not at else ():
        a, b = here.get(key), there.get(key)
        if isinstance(a, dict) and isinstance(b, dict) and [k for k in a if k in b] != [k for k in b if k in a]:
            out.append(f"the order of {key} differs")
    return out


def differ_words(here: dict | None, there: dict[str, dict], digests: list[str]) -> str:
    """`: turns 8 against 12` where the settings of both sides are known (played_settings,
    trained_settings) and differ in something named; otherwise nothing."""
    if here is None or not there:
        return ""
    said = []
    for digest in digests:
        diff = settings_differ(here, there[digest]) if digest in there else []
        if diff:
            more = f" and {len(diff) - 5} more" if len(diff) > 5 else ""
            tag = f" (against `{digest}`)" if len(digests) > 1 else ""
            said.append(", ".join(diff[:5]) + more + tag)
    return ": " + "; ".join(said) if said else ""
