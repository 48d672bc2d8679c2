from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.storage.memory import InMemoryStore
from adapters.storage.sqlite import SqliteStore
from core.ports import Store


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Every backend behind the port; the contract suite runs once per backend."""
    backend: Store
    if request.param == "memory":
        backend = InMemoryStore()
    else:
        backend = await SqliteStore.open(tmp_path / "threads.db")
    try:
        yield backend
    finally:
        await backend.close()
