"""Validate plain YAML data into frozen dataclasses, with one-line errors naming the key.

Scenarios and recipes are YAML files that say how to run themselves. Before anything
runs they become frozen dataclasses here: an unknown key, a wrong type or a missing
required key is a `ConfigError` whose message names the file and the key path, e.g.

    recipes/scenarios/x.yaml: creatures.oona.prodcues: unknown key (known: name, species, ...)

Pure Python (no torch), at the bottom of the house: the Wood's scenarios use it, and the
trunk's recipes through `glade.config`.
"""

from __future__ import annotations

import dataclasses
import decimal
import difflib
import importlib.resources
import math
import re
import types
import typing
import unicodedata
from collections.abc import Collection
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

import yaml

from .strict_yaml import BadYaml, load_unique, yaml_problem

# The shipped recipes, scenarios and dispositions are package data (glade.recipes); in a
# source checkout, ./recipes.
RECIPES = Path(str(importlib.resources.files("glade.recipes")))


LARGEST_INT = 2**63 - 1  # a whole number in a recipe or scenario fits 64 bits
# Half a character: what an escape such as \\ud800 alone (YAML, JSON) reads as. No UTF-8 file holds one.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
LOCALE_BYTES = range(0xDC80, 0xDD00)  # where Python keeps a byte it could not read in this locale (surrogateescape)


class ConfigError(ValueError):
    """A scenario or recipe is malformed; the message is one line naming file and key."""


def _where(source: str | None, path: str) -> str:
    key = printable(path) or "(top level)"
    return f"{printable(source)}: {key}" if source else key


def control_character(name: str) -> str | None:
    """Words for the first control character in `name` (Unicode category C: an escape sequence, a
    newline, a bidi override would reach a terminal raw), or None where it has none."""
    for i, ch in enumerate(name):
        kind = unicodedata.category(ch)
        if kind == "Cs":
            return half_character(ch, i)
        if kind.startswith("C"):
            return f"control character {ch!r} at position {i}; use printable characters only"
    return None


def half_character(ch: str, i: int) -> str:
    """Words for a lone surrogate `ch` at position `i`: a byte Python could not read in this
    locale's encoding (an argument, a file name), or else an escape of half a character."""
    if ord(ch) in LOCALE_BYTES:
        return (
            f"byte this locale cannot read as text ({ch!r} at position {i}); "
            "set LC_ALL=C.UTF-8 (a UTF-8 locale) or PYTHONUTF8=1"
        )
    return f"lone surrogate {ch!r} at position {i} (half a character, from an escape); write the character itself"


def printable(text: str | None) -> str | None:
    """`text` as written, or as its repr where it holds a control character: an escape sequence or a
    newline in a key or a file name would reach the terminal raw, and the CLI keeps one line of an error."""
    return text if text is None or control_character(text) is None else repr(text)


def shown(value: Any, most: int = 80) -> str:
    """`value`'s repr for an error line, cut to about `most` characters: a 10,000-character string
    given where a number goes would make the line that long."""
    text = repr(value)
    return text if len(text) <= most else f"{text[: most - 20]}... ({len(text):,} characters)"


def did_you_mean(key: Any, known: Collection, n: int = 1) -> str:
    """`; did you mean base_url?` for a misspelt key, the one spelling of glade's hints (the
    message's last clause): the closest known keys, up to `n` as `a or b`, or one that ends in
    it (`url`, `base_url`). Here, at the bottom of the house, so every layer may import it."""
    close = difflib.get_close_matches(str(key), sorted(map(str, known)), n=n)
    close = close or sorted(str(k) for k in known if str(k).endswith(f"_{key}"))[:1]
    return f"; did you mean {' or '.join(close)}?" if close else ""


def fail(source: str | None, path: str, problem: str) -> typing.NoReturn:
    raise ConfigError(f"{_where(source, path)}: {problem}")


def finite(value: int | float, source: str | None, path: str) -> float:
    """`value` as a float, refusing NaN and infinity: YAML reads `.nan` and `.inf` as numbers,
    and NaN passes every range check (its comparisons are all False), so it would run."""
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float
        number = math.inf
    if not math.isfinite(number):
        fail(source, path, f"expected a finite number, got {shown(value)}")
    return number


# What PyYAML (YAML 1.1) reads as text though it looks like a number: an exponent without a
# dot in the mantissa or without a sign (`3e-3`, `1e308`, `1.0e308`); YAML 1.2 reads them as floats.
_EXPONENT = re.compile(r"([-+]?[0-9][0-9_]*)(\.[0-9_]*)?[eE]([-+]?)([0-9]+)")


def number_hint(value: Any, integer: bool = False) -> str:
    """For a number YAML read as text: how to write it so that it reads as a number (for an
    `integer`, its digits: 1.0e+9 would read as a float, which an integer key refuses too)."""
    match = _EXPONENT.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        return ""
    if integer:
        number = decimal.Decimal(value.strip().replace("_", ""))
        whole_number = number == number.to_integral_value() and number.adjusted() < 30  # past that, no count
        return f" (YAML reads {value} as text: write {int(number)})" if whole_number else ""
    whole, point, sign, power = match.groups()
    number = f"{whole}{point or '.0'}e{sign or '+'}{power}"
    return f" (YAML reads {value} as text: write {number})" if number != value.strip() else ""


_TYPE_TEXT = {int: "an integer", float: "a number", str: "a string", bool: "true or false", type(None): "null"}


def type_text(tp: Any) -> str:
    """What a type hint takes, as an error says it (`expected {type_text(tp)}, got 'x'`): the one
    wording of types for every layer's config errors, so a scenario and a recipe say it alike."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(dict.fromkeys(type_text(option) for option in get_args(tp)))
    if origin is typing.Literal:
        return f"one of {', '.join(map(str, get_args(tp)))}"
    if tp in _TYPE_TEXT:
        return _TYPE_TEXT[tp]
    if tp in (list, tuple) or origin in (list, tuple):
        return "a list"
    if tp is dict or origin is dict or dataclasses.is_dataclass(tp):
        return "a mapping"
    return tp.__name__ if isinstance(tp, type) else str(tp)  # an Enum or a class YAML cannot spell


def _convert(value: Any, tp: Any, source: str | None, path: str) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(value, option, source, path)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{_where(source, path)}: bad value")
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            keys = [f.name for f in dataclasses.fields(tp)]
            of = f" of {', '.join(keys[:-1])} and {keys[-1]}" if 2 <= len(keys) <= 3 else ""  # `seeds: [3, 4]`
            fail(source, path, f"expected {type_text(tp)}{of}, got {shown(value)}")
        return build(tp, value, source, path)
    if origin is dict:
        key_tp, val_tp = get_args(tp)
        if not isinstance(value, dict):
            fail(source, path, f"expected {type_text(tp)}, got {shown(value)}")
        out = {}
        for k, v in value.items():
            sub = f"{path}.{k}" if path else str(k)
            if key_tp is str and not isinstance(k, str):  # YAML reads `1:` or `null:` as a number or None
                fail(source, sub, f"a key must be a string, got {k!r} (quote it in the YAML)")
            out[_convert(k, key_tp, source, sub)] = _convert(v, val_tp, source, sub)
        return out
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            fail(source, path, f"expected {type_text(tp)}, got {shown(value)}")
        args = get_args(tp)
        item_tp = args[0] if args else Any
        return tuple(_convert(v, item_tp, source, f"{path}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            fail(source, path, f"expected {type_text(tp)}, got {shown(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            fail(source, path, f"expected {type_text(tp)}, got {shown(value)}{number_hint(value, integer=True)}")
        if not -LARGEST_INT <= value <= LARGEST_INT:  # past what numpy, torch and the rows' int64 columns take
            fail(source, path, f"expected {type_text(tp)} of at most {LARGEST_INT:,} in size, got {shown(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail(source, path, f"expected {type_text(tp)}, got {shown(value)}{number_hint(value)}")
        return finite(value, source, path)
    if tp is str:
        if not isinstance(value, str):
            fail(source, path, f"expected {type_text(tp)}, got {shown(value)}")
        if half := LONE_SURROGATE.search(value):  # a YAML escape; writing it to a card or a row would fail mid-run
            fail(source, path, f"{shown(value)} holds a {half_character(half.group(), half.start())}")
        return value
    if typing.get_origin(tp) is typing.Literal:
        if value not in get_args(tp):
            fail(source, path, f"expected {type_text(tp)}, got {shown(value)}")
        return value
    raise TypeError(f"glade.env.schema cannot validate type {tp!r}")  # a programming error


def _key(field: dataclasses.Field) -> str:
    """A field's YAML key: its name, or `metadata["key"]` where the key is a Python keyword (`from`)."""
    return field.metadata.get("key", field.name)


def build(cls: type, data: dict, source: str | None = None, path: str = "") -> Any:
    """Build dataclass `cls` from `data`, checking keys and types recursively."""
    hints = get_type_hints(cls)
    fields = {_key(f): f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            sub = f"{path}.{key}" if path else str(key)
            fail(source, sub, f"unknown key (known: {', '.join(fields)})" + did_you_mean(key, fields))
    kwargs = {}
    for key, field in fields.items():
        sub = f"{path}.{key}" if path else key
        if key in data:
            kwargs[field.name] = _convert(data[key], hints[field.name], source, sub)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            fail(source, sub, f"missing required key ({type_text(hints[field.name])})")
    return cls(**kwargs)


def read_yaml(path: str | Path) -> dict:
    """Read a YAML mapping; a parse error or a non-mapping is a one-line ConfigError."""
    path = Path(path)
    try:
        data = load_unique(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder; expected a YAML file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file; expected YAML") from None
    except yaml.YAMLError as exc:
        marked = isinstance(exc, yaml.MarkedYAMLError)  # a scanner or parser error: line and problem
        at = f" (line {exc.problem_mark.line + 1})" if marked and exc.problem_mark else ""
        raise ConfigError(f"{path}: YAML error{at}: {yaml_problem(exc)}") from None
    except BadYaml as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def apply_overrides(
    data: dict, overrides: dict[str, Any], source: str | None = None, named: dict[str, str] | None = None
) -> dict:
    """Deep-merge `overrides` into a copy of `data`; dotted keys address nested mappings. An
    empty mapping replaces what is there (`councils={}` says none), as merging it would change
    nothing and the key would be silently ignored. A dotted key through a value that is not a
    mapping (`seeds.count.x=1`, `policies.p.kind=hf` where p is a name) is a ConfigError naming
    it: replacing that value by a mapping would lose it, or run what no one wrote. `named`: the
    top-level mappings of named entries, each -> what an entry is (a scenario's creatures ->
    creature): a dotted key into an entry not there (`creatures.Oona.pebbles=4`, a name for an
    id) is a ConfigError listing the entries, since it would add one holding that key alone. A
    whole entry (`creatures.newt={...}`) is added as given."""
    out = _deep_copy(data)
    for key, value in overrides.items():
        # A dotted key addresses a nested mapping; any other key (YAML allows `1:` or `null:`)
        # is one key, for validation to name.
        parts = key.split(".") if isinstance(key, str) else [key]
        node = out
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is not None and not isinstance(child, dict):
                fail(
                    source,
                    ".".join(map(str, parts[: i + 1])),
                    f"is {child!r}, not a mapping, so {key}={value!r} has nothing to set; "
                    f"give its whole value instead ({'.'.join(map(str, parts[: i + 1]))}=...)",
                )
            if child is None and i == 1 and parts[0] in (named or {}):
                _no_entry(node, parts[0], part, named[parts[0]], source)
            if child is None:
                child = {}
                node[part] = child
            node = child
        if isinstance(value, dict) and value and isinstance(node.get(parts[-1]), dict):
            node[parts[-1]] = apply_overrides(node[parts[-1]], value)
        else:
            node[parts[-1]] = value
    return out


def _no_entry(entries: dict, key: str, entry: Any, what: str, source: str | None) -> typing.NoReturn:
    listed = f"({key}: {', '.join(map(str, entries))})"
    fail(source, f"{key}.{entry}", f"no such {what} {listed}" + did_you_mean(entry, entries))


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data


def as_plain(obj: Any) -> Any:
    """A frozen dataclass tree back to plain dicts and lists (for hashing and writing)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {_key(f): as_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: as_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [as_plain(v) for v in obj]
    return obj
