"""The documented losses between faces: the one table ``threadgate parity`` classifies
differences by, also shown in docs/mapping.md ("What parity expects each face to lose";
a test keeps the two the same: ``python -m adapters.parity.losses`` prints the section).

A row says which face cannot read (or write) which field of which object, what parity
expects instead, and why.  Anything a face reports differently and no row explains is an
unexpected difference.
"""

from __future__ import annotations

from typing import Literal

from attrs import frozen

ASSISTANTS = "assistants"
CONVERSATIONS = "conversations"
YANDEX_GRPC = "yandex-grpc"
YANDEX_REST = "yandex-rest"
FACES = (ASSISTANTS, CONVERSATIONS, YANDEX_GRPC, YANDEX_REST)

# what a face shows instead of the value
#   absent:  reading, the face has no such field
#   seconds: reading, the face shows the time truncated to whole seconds
#   default: writing, the face cannot send the field: a create leaves the server's default
#            (`""`, `{}`), an update leaves the stored value unchanged
Shows = Literal["absent", "seconds", "default"]


@frozen
class Loss:
    face: str
    direction: Literal["read", "write"]
    kind: Literal["thread", "message"]
    field: str
    shows: Shows
    why: str

    @property
    def subject(self) -> str:
        return f"{self.kind}.{self.field}"


LOSSES = (
    Loss(ASSISTANTS, "read", "thread", "name", "absent", "OpenAI's thread object has no name"),
    Loss(CONVERSATIONS, "read", "thread", "name", "absent", "OpenAI's conversation object has no name"),
    Loss(ASSISTANTS, "read", "thread", "description", "absent", "OpenAI's thread object has no description"),
    Loss(
        CONVERSATIONS,
        "read",
        "thread",
        "description",
        "absent",
        "OpenAI's conversation object has no description",
    ),
    Loss(ASSISTANTS, "read", "thread", "created_at", "seconds", "`created_at` is unix seconds; stored in µs"),
    Loss(
        CONVERSATIONS, "read", "thread", "created_at", "seconds", "`created_at` is unix seconds; stored in µs"
    ),
    Loss(
        ASSISTANTS,
        "read",
        "thread",
        "expires_at",
        "absent",
        "OpenAI's thread object has no expiry (kept as OpenAI's)",
    ),
    Loss(
        CONVERSATIONS,
        "read",
        "thread",
        "expires_at",
        "absent",
        "OpenAI's conversations do not expire; the object has no such field",
    ),
    Loss(
        ASSISTANTS, "read", "message", "created_at", "seconds", "`created_at` is unix seconds; stored in µs"
    ),
    Loss(CONVERSATIONS, "read", "message", "created_at", "absent", "items have no time"),
    Loss(CONVERSATIONS, "read", "message", "labels", "absent", "items have no metadata"),
    Loss(
        ASSISTANTS, "write", "thread", "name", "default", "`POST /v1/threads` has no name; REST never sets it"
    ),
    Loss(
        CONVERSATIONS,
        "write",
        "thread",
        "name",
        "default",
        "`POST /v1/conversations` has no name; REST never sets it",
    ),
    Loss(ASSISTANTS, "write", "thread", "description", "default", "the thread object has no description"),
    Loss(
        CONVERSATIONS,
        "write",
        "thread",
        "description",
        "default",
        "the conversation object has no description",
    ),
    Loss(
        CONVERSATIONS,
        "write",
        "message",
        "labels",
        "default",
        "items have no metadata: a Conversations write gives `{}`",
    ),
)

_BY_KEY: dict[tuple[str, str, str, str], Loss] = {
    (loss.face, loss.direction, loss.kind, loss.field): loss for loss in LOSSES
}


def read_loss(face: str, kind: str, field: str) -> Loss | None:
    """How ``face`` cannot show ``kind.field``, if it cannot."""
    return _BY_KEY.get((face, "read", kind, field))


def write_loss(face: str, kind: str, field: str) -> Loss | None:
    """How ``face`` cannot write ``kind.field``, if it cannot."""
    return _BY_KEY.get((face, "write", kind, field))


WHAT_IT_SHOWS = {
    "absent": "not shown",
    "seconds": "whole seconds",
    "default": 'not written: `""`/`{}` on create, unchanged on update',
}


def markdown_table() -> str:
    """The rows as the Markdown table docs/mapping.md shows."""
    lines = ["| face | reads or writes | field | parity expects | why |", "|---|---|---|---|---|"]
    for loss in LOSSES:
        shows = WHAT_IT_SHOWS[loss.shows]
        lines.append(f"| {loss.face} | {loss.direction}s | `{loss.subject}` | {shows} | {loss.why} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(markdown_table())
