"""A leaderboard of policies (`glade rank RESULTS [RESULTS ...]`): Bradley-Terry strengths
fitted on paired comparisons of per-episode outcomes, with bootstrap intervals over seeds.

Two kinds of comparison (`outcome`):
- `seat` (the default): who did better on the same creature, in the same scenario, on the
  same seed. A cell is (scenario, seed, creature); in it every policy that sat on that
  creature (a council's focal seat, or the creature's own stand-in in the all-stand-in
  world) has one value, its wealth change over the episode (the mean over the worlds where
  it sat there: casts, councils and results folders alike); every pair of policies in the
  cell is one comparison, won by the higher value, a tie counting half to each. Policies
  are their identities (`standin:hoarder`, `hf:BASE+ADAPTER`, a server model...), so one
  checkpoint is one entry across councils and evaluations (and one identity standing for
  two seat specs is refused: eval.rank_councils).
- `team`: the council against the all-stand-in world on the same seed. A council's value
  in a (scenario, seed) is its focal seats' wealth change summed, minus the same creatures'
  in the paired all-stand-in world (averaged over casts); the all-stand-in world's is 0.
  Entries are councils (RECIPE/COUNCIL; folders merge only where they seat the same
  policies: eval.rank_councils) and "all stand-ins".

The model: P(i beats j) = 1 / (1 + exp(-(s_i - s_j))), strengths s on the log-odds scale,
centred on 0 (the average entry), fitted by choix's iterative Luce spectral ranking
(`choix.ilsr_pairwise_dense`, the maximum-likelihood estimate) with a weak prior (`ALPHA`)
that keeps a strength finite when an entry wins or loses every comparison (`separated`: its
strength then says "beyond the others", its size set by the prior). Intervals: the
expanded percentile bootstrap (glade.eval.stats.resample_intervals), refitting each time,
where the cluster resampled is a seed with every (scenario, seed) unit on it that holds a
comparison: scenarios that split only at the legend (the crash gambits) replay a seed's
decisions up to it, so its units are no independent draws. Below MIN_RESAMPLED seeds there
is no interval, and the note says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from glade.files import atomic, check_replaceable, json_with_keys
from glade.provenance import stamp
from glade.words import level_percent

from .faults import without_faults
from .rank_councils import check_councils, check_identities, check_versions, folder_versions
from .recipe import STANDIN
from .results_folder import check_results_folder, check_summary, interrupted, read_recipe, read_summary, read_table
from .stats import MIN_RESAMPLED, clean, expanded_tail, resample_intervals
from .thresholds import DEFAULTS

ALPHA = 0.01  # choix's regularisation: a weak prior toward equal strengths
OUTCOMES = ("seat", "team")
ALL_STANDINS = "all stand-ins"
UNIT = ["scenario", "scenario_hash", "seed"]  # one (scenario, seed); the bootstrap resamples seeds, units together
COLUMNS = (*UNIT, "world", "council", "cast", "creature", "policy", "focal", "wealth_change")  # of episodes.parquet
BOARD_KEYS = {"board", "method", "outcome", "level"}  # every rank.json it writes holds these (how one is told)
BEYOND = 10  # refits past each end of an interval at the least: fewer, and an end is one or two refits' noise


DEFAULT_RESAMPLES = 4000  # about 23 refits past each end of a 95% interval at 8 seeds
MOST_RESAMPLES = 200_000  # a 99% interval's least (109,163) runs in about 3 minutes; 99.9% would take weeks


def min_resamples(level: float) -> int:
    """The fewest refits that leave BEYOND refits outside each end of a `level` interval where
    its ends lie farthest out, at MIN_RESAMPLED seeds (more seeds pull them in): below it an
    interval can exclude its own estimate (1 refit) or 0 where 4,000 do not (10 refits)."""
    return int(BEYOND / expanded_tail(MIN_RESAMPLED, level)) + 1


@dataclass(frozen=True)
class Comparisons:
    entries: list[str]
    units: list[tuple]  # (scenario, scenario_hash, seed)
    wins: np.ndarray  # (units, entries, entries): wins[u, i, j] = what i won against j in unit u (ties half)
    labels: dict[str, list[str]]  # entry -> the recipe names it ran under


def load_episodes(results: list[str | Path]) -> tuple[pd.DataFrame, pd.DataFrame, list[dict]]:
    """Every results folder's episodes.parquet (with `recipe`, the recipe's name, and
    `source`, the folder's place in `results`), the names its recipe gave each policy
    identity: (source, policy, policy_name), from decisions.parquet, and what each folder was
    played with (rank_councils.folder_versions)."""
    frames, named, versions = [], [], []
    for folder in map(Path, results):
        path = folder / "episodes.parquet"
        check_results_folder(folder, "glade rank takes results folders")
        if not path.exists():
            raise ValueError(f"{folder}: no episodes.parquet ({_why_no_episodes(folder)})")
        frame = read_table(path, needs=COLUMNS)
        summary = read_summary(folder)
        check_summary(folder, summary)  # glade eval's, of these tables, its fields of their types
        read_recipe(folder)  # its thresholds and keys, as flag and report check them
        versions.append(folder_versions(folder, summary, frame))
        if (folder / "decisions.parquet").exists():
            pairs = read_table(folder / "decisions.parquet", ["policy", "policy_name"]).drop_duplicates()
            named.append(pairs.assign(source=len(frames)))
        frames.append(frame.assign(recipe=summary.get("recipe") or folder.name, source=len(frames)))
    named = pd.concat(named, ignore_index=True) if named else pd.DataFrame(columns=["policy", "policy_name", "source"])
    return pd.concat(frames, ignore_index=True), named, versions


def recipe_names(named: pd.DataFrame) -> dict[str, list[str]]:
    """policy identity -> the names the recipes gave it, sorted."""
    return {policy: sorted(set(group)) for policy, group in named.groupby("policy")["policy_name"]}


def _why_no_episodes(folder: Path) -> str:
    """What to do about a folder without episodes.parquet: glade eval writes it last, after
    every world its ledger lists, so a folder with the ledger of an eval is one cut short."""
    return interrupted(folder, "rank the folder") or "give a results folder written by glade eval"


def seat_values(episodes: pd.DataFrame) -> pd.DataFrame:
    """(unit..., cell, entry, value) for `seat` comparisons."""
    seated = episodes[(episodes["world"] == STANDIN) | episodes["focal"].astype(bool)]
    seated = seated.dropna(subset=["policy", "wealth_change"])
    values = seated.groupby([*UNIT, "creature", "policy"], as_index=False)["wealth_change"].mean()
    return values.rename(columns={"creature": "cell", "policy": "entry", "wealth_change": "value"})


def team_values(episodes: pd.DataFrame) -> pd.DataFrame:
    """(unit..., cell, entry, value) for `team` comparisons: one cell per unit."""
    keys = [*UNIT, "recipe", "source"]  # two folders of one recipe pair within each folder
    standin = episodes[episodes["world"] == STANDIN].set_index([*keys, "creature"])["wealth_change"].to_dict()
    focal = episodes[(episodes["world"] != STANDIN) & episodes["focal"].astype(bool)]
    rows = []
    for (scenario, digest, seed, recipe, source, council, _cast), seats in focal.groupby([*keys, "council", "cast"]):
        reference = [standin.get((scenario, digest, seed, recipe, source, c)) for c in seats["creature"]]
        if any(r is None for r in reference):
            continue  # the paired all-stand-in world is missing (or had seat faults)
        lift = float(seats["wealth_change"].sum() - sum(reference))
        rows.append((scenario, digest, seed, f"{recipe}/{council}", lift))
    lifts = pd.DataFrame(rows, columns=[*UNIT, "entry", "value"])
    lifts = lifts.groupby([*UNIT, "entry"], as_index=False)["value"].mean()  # casts (and folders) averaged
    paired = lifts[UNIT].drop_duplicates().assign(entry=ALL_STANDINS, value=0.0)
    return pd.concat([lifts, paired], ignore_index=True).assign(cell="team")


def comparisons(episodes: pd.DataFrame, outcome: str = "seat", names: dict | None = None) -> Comparisons:
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome: expected one of {', '.join(OUTCOMES)}, got {outcome!r}")
    values = seat_values(episodes) if outcome == "seat" else team_values(episodes)
    entries = sorted(values["entry"].unique())
    units = sorted(values[UNIT].drop_duplicates().itertuples(index=False, name=None))
    if len(entries) < 2:
        raise ValueError(f"{outcome} comparisons need at least two policies; found {', '.join(entries) or 'none'}")
    at = {e: i for i, e in enumerate(entries)}
    unit_at = {u: i for i, u in enumerate(units)}
    wins = np.zeros((len(units), len(entries), len(entries)))
    for key, cell in values.groupby([*UNIT, "cell"]):
        u = unit_at[tuple(key[:3])]
        idx = np.array([at[e] for e in cell["entry"]])
        v = cell["value"].to_numpy(float)
        better = (v[:, None] > v[None, :]) + 0.5 * (v[:, None] == v[None, :])
        np.fill_diagonal(better, 0.0)
        wins[u][np.ix_(idx, idx)] += better
    return Comparisons(entries, units, wins, {e: (names or {}).get(e, []) for e in entries})


def fit(wins: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """Bradley-Terry strengths (log-odds scale, mean 0) from a wins matrix (wins[i, j]: i over j),
    converged well inside TIE: at choix's default 1e-8 three tied entries came out 2e-9 apart,
    placed 1, 1, 3 (in the full fit and in the refits alike)."""
    import choix

    strengths = choix.ilsr_pairwise_dense(np.asarray(wins, float), alpha=alpha, max_iter=1000, tol=1e-12)
    strengths = np.asarray(strengths, float)
    return strengths - strengths.mean()


def disconnected(wins: np.ndarray) -> list[list[int]]:
    """The groups of entries never compared with each other, directly or through others
    (one group when every strength is comparable)."""
    from scipy.sparse.csgraph import connected_components

    count, label = connected_components((wins + wins.T) > 0, directed=False)
    return [list(np.flatnonzero(label == k)) for k in range(count)]


def rank(
    results: list[str | Path],
    outcome: str = "seat",
    resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULTS.ci_level,
    seed: int = 0,
    on_total=None,
    progress=None,
    least_resamples: int = 0,
) -> dict:
    """The leaderboard (what rank.json holds): entries best first, each with its strength,
    the bootstrap interval of the strength and of its rank, wins and comparisons.
    `least_resamples` (the CLI's min_resamples(level)) refuses fewer refits, before any,
    where some entry gets an interval; where none does, no interval's ends need them."""
    episodes, named, versions = load_episodes(results)
    check_versions(versions)  # other prompts or other rules under one name: not one game
    # an entry merges whatever bears its name: refused where that is two different seatings
    if outcome == "team":
        check_councils(results, episodes)
    else:
        check_identities(results, named)
    names = recipe_names(named)
    # a held turn is not the policy's play; per folder, since two folders share episode ids
    kept = [without_faults(None, folder)[1:] for _, folder in episodes.groupby("source", sort=False)]
    episodes = pd.concat([k[0] for k in kept], ignore_index=True)
    excluded = {"fault_rows": 0, "fault_worlds": sum(k[1]["fault_worlds"] for k in kept)}
    c, alone = compared_only(comparisons(episodes, outcome, names))
    total = c.wins.sum(axis=0)
    groups = disconnected(total)
    if len(groups) > 1:
        parts = ["{" + ", ".join(c.entries[i] for i in g) + "}" for g in groups]
        raise ValueError(
            f"these groups of policies were never compared with each other: {' and '.join(parts)}; "
            "seat them on the same creatures (a council, or rotate) so the strengths share one scale"
        )
    strengths = fit(total)
    places = best_ranks(strengths)  # tied strengths share a place
    # best first by the strength as printed, then by name: a tie's last digits are the fit's
    # rounding (the place keeps the rank column in order where it tells two printed alike apart)
    order = sorted(range(len(c.entries)), key=lambda i: (-float(f"{strengths[i]:.2f}"), places[i], c.entries[i]))

    n = len(c.entries)
    seeds = sorted({unit[2] for unit in c.units})
    at = {s: k for k, s in enumerate(seeds)}
    by_seed = np.zeros((len(seeds), n, n))  # a seed's scenarios share its draws: one cluster
    for u, unit in enumerate(c.units):
        by_seed[at[unit[2]]] += c.wins[u]
    too_few = len(seeds) < MIN_RESAMPLED  # fewer: a bootstrap interval falls short of its level
    # the same floor per entry: one compared on fewer seeds gets no interval (a percentile interval of 4 covers <= 0.875)
    played = ((by_seed.sum(axis=1) + by_seed.sum(axis=2)) > 0).sum(axis=0)
    if resamples < least_resamples and not too_few and (played >= MIN_RESAMPLED).any():
        raise ValueError(
            f"--resamples {resamples}: at least {least_resamples} refits for a {level_percent(level)} interval's "
            f"ends (about {BEYOND} beyond each at {MIN_RESAMPLED} seeds; fewer and the ends are a few refits' noise)"
        )
    if on_total is not None:
        on_total(0 if too_few else resamples)

    def refit(picked: np.ndarray) -> np.ndarray:
        """Strengths and ranks in one resample; NaN for an entry the resample never compares (fitted,
        the prior alone would put it at 0 and drag the others' centre and intervals with it)."""
        if progress is not None:
            progress()
        wins = by_seed[picked].sum(axis=0)
        present = (wins.sum(axis=0) + wins.sum(axis=1)) > 0
        s, best, worst = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
        if present.any():
            fitted = fit(wins[np.ix_(present, present)])
            # on the full fit's scale: centred where the full fit centres these entries
            s[present] = fitted - fitted.mean() + strengths[present].mean()
            # ranks among all entries, an absent one at its full-fit strength; a tie spans its places
            everyone = np.where(present, s, strengths)
            best[present] = best_ranks(everyone)[present]
            worst[present] = n - best_ranks(-everyone)[present] + 1
        return np.concatenate([s, best, worst])

    if too_few:
        low = high = np.full(3 * n, np.nan)
        missing = np.zeros(n)
    else:
        low, high, missing = resample_intervals(len(seeds), refit, seed=seed, level=level, resamples=resamples)
    board = []
    for i in order:
        short = too_few or played[i] < MIN_RESAMPLED
        # every refit the same (each seed orders these entries alike): no spread to make an interval of
        flat = not short and _tidy(low[i]) == _tidy(high[i])
        board.append(
            {
                "rank": int(places[i]),
                "entry": c.entries[i],
                "names": c.labels.get(c.entries[i], []),
                "strength": _tidy(strengths[i]),
                "ci": None if short or flat else [_tidy(low[i]), _tidy(high[i])],
                "rank_ci": None if short else [low[n + i], high[2 * n + i]],
                "seeds": int(played[i]),  # the seeds it was compared on
                "note": f"too few seeds for an interval: {played[i]}, at least {MIN_RESAMPLED}"
                if short
                else "the same strength in every resample (every seed orders it alike): no spread for an interval"
                if flat
                else None,
                "wins": total[i].sum(),
                "comparisons": total[i].sum() + total[:, i].sum(),
                "separated": bool(total[i].sum() == 0 or total[:, i].sum() == 0),  # strength set by the prior
                # resamples that never compared it: its intervals come from the others
                "resamples_without": float(missing[i]),
            }
        )
    return clean(
        {
            "outcome": outcome,
            "figure": "wealth_change" if outcome == "seat" else "focal wealth change minus the all-stand-in world's",
            "results": [str(r) for r in results],
            "method": f"Bradley-Terry, choix.ilsr_pairwise_dense (alpha {ALPHA}); expanded percentile bootstrap "
            "(Hesterberg 2015) over seeds, each with all its scenarios",
            "units": len(c.units),  # (scenario, seed) units that hold a comparison
            "seeds": len(seeds),  # the clusters the bootstrap resamples
            "note": f"too few seeds for an interval: {len(seeds)}, at least {MIN_RESAMPLED}" if too_few else None,
            "comparisons": float(total.sum()),
            "resamples": resamples,
            "level": level,
            "seed": seed,
            "excluded": excluded,
            # sat only where no other policy sat on that creature, scenario and seed (the
            # all-stand-in world's creatures no council seated): nothing to compare them with
            "not_compared": alone,
            "provenance": stamp(),  # which glade ranked them
            "folders": versions,  # which glade, protocol and scenario versions played each folder
            "board": board,
        }
    )


TIE = 1e-9  # strengths closer than this are one place: the fit's rounding, not a difference


def best_ranks(strengths: np.ndarray) -> np.ndarray:
    """Competition ranks (1 = strongest): 1 + how many are stronger by more than TIE, so tied
    entries share their best place."""
    return 1 + (strengths[None, :] > strengths[:, None] + TIE).sum(axis=1)


def _tidy(value: float) -> float:
    """A fitted figure without floating-point dust: -1e-16 is 0, not a "-0.00" in the table."""
    return round(float(value), 12) + 0.0


def compared_only(c: Comparisons) -> tuple[Comparisons, list[str]]:
    """The comparisons without the entries that were never compared with anyone (an
    all-stand-in world's creature that no council seated: alone in every cell it sat in),
    and those entries; and without the units where nothing was compared, which would only
    thin the bootstrap's resamples (a folder that adds no comparison changes no figure).
    Entries alone have no strength to fit; other groups never compared with each other are
    refused by `rank`."""
    totals = c.wins.sum(axis=0)
    seen = (totals.sum(axis=0) + totals.sum(axis=1)) > 0
    alone = [e for e, kept in zip(c.entries, seen) if not kept]
    if seen.sum() < 2:
        # the recipe names an entry has: a policy that sat only where the same stand-in sat
        same = [f"{'/'.join(c.labels[e])} is {e}" for e in c.entries if c.labels.get(e)]
        raise ValueError(
            "no two policies ever sat on the same creature, scenario and seed, so none can be compared "
            f"({', '.join(c.entries)}); "
            + (
                f"the recipe's policies are the stand-ins the all-stand-in world seats on their creatures "
                f"({', '.join(same)}): seat a policy that differs from the creature's stand-in"
                if same
                else "seat them on the same creatures (a council, or rotate)"
            )
        )
    keep, used = np.flatnonzero(seen), np.flatnonzero(c.wins.sum(axis=(1, 2)) > 0)
    entries = [c.entries[i] for i in keep]
    wins = c.wins[used][:, keep][:, :, keep]
    units = [c.units[u] for u in used]
    return Comparisons(entries, units, wins, {e: c.labels[e] for e in entries}), alone


def check_out(out: str | Path) -> None:
    """Refuses (ValueError) an --out that is a folder, or a file that is not a board glade rank wrote."""
    check_replaceable(Path(out), json_with_keys(BOARD_KEYS), "leaderboard (rank.json)")


def write_rank(board: dict, out: str | Path) -> Path:
    out = Path(out)
    check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic(out) as tmp:  # whole or not at all: a kill leaves the earlier board, never an empty one
        tmp.write_text(json.dumps(board, indent=2) + "\n", encoding="utf-8")
    return out


def entries_of(board: dict, name: str) -> list[dict]:
    """The board entries of a checkpoint folder `name` (identities that end in that name): one
    checkpoint seated structured and unconstrained is two entries, each with its own strength."""
    from glade.seats.base import model_of

    return [row for row in board.get("board", []) if model_of(row["entry"]) == name]
