"""What every face's client driver does, in the neutral vocabulary, and what it reads back.

A driver performs the scenario's operations over its face's wire and reads a thread back
as neutral observations: ``{field: value}`` for the thread, and one such mapping per
message, oldest first.  A field the face cannot show is left out (the loss table says
which may be); timestamps are RFC 3339 UTC strings with the precision the face gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from attrs import field, frozen

from adapters.parity.scenario import NeutralMessage

# neutral values: strings, label maps, lists of strings
Value = str | int | bool | dict[str, str] | list[str]


class FaceError(Exception):
    """A call the face refused or failed: reported as an unexpected difference."""


class Unreachable(Exception):
    """The server cannot be reached or refuses the key: no comparison is possible."""


@frozen
class ThreadView:
    fields: dict[str, Value]
    messages: tuple[dict[str, Value], ...] = field(default=())


@frozen
class ThreadChange:
    name: str | None = None
    description: str | None = None
    labels: dict[str, str] | None = None


@frozen
class NewThreadIntent:
    name: str
    description: str
    labels: dict[str, str]
    messages: tuple[NeutralMessage, ...]


class Face(Protocol):
    name: str

    def create(self, thread: NewThreadIntent) -> str:
        """Make the thread with its messages; its server id."""

    def append(self, thread_id: str, messages: Sequence[NeutralMessage]) -> None: ...

    def update(self, thread_id: str, change: ThreadChange) -> None:
        """Change what this face can of ``change``; the loss table lists what it cannot."""

    def delete(self, thread_id: str) -> None: ...

    def read(self, thread_id: str) -> ThreadView | None:
        """The thread and all its messages, oldest first; None when it is not found."""

    def newest_first(self, thread_id: str) -> list[str]:
        """The message ids as the face lists them newest first."""

    def close(self) -> None: ...


def seconds_time(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micros_time(seconds: int, micros: int) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{micros:06d}Z"


def rfc3339_time(text: str) -> str:
    """An RFC 3339 UTC time (0 to 9 fractional digits) with six of them."""
    if not text.endswith("Z"):
        raise FaceError(f"not an RFC 3339 UTC time: {text!r}")
    whole, _, fraction = text[:-1].partition(".")
    moment = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return micros_time(int(moment.timestamp()), int((fraction + "000000")[:6]))


def truncated_to_seconds(time: str) -> str:
    return time.partition(".")[0].removesuffix("Z") + "Z"
