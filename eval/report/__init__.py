"""The report of an evaluation (`glade report RESULTS`): data.py loads the results and
computes what is shown, plots.py draws the figures, render.py writes report.md and a
self-contained report.html from its section builders (sections.py and one module for each
larger part: seats, cost, calibration, leaderboard, top flags, the glossary)."""

from .data import FILES
from .render import write_report

__all__ = ["FILES", "write_report"]
