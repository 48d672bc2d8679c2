"""The core as one object: both adapters receive the same instance."""

from __future__ import annotations

from attrs import frozen

from core.access import AccessService
from core.clock import Clock, IdSource
from core.messages import DEFAULT_MAX_MESSAGES_PER_THREAD, MessageService
from core.ports import Store
from core.threads import ExpirationSettings, ThreadService


@frozen
class CoreSettings:
    expiration: ExpirationSettings = ExpirationSettings()
    max_messages_per_thread: int = DEFAULT_MAX_MESSAGES_PER_THREAD


class Core:
    def __init__(
        self, store: Store, clock: Clock, ids: IdSource, settings: CoreSettings = CoreSettings()
    ) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings
        self.threads = ThreadService(store, clock, ids, settings.expiration)
        self.messages = MessageService(
            store,
            clock,
            ids,
            settings.max_messages_per_thread,
            settings.expiration.idempotency_window,
        )
        self.access = AccessService(store, clock, ids)
