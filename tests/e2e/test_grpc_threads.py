"""The yandexcloud generated stubs against a running threadgate (never our stubs)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta

import grpc
import pytest
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status
from yandex.cloud.ai.assistants.v1.threads import thread_pb2
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2_grpc as ts_grpc
from yandex.cloud.ai.common import common_pb2

from tests.e2e.rpc_errors import details_of

SLA = common_pb2.ExpirationConfig.SINCE_LAST_ACTIVE
STATIC = common_pb2.ExpirationConfig.STATIC


def test_create_fills_defaults_like_the_real_server(threads: ts_grpc.ThreadServiceStub) -> None:
    t = threads.Create(ts.CreateThreadRequest(folder_id="b1gfolder", name="n", labels={"k": "v"}))
    assert t.id and t.folder_id == "b1gfolder" and t.name == "n" and dict(t.labels) == {"k": "v"}
    assert t.expiration_config.expiration_policy == SLA
    assert t.expiration_config.ttl_days == 7
    assert t.expires_at.ToDatetime() - t.created_at.ToDatetime() == timedelta(days=7)
    assert t.created_at == t.updated_at
    assert t.default_message_author_id
    assert t.created_by == t.updated_by != ""
    other = threads.Create(ts.CreateThreadRequest(folder_id="b1gfolder"))
    assert other.default_message_author_id != t.default_message_author_id
    assert threads.Get(ts.GetThreadRequest(thread_id=t.id)) == t


def test_create_with_given_expiration_and_author(threads: ts_grpc.ThreadServiceStub) -> None:
    t = threads.Create(
        ts.CreateThreadRequest(
            folder_id="f",
            default_message_author_id="me",
            expiration_config=common_pb2.ExpirationConfig(expiration_policy=STATIC, ttl_days=5),
        )
    )
    assert t.default_message_author_id == "me"
    assert (t.expiration_config.expiration_policy, t.expiration_config.ttl_days) == (STATIC, 5)
    assert t.expires_at.ToDatetime() - t.created_at.ToDatetime() == timedelta(days=5)


def test_update_with_field_masks(threads: ts_grpc.ThreadServiceStub) -> None:
    t = threads.Create(ts.CreateThreadRequest(folder_id="f", name="a", description="d", labels={"x": "1"}))

    def update(
        paths: list[str],
        *,
        name: str = "",
        description: str = "",
        labels: Mapping[str, str] | None = None,
        expiration_config: common_pb2.ExpirationConfig | None = None,
    ) -> thread_pb2.Thread:
        # "" and None are what an unset proto3 field reads as: the request carries only what is given
        return threads.Update(
            ts.UpdateThreadRequest(
                thread_id=t.id,
                update_mask=field_mask_pb2.FieldMask(paths=paths),
                name=name,
                description=description,
                labels=labels,
                expiration_config=expiration_config,
            )
        )

    u = update(["name"], name="b", description="ignored")
    assert (u.name, u.description, dict(u.labels)) == ("b", "d", {"x": "1"})
    assert u.updated_at.ToDatetime() > t.updated_at.ToDatetime()
    assert u.expires_at == t.expires_at  # not activity
    u = update(["labels"], labels={"y": "2"})
    assert dict(u.labels) == {"y": "2"}
    u = update(["expiration_config.ttl_days"], expiration_config=common_pb2.ExpirationConfig(ttl_days=3))
    assert (u.expiration_config.expiration_policy, u.expiration_config.ttl_days) == (SLA, 3)
    assert u.expires_at.ToDatetime() - u.created_at.ToDatetime() == timedelta(days=3)
    u = update(
        ["expiration_config.expiration_policy"],
        expiration_config=common_pb2.ExpirationConfig(expiration_policy=STATIC),
    )
    assert (u.expiration_config.expiration_policy, u.expiration_config.ttl_days) == (STATIC, 3)
    assert u.expires_at.ToDatetime() - u.created_at.ToDatetime() == timedelta(days=3)
    u = update(["description", "name"])  # named but empty: reset to default
    assert (u.name, u.description) == ("", "")


@pytest.mark.parametrize(
    ("paths", "field"),
    [([], "update_mask"), (["folder_id"], "update_mask"), (["expiration_config.nope"], "update_mask")],
)
def test_bad_update_mask(threads: ts_grpc.ThreadServiceStub, paths: list[str], field: str) -> None:
    t = threads.Create(ts.CreateThreadRequest(folder_id="f", name="keep"))
    with pytest.raises(grpc.RpcError) as info:
        threads.Update(
            ts.UpdateThreadRequest(thread_id=t.id, update_mask=field_mask_pb2.FieldMask(paths=paths))
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = details_of(info.value, error_details_pb2.BadRequest)
    assert bad.field_violations[0].field == field
    assert threads.Get(ts.GetThreadRequest(thread_id=t.id)).name == "keep"


@pytest.mark.parametrize("ttl", [-1, 366])
def test_bad_ttl(threads: ts_grpc.ThreadServiceStub, ttl: int) -> None:
    with pytest.raises(grpc.RpcError) as info:
        threads.Create(
            ts.CreateThreadRequest(folder_id="f", expiration_config=common_pb2.ExpirationConfig(ttl_days=ttl))
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = details_of(info.value, error_details_pb2.BadRequest)
    assert bad.field_violations[0].field == "expiration_config.ttl_days"


def test_missing_required_fields(threads: ts_grpc.ThreadServiceStub) -> None:
    calls: list[tuple[Callable[[], object], str]] = [
        (lambda: threads.Create(ts.CreateThreadRequest()), "folder_id"),
        (lambda: threads.Get(ts.GetThreadRequest()), "thread_id"),
        (lambda: threads.Delete(ts.DeleteThreadRequest()), "thread_id"),
        (lambda: threads.List(ts.ListThreadsRequest()), "folder_id"),
    ]
    for call, field in calls:
        with pytest.raises(grpc.RpcError) as info:
            call()
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert details_of(info.value, error_details_pb2.BadRequest).field_violations[0].field == field


def test_delete_then_not_found(threads: ts_grpc.ThreadServiceStub) -> None:
    t = threads.Create(ts.CreateThreadRequest(folder_id="f"))
    assert threads.Delete(ts.DeleteThreadRequest(thread_id=t.id)) == ts.DeleteThreadResponse()
    for call in (
        lambda: threads.Get(ts.GetThreadRequest(thread_id=t.id)),
        lambda: threads.Delete(ts.DeleteThreadRequest(thread_id=t.id)),
        lambda: threads.Update(
            ts.UpdateThreadRequest(thread_id=t.id, update_mask=field_mask_pb2.FieldMask(paths=["name"]))
        ),
    ):
        with pytest.raises(grpc.RpcError) as info:
            call()
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        resource = details_of(info.value, error_details_pb2.ResourceInfo)
        assert (resource.resource_type, resource.resource_name) == ("thread", t.id)


def test_list_pages_to_the_end(threads: ts_grpc.ThreadServiceStub) -> None:
    folder = "folder-list-test"
    made = [threads.Create(ts.CreateThreadRequest(folder_id=folder, name=str(i))).id for i in range(7)]
    threads.Create(ts.CreateThreadRequest(folder_id="another-folder"))
    seen: list[str] = []
    token = ""
    calls = 0
    while True:
        calls += 1
        page = threads.List(ts.ListThreadsRequest(folder_id=folder, page_size=3, page_token=token))
        if not page.threads:
            assert page.next_page_token == ""
            break
        assert page.next_page_token, "every non-empty page carries a token"
        seen += [t.id for t in page.threads]
        token = page.next_page_token
    assert seen == list(reversed(made))  # newest first
    assert calls == 4  # 3 + 3 + 1, then the empty page
    everything = threads.List(ts.ListThreadsRequest(folder_id=folder))
    assert [t.id for t in everything.threads] == seen and everything.next_page_token


def test_bad_page_token_and_size(threads: ts_grpc.ThreadServiceStub) -> None:
    for request, field in [
        (ts.ListThreadsRequest(folder_id="f", page_token="%%%"), "page_token"),
        (ts.ListThreadsRequest(folder_id="f", page_size=-1), "page_size"),
    ]:
        with pytest.raises(grpc.RpcError) as info:
            threads.List(request)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert details_of(info.value, error_details_pb2.BadRequest).field_violations[0].field == field


def test_health_and_reflection(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "yandex.cloud.ai.assistants.v1.threads.ThreadService"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    answers = list(
        stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    )
    names = {s.name for s in answers[0].list_services_response.service}
    assert {
        "yandex.cloud.ai.assistants.v1.threads.ThreadService",
        "yandex.cloud.ai.assistants.v1.threads.MessageService",
        "grpc.health.v1.Health",
    } <= names


def test_status_details_are_google_rpc(threads: ts_grpc.ThreadServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as info:
        threads.Get(ts.GetThreadRequest(thread_id="thread_missing"))
    status = rpc_status.from_call(info.value)
    assert status is not None and status.code == grpc.StatusCode.NOT_FOUND.value[0]
    assert status.message == "Thread thread_missing not found"  # the Yandex faces' words


def test_an_empty_tool_keeps_its_kind(threads: ts_grpc.ThreadServiceStub) -> None:
    from yandex.cloud.ai.assistants.v1 import common_pb2 as tools_pb2

    empty = tools_pb2.Tool(search_index=tools_pb2.SearchIndexTool())
    t = threads.Create(ts.CreateThreadRequest(folder_id="f", tools=[empty]))
    assert [tool.WhichOneof("ToolType") for tool in t.tools] == ["search_index"]


def test_errors_never_echo_a_huge_value(threads: ts_grpc.ThreadServiceStub) -> None:
    """Error details travel in trailers that clients cap at 16 KiB: a 100,000-character id
    must still come back as NOT_FOUND, not as a broken stream."""
    with pytest.raises(grpc.RpcError) as info:
        threads.Get(ts.GetThreadRequest(thread_id="t" * 100_000))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert len(info.value.details() or "") < 2_000
    with pytest.raises(grpc.RpcError) as info:
        threads.Create(ts.CreateThreadRequest(folder_id="f", labels={"k" * 50_000: "v"}))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
