"""yandex-ai-studio-sdk 0.22.0's sdk.threads against a running threadgate."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import grpc
import pytest
from yandex_ai_studio_sdk import AIStudio
from yandex_ai_studio_sdk.auth import APIKeyAuth

from testkit.server import Server


@pytest.fixture
def sdk(server: Server) -> Iterator[AIStudio]:
    yield AIStudio(
        folder_id="b1g-sdk-folder",
        endpoint=None,
        service_map={"ai-assistants": server.grpc_target},
        verify=False,
        auth=APIKeyAuth(server.api_key),
    )


def test_threads_lifecycle(sdk: AIStudio) -> None:
    thread = sdk.threads.create(name="chat", labels={"app": "demo"})
    assert thread.name == "chat" and thread.labels == {"app": "demo"}
    assert thread.expiration_config.ttl_days == 7
    assert str(thread.expiration_config.expiration_policy).lower().endswith("since_last_active")
    assert thread.expires_at - thread.created_at == timedelta(days=7)

    got = sdk.threads.get(thread.id)
    assert got.id == thread.id and got.name == "chat"

    thread.update(name="renamed", ttl_days=3)
    assert thread.name == "renamed" and thread.expiration_config.ttl_days == 3
    thread.update(expiration_policy="static")
    assert str(thread.expiration_config.expiration_policy).lower().endswith("static")

    thread.delete()
    with pytest.raises(grpc.RpcError) as info:
        sdk.threads.get(thread.id)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_static_expiration_on_create(sdk: AIStudio) -> None:
    thread = sdk.threads.create(ttl_days=1, expiration_policy="static")
    assert thread.expires_at - thread.created_at == timedelta(days=1)
    thread.delete()


def test_list_terminates_and_sees_everything(sdk: AIStudio) -> None:
    made = [sdk.threads.create(name=f"t{i}").id for i in range(5)]
    listed = [t.id for t in sdk.threads.list(page_size=2)]
    # newest first, nothing repeated, and the loop ended
    assert [i for i in listed if i in made] == list(reversed(made))
    assert len(listed) == len(set(listed))
    everything = [t.id for t in sdk.threads.list()]
    assert set(made) <= set(everything)
