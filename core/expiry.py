"""Removing expired threads for good.

An expired thread is gone for clients the moment ``now >= expires_at`` (the
services check that on every read and write).  The sweeper only reclaims the
space: it deletes expired threads and their messages in bounded batches, one
short transaction each, yielding to requests in between.  Several processes may
sweep one database at once; each batch re-checks expiry inside its transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import timedelta

from attrs import define, frozen

from core.clock import Clock
from core.errors import Unavailable
from core.ports import SweepResult, ThreadStore

log = logging.getLogger("threadgate.sweeper")


@frozen
class SweepSettings:
    interval_seconds: float = 60.0
    # rows (messages + threads) one transaction may delete
    batch_rows: int = 500
    # after each batch the sweeper rests as long as the batch took (capped), so it uses
    # at most about half of the store's time while requests are waiting
    max_rest_seconds: float = 0.05


@define
class SweepTotals:
    threads: int = 0
    messages: int = 0
    batches: int = 0


class ExpirySweeper:
    def __init__(
        self,
        store: ThreadStore,
        clock: Clock,
        settings: SweepSettings = SweepSettings(),
        idempotency_window: timedelta = timedelta(hours=24),
    ) -> None:
        """``idempotency_window``: idempotency records older than this are dropped."""
        self._idempotency_window = idempotency_window
        self._store = store
        self._clock = clock
        self._settings = settings
        self.totals = SweepTotals()

    async def sweep(self) -> SweepResult:
        """Delete everything expired now, batch by batch; returns what one pass removed."""
        now = self._clock.now()
        threads = messages = 0
        while True:
            started = time.perf_counter()
            batch = await self._store.delete_expired(now, max_rows=self._settings.batch_rows)
            took = time.perf_counter() - started
            threads += batch.threads
            messages += batch.messages
            self.totals.threads += batch.threads
            self.totals.messages += batch.messages
            self.totals.batches += 1
            if not batch.more:
                await self._store.forget_idempotency(now - self._idempotency_window)
                return SweepResult(threads=threads, messages=messages, more=False)
            # let requests in between batches: rest as long as the batch took
            await asyncio.sleep(min(took, self._settings.max_rest_seconds))

    async def run(self, stop: asyncio.Event) -> None:
        """Sweep at once, then every ``interval_seconds``, until ``stop`` is set.

        An interval of 0 turns the sweeper off (expired threads stay invisible,
        their rows stay in the store).
        """
        if self._settings.interval_seconds <= 0:
            log.warning("the expiry sweeper is off: expired threads are hidden but never deleted")
            return
        while not stop.is_set():
            try:
                result = await self.sweep()
                if result.threads:
                    log.info("swept %d expired threads and %d messages", result.threads, result.messages)
            except Unavailable as exc:
                # the store's own log has the outage; no traceback per interval here
                log.warning("sweep skipped, the store is unavailable: %s; will retry", exc.detail)
            except Exception:
                log.exception("sweep failed; will retry")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._settings.interval_seconds)
