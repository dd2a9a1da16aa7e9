"""A traces folder against its ledger (OUT/progress.json, glade.resume): where `glade generate`
writes its shards, whether a folder is a run cut short, and whether the shards in data/ hold
what the ledger lists, each row once. glade.traces writes the folder and reads it back."""

from __future__ import annotations

from pathlib import Path

from glade.files import writer_of
from glade.resume import PROGRESS, ShardLog, read_episodes, read_ledger
from glade.resume_upgrade import unresumable
from glade.shard_rows import episodes_in

Planned = tuple[str, str, str, int]  # (episode_id, scenario entry, council, seed): glade.traces.episode_plan
RERUN = "rerun the `glade generate` command that wrote the folder: it plays those episodes again"


def shard_log(out: str | Path) -> ShardLog:
    return ShardLog(Path(out), {"traces": "data/part-{part:05d}.parquet"}, complete=("traces",))


def interrupted_generate(dataset: Path) -> str | None:
    """Why `dataset` is a `glade generate` run cut short, or None: generate writes the card (README.md) last."""
    if not (dataset / PROGRESS).is_file() or (dataset / "README.md").exists():
        return None
    ledger = read_ledger(dataset)
    kinds = ledger.get("shards") if ledger is not None else None
    if isinstance(kinds, list) and kinds and kinds[0] != "traces":
        return None  # another verb's results (glade eval's), not a generate run
    if kinds is None and not any((dataset / "data").glob("part-*.parquet")):
        return None  # an older ledger names no kind: only its shards tell
    if (holder := writer_of(dataset)) is not None:  # a live run holds its lock: still playing, not cut short
        return f"{dataset}: a `glade generate` run ({holder}) is writing it now: let it finish, then use the folder"
    if older := unresumable(dataset, ledger, "generate"):  # its rerun is refused: no advice to rerun it
        return f"{dataset}: {older}"
    episodes = ledger.get("episodes") if isinstance(ledger, dict) and ledger.get("format") else ledger
    done = f"{len(episodes)} episode(s) written" if isinstance(episodes, dict) else "some episodes written"
    return (
        f"{dataset}: an interrupted `glade generate` run ({done}, no dataset card yet), not a traces dataset "
        "yet: rerun the same generate command to finish it (it plays only what is missing), then use the folder"
    )


def check_listed(folder: Path, files: list[str]) -> dict[str, set[str]]:
    """Every shard in data/ is one the ledger lists, and every listed one is there: a file copied in (or
    a second run's) would read as more episodes, a lost one as fewer (read_episodes names a bad ledger).
    Returns each listed shard's path -> the episodes its part lists ({}: no ledger, as the Hub's copy)."""
    if not (folder / PROGRESS).is_file():  # a dataset copied without its ledger (the Hub's copy): nothing to hold
        return {}
    members = _members(folder)
    listed = set(members)
    if unlisted := sorted(set(files) - listed):
        raise ValueError(f"{unlisted[0]}: a shard the folder's ledger ({PROGRESS}) does not list; move it out of data/")
    if missing := sorted(listed - set(files)):
        raise ValueError(f"{missing[0]}: listed in the folder's ledger ({PROGRESS}) but not there; {RERUN}")
    return members


def check_shard_rows(files: list[str], members: dict[str, set[str]]) -> None:
    """No shard repeats a row (episode, turn, creature) or holds an episode its part does not list
    (`members`, from check_listed): a shard edited or copied over by hand would count those rows twice,
    or another run's, in the card's counts, in training and in calibration, where a rerun of generate
    plays its part again (glade.resume). Nor do two shards hold one episode (generate writes an episode
    whole into one part): a shard copied under another name, where no ledger lists the parts."""
    fix = RERUN if members else "restore it from where the folder came from"  # the Hub's copy has no ledger
    held: dict[str, str] = {}  # episode -> the shard that holds it
    for file in files:
        if isinstance(found := episodes_in(Path(file), members.get(file), whole=False), str):
            raise ValueError(f"{file}: {found}; {fix}")
        if twice := sorted(e for e in found if e in held):
            raise ValueError(
                f"{file}: holds {len(twice)} episode(s) that {held[twice[0]]} holds too (a copy: their rows would "
                f"count twice); {fix}"
            )
        held.update(dict.fromkeys(found, file))


def _members(folder: Path) -> dict[str, set[str]]:
    """Each listed shard's path -> the episodes its part lists."""
    log, out = shard_log(folder), {}
    for episode, entry in read_episodes(folder / PROGRESS).items():
        out.setdefault(str(log.path("traces", entry["part"])), set()).add(episode)
    return out


def entry_id(planned: Planned) -> str:
    """The id an older glade gave this episode: the recipe's entry in place of the scenario's name."""
    _, entry, council, seed = planned
    return f"{entry}.{council}.s{seed}"


def left_to_play(plan: list[Planned], done: set[str]) -> list[Planned]:
    """The planned episodes a folder does not hold yet, under either id: one an older glade wrote under its
    entry's id (entry_id) is finished too, and is neither played again nor counted twice."""
    return [p for p in plan if p[0] not in done and entry_id(p) not in done]


def named_id(episode_id: str, scenario: str, entries: list[str]) -> str:
    """`episode_id` in NAME.COUNCIL.sSEED form, `scenario` the row's (the scenario's name): an older glade's
    id began with the recipe's entry (`entries`, longest first wins), a local path for a file of one's own."""
    if episode_id.startswith(f"{scenario}."):
        return episode_id
    entry = max((e for e in entries if episode_id.startswith(f"{e}.")), key=len, default=None)
    return episode_id if entry is None else scenario + episode_id[len(entry) :]
