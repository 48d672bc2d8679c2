from __future__ import annotations

import pytest

from adapters.storage.memory import InMemoryStore
from core.access import AccessRole, Principal
from core.services import Core, CoreSettings
from tests.doubles import ManualClock, SequentialIds
from tests.factories import T0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def core(clock: ManualClock) -> Core:
    return Core(InMemoryStore(), clock, SequentialIds(), CoreSettings(max_messages_per_thread=50))


@pytest.fixture
def alice() -> Principal:
    return Principal("subject-alice", AccessRole.EDITOR, frozenset({"f", "other"}), "f")
