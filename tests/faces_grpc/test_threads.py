"""ThreadService in process, through our generated stubs over a real channel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2
from hypothesis import HealthCheck, given, settings

from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import thread_pb2
from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from adapters.yandex._gen.yandex.cloud.ai.common import common_pb2
from tests.faces_grpc.harness import FOLDER, OTHER_FOLDER, Code, Face, detail, labels, method_calls, rejected
from tests.factories import T0

UNSPECIFIED = common_pb2.ExpirationConfig.EXPIRATION_POLICY_UNSPECIFIED
SLA = common_pb2.ExpirationConfig.SINCE_LAST_ACTIVE
STATIC = common_pb2.ExpirationConfig.STATIC


def at(stamp: object) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)  # type: ignore[attr-defined,no-any-return]


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=paths)


async def test_create_fills_the_defaults_and_get_returns_the_same_thread(face: Face) -> None:
    t = await face.threads.Create(ts.CreateThreadRequest(folder_id=FOLDER, name="n", labels={"k": "v"}))
    assert (t.folder_id, t.name, dict(t.labels)) == (FOLDER, "n", {"k": "v"})
    assert (t.expiration_config.expiration_policy, t.expiration_config.ttl_days) == (SLA, 7)
    assert at(t.created_at) == at(t.updated_at) == T0
    assert at(t.expires_at) == T0 + timedelta(days=7)
    assert t.created_by == t.updated_by != ""
    assert t.default_message_author_id.startswith("user_")
    other = await face.threads.Create(ts.CreateThreadRequest(folder_id=FOLDER))
    assert other.id != t.id and other.default_message_author_id != t.default_message_author_id
    assert await face.threads.Get(ts.GetThreadRequest(thread_id=t.id)) == t


async def test_update_changes_only_the_masked_fields(face: Face) -> None:
    t = await face.threads.Create(
        ts.CreateThreadRequest(folder_id=FOLDER, name="a", description="d", labels={"x": "1"})
    )
    face.clock.advance(timedelta(hours=1))

    async def update(*paths: str, **values: object) -> thread_pb2.Thread:
        request = ts.UpdateThreadRequest(thread_id=t.id, update_mask=mask(*paths), **values)  # type: ignore[arg-type]
        return await face.threads.Update(request)

    u = await update("name", name="b", description="not in the mask")
    assert (u.name, u.description, dict(u.labels)) == ("b", "d", {"x": "1"})
    assert at(u.updated_at) == T0 + timedelta(hours=1) and u.created_at == t.created_at
    assert u.expires_at == t.expires_at  # an update is no activity
    u = await update("labels", labels={"y": "2"})
    assert dict(u.labels) == {"y": "2"}
    u = await update("expiration_config.ttl_days", expiration_config=common_pb2.ExpirationConfig(ttl_days=3))
    assert (u.expiration_config.expiration_policy, u.expiration_config.ttl_days) == (SLA, 3)
    assert at(u.expires_at) == T0 + timedelta(days=3)
    u = await update(
        "expiration_config.expiration_policy",
        expiration_config=common_pb2.ExpirationConfig(expiration_policy=STATIC, ttl_days=99),
    )
    assert (u.expiration_config.expiration_policy, u.expiration_config.ttl_days) == (STATIC, 3)
    u = await update("name", "description")  # named but empty: back to the default
    assert (u.name, u.description) == ("", "")
    assert await face.threads.Get(ts.GetThreadRequest(thread_id=t.id)) == u


async def test_expiration_policy_is_never_unspecified_in_an_answer(face: Face) -> None:
    """The Yandex SDK maps the policy enum to its own; 0 has no name there."""
    unspecified = common_pb2.ExpirationConfig(expiration_policy=UNSPECIFIED, ttl_days=3)
    t = await face.threads.Create(ts.CreateThreadRequest(folder_id=FOLDER, expiration_config=unspecified))
    assert (t.expiration_config.expiration_policy, t.expiration_config.ttl_days) == (SLA, 3)
    s = await face.threads.Create(
        ts.CreateThreadRequest(
            folder_id=FOLDER, expiration_config=common_pb2.ExpirationConfig(expiration_policy=STATIC)
        )
    )
    assert (s.expiration_config.expiration_policy, s.expiration_config.ttl_days) == (STATIC, 7)
    for paths in (["expiration_config.expiration_policy"], ["expiration_config"]):
        u = await face.threads.Update(
            ts.UpdateThreadRequest(thread_id=s.id, update_mask=mask(*paths), expiration_config=unspecified)
        )
        assert u.expiration_config.expiration_policy == SLA
    page = await face.threads.List(ts.ListThreadsRequest(folder_id=FOLDER))
    assert [x.expiration_config.expiration_policy for x in page.threads] == [SLA, SLA]


async def test_delete_then_every_call_on_the_thread_is_not_found(face: Face) -> None:
    t = await face.threads.Create(ts.CreateThreadRequest(folder_id=FOLDER))
    assert await face.threads.Delete(ts.DeleteThreadRequest(thread_id=t.id)) == ts.DeleteThreadResponse()
    calls = method_calls(face.editor, t.id, "msg_x")
    for name in ("Threads/Get", "Threads/Update", "Threads/Delete", "Messages/Create", "Messages/List"):
        status = await rejected(calls[name](), Code.NOT_FOUND)
        assert status.message == f"Thread {t.id} not found"
        info = detail(status, error_details_pb2.ResourceInfo)
        assert (info.resource_type, info.resource_name) == ("thread", t.id)


async def test_an_expired_thread_is_gone_from_get_and_list(face: Face) -> None:
    short = common_pb2.ExpirationConfig(expiration_policy=STATIC, ttl_days=1)
    gone = await face.threads.Create(ts.CreateThreadRequest(folder_id=FOLDER, expiration_config=short))
    kept = await face.threads.Create(ts.CreateThreadRequest(folder_id=FOLDER))
    face.clock.advance(timedelta(days=1))
    await rejected(face.threads.Get(ts.GetThreadRequest(thread_id=gone.id)), Code.NOT_FOUND)
    page = await face.threads.List(ts.ListThreadsRequest(folder_id=FOLDER))
    assert [t.id for t in page.threads] == [kept.id]


async def list_like_the_sdk(face: Face, folder: str, page_size: int) -> tuple[list[str], int]:
    """yandex-ai-studio-sdk's loop: it stops on an empty page only, so a non-empty page
    without a token would start it over from the first page, forever."""
    seen: list[str] = []
    token, calls = "", 0
    while calls < 100:
        calls += 1
        page = await face.threads.List(
            ts.ListThreadsRequest(folder_id=folder, page_size=page_size, page_token=token)
        )
        if not page.threads:
            assert page.next_page_token == ""
            return seen, calls
        assert page.next_page_token, "a non-empty page without a token"
        seen += [t.id for t in page.threads]
        token = page.next_page_token
    raise AssertionError(f"still listing after {calls} pages: {seen[:10]}...")


async def test_list_pages_newest_first_to_an_empty_last_page(face: Face) -> None:
    assert await list_like_the_sdk(face, OTHER_FOLDER, 0) == ([], 1)
    made = []
    for i in range(7):
        made.append((await face.threads.Create(ts.CreateThreadRequest(folder_id=FOLDER, name=str(i)))).id)
        face.clock.advance(timedelta(seconds=1))
    await face.threads.Create(ts.CreateThreadRequest(folder_id=OTHER_FOLDER))
    assert await list_like_the_sdk(face, FOLDER, 3) == (made[::-1], 4)  # 3 + 3 + 1, then empty
    assert await list_like_the_sdk(face, FOLDER, 7) == (made[::-1], 2)
    everything = await face.threads.List(ts.ListThreadsRequest(folder_id=FOLDER))  # default size
    assert [t.id for t in everything.threads] == made[::-1] and everything.next_page_token


async def test_threads_made_in_one_instant_page_without_loss_or_repeat(face: Face) -> None:
    made = [(await face.threads.Create(ts.CreateThreadRequest(folder_id=FOLDER))).id for _ in range(5)]
    seen, _ = await list_like_the_sdk(face, FOLDER, 2)
    assert sorted(seen) == sorted(made) and len(set(seen)) == 5


async def test_the_host_answers_with_the_clients_request_id(face: Face) -> None:
    call = face.threads.Create(
        ts.CreateThreadRequest(folder_id=FOLDER), metadata=(("x-client-request-id", "req-42"),)
    )
    await call
    assert ("x-request-id", "req-42") in list(await call.initial_metadata())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=labels, then=labels)
async def test_labels_round_trip_through_create_get_update_and_list(
    face: Face, first: dict[str, str], then: dict[str, str]
) -> None:
    t = await face.threads.Create(ts.CreateThreadRequest(folder_id=FOLDER, labels=first))
    assert dict(t.labels) == first
    assert dict((await face.threads.Get(ts.GetThreadRequest(thread_id=t.id))).labels) == first
    u = await face.threads.Update(
        ts.UpdateThreadRequest(thread_id=t.id, update_mask=mask("labels"), labels=then)
    )
    assert dict(u.labels) == then
    page = await face.threads.List(ts.ListThreadsRequest(folder_id=FOLDER, page_size=1))
    assert [dict(x.labels) for x in page.threads] == [then]
