"""What a run spent, per seat and in all (glade.meter says, before it, what it will spend).

After a run, `run_cost` turns the rollout's seat meters (glade.faults.SeatMeter) into the figures `glade eval`
and `glade generate` write into summary.json and their card or report: per seat, decisions (shared ones:
answered by an identical request's reply), tokens, model seconds, decisions per model second and faults; for
the run, the same totals, wall and play time, the share of play inside the models, episodes per second.
`cost_table` lays out the per-seat part, `closing_line` the run's totals.
"""

from __future__ import annotations

import math

from glade.faults import SeatMeter
from glade.rollout import RolloutStats
from glade.words import counted


def seat_cost(meter: SeatMeter) -> dict:
    figures = meter.as_dict()
    seconds = figures["model_seconds"]
    figures["decisions_per_s"] = round(meter.decisions / seconds, 3) if seconds > 0 else None
    return figures


def run_cost(stats: RolloutStats, wall_seconds: float, episodes: int) -> dict:
    """summary.json's `cost`: per seat label and for the run. `play_seconds` is the time spent
    playing shards (summed over tasks on Ray), `model_share` its share inside model seats (on Ray,
    the seat servers' time in the models); `backend` "local" or "ray", with the Ray `cluster`."""
    play = stats.total_seconds
    return {
        "backend": "ray" if stats.cluster else "local",
        **({"cluster": stats.cluster} if stats.cluster else {}),
        "seats": {label: seat_cost(m) for label, m in sorted(stats.seats.items())},
        "episodes": episodes,
        "decisions": stats.decisions,
        "shared": sum(m.shared for m in stats.seats.values()),
        "prompt_tokens": sum(m.prompt_tokens for m in stats.seats.values()),
        "completion_tokens": sum(m.completion_tokens for m in stats.seats.values()),
        "faults": sum(m.fault_count for m in stats.seats.values()),
        "wall_seconds": round(wall_seconds, 3),
        "play_seconds": round(play, 3),
        "model_seconds": round(stats.model_seconds, 3),
        "model_share": round(stats.model_seconds / play, 4) if play > 0 else 0.0,
        "episodes_per_s": round(episodes / wall_seconds, 3) if wall_seconds > 0 else None,
    }


def cost_part(cost: dict | None, worlds: int) -> str | None:
    """Whose cost a results folder's `cost` is when it is not every world's: a resumed run's (or,
    after a rerun with nothing left, the last playing run's, kept); None when it covers them all."""
    if not cost or not 0 < cost["episodes"] < worlds:
        return None
    return (
        f"the run that played the last {cost['episodes']:,} of the {worlds:,} worlds (an earlier run played the "
        "others, and their cost is not in these figures)"
    )


def closing_line(cost: dict) -> str:
    tokens = cost["prompt_tokens"] + cost["completion_tokens"]
    rate = "-" if cost["episodes_per_s"] is None else f"{cost['episodes_per_s']:,.2f}"
    shared = cost.get("shared", 0)  # a summary written before shared answers were counted has none
    # every seat's, stand-ins' too: the eval's "live decisions" line beside it counts the council seats' alone
    decisions = f"{counted(cost['decisions'], 'decision')} by every seat" + (
        f" ({shared:,} shared with an identical request)" if shared else ""
    )
    ray, played = cost.get("cluster"), cost["play_seconds"]  # the rest of the wall: loading seats, writing shards
    where = f" on Ray ({ray['nodes']:,} node(s), {ray['cpus']:g} CPU(s); " if ray else " ("
    play = f"the tasks' play {played:.1f} s, summed" if ray else f"{played:.1f} s of it play"  # Ray: tasks wait too
    return (
        f"cost: {counted(cost['episodes'], 'episode')}, {decisions} in {cost['wall_seconds']:.1f} s wall{where}"
        f"{play}, {cost['model_share']:.1%} of that inside the models, {rate} episodes/s); "
        f"{tokens:,} tokens ({cost['prompt_tokens']:,} prompt + {cost['completion_tokens']:,} completion); "
        f"{cost['faults']:,} faults"
    )


def cost_table(cost: dict) -> tuple[list[str], list[list[str]]]:
    """(header, rows): one row per seat, for the report and the dataset card."""
    header = ["seat", "decisions", "prompt tokens", "completion tokens", "model s", "decisions/s", "faults"]
    rows = []
    for label, s in cost.get("seats", {}).items():
        rate = s.get("decisions_per_s")
        rows.append(
            [
                label,
                f"{s['decisions']:,}" + (f" ({s['shared']:,} shared)" if s.get("shared") else ""),
                f"{s['prompt_tokens']:,}",
                f"{s['completion_tokens']:,}",
                f"{s['model_seconds']:.2f}",
                "-" if rate is None or (isinstance(rate, float) and math.isnan(rate)) else f"{rate:,.1f}",
                f"{sum(s['faults'].values()):,}" + (f" ({s['fault_share']:.0%})" if s["faults"] else ""),
            ]
        )
    return header, rows


def add(total: RolloutStats, part: RolloutStats) -> None:
    """Fold one process's stats into the run's (Ray shards come back with their own)."""
    total.decisions += part.decisions
    total.model_seconds += part.model_seconds
    total.total_seconds += part.total_seconds
    total.policy_calls += part.policy_calls
    for label, m in part.seats.items():
        into = total.meter(label)
        into.decisions += m.decisions
        into.faults.update(m.faults)
        into.prompt_tokens += m.prompt_tokens
        into.completion_tokens += m.completion_tokens
        into.model_seconds += m.model_seconds
        into.shared += m.shared
