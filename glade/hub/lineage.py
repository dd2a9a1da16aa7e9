"""Where an exported checkpoint came from, for its card: the command that trains it again (glade's
shipped recipe, with the overrides the run used when it used some, or the run's own resolved
recipe), the scenarios and scenario hashes of the traces it trained on, glade's commit with
the state of its working tree, and the same record of a council evaluation the card reports.
Reads only; never prints."""

from __future__ import annotations

import hashlib
import json
import shlex
from pathlib import Path

import yaml

from glade.config import apply_overrides, parse_override
from glade.env.schema import printable
from glade.words import counted, md_code, md_text, portable, seed_spans

from .scenario_settings import differ_words, trained_settings

_MISSING = object()
OWN_RECIPE = "this repository's `recipe.yaml`, the recipe as the run resolved it (`glade train recipe.yaml`)"


def _same(a, b) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _override(key: str, value) -> str | None:
    """`key=value` that the command line reads back (parse_override) as exactly `value`; None if no text does."""
    if isinstance(value, str):
        texts = [value, json.dumps(value)]
    else:
        flow = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
        texts = [flow.removesuffix("...").strip(), json.dumps(value)]
    for text in texts:
        if "\n" not in text and _same(parse_override(f"{key}={text}")[1], value):
            return f"{key}={text}"
    return None


def _diff(shipped: dict, ran: dict, prefix: str = "") -> list[tuple[str, object]] | None:
    if any(key not in ran for key in shipped):
        return None  # an override sets a key, never removes one
    out: list[tuple[str, object]] = []
    for key, value in ran.items():
        old = shipped.get(key, _MISSING)
        if isinstance(value, dict) and value and (old is _MISSING or old is None or isinstance(old, dict)):
            inner = _diff(old if isinstance(old, dict) else {}, value, f"{prefix}{key}.")
            if inner is None:
                return None
            out += inner
        elif old is _MISSING or not _same(old, value):
            out.append((f"{prefix}{key}", value))
    return out


def overrides(shipped: dict, ran: dict) -> list[str] | None:
    """The `key=value` overrides that make the shipped recipe (as glade resolves it) the recipe the
    run resolved (its recipe.yaml): [] when the run used the shipped recipe as it is, None when no
    overrides can (a key the run's recipe lacks). Checked by applying them, as `glade train` does."""
    found = _diff(shipped, ran)
    if found is None:
        return None
    texts = [_override(key, value) for key, value in found]
    if None in texts:
        return None
    rebuilt = apply_overrides(shipped, dict(parse_override(text) for text in texts))
    return texts if _same(rebuilt, ran) else None


def reproduce(meta: dict, recipe: dict, shipped: dict | None) -> list[str]:
    """How to train it again (model_card.reproduce_lines adds how long that took). `recipe`: the checkpoint's recipe.yaml;
    `shipped`: glade's shipped recipe of the same name as glade resolves it (None when there is
    none, or it was not looked up): only when the two are equal is it 'the shipped recipe'."""
    if not recipe:
        return []
    name = meta.get("name")
    changed = overrides(shipped, recipe) if shipped is not None else None
    if shipped is None:
        line = f"Reproduce it with {OWN_RECIPE}."
    elif changed == []:
        line = f"Reproduce it with `glade train recipes/train/{name}.yaml` (glade's shipped recipe, as it is)."
    elif changed:
        command = " ".join(shlex.quote(part) for part in [f"recipes/train/{name}.yaml", *changed])
        line = (
            f"Reproduce it with {md_code(f'glade train {command}')}: this run used glade's shipped recipe `{name}` with "
            f"these overrides, not as it is. Or train {OWN_RECIPE}."
        )
    else:
        line = (
            f"This run's recipe differs from glade's shipped `recipes/train/{name}.yaml` in ways command-line "
            f"overrides cannot express: reproduce it with {OWN_RECIPE}."
        )
    data = recipe.get("data") or {}
    if data.get("traces"):
        line += (
            f" Its `data.traces` ({', '.join(map(md_code, data['traces']))}) must hold the same traces: "
            "the data fingerprint below tells."
        )
    base = str((recipe.get("model") or {}).get("base") or "")
    if base.startswith("latest:") and meta.get("base_model"):
        line += f" Its {md_code(f'model.base: {base}')} named {md_code(Path(meta['base_model']).name)} when it ran."
    return [line, ""]


def meta_text(value) -> str:
    """A value meta.json or summary.json records (a version, a metric's name) as card text: Markdown read as
    typed, a control character as its escape (the file is anyone's to edit; an escape sequence would reach the
    terminal that shows the card)."""
    return md_text(printable(str(value)))


def meta_code(value) -> str:
    """Such a value as inline code: whole (a backtick in it does not end the span), its controls escaped."""
    return md_code(printable(str(value)))


def commit_text(prov: dict) -> str:
    """`VERSION (commit `SHA`, ...)`, saying whether the working tree had uncommitted changes
    (provenance `git_dirty`), or that this was not recorded."""
    version, commit = meta_text(prov.get("glade_version")), prov.get("git_commit")
    if not commit:
        return f"{version} (no git commit recorded: not run from a git checkout)"
    if prov.get("git_dirty") is None:  # written before glade recorded it, or git could not say
        state = "; whether its working tree had uncommitted changes is not recorded"
    elif prov["git_dirty"]:
        state = ", **with uncommitted changes in the working tree**: the commit alone does not reproduce it"
    else:
        state = ", clean working tree"
    return f"{version} (commit {meta_code(commit)}{state})"


def _row_key(episode_id, turn, creature, observation) -> tuple:
    return episode_id, turn, creature, hashlib.sha1(str(observation).encode()).hexdigest()


def _batches(path: Path, columns: list[str]):
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path)
    if not set(columns) <= set(file.schema_arrow.names):
        return
    for batch in file.iter_batches(columns=columns, batch_size=4096):
        yield zip(*(batch.column(c).to_pylist() for c in columns))


def recorded_traces(meta: dict) -> dict | None:
    """meta.json's `traces` record (glade.train.data.traces_record, written when it trained: per
    traces folder of `data` and `eval`, its scenarios' hashes, seeds, episodes and protocol
    versions, read from the rows); None for a checkpoint written before glade kept it. "how" says
    where the record came from: the rows when it trained, or (a checkpoint trained before the
    record, such as the shipped tiny base) traces regenerated since by its generate recipes, whose
    data fingerprint then tells whether they are the ones it trained on."""
    record = meta.get("traces")
    if not isinstance(record, dict) or not isinstance(record.get("data"), list):
        return None
    again = record.get("regenerated")
    regenerated = isinstance(again, dict)
    how = "recorded from the traces' rows when it trained"
    if regenerated:
        recipes = ", ".join(map(meta_code, again.get("recipes") or [])) or "its generate recipes"
        got, trained_on = again.get("data_fingerprint"), meta.get("data_fingerprint")
        same = (
            "which give the data fingerprint it trained on"
            if got and got == trained_on
            else f"which give data fingerprint {meta_code(got)}, not the {meta_code(trained_on)} it trained on"
        )
        how = f"read from traces regenerated on {meta_text(again.get('date'))} by {recipes}, {same}"
    return {
        "data": list(record["data"]),
        "eval": list(record.get("eval") or []),
        "how": how,
        "regenerated": regenerated,
    }


def trained_scenarios(checkpoint: Path, recipe: dict, meta: dict | None = None) -> dict:
    """The scenarios it trained on, each with its scenario hashes, and the prompt protocols of
    its training traces: {"scenarios": {name: [hash, ...]}, "protocols": [...], ...}.

    From meta.json's `traces` record when the checkpoint has one ("recorded": the record): what
    the traces held when it trained, wherever they are now. Otherwise (a checkpoint written
    before the record) by matching the rows of its data/ folder (episode, turn, creature,
    observation) in the traces folders its recipe names (`data.traces`) as they are now:
    "rows", "found", "traces", "unread" say how much was found; a row not found is named by
    the scenario its episode id starts with, its hash not known."""
    record = recorded_traces(meta or {})
    if record is not None:
        scenarios: dict[str, set] = {}
        for folder in record["data"]:
            for name, digest in (folder.get("scenario_hashes") or {}).items():
                scenarios.setdefault(name, set()).add(digest)
        protocols = sorted({p for folder in record["data"] for p in folder.get("protocol_versions") or []})
        return {
            "scenarios": {name: sorted(h) for name, h in sorted(scenarios.items())},
            "protocols": protocols,
            "recorded": record,
            "settings": trained_settings(record["data"]),
        }
    return _matched_scenarios(checkpoint, recipe, (meta or {}).get("protocol_version"))


def _matched_scenarios(checkpoint: Path, recipe: dict, protocol: str | None) -> dict:
    from glade.traces import readable_shards

    key_columns = ["episode_id", "turn", "creature", "observation"]
    wanted: dict[tuple, str] = {}  # row key -> the scenario its episode id names (scenario.council.sSEED)
    for split in ("train", "eval"):
        path = Path(checkpoint) / "data" / f"{split}.parquet"
        if path.is_file():
            for episode_id, turn, creature, observation in (r for b in _batches(path, key_columns) for r in b):
                # an older glade's id began with the scenario's path: its file, not where it lies, goes on the card
                guess = portable(".".join(str(episode_id).split(".")[:-2]) or str(episode_id))
                wanted[_row_key(episode_id, turn, creature, observation)] = guess
    traces = [str(t) for t in ((recipe.get("data") or {}).get("traces") or [])]
    hashes: dict[str, set] = {}
    found: set[tuple] = set()
    unread = []
    for folder in traces if wanted else []:
        try:
            files = readable_shards(folder)
        except (ValueError, OSError):
            unread.append(folder)
            continue
        for file in files:
            for rows in _batches(Path(file), [*key_columns, "scenario", "scenario_hash"]):
                for *row, scenario, digest in rows:
                    key = _row_key(*row)
                    if key in wanted:
                        found.add(key)
                        hashes.setdefault(scenario, set()).add(digest)
    for key, guess in wanted.items():  # only rows not found are named by their episode id
        if key not in found:
            hashes.setdefault(guess, set())
    return {
        "scenarios": {name: sorted(h) for name, h in sorted(hashes.items())},
        "protocols": [protocol] if protocol else [],
        "rows": len(wanted),
        "found": len(found),
        "traces": traces,
        "unread": unread,
    }


def folder_text(folder: dict) -> str:
    """One traces folder of meta.json's `traces` record, for the card."""
    named = sorted((folder.get("scenario_hashes") or {}).items())
    hashes = ", ".join(f"{meta_text(name)} {meta_code(digest)}" for name, digest in named)
    seeds = folder.get("seeds") or []
    return (
        f"{meta_code(folder.get('folder'))}: {hashes or 'no scenarios'}; {folder.get('episodes', 0):,} episodes, "
        f"seeds {seed_spans(seeds) if seeds else 'not recorded'}"
    )


def scenarios_text(trained: dict) -> str:
    """The card's cell for `trained_scenarios`."""
    record = trained.get("recorded")
    if record is not None:
        folders = "; ".join(folder_text(f) for f in record["data"]) or "no traces folder"
        return f"{folders} ({record['how']})"
    if not trained["rows"]:
        return "not known: the checkpoint keeps no copy of its training data (data/)"
    where = ", ".join(map(md_code, trained["traces"]))
    unread = f"; not readable here: {md_text(', '.join(trained['unread']))}" if trained["unread"] else ""
    named = ", ".join(
        f"{md_text(name)} " + (", ".join(f"`{h}`" for h in hashes) if hashes else "(hash not known)")
        for name, hashes in trained["scenarios"].items()
    )
    if not where:
        rows = counted(trained["rows"], "row")
        return f"{named}; hashes not known: its recipe.yaml names no traces folder to look its {rows} up in"
    if not trained["found"]:
        return f"{named}; hashes not known: none of its {trained['rows']} rows is in {where} here{unread}"
    if trained["found"] < trained["rows"]:
        return (
            f"{named} (from {trained['found']} of its {trained['rows']} training and held-out rows, found in "
            f"{where}; the others are not there now{unread})"
        )
    return f"{named} (all {trained['rows']} training and held-out rows found in {where})"


def heldout_text(trained: dict) -> str | None:
    """The card's cell for the held-out traces (`eval.traces`) in meta.json's record; None without one."""
    record = trained.get("recorded")
    if not record or not record["eval"]:
        return None
    how = "regenerated with the training traces" if record["regenerated"] else "recorded when it trained"
    return "; ".join(folder_text(f) for f in record["eval"]) + f" ({how})"


def protocol_text(meta: dict, trained: dict) -> str:
    """The card's cell for the prompt protocol: glade's when it trained and, when recorded and
    different, the protocol of the prompts in its training traces (the prompts it learned)."""
    own = meta.get("protocol_version")
    learned = trained.get("protocols") or []
    if trained.get("recorded") is None or not learned or learned == [own]:
        return meta_code(own)
    return (
        f"{meta_code(own)} (glade's when it trained); its training traces hold prompts of protocol "
        f"{', '.join(map(meta_code, learned))}: the prompts it learned"
    )


def council_provenance(prov: dict, trained: dict | None = None, played: dict | None = None) -> list[str]:
    """Where a council evaluation came from (its summary.json): glade, prompt protocol, scenario
    hashes; and where those differ from what the model trained on (`trained_scenarios`: the
    scenario hashes and prompt protocols of its training traces)."""
    if not prov:
        return []
    hashes = prov.get("scenario_hashes") or {}
    scenarios = ", ".join(f"{meta_text(name)} {meta_code(d)}" for name, d in sorted(hashes.items())) or "not recorded"
    protocol = prov.get("protocol_version")
    line = f"The evaluation ran glade {commit_text(prov)}, prompt protocol {meta_code(protocol)}; scenario hashes: {scenarios}."
    learned_protocols = (trained or {}).get("protocols") or []
    if protocol and learned_protocols and protocol not in learned_protocols:
        said = ", ".join(map(meta_code, learned_protocols))
        line += f" This model was trained on prompts of protocol {said}, not the one it played here."
    learned = (trained or {}).get("scenarios") or {}
    known = (trained or {}).get("settings") or {}
    other = [
        f"{md_text(name)} (`{digest}` here, `{'`, `'.join(learned[name])}` in its traces"
        + differ_words((played or {}).get(name), known.get(name) or {}, learned[name])
        + ")"
        for name, digest in sorted(hashes.items())
        if learned.get(name) and digest not in learned[name]
    ]
    if other:
        line += (
            f" Scenario hashes that differ from those of the traces it trained on: {', '.join(other)}: the rules it "
            "played here are not the ones it learned from (another version of the scenario, or the evaluation's "
            "own settings)."
        )
    return [line, ""]
