"""The core as one object: both adapters receive the same instance."""

from __future__ import annotations

from datetime import timedelta

from attrs import frozen

from core.access import AccessService
from core.clock import Clock, IdSource
from core.expiry import ExpirySweeper, SweepSettings
from core.messages import DEFAULT_MAX_MESSAGES_PER_THREAD, MessageService
from core.ports import Store
from core.threads import ExpirationSettings, ThreadService


@frozen
class CoreSettings:
    expiration: ExpirationSettings = ExpirationSettings()
    max_messages_per_thread: int = DEFAULT_MAX_MESSAGES_PER_THREAD
    # how long a retried create with the same idempotency key returns the first result
    idempotency_window: timedelta = timedelta(hours=24)


class Core:
    def __init__(
        self, store: Store, clock: Clock, ids: IdSource, settings: CoreSettings = CoreSettings()
    ) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings
        self.messages = MessageService(
            store,
            clock,
            ids,
            settings.max_messages_per_thread,
            settings.idempotency_window,
        )
        self.threads = ThreadService(
            store, clock, ids, self.messages, settings.expiration, settings.idempotency_window
        )
        self.access = AccessService(store, clock, ids)

    def sweeper(self, settings: SweepSettings) -> ExpirySweeper:
        """The expiry sweeper for this core's store, clock and idempotency window."""
        return ExpirySweeper(self.store, self.clock, settings, self.settings.idempotency_window)
