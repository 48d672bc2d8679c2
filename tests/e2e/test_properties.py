"""Property-based tests through the running server and the real clients."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from google.protobuf import field_mask_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2_grpc as ts_grpc

from testkit.server import Server

# valid text: what every face can carry (no lone surrogates: JSON and protobuf reject them) and
# the store keeps (no NUL, core/validation.py)
text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=30)
valid_labels = st.dictionaries(text, text, max_size=16)
SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def http(server: Server) -> Iterator[httpx.Client]:
    with server.http() as client:
        yield client


@pytest.fixture(scope="module")
def threads(server: Server) -> Iterator[ts_grpc.ThreadServiceStub]:
    channel = server.channel()
    yield ts_grpc.ThreadServiceStub(channel)
    channel.close()


@SETTINGS
@given(valid_labels)
def test_metadata_written_over_rest_is_the_labels_over_grpc(
    http: httpx.Client, threads: ts_grpc.ThreadServiceStub, labels: dict[str, str]
) -> None:
    r = http.post("/threads", json={"metadata": labels})
    assert r.status_code == 200, r.text
    t = threads.Get(ts.GetThreadRequest(thread_id=r.json()["id"]))
    assert dict(t.labels) == labels == r.json()["metadata"]


@SETTINGS
@given(valid_labels, text, text)
def test_labels_written_over_grpc_are_the_metadata_over_rest(
    http: httpx.Client,
    threads: ts_grpc.ThreadServiceStub,
    labels: dict[str, str],
    name: str,
    description: str,
) -> None:
    t = threads.Create(ts.CreateThreadRequest(folder_id="props", labels={"seed": "1"}, name=name))
    u = threads.Update(
        ts.UpdateThreadRequest(
            thread_id=t.id,
            update_mask=field_mask_pb2.FieldMask(paths=["labels", "description"]),
            labels=labels,
            description=description,
        )
    )
    assert (u.name, u.description, dict(u.labels)) == (name, description, labels)
    r = http.get(f"/threads/{t.id}")
    assert r.status_code == 200 and r.json()["metadata"] == labels


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)
bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "metadata": json_values,
            "messages": st.lists(
                st.fixed_dictionaries({}, optional={"role": json_values, "content": json_values}), max_size=3
            ),
            "tool_resources": json_values,
        },
    ),
)


@SETTINGS
@given(bodies)
def test_any_json_body_is_answered_without_a_server_error(http: httpx.Client, body: object) -> None:
    r = http.post("/threads", json=body)
    assert r.status_code in (200, 400), r.text
    data = r.json()
    if r.status_code == 400:
        assert set(data["error"]) == {"message", "type", "param", "code"}
    else:
        assert data["object"] == "thread"
