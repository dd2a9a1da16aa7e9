"""How a verb ends, past its own work: the exit status as its output fared (a reader gone, a
full disk), a signal that stops it as Ctrl-C does, and the one line that names an OSError the
verb did not name itself. main() in glade.cli applies them."""

from __future__ import annotations

import errno
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from glade.checkpoint import PARTIAL
from glade.console import Outlet, error
from glade.files import temp_of

# What every verb's --help says of its output (output_status): a reader gone is no failure of the work.
OUTPUT_LOST = (
    "Once its files are written, a reader that went away (`| head`) ends it quietly with 141; output that "
    "cannot be written for another reason (a full disk), with 1."
)


# A reader that went away (`glade eval R | head -1`; stderr's reader gone): the status a shell reports
# for a process SIGPIPE killed (`yes | head -1`), which pipelines and `set -o pipefail` scripts
# already expect of a writer whose reader left, and which no verb uses; rich's own choice, 1, is
# glade's "finished, but too many seat faults".
READER_GONE = 128 + signal.SIGPIPE


def output_status(code: int, out: Outlet | None, err: Outlet | None) -> int:
    """The exit status once a verb finished: its own when it failed (its error said where stderr
    could take it); else READER_GONE, quietly, where stdout's or stderr's reader went away (EPIPE);
    else 1 where output could not be written (a full disk: said on stderr, for stdout)."""
    lost = [exc for stream in (out, err) if stream is not None for exc in stream.lost]
    if code != 0 or not lost:
        return code
    if any(exc.errno == errno.EPIPE for exc in lost):
        return READER_GONE
    if out is not None and out.lost:
        reason = out.lost[0].strerror or str(out.lost[0])
        error(
            f"the output could not be written to stdout ({reason[0].lower()}{reason[1:]}); the verb finished and its "
            "files are written: rerun it with stdout on another disk to see what it printed"
        )
    return 1


def fill_closed_streams() -> None:
    """/dev/null on a standard descriptor closed when glade started (`2>&-`): else the first file
    glade opens takes its number, and what a subprocess (git) or torch's C++ writes to "stderr"
    lands in that file. (sys.stderr stays None: glade's own output knows a closed stream.)"""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)  # the lowest free number: fd itself
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def ignore_ctrl_c() -> Callable[[], None]:
    """Ignore SIGINT (in the main thread: elsewhere Python sets no handler); returns what puts
    the previous handler back (main() may run in a test, which Ctrl-C must still stop)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    return lambda: signal.signal(signal.SIGINT, before)


def stop_on_sigterm(received: list[int]) -> Callable[[], None]:
    """SIGTERM (docker stop, Slurm, systemd, a cancelled CI job) and SIGHUP (the terminal or ssh
    session closed) stop a verb as Ctrl-C does: each raises KeyboardInterrupt, so the verb keeps
    what it finished and says how to resume, and `received` notes it (exit status 143, 129). Only
    in this process: a forked child that inherits the handler (a DataLoader worker) dies of the
    signal as before; Ray workers and subprocesses start with their own. A signal ignored when glade
    started stays ignored (`nohup glade train R`). Returns what puts the previous handlers back
    (main() may run in a test)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # Python sets signal handlers in the main thread only
    if os.environ.get("RANK", "0") not in ("", "0"):  # torchrun's other ranks: it ends them when one fails,
        return lambda: None  # and one resume line (rank 0's) beside the failing rank's error is enough
    pid = os.getpid()

    def handler(signum: int, frame) -> None:
        if os.getpid() != pid:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        received.append(signum)
        raise KeyboardInterrupt

    previous = {
        signum: signal.signal(signum, handler)
        for signum in (signal.SIGTERM, signal.SIGHUP)
        if signal.getsignal(signum) is not signal.SIG_IGN
    }

    def restore() -> None:
        for signum, before in previous.items():
            signal.signal(signum, signal.SIG_DFL if before is None else before)

    return restore


# What to do about an OSError the verbs did not name themselves (a folder it cannot create, a
# full disk): the path and the reason, not "[Errno 13] Permission denied: '...'".
OS_HINTS = {  # said of reads and writes alike: the OSError does not say which it was
    errno.EACCES: "check the path and its permissions",
    errno.EPERM: "check the path and its permissions",
    errno.EROFS: "choose a path you can write",
    errno.ENOSPC: "the disk is full: free some space, or choose a path on another disk; files it finished are kept",
    errno.EDQUOT: "the disk quota is used up: free some space, or choose a path on another disk; files it finished "
    "are kept",
    errno.EFBIG: "the file is larger than this system allows (`ulimit -f`, or the file system's limit): raise the "
    "limit, or choose a path on another disk; files it finished are kept",
    errno.ENOENT: "check the path: it, or a folder above it, is not there",
}
WRITES = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)  # only a write fails so: of a copy, its destination
# Where the failing write is a training run's (its hidden folder, .NAME__SEED.partial): what goes on from it
TRAIN_RESUME = "free some space, then rerun with --resume: the trainer checkpoints it finished are kept"


def os_error_line(exc: OSError) -> str:
    # shutil's copy names the source (filename) and the destination (filename2): a full disk is the destination's
    named = exc.filename2 if exc.errno in WRITES and exc.filename2 is not None else exc.filename
    if not exc.strerror or (named is None and exc.errno not in OS_HINTS):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    reason = os.strerror(exc.errno)  # pyarrow's is "Error writing bytes to file. Detail: [errno 28] ..."
    hint = OS_HINTS.get(exc.errno, "check the path (GLADE_DEBUG=1 shows where it was used)")
    if named is None:  # a write no caller named (an open file's, stdout's): the reason and what to do
        return f"{reason}; {hint}"
    path = Path(os.fsdecode(named))
    if (meant := temp_of(path.name)) is not None:  # the hidden temporary of an atomic write: name its file
        path = path.with_name(meant)
    if exc.errno in CACHE_HINTS and (cache := hf_cache_of(path)) is not None:  # not a path the user chose
        where, variable = cache
        hint = f"{where}: {CACHE_HINTS[exc.errno].format(variable=variable)}"
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT) and any(PARTIAL.fullmatch(p.name) for p in (path, *path.parents)):
        hint = f"{hint.split(':')[0]}: {TRAIN_RESUME}"
    return f"{path}: {reason[0].lower()}{reason[1:]}; {hint}"


# What to do where the path is the Hugging Face cache's (a read-only HOME or HF_HOME, its disk full)
CACHE_HINTS = {
    errno.EACCES: "set {variable} to a folder you can write",
    errno.EPERM: "set {variable} to a folder you can write",
    errno.EROFS: "set {variable} to a folder you can write",
    errno.ENOSPC: "free some space, or set {variable} to a folder on another disk",
}


def hf_cache_of(path: Path) -> tuple[str, str] | None:
    """Where `path` is in a folder of the Hugging Face cache (the hub's, datasets', the modules
    lm-eval's tasks load), or a folder not yet made on the way to one (`~/.cache` where HOME is
    read-only): what to say of it and the variable that places that folder; else None. The
    folders as huggingface_hub and datasets read them from the environment: HF_HOME (unset:
    ~/.cache/huggingface) places them all, unless one's own variable is set (HF_HUB_CACHE, ...)."""
    from huggingface_hub import constants

    folders = {  # each one's own variable first; HF_HOME places those not set
        "HF_HUB_CACHE": constants.HF_HUB_CACHE,
        "HF_ASSETS_CACHE": constants.HF_ASSETS_CACHE,
        "HF_XET_CACHE": constants.HF_XET_CACHE,
        "HF_DATASETS_CACHE": os.environ.get("HF_DATASETS_CACHE", ""),
        "HF_MODULES_CACHE": os.environ.get("HF_MODULES_CACHE", ""),
        "HF_HOME": constants.HF_HOME,
    }
    path = Path(os.path.abspath(path))
    for variable, folder in folders.items():
        if not folder or (variable != "HF_HOME" and not os.environ.get(variable)):
            continue
        folder = Path(os.path.abspath(os.path.expanduser(folder)))
        set_to = f"{variable}={folder}" if os.environ.get(variable) else f"{variable} unset: {folder}"
        if path.is_relative_to(folder):
            return f"it is in the Hugging Face cache ({set_to})", variable
        if folder.is_relative_to(path) and not path.exists():  # a parent it could not make
            return f"the Hugging Face cache goes there ({set_to})", variable
    return None
