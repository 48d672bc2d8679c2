"""Protocol-neutral errors raised by the core.

Each adapter owns one table that renders these in its protocol's own terms
(OpenAI JSON error bodies over REST, gRPC status codes with google.rpc details).
Nothing here knows about HTTP statuses or gRPC codes.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base class of every error the core raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def shorten(text: str, limit: int = 128) -> str:
    """Echo a client's value in a message without echoing a megabyte of it."""
    return text if len(text) <= limit else f"{text[: limit // 2]}…({len(text)} characters)"


class NotFound(DomainError):
    """The resource does not exist, has expired, or the caller may not see it."""

    def __init__(self, resource: str, resource_id: str) -> None:
        super().__init__(f"No {resource} found with id '{shorten(resource_id)}'.")
        self.resource = resource
        self.resource_id = resource_id


class InvalidArgument(DomainError):
    """A request field holds a value the rules do not accept.

    ``field`` is a dotted path in the core's vocabulary (``labels``,
    ``expiration_config.ttl_days``, ``messages[3].content``); adapters translate it
    to their own names.  ``code`` is a short machine-readable reason.
    """

    def __init__(self, field: str, message: str, code: str = "invalid_value") -> None:
        super().__init__(message)
        self.field = field
        self.code = code


class PermissionDenied(DomainError):
    """The caller is known but lacks the role for this operation."""


class Unauthenticated(DomainError):
    """The caller presented no credentials (``missing``), or ones that are not valid."""

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


class FailedPrecondition(DomainError):
    """The request is well formed but the resource is not in a state that allows it."""


class ResourceExhausted(DomainError):
    """A quota or hard limit was reached (for example messages per thread)."""

    def __init__(self, message: str, limit_name: str) -> None:
        super().__init__(message)
        self.limit_name = limit_name


class Unavailable(DomainError):
    """The store cannot answer now (unreachable, frozen, out of space, read-only, or
    locked past the wait); a later attempt may succeed.

    ``retry_safe`` is decided by the store: True when repeating the request cannot
    store anything twice (it only read; it failed before anything was sent to be
    committed; or it carried an idempotency key, so a repeat returns the first
    result), False when a write failed while committing and may have been stored.
    ``reason`` is a short machine-readable code; ``detail`` is the driver's own
    account, for the server's log only.
    """

    def __init__(
        self, detail: str, *, retry_safe: bool, reason: str = "store_unavailable", message: str = ""
    ) -> None:
        super().__init__(message or (_NOTHING_CHANGED if retry_safe else _OUTCOME_UNKNOWN))
        self.detail = detail
        self.retry_safe = retry_safe
        self.reason = reason

    def deduplicated(self) -> Unavailable:
        """The same failure for a request that carried an idempotency key: a repeat
        returns what the first attempt stored, if it did, so it is safe."""
        if self.retry_safe:
            return self
        safe = Unavailable(self.detail, retry_safe=True, reason=self.reason, message=_SAME_KEY)
        safe.__cause__ = self.__cause__
        return safe


_NOTHING_CHANGED = "The thread store is unavailable right now and nothing was changed; please retry."
_OUTCOME_UNKNOWN = (
    "The thread store failed while committing this request, so it may or may not have been "
    "stored. Check before sending it again, or send it with an idempotency key."
)
_SAME_KEY = (
    "The thread store failed while committing this request; retry it with the same idempotency "
    "key: if it was stored, the retry returns it."
)
