"""MessageService through the yandexcloud generated stubs (never our stubs)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import grpc
import pytest
from google.rpc import error_details_pb2
from yandex.cloud.ai.assistants.v1.threads import message_pb2 as mp
from yandex.cloud.ai.assistants.v1.threads import message_service_pb2 as ms
from yandex.cloud.ai.assistants.v1.threads import message_service_pb2_grpc as ms_grpc
from yandex.cloud.ai.assistants.v1.threads import thread_pb2
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2_grpc as ts_grpc

from tests.e2e.messages_wire import content, texts_of
from tests.e2e.rpc_errors import details_of

# "" and None are what an unset proto3 field reads as: a request carries only what is given


def new_thread(
    threads: ts_grpc.ThreadServiceStub,
    *,
    default_message_author_id: str = "",
    messages: Iterable[mp.MessageData] | None = None,
) -> thread_pb2.Thread:
    return threads.Create(
        ts.CreateThreadRequest(
            folder_id="b1g-messages", default_message_author_id=default_message_author_id, messages=messages
        )
    )


def write(
    messages: ms_grpc.MessageServiceStub,
    thread_id: str,
    *texts: str,
    author: mp.Author | None = None,
    labels: Mapping[str, str] | None = None,
) -> mp.Message:
    return messages.Create(
        ms.CreateMessageRequest(thread_id=thread_id, content=content(*texts), author=author, labels=labels),
    )


def listed(messages: ms_grpc.MessageServiceStub, thread_id: str) -> list[mp.Message]:
    return list(
        messages.List(
            ms.ListMessagesRequest(thread_id=thread_id),
        )
    )


def invalid_field(call: Callable[[], object]) -> str:
    with pytest.raises(grpc.RpcError) as info:
        call()
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value
    return str(details_of(info.value, error_details_pb2.BadRequest).field_violations[0].field)


def test_create_without_author_uses_the_thread_default(
    threads: ts_grpc.ThreadServiceStub, messages: ms_grpc.MessageServiceStub
) -> None:
    t = new_thread(threads)
    m = write(messages, t.id, "hello")
    assert m.id and m.id != t.id
    assert m.thread_id == t.id
    assert m.author.id == t.default_message_author_id != ""
    assert m.author.role == "USER"
    assert m.status == mp.Message.COMPLETED
    assert texts_of(m) == ["hello"]
    assert m.created_by != ""
    assert m.created_at.ToDatetime() >= t.created_at.ToDatetime()
    assert list(m.citations) == []
    got = messages.Get(ms.GetMessageRequest(thread_id=t.id, message_id=m.id))
    assert got == m


def test_create_with_given_default_author(
    threads: ts_grpc.ThreadServiceStub, messages: ms_grpc.MessageServiceStub
) -> None:
    t = new_thread(threads, default_message_author_id="user-42")
    m = write(messages, t.id, "hi")
    assert (m.author.id, m.author.role) == ("user-42", "USER")


@pytest.mark.parametrize(
    ("role", "shown"),
    [("assistant", "ASSISTANT"), ("ASSISTANT", "ASSISTANT"), ("Assistant", "ASSISTANT"), ("user", "USER")],
)
def test_author_role_in_any_case_comes_back_upper_case(
    threads: ts_grpc.ThreadServiceStub, messages: ms_grpc.MessageServiceStub, role: str, shown: str
) -> None:
    t = new_thread(threads)
    m = write(messages, t.id, "x", author=mp.Author(id="yandex-cloud-ml-sdk/0.13.0 python/3.12", role=role))
    # the author is echoed verbatim, the role normalised
    assert (m.author.id, m.author.role) == ("yandex-cloud-ml-sdk/0.13.0 python/3.12", shown)
    got = messages.Get(ms.GetMessageRequest(thread_id=t.id, message_id=m.id))
    assert got.author == m.author


@pytest.mark.parametrize("role", ["bot", "system", "tool", "users"])
def test_unknown_role_is_invalid(
    threads: ts_grpc.ThreadServiceStub, messages: ms_grpc.MessageServiceStub, role: str
) -> None:
    t = new_thread(threads)
    field = invalid_field(lambda: write(messages, t.id, "x", author=mp.Author(id="a", role=role)))
    assert field == "author.role"
    assert listed(messages, t.id) == []


def test_empty_content_is_invalid(
    threads: ts_grpc.ThreadServiceStub, messages: ms_grpc.MessageServiceStub
) -> None:
    t = new_thread(threads)
    assert invalid_field(lambda: messages.Create(ms.CreateMessageRequest(thread_id=t.id))) == "content"
    assert (
        invalid_field(
            lambda: messages.Create(ms.CreateMessageRequest(thread_id=t.id, content=mp.MessageContent()))
        )
        == "content"
    )
    no_text = mp.MessageContent(content=[mp.ContentPart()])
    assert invalid_field(
        lambda: messages.Create(ms.CreateMessageRequest(thread_id=t.id, content=no_text))
    ).startswith("content")
    assert listed(messages, t.id) == []


def test_required_fields(threads: ts_grpc.ThreadServiceStub, messages: ms_grpc.MessageServiceStub) -> None:
    t = new_thread(threads)
    m = write(messages, t.id, "x")
    for call, field in [
        (lambda: messages.Create(ms.CreateMessageRequest(content=content("x"))), "thread_id"),
        (lambda: messages.Get(ms.GetMessageRequest(message_id=m.id)), "thread_id"),
        (lambda: messages.Get(ms.GetMessageRequest(thread_id=t.id)), "message_id"),
        (lambda: listed(messages, ""), "thread_id"),
    ]:
        assert invalid_field(call) == field


def test_message_of_another_thread_is_not_found(
    threads: ts_grpc.ThreadServiceStub, messages: ms_grpc.MessageServiceStub
) -> None:
    a, b = new_thread(threads), new_thread(threads)
    m = write(messages, a.id, "in a")
    for thread_id, message_id in [(b.id, m.id), (a.id, "no-such-message")]:
        with pytest.raises(grpc.RpcError) as info:
            messages.Get(ms.GetMessageRequest(thread_id=thread_id, message_id=message_id))
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        resource = details_of(info.value, error_details_pb2.ResourceInfo)
        assert (resource.resource_type, resource.resource_name) == ("message", message_id)
    assert messages.Get(ms.GetMessageRequest(thread_id=a.id, message_id=m.id)) == m


def test_list_streams_newest_first(
    threads: ts_grpc.ThreadServiceStub, messages: ms_grpc.MessageServiceStub
) -> None:
    t = new_thread(threads)
    made = [write(messages, t.id, str(i)) for i in range(10)]
    got = listed(messages, t.id)
    assert [texts_of(m)[0] for m in got] == [str(i) for i in reversed(range(10))]  # '9'..'0'
    assert got == list(reversed(made))  # the full messages, not only their text


def test_initial_messages_are_stored_in_order(
    threads: ts_grpc.ThreadServiceStub, messages: ms_grpc.MessageServiceStub
) -> None:
    initial = [
        mp.MessageData(content=content("first")),
        mp.MessageData(content=content("second"), author=mp.Author(id="asst-1", role="ASSISTANT")),
        mp.MessageData(content=content("third", "more"), labels={"n": "3"}),
        mp.MessageData(content=content("fourth"), author=mp.Author(id="u-9", role="user")),
    ]
    t = new_thread(threads, messages=initial)
    got = list(reversed(listed(messages, t.id)))
    assert [texts_of(m) for m in got] == [["first"], ["second"], ["third", "more"], ["fourth"]]
    assert [(m.author.id, m.author.role) for m in got] == [
        (t.default_message_author_id, "USER"),
        ("asst-1", "ASSISTANT"),
        (t.default_message_author_id, "USER"),
        ("u-9", "USER"),
    ]
    assert [dict(m.labels) for m in got] == [{}, {}, {"n": "3"}, {}]
    assert len({m.id for m in got}) == 4
    assert {m.thread_id for m in got} == {t.id}
    later = write(messages, t.id, "fifth")
    assert listed(messages, t.id)[0] == later


def test_bad_initial_message_creates_nothing(
    threads: ts_grpc.ThreadServiceStub, messages: ms_grpc.MessageServiceStub
) -> None:
    before = {x.id for x in threads.List(ts.ListThreadsRequest(folder_id="b1g-bad-initial")).threads}
    bad = [
        mp.MessageData(content=content("ok")),
        mp.MessageData(content=content("x"), author=mp.Author(role="bot")),
    ]
    field = invalid_field(
        lambda: threads.Create(ts.CreateThreadRequest(folder_id="b1g-bad-initial", messages=bad))
    )
    assert field == "messages[1].author.role"
    after = {x.id for x in threads.List(ts.ListThreadsRequest(folder_id="b1g-bad-initial")).threads}
    assert after == before


def test_labels_round_trip(threads: ts_grpc.ThreadServiceStub, messages: ms_grpc.MessageServiceStub) -> None:
    t = new_thread(threads)
    labels = {"topic": "weather", "lang": "ru", "empty": ""}
    m = write(messages, t.id, "x", labels=labels)
    assert dict(m.labels) == labels
    assert dict(messages.Get(ms.GetMessageRequest(thread_id=t.id, message_id=m.id)).labels) == labels
    assert [dict(x.labels) for x in listed(messages, t.id)] == [labels]


def test_unknown_or_deleted_thread_is_not_found(
    threads: ts_grpc.ThreadServiceStub, messages: ms_grpc.MessageServiceStub
) -> None:
    for call in (
        lambda: listed(messages, "thread_unknown"),
        lambda: write(messages, "thread_unknown", "x"),
    ):
        with pytest.raises(grpc.RpcError) as info:
            call()
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        resource = details_of(info.value, error_details_pb2.ResourceInfo)
        assert (resource.resource_type, resource.resource_name) == ("thread", "thread_unknown")

    t = new_thread(threads)
    m = write(messages, t.id, "x")
    threads.Delete(ts.DeleteThreadRequest(thread_id=t.id))
    for call in (
        lambda: listed(messages, t.id),
        lambda: write(messages, t.id, "y"),
        lambda: messages.Get(ms.GetMessageRequest(thread_id=t.id, message_id=m.id)),
    ):
        with pytest.raises(grpc.RpcError) as info:
            call()
        assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_empty_thread_streams_nothing(
    threads: ts_grpc.ThreadServiceStub, messages: ms_grpc.MessageServiceStub
) -> None:
    assert listed(messages, new_thread(threads).id) == []


@pytest.mark.parametrize("count", [100, 250])
def test_long_thread_streams_everything_in_order(
    threads: ts_grpc.ThreadServiceStub, messages: ms_grpc.MessageServiceStub, count: int
) -> None:
    initial = [mp.MessageData(content=content(f"initial {i}")) for i in range(32)]
    t = new_thread(threads, messages=initial)
    made = [write(messages, t.id, f"m {i}").id for i in range(count - 32)]
    got = listed(messages, t.id)
    assert len(got) == count
    assert len({m.id for m in got}) == count
    oldest_first = list(reversed(got))
    assert [texts_of(m)[0] for m in oldest_first[:32]] == [f"initial {i}" for i in range(32)]
    assert [m.id for m in oldest_first[32:]] == made
    stamps = [m.created_at.ToDatetime() for m in oldest_first]
    assert stamps == sorted(stamps)


def test_label_and_text_limits(
    threads: ts_grpc.ThreadServiceStub, messages: ms_grpc.MessageServiceStub
) -> None:
    t = new_thread(threads)
    too_many = {f"k{i}": "v" for i in range(17)}
    assert invalid_field(lambda: write(messages, t.id, "x", labels=too_many)).startswith("labels")
    assert invalid_field(lambda: write(messages, t.id, "x" * 256_001)).startswith("content")
    assert listed(messages, t.id) == []
    at_limit = {f"k{i}": "v" * 512 for i in range(16)}
    m = write(messages, t.id, "x" * 256_000, labels=at_limit)
    assert dict(m.labels) == at_limit and len(texts_of(m)[0]) == 256_000
