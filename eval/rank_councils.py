"""What one `glade rank` entry stands for. An entry merges every folder and seat that bears
its name (`team`: a council, RECIPE/COUNCIL; `seat`: a policy identity), so a name that
stands for two different seatings would average them as one and never compare them: such
folders are refused, naming what differs (`check_councils`, `check_identities`). What a
folder seated is read from its rows and from the recipe its ledger records
(glade.run_limits.results_recipe: the seat specs that decide the rows, without transport keys).
Folders played under another prompt protocol, or another version of one scenario, are
refused too (`check_versions`): their comparisons would pool unlike games as one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from glade import checkpoint
from glade.config import changes
from glade.resume import PROGRESS, read_ledger
from glade.seats.base import identity_clash
from glade.seats.spec import as_spec

from .recipe import STANDIN


def _recipe(folder: Path) -> dict:
    """The recipe the folder's ledger records ({} when none); a progress.json that is not JSON
    is named: read as no ledger, the checks of its seat specs would be skipped without a word."""
    ledger = read_ledger(folder)
    if ledger is None and (folder / PROGRESS).exists():
        raise ValueError(
            f"{folder / PROGRESS}: not a glade progress ledger (no JSON object), where rank reads the seat specs "
            "this folder was played with; restore it from a copy of the folder, or move it aside (rank then "
            "compares the folder by its rows alone)"
        )
    recipe = (ledger or {}).get("recipe")
    return recipe if isinstance(recipe, dict) else {}


def _plain(policies: dict) -> dict:
    """policy name -> seat spec, one spec however it is written: a bare string is a stand-in
    disposition (glade.seats.load), and a model spec is `_deciding`."""
    return {n: as_spec(s) if isinstance(s, str) else _deciding(s) for n, s in policies.items()}


MODEL_KEYS = ("model", "adapter", "path")  # the keys of a seat spec that name a model folder


def _deciding(spec):
    """A seat spec as far as it decides the answers: without `device` (where it ran) and
    `batch_size` (a sampled seat's ledger keeps it: it picks the draws, not how the seat answers),
    and with each model folder as the folder it names from here (`shipped:NAME` resolved, a
    relative path made absolute), so one model spelled two ways is one. A folder not found here
    stays as written."""
    if not isinstance(spec, dict):
        return spec
    out = {k: v for k, v in spec.items() if k not in ("device", "batch_size")}
    for key in MODEL_KEYS:
        if isinstance(out.get(key), str):
            out[key] = _folder(out[key])
    return out


def _folder(ref: str) -> str:
    try:
        folder = checkpoint.resolve(ref) if ref.startswith(checkpoint.SHIPPED) else Path(ref).expanduser()
    except ValueError:
        return ref
    return str(folder.resolve()) if folder.is_dir() else ref


@dataclass(frozen=True)
class Seating:
    """Who sat in one folder's council: what decides its `team` lift."""

    seats: frozenset  # (cast, creature, policy identity) of every focal seat, from episodes.parquet
    shown: dict  # creature -> policy identity in the first cast (the focal map as written)
    names: dict  # creature (or "*") -> the recipe's policy name there, where the ledger says
    specs: dict | None  # creature (or "*") -> that policy's seat spec as the ledger records it; None: no ledger
    rotate: int | None  # the council's `rotate` as its ledger records it; None: no ledger


def seating(folder: Path, council: str, seats: pd.DataFrame) -> Seating:
    """A council's Seating from its focal rows in `folder` and the recipe its ledger records
    (the seat specs, so a temperature an identity does not carry still tells two councils apart)."""
    recipe = _recipe(folder)
    councils, policies = recipe.get("councils"), recipe.get("policies")
    spec = councils.get(council) if isinstance(councils, dict) else None
    focal = spec.get("focal") if isinstance(spec, dict) else None
    first = seats[seats["cast"] == seats["cast"].min()]
    shown = dict(sorted(first[["creature", "policy"]].drop_duplicates().itertuples(index=False, name=None)))
    named = isinstance(focal, dict) and all(isinstance(n, str) for n in focal.values())  # a hand edit: a list
    if not named or not isinstance(policies, dict):  # read as a folder with no ledger: its rows alone
        return Seating(_seated(seats), shown, {}, None, None)
    names = {c: focal.get(c, focal.get("*")) for c in shown} | focal
    plain = _plain(policies)
    return Seating(_seated(seats), shown, names, {c: plain.get(n) for c, n in focal.items()}, spec.get("rotate"))


def _seated(seats: pd.DataFrame) -> frozenset:
    return frozenset(seats[["cast", "creature", "policy"]].drop_duplicates().itertuples(index=False, name=None))


def seating_differs(a: Seating, b: Seating) -> str:
    """What differs between two seatings of one council, readably ("" when they are the same
    council). Specs are compared only where both folders' ledgers record them."""
    specs = a.specs is not None and b.specs is not None
    if a.seats == b.seats and (not specs or (a.specs, a.rotate) == (b.specs, b.rotate)):
        return ""
    names = {**b.names, **a.names}
    for mine, theirs in ((a.shown, b.shown), (a.specs, b.specs) if specs else ({}, {})):
        keys = sorted(set(mine) | set(theirs), key=str)
        parts = [
            f"{f'{names[k]} on {k}' if names.get(k) else k}: {_versus(mine.get(k), theirs.get(k))}"
            for k in keys
            if mine.get(k) != theirs.get(k)
        ]
        if parts:
            return "; ".join(parts)
    if specs and a.rotate != b.rotate:
        return f"rotate {a.rotate} vs {b.rotate}"
    return "other policies in their other casts"


def _versus(a, b) -> str:
    """`a vs b`, for two identities or specs; of two specs only the keys that differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        return ", ".join(f"{k} {_setting(a.get(k))} vs {_setting(b.get(k))}" for k in keys)
    return f"{_seat(a)} vs {_seat(b)}"


def _setting(value) -> str:
    return "unset" if value is None else json.dumps(value)


def _seat(value) -> str:
    return "no focal seat" if value is None else value if isinstance(value, str) else json.dumps(value)


def check_councils(results: list[str | Path], episodes: pd.DataFrame) -> None:
    """Refuses (ValueError) two folders that hold one council, RECIPE/COUNCIL, seating different
    policies: `team` keys its entries by that name and averages the folders, so two councils
    would read as one. Refused rather than told apart by folder: an entry's name then means one
    council wherever it is ranked, and renaming costs a rerun that plays nothing."""
    focal = episodes[(episodes["world"] != STANDIN) & episodes["focal"].astype(bool)]
    first: dict[tuple, tuple[int, Seating]] = {}
    for (recipe, council, source), seats in focal.groupby(["recipe", "council", "source"]):
        mine = seating(Path(results[source]), council, seats)
        other, theirs = first.setdefault((recipe, council), (source, mine))
        differs = seating_differs(theirs, mine)
        if differs:
            raise ValueError(
                f"{results[other]} and {results[source]} both hold council {recipe}/{council}, seating different "
                f"policies ({differs}); give one of them another name (rerun its glade eval with name=NEW: nothing "
                "plays again) to rank them apart"
            )


def check_identities(results: list[str | Path], named: pd.DataFrame) -> None:
    """Refuses (ValueError) one policy identity that stands for seats with different specs:
    `seat` keys its entries by identity (`hf:` + the model folder's name, glade.seats.hf_policy),
    so two models in folders of one name, or one model at two temperatures, would be averaged
    as one policy and never compared. `named` holds (source, policy, policy_name): the recipe's
    name for each identity that decided (decisions.parquet); the ledger gives that name's spec,
    compared as `check_councils` compares them. A stand-in of a disposition file is compared by
    the parameters the ledger records (two calibrations left at their default name in two
    evaluations are two stand-ins named alike); one of a shipped disposition's name is that
    disposition. A name whose folder's ledger records no spec is left out: nothing to compare."""
    specs = {source: _policies(Path(results[source])) for source in set(named["source"])}
    rows = named[["source", "policy", "policy_name"]].drop_duplicates().sort_values(["source", "policy_name"])
    compared = (
        ((source, name), identity, _compared(specs[source].get(name)))
        for source, identity, name in rows.itertuples(index=False, name=None)
    )
    seats = (seat for seat in compared if seat[2] is not None)
    clash = identity_clash(seats)
    if clash is not None:
        ((other, was), theirs), ((source, name), spec), identity = clash
        if spec.get("kind") == "standin":
            raise ValueError(
                f"{results[other]} (policy {was}) and {results[source]} (policy {name}) both seat stand-in {identity}, "
                f"with different parameters ({changes(theirs['parameters'], spec['parameters'])}); `seat` ranks a "
                "stand-in by its name and would "
                "average them as one: give one of the disposition files another name (its `name:`) and evaluate it "
                "again into a new out, or rank the folders separately"
            )
        if other == source:
            where = f"{results[source]}: policies {was} and {name} are"
            instead = "rank with --outcome team (its entries are councils)"
        else:
            where = f"{results[other]} (policy {was}) and {results[source]} (policy {name}) are"
            instead = "rank the folders separately"
        raise ValueError(
            f"{where} both {identity}, with different seat specs ({_versus(theirs, spec)}); `seat` ranks a policy by "
            "its identity and would average them as one: give the model folders distinct names (a copy or link "
            f"named for each), or {instead}"
        )


def _compared(spec) -> dict | None:
    """What decides a seat's answers, as compared across folders: a model seat's spec; a
    disposition file's parameters (its path differs from folder to folder); None for a shipped
    disposition (its name is the stand-in) or no spec."""
    if not isinstance(spec, dict):
        return None
    if spec.get("kind") == "standin":
        return {"kind": "standin", "parameters": spec["parameters"]} if "parameters" in spec else None
    return spec


def _policies(folder: Path) -> dict:
    """policy name -> seat spec, as the folder's ledger records them ({} when it does not)."""
    policies = _recipe(folder).get("policies")
    return _plain(policies) if isinstance(policies, dict) else {}


def folder_versions(folder: Path, summary: dict, episodes: pd.DataFrame) -> dict:
    """What one results folder was played with, as rank.json records it: the glade and prompt
    protocol its summary.json names (None where it has none; the protocol its rows name, where they
    do, so a folder without its summary is still compared on it) and each scenario's hash from its rows."""
    hashes = episodes[["scenario", "scenario_hash"]].drop_duplicates().itertuples(index=False, name=None)
    rows = sorted(set(episodes["protocol_version"].dropna().astype(str))) if "protocol_version" in episodes else []
    return {
        "results": str(folder),
        "glade_version": summary.get("glade_version"),
        "git_commit": summary.get("git_commit"),
        "git_dirty": summary.get("git_dirty"),
        "protocol_version": summary.get("protocol_version") or (" + ".join(rows) or None),
        "scenario_hashes": dict(sorted((str(n), str(h)) for n, h in hashes)),
    }


def check_versions(versions: list[dict]) -> None:
    """Refuses (ValueError) folders played under different prompt protocols (the policies read
    other prompts) or with two versions of one scenario name (other rules, one name): ranked
    together, their comparisons would be pooled as one game. A folder whose summary names no
    protocol is not compared on it (nothing to compare)."""
    protocol, hashes = None, {}
    for v in versions:
        if v["protocol_version"] is not None:
            protocol = protocol or v
            if v["protocol_version"] != protocol["protocol_version"]:
                raise ValueError(
                    f"{protocol['results']} and {v['results']} were evaluated under different prompt protocols "
                    f"({protocol['protocol_version']} vs {v['protocol_version']}), so their policies read other "
                    "prompts: rank them separately, or evaluate both with one glade (glade eval RECIPE out=NEW)"
                )
        for name, digest in v["scenario_hashes"].items():
            first = hashes.setdefault(name, v)
            if first["scenario_hashes"][name] != digest:
                raise ValueError(
                    f"{first['results']} and {v['results']} hold two versions of scenario {name} (hash "
                    f"{first['scenario_hashes'][name]} vs {digest}: its file, the recipes' turns, or glade's rules "
                    "changed), so their games differ under one name: rank them "
                    "separately, or evaluate both with one scenario file and the same turns "
                    "(glade eval RECIPE out=NEW)"
                )
