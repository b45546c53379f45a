"""`python -m chatd.server`, kept for scripts and tests that start the server this way: the same
as `python -m chatd` (the composition root is `chatd/cli.py`; nothing in the server package
imports it)."""

import sys

from chatd.cli import main

sys.exit(main())
