from __future__ import annotations

import sys

import pytest


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The real-client tests must drive the real client's stubs, never ours."""
    ours = any(m.startswith("adapters.grpc._gen") for m in sys.modules)
    theirs = any(m.startswith("yandex.cloud.ai.assistants") for m in sys.modules)
    if ours and theirs:
        print("\nERROR: our generated gRPC modules and yandexcloud's were imported into one process")
        session.exitstatus = 1
