"""An interval's level is said as given wherever glade prints it: a recipe's ci_level of 0.995 is a
99.5% interval, not "100%" (the whole-percent format rounded it), and 0.975 is not "98%"."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_pinned_export_numbers import view

from glade.eval.report import plots
from glade.eval.report.data import Results
from glade.eval.report.leaderboard import board_table
from glade.eval.report.sections import LEAD
from glade.eval.thresholds import Thresholds
from glade.hub.card_sections import seat_section
from glade.words import level_percent


@pytest.mark.parametrize(("level", "said"), [(0.95, "95%"), (0.9, "90%"), (0.995, "99.5%"), (0.975, "97.5%")])
def test_a_level_is_said_as_given(level, said):
    assert level_percent(level) == said


def test_every_place_that_prints_a_level_keeps_its_half_percent():
    rank = {"rank": 1, "of": 2, "outcome": "seat", "level": 0.995, "strength": 0.5, "ci": [0.0, 1.0]}
    rank.update(rank_ci=[1, 2], wins=3.0, comparisons=4.0)
    card = "\n".join(seat_section(view(level=0.995, ranks=(rank,))))
    assert "| valid-action rate | 99.5% CI | self-buy rate | 99.5% CI |" in card
    assert "(99.5% CI +0.00 to +1.00; rank 1 to 2" in card
    r = Results(Path("."), pd.DataFrame(), pd.DataFrame(), thresholds=Thresholds(ci_level=0.995))
    assert plots.ci_words(r).startswith("99.5% interval of the mean over seeds")
    assert "Intervals are 99.5%: the t interval" in LEAD.format(level=level_percent(r.thresholds.ci_level))
    board = {"level": 0.995, "outcome": "seat", "board": []}
    assert "99.5% CI" in board_table(board)[0]
