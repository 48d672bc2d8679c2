"""One thread, every face: what the Yandex REST face writes, the Yandex gRPC stubs
(``yandexcloud``), the Assistants threads and the Conversations faces (``openai``, strict)
read, and the other way round, over real sockets.

The REST JSON of a thread or a message is compared with the gRPC face's protobuf message
printed by the REST face's own printer (``transcoding.to_json``, which imports no
generated module): the same object, in both shapes, to the byte.
"""

from __future__ import annotations

from typing import Any

import grpc
import httpx
import openai as openai_module
import orjson
import pytest
from google.protobuf import field_mask_pb2, wrappers_pb2
from openai import OpenAI
from yandex.cloud.ai.assistants.v1 import common_pb2 as tools_pb2
from yandex.cloud.ai.assistants.v1.threads import message_pb2 as mp
from yandex.cloud.ai.assistants.v1.threads import message_service_pb2 as ms
from yandex.cloud.ai.assistants.v1.threads import message_service_pb2_grpc as ms_grpc
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2_grpc as ts_grpc
from yandex.cloud.ai.common import common_pb2

from adapters.yandex.rest.transcoding import to_json
from tests.e2e.conftest import item_text, text_value
from tests.e2e.messages_wire import content, texts_of

FOLDER = "default"  # the openai SDK's threads land in the key's default folder


def text(*parts: str) -> dict[str, Any]:
    return {"content": [{"text": {"content": p}} for p in parts]}


def lines(yandex_rest: httpx.Client, thread_id: str) -> list[dict[str, Any]]:
    r = yandex_rest.get("/messages", params={"threadId": thread_id})
    assert r.status_code == 200, r.text
    return [orjson.loads(line)["result"] for line in r.content.splitlines()]


def test_a_thread_made_over_yandex_rest_reads_the_same_on_every_face(
    yandex_rest: httpx.Client,
    threads: ts_grpc.ThreadServiceStub,
    messages: ms_grpc.MessageServiceStub,
    openai: OpenAI,
) -> None:
    made = yandex_rest.post(
        "/threads",
        json={
            "folderId": FOLDER,
            "name": "everywhere",
            "labels": {"via": "yandex-rest"},
            "messages": [{"content": text("q1")}],
        },
    ).json()
    written = yandex_rest.post(
        "/messages",
        json={"threadId": made["id"], "author": {"role": "ASSISTANT", "id": "asst"}, "content": text("a1")},
    ).json()

    # Yandex gRPC: the same objects, byte for byte once printed (the message moved expires_at)
    over_grpc = threads.Get(ts.GetThreadRequest(thread_id=made["id"]))
    assert to_json(over_grpc) == yandex_rest.get(f"/threads/{made['id']}").json()
    assert {k: v for k, v in made.items() if k != "expires_at"} == {
        k: v for k, v in to_json(over_grpc).items() if k != "expires_at"
    }
    streamed = list(messages.List(ms.ListMessagesRequest(thread_id=made["id"])))
    assert [to_json(m) for m in streamed] == lines(yandex_rest, made["id"])
    assert (
        to_json(messages.Get(ms.GetMessageRequest(thread_id=made["id"], message_id=written["id"]))) == written
    )

    # Assistants threads
    t = openai.beta.threads.retrieve(made["id"])
    assert (t.metadata, t.created_at) == ({"via": "yandex-rest"}, over_grpc.created_at.seconds)
    shown = openai.beta.threads.messages.list(made["id"], order="asc").data
    assert [(m.role, text_value(m)) for m in shown] == [("user", "q1"), ("assistant", "a1")]
    assert shown[1].id == written["id"]

    # Conversations
    conv = openai.conversations.retrieve(made["id"])
    assert conv.metadata == {"via": "yandex-rest"}
    items = openai.conversations.items.list(made["id"], order="asc").data
    assert [(getattr(i, "role", None), item_text(i)) for i in items] == [("user", "q1"), ("assistant", "a1")]

    # a change over REST is seen everywhere; a delete over REST ends it everywhere
    yandex_rest.patch(
        f"/threads/{made['id']}", json={"updateMask": "labels,name", "labels": {"v": "2"}, "name": "n2"}
    )
    assert openai.beta.threads.retrieve(made["id"]).metadata == {"v": "2"}
    assert threads.Get(ts.GetThreadRequest(thread_id=made["id"])).name == "n2"
    assert yandex_rest.delete(f"/threads/{made['id']}").json() == {}
    with pytest.raises(openai_module.NotFoundError):
        openai.conversations.retrieve(made["id"])
    with pytest.raises(grpc.RpcError) as caught:
        threads.Get(ts.GetThreadRequest(thread_id=made["id"]))
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND


def test_threads_made_over_grpc_assistants_and_conversations_read_over_yandex_rest(
    yandex_rest: httpx.Client,
    threads: ts_grpc.ThreadServiceStub,
    messages: ms_grpc.MessageServiceStub,
    openai: OpenAI,
) -> None:
    # gRPC, with tools whose settings print with nulls and Go-style numbers
    search = tools_pb2.Tool(
        search_index=tools_pb2.SearchIndexTool(
            search_index_ids=["idx"], max_num_results=wrappers_pb2.Int64Value(value=4)
        )
    )
    function = tools_pb2.Tool(function=tools_pb2.FunctionTool(name="weather"))
    function.function.parameters.update({"type": "object", "properties": {"days": {"minimum": 1}}})
    y = threads.Create(
        ts.CreateThreadRequest(folder_id=FOLDER, labels={"via": "grpc"}, tools=[search, function])
    )
    messages.Create(ms.CreateMessageRequest(thread_id=y.id, content=content("hello", "there")))
    got = yandex_rest.get(f"/threads/{y.id}")
    assert got.json() == to_json(threads.Get(ts.GetThreadRequest(thread_id=y.id)))
    printed = got.json()["tools"]
    assert printed[0]["search_index"]["max_num_results"] == "4"
    assert printed[0]["search_index"]["rephraser_options"] is None
    assert b'"parameters":{"properties":{"days":{"minimum":1}},"type":"object"}' in got.content
    assert [m["content"] for m in lines(yandex_rest, y.id)] == [text("hello", "there")]

    # Assistants threads: metadata are labels; an image part reads as its text placeholder
    a = openai.beta.threads.create(
        metadata={"via": "assistants"},
        messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
    )
    rest_thread = yandex_rest.get(f"/threads/{a.id}").json()
    assert (rest_thread["folder_id"], rest_thread["labels"]) == (FOLDER, {"via": "assistants"})
    assert rest_thread["expiration_config"] == {"expiration_policy": "SINCE_LAST_ACTIVE", "ttl_days": "7"}
    assert [(m["author"]["role"], m["content"]) for m in lines(yandex_rest, a.id)] == [
        ("ASSISTANT", text("a")),
        ("USER", text("q")),
    ]
    yandex_rest.post("/messages", json={"threadId": a.id, "content": text("from rest")})
    assert text_value(openai.beta.threads.messages.list(a.id, limit=1).data[0]) == "from rest"

    # Conversations: only its messages show, newest first; a tool call is no message
    items: list[Any] = [
        {"role": "user", "content": "weather?"},
        {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": "{}"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "Cold."}]},
    ]
    conv = openai.conversations.create(items=items)
    assert [texts_of_json(m) for m in lines(yandex_rest, conv.id)] == [["Cold."], ["weather?"]]
    tool_call = openai.conversations.items.list(conv.id, order="asc").data[1]
    missing = yandex_rest.get(f"/messages/{tool_call.id}", params={"threadId": conv.id})
    assert missing.status_code == 404
    over_grpc = [texts_of(m) for m in messages.List(ms.ListMessagesRequest(thread_id=conv.id))]
    assert over_grpc == [["Cold."], ["weather?"]]


def texts_of_json(message: dict[str, Any]) -> list[str]:
    return [part["text"]["content"] for part in message["content"]["content"]]


def test_one_idempotency_key_makes_one_thread_over_both_yandex_faces(
    yandex_rest: httpx.Client, threads: ts_grpc.ThreadServiceStub
) -> None:
    """The same request with the same key, once over REST and once over gRPC (the SDK's
    retry may take either): one thread."""
    body = {"folderId": FOLDER, "name": "once", "labels": {"k": "v"}}
    first = yandex_rest.post("/threads", json=body, headers={"Idempotency-Key": "cross-face-key-1"}).json()
    request = ts.CreateThreadRequest(folder_id=FOLDER, name="once", labels={"k": "v"})
    again = threads.Create(request, metadata=(("idempotency-key", "cross-face-key-1"),))
    assert again.id == first["id"]


def test_a_grpc_update_and_a_rest_mask_mean_the_same(
    yandex_rest: httpx.Client, threads: ts_grpc.ThreadServiceStub
) -> None:
    t = threads.Create(ts.CreateThreadRequest(folder_id=FOLDER, name="a", description="d"))
    mask = field_mask_pb2.FieldMask(paths=["expiration_config.ttl_days", "description"])
    over_grpc = threads.Update(
        ts.UpdateThreadRequest(
            thread_id=t.id, update_mask=mask, expiration_config=common_pb2.ExpirationConfig(ttl_days=3)
        )
    )
    assert over_grpc.description == "" and over_grpc.expiration_config.ttl_days == 3
    over_rest = yandex_rest.patch(
        f"/threads/{t.id}", json={"updateMask": mask.ToJsonString(), "expirationConfig": {"ttlDays": 3}}
    ).json()
    assert {k: v for k, v in over_rest.items() if k not in ("updated_at",)} == {
        k: v for k, v in to_json(over_grpc).items() if k not in ("updated_at",)
    }
    assert mask.ToJsonString() == "expirationConfig.ttlDays,description"


def test_a_message_written_over_grpc_with_an_author_reads_over_rest(
    yandex_rest: httpx.Client, threads: ts_grpc.ThreadServiceStub, messages: ms_grpc.MessageServiceStub
) -> None:
    t = threads.Create(ts.CreateThreadRequest(folder_id=FOLDER))
    m = messages.Create(
        ms.CreateMessageRequest(
            thread_id=t.id,
            author=mp.Author(id="sdk/1.0", role="ASSISTANT"),
            labels={"a": "b"},
            content=content("x"),
        )
    )
    got = yandex_rest.get(f"/messages/{m.id}", params={"thread_id": t.id}).json()
    assert got == to_json(m) and got["author"] == {"id": "sdk/1.0", "role": "ASSISTANT"}
