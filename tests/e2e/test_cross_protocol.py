"""One thread, two views: made over one protocol, read/changed/deleted over the other."""

from __future__ import annotations

import grpc
import openai as openai_module
import pytest
from google.protobuf import field_mask_pb2, wrappers_pb2
from openai import OpenAI
from yandex.cloud.ai.assistants.v1 import common_pb2 as tools_pb2
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2_grpc as ts_grpc
from yandex.cloud.ai.common import common_pb2


def test_rest_created_thread_over_grpc(openai: OpenAI, threads: ts_grpc.ThreadServiceStub) -> None:
    made = openai.beta.threads.create(
        metadata={"a": "1"}, tool_resources={"file_search": {"vector_store_ids": ["vs_abc"]}}
    )
    t = threads.Get(ts.GetThreadRequest(thread_id=made.id))
    assert t.id == made.id
    assert t.folder_id == "default"
    assert t.name == "" and t.description == ""
    assert dict(t.labels) == made.metadata
    assert t.created_at.seconds == made.created_at
    assert t.expiration_config.expiration_policy == common_pb2.ExpirationConfig.SINCE_LAST_ACTIVE
    assert t.expiration_config.ttl_days == 7
    assert [tool.WhichOneof("ToolType") for tool in t.tools] == ["search_index"]
    assert list(t.tools[0].search_index.search_index_ids) == ["vs_abc"]

    u = threads.Update(
        ts.UpdateThreadRequest(
            thread_id=made.id,
            update_mask=field_mask_pb2.FieldMask(paths=["labels", "name"]),
            labels={"b": "2"},
            name="n",
        )
    )
    assert dict(u.labels) == {"b": "2"}
    again = openai.beta.threads.retrieve(made.id)
    assert again.metadata == {"b": "2"}

    threads.Delete(ts.DeleteThreadRequest(thread_id=made.id))
    with pytest.raises(openai_module.NotFoundError):
        openai.beta.threads.retrieve(made.id)


def test_grpc_created_thread_over_rest(openai: OpenAI, threads: ts_grpc.ThreadServiceStub) -> None:
    search = tools_pb2.Tool(
        search_index=tools_pb2.SearchIndexTool(
            search_index_ids=["idx_1"], max_num_results=wrappers_pb2.Int64Value(value=4)
        )
    )
    function = tools_pb2.Tool(function=tools_pb2.FunctionTool(name="weather", description="d"))
    made = threads.Create(
        ts.CreateThreadRequest(
            folder_id="b1gfolder", name="kept", labels={"x": "y"}, tools=[function, search]
        )
    )
    got = openai.beta.threads.retrieve(made.id)
    assert got.metadata == {"x": "y"}
    assert got.created_at == made.created_at.seconds
    assert got.tool_resources is not None and got.tool_resources.file_search is not None
    assert got.tool_resources.file_search.vector_store_ids == ["idx_1"]

    changed = openai.beta.threads.update(
        made.id, metadata={"z": "w"}, tool_resources={"file_search": {"vector_store_ids": ["idx_2"]}}
    )
    assert changed.metadata == {"z": "w"}
    t = threads.Get(ts.GetThreadRequest(thread_id=made.id))
    assert t.name == "kept" and dict(t.labels) == {"z": "w"}
    # the function tool and the search tool's other settings survive an OpenAI-side change
    assert [tool.WhichOneof("ToolType") for tool in t.tools] == ["function", "search_index"]
    assert t.tools[0] == function
    assert list(t.tools[1].search_index.search_index_ids) == ["idx_2"]
    assert t.tools[1].search_index.max_num_results.value == 4
    assert t.updated_at.ToDatetime() >= made.updated_at.ToDatetime()

    openai.beta.threads.delete(made.id)
    with pytest.raises(grpc.RpcError) as info:
        threads.Get(ts.GetThreadRequest(thread_id=made.id))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
