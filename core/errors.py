"""Protocol-neutral errors raised by the core: data, not words.

Each error carries a machine code and the parameters a message needs (a field path
in the core's vocabulary, a limit, the value that broke it).  Every face writes
its own words from them, with its own field names: OpenAI's wording over the
OpenAI faces, Yandex's over the Yandex faces.  Nothing here knows about HTTP
statuses, gRPC codes or how a message is phrased.

Codes of ``InvalidArgument`` (and their parameters):

- ``missing_required_parameter``
- ``string_above_max_length``: ``maximum``, ``length``
- ``property_name_above_max_length``: ``key``, ``maximum``, ``length`` (a label key)
- ``object_above_max_properties``: ``maximum``, ``count``
- ``array_above_max_length``: ``maximum``, ``length``
- ``empty_array``
- ``integer_below_min_value`` / ``integer_above_max_value``: ``minimum`` / ``maximum``, ``value``
- ``ttl_out_of_range``: ``maximum``, ``value``
- ``content_too_large`` / ``tools_too_large``: ``maximum``, ``size`` (bytes)
- ``nul_character``: the value holds U+0000 (``key`` for a label key)
- ``invalid_value``: ``value``, ``allowed`` (a tuple of accepted values) when known
- ``invalid_field_mask``: ``path``, ``allowed``
- ``invalid_page_token``, ``invalid_cursor`` (an ``after``/``before`` id of no message of
  the thread), ``not_an_id``, ``undecodable_request``, ``tool_kind_missing``,
  ``tool_not_json``
- ``idempotency_key_reused``, ``invalid_idempotency_key``
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class DomainError(Exception):
    """Base class of every error the core raises on purpose."""

    def __init__(self, code: str, params: Mapping[str, Any] | None = None) -> None:
        self.code = code
        self.params: Mapping[str, Any] = dict(params or {})
        super().__init__(code)

    def __str__(self) -> str:
        """A plain description for logs and the command line (faces write their own)."""
        details = ", ".join(f"{k}={shorten(str(v))}" for k, v in self.params.items())
        return f"{self.code} ({details})" if details else self.code


def shorten(text: str, limit: int = 128) -> str:
    """Echo a client's value in a message without echoing a megabyte of it."""
    if len(text) <= limit:
        return text
    keep = max(limit - 24, 1)
    return f"{text[:keep]}…({len(text)} characters)"


class NotFound(DomainError):
    """The resource does not exist, has expired, or the caller may not see it."""

    def __init__(self, resource: str, resource_id: str) -> None:
        super().__init__("not_found", {"resource": resource, "id": resource_id})
        self.resource = resource
        self.resource_id = resource_id


class InvalidArgument(DomainError):
    """A request field holds a value the rules do not accept.

    ``field`` is a dotted path in the core's vocabulary (``labels``,
    ``expiration_config.ttl_days``, ``messages[3].content[0]``); faces translate it
    to their own names.  ``code`` and ``params`` say what is wrong (module docstring).
    """

    def __init__(self, field: str, code: str, **params: Any) -> None:
        super().__init__(code, params)
        self.field = field


class PermissionDenied(DomainError):
    """The caller is known but may not do this: ``folder_denied`` (``folder``) or
    ``role_required`` (``role``, the role's name)."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code, params)


class Unauthenticated(DomainError):
    """No credentials (``missing_key``), or ones that are not valid (``invalid_key``)."""

    def __init__(self, code: str = "invalid_key") -> None:
        super().__init__(code)


class FailedPrecondition(DomainError):
    """The request is well formed but the resource is not in a state that allows it."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code, params)


class ResourceExhausted(DomainError):
    """A hard limit was reached: ``limit_name`` (e.g. ``messages_per_thread``), ``limit``."""

    def __init__(self, limit_name: str, limit: int) -> None:
        super().__init__(limit_name, {"limit": limit})
        self.limit_name = limit_name
        self.limit = limit


class Unavailable(DomainError):
    """The store cannot answer now (unreachable, frozen, out of space, read-only, or
    locked past the wait); a later attempt may succeed.

    ``retry_safe`` is decided by the store: True when repeating the request cannot
    store anything twice (it only read; it failed before anything was sent to be
    committed; or it carried an idempotency key, so a repeat returns the first
    result), False when a write failed while committing and may have been stored.
    ``code`` (the ``reason`` given) is ``store_unavailable``; the ``outcome`` parameter tells the
    faces what to say: ``nothing_changed``, ``outcome_unknown`` or ``retry_with_same_key``.
    ``detail`` is the driver's own account, for the server's log only.
    """

    def __init__(
        self, detail: str, *, retry_safe: bool, reason: str = "store_unavailable", outcome: str = ""
    ) -> None:
        outcome = outcome or ("nothing_changed" if retry_safe else "outcome_unknown")
        super().__init__(reason, {"outcome": outcome})
        self.detail = detail
        self.retry_safe = retry_safe
        self.outcome = outcome

    def deduplicated(self) -> Unavailable:
        """The same failure for a request that carried an idempotency key: a repeat
        returns what the first attempt stored, if it did, so it is safe."""
        if self.retry_safe:
            return self
        safe = Unavailable(self.detail, retry_safe=True, reason=self.code, outcome="retry_with_same_key")
        safe.__cause__ = self.__cause__
        return safe
