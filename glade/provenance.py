"""Where a result came from: glade's version and git commit, the prompt protocol, package
versions. Written into dataset cards, checkpoints' meta.json and evaluation summaries."""

from __future__ import annotations

import platform
import subprocess
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import glade


def git_commit() -> str | None:
    """The commit of the glade checkout in use, or None (an install, no git)."""
    try:
        root = Path(__file__).resolve().parent.parent
        done = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return done.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def package_version(package: str) -> str | None:
    try:
        return version(package.replace("_", "-"))
    except PackageNotFoundError:
        return None


def stamp(packages: tuple[str, ...] = ()) -> dict:
    """glade_version, git_commit, protocol_version, versions of `packages`, python."""
    from glade.env.protocol import PROTOCOL_VERSION

    return {
        "glade_version": glade.__version__,
        "git_commit": git_commit(),
        "protocol_version": PROTOCOL_VERSION,
        "versions": {p: package_version(p) for p in packages},
        "python": platform.python_version(),
    }


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
