"""``python -m fude``: the same as the ``fude`` command (also what ``torchrun -m fude`` runs)."""

from fude.cli import run

run()
