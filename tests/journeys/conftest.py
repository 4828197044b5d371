"""Make the repository importable when pytest runs from the checkout (``.venv/bin/pytest``
does not put the working directory on ``sys.path``); also exposes ``tests/engine`` for
the shared journey driver ``journey_sim``."""

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]
for _path in (_ROOT, _ROOT / "tests" / "engine"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
