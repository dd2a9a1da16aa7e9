"""Resumable runs: finished work kept as Parquet shards and listed in OUT/progress.json.

Shared by `glade generate` (OUT/data/part-NNNNN.parquet) and `glade eval` (OUT/shards/decisions-NNNNN.parquet
and episodes-NNNNN.parquet). A part's shards are written atomically and only then listed, so a rerun after an
interruption keeps what is listed, plays the rest, and plays again a part written but not yet listed (killed
between the two). progress.json is the folder's ledger:

    {"format": 2, "recipe": {...}, "shards": ["traces", ...], "episodes": {EPISODE_ID: {"part": 3, "faults": 0}},
     "standin_version": "standin-1+..."}

`recipe` is the content of the recipe that decides the rows, its seat specs included (the caller leaves out
what cannot change them, such as `worlds` or a server's URL): every episode of the folder was played with it.
`faults` counts an episode's decisions whose seat failed to answer; `writers` (since 2026-12-07), each part's
glade (glade.provenance.writer): a resumed folder may hold more than one's, and older ledgers name none. Older
folders list `EPISODE_ID: part` (or a shard path) and record no recipe: they resume only under the one their
recipe.yaml names (glade.resume_upgrade).

What a rerun refuses, with one ValueError and nothing touched:
- a folder that holds files but no progress.json: glade did not write it, and never deletes it;
- a folder another verb wrote (an eval results folder given to `glade generate`);
- a folder written by another recipe (the message names each key that changed), or by an older glade
  under a recipe nothing in the folder records; rows rendered under another prompt protocol version, or
  played by another stand-in version than the ledger's `standin_version` (an older ledger records none);
- rows played under other rules: a scenario whose hash in the rows is not its hash now (its file
  changed, or glade's rules in code, `RULES_VERSION`), when the caller passes the hashes;
- a file in the shard folders that no run of this folder wrote.
What it repairs, and says so (`Resumed.replayed`): a listed shard that cannot be read, that repeats a row
(glade.shard_rows), or that lacks an episode its part lists, is moved to OUT/corrupt/ and its part's episodes play
again; a shard the ledger never listed (a run killed between writing and listing it, or a file copied in) is
moved there too; an episode that had seat faults is never final: it is dropped from its shard and plays
again (the seat fixed, or its server back), so a rerun retries exactly the episodes whose turns failed.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from glade.env import standin
from glade.files import arrow_path, atomic, check_folder_path, left_by_a_kill, temp_of
from glade.provenance import WRITER, tally_writers, writer
from glade.resume_upgrade import another_recipe, legacy_episodes, other_rules, other_standin, recorded_recipe, unasked
from glade.shard_rows import episodes_in, protocol_words
from glade.shard_rules import shard_rules

PROGRESS = "progress.json"
FORMAT = 2
CORRUPT = "corrupt"  # unreadable and unlisted shards are moved here, under their own relative path


def check_outside_runs(out: Path) -> None:
    """Refuses (ValueError) an `out` inside another run's folder: a generate or eval run's (its ledger) or an episode
    simulate wrote. The new run's files would be strangers there, and that run's rerun would refuse them (or read
    them as its own)."""
    for folder in Path(os.path.abspath(out)).parents:
        if (folder / PROGRESS).is_file() or (
            (folder / "summary.json").is_file() and (folder / "trace.parquet").is_file()
        ):
            raise ValueError(f"{out}: inside {folder}, another glade run's folder; give a path outside it")


@dataclass
class Resumed:
    """The state of a folder at the start of a run, updated as parts are finished."""

    recipe: dict
    episodes: dict[str, dict]  # episode id -> {"part", "faults"}
    replayed: list[str] = field(default_factory=list)  # one line per repair, for the console
    created: bool = False  # this run created the folder
    writers: dict[int, dict] = field(default_factory=dict)  # part -> the glade that wrote it (none: an older ledger)
    writer: dict = field(default_factory=dict)  # this run's (glade.provenance.writer), for the parts it finishes

    @property
    def done(self) -> set[str]:
        return set(self.episodes)

    def next_part(self) -> int:
        return max((e["part"] for e in self.episodes.values()), default=-1) + 1

    def parts(self) -> list[int]:
        return sorted({e["part"] for e in self.episodes.values()})


@dataclass(frozen=True)
class ShardLog:
    root: Path
    shards: dict[str, str]  # kind -> shard path under root with a {part} field, first kind holds protocol_version
    optional: tuple[str, ...] = ()  # kinds a folder written before they existed lacks: missing is not corrupt
    # kinds whose shards together hold rows of every episode of their part: a listed episode
    # in none of them means a shard was overwritten (the other kinds hold some episodes only)
    complete: tuple[str, ...] = ()
    # recipe keys that no longer decide the rows: a ledger written while they did may hold them
    dropped: tuple[str, ...] = ()

    def path(self, kind: str, part: int) -> Path:
        return self.root / self.shards[kind].format(part=part)

    def check(self, recipe: dict) -> None:
        """The refusals, read-only (a dry run asks too): a folder of files no glade run wrote, a folder another verb
        wrote, a folder of another recipe. `recipe` is the plain recipe content that decides the rows."""
        check_folder_path(self.root)
        progress = self.root / PROGRESS
        if not progress.exists():
            if _holds_files(self.root):
                raise ValueError(
                    f"{self.root}: holds files but no {PROGRESS}, so nothing this verb can resume (a glade simulate "
                    "episode, a run copied without it, or files of your own); glade never deletes them: choose another "
                    "out (out=DIR), or move the folder aside"
                )
            return
        data = _ledger(progress)
        theirs, ours = data.get("shards"), next(iter(self.shards))
        if isinstance(theirs, list) and theirs and theirs[0] != ours:
            raise ValueError(
                f"{self.root}: holds another kind of glade results ({theirs[0]} shards, where this run "
                f"writes {ours}); choose another out (out=DIR)"
            )
        written = data.get("recipe") if data.get("format") == FORMAT else None
        if not isinstance(written, dict) and read_episodes(progress):  # an older ledger: names no recipe
            written = recorded_recipe(self.root, recipe)
        if isinstance(written, dict):
            written = {k: v for k, v in written.items() if k not in self.dropped}
            recipe = unasked(written, recipe)  # what an older ledger did not record yet
        if written is not None and written != recipe:
            raise ValueError(another_recipe(self.root, written, recipe))
        if said := other_standin(self.root, data):
            raise ValueError(said)

    def start(self, recipe: dict, hashes: dict[str, set[str]] | None = None) -> Resumed:
        """The finished episodes of this folder, after the checks and repairs above. `recipe` is the plain recipe
        content that decides the rows; `hashes` maps each scenario the run plays (by the name its rows record) to its
        hashes now (`scenario_hashes`)."""
        self.check(recipe)
        progress = self.root / PROGRESS
        created, episodes = not self.root.exists(), read_episodes(progress) if progress.exists() else {}
        writers = _writers(progress) if episodes else {}
        state = Resumed(recipe, episodes, created=created, writers=writers, writer=writer())
        self._check_folders(state)
        if state.episodes:
            self.check_rows(state, hashes)
        self._replay_unreadable(state)
        self._replay_faulted(state)
        self.root.mkdir(parents=True, exist_ok=True)
        self._save(state)  # first: from now on the folder is this ledger's
        for folder in self._patterns():
            folder.mkdir(parents=True, exist_ok=True)
        return state

    def finish(self, state: Resumed, part: int, faults: dict[str, int]) -> None:
        """List a part whose shards are written (by this run's glade): its episodes count as finished from now on.
        `faults` maps each of its episode ids to its fault count."""
        for episode_id, count in faults.items():
            state.episodes[episode_id] = {"part": part, "faults": int(count)}
        state.writers[part] = state.writer
        self._save(state)

    def listed(self, kind: str, state: Resumed) -> list[Path]:
        """The listed shards of one kind, in part order."""
        return [self.path(kind, part) for part in state.parts()]

    def abandon(self, state: Resumed) -> None:
        """After a run that failed before finishing anything: remove the folder it created."""
        if not state.created or state.episodes:
            return
        (self.root / PROGRESS).unlink(missing_ok=True)
        folders = sorted({(self.root / p).parent for p in self.shards.values()}, key=lambda p: -len(p.parts))
        for folder in [*folders, self.root]:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()

    def check_rows(self, state: Resumed, hashes: dict[str, set[str]] | None) -> None:
        """Raises ValueError when finished rows were rendered under another prompt protocol, or played under other rules
        than a scenario's hash now says (`hashes`: the name its rows record -> its hashes now; two files may share a
        name): resumed, the folder would hold two worlds under one name. Every kind of shard is read (an eval part of
        stand-in worlds only has no decision rows); damaged ones are left to the repairs, one the file system will not
        let glade read is refused (glade.shard_rules)."""
        protocols, seen = set(), set()
        for kind in self.shards:
            for part in state.parts():
                if (found := shard_rules(self.path(kind, part))) is not None:
                    protocols |= protocol_words(found[0])
                    seen |= found[1]
        if refusal := other_rules(self.root, protocols, seen, hashes or {}):
            raise ValueError(refusal)

    def _save(self, state: Resumed) -> None:
        # the shard kinds in order (a list: the keys are sorted), the first naming the verb's rows; rewritten
        ledger = {"format": FORMAT, "recipe": state.recipe, "shards": list(self.shards), "episodes": state.episodes}
        ledger["writers"] = {str(p): state.writers[p] for p in state.parts() if p in state.writers}
        ledger["standin_version"] = standin.STANDIN_VERSION  # read at call time: a test stands in another
        with atomic(self.root / PROGRESS) as tmp:  # after every part: compact, so json's C encoder writes it
            tmp.write_text(json.dumps(ledger, sort_keys=True), encoding="utf-8")

    def _patterns(self) -> dict[Path, re.Pattern]:
        """Shard folder -> the names this log writes there (the part number in the one group that matched)."""
        out = {}
        for pattern in self.shards.values():
            folder = (self.root / pattern).parent
            name = re.escape(Path(pattern).name).replace(r"\{part:05d\}", r"(\d{5})")
            out.setdefault(folder, []).append(name)
        return {folder: re.compile(f"^(?:{'|'.join(names)})$") for folder, names in out.items()}

    def _check_folders(self, state: Resumed) -> None:
        """Drop a write a kill cut short (a temporary file); move aside a shard file the ledger never listed (a part
        written but not yet listed when a run was killed, an empty part an older glade left behind, a copy); refuse
        anything else that is not a listed shard."""
        listed = set(state.parts())
        for item in self.root.iterdir() if self.root.is_dir() else ():  # the ledger, the recipe, the tables, the card
            if item.is_file() and left_by_a_kill(item.name):
                item.unlink()
        for folder, names in self._patterns().items():
            if not folder.is_dir():
                continue
            for item in sorted(folder.iterdir()):
                if (target := temp_of(item.name)) is not None and names.match(target):
                    item.unlink()  # a write a kill cut short
                    continue
                found = names.match(item.name)
                part = int(next(g for g in found.groups() if g)) if found else None
                if part in listed:
                    continue
                if part is not None:  # named as this log names its shards, but not listed
                    aside = self._aside(item)
                    state.replayed.append(
                        f"{item.relative_to(self.root)}: a shard the ledger never listed (a run killed before "
                        f"listing it, or a file put there); moved to {aside.relative_to(self.root)}, not read"
                    )
                    continue
                raise ValueError(
                    f"{item}: not a shard this folder lists ({PROGRESS}); glade never deletes what it did not "
                    "write: move it out of the folder, or choose another out (out=DIR)"
                )

    def _aside(self, path: Path) -> Path:
        """Move `path` under OUT/corrupt/ (kept for a look, outside the folders anything reads), never over an earlier
        one; returns where it went."""
        aside = self.root / CORRUPT / path.relative_to(self.root)
        count = 1
        while aside.exists():
            count += 1
            aside = aside.with_name(f"{path.stem}.{count}{path.suffix}")
        aside.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, aside)
        return aside

    def _replay_unreadable(self, state: Resumed) -> None:
        """A listed shard that is missing or cannot be read, or a part whose shards lack one of its listed episodes: the
        part's files go aside under OUT/corrupt/ and its episodes play again."""
        for part in state.parts():
            members = {e for e, v in state.episodes.items() if v["part"] == part}
            problem, held = None, set()
            for kind in self.shards:
                shard = self.path(kind, part)
                if kind in self.optional and not shard.exists():
                    continue
                if isinstance(found := episodes_in(shard, members), str):
                    problem = f"{shard.relative_to(self.root)}: {found}"
                    break
                held |= found if kind in self.complete else set()
            if problem is None and self.complete and members - held:
                shard = self.path(self.complete[0], part).relative_to(self.root)
                problem = f"{shard}: lacks {len(members - held)} episode(s) its part lists"
            if problem is None:
                continue
            for other in self.shards:
                if self.path(other, part).exists():
                    self._aside(self.path(other, part))
            for e in members:
                del state.episodes[e]
            self._save(state)
            state.replayed.append(f"{problem}; its {len(members)} episode(s) play again")

    def _replay_faulted(self, state: Resumed) -> None:
        """Episodes that had seat faults: dropped from their shards (rewritten atomically), then from the ledger, so
        they play again. A part whose episodes all faulted loses its shards: left empty and unlisted, they would read as
        files no run of the folder wrote."""
        stale = {e for e, v in state.episodes.items() if v["faults"]}
        if not stale:
            return
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        for part in sorted({state.episodes[e]["part"] for e in stale}):
            emptied = all(e in stale for e, v in state.episodes.items() if v["part"] == part)
            for kind in self.shards:
                shard = self.path(kind, part)
                if kind in self.optional and not shard.exists():
                    continue
                if emptied:
                    shard.unlink(missing_ok=True)
                    continue
                table = pq.read_table(shard)
                if "episode_id" not in table.column_names:
                    continue
                keep = table.filter(pc.invert(pc.is_in(table["episode_id"], value_set=pa.array(sorted(stale)))))
                with atomic(shard) as tmp:
                    pq.write_table(keep, arrow_path(tmp))
        faults = sum(state.episodes[e]["faults"] for e in stale)
        for e in stale:
            del state.episodes[e]
        self._save(state)
        state.replayed.append(f"{len(stale)} episode(s) with {faults} seat fault(s) play again")


def scenario_hashes(named) -> dict[str, set[str]]:
    """{the name rows record: its hashes now} for `ShardLog.start`, from (name, Scenario) pairs."""
    out: dict[str, set[str]] = {}
    for name, scenario in named:
        out.setdefault(name, set()).add(scenario.hash())
    return out


def _holds_files(root: Path) -> bool:
    """Whether `root` holds a file, other than a hidden temporary one (.NAME.tmp) that a run killed while writing
    its first ledger leaves; empty folders hold nothing to lose."""
    if not root.is_dir():
        return root.exists()
    return any(p.is_file() and not (p.name.startswith(".") and p.name.endswith(".tmp")) for p in root.rglob("*"))


def finished(log: ShardLog, recipe: dict, hashes: dict[str, set[str]] | None = None) -> set[str]:
    """The episodes a rerun into the log's folder keeps, after its refusals (`ShardLog.check`, `ShardLog.check_rows`)
    and without repairs (for a dry run): those listed in its ledger, less those with seat faults (they play again)."""
    log.check(recipe)
    progress = log.root / PROGRESS
    if not progress.exists():
        return set()
    episodes = read_episodes(progress)
    log.check_rows(Resumed(recipe, episodes), hashes)
    return {episode for episode, entry in episodes.items() if not entry["faults"]}


def interrupted_hint(out: str | Path, kept: str) -> str:
    """What an interrupted run into `out` says: `kept` (how to resume) once its ledger lists finished work,
    else that nothing finished (a run that finished nothing removes the folder it created)."""
    if (read_ledger(Path(out)) or {}).get("episodes"):
        return kept
    return "nothing had finished, so nothing was kept; rerun the same command to start"


def read_episodes(progress: Path) -> dict[str, dict]:
    """The ledger's episodes, from either format; a ValueError naming the file if it is not one."""
    data = _ledger(progress)
    try:
        if data.get("format") == FORMAT:
            return {str(e): {"part": int(v["part"]), "faults": int(v.get("faults") or 0)}
                    for e, v in data["episodes"].items()}  # fmt: skip
        return legacy_episodes(data)
    except (ValueError, TypeError, KeyError, AttributeError):
        raise _not_a_ledger(progress, "its episodes are not listed as glade lists them") from None


def part_writers(folder: Path, only: set[str]) -> list[dict]:
    """Which glades wrote the episodes of `only` the folder's ledger lists, in the order they wrote them, with how
    many each (glade.provenance.tally_writers); a part an older ledger lists without its writer counts as unknown."""
    progress = Path(folder) / PROGRESS
    listed = sorted(read_episodes(progress).items(), key=lambda item: item[1]["part"]) if progress.is_file() else []
    writers = _writers(progress) if listed else {}
    return tally_writers(writers.get(entry["part"]) for episode, entry in listed if episode in only)


def _writers(progress: Path) -> dict[int, dict]:
    """Each listed part's writer as the ledger records it; one it records none for, or not as glade does, has none."""
    data = _ledger(progress)
    found = data.get("writers") if data.get("format") == FORMAT and isinstance(data.get("writers"), dict) else {}
    return {int(p): {k: w.get(k) for k in WRITER} for p, w in found.items() if p.isdigit() and isinstance(w, dict)}


def read_ledger(folder: Path) -> dict | None:
    """A folder's progress.json as it is, for readers that only look (rank, export, a folder's kind); None when it
    is missing or not a JSON object (an OSError where the file system refuses the read: not said to be malformed). A
    run reads its own through ShardLog, which refuses a broken one."""
    try:
        data = json.loads((Path(folder) / PROGRESS).read_text(encoding="utf-8"))
    except (FileNotFoundError, IsADirectoryError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _ledger(progress: Path) -> dict:
    """progress.json as it is (an older folder's is a plain episode map); a ValueError naming the file if it is not
    JSON or not a JSON object."""
    try:
        data = json.loads(progress.read_text(encoding="utf-8"))
    except ValueError:
        raise _not_a_ledger(progress, "not JSON") from None
    if not isinstance(data, dict):
        raise _not_a_ledger(progress, "not a JSON object")
    return data


def _not_a_ledger(progress: Path, what: str) -> ValueError:
    return ValueError(f"{progress}: not a glade progress ledger ({what}); move the folder aside to start afresh")
