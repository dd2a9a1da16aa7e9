"""A regular (non-editable) `pip install .` into a fresh venv runs glade from any folder:
the recipes ship as package data, every sub-package is installed."""

from __future__ import annotations

import json
import os
import site
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_a_regular_install_runs_from_any_folder(tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    # The dependencies come from this venv (a plain path, so its editable glade stays unseen).
    site_packages = Path(
        subprocess.check_output(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], text=True
        ).strip()
    )
    (site_packages / "project-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    # ... setuptools included: the venv's own is too old for this pyproject.toml.
    subprocess.run([python, "-m", "pip", "uninstall", "-y", "-q", "setuptools"], capture_output=True, timeout=120)
    done = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": ""}
    where = subprocess.run(
        [python, "-c", "import glade.env.scenario as s; print(s.__file__, s.RECIPES)"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
        timeout=120,
    )
    assert str(site_packages) in where.stdout and str(ROOT) not in where.stdout, where.stdout + where.stderr
    glade = env_dir / "bin" / "glade"
    sim = subprocess.run(
        [glade, "simulate", "--scenario", "gambit_override", "--turns", "5", "--quiet", "--out", "sim"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
        timeout=300,
    )
    assert sim.returncode == 0, sim.stderr[-2000:]
    assert json.loads((elsewhere / "sim" / "summary.json").read_text())["gambit_pnl"] > 0
    quick = subprocess.run(
        [glade, "quickstart", "--until", "base", "--out", "qs"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
        timeout=600,
    )
    assert quick.returncode == 0, quick.stderr[-2000:]
    assert "step 4/4" in quick.stdout and (elsewhere / "runs" / "traces" / "standin" / "data").is_dir()
    assert str(site_packages / "glade" / "models" / "tiny-base") in quick.stdout  # the shipped base, as package data
    valid = subprocess.run([glade, "validate"], capture_output=True, text=True, cwd=elsewhere, env=env, timeout=300)
    # every shipped recipe is well formed; two wait for inputs an earlier step writes, and the two on a Hub
    # base for its download (offline, as the suite runs, with an empty cache) (exit 1)
    assert valid.returncode == 1 and "0 FAIL (malformed), 4 NEEDS (inputs not made yet)" in valid.stdout, (
        valid.stdout + valid.stderr
    )
