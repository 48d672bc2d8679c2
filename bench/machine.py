"""What the numbers were measured on."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import source


def _proc_field(path: str, name: str) -> str | None:
    """The value of the first ``name: value`` line of a /proc file."""
    for line in Path(path).read_text().splitlines():
        if line.startswith(name):
            return line.split(":", 1)[1].strip()
    return None


def _git(*args: str) -> str | None:
    try:
        run = subprocess.run(["git", *args], cwd=source.tree(), capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return run.stdout.strip() if run.returncode == 0 else None


def describe() -> dict[str, Any]:
    memory = _proc_field("/proc/meminfo", "MemTotal:")
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "cpu_model": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "ram_gib": round(int(memory.split()[0]) / 1024 / 1024, 1) if memory else None,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "source": str(source.tree()),
        "git_commit": _git("rev-parse", "HEAD") or None,
        "git_dirty": None if dirty is None else bool(dirty),
    }
