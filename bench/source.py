"""Which threadgate tree is measured: this harness's, or with ``--source DIR`` another
checkout (``git worktree add /tmp/base <commit>``), from which the servers run and this
process imports ``core`` and ``adapters`` (call :func:`use` first); :func:`provenance`
records its commit and the machine.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

HARNESS = Path(__file__).resolve().parents[1]  # the tree holding this ``bench`` package
_source = HARNESS


def use(path: Path) -> None:
    """Measure the tree at ``path``."""
    global _source
    if not ((_source := path.resolve()) / "adapters" / "cli.py").is_file():
        raise SystemExit(f"{_source} is not a threadgate source tree (no adapters/cli.py)")
    sys.path.insert(0, str(_source))


def tree() -> Path:
    return _source


def child_env() -> dict[str, str]:
    """What a server subprocess adds to its environment (``testkit.server`` drops every
    THREADGATE_* setting): imports resolve in the measured tree first, then in the
    harness's (for ``bench.floors``)."""
    paths = [str(_source), str(HARNESS), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}


def _proc_field(path: str, name: str) -> str | None:
    """The value of the first ``name: value`` line of a /proc file."""
    for line in Path(path).read_text().splitlines():
        if line.startswith(name):
            return line.split(":", 1)[1].strip()
    return None


def _git(*args: str) -> str | None:
    try:
        run = subprocess.run(["git", *args], cwd=_source, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return run.stdout.strip() if run.returncode == 0 else None


def provenance() -> dict[str, Any]:
    """The tree measured (its commit) and the machine it runs on, for the results file."""
    memory = _proc_field("/proc/meminfo", "MemTotal:")
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "cpu_model": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "ram_gib": round(int(memory.split()[0]) / 1024 / 1024, 1) if memory else None,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "source": str(_source),
        "git_commit": _git("rev-parse", "HEAD") or None,
        "git_dirty": None if dirty is None else bool(dirty),
    }
