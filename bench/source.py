"""Which threadgate source tree is measured.

By default the one this harness lives in.  ``--source DIR`` measures another
checkout (``git worktree add /tmp/base <commit>``, or ``git archive <commit> | tar -x``)
with this harness: the servers run from DIR, and this process imports ``core`` and
``adapters`` from DIR too (the direct SQLite fill and the floors' Hypercorn
configuration must match the server under test).  Call :func:`use` before
importing anything from ``core`` or ``adapters``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[1]  # the tree holding this ``bench`` package
_source = HARNESS


def use(path: Path) -> Path:
    """Measure the tree at ``path``; returns it, resolved."""
    global _source
    resolved = path.resolve()
    if not (resolved / "adapters" / "cli.py").is_file():
        raise SystemExit(f"{resolved} is not a threadgate source tree (no adapters/cli.py)")
    _source = resolved
    sys.path.insert(0, str(resolved))
    return resolved


def tree() -> Path:
    return _source


def child_env() -> dict[str, str]:
    """What a server subprocess adds to its environment (``testkit.server`` drops every
    THREADGATE_* setting): imports resolve in the measured tree first, then in the
    harness's (for ``bench.floors``)."""
    paths = [str(_source), str(HARNESS), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}
