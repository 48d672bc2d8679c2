"""API keys, principals and the access rules shared by both protocols.

A key belongs to a subject and grants one role on one or more folders; one of
them is the key's default folder.  The secret is shown once, when the key is
made; only its SHA-256 digest is stored (a 256-bit random secret needs no slow
hash).  Every request looks the key up again, so a revocation takes effect at
once in every server process that shares the store.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from attrs import frozen

from core.clock import Clock, IdSource
from core.errors import InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from core.model import Thread

KEY_PREFIX = "tgk_"
SUBJECT_PREFIX = "sub_"
_PRINCIPALS_KEPT = 4096  # principals remembered per process (made again when a key changes)


class AccessRole(enum.IntEnum):
    """Yandex's ai.assistants roles, in increasing power."""

    VIEWER = 1  # read threads and messages
    EDITOR = 2  # also create, change and delete them
    ADMIN = 3  # same data rights as editor; reserved for managing keys


@frozen
class ApiKey:
    id: str
    subject_id: str
    role: AccessRole
    folders: tuple[str, ...]
    default_folder: str
    secret_sha256: str
    created_at: datetime
    revoked_at: datetime | None = None
    description: str = ""


@frozen
class Principal:
    """Who is calling, and what they may do."""

    subject_id: str
    role: AccessRole
    folders: frozenset[str] | None  # None: every folder (only for anonymous development mode)
    default_folder: str
    key_id: str = ""

    def can_see(self, folder_id: str) -> bool:
        return self.folders is None or folder_id in self.folders

    def require_folder(self, folder_id: str, role: AccessRole) -> None:
        """For requests that name a folder: no role there is PERMISSION_DENIED."""
        if not self.can_see(folder_id):
            raise PermissionDenied("folder_denied", folder=folder_id)
        self.require(role)

    def require(self, role: AccessRole) -> None:
        if self.role < role:
            raise PermissionDenied("role_required", role=role.name.lower())


def visible(thread: Thread | None, thread_id: str, caller: Principal, now: datetime) -> Thread:
    """The thread if it exists, has not expired and the caller may see its folder.

    A thread in a folder the caller cannot see is NOT_FOUND, exactly as if it did
    not exist: its existence is not disclosed.
    """
    if thread is None or thread.is_expired(now) or not caller.can_see(thread.folder_id):
        raise NotFound("thread", thread_id)
    return thread


ANONYMOUS = Principal(subject_id="anonymous", role=AccessRole.ADMIN, folders=None, default_folder="default")


class KeyStore(Protocol):
    async def add_key(self, key: ApiKey) -> None: ...

    async def get_key(self, key_id: str) -> ApiKey | None: ...

    async def list_keys(self) -> list[ApiKey]: ...

    async def revoke_key(self, key_id: str, at: datetime) -> bool:
        """Mark the key revoked; False if there is no such key."""
        ...


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def split_token(token: str) -> tuple[str, str] | None:
    """``tgk_<id>.<secret>`` -> (key id, secret), or None if it has another shape."""
    if not token.startswith(KEY_PREFIX) or "." not in token or "\x00" in token:
        return None
    key_id, _, secret = token.partition(".")
    if not secret or len(token) > 200:
        return None
    return key_id, secret


class AccessService:
    def __init__(self, keys: KeyStore, clock: Clock, ids: IdSource) -> None:
        self._keys = keys
        self._clock = clock
        self._ids = ids
        self._principals: dict[str, tuple[ApiKey, Principal]] = {}

    async def create_key(
        self,
        folders: Sequence[str],
        role: AccessRole,
        *,
        subject_id: str = "",
        default_folder: str = "",
        description: str = "",
    ) -> tuple[ApiKey, str]:
        """Make a key; returns it and the token, which is never shown again."""
        folders = tuple(dict.fromkeys(f for f in folders if f))
        if not folders:
            raise InvalidArgument("folders", "missing_required_parameter")
        default = default_folder or folders[0]
        if default not in folders:
            raise InvalidArgument("default_folder", "invalid_value", value=default, allowed=folders)
        key_id = self._ids.new_id(KEY_PREFIX)
        secret = secrets.token_urlsafe(32)
        key = ApiKey(
            id=key_id,
            subject_id=subject_id or self._ids.new_id(SUBJECT_PREFIX),
            role=role,
            folders=folders,
            default_folder=default,
            secret_sha256=digest(secret),
            created_at=self._clock.now(),
            description=description,
        )
        await self._keys.add_key(key)
        return key, f"{key_id}.{secret}"

    async def authenticate(self, token: str | None) -> Principal:
        if not token:
            raise Unauthenticated("missing_key")
        parts = split_token(token)
        key = await self._keys.get_key(parts[0]) if parts else None
        # compare even when the key is unknown, so timing tells nothing
        expected = key.secret_sha256 if key else digest("-")
        matches = hmac.compare_digest(expected, digest(parts[1] if parts else token))
        if key is None or not matches or key.revoked_at is not None:
            raise Unauthenticated("invalid_key")
        # The key was read again just now, so a revocation still counts at once; only
        # the Principal made from an unchanged key is reused.
        known = self._principals.get(key.id)
        if known is not None and known[0] == key:
            return known[1]
        principal = Principal(
            subject_id=key.subject_id,
            role=key.role,
            folders=frozenset(key.folders),
            default_folder=key.default_folder,
            key_id=key.id,
        )
        if len(self._principals) >= _PRINCIPALS_KEPT:
            self._principals.clear()
        self._principals[key.id] = (key, principal)
        return principal

    async def authenticate_header(
        self, header: str | None, schemes: frozenset[str], *, allow_anonymous: bool = False
    ) -> Principal:
        """The caller named by an ``Authorization`` header value (``<scheme> <key>``).

        ``schemes`` are the lower-case schemes a face accepts (``bearer``; the Yandex
        faces also ``api-key``).  No header at all is anonymous access where that is
        switched on (development only), and ``missing_key`` otherwise.
        """
        if header is None:
            if allow_anonymous:
                return ANONYMOUS
            raise Unauthenticated("missing_key")
        scheme, _, value = header.partition(" ")
        if scheme.lower() not in schemes or not value.strip():
            raise Unauthenticated("invalid_key")
        return await self.authenticate(value.strip())

    async def list_keys(self) -> list[ApiKey]:
        return await self._keys.list_keys()

    async def revoke(self, key_id: str) -> None:
        if not await self._keys.revoke_key(key_id, self._clock.now()):
            raise NotFound("key", key_id)
