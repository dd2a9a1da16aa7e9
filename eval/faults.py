"""Seat faults in an evaluation's tables: turns a live seat's server failed to answer.

A fault is a held turn, not the model's behaviour, so the fault rows of decisions.parquet
are left out of the decision metrics and the decision flags, and the worlds they happened
in (episodes.parquet `faults` > 0) are left out of the outcome metrics and flags; both are
counted, so a summary or a flag list says what it left out.
"""

from __future__ import annotations

import pandas as pd

from glade.faults import is_fault


def without_faults(decisions: pd.DataFrame | None, episodes: pd.DataFrame | None):
    """(decisions without fault rows, episodes without the worlds that had faults, what was left
    out); a missing table stays None."""
    fault_rows = None
    if decisions is not None and len(decisions) and "error" in decisions:
        fault_rows = decisions["error"].map(is_fault).astype(bool)
    faulted = set()
    if episodes is not None and len(episodes) and "faults" in episodes:
        faulted = set(episodes.loc[episodes["faults"] > 0, "episode_id"])
    excluded = {"fault_rows": int(fault_rows.sum()) if fault_rows is not None else 0, "fault_worlds": len(faulted)}
    if fault_rows is not None and fault_rows.any():
        decisions = decisions[~fault_rows]
    if faulted:
        episodes = episodes[~episodes["episode_id"].isin(faulted)]
    return decisions, episodes, excluded


def excluded_text(excluded: dict) -> str:
    """`N decisions whose seat failed to answer (seat faults), and the M worlds they were in`."""
    return (
        f"{excluded['fault_rows']} live decision(s) whose seat failed to answer (seat faults), and the "
        f"{excluded['fault_worlds']} world(s) they happened in; see summary.json `faults`"
    )
