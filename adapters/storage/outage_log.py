"""Log a store outage in a few lines, not one traceback per failed request.

During an outage every request fails the same way; logging each (thousands in a few
seconds) buries everything else.  So: the first failure of an outage is logged with
its traceback, then at most one summary line per ``interval`` with the count and the
last error, and one line when the store answers a health probe (``ping``) again.  A
new outage within ``interval`` of the last traceback gets a line without one, so a
store that flaps cannot flood the log either.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from core.errors import Unavailable

log = logging.getLogger("threadgate.store")


class OutageLog:
    def __init__(
        self,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = log,
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._log = logger
        self._down_since: float | None = None
        self._unreported = 0  # failures since the last line
        self._last_line = 0.0
        self._last_traceback = -math.inf

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def failed(self, operation: str, exc: Unavailable) -> None:
        now = self._clock()
        if self._down_since is None:
            self._down_since = self._last_line = now
            self._unreported = 0
            if now - self._last_traceback >= self._interval:
                self._last_traceback = now
                self._log.error("store unavailable (%s): %s", operation, exc.detail, exc_info=exc)
            else:
                self._log.error("store unavailable again (%s): %s", operation, exc.detail)
            return
        self._unreported += 1
        if now - self._last_line >= self._interval:
            self._log.warning(
                "store unavailable: %d more failures in the last %.0f s: %s",
                self._unreported,
                now - self._last_line,
                exc.detail,
            )
            self._unreported = 0
            self._last_line = now

    def available(self) -> None:
        """The store answered a health probe: the outage, if any, is over."""
        if self._down_since is None:
            return
        now = self._clock()
        self._log.warning(
            "store available again after %.1f s (%d failures since the last line)",
            now - self._down_since,
            self._unreported,
        )
        self._down_since = None
        self._unreported = 0
