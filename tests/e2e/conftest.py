from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from openai import OpenAI

from tests.e2e.server import Server, running_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the session, on the embedded SQLite default."""
    with running_server(tmp_path_factory.mktemp("data")) as s:
        yield s


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[Server]:
    with running_server(tmp_path / "data") as s:
        yield s


def openai_client(server: Server) -> OpenAI:
    return OpenAI(
        base_url=server.base_url, api_key="sk-test", max_retries=0, _strict_response_validation=True
    )


@pytest.fixture
def openai(server: Server) -> Iterator[OpenAI]:
    with openai_client(server) as client:
        yield client


@pytest.fixture
def channel(server: Server) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.grpc_target) as ch:
        yield ch
