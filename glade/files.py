"""Writing files safely: atomically (a kill never leaves half a file under the real name), and
never over a file glade did not write."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic(path: Path) -> Iterator[Path]:
    """Write to a temporary sibling of `path`; it replaces `path` only when the block ends cleanly.
    The sibling is hidden (.NAME.tmp), so readers of the folder (pyarrow, datasets) skip one a kill left."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def check_replaceable(path: Path, ours: Callable[[str], bool], what: str, option: str | None = "--out") -> None:
    """Refuses (ValueError) to let a run write `path` over a folder, or over a file that
    `ours(text)` does not recognise as one glade wrote (`what`): glade never replaces what it
    did not write. Call it before the work, so nothing is spent on a run that cannot be kept.
    `option` names the flag that chose the path; None for a fixed name inside a folder."""
    if path.is_dir():
        where = f"{option} names" if option else "that path is"
        raise ValueError(f"{f'{option} ' if option else ''}{path}: is a folder; {where} the {what} file to write")
    if not path.exists():
        return
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        text = ""
    if not ours(text):
        raise ValueError(
            f"{f'{option} ' if option else ''}{path}: exists and is not a {what} glade wrote; glade never replaces "
            f"a file it did not write: {f'choose another {option}, or ' if option else ''}move that file aside"
        )


def write_json(path: Path, data) -> None:
    with atomic(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))


def check_folder_path(path: Path) -> None:
    """Refuses (ValueError) a folder to write that is a file, or that lies under a file (where
    mkdir would fail with a bare 'Not a directory')."""
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path}: is a file; give a folder to write into")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{path}: {parent} is a file, so no folder can be made under it; give another path")
            return


def json_with_keys(keys: set[str]) -> Callable[[str], bool]:
    """For check_replaceable: the text is a JSON object holding every one of `keys` (how a
    summary or board glade wrote is told from a file of the user's)."""

    def holds(text: str) -> bool:
        try:
            data = json.loads(text)
        except ValueError:
            return False
        return isinstance(data, dict) and keys <= set(data)

    return holds
