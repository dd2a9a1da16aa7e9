"""`python -m glade.cli VERB ...`, as `torchrun -m glade.cli train RECIPE` runs it."""

import sys

from glade.cli import entry
from glade.console import error

try:
    sys.exit(entry())
except KeyboardInterrupt:  # a Ctrl-C before the verb's own handler is up (its parser imports the verb's module)
    error("interrupted")
    sys.exit(130)
