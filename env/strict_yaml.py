"""YAML read strictly: what PyYAML would read without a word but no one meant is refused.

A key given twice in one mapping, a value that contains itself, aliases that expand past any
recipe's size, nesting too deep to read, and YAML 1.1 numbers (1:30 as base 60, 010 as octal)
are each a `BadYaml` naming where; `yaml_problem` says what PyYAML itself found wrong, in one
line. `glade.env.schema.read_yaml` turns both into a ConfigError naming the file.
"""

from __future__ import annotations

import re
from typing import Any

import yaml


def yaml_problem(exc: yaml.YAMLError) -> str:
    """What PyYAML found wrong, in one line; a tab, which YAML never allows in indentation (and
    an editor hides), says so."""
    problem = (exc.problem if isinstance(exc, yaml.MarkedYAMLError) else None) or "not valid YAML"
    if "'\\t'" in problem:
        problem += " (a tab: YAML indents with spaces only)"
    return problem


class BadYaml(ValueError):
    """A YAML file that reads as something other than what it says: a mapping that names one
    key twice, a value that contains itself, aliases that expand past any recipe's size, nesting
    too deep to read."""


MAX_VALUES = 1_000_000  # values a file may expand to through its aliases (a recipe holds hundreds)
# YAML 1.1 numbers that read as no one wrote them: 1:30 is 90 (base 60), 010 is 8 (octal); YAML 1.2 dropped both
YAML11_NUMBER = re.compile(r"[-+]?(?:(?P<sixty>[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?)|0[0-7_]*[0-7][0-7_]*)")
NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


def load_unique(text: str) -> Any:
    """yaml.safe_load, refusing a key given twice in one mapping (PyYAML keeps the last
    silently, so a recipe that says `count: 4` and later `count: 40` would run with 40 and no
    one would know which was meant), a value that contains itself (`&a [*a]`: every reader of
    it would recurse without end) and aliases of aliases that expand past MAX_VALUES values
    (copying them would never finish)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _check_unique(node, {}, set()) > MAX_VALUES:
            raise BadYaml(f"its aliases expand to more than {MAX_VALUES:,} values")
        return loader.construct_document(node)
    except RecursionError:  # PyYAML reads each level of nesting by recursion
        raise BadYaml("nested too deeply (lists or mappings hundreds of levels deep); no recipe needs that") from None
    finally:
        loader.dispose()


def _check_unique(node: yaml.Node, sizes: dict[int, int], open_: set[int], path: str = "") -> int:
    """How many values `node` expands to. `sizes`: the nodes checked already (an alias is
    checked once); `open_`: the nodes this one lies inside (met again, it contains itself)."""
    if id(node) in open_:
        raise BadYaml(f"{path or '(top level)'}: contains itself (a YAML alias inside its own anchor)")
    if id(node) in sizes:
        return sizes[id(node)]
    size = 1
    open_.add(id(node))
    if isinstance(node, yaml.MappingNode):
        lines: dict[tuple[str, str], int] = {}
        for key, value in node.value:
            sub = path
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                sub = f"{path}.{key.value}" if path else key.value
                line = key.start_mark.line + 1
                if (key.tag, key.value) in lines:
                    first = lines[key.tag, key.value]
                    where = f" (lines {first} and {line})" if first != line else ""
                    raise BadYaml(f"{sub}: given twice{where}; keep one")
                lines[key.tag, key.value] = line
            size += _check_unique(value, sizes, open_, sub)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            size += _check_unique(item, sizes, open_, f"{path}[{i}]")
    elif node.tag in NUMBER_TAGS and (old := YAML11_NUMBER.fullmatch(node.value)) and _implicit(node):
        read, plain = yaml.safe_load(node.value), node.value.replace("_", "")
        if old.group("sixty") or read != int(plain):  # 07 is 7 either way
            what = "a number in base 60" if old.group("sixty") else "an octal number"
            raise BadYaml(
                f"{path + ': ' if path else ''}{node.value} reads as {read} (YAML 1.1 takes it for {what}); write "
                f"the number you mean in plain decimals, or quote it ('{node.value}'; on a command line, "
                f"\"KEY='{node.value}'\") for a text"
            )
    open_.discard(id(node))
    sizes[id(node)] = size
    return size


def _implicit(node: yaml.ScalarNode) -> bool:
    """The node's type is YAML's reading of its plain text (not a tag written before it: `!!float 010` is 10.0)."""
    return node.style is None and node.tag == yaml.resolver.Resolver().resolve(
        yaml.ScalarNode, node.value, (True, False)
    )
