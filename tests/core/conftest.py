from __future__ import annotations

import pytest

from adapters.storage.memory import InMemoryThreadStore
from core.clock import ManualClock, SequentialIds
from core.model import Caller
from core.services import Core, CoreSettings
from tests.factories import T0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def core(clock: ManualClock) -> Core:
    return Core(InMemoryThreadStore(), clock, SequentialIds(), CoreSettings(max_messages_per_thread=50))


@pytest.fixture
def alice() -> Caller:
    return Caller("subject-alice")
