"""Traces -> conversational SFT data: filter, dedupe, split by episode, save with a card.

A trace row (see `glade generate`) becomes one conversation: the rendered system and user
messages, then the assistant turn = the valid action as canonical JSON. Splits are by
episode, never by row, so no state of a held-out episode is seen in training.

`relabel: DISPOSITION` answers every state as that stand-in would, whoever played it: the
states of every council in the traces (a hoarders' Wood drained of pebbles, a panicking
one) become that one stand-in's lessons, so a model meets more kinds of state than its own
disposition's seats ever reach. The filters then judge the relabelled answer.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset

from glade.faults import is_fault
from glade.files import arrow_path, atomic
from glade.trace_cells import TRAIN_NEEDS
from glade.traces import load_traces, readable_shards


@dataclass(frozen=True)
class DataConfig:
    traces: tuple[str, ...]  # folders written by `glade generate` (their data/*.parquet)
    eval_share: float = 0.1  # share of episodes held out
    split_seed: int = 0
    valid_only: bool = True  # drop decisions with a parse error or an order the rules refused or cut (`rejected`)
    no_self_buy: bool = True  # drop decisions that buy what the creature makes
    creatures: tuple[str, ...] = ()  # keep only these creatures (empty: all)
    policies: tuple[str, ...] = ()  # keep only these policies, e.g. standin:hoarder (empty: all)
    top_share: float | None = None  # keep the best share of creature-turns by wealth change
    dedupe: bool = True  # one copy of each identical (prompt, answer)
    max_rows: int | None = None  # cap on the train split after the episode split (its first rows, in traces order)
    relabel: str | None = None  # answer every state as this stand-in disposition would (None: the seat's own answer)


def to_prompt_completion(row: dict) -> dict:
    """TRL masks the prompt of prompt/completion rows, so the loss is on the answer only,
    with any chat template (no generation markers needed)."""
    return {"prompt": row["messages"][:-1], "completion": row["messages"][-1:]}


def is_held_out(episode_id: str, share: float, seed: int) -> bool:
    digest = hashlib.sha256(f"{seed}:{episode_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def split_episodes(episodes: list[str], share: float, seed: int) -> set[str]:
    """The held-out episodes; at least one when share > 0 and there are two or more."""
    held = {e for e in episodes if is_held_out(e, share, seed)}
    if share > 0 and not held and len(episodes) > 1:
        held = {min(episodes, key=lambda e: hashlib.sha256(f"{seed}:{e}".encode()).digest())}
    if len(held) == len(episodes) and len(episodes) > 1:
        held.discard(sorted(held)[0])
    return held


def to_conversation(row: dict) -> dict:
    messages = [{"role": m["role"], "content": m["content"]} for m in row["messages"]]
    messages.append({"role": "assistant", "content": row["action"]})
    return {
        "messages": messages,
        "episode_id": row["episode_id"],
        "creature": row["creature"],
        "policy": row["policy"],
        "turn": row["turn"],
        "observation": row["observation"],
        "standin_action": row["standin_action"],
        "wealth_change": row["wealth_change"],
    }


def relabelled(row: dict, disposition) -> dict:
    """The row answered by the stand-in `disposition` in the same state (error, rejections and
    self-buys of that answer), as the rollout would have recorded it."""
    from glade.env import standin
    from glade.env.protocol import parse
    from glade.eval.scoring import self_buy
    from glade.seats.base import parser_notes
    from glade.tracejson import canonical

    observation = json.loads(row["observation"])
    action = canonical(standin.act(observation, disposition))
    parsed = parse(action, observation)
    return {
        "action": action,
        "error": parsed.error,
        "rejected": json.dumps(list(parser_notes(parsed))),  # as the rollout records a parsed answer's notes
        "self_buy": int(self_buy(parsed.action, observation)),
    }


def prepare(cfg: DataConfig) -> tuple[Dataset, Dataset, dict]:
    """(train, eval, counts): counts say how many rows each filter kept."""
    rows = load_traces(cfg.traces, TRAIN_NEEDS, "glade train")
    counts = {"traces": len(rows)}
    # A seat fault (its server failed to answer) is a held turn, never an answer worth learning.
    rows = rows.filter(lambda row: not is_fault(row["error"]))
    counts["faults_excluded"] = counts["traces"] - len(rows)
    if cfg.relabel is not None:
        from glade.env.standin import disposition

        rows = rows.map(relabelled, fn_kwargs={"disposition": disposition(cfg.relabel)})

    def keep(row: dict) -> bool:
        if cfg.valid_only and (row["error"] is not None or json.loads(row["rejected"])):
            return False
        if cfg.no_self_buy and row["self_buy"]:
            return False
        if cfg.creatures and row["creature"] not in cfg.creatures:
            return False
        return not cfg.policies or row["policy"] in cfg.policies

    rows = rows.filter(keep)
    counts["after_rules"] = len(rows)
    if cfg.top_share is not None:
        ranked = sorted(rows["wealth_change"], reverse=True)
        cut = ranked[max(0, int(len(ranked) * cfg.top_share) - 1)] if ranked else 0.0
        rows = rows.filter(lambda r: r["wealth_change"] >= cut)
        counts["after_outcome"] = len(rows)
    if cfg.dedupe:
        seen: set[str] = set()

        def first(row: dict) -> bool:
            key = hashlib.sha1((json.dumps(row["messages"]) + row["action"]).encode()).hexdigest()
            if key in seen:
                return False
            seen.add(key)
            return True

        rows = rows.filter(first)  # single process: `seen` must be shared
        counts["after_dedupe"] = len(rows)
    held = split_episodes(sorted(set(rows["episode_id"])), cfg.eval_share, cfg.split_seed)
    conversations = rows.map(to_conversation, remove_columns=rows.column_names)
    train = conversations.filter(lambda r: r["episode_id"] not in held)
    evaluation = conversations.filter(lambda r: r["episode_id"] in held)
    if cfg.max_rows is not None:  # the train split only, after the episode split: the first rows in traces order
        counts["train_before_max_rows"] = len(train)
        train = train.select(range(min(cfg.max_rows, len(train))))
    counts.update(train=len(train), eval=len(evaluation), eval_episodes=len(held))
    return train, evaluation, counts


def fingerprint(train: Dataset, evaluation: Dataset) -> str:
    """A short hash of the exact training and held-out conversations."""
    h = hashlib.sha256()
    for split in (train, evaluation):
        for messages in split["messages"]:
            h.update(json.dumps(messages, sort_keys=True).encode())
        h.update(b"|")
    return h.hexdigest()[:16]


def save_prepared(folder: Path, train: Dataset, evaluation: Dataset, counts: dict, cfg: DataConfig) -> None:
    """The exact SFT data of a run, as Parquet with a dataset card (what was kept, and why)."""
    import yaml

    from glade.config import as_plain

    folder.mkdir(parents=True, exist_ok=True)
    write_parquet(train, folder / "train.parquet")
    write_parquet(evaluation, folder / "eval.parquet")
    front = {
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": "train", "path": "train.parquet"}, {"split": "eval", "path": "eval.parquet"}],
            }
        ],
        "tags": ["glade", "sft", "conversational"],
    }
    card = (
        "---\n" + yaml.safe_dump(front, sort_keys=False) + "---\n\n"
        "# SFT data prepared by `glade train`\n\n"
        "Conversations (`messages`: system, user, assistant = the valid action as canonical JSON) "
        "from glade traces, split by episode (no episode is in both splits).\n\n"
        f"Fingerprint: `{fingerprint(train, evaluation)}`\n\n"
        "Rows kept at each step:\n\n" + "\n".join(f"- {k}: {v}" for k, v in counts.items()) + "\n\n"
        "Filters:\n\n```yaml\n" + yaml.safe_dump(as_plain(cfg), sort_keys=False) + "```\n"
    )
    with atomic(folder / "README.md") as tmp:
        tmp.write_text(card, encoding="utf-8")


def write_parquet(rows: Dataset, path: Path) -> None:
    """One split as Parquet, atomically, by pyarrow alone. Dataset.to_parquet writes through a
    Python (fsspec) file that Arrow's C++ writer calls into, so a Ctrl-C or SIGTERM landing there
    aborts the process (rc 134) and leaves half a file; here it lands before or after the write."""
    import pyarrow.parquet as pq

    table = rows.with_format("arrow")[:]  # [:] applies a filter's or select's indices
    with atomic(path) as tmp:
        if table.num_rows:
            pq.write_table(table, arrow_path(tmp))
        else:  # no row group, as datasets writes an empty split
            pq.ParquetWriter(arrow_path(tmp), table.schema).close()


def traces_record(folders) -> list[dict]:
    """What each traces folder held, for meta.json: its scenarios' hashes, seeds, episodes and
    protocol versions (read from the rows themselves, so a folder regenerated since can be told apart)."""
    import pyarrow.parquet as pq

    out = []
    for folder in folders:
        columns = ["scenario", "scenario_hash", "seed", "episode_id", "protocol_version"]
        tables = [pq.read_table(f, columns=columns).to_pydict() for f in readable_shards(folder)]
        rows = {c: [v for t in tables for v in t[c]] for c in columns}
        out.append(
            {
                "folder": str(folder),
                "scenario_hashes": dict(sorted(set(zip(rows["scenario"], rows["scenario_hash"], strict=True)))),
                "seeds": sorted(set(rows["seed"])),
                "episodes": len(set(rows["episode_id"])),
                "protocol_versions": sorted(set(rows["protocol_version"])),
            }
        )
    return out
