from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from openai import OpenAI
from openai.types.beta.threads import Message, TextContentBlock
from openai.types.conversations import Message as ItemMessage
from openai.types.responses import ResponseInputText, ResponseOutputText
from yandex.cloud.ai.assistants.v1.threads import message_service_pb2_grpc as ms_grpc
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2_grpc as ts_grpc

from testkit.server import Server, running_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the session, on the embedded SQLite default."""
    with running_server(tmp_path_factory.mktemp("data")) as s:
        yield s


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[Server]:
    with running_server(tmp_path / "data") as s:
        yield s


def openai_client(server: Server, api_key: str | None = None) -> OpenAI:
    """The official client as users configure it, with strict response validation on."""
    return OpenAI(
        base_url=server.base_url,
        api_key=api_key or server.api_key,
        max_retries=0,
        _strict_response_validation=True,
    )


def item_text(item: object, index: int = 0) -> str:
    """The text of a Conversations message item's part (``input_text`` or ``output_text``)."""
    assert isinstance(item, ItemMessage), item
    part = item.content[index]
    assert isinstance(part, ResponseInputText | ResponseOutputText), part
    return part.text


def item_id(item: object) -> str:
    """A stored item's id: always set by this server."""
    found = getattr(item, "id", None)
    assert isinstance(found, str) and found, item
    return found


def text_value(message: Message) -> str:
    """The text of an SDK message whose first content block is text."""
    block = message.content[0]
    assert isinstance(block, TextContentBlock), block
    return block.text.value


@pytest.fixture
def openai(server: Server) -> Iterator[OpenAI]:
    with openai_client(server) as client:
        yield client


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    """Raw HTTP on the REST base URL, with the server's first key."""
    with server.http() as client:
        yield client


@pytest.fixture
def yandex_rest(server: Server) -> Iterator[httpx.Client]:
    """Plain HTTP on the Yandex REST face (``/assistants/v1``), with the first key as ``Api-Key``."""
    with server.yandex_http() as client:
        yield client


@pytest.fixture
def threads(channel: grpc.Channel) -> ts_grpc.ThreadServiceStub:
    return ts_grpc.ThreadServiceStub(channel)


@pytest.fixture
def messages(channel: grpc.Channel) -> ms_grpc.MessageServiceStub:
    return ms_grpc.MessageServiceStub(channel)


@pytest.fixture
def channel(server: Server) -> Iterator[grpc.Channel]:
    """A channel whose calls carry the server's first (admin) key."""
    ch = server.channel()
    try:
        yield ch
    finally:
        ch.close()
