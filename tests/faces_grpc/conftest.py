"""The in-process Yandex tier, the gRPC face and the REST face over the same protos: run
as `pytest tests/faces_grpc`, in a process of its own (tests/conftest.py says why and
fails a run that mixes our stubs with yandexcloud's)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.faces_grpc.harness import Face, start_face
from tests.faces_grpc.rest_harness import RestFace, start_rest


@pytest.fixture
async def face() -> AsyncIterator[Face]:
    started = await start_face()
    try:
        yield started
    finally:
        await started.close()


@pytest.fixture
async def rest() -> AsyncIterator[RestFace]:
    """The Yandex REST face on the HTTP host's app, in process."""
    started = await start_rest()
    try:
        yield started
    finally:
        await started.close()
