"""The example rows of each flag (eval/flags.py): up to EXAMPLES live decisions a person reads beside it, with the
prompt, the live response and the stand-in action. The rows are picked from the decisions table by position (each
cell's rows, each world's rows, grouped once), so picking them costs the rows picked, not the table; the texts come
from the table itself, or from `texts` (eval/lean_tables.example_texts) where the table holds hashes of them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from .cells import CELL
from .families import EXAMPLES
from .lean_tables import combined

KEY = ["episode_id", "turn", "creature"]
AT = "_at"  # a row's position in the decisions table


def _key(row) -> tuple:
    return str(row["episode_id"]), int(row["turn"]), str(row["creature"])


def _example(row, texts: dict | None = None) -> dict:
    prompt, response = texts[_key(row)] if texts is not None else (row["prompt"], row["completion"])
    return {
        "episode_id": str(row["episode_id"]),
        "turn": int(row["turn"]),
        "creature": str(row["creature"]),
        "prompt": str(prompt),
        "response": str(response),
        "action": str(row["action"]),
        "error": None if pd.isna(row.get("error")) else str(row["error"]),  # a cut-off answer says so beside it
        "standin_action": str(row["standin_action"]),
    }


def _picked(rows: pd.DataFrame, limit: int = EXAMPLES) -> pd.DataFrame:
    """Up to `limit` rows, one per episode first (then more from the same episodes)."""
    rows = rows.sort_values(KEY)
    first = rows.drop_duplicates("episode_id")
    return pd.concat([first, rows.drop(first.index)]).head(limit)


def add_examples(decisions: pd.DataFrame, flags: list[dict], texts: Callable | None = None) -> None:
    """Sets f["examples"] of each flag. `texts` (keys -> {key: (prompt, completion)}) reads the texts of the rows
    picked, all flags' at once; without it they are the table's own. Each flag's rows are picked from a frame of the
    few columns it sorts on, so a flag costs its rows, not the table's width."""
    if decisions is None or not len(decisions):
        for f in flags:
            f["examples"] = []
        return
    rows_of = decisions.groupby(CELL, sort=False).indices
    by_world = decisions.groupby("episode_id", sort=False).indices if any(f["kind"] == "outcome" for f in flags) else {}
    at = np.arange(len(decisions))
    narrow: dict = {}  # the columns a good's flags read, with each row's position (AT)

    def columns(good, more=()) -> pd.DataFrame:
        sides = [f"dir_{good}", f"standin_dir_{good}"] if isinstance(good, str) and f"dir_{good}" in decisions else []
        if (good, more) not in narrow:
            narrow[good, more] = combined(decisions[[*KEY, *more, *sides]].assign(**{AT: at}))
        return narrow[good, more]

    picks = []
    for f in flags:
        if f["kind"] == "outcome":
            frame = columns(f.get("good"), ("agreement",))
            picks.append(_outcome_rows(frame, by_world, f["pairs"], f["effect"], f.get("good"), f.get("legend_turn")))
        else:
            here = columns(f["good"]).iloc[rows_of[tuple(f[c] for c in CELL)]]
            g, d = f["good"], f["direction"]
            rows = here[(here[f"dir_{g}"] == d) & (here[f"standin_dir_{g}"] != d)]
            picks.append((_picked(rows) if len(rows) else rows, None))
    shown = [c for c in (*KEY, "prompt", "completion", "action", "error", "standin_action") if c in decisions]
    positions = np.concatenate([np.asarray(rows[AT], dtype=np.int64) for rows, _ in picks] or [np.empty(0, np.int64)])
    table = decisions[shown].iloc[positions]
    found = texts(table[KEY]) if texts is not None else None
    full = iter([_example(r, found) for _, r in table.iterrows()])
    for f, (rows, world) in zip(flags, picks):
        f["examples"] = [
            next(full) | ({} if world is None else {"outcome": _outcome(world, e, f["metric"])})
            for e in rows["episode_id"]
        ]


def _outcome(world: pd.DataFrame, episode, metric: str) -> str:
    return (
        f"{metric} {world.at[episode, 'live']:.3g} in this world, "
        f"{world.at[episode, 'standin']:.3g} in the all-stand-in world on its seed"
    )


def _outcome_rows(
    decisions: pd.DataFrame, by_world: dict, pairs: pd.DataFrame, effect: float, legend_good, legend_turn
):
    """Live decisions from the worlds that moved most in the effect's direction: the least
    agreeing ones, nearest the legend turn, disagreements on the legend good first. Each says
    its world's figure beside its pair's (`outcome`), which is what ties it to the flag."""
    none = decisions.iloc[:0]
    if len(pairs) == 0:
        return none, None
    top = pairs.assign(moved=pairs["diff"] * np.sign(effect)).sort_values("moved", ascending=False)
    episodes = list(top["episode_id"].head(EXAMPLES))
    at = [by_world[e] for e in dict.fromkeys(episodes) if e in by_world]
    if not at:
        return none, None
    rows = decisions.iloc[np.sort(np.concatenate(at))]  # table order, as a filter on the column gives them
    rows = rows.assign(
        _rank=rows["episode_id"].map({e: i for i, e in enumerate(episodes)}),
        _legend=(rows[f"dir_{legend_good}"] == rows[f"standin_dir_{legend_good}"]).astype(int)
        if isinstance(legend_good, str) and f"dir_{legend_good}" in rows
        else 0,
        _near=(rows["turn"] - (legend_turn if legend_turn is not None and not pd.isna(legend_turn) else 0)).abs(),
    )
    rows = rows.sort_values(["_legend", "agreement", "_near", "_rank", "turn", "creature"])
    first = rows.drop_duplicates("episode_id")
    picked = pd.concat([first, rows.drop(first.index)]).head(EXAMPLES)
    return picked, top.drop_duplicates("episode_id").set_index("episode_id")
