from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.storage.memory import InMemoryThreadStore
from adapters.storage.sqlite import SqliteThreadStore
from core.ports import ThreadStore


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ThreadStore]:
    """Every backend behind the port; the contract suite runs once per backend."""
    backend: ThreadStore
    if request.param == "memory":
        backend = InMemoryThreadStore()
    else:
        backend = await SqliteThreadStore.open(tmp_path / "threads.db")
    try:
        yield backend
    finally:
        await backend.close()
