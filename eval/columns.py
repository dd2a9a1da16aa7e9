"""The columns of glade eval's tables, one home: each column's Arrow type and meaning (DECISION_COLUMNS for
decisions.parquet, EPISODE_COLUMNS for episodes.parquet and attribution.parquet), the schema the tables (and their
shards) are written with, and the README's list of them (readme_columns).

The schema is written explicitly, as glade.shard_spool.dataset_schema is: inferred from the rows, a column that holds no
value in a whole run (no legend, no error) took another type there than in a run where it does, and text was
large_string under pandas 3 and string under pandas 2, so two runs' tables did not concatenate."""

from __future__ import annotations

import re
from dataclasses import dataclass

TEXT, WHOLE, REAL, FLAG = "string", "int64", "double", "bool"  # every column nullable
GOOD = "<good>"  # in a name: one column per good of the scenario (null in rows of a scenario without it)


@dataclass(frozen=True)
class Column:
    kind: str  # its Arrow type: TEXT, WHOLE, REAL or FLAG
    meaning: str


_WORLD = {
    "episode_id": Column(
        TEXT,
        "the world played: SCENARIO.COUNCIL.cCAST.sSEED (the all-stand-in world SCENARIO.standin.sSEED; a leave-one-out replay adds .without-CREATURE)",
    ),
    "pair_id": Column(TEXT, "the (scenario, seed) pair the world shares with its all-stand-in world: SCENARIO.sSEED"),
}
_RULES = {
    "scenario": Column(TEXT, "the scenario's name"),
    "scenario_hash": Column(TEXT, "the hash of the scenario's rules as played"),
    "protocol_version": Column(TEXT, "the prompt protocol glade rendered the prompts with (glade.env.protocol)"),
}
_WHERE = {
    "cast": Column(WHOLE, "the council's cast: 0 as written, k its focal seats shifted k places (rotate)"),
    "seed": Column(WHOLE, "the world's seed"),
}
DECISION_COLUMNS = {  # one row per live decision: a council's focal seat on one turn
    **_WORLD,
    **_RULES,
    "council": Column(TEXT, "the recipe's council name"),
    **_WHERE,
    "turn": Column(WHOLE, "the turn, from 0"),
    "phase": Column(TEXT, "before the legend turn, seam (the legend turn) or after"),
    "creature": Column(TEXT, "the deciding creature"),
    "policy_name": Column(TEXT, "the recipe's policy name on the seat"),
    "policy": Column(TEXT, "the deciding policy's identity (e.g. standin:panic_seller)"),
    "action": Column(TEXT, "the live action (JSON)"),
    "standin_action": Column(TEXT, "the stand-in's action in the same state (JSON): the counterfactual"),
    "standin_disposition": Column(TEXT, "the stand-in disposition that gave it: the creature's scenario one"),
    "completion": Column(
        TEXT, "the seat's raw answer (a stand-in's: its action, JSON; a seat fault's: empty, no answer came)"
    ),
    "prompt": Column(TEXT, "the user prompt the seat read"),
    "observation": Column(TEXT, "the observation decided on (JSON), from which glade calibrate rebuilds the state"),
    "error": Column(
        TEXT,
        "the answer's named error (the parser's), or a fault (server_...) where the seat failed to answer; else null",
    ),
    "self_buy": Column(WHOLE, "1 where the action bids for a good its creature makes (no stand-in does), else 0"),
    "wealth_change": Column(REAL, "the creature's wealth change over the turn, in pebbles"),
    "agreement": Column(REAL, "the share of goods on which the live action takes the stand-in's side"),
    f"dir_{GOOD}": Column(TEXT, "the side the live action takes on the good: buy, sell or none"),
    f"standin_dir_{GOOD}": Column(TEXT, "the side the stand-in takes on the good"),
    f"qty_{GOOD}": Column(WHOLE, "the units of the good the live action orders: + bought, - sold"),
    f"standin_qty_{GOOD}": Column(WHOLE, "the units of the good the stand-in orders"),
}
EPISODE_COLUMNS = {  # one row per world x creature; the world's figures repeat on each of its rows
    **_WORLD,
    "world": Column(TEXT, "council, standin (the paired all-stand-in world) or attribution (a leave-one-out replay)"),
    **_RULES,
    "council": Column(TEXT, "the recipe's council name; standin in the all-stand-in world"),
    **_WHERE,
    "creature": Column(TEXT, "the seat's creature"),
    "policy": Column(TEXT, "the seat's policy identity; null where it played no turn"),
    "focal": Column(FLAG, "whether the seat is a live (focal) one, not a background stand-in"),
    "wealth_start": Column(REAL, "the seat's wealth before its first turn, in pebbles"),
    "wealth_end": Column(REAL, "the seat's wealth after its last turn"),
    "wealth_change": Column(REAL, "wealth_end - wealth_start"),
    "trades": Column(WHOLE, "the fills of the seat's orders over the episode"),
    "self_buys": Column(WHOLE, "the seat's turns with a self-buy (a bid for a good its creature makes)"),
    "errors": Column(WHOLE, "the seat's turns with a named error, faults included"),
    "faults": Column(WHOLE, "the turns the seat failed to answer (an error server_...)"),
    "legend_good": Column(TEXT, "the legend's good (the gambit's, else the first legend's); null without a legend"),
    "legend_turn": Column(WHOLE, "the legend turn (the gambit's spring, else the first legend's); null without one"),
    "seam_ratio": Column(
        REAL,
        "the seam's own write of the legend good at the legend turn, after / before (1.0: none); null without a legend in the turns played",
    ),
    "price_path": Column(TEXT, "every good's reference price after each turn (JSON: good -> prices)"),
    "start_prices": Column(TEXT, "every good's price before turn 0 (JSON)"),
    "gambit_pnl": Column(
        REAL,
        "the patron's gambit P&L at the end, in pebbles (its positions' P&L; a magistrate's fine is not in it); "
        "null where the scenario has no gambit",
    ),
    "final_gini": Column(REAL, "the Gini of wealth after the last turn"),
    "volume": Column(WHOLE, "units traded over the episode, all goods"),
    "turns": Column(WHOLE, "the turns played"),
    "legend_ratio": Column(
        REAL,
        "the legend good's price at the legend turn's settlement over the turn before; null without a legend in the turns played",
    ),
    "left_out": Column(TEXT, "attribution.parquet only: the focal creature put back on its stand-in in this replay"),
}

EVERY_COLUMN = {**EPISODE_COLUMNS, **DECISION_COLUMNS}  # a name shared by both tables has one type in both


def column_of(name: str, columns: dict[str, Column]) -> Column | None:
    """The documented column `name` is: itself, or a per-good one (dir_honey is dir_<good>); None if none."""
    if name in columns:
        return columns[name]
    for key, column in columns.items():
        if GOOD in key and re.fullmatch(re.escape(key).replace(re.escape(GOOD), ".+"), name):
            return column
    return None


def schema(frame, columns: dict[str, Column], glade: dict | None = None):
    """The Arrow schema of a table of `columns`, in `frame`'s column order: each documented column its type, and its
    meaning as field metadata (b"description"); `glade`, where given, as the table's b"glade" key (JSON). A column no
    longer documented (in a shard an older glade wrote) keeps the type pyarrow reads in it, text as string."""
    import json

    import pyarrow as pa

    fields = []
    for name in frame.columns:
        column = column_of(name, columns)
        if column is not None:
            described = {b"description": column.meaning.encode()}
            fields.append(pa.field(name, pa.type_for_alias(column.kind), metadata=described))
            continue
        kind = pa.Array.from_pandas(frame[name]).type
        fields.append(pa.field(name, pa.string() if pa.types.is_large_string(kind) or pa.types.is_null(kind) else kind))
    return pa.schema(fields, metadata=None if glade is None else {b"glade": json.dumps(glade).encode()})


def with_protocol(frame, version: str):
    """Episode rows an older glade wrote (before episodes had protocol_version) as this one writes them: `version`
    where they have none, the column after scenario_hash. The resume refuses rows of another protocol
    (glade.resume.ShardLog.check_rows), so the rows it keeps are this protocol's, or an all-stand-in world's, whose
    seats read no prompt."""
    if not len(frame) or ("protocol_version" in frame and frame["protocol_version"].notna().all()):
        return frame
    filled = frame["protocol_version"].fillna(version) if "protocol_version" in frame else version
    rest = [c for c in frame.columns if c != "protocol_version"]
    at = rest.index("scenario_hash") + 1 if "scenario_hash" in rest else len(rest)
    return frame.assign(protocol_version=filled)[[*rest[:at], "protocol_version", *rest[at:]]]


def readme_columns() -> str:
    """The README's list of the tables' columns (README.md, "The columns of the results tables"), as Markdown."""
    lines = []
    for table, columns in (("decisions.parquet", DECISION_COLUMNS), ("episodes.parquet", EPISODE_COLUMNS)):
        lines += ["", f"`{table}`:", "", "| column | type | meaning |", "| --- | --- | --- |"]
        lines += [f"| `{name}` | {c.kind} | {c.meaning} |" for name, c in columns.items()]
    return "\n".join(lines[1:]) + "\n"
