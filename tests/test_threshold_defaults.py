"""The defaults of the thresholds live in one place (glade.eval.thresholds.DEFAULTS): the interval
level every default reads, the CLI's --level, and a Results read without a recipe."""

from __future__ import annotations

import inspect
from pathlib import Path

import pandas as pd

from glade.cli.rank import add_parser
from glade.eval import exact, harness, metrics, rank, stats
from glade.eval.report.data import Results
from glade.eval.thresholds import DEFAULTS


def test_every_default_interval_level_is_the_recipes_default_ci_level():
    # guards `level: float = DEFAULTS.ci_level`: no function writes its own 0.95
    defaults = [
        inspect.signature(f).parameters["level"].default
        for f in (stats.interval, stats.describe, stats.t_hall, stats.fieller, stats.column_intervals)
        + (stats.resample_intervals, exact.clopper_pearson, metrics.seed_rate, harness.episode_intervals, rank.rank)
    ]
    assert defaults == [DEFAULTS.ci_level] * 10 and DEFAULTS.ci_level == 0.95


def test_glade_rank_level_defaults_to_the_recipes_ci_level():
    import argparse

    parser = add_parser(argparse.ArgumentParser().add_subparsers(), "rank")
    assert parser.parse_args(["r"]).level == DEFAULTS.ci_level
    assert "interval level (default: 0.95)" in parser.format_help()


def test_results_without_thresholds_read_the_defaults():
    # guards Results.thresholds' default: the report's numbers at DEFAULTS where no run said otherwise
    assert Results(Path("."), pd.DataFrame(), pd.DataFrame()).thresholds == DEFAULTS
