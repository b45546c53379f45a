"""tests/fuzz: its helper module (fuzz_grammar) is importable by the tests here and by
scripts/fuzz_atheris.py."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
