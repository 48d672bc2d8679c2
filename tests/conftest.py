from __future__ import annotations

import os
import sys

import pytest
from hypothesis import settings

# CI runs the suite once per submission: there, every property test draws the same
# examples each run (a failure is a real one, and reproducible); locally they explore.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The real-client tests must drive the real client's stubs, never ours."""
    ours = any(m.startswith("adapters.yandex._gen") for m in sys.modules)
    theirs = any(m.startswith("yandex.cloud.ai.assistants") for m in sys.modules)
    if ours and theirs:
        print("\nERROR: our generated gRPC modules and yandexcloud's were imported into one process")
        session.exitstatus = 1
