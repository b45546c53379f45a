"""`python -m chatd`: the server, as the `chatd` command."""

import sys

from .cli import main

sys.exit(main())
