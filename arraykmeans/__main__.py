"""``python -m arraykmeans``: the command line (see :mod:`arraykmeans.cli`)."""

import sys

from .cli import main

sys.exit(main())
