"""``threadgate`` with one deliberately broken mapping, for tests/e2e/test_parity.py: the
Assistants face renders a thread's ``metadata`` without its last pair (a converter bug
of the kind parity must catch).  Run as ``python -m tests.e2e.broken_mapping serve …``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import adapters.openai.threads
from adapters.cli import main
from core.model import Thread

_right: Callable[[Thread], dict[str, Any]] = getattr(adapters.openai.threads, "thread_json")  # noqa: B009


def thread_json_dropping_the_last_label(thread: Thread) -> dict[str, Any]:
    shown = _right(thread)
    shown["metadata"] = dict(list(shown["metadata"].items())[:-1])
    return shown


setattr(adapters.openai.threads, "thread_json", thread_json_dropping_the_last_label)  # noqa: B010

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
