"""`python -m glade.cli VERB ...`, as `torchrun -m glade.cli train RECIPE` runs it."""

import sys

from glade.cli import entry

sys.exit(entry())
