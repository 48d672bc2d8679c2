"""Keys, principals and isolation, in the core with the in-memory store."""

from __future__ import annotations

import hmac

import pytest

from core.access import AccessRole, Principal, digest
from core.entries import NewMessage
from core.errors import InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from core.model import TextPart
from core.services import Core
from core.threads import NewThread, ThreadUpdate


async def test_key_token_authenticates_to_its_principal(core: Core) -> None:
    key, token = await core.access.create_key(["a", "b"], AccessRole.EDITOR, default_folder="b")
    assert token.startswith(key.id + ".")
    assert key.secret_sha256 == digest(token.split(".", 1)[1])
    assert token.split(".", 1)[1] not in repr(key)  # only the digest is kept
    p = await core.access.authenticate(token)
    assert p == Principal(key.subject_id, AccessRole.EDITOR, frozenset({"a", "b"}), "b", key.id)


@pytest.mark.parametrize("token", [None, ""])
async def test_missing_key_is_unauthenticated_missing(core: Core, token: str | None) -> None:
    with pytest.raises(Unauthenticated) as info:
        await core.access.authenticate(token)
    assert info.value.code == "missing_key"


async def test_wrong_keys_are_unauthenticated(core: Core) -> None:
    key, token = await core.access.create_key(["a"], AccessRole.VIEWER)
    for wrong in (
        token + "x",
        key.id + ".nope",
        "tgk_unknown.secret",
        "sk-abc",
        "tgk_",
        token.replace(".", ""),
    ):
        with pytest.raises(Unauthenticated) as info:
            await core.access.authenticate(wrong)
        assert info.value.code == "invalid_key"


async def test_comparison_is_constant_time_even_for_unknown_keys(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    _, token = await core.access.create_key(["a"], AccessRole.VIEWER)
    await core.access.authenticate(token)
    with pytest.raises(Unauthenticated):
        await core.access.authenticate("tgk_unknown.secret")
    assert len(calls) == 2


async def test_revocation_takes_effect_at_once(core: Core) -> None:
    key, token = await core.access.create_key(["a"], AccessRole.ADMIN)
    await core.access.authenticate(token)
    await core.access.revoke(key.id)
    with pytest.raises(Unauthenticated):
        await core.access.authenticate(token)
    with pytest.raises(NotFound):
        await core.access.revoke("tgk_nope")
    listed = await core.access.list_keys()
    assert [k.id for k in listed] == [key.id] and listed[0].revoked_at is not None


async def test_a_remembered_principal_still_needs_the_right_secret(core: Core) -> None:
    key, token = await core.access.create_key(["a"], AccessRole.EDITOR)
    first = await core.access.authenticate(token)
    assert await core.access.authenticate(token) is first  # made once per unchanged key
    with pytest.raises(Unauthenticated):
        await core.access.authenticate(f"{key.id}.not-the-secret")


async def test_key_needs_a_folder_and_a_valid_default(core: Core) -> None:
    with pytest.raises(InvalidArgument):
        await core.access.create_key([], AccessRole.VIEWER)
    with pytest.raises(InvalidArgument):
        await core.access.create_key(["a"], AccessRole.VIEWER, default_folder="b")


A = Principal("subject-a", AccessRole.EDITOR, frozenset({"fa"}), "fa")
B = Principal("subject-b", AccessRole.EDITOR, frozenset({"fb"}), "fb")
VIEWER_A = Principal("subject-v", AccessRole.VIEWER, frozenset({"fa"}), "fa")


async def test_isolation_between_folders(core: Core) -> None:
    t = await core.threads.create(NewThread(folder_id="fa", name="secret"), A)
    m = await core.messages.create(t.id, NewMessage(content=(TextPart("hi"),)), A)
    calls = [
        core.threads.get(t.id, B),
        core.threads.update(t.id, ThreadUpdate(fields=frozenset({"name"}), name="x"), B),
        core.threads.delete(t.id, B),
        core.messages.create(t.id, NewMessage(content=(TextPart("x"),)), B),
        core.messages.get(t.id, m.id, B),
        core.messages.list(t.id, B),
        core.messages.update_labels(t.id, m.id, {"k": "v"}, B),
        core.messages.delete(t.id, m.id, B),
    ]
    for call in calls:
        with pytest.raises(NotFound):
            await call
    with pytest.raises(PermissionDenied):
        await core.threads.list("fa", B)
    with pytest.raises(PermissionDenied):
        await core.threads.create(NewThread(folder_id="fa"), B)
    # nothing changed
    assert (await core.threads.get(t.id, A)).name == "secret"
    page = await core.messages.list(t.id, A)
    assert [x.id for x in page.messages] == [m.id] and page.messages[0].labels == {}


async def test_viewer_reads_but_cannot_write(core: Core) -> None:
    t = await core.threads.create(NewThread(folder_id="fa"), A)
    m = await core.messages.create(t.id, NewMessage(content=(TextPart("hi"),)), A)
    assert (await core.threads.get(t.id, VIEWER_A)).id == t.id
    assert (await core.messages.get(t.id, m.id, VIEWER_A)).id == m.id
    assert [x.id for x in (await core.threads.list("fa", VIEWER_A)).threads] == [t.id]
    for call in [
        core.threads.create(NewThread(folder_id="fa"), VIEWER_A),
        core.threads.update(t.id, ThreadUpdate(fields=frozenset({"name"}), name="x"), VIEWER_A),
        core.threads.delete(t.id, VIEWER_A),
        core.messages.create(t.id, NewMessage(content=(TextPart("x"),)), VIEWER_A),
        core.messages.update_labels(t.id, m.id, {"k": "v"}, VIEWER_A),
        core.messages.delete(t.id, m.id, VIEWER_A),
    ]:
        with pytest.raises(PermissionDenied):
            await call
    assert len((await core.messages.list(t.id, A)).messages) == 1


async def test_created_by_and_updated_by_are_the_callers(core: Core) -> None:
    t = await core.threads.create(NewThread(folder_id="fa"), A)
    other = Principal("subject-a2", AccessRole.EDITOR, frozenset({"fa"}), "fa")
    u = await core.threads.update(t.id, ThreadUpdate(fields=frozenset({"name"}), name="n"), other)
    assert (u.created_by, u.updated_by) == ("subject-a", "subject-a2")
    m = await core.messages.create(t.id, NewMessage(content=(TextPart("x"),)), other)
    assert m.created_by == "subject-a2"
