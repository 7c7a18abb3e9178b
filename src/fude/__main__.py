"""``python -m fude``: the same as the ``fude`` command (also what ``torchrun -m fude`` runs)."""

import sys

from fude.cli import run

sys.exit(run())
