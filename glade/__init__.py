"""glade: fine-tune and evaluate creature models in the Wood."""

import os as _os

__version__ = "0.1.0"

# env/, train/ and eval/ sit beside this folder and install as glade.env, glade.train and
# glade.eval. When glade is imported from the source tree (pytest, python -m) instead of
# an install, make those sibling folders findable as sub-packages.
_root = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if _os.path.isdir(_os.path.join(_root, "env")) and not _os.path.isdir(_os.path.join(_os.path.dirname(__file__), "env")):
    __path__.append(_root)  # type: ignore[name-defined]
