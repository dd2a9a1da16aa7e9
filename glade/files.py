"""Writing files safely: atomically (a kill never leaves half a file under the real name), and
never over a file glade did not write."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

_TEMP = re.compile(r"^\.(.+?)(?:\.\d+-[0-9a-f]{8})?\.tmp$")  # .NAME.PID-HEX.tmp (atomic's), or an older .NAME.tmp
_NAME_MAX = 255  # bytes in one file name (ext4, xfs, btrfs, tmpfs)


class Unwritable(ValueError):
    """A folder to write that cannot be written here (a read-only disk, no permission): the input
    naming it may be well formed; the place is not one this user can write."""


def user_path(text: str) -> str:
    """A path as the user meant it: a leading `~` (or `~user`) is that home folder. The shell
    expands it only at the start of a word, so `--out=~/x` and a quoted '~/x' arrive as written,
    and would make a folder named `~` here (and the `rm -rf ~` that removes it wipes the home).
    The argparse type= of every path option and positional, and how recipes read `out`."""
    return os.path.expanduser(text)


def arrow_path(path: Path) -> str:
    """`path` as pyarrow is to get it: absolute, so that the `~` pyarrow expands itself (in any path
    that starts with one) never sends a write elsewhere than the files glade writes beside it."""
    return str(Path(path).absolute())


def sibling_name(name: str, prefix: str, suffix: str) -> str:
    """prefix + name + suffix, the name of a hidden file beside `name` (a lock, a temporary); where
    that is past the file system's 255 bytes while `name` itself is not, `name`'s start and a hash
    of the whole, so a long file can still be written, and two long names never share a sibling."""
    whole = f"{prefix}{name}{suffix}"
    if len(whole.encode()) <= _NAME_MAX:
        return whole
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    room = _NAME_MAX - len(f"{prefix}-{digest}{suffix}".encode())
    return f"{prefix}{name.encode()[: max(room, 0)].decode(errors='ignore')}-{digest}{suffix}"


def readable_by_umask(folder: Path) -> None:
    """Gives every file under `folder` the mode the umask implies (0666 & ~umask), as open() makes
    one: safetensors writes its weights 0600 whatever the umask, so another user, or a container
    of another uid, could read every file of a checkpoint but its weights. Called on a folder glade
    made, before it is moved into place."""
    mask = os.umask(0o022)  # how Python reads the umask: set back at once (one thread writes here)
    os.umask(mask)
    for path in (p for p in Path(folder).rglob("*") if p.is_file() and not p.is_symlink()):
        os.chmod(path, 0o666 & ~mask)


@contextmanager
def atomic(path: Path) -> Iterator[Path]:
    """Write to a temporary sibling of `path`; it replaces `path` only when the block ends cleanly.
    The sibling is hidden (.NAME.PID-HEX.tmp), so readers of the folder (pyarrow, datasets) skip one
    a kill left; the pid and random part make it this write's own, so two processes writing one
    file never share (and unlink) one temporary: the last to finish wins."""
    tmp = temp_for(path)
    try:
        with saved_into(path):
            yield tmp
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


_RUST_OS_ERROR = re.compile(r"\(os error (\d+)\)")  # how Rust's io errors end: "No space left on device (os error 28)"
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # a full disk, a quota, a file past `ulimit -f`
# what a failed write says of where it writes; another OSError in a save (a worker's, a read's) is not the path's
_WRITE_ERRORS = (*_DISK_FULL, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO)


@contextmanager
def saved_into(path: Path) -> Iterator[None]:
    """Runs a save into `path` (a file or folder) so that its failure names `path`: an OSError that names
    no file (pyarrow's and f.write's: "[Errno 28] Error writing bytes to file"), and a full disk that
    safetensors (SafetensorError) or tokenizers (a plain Exception) report in Rust's words, which no
    OSError handler sees, are raised as the OSError they are, naming `path`."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None or exc.errno not in _WRITE_ERRORS:
            raise
        raise OSError(exc.errno, os.strerror(exc.errno), str(path)) from exc
    except Exception as exc:
        from safetensors import SafetensorError  # here: a write that went well need not load it

        found = _RUST_OS_ERROR.search(str(exc)) if type(exc) in (SafetensorError, Exception) else None
        if found is None or int(found.group(1)) not in _DISK_FULL:
            raise
        code = int(found.group(1))
        raise OSError(code, os.strerror(code), str(path)) from exc


def temp_for(path: Path) -> Path:
    """A new hidden temporary sibling of `path`, this process's own (atomic's .NAME.PID-HEX.tmp)."""
    return path.with_name(sibling_name(path.name, ".", f".{os.getpid()}-{secrets.token_hex(4)}.tmp"))


def temp_of(name: str) -> str | None:
    """The file name a hidden temporary named `name` was to become (atomic's .NAME.PID-HEX.tmp, or
    the .NAME.tmp of an older glade), else None: how a writer knows a killed write's leftover (of a
    name too long to keep whole, its shortened form: sibling_name)."""
    found = _TEMP.match(name)
    return found.group(1) if found else None


_OURS = re.compile(r"^\..+\.(\d+)-[0-9a-f]{8}\.tmp$")  # atomic's .NAME.PID-HEX.tmp, its writer's pid


def left_by_a_kill(name: str) -> bool:
    """Whether `name` is atomic's temporary of a process that is gone: a write a kill cut short
    (a live writer's, another run's beside this one, is its own)."""
    found = _OURS.match(name)
    if found is None or int(found.group(1)) == os.getpid():
        return False
    try:
        os.kill(int(found.group(1)), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):  # alive as another user; not a pid at all
        return False
    return False


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
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""
    if not ours(text):
        raise ValueError(
            f"{f'{option} ' if option else ''}{path}: exists and is not a {what} glade wrote; glade never replaces "
            f"a file it did not write: {f'choose another {option}, or ' if option else ''}move that file aside"
        )


def check_folder_path(path: Path) -> None:
    """Refuses (ValueError) a folder to write that is a file, or that lies under a file (where
    mkdir would fail with a bare 'Not a directory'), or that is or lies under a symlink to nothing
    or a symlink loop (mkdir would fail with 'File exists', after making the link's missing parents), or
    whose nearest existing folder cannot be written (a read-only disk: found before a run plays)."""
    for part in (path, *path.parents):
        if part.is_symlink() and not part.exists():  # exists() follows the link: it leads nowhere
            where = f"{path}:" if part == path else f"{path}: {part} is"
            if _loops(part):
                raise ValueError(f"{where} a symlink loop (it leads back to itself); give another path")
            target = part.parent / os.readlink(part)
            raise ValueError(
                f"{where} a symlink to {target}, which does not exist; create {target} or give another path"
            )
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path}: is a file; give a folder to write into")
    for parent in (path, *path.parents):
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{path}: {parent} is a file, so no folder can be made under it; give another path")
            if not os.access(parent, os.W_OK | os.X_OK):  # a read-only disk, or no permission: found before the work
                where = f"{path}:" if parent == path else f"{path}: {parent}"
                # a relative one (`.`, the folder a report writes into) said not which folder it is
                which = "" if parent.is_absolute() else f"{os.path.abspath(parent)}: "
                raise Unwritable(
                    f"{where} cannot be written ({which}a read-only disk, or no permission); choose a path you can write"
                )
            return


def _loops(path: Path) -> bool:
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


def resolved(path: Path) -> Path:
    """`path` made absolute with its symlinks followed; a symlink loop is bad input (ValueError
    naming the path), not pathlib's RuntimeError."""
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError) as exc:  # a loop: RuntimeError, an OSError ELOOP from Python 3.13
        if isinstance(exc, OSError) and exc.errno != errno.ELOOP:
            raise
        raise ValueError(f"{path}: a symlink loop (it leads back to itself); give another path") from None


_HELD: set[Path] = set()  # the locks this process holds (flock is per open file: it would refuse its own holder)


@contextmanager
def only_writer(
    folder: Path,
    lock: Path | None = None,
    advice: str = "let it finish, or choose another out (out=DIR)",
    optional: bool = False,
) -> Iterator[None]:
    """Hold the lock of the run that writes `folder` (by default a hidden sibling, .NAME.lock, that
    names the writer's pid): a second glade run into the same folder is refused at once, a
    ValueError saying `advice`, instead of interleaving its shards and ledger with this one's. The
    kernel drops the lock when its process dies, so a killed run's folder resumes; the file goes
    when the run ends, and so do the folders made for it, while empty. Taken again inside itself
    (eval's play, then its tables) it passes. The path is resolved first: `.`, a symlink and an
    absolute path name one folder and one lock. `optional`: where no lock file can be made (a
    parent the user cannot write), go on without it, as no other run can hold it there either.
    POSIX only (fcntl.flock), as glade is."""
    check_folder_path(Path(folder))
    with _hold(Path(folder), lock, advice, optional):
        yield


@contextmanager
def only_writer_of_file(path: Path, advice: str, optional: bool = False) -> Iterator[None]:
    """only_writer for one file (rank's or calibrate's --out): the lock is .NAME.lock beside it."""
    check_folder_path(Path(path).parent)
    with _hold(Path(path), None, advice, optional):
        yield


@contextmanager
def _hold(shown: Path, lock: Path | None, advice: str, optional: bool) -> Iterator[None]:
    """only_writer's lock on `shown` (its path as the user gave it, for the messages)."""
    import fcntl

    target = resolved(shown)
    lock = resolved(lock or lock_of(target))
    if lock in _HELD:
        yield
        return
    made = [folder for folder in (lock.parent, *lock.parent.parents) if not folder.exists()]
    probes = 6  # writer_of takes a shared lock for an instant: a refusal then would be a false one
    while True:
        try:
            lock.parent.mkdir(parents=True, exist_ok=True)
            handle = open(lock, "a+", encoding="utf-8")
        except OSError as exc:
            _remove_empty(made)
            if not optional:
                reason = (exc.strerror or str(exc)).lower()
                raise ValueError(f"{shown}: cannot make its lock file beside it ({lock}): {reason}") from None
            handle = None
            break
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            if probes := probes - 1:
                time.sleep(0.02)
                continue
            _remove_empty(made)
            raise ValueError(_refusal(shown, lock, holder, advice)) from None
        try:  # locked the file a run that just ended had unlinked: take the one at the path now
            if os.stat(lock).st_ino == os.fstat(handle.fileno()).st_ino:
                break
        except FileNotFoundError:
            pass
        handle.close()
    if handle is None:  # optional, and no lock file can be made here
        yield
        return
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
        _remove_empty(made)


def lock_of(target: Path) -> Path:
    """The lock file of `target` (resolved): its hidden sibling .NAME.lock."""
    return target.parent / sibling_name(target.name, ".", ".lock")


def _remove_empty(folders: list[Path]) -> None:
    """Removes the folders the lock made, deepest first, while empty (a run that wrote nothing there)."""
    for folder in folders:
        with suppress(OSError):
            folder.rmdir()


def writer_of(folder: Path) -> str | None:
    """Who holds `folder`'s lock (only_writer's), as its file names it ('pid N'), while a live
    process holds it; None when none does, or this process does."""
    import fcntl

    try:
        target = resolved(folder)
    except ValueError:
        return None
    lock = lock_of(target)
    if lock in _HELD:
        return None
    try:
        handle = open(lock, encoding="utf-8")
    except OSError:
        return None
    with handle:
        try:  # a shared lock is refused only while a writer holds its exclusive one
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return handle.read().strip() or "a process"
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


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
