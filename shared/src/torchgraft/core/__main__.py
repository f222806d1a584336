"""``python -m torchgraft.core`` runs the ``torchgraft`` command."""

import sys

from .cli import main

sys.exit(main())
