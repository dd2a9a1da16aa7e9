"""Recipes: YAML files validated into frozen dataclasses before anything runs.

The validation itself (unknown keys, types, one-line `ConfigError`s naming file and key)
lives at the bottom of the house in `glade.env.schema`, since scenarios need it too; the
names the trunk's recipes use are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from glade.env.schema import ConfigError, apply_overrides, as_plain, build, fail, read_yaml

__all__ = [
    "ConfigError",
    "Seeds",
    "apply_overrides",
    "as_plain",
    "build",
    "fail",
    "load_recipe",
    "parse_override",
    "read_yaml",
]


@dataclass(frozen=True)
class Seeds:
    """A run of world seeds in a recipe: `{start: 0, count: 4}` is seeds 0, 1, 2, 3."""

    start: int = 0
    count: int = 4

    def values(self) -> list[int]:
        return list(range(self.start, self.start + self.count))


def parse_override(text: str) -> tuple[str, Any]:
    """`a.b=value` from a command line: the value is read as YAML (so 3, 0.5, true, [a, b])."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected key=value")
    key, raw = text.split("=", 1)
    if not key.strip():
        raise ConfigError(f"override {text!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def load_recipe(cls: type, path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Any:
    """Read a recipe YAML, apply `key=value` overrides, validate into `cls` (frozen)."""
    data = read_yaml(path)
    pairs = dict(parse_override(o) for o in overrides)
    return build(cls, apply_overrides(data, pairs), str(path))
