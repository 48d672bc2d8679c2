"""What a long import or export shows on stderr: a tqdm bar when stderr is a
terminal (records, rate, ETA), a plain line every few seconds when it is not (a log
file or a CI job keeps a readable trace), nothing with ``--quiet``."""

from __future__ import annotations

import sys
import time
from typing import Protocol, TextIO

# seconds between two plain progress lines
LINE_EVERY = 10.0


class Progress(Protocol):
    def update(self, done: int, records: int) -> None:
        """``done`` units of the total so far (bytes read, records written), ``records`` records."""
        ...

    def close(self) -> None: ...


class Silent:
    def update(self, done: int, records: int) -> None:
        pass

    def close(self) -> None:
        pass


class Lines:
    """A line every ``LINE_EVERY`` seconds, and one at the end."""

    def __init__(self, what: str, total: int | None, unit: str, out: TextIO) -> None:
        self._what, self._total, self._unit, self._out = what, total, unit, out
        self._start = self._last = time.monotonic()
        self._done = self._records = 0

    def update(self, done: int, records: int) -> None:
        self._done, self._records = done, records
        now = time.monotonic()
        if now - self._last >= LINE_EVERY:
            self._last = now
            self._print(now)

    def _print(self, now: float) -> None:
        elapsed = max(now - self._start, 1e-9)
        line = f"threadgate: {self._what}: {self._records:,} records, {self._records / elapsed:,.0f}/s"
        if self._total:
            share = min(self._done / self._total, 1.0)
            line += f", {share:.0%} of {self._total:,} {self._unit}"
            if 0 < share < 1:
                line += f", about {elapsed * (1 - share) / share:,.0f} s to go"
        print(line, file=self._out, flush=True)

    def close(self) -> None:
        self._print(time.monotonic())


class Bar:
    def __init__(self, what: str, total: int | None, unit: str, out: TextIO) -> None:
        from tqdm import tqdm

        scale = unit == "bytes"
        self._bar = tqdm(
            total=total, desc=what, unit="B" if scale else " records", unit_scale=scale, file=out, leave=True
        )
        self._scale = scale
        self._records = 0

    def update(self, done: int, records: int) -> None:
        self._records = records
        if self._scale:  # the records ride beside the bytes
            self._bar.set_postfix_str(f"{records:,} records", refresh=False)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._scale:
            self._bar.set_postfix_str(f"{self._records:,} records", refresh=False)
        self._bar.close()


def progress(what: str, total: int | None, unit: str, *, quiet: bool, out: TextIO | None = None) -> Progress:
    """``unit``: what ``total`` and ``done`` count, ``bytes`` or ``records``."""
    stream = out or sys.stderr
    if quiet:
        return Silent()
    if stream.isatty():
        return Bar(what, total, unit, stream)
    return Lines(what, total, unit, stream)
