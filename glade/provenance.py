"""Where a result came from: glade's version and git commit, the prompt protocol, package
versions. Written into dataset cards, checkpoints' meta.json and evaluation summaries."""

from __future__ import annotations

import platform
import subprocess
import time
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import glade


def checkout() -> Path | None:
    """The glade source checkout this code runs from, or None: an install (site-packages), even one
    inside a user's own git repository (a project's .venv), whose commit says nothing of glade's."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() and _is_top(root) else None


@cache  # a checkout's top cannot move under a running process: one git call per process, not one per stamp
def _is_top(root: Path) -> bool:
    try:
        done = _git(root, "rev-parse", "--show-toplevel")
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and Path(done.stdout.strip()).resolve() == root


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    """`git -C root ARGS`, read-only: --no-optional-locks keeps `status` from taking .git/index.lock to
    refresh the index, which a `git commit` in the checkout meanwhile would fail on (and a timeout's kill
    mid-refresh would leave behind)."""
    return subprocess.run(
        ["git", "--no-optional-locks", "-C", str(root), *args], capture_output=True, text=True, timeout=5
    )


def git_commit() -> str | None:
    """The commit of the glade checkout in use, or None (an install, no git)."""
    root = checkout()
    if root is None:
        return None
    try:
        done = _git(root, "rev-parse", "HEAD")
        # a repository with no commit yet answers 128 with the bare word HEAD on stdout
        return (done.stdout.strip() or None) if done.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def git_dirty() -> bool | None:
    """Whether the checkout in use has uncommitted changes to tracked files (so its commit does
    not say all of the code that ran), or None (an install, no git)."""
    root = checkout()
    if root is None:
        return None
    try:
        done = _git(root, "status", "--porcelain", "--untracked-files=no")
        return bool(done.stdout.strip()) if done.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


WRITER = ("glade_version", "git_commit", "git_dirty")  # which glade wrote something: the start of stamp()


def writer() -> dict:
    """The glade this process runs (WRITER), as a folder's ledger records it beside each part it writes."""
    commit = git_commit()
    return {"glade_version": glade.__version__, "git_commit": commit, "git_dirty": git_dirty() if commit else None}


def tally_writers(writers) -> list[dict]:
    """Each distinct writer (a WRITER dict, or None where an older ledger recorded none: all three None) with how
    many of `writers` are its, as `episodes`, in the order first seen."""
    counts: dict[tuple, int] = {}
    for one in writers:
        key = tuple((one or {}).get(k) for k in WRITER)
        counts[key] = counts.get(key, 0) + 1
    return [{**dict(zip(WRITER, key, strict=True)), "episodes": n} for key, n in counts.items()]


def other_writers(tally: list[dict], stamped: dict) -> list[dict] | None:
    """`tally` (tally_writers) where any of it is not the glade `stamped` names (a stamp()), else None: a folder
    resumed under another commit, or kept whole from another's run, is not all the stamp's work."""
    return tally if any({k: t[k] for k in WRITER} != {k: stamped[k] for k in WRITER} for t in tally) else None


def writers_line(folder: str | Path, tally: list[dict], unit: str, where: str) -> str:
    """One line: which glades wrote the `unit`s of `folder` (tally_writers), and that `where` lists each."""
    said = []
    for t in tally:
        if t["git_commit"]:
            name = f"glade at commit {t['git_commit'][:7]}" + (" with uncommitted changes" if t["git_dirty"] else "")
        elif t["glade_version"]:
            name = f"glade {t['glade_version']} (an install: no commit)"
        else:
            name = "an older glade that recorded none"
        said.append(f"{t['episodes']} by {name}")
    return f"{folder}: not all its {unit}s are this glade's ({', '.join(said)}); {where} lists each under written_by"


def package_version(package: str) -> str | None:
    try:
        return version(package.replace("_", "-"))
    except PackageNotFoundError:
        return None


def stamp(packages: tuple[str, ...] = ()) -> dict:
    """glade_version, git_commit, git_dirty, protocol_version, versions of `packages`, python."""
    from glade.env.protocol import PROTOCOL_VERSION

    return {
        **writer(),
        "protocol_version": PROTOCOL_VERSION,
        "versions": {p: package_version(p) for p in packages},
        "python": platform.python_version(),
    }


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def written_by(folder: str | Path) -> str:
    """Which glade wrote `folder`, for a line about an older one: `glade at commit abc1234` where the
    folder records it (an eval's summary.json, a checkpoint's meta.json, a dataset card's provenance;
    glade_version has stayed 0.1.0, so the commit is what tells versions apart), else `an older glade`."""
    import json
    import re

    folder = Path(folder)
    for name in ("summary.json", "meta.json"):
        try:
            commit = json.loads((folder / name).read_text(encoding="utf-8")).get("git_commit")
        except (OSError, ValueError, AttributeError):  # missing, not JSON, not an object
            continue
        if isinstance(commit, str) and commit:
            return f"glade at commit {commit[:7]}"
    try:
        found = re.search(r'"git_commit": "([0-9a-f]{7,40})"', (folder / "README.md").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        found = None
    return f"glade at commit {found.group(1)[:7]}" if found else "an older glade"
