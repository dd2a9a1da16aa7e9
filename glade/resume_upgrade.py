"""Ledgers an older glade wrote, for glade.resume.

Before progress.json held the recipe (format 2, since 2026-12-02), it was a plain map,
EPISODE_ID -> part (older traces folders: -> the shard path, data/part-00003.parquet). Such a
folder still resumes, and its rerun rewrites the ledger in format 2 naming its recipe (the
upgrade), but only under the recipe that played it: the ledger cannot say which one did, so
the recipe.yaml the run wrote beside its rows when it finished (glade eval's results,
glade generate's dataset card) says it. A folder that records no recipe is refused: a rerun
would keep its rows as if this recipe had played them. So is one whose rows were played under
other rules than today's (`other_rules`), and one whose ledger records another stand-in
version (`other_standin`).
"""

from __future__ import annotations

from pathlib import Path

from glade.config import changes
from glade.env import protocol, standin
from glade.provenance import written_by

RECIPE = "recipe.yaml"


def legacy_episodes(data: dict) -> dict[str, dict]:
    """The episodes of a plain EPISODE_ID -> part map (an older ledger), as format 2 lists them."""
    return {str(e): {"part": _part_number(v), "faults": 0} for e, v in data.items()}


def recorded_recipe(root: Path, recipe: dict) -> dict:
    """The recipe that played the folder whose ledger does not record one, read from its
    recipe.yaml in the terms of `recipe` (the content the ledger records now: its keys only,
    seat specs as glade.seats.results_spec reads them). A ValueError when nothing records it."""
    written = _written_recipe(root)
    if written is None:
        raise ValueError(
            f"{root}: its progress.json was written by {written_by(root)} and records no recipe, and the folder has "
            f"no readable {RECIPE} that does (a run cut short writes none): glade cannot tell which recipe played "
            "its rows; move the folder aside, or choose another out (out=DIR)"
        )
    return {key: _as_recorded(written[key], value) for key, value in recipe.items() if key in written}


def unasked(written: dict, recipe: dict) -> dict:
    """`recipe` without what the ledger's recipe `written` predates, so that it is not asked: `worlds`
    and a seat's `batch_size`, which the ledger records since 2026-12-05 where a seat samples by batch
    (glade.run_limits.samples_by_batch)."""
    recipe = recipe if "worlds" in written else {k: v for k, v in recipe.items() if k != "worlds"}
    for group in ("policies", "councils"):
        if isinstance(written.get(group), dict) and isinstance(recipe.get(group), dict):
            recipe = {**recipe, group: _without_batch(written[group], recipe[group])}
    return recipe


def unrecorded_parameters(written: dict, recipe: dict) -> tuple[dict, list[str]]:
    """`recipe` without the `parameters` of each disposition-file seat whose spec in the ledger's recipe
    `written` has none (an older glade's, before 2026-12-04, recorded the file's path alone), and where
    those are, dotted: what that glade did not record, so it cannot tell whether the file changed since."""
    found: list[str] = []

    def strip(theirs, ours, at: str):
        if not isinstance(ours, dict) or not isinstance(theirs, dict):
            return ours
        if "kind" in ours:  # a seat spec
            if "parameters" not in ours or "parameters" in theirs:
                return ours
            found.append(f"{at}.parameters")
            return {k: v for k, v in ours.items() if k != "parameters"}
        return {k: strip(theirs.get(k), v, f"{at}.{k}" if at else str(k)) for k, v in ours.items()}

    return strip(written, recipe, ""), found


def another_recipe(root: Path, written: dict, recipe: dict) -> str:
    """The refusal of a folder whose ledger's recipe `written` is not `recipe`: the keys that changed, or, where
    the only change is what an older glade did not record (unrecorded_parameters), that glade's, since rerunning
    it as it was would be refused again."""
    asked, where = unrecorded_parameters(written, recipe)
    if where and written == asked:
        return (
            f"{root}: its progress.json was written by {written_by(root)}, which did not record a disposition "
            f"file's parameters ({', '.join(where[:3])}{' and more' if len(where) > 3 else ''}), so no glade can "
            "tell whether the file changed since its rows played; move the folder aside (or choose another out, "
            "out=DIR) to start afresh"
        )
    return (
        f"{root}: holds a run of another recipe ({changes(written, asked)}); rerun it as it was, "
        "or choose another out (out=DIR) for this one"
    )


def _without_batch(written, ours):
    """`ours` (seat specs, or councils of them) with `batch_size` left out of each spec whose
    written counterpart has none."""
    if not isinstance(ours, dict) or not isinstance(written, dict):
        return ours
    if "kind" in ours:  # a seat spec
        return ours if "batch_size" in written else {k: v for k, v in ours.items() if k != "batch_size"}
    return {k: _without_batch(written.get(k), v) for k, v in ours.items()}


def unresumable(root: Path, ledger: dict | None, verb: str) -> str | None:
    """Why no glade can finish the run an older glade's `glade VERB` left unfinished in `root`, as a clause
    (callers name the folder), or None: its ledger (no `format` key) records no recipe, and a run cut short
    wrote no recipe.yaml to say which recipe played its rows (so recorded_recipe refuses a rerun)."""
    if ledger is None or "format" in ledger or _written_recipe(root) is not None:
        return None
    played = "world" if verb == "eval" else "episode"
    return (
        f"an unfinished `glade {verb}` run from {written_by(root)}, whose progress.json records no recipe, so no "
        f"glade can resume it: move the folder aside and run `glade {verb}` again, or run it into another out=DIR; "
        f"every {played} plays again"
    )


def _written_recipe(root: Path) -> dict | None:
    """The recipe.yaml a finished run wrote beside its rows, or None (missing, unreadable, not a mapping)."""
    import yaml

    try:
        written = yaml.safe_load((root / RECIPE).read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):  # YAMLError is not a ValueError
        return None
    return written if isinstance(written, dict) else None


def _as_recorded(value, ours):
    """`value` from recipe.yaml read as the recipe content holds `ours`: where that is a seat
    spec (a mapping with a `kind`), without transport keys and with `latest:` and disposition
    files resolved, as glade.seats.results_spec made it."""
    if isinstance(ours, dict) and "kind" in ours:
        from glade.seats import results_spec

        try:
            return results_spec(value)
        except ValueError:  # left as written: it then differs, and the message names it
            return value
    if isinstance(ours, dict) and isinstance(value, dict):
        return {k: _as_recorded(v, ours.get(k)) for k, v in value.items()}
    return value


def _part_number(value) -> int:
    """A part number; older traces folders listed the shard path (data/part-00003.parquet)."""
    if isinstance(value, str):
        return int(Path(value).stem.split("-")[-1])
    return int(value)


def other_standin(root: Path, ledger: dict) -> str | None:
    """Why a folder whose ledger lists finished episodes played by another stand-in version (`standin_version`) than
    today's cannot be resumed, else None. A ledger of an older glade records none: not refused, it cannot be told."""
    recorded = ledger.get("standin_version")
    if not ledger.get("episodes") or recorded is None or recorded == standin.STANDIN_VERSION:  # read at call time
        return None
    return (
        f"{root}: its finished episodes were played by stand-ins of version {recorded}, this glade's are "
        f"{standin.STANDIN_VERSION}; move the folder aside (or set another out) to start afresh"
    )


def other_rules(root: Path, protocols: set[str], seen: set[tuple], now: dict[str, set[str]]) -> str | None:
    """Why a folder's finished rows cannot be resumed under today's rules, else None: rendered with another
    prompt protocol (`protocols`), or played under another scenario hash than its name has `now` (`seen`: the
    rows' (scenario, scenario_hash) pairs); one that is another scenario's now is an older glade's letting two
    scenario files share a name, not a changed file."""
    if protocols - {protocol.PROTOCOL_VERSION}:  # read at call time: a test stands in a later version
        return (
            f"{root}: its finished episodes were rendered with prompt protocol {', '.join(sorted(protocols))}, "
            f"this glade renders {protocol.PROTOCOL_VERSION}; move the folder aside (or set another out) to start afresh"
        )
    stale = sorted((name, h) for name, h in seen if name in now and h not in now[name])
    if not stale:
        return None
    name, digest = stale[0]
    twin = next((other for other in sorted(now) if digest in now[other]), None)
    why = (
        f"include the scenario now named {twin} (hash {digest}), which an older glade let share that name"
        if twin
        else f"were played under other rules (scenario hash {digest}, now {', '.join(sorted(now[name]))}: the "
        "scenario file changed, or glade's rules in code, RULES_VERSION)"
    )
    return f"{root}: its finished episodes of {name} {why}; move the folder aside (or set another out) to start afresh"
