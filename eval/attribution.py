"""Which seat did it: each focal seat's share of a council's outcome effects, from
leave-one-out replays (eval/run.py plays them with `attribution: true`).

For a council world w (a cast on a seed) with effect E_w = F(w) - F(its all-stand-in world),
seat i's contribution is F(w) - F(w with seat i back on its stand-in): how much of the figure
goes away without it. A council with one focal seat needs no replay (without it, the world is
the all-stand-in world). Contributions need not add up to the effect: the rest, E_w minus their
sum, is the seats' interaction. A seat's share is mean(contribution) / mean(effect) over its
seeds, with Fieller's interval for a ratio of paired means (none, its reason in `share_note`,
when the cast's effect itself is not clearly away from 0 or there are fewer than 4 seeds);
contributions and the interaction get the small-n interval of eval/stats.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .figures import FIGURES
from .metrics import per_seed, world_figures, world_unit
from .recipe import STANDIN
from .stats import MIN_N, clean, fieller, interval
from .thresholds import DEFAULTS, Thresholds

NOISE = 1e-9  # |a difference| below this is float noise of sums (pebbles, prices: cents), not a move of a figure


def _seat_names(episodes: pd.DataFrame, decisions: pd.DataFrame | None) -> dict[tuple[str, str], str]:
    """(episode id, creature) -> the recipe's policy name (decisions), else the policy identity."""
    names = {}
    focal = episodes[episodes["focal"].astype(bool)]
    for e, c, p in zip(focal["episode_id"], focal["creature"], focal["policy"]):
        names[(e, c)] = str(p)
    if decisions is not None and len(decisions) and "policy_name" in decisions:
        first = decisions.drop_duplicates(["episode_id", "creature"])
        for e, c, p in zip(first["episode_id"], first["creature"], first["policy_name"]):
            names[(e, c)] = str(p)
    return names


def attribution(
    worlds: pd.DataFrame,
    episodes: pd.DataFrame,
    replays: pd.DataFrame | None,
    thresholds: Thresholds = DEFAULTS,
    decisions: pd.DataFrame | None = None,
) -> list[dict]:
    """Per scenario x council x figure of the catalogue: the effect, each seat's contribution
    and share, and the interaction; [] when no leave-one-out replays were played."""
    if replays is None or len(replays) == 0:
        return []
    level = thresholds.ci_level
    loo = world_figures(replays, thresholds)
    without = {(e.rsplit(".without-", 1)[0], c): i for i, (e, c) in enumerate(zip(loo["episode_id"], loo["left_out"]))}
    focal = episodes[episodes["focal"].astype(bool) & (episodes["council"] != STANDIN)]
    seats_of = focal.groupby("episode_id")["creature"].apply(list).to_dict()
    names = _seat_names(episodes, decisions)
    councils = set(zip(loo["scenario"], loo["council"]))
    out = []
    for scenario, council in sorted(councils):
        mine = worlds[(worlds["scenario"] == scenario) & (worlds["council"] == council)]
        standin = worlds[(worlds["scenario"] == scenario) & (worlds["council"] == STANDIN)].set_index("pair_id")
        unit = world_unit(mine["cast"].nunique())
        for figure in FIGURES:
            rows = []
            for w in mine.itertuples():
                live, ref = getattr(w, figure), standin[figure].get(w.pair_id)
                seats = seats_of.get(w.episode_id, [])
                if ref is None or pd.isna(live) or pd.isna(ref):
                    continue
                for c in seats:
                    if len(seats) == 1:
                        rest = ref
                    elif (w.episode_id, c) in without:
                        rest = loo[figure].iloc[without[(w.episode_id, c)]]
                    else:
                        continue  # replay not played (yet)
                    rows.append((w.episode_id, w.seed, w.cast, c, live - ref, live - rest))
            if not rows:
                continue
            table = pd.DataFrame(rows, columns=["episode_id", "seed", "cast", "creature", "effect", "contribution"])
            summed = table.groupby("episode_id")[["seed", "effect", "contribution"]].agg(
                {"seed": "first", "effect": "first", "contribution": "sum"}
            )
            summed["interaction"] = summed["effect"] - summed["contribution"]
            seeds = per_seed(summed, ["effect", "interaction"])  # the council's effect over seeds, casts averaged
            seats = []
            bounds = (-1.0, 1.0) if FIGURES[figure].rate else None  # a rate's differences lie in [-1, 1]
            for (cast, creature), part in table.groupby(["cast", "creature"], sort=True):
                contribution = interval(part["contribution"], level=level, bounds=bounds, lattice=bounds is not None)
                total = part["effect"].mean()
                total = 0.0 if abs(total) < NOISE else total  # float noise of a difference of sums, not an effect
                known = part["contribution"].notna() & part["effect"].notna()
                moved = known & (
                    (part["contribution"].abs() >= NOISE) | (part["effect"].abs() >= NOISE)
                )  # 0/0: any share
                with np.errstate(divide="ignore", invalid="ignore"):
                    ratios = (part["contribution"] / part["effect"])[moved].to_numpy()
                same = len(ratios) >= MIN_N and np.isfinite(ratios).all() and np.ptp(ratios) <= 1e-9
                share_ci = None if same else fieller(part["contribution"], part["effect"], level)
                if share_ci is not None and share_ci[1] - share_ci[0] <= 1e-9:  # no spread to make an interval of
                    same, share_ci = True, None
                pairs = int(known.sum())
                note = ""
                if same:
                    still = int((known & ~moved).sum())
                    note = f"same share in all {len(ratios)} seeds" + (
                        f" where the figure moved (in {still} of {len(part)} it did not)" if still else ""
                    )
                if not same and share_ci is None:  # fieller's reasons for none, said in words
                    note = (
                        f"no interval: fewer than {MIN_N} seeds"
                        if pairs < MIN_N
                        else "no interval: this cast's effect is not clearly away from 0"
                    )
                seats.append(
                    {
                        "cast": int(cast),
                        "creature": creature,
                        "policy": names.get((part["episode_id"].iloc[0], creature), "?"),
                        "contribution": contribution.as_dict(),
                        "cast_effect": total,  # the share's denominator: this cast's mean effect
                        # + 0.0: a zero contribution to a negative effect is 0%, not "-0%"
                        "share": round(contribution.mean / total, 12) + 0.0 if total != 0 else None,
                        "share_ci": list(share_ci) if share_ci else None,
                        "share_note": note,
                    }
                )
            total = interval(seeds["effect"], level=level, unit=unit, bounds=bounds, lattice=bounds is not None)
            out.append(
                clean(
                    {
                        "scenario": scenario,
                        "council": council,
                        "figure": figure,
                        "effect": total.as_dict(),
                        "effect_clear": total.excludes_zero(),
                        "seats": seats,
                        "interaction": interval(seeds["interaction"], level=level, unit=unit).as_dict(),
                    }
                )
            )
    return out
