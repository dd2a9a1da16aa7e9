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


_HELD: set[Path] = set()  # the locks this process holds (flock is per open file: it would refuse its own holder)


@contextmanager
def only_writer(
    folder: Path, lock: Path | None = None, advice: str = "let it finish, or choose another out (out=DIR)"
) -> Iterator[None]:
    """Hold the lock of the run that writes `folder` (by default a hidden sibling, .NAME.lock, that
    names the writer's pid): a second glade run into the same folder is refused at once, a
    ValueError saying `advice`, instead of interleaving its shards and ledger with this one's. The
    kernel drops the lock when its process dies, so a killed run's folder resumes; the file goes
    when the run ends. Taken again inside itself (eval's play, then its tables) it passes. The
    path is resolved first: `.`, a symlink and an absolute path name one folder and one lock.
    POSIX only (fcntl.flock), as glade is."""
    import fcntl

    check_folder_path(Path(folder))
    shown, folder = Path(folder), Path(folder).resolve()
    lock = Path(lock or folder.parent / f".{folder.name}.lock").resolve()
    if lock in _HELD:
        yield
        return
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        handle = open(lock, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            raise ValueError(_refusal(shown, lock, holder, advice)) from None
        try:  # locked the file a run that just ended had unlinked: take the one at the path now
            if os.stat(lock).st_ino == os.fstat(handle.fileno()).st_ino:
                break
        except FileNotFoundError:
            pass
        handle.close()
    _HELD.add(lock)
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield
    finally:
        _HELD.discard(lock)
        lock.unlink(missing_ok=True)
        handle.close()


def _refusal(folder: Path, lock: Path, holder: str, advice: str) -> str:
    """Why only_writer refused: the run that holds the lock, or, where that run has exited, the
    process it started that still holds it (a forked child inherits the open file)."""
    words = holder.split()
    if len(words) == 2 and words[0] == "pid" and words[1].isdigit():
        try:
            os.kill(int(words[1]), 0)
        except ProcessLookupError:
            return (
                f"{folder}: glade run {holder} has exited, but a process it started still holds its lock ({lock}); "
                f"end that process (`fuser {lock}` names it), then rerun"
            )
        except PermissionError:  # alive, another user's
            pass
    return f"{folder}: another glade run ({holder or 'a process'}) is writing it now; {advice}"


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
