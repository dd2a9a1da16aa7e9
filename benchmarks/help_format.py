"""The benchmarks' --help: every option with its default, where it has one to show."""

from __future__ import annotations

import argparse


class DefaultsShown(argparse.RawDescriptionHelpFormatter):
    """Appends "(default: X)" to an option's help unless the help already names its default
    or there is none to name (None, a flag's False, ""); the description keeps its line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        none = action.default is None or action.default is False or action.default in ("", argparse.SUPPRESS)
        if not action.option_strings or none or "default" in text:  # `is`: a default of 0 is shown
            return text
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"
