from __future__ import annotations

from datetime import timedelta

import pytest

from core.access import AccessRole, Principal
from core.errors import InvalidArgument, NotFound
from core.model import ExpirationConfig, ExpirationPolicy
from core.services import Core
from core.threads import ExpirationInput, NewThread, ThreadUpdate, decode_page_token
from tests.doubles import ManualClock
from tests.factories import T0


async def test_create_fills_server_defaults(core: Core, alice: Principal) -> None:
    t = await core.threads.create(NewThread(folder_id="f"), alice)
    assert t.expiration == ExpirationConfig(ExpirationPolicy.SINCE_LAST_ACTIVE, 7)
    assert t.expires_at == T0 + timedelta(days=7)
    assert t.created_at == t.updated_at == T0
    assert t.created_by == t.updated_by == "subject-alice"
    assert t.default_message_author_id.startswith("user_")
    assert t.id.startswith("thread_")


async def test_create_keeps_given_author_and_expiration(core: Core, alice: Principal) -> None:
    t = await core.threads.create(
        NewThread(
            folder_id="f",
            default_message_author_id="me",
            expiration=ExpirationInput(ExpirationPolicy.STATIC, 5),
        ),
        alice,
    )
    assert t.default_message_author_id == "me"
    assert t.expiration == ExpirationConfig(ExpirationPolicy.STATIC, 5)
    assert t.expires_at == T0 + timedelta(days=5)


@pytest.mark.parametrize("ttl", [-1, 366, 10**9])
async def test_ttl_out_of_range_is_invalid(core: Core, alice: Principal, ttl: int) -> None:
    with pytest.raises(InvalidArgument) as info:
        await core.threads.create(NewThread(folder_id="f", expiration=ExpirationInput(None, ttl)), alice)
    assert info.value.field == "expiration_config.ttl_days"


async def test_missing_folder_is_invalid(core: Core, alice: Principal) -> None:
    with pytest.raises(InvalidArgument) as info:
        await core.threads.create(NewThread(folder_id=""), alice)
    assert info.value.field == "folder_id"


async def test_labels_follow_openai_metadata_limits(core: Core, alice: Principal) -> None:
    with pytest.raises(InvalidArgument) as info:
        await core.threads.create(NewThread(folder_id="f", labels={str(i): "v" for i in range(17)}), alice)
    assert info.value.code == "object_above_max_properties"
    with pytest.raises(InvalidArgument) as info:
        await core.threads.create(NewThread(folder_id="f", labels={"k": "v" * 513}), alice)
    assert info.value.field == "labels.k"
    with pytest.raises(InvalidArgument):
        await core.threads.create(NewThread(folder_id="f", labels={"k" * 65: "v"}), alice)
    t = await core.threads.create(NewThread(folder_id="f", labels={"k" * 64: "v" * 512}), alice)
    assert len(t.labels) == 1


async def test_update_changes_only_named_fields(core: Core, alice: Principal, clock: ManualClock) -> None:
    t = await core.threads.create(
        NewThread(folder_id="f", name="a", description="d", labels={"x": "1"}), alice
    )
    clock.advance(timedelta(hours=1))
    bob = Principal("subject-bob", AccessRole.EDITOR, frozenset({"f"}), "f")
    u = await core.threads.update(
        t.id, ThreadUpdate(fields=frozenset({"name"}), name="b", description="ignored"), bob
    )
    assert (u.name, u.description, u.labels) == ("b", "d", {"x": "1"})
    assert u.updated_by == "subject-bob" and u.updated_at == T0 + timedelta(hours=1)
    assert u.created_by == "subject-alice"
    # a metadata update is not activity: expires_at does not move
    assert u.expires_at == t.expires_at


async def test_update_labels_replaces_whole_map(core: Core, alice: Principal) -> None:
    t = await core.threads.create(NewThread(folder_id="f", labels={"x": "1", "y": "2"}), alice)
    u = await core.threads.update(t.id, ThreadUpdate(fields=frozenset({"labels"}), labels={"z": "3"}), alice)
    assert u.labels == {"z": "3"}


async def test_update_ttl_recomputes_from_created_at(
    core: Core, alice: Principal, clock: ManualClock
) -> None:
    t = await core.threads.create(NewThread(folder_id="f"), alice)
    clock.advance(timedelta(days=1))
    u = await core.threads.update(
        t.id,
        ThreadUpdate(
            fields=frozenset({"expiration_config.ttl_days"}), expiration=ExpirationInput(ttl_days=3)
        ),
        alice,
    )
    assert u.expiration == ExpirationConfig(ExpirationPolicy.SINCE_LAST_ACTIVE, 3)
    assert u.expires_at == T0 + timedelta(days=3)
    u = await core.threads.update(
        t.id,
        ThreadUpdate(
            fields=frozenset({"expiration_config.expiration_policy"}),
            expiration=ExpirationInput(policy=ExpirationPolicy.STATIC),
        ),
        alice,
    )
    assert u.expiration == ExpirationConfig(ExpirationPolicy.STATIC, 3)
    assert u.expires_at == T0 + timedelta(days=3)


async def test_update_whole_expiration_resets_missing_parts(core: Core, alice: Principal) -> None:
    t = await core.threads.create(
        NewThread(folder_id="f", expiration=ExpirationInput(ExpirationPolicy.STATIC, 30)), alice
    )
    u = await core.threads.update(
        t.id,
        ThreadUpdate(fields=frozenset({"expiration_config"}), expiration=ExpirationInput(ttl_days=2)),
        alice,
    )
    assert u.expiration == ExpirationConfig(ExpirationPolicy.SINCE_LAST_ACTIVE, 2)


async def test_update_rejects_unknown_field_and_changes_nothing(core: Core, alice: Principal) -> None:
    t = await core.threads.create(NewThread(folder_id="f", name="a"), alice)
    with pytest.raises(InvalidArgument) as info:
        await core.threads.update(
            t.id, ThreadUpdate(fields=frozenset({"name", "folder_id"}), name="b"), alice
        )
    assert info.value.field == "update_mask"
    assert (await core.threads.get(t.id, alice)).name == "a"


async def test_update_with_bad_ttl_changes_nothing(core: Core, alice: Principal) -> None:
    t = await core.threads.create(NewThread(folder_id="f", name="a"), alice)
    with pytest.raises(InvalidArgument):
        await core.threads.update(
            t.id,
            ThreadUpdate(
                fields=frozenset({"name", "expiration_config.ttl_days"}),
                name="b",
                expiration=ExpirationInput(ttl_days=-4),
            ),
            alice,
        )
    assert await core.threads.get(t.id, alice) == t


async def test_get_update_delete_unknown_is_not_found(core: Core, alice: Principal) -> None:
    for call in (
        core.threads.get("thread_x", alice),
        core.threads.update("thread_x", ThreadUpdate(fields=frozenset({"name"}), name="n"), alice),
        core.threads.delete("thread_x", alice),
    ):
        with pytest.raises(NotFound):
            await call


async def test_delete_then_get_is_not_found(core: Core, alice: Principal) -> None:
    t = await core.threads.create(NewThread(folder_id="f"), alice)
    await core.threads.delete(t.id, alice)
    with pytest.raises(NotFound):
        await core.threads.get(t.id, alice)
    with pytest.raises(NotFound):
        await core.threads.delete(t.id, alice)


async def test_expired_thread_is_gone_exactly_at_expires_at(
    core: Core, alice: Principal, clock: ManualClock
) -> None:
    t = await core.threads.create(
        NewThread(folder_id="f", expiration=ExpirationInput(ExpirationPolicy.STATIC, 1)), alice
    )
    clock.set(t.expires_at - timedelta(microseconds=1))
    assert (await core.threads.get(t.id, alice)).id == t.id
    assert [x.id for x in (await core.threads.list("f", alice)).threads] == [t.id]
    clock.set(t.expires_at)
    with pytest.raises(NotFound):
        await core.threads.get(t.id, alice)
    assert (await core.threads.list("f", alice)).threads == []


async def test_list_pages_newest_first_then_an_empty_page(
    core: Core, alice: Principal, clock: ManualClock
) -> None:
    made = []
    for _ in range(5):
        made.append(await core.threads.create(NewThread(folder_id="f"), alice))
        clock.advance(timedelta(seconds=1))
    await core.threads.create(NewThread(folder_id="other"), alice)
    seen = []
    token = ""
    pages = 0
    while True:
        page = await core.threads.list("f", alice, page_size=2, page_token=token)
        pages += 1
        if not page.threads:
            assert page.next_page_token == ""
            break
        assert page.next_page_token  # a token after every non-empty page
        seen += page.threads
        token = page.next_page_token
    assert [t.id for t in seen] == [t.id for t in reversed(made)]
    assert pages == 4


async def test_list_default_page_holds_everything_small(core: Core, alice: Principal) -> None:
    for _ in range(3):
        await core.threads.create(NewThread(folder_id="f"), alice)
    page = await core.threads.list("f", alice)
    assert len(page.threads) == 3 and page.next_page_token
    assert (await core.threads.list("f", alice, page_token=page.next_page_token)).threads == []


@pytest.mark.parametrize("token", ["not base64!", "aGVsbG8=", "QGZvbw=="])
async def test_bad_page_token_is_invalid(core: Core, alice: Principal, token: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        await core.threads.list("f", alice, page_token=token)
    assert info.value.field == "page_token"


def test_page_token_has_the_yandex_shape() -> None:
    from core.ports import ThreadPosition
    from core.threads import encode_page_token

    token = encode_page_token(ThreadPosition(T0, "thread_abc"))
    import base64

    assert base64.b64decode(token).decode() == "2026-01-02T03:04:05.123456@thread_abc"
    assert decode_page_token(token) == ThreadPosition(T0, "thread_abc")


async def test_message_writes_are_activity_for_since_last_active(
    core: Core, alice: Principal, clock: ManualClock
) -> None:
    from core.entries import NewMessage
    from core.model import TextPart

    t = await core.threads.create(NewThread(folder_id="f", expiration=ExpirationInput(ttl_days=2)), alice)
    static = await core.threads.create(
        NewThread(folder_id="f", expiration=ExpirationInput(ExpirationPolicy.STATIC, 2)), alice
    )
    clock.advance(timedelta(days=1, hours=12))
    for thread in (t, static):
        await core.messages.create(thread.id, NewMessage(content=(TextPart("x"),)), alice)
    # reads and metadata updates are not activity
    await core.messages.list(t.id, alice)
    await core.threads.update(t.id, ThreadUpdate(fields=frozenset({"name"}), name="n"), alice)
    moved = await core.threads.get(t.id, alice)
    assert moved.expires_at == T0 + timedelta(days=3, hours=12)
    assert (await core.threads.get(static.id, alice)).expires_at == T0 + timedelta(days=2)
    clock.advance(timedelta(days=1))  # T0 + 2.5 days: STATIC gone, SINCE_LAST_ACTIVE alive
    with pytest.raises(NotFound):
        await core.threads.get(static.id, alice)
    with pytest.raises(NotFound):
        await core.messages.create(static.id, NewMessage(content=(TextPart("x"),)), alice)
    assert (await core.threads.get(t.id, alice)).id == t.id


async def test_expired_thread_messages_are_gone_too(core: Core, alice: Principal, clock: ManualClock) -> None:
    from core.entries import NewMessage
    from core.model import TextPart

    t = await core.threads.create(
        NewThread(folder_id="f", expiration=ExpirationInput(ExpirationPolicy.STATIC, 1)), alice
    )
    m = await core.messages.create(t.id, NewMessage(content=(TextPart("x"),)), alice)
    clock.set(t.expires_at)
    for call in (
        core.messages.get(t.id, m.id, alice),
        core.messages.list(t.id, alice),
        core.messages.update_labels(t.id, m.id, {}, alice),
        core.messages.delete(t.id, m.id, alice),
        core.threads.update(t.id, ThreadUpdate(fields=frozenset({"name"}), name="n"), alice),
        core.threads.delete(t.id, alice),
    ):
        with pytest.raises(NotFound):
            await call


async def test_sweeper_removes_expired_threads_in_batches(
    core: Core, alice: Principal, clock: ManualClock
) -> None:
    from core.entries import NewMessage
    from core.expiry import ExpirySweeper, SweepSettings
    from core.model import TextPart

    keep = await core.threads.create(NewThread(folder_id="f", expiration=ExpirationInput(ttl_days=30)), alice)
    gone = [
        await core.threads.create(
            NewThread(folder_id="f", expiration=ExpirationInput(ExpirationPolicy.STATIC, 1)), alice
        )
        for _ in range(5)
    ]
    for t in gone:
        for _ in range(3):
            await core.messages.create(t.id, NewMessage(content=(TextPart("x"),)), alice)
    sweeper = ExpirySweeper(core.store, clock, SweepSettings(batch_rows=4))
    assert (await sweeper.sweep()).threads == 0
    clock.advance(timedelta(days=1))
    result = await sweeper.sweep()
    assert (result.threads, result.messages) == (5, 15)
    assert sweeper.totals.batches > 3
    for t in gone:
        assert await core.store.get_thread(t.id) is None
    assert (await core.threads.get(keep.id, alice)).id == keep.id


async def test_nul_characters_are_refused_or_name_nothing(core: Core, alice: Principal) -> None:
    from core.access import ANONYMOUS
    from core.entries import NewMessage
    from core.model import TextPart

    for field, request in (
        ("name", NewThread(folder_id="f", name="a\x00b")),
        ("description", NewThread(folder_id="f", description="\x00")),
        ("folder_id", NewThread(folder_id="f\x00")),
    ):
        with pytest.raises(InvalidArgument) as info:
            await core.threads.create(request, ANONYMOUS)  # may use any folder
        assert info.value.field == field
    t = await core.threads.create(NewThread(folder_id="f"), alice)
    with pytest.raises(NotFound):
        await core.threads.get("thread_\x00", alice)
    with pytest.raises(NotFound):
        await core.messages.get(t.id, "msg_\x00", alice)
    with pytest.raises(NotFound):
        await core.messages.create("x\x00", NewMessage(content=(TextPart("x"),)), alice)
    with pytest.raises(InvalidArgument):
        await core.messages.list(t.id, alice, after="a\x00")


async def test_file_search_ids_update_keeps_other_tools_and_settings(core: Core, alice: Principal) -> None:
    from core.model import Tool

    search = Tool("search_index", {"search_index_ids": ["a"], "max_num_results": "4"})
    function = Tool("function", {"name": "f"})
    t = await core.threads.create(NewThread(folder_id="f", tools=(function, search)), alice)
    u = await core.threads.update(
        t.id, ThreadUpdate(fields=frozenset({"file_search_ids"}), file_search_ids=("b",)), alice
    )
    assert u.tools == (function, Tool("search_index", {"search_index_ids": ["b"], "max_num_results": "4"}))
    u = await core.threads.update(t.id, ThreadUpdate(fields=frozenset({"file_search_ids"})), alice)
    assert u.tools == (function,)
