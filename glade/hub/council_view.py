"""What a council evaluation (`glade eval` RESULTS: summary.json, flags.json, rank.json) says about
one checkpoint, as the export reads it into the card and the model-index. Those files may have been
passed on or edited by hand: each field the export reads is checked for its type first (a rate
between 0 and 1, a finite number), so an impossible figure is refused by name rather than published,
and a missing one is not a traceback."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from glade.eval import results_folder
from glade.eval.flags import load_flags
from glade.eval.flags_fields import stale_thresholds
from glade.eval.json_fields import INTEGER, LIST, NUMBER, OBJECT, RATE, TEXT, is_kind, wrong_fields
from glade.eval.thresholds import DEFAULTS, run_settings
from glade.seats.base import model_of
from glade.words import portable

from .scenario_settings import played_settings, scenario_names

PROVENANCE = ("glade_version", "git_commit", "git_dirty", "protocol_version", "scenario_hashes", "written")

# What the export reads of summary.json (glade.eval.metrics.summarize), with the types glade eval writes
SUMMARY_FIELDS = {key: (LIST, None) for key in ("policies", "decision", "seats", "outcome")} | {"recipe": (TEXT, None)}
SUMMARY_FIELDS |= {"scenario_names": (OBJECT, None)}  # entry -> name: texts (wrong_summary)
DECISION_FIELDS = {"council": (TEXT,), "policy": (TEXT,), "policy_identity": (LIST, None)}
SEAT_FIELDS = {"council": (TEXT,), "policy": (TEXT,), "decisions": (INTEGER, None), "errors": (OBJECT, None)}
SEAT_FIELDS |= {"valid_action": (OBJECT, None), "self_buy": (OBJECT, None)}  # intervals of RATES (wrong_interval)
OUTCOME_FIELDS = {"scenario": (TEXT,), "council": (TEXT,), "figures": (OBJECT, None)}
FIGURE_FIELDS = {"effect": (OBJECT, None)}  # of an outcome figure: the council's and stand-in's are not read
# an interval as glade.eval.stats writes it (Interval.as_dict), `ci` two bounds or null
INTERVAL_FIELDS = {"mean": (NUMBER, None), "ci": (LIST, None), "n": (INTEGER, None), "note": (TEXT, None)}
INTERVAL_FIELDS |= {"support": (NUMBER, None)}
RATES = ("valid_action", "self_buy")  # a seat row's rates: 0 to 1
# What the card and the model-index read of a rank.json board entry (glade.eval.rank)
BOARD_FIELDS = {"outcome": (TEXT,), "level": (NUMBER,), "note": (TEXT, None), "board": (LIST,)}
ENTRY_FIELDS = {"entry": (TEXT,), "rank": (INTEGER,), "strength": (NUMBER,), "wins": (NUMBER,)}
ENTRY_FIELDS |= {"comparisons": (NUMBER,), "ci": (LIST, None), "rank_ci": (LIST, None), "note": (TEXT, None)}


@dataclass(frozen=True)
class CouncilView:
    """What a council evaluation (`glade eval` RESULTS) says about one checkpoint. Seat-level
    figures are this model's own; outcome figures and outcome flags are those of the whole
    councils it sat in, shared by every seat there."""

    recipe: str
    seats: tuple[tuple[str, str], ...]  # (council, policy): the seats this checkpoint played
    members: dict  # council -> ((policy, model), ...): every live seat of each council it sat in
    seat_rows: tuple[dict, ...]  # summary.json `seats` rows of its own seats (valid-action rate, decisions)
    outcome: tuple[dict, ...]  # summary.json `outcome` rows of its councils
    decision_flags: tuple[dict, ...] | None  # flags of its own seats (None: no flags.json)
    outcome_flags: tuple[dict, ...] | None  # outcome flags of its councils
    ranks: tuple[dict, ...]  # its leaderboard rows (rank.json), one per identity it was seated under
    level: float = DEFAULTS.ci_level  # of the intervals (the eval recipe's ci_level)
    # summary.json's record of the run: glade_version, git_commit, protocol_version, scenario_hashes ...
    provenance: dict = field(default_factory=dict)
    # name -> the rules it played, where known (scenario_settings.played_settings)
    scenarios: dict = field(default_factory=dict)

    @property
    def councils(self) -> tuple[str, ...]:
        return tuple(self.members)


def council_for(checkpoint: Path, results: str | Path) -> CouncilView:
    """What a council evaluation says about this checkpoint: its seats and their figures, the
    councils it sat in with who else sat there, their outcome effects, and the flags of its
    seats and of those councils (best first); a scenario given by path is named by its file (shown)."""
    results = Path(results)
    summary = council_summary(results)
    name = Path(checkpoint).resolve().name
    seated: dict[str, dict[str, set]] = {}  # council -> policy -> the models it ran
    for row in summary.get("decision") or []:  # null reads as none, as a missing key does
        models = seated.setdefault(row["council"], {}).setdefault(row["policy"], set())
        models.update(model_of(identity) for identity in row.get("policy_identity") or [])
    seats = tuple(sorted((c, p) for c, by in seated.items() for p, models in by.items() if name in models))
    if not seats and (missing := [key for key in results_folder.SUMMARY_HOLDS if key not in summary]):
        # none of glade eval's (`{}`): said as glade report and flag say it, not as a seat this model lacks
        raise ValueError(
            f"--council {results / 'summary.json'}: not a summary glade eval wrote (it lacks {', '.join(missing)}); "
            f"{results_folder.rebuild(results)}"
        )
    if not seats:
        raise ValueError(
            f"--council {results}: no seat of this evaluation ran {name} (policies: {', '.join(summary.get('policies') or [])})"
        )
    councils = sorted({c for c, _ in seats})
    # glade eval keys its rows and hashes by the recipe's entry (a path, for a file of one's own): named by
    # the scenario's `name:` here, as the training traces name it, so lineage can compare the two
    names = scenario_names(summary.get("scenario_hashes") or {}, summary.get("scenario_names"))
    shown = lambda row: shown_row(row, names)
    settings = run_settings({}, summary, results)[0]  # summary.json's thresholds: its figures were computed at them
    provenance = shown({key: summary[key] for key in PROVENANCE if key in summary})
    flags = None
    if (results / "flags.json").exists():
        loaded = load_flags(results / "flags.json")
        if why := stale_thresholds(loaded["method"], settings):  # as glade report refuses them
            raise ValueError(f"{results / 'flags.json'}: out of date ({why}); rerun `glade flag {results}` first")
        flags = loaded["flags"]
    return CouncilView(
        recipe=summary.get("recipe") or results.name,
        seats=seats,
        members={
            c: tuple((p, " / ".join(sorted(models))) for p, models in sorted(seated[c].items())) for c in councils
        },
        seat_rows=tuple(r for r in summary.get("seats") or [] if (r["council"], r["policy"]) in seats),
        outcome=tuple(shown(o) for o in summary.get("outcome") or [] if o["council"] in councils),
        decision_flags=None
        if flags is None
        else tuple(shown(f) for f in flags if f["kind"] == "decision" and (f["council"], f.get("policy")) in seats),
        outcome_flags=None
        if flags is None
        else tuple(shown(f) for f in flags if f["kind"] == "outcome" and f["council"] in councils),
        ranks=ranks_for(results, name),
        level=settings.ci_level,  # checked as glade report checks them
        provenance=provenance,
        scenarios={
            portable(n): rules for n, rules in played_settings(results, provenance.get("scenario_hashes") or {}).items()
        },
    )


def shown_row(row: dict, names: dict[str, str] | None = None) -> dict:
    """A row of summary.json or flags.json, or its provenance, with its scenarios named as the card and the
    model-index name them: by `names` (scenario_names: an entry -> its `name:`), else one given by path by
    its file (portable: a local path must not reach the Hub)."""

    def named(value):
        if isinstance(value, list):
            return [named(item) for item in value]
        if isinstance(value, str) and value in (names or {}):
            return names[value]
        return portable(value)

    found = {key: named(row[key]) for key in ("scenario", "scenarios") if row.get(key) is not None}
    if isinstance(row.get("scenario_hashes"), dict):
        found["scenario_hashes"] = {named(name): digest for name, digest in row["scenario_hashes"].items()}
    return {**row, **found}


def members_text(council: CouncilView, name: str) -> str:
    """`a (this model), b (tiny-base), ...`: the live seats of council `name`."""
    own = {p for c, p in council.seats if c == name}
    return ", ".join(f"{p} ({'this model' if p in own else model})" for p, model in council.members[name])


def council_summary(results: Path) -> dict:
    """RESULTS/summary.json as `council_for` reads it (glade.eval.results_folder.read_summary), each field it
    reads of the type glade eval writes (wrong_summary: `decision` rows name their council and
    policy); a ValueError naming the file and the field otherwise."""
    path = results / "summary.json"
    if not results.exists():
        raise ValueError(
            f"--council {results}: no such folder (glade eval writes its results where its recipe's out says)"
        )
    if not path.exists():
        raise ValueError(f"--council {results}: no summary.json (run glade eval first)")
    try:
        summary = results_folder.read_summary(results)
    except ValueError as exc:
        raise ValueError(f"--council {exc}") from None
    if why := wrong_summary(summary):
        raise ValueError(f"--council {path}: {why} (glade eval never writes that); {results_folder.rebuild(results)}")
    return summary


def wrong_summary(summary: dict) -> str | None:
    """The first field of summary.json the export reads that is not of the type glade eval writes
    ("seats[0].valid_action.mean must be a rate between 0 and 1, not -1"); None where all are."""
    if why := wrong_fields(summary, SUMMARY_FIELDS, ""):
        return why
    if not all(is_kind(policy, TEXT) for policy in summary.get("policies") or []):
        return "policies must be a list of texts"
    if not all(is_kind(name, TEXT) for name in (summary.get("scenario_names") or {}).values()):
        return "scenario_names must map each scenario to a text"
    for i, row in enumerate(summary.get("decision") or []):
        why = wrong_fields(row, DECISION_FIELDS, f"decision[{i}]")
        if why or not all(is_kind(identity, TEXT) for identity in row.get("policy_identity") or []):
            return why or f"decision[{i}].policy_identity must be a list of texts"
    for i, row in enumerate(summary.get("seats") or []):
        why = wrong_fields(row, SEAT_FIELDS, f"seats[{i}]")
        for rate in RATES:  # past a wrong field, `row` may be no object
            why = why or wrong_interval(row.get(rate), f"seats[{i}].{rate}", rate=True)
        if why:
            return why
    for i, row in enumerate(summary.get("outcome") or []):
        if why := wrong_fields(row, OUTCOME_FIELDS, f"outcome[{i}]"):
            return why
        for figure, values in (row.get("figures") or {}).items():
            where = f"outcome[{i}].figures.{figure}"
            why = wrong_fields(values, FIGURE_FIELDS, where) or wrong_interval(values.get("effect"), f"{where}.effect")
            if why:
                return why
    return None


def wrong_interval(item: dict | None, where: str, rate: bool = False) -> str | None:
    """What is wrong with an interval of summary.json (None: none given): a field not of its type
    (for a `rate`, its mean and ends between 0 and 1), or a `ci` that is not two such numbers."""
    if item is None:
        return None
    kind = RATE if rate else NUMBER
    if why := wrong_fields(item, {**INTERVAL_FIELDS, "mean": (kind, None)}, where):
        return why
    ci = item.get("ci")
    if ci is None or two_numbers(ci, kind):
        return None
    return f"{where}.ci must be a list of two {'rates between 0 and 1' if rate else 'numbers'}"


def two_numbers(bounds: list, kind: str = NUMBER) -> bool:
    return len(bounds) == 2 and all(is_kind(b, kind) for b in bounds)


def wrong_entry(entry, where: str) -> str | None:
    """What is wrong with a rank.json board entry, as wrong_fields says it; None where nothing is."""
    if why := wrong_fields(entry, ENTRY_FIELDS, where):
        return why
    for key in ("ci", "rank_ci"):
        if entry.get(key) is not None and not two_numbers(entry[key]):
            return f"{where}.{key} must be a list of two numbers"
    # glade rank gives both, neither, or rank_ci alone (every refit the same strength: a tie's places still span)
    if entry.get("ci") is not None and entry.get("rank_ci") is None:
        return f"{where} must give rank_ci where it gives ci"
    return None


def ranks_for(results: Path, name: str) -> tuple[dict, ...]:
    """This checkpoint's rows of RESULTS/rank.json (`glade rank`), each with the board's size and
    what was compared; none when there is no leaderboard or it is not on it. A rank.json that is not
    the board glade rank writes, or whose fields the card reads are not of their types, is a
    ValueError naming it."""
    from glade.eval.rank import entries_of

    path = results / "rank.json"
    if not path.exists():
        return ()
    rerun = f"move it aside (or remove it), then rerun `glade rank {results}` to write it again"  # rank keeps a file it did not write
    try:
        board = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"--council {path}: not a leaderboard glade rank wrote (not JSON); {rerun}") from None
    why = wrong_fields(board, BOARD_FIELDS, "")
    if why is None:
        why = next(filter(None, (wrong_entry(e, f"board[{i}]") for i, e in enumerate(board["board"]))), None)
    if why:
        raise ValueError(f"--council {path}: {why} (glade rank never writes that); {rerun}")
    extra = {"of": len(board["board"]), "outcome": board["outcome"], "level": board["level"], "note": board.get("note")}
    # the board's note (too few seeds for any interval) else the entry's own (too few for its)
    return tuple({**row, **extra, "note": extra["note"] or row.get("note")} for row in entries_of(board, name))
