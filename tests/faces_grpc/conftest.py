"""The in-process gRPC tier: run as `pytest tests/faces_grpc`, in a process of its own
(tests/conftest.py says why and fails a run that mixes our stubs with yandexcloud's)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.faces_grpc.harness import Face, start_face


@pytest.fixture
async def face() -> AsyncIterator[Face]:
    started = await start_face()
    try:
        yield started
    finally:
        await started.close()
