"""Recipes: YAML files validated into frozen dataclasses before anything runs.

The validation itself (unknown keys, types, one-line `ConfigError`s naming file and key) lives at the bottom
of the house in `glade.env.schema`, since scenarios need it too; the names the trunk's recipes use are
re-exported here. A recipe's folders to write in (`out`, `output_root`) read `~` as the home folder, and
the kind a file is (by its folder or its keys) is glade.kinds'.
"""

from __future__ import annotations

import json
import shlex
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from glade.env.scenario import SCENARIO_DIR, load_scenario, resolve_path
from glade.env.schema import (
    LARGEST_INT,
    RECIPES,
    ConfigError,
    apply_overrides,
    as_plain,
    build,
    control_character,
    fail,
    number_hint,
    printable,
    read_yaml,
    shown,
)
from glade.env.strict_yaml import load_unique
from glade.files import Unwritable, user_path
from glade.kinds import FOLDER_KINDS, check_keys_kind, check_kind, kind_text

__all__ = [
    "ConfigError",
    "MissingInput",
    "CannotWrite",
    "Seeds",
    "apply_overrides",
    "as_plain",
    "build",
    "check_distinct",
    "check_scenarios",
    "check_at_least",
    "check_out",
    "check_seeds",
    "check_scenario_file",
    "fail",
    "keyed",
    "load_recipe",
    "looked_for",
    "number_hint",
    "parse_override",
    "parse_overrides",
    "read_yaml",
    "shipped_hint",
]


class MissingInput(ConfigError):
    """A well-formed recipe names a file or folder that is not there (yet): a traces folder, a
    checkpoint, a model. The run refuses it like any bad input; `glade validate` reports it
    apart from malformed recipes, since an earlier step may still write it."""


class CannotWrite(ConfigError):
    """A recipe's folder to write (`out`, `output_root`) cannot be written from here (a read-only
    disk, no permission; glade.files.Unwritable): the run refuses it; `glade validate` reports it
    apart from malformed recipes, as the file itself may be well formed."""


@dataclass(frozen=True)
class Seeds:
    """A run of world seeds in a recipe: `{start: 0, count: 4}` is seeds 0, 1, 2, 3."""

    start: int = 0
    count: int = 4

    def values(self) -> list[int]:
        return list(range(self.start, self.start + self.count))


# The rows store a seed as a 64-bit integer (Parquet int64): a larger one would play, then fail
# to be written, and a count past it cannot even be planned.
MAX_SEED = LARGEST_INT
# Every seed is a world of every council and scenario, planned up front: past this a typo (an
# extra zero or three) would exhaust memory planning the run rather than say so.
MAX_SEEDS = 100_000


def check_at_least(given: Any, source: str | None, lows: dict[str, int], prefix: str = "") -> None:
    """Each field of the dataclass `given` named in `lows` at least its low (None: unset, left to its default)."""
    for key, low in lows.items():
        value = getattr(given, key)
        if value is not None and value < low:
            fail(source, prefix + key, f"must be at least {low}, got {value}")


def check_seeds(seeds: Seeds, source: str | None, path: str = "seeds") -> None:
    if seeds.count < 1:
        fail(source, f"{path}.count", f"must be at least 1, got {seeds.count}")
    if seeds.start < 0:
        fail(source, f"{path}.start", f"must be 0 or more (a world seed), got {seeds.start}")
    if seeds.start > MAX_SEED - seeds.count + 1:
        fail(
            source,
            path,
            f"start {seeds.start} and count {seeds.count} run past {MAX_SEED:,}, the largest seed a row can "
            "hold; lower them",
        )
    if seeds.count > MAX_SEEDS:
        most = f"must be at most {MAX_SEEDS:,} (each seed is a world of every council), got {seeds.count:,}"
        fail(source, f"{path}.count", most)


def check_out(value: str, source: str | None, key: str) -> None:
    """A folder to write in (`out`, `output_root`): an empty one would be the current folder,
    and the run would spread its files (README.md included) among whatever is there."""
    if not value.strip():
        fail(source, key, "needs a folder to write in, got an empty path")
    if control := control_character(value):  # an escape sequence in a folder's name reaches every line naming it
        fail(source, key, f"{value!r} cannot name a folder: a {control}")


def check_scenarios(
    scenarios, source: str | None, turns: int | None = None, more: dict[str, str] | None = None
) -> None:
    """A recipe's `scenarios`: at least one, each listed once (an episode id names its scenario:
    one listed twice would play every episode twice, or count it twice), under one spelling
    (`check_distinct`, at the recipe's `turns`; `more`: scenarios played besides the list, such as an
    eval lever's, each -> its key)."""
    if not scenarios:
        fail(source, "scenarios", "needs at least one scenario")
    twice = sorted(
        str(name) for name, n in Counter(map(str, scenarios)).items() if n > 1
    )  # not count(): 20,000 took 87 s
    if twice:
        fail(source, "scenarios", f"{', '.join(twice)} listed twice; list each scenario once")
    entries = {str(name): f"scenarios[{i}]" for i, name in enumerate(scenarios)}
    check_distinct({**entries, **{k: v for k, v in (more or {}).items() if k not in entries}}, source, turns)


def check_distinct(entries: dict[str, str], source: str | None, turns: int | None) -> None:
    """Each scenario as written -> its key: two spellings of one scenario (its name and its file's
    path, two paths to one file) would play every world twice and count it twice. Compared by the
    loaded scenario's hash, at the recipe's `turns`; two different scenarios under one `name:` are
    refused too. An entry that does not load is left to the caller (a path that is not there is
    named here, with what helps find it)."""
    seen: dict[str, str] = {}  # hash -> the entry that first loaded it
    named: dict[str, tuple[str, str]] = {}  # the scenario's `name:` -> (the entry that first gave it, its hash)
    for entry, key in entries.items():
        with keyed(source, key):
            check_scenario_file(entry)
        try:  # as glade.rollout.recipe_scenario loads it for the run
            scenario = load_scenario(entry, **({"turns": turns} if turns else {}))
        except ValueError:
            continue
        first = seen.setdefault(scenario.hash(), entry)
        where = "scenarios" if key.startswith("scenarios[") else key
        if first != entry:
            fail(source, where, f"{first!r} and {entry!r} are the same scenario (hash {scenario.hash()}); list it once, under one spelling")  # fmt: skip
        first, digest = named.setdefault(scenario.name, (entry, scenario.hash()))
        if first != entry:  # rows, episode ids and an eval's stand-in seats tell scenarios apart by name
            fail(source, where, f"{first!r} and {entry!r} are two different scenarios named {scenario.name!r} (hashes "
                 f"{digest} and {scenario.hash()}); a run tells scenarios apart by name, so give one of the files a "
                 "name of its own (name: ...)")  # fmt: skip


@contextmanager
def keyed(source: str | None, path: str) -> Iterator[None]:
    """A ValueError raised inside (a seat spec's, a scenario's) comes out as the same kind of
    ConfigError, its message led by the recipe file and key: `x.yaml: policies.live: ...`."""
    try:
        yield
    except ValueError as exc:
        message = f"{source}: {path}: {exc}" if source else f"{path}: {exc}"
        kind = CannotWrite if isinstance(exc, Unwritable) else ConfigError
        raise (MissingInput if isinstance(exc, MissingInput) else kind)(message) from None
    except OSError as exc:  # a path no file system takes (a name past 255 bytes): said of its key
        what = exc.strerror or type(exc).__name__
        said = f"{path}: {what[0].lower()}{what[1:]}" + (f" ({shown(exc.filename)})" if exc.filename else "")
        raise ConfigError(f"{source}: {said}" if source else said) from None


def parse_override(text: str) -> tuple[str, Any]:
    """`a.b=value` from a command line: the value is read as YAML (so 3, 0.5, true, [a, b])."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected key=value")
    key, raw = text.split("=", 1)
    if not key.strip():
        raise ConfigError(f"override {text!r}: empty key")
    try:
        value = load_unique(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    except ValueError as exc:  # a key given twice, a value that holds itself
        raise ConfigError(f"override {text!r}: {exc}") from None
    return key.strip(), value


def parse_overrides(words: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Overrides in order (a key given twice takes the last, as in Hydra). A word without `=` after a
    value left open (`councils={solo:` then `{oona:`): the shell split one value; the error says so."""
    pairs = {}
    for i, word in enumerate(words):
        if "=" not in word:
            _split_value(words, i)
        key, value = parse_override(word)
        pairs[key] = value
    return pairs


def _depth(text: str) -> int:
    return sum(text.count(c) for c in "{[") - sum(text.count(c) for c in "}]")


def _split_value(words: list[str] | tuple[str, ...], i: int) -> None:
    start = next((j for j in range(i - 1, -1, -1) if "=" in words[j]), None)
    if start is None or _depth(" ".join(words[start:i]).split("=", 1)[1]) <= 0:
        return
    end = i
    while end + 1 < len(words) and "=" not in words[end + 1] and _depth(" ".join(words[start : end + 1])) > 0:
        end += 1
    joined = shlex.quote(" ".join(words[start : end + 1]))
    raise ConfigError(
        f"override {words[i]!r}: expected key=value; a value with spaces must be quoted as one word: {joined}"
    )


def council_pair_hint(spec: str, creatures: list[str] | tuple[str, ...]) -> str:
    """For a --council value that names no disposition: `oona:hoarder` (creature: disposition, as
    in a council file) -> "; did you mean oona=hoarder?" ("" unless each part is CREATURE:WORD)."""
    pairs = [[x.strip() for x in part.split(":")] for part in spec.split(",")]
    if not all(len(p) == 2 and p[0].lower() in creatures and p[1] for p in pairs):
        return ""
    return f"; did you mean {','.join(f'{a}={b}' for a, b in pairs)}?"


def load_recipe(
    cls: type, path: str | Path, overrides: list[str] | tuple[str, ...] = (), *, kind: str | None = None
) -> Any:
    """Read a recipe YAML, apply `key=value` overrides, validate into `cls` (frozen). Given the
    `kind` (generate, train, eval), a file from another recipes/<kind>/ folder, or one whose keys
    are another kind's, is refused by name."""
    if kind is not None:
        check_kind(path, kind, f"`glade {kind}`")
    data = read_yaml(recipe_hint(shipped_hint(path), kind))
    if not data:  # else the first required key would be named missing, as if the rest were there
        raise ConfigError(f"{path}: the file is empty; expected {kind_text(kind) if kind else 'a recipe'}")
    if kind is not None:
        check_keys_kind(data, path, kind)
    source = recipe_source(path, overrides)
    data = apply_overrides(data, parse_overrides(overrides), source)
    data |= {k: user_path(v) for k, v in data.items() if k in ("out", "output_root") and isinstance(v, str)}
    return build(cls, data, source)


def recipe_source(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> str:
    """What an error names: the file, and the overrides given, so a bad value from the command line
    is not blamed on the file."""
    if not overrides:
        return str(path)
    said = [printable(w) if len(w) <= 120 else f"{printable(w[:100])}... ({len(w):,} characters)" for w in overrides]
    return f"{path} with {', '.join(said)}"  # on one line, as the error that names it


def shipped_hint(path: str | Path) -> Path:
    """`path`; when it is missing but names one of glade's shipped recipes (`recipes/...` run
    from outside a checkout), a ConfigError that says where that one is."""
    path = Path(path)
    parts = path.parts
    if path.exists() or path.is_absolute() or not parts or parts[0] != "recipes":
        return path
    shipped = RECIPES.joinpath(*parts[1:])
    if shipped.exists():
        what = "folder" if shipped.is_dir() else "file"
        raise ConfigError(f"{path}: no such {what} here; glade's shipped copy is {shipped}")
    return path


def recipe_hint(path: Path, kind: str | None) -> Path:
    """`path`; when it is missing but a recipe it may mean is there (`standin` for
    recipes/generate/standin.yaml, here or shipped; a path without .yaml), a ConfigError saying so.
    Without a `kind`, every recipes/<kind>/ folder is looked in."""
    if path.exists() or not path.parts:
        return path
    name = path.name if path.suffix in (".yaml", ".yml") else f"{path.name}.yaml"
    folders = [kind] if kind else [f for f, k in FOLDER_KINDS.items() if k in ("generate", "train", "eval")]
    if len(path.parts) > 1:  # a path: the same with .yaml, here or among the shipped recipes/...
        given = path.with_name(name)
        candidates = [given, *([RECIPES.joinpath(*given.parts[1:])] if given.parts[0] == "recipes" else [])]
    else:  # a name: NAME.yaml here, recipes/<kind>/NAME.yaml here, then glade's shipped one
        candidates = [Path(name), *(Path("recipes", f, name) for f in folders), *(RECIPES / f / name for f in folders)]
    found = next((c for c in candidates if c.is_file()), None)
    if found is not None:
        raise ConfigError(f"{path}: no such file; did you mean {found}?")
    return path


def looked_for(path: str | Path) -> str:
    """Where a relative path that is not there was looked for, for its message ("" for an absolute
    one): a recipe's paths are taken from the folder glade runs in, not the recipe's (README)."""
    found = Path(path).expanduser()
    if found.is_absolute():
        return ""
    return f"looked for {Path.cwd() / found} (paths are relative to the folder you run glade from)"


def check_scenario_file(entry: str | Path) -> None:
    """A scenario named by a path that is not there: a ConfigError with what helps find it (glade's
    shipped copy; the scenario its stem names, as `gambit_rumour.yaml` for gambit_rumour; else where
    it was looked for). A name, or a path that is there, is left to load_scenario."""
    text = str(entry)
    if not (text.endswith((".yaml", ".yml")) or "/" in text) or Path(text).exists():
        return
    shipped_hint(text)
    stem = Path(text).stem
    try:
        named = resolve_path(stem) if stem and not stem.endswith((".yaml", ".yml")) else None
    except ConfigError:
        named = None
    looked = looked_for(text)
    missing = f"{text}: no such file" + (f"; {looked}" if looked else "")  # they may mean a copy of their own
    if named is not None:
        shipped = "shipped " if named == SCENARIO_DIR / f"{stem}.yaml" else ""
        raise ConfigError(f"{missing}; did you mean the {shipped}scenario {stem} (a name, without .yaml)?")
    raise ConfigError(missing)


def changes(old: dict, new: dict) -> str:
    """`key: old -> new` for every leaf that differs, dotted, comma-separated; a whole mapping one
    side lacks is one `key: added` (or `removed`), not its leaves, defaults and all."""
    a, b = _flat(old), _flat(new)
    parts = []
    for key in sorted(set(a) | set(b)):
        if a.get(key, "<none>") == b.get(key, "<none>"):
            continue
        words, lacking = key.split("."), b if key in a else a  # the side without this leaf (if one is)
        n = next((n for n in range(1, len(words)) if not any(k.split(".")[:n] == words[:n] for k in lacking)), None)
        if key in a and key in b or n is None:  # a leaf that changed, or was added beside others
            parts.append(f"{key}: {_short(a.get(key, '<none>'))} -> {_short(b.get(key, '<none>'))}")
        elif (said := f"{'.'.join(words[:n])}: {'removed' if key in a else 'added'}") not in parts:
            parts.append(said)
    return ", ".join(parts[:6]) + (f" and {len(parts) - 6} more" if len(parts) > 6 else "")


def _flat(data, prefix: str = "") -> dict:
    """Dotted leaf -> value; an empty mapping inside is a leaf of its own, the whole one empty has none."""
    if isinstance(data, dict) and (data or not prefix):
        out = {}
        for k, v in data.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: data}


def _short(value) -> str:
    """At most 60 characters, keeping both ends: two long paths often differ only at the end."""
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:28] + "..." + text[-29:]
