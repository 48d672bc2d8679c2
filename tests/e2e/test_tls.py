"""TLS on both listeners, with real clients over real sockets and a CA made at test time:
the openai SDK, httpx over HTTP/2 and HTTP/1.1, yandexcloud's stubs and
yandex-ai-studio-sdk trusting that CA; clients without it refused; mTLS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import openai
import pytest
from openai import OpenAI
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2_grpc as ts_grpc
from yandex_ai_studio_sdk import AIStudio
from yandex_ai_studio_sdk.auth import APIKeyAuth

from testkit.server import AuthInterceptor, Server, running_server
from tests.certs import Issued, Pki, make_pki, presented_serial, trusting
from tests.e2e.conftest import text_value


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_server(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tls = ("--tls-cert", str(pki.server.cert), "--tls-key", str(pki.server.key))
    with running_server(tmp_path_factory.mktemp("data"), *tls) as server:
        yield server


@pytest.fixture(scope="module")
def mtls_server(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tls = ("--tls-cert", str(pki.server.cert), "--tls-key", str(pki.server.key))
    with running_server(tmp_path_factory.mktemp("data"), *tls, "--tls-client-ca", str(pki.ca.cert)) as server:
        yield server


def secure_channel(
    server: Server, root: Path | None, client: Issued | None = None, *, key: bool = True
) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=None if root is None else root.read_bytes(),
        private_key=None if client is None else client.key.read_bytes(),
        certificate_chain=None if client is None else client.cert.read_bytes(),
    )
    channel = grpc.secure_channel(server.grpc_target, credentials)
    return grpc.intercept_channel(channel, AuthInterceptor(server.api_key)) if key else channel


def create_and_get(channel: grpc.Channel, folder: str = "b1gfolder") -> None:
    stub = ts_grpc.ThreadServiceStub(channel)
    made = stub.Create(ts.CreateThreadRequest(folder_id=folder, name="over tls"), timeout=10)
    assert stub.Get(ts.GetThreadRequest(thread_id=made.id), timeout=10).name == "over tls"


def test_the_listening_line_says_https(tls_server: Server, mtls_server: Server) -> None:
    assert tls_server.scheme == "https" and tls_server.base_url.startswith("https://")
    assert "(TLS)" in tls_server.log() and "(mTLS)" in mtls_server.log()


@pytest.mark.parametrize("http_client", ["httpx", "DefaultHttpxClient"])
def test_openai_sdk_trusting_the_ca(tls_server: Server, pki: Pki, http_client: str) -> None:
    """openai 3.x runs on httpx2 (its DefaultHttpxClient) and still takes an httpx.Client,
    which its annotations no longer admit."""
    http: Any = (
        httpx.Client(verify=trusting(pki.ca.cert))
        if http_client == "httpx"
        else openai.DefaultHttpxClient(verify=trusting(pki.ca.cert))
    )
    with OpenAI(
        base_url=tls_server.base_url,
        api_key=tls_server.api_key,
        http_client=http,
        max_retries=0,
        _strict_response_validation=True,
    ) as client:
        thread = client.beta.threads.create(metadata={"over": "tls"})
        client.beta.threads.messages.create(thread.id, role="user", content="hello over TLS")
        listed = client.beta.threads.messages.list(thread.id)
        assert [text_value(m) for m in listed.data] == ["hello over TLS"]
        conversation = client.conversations.create(items=[{"role": "user", "content": "hi"}])
        assert client.conversations.retrieve(conversation.id).id == conversation.id


@pytest.mark.parametrize(("http2", "version"), [(True, "HTTP/2"), (False, "HTTP/1.1")])
def test_rest_speaks_http2_and_http11_by_alpn(
    tls_server: Server, pki: Pki, http2: bool, version: str
) -> None:
    with httpx.Client(
        base_url=tls_server.base_url,
        headers=tls_server.auth_headers,
        verify=trusting(pki.ca.cert),
        http2=http2,
    ) as http:
        for _ in range(3):  # several requests on the one connection
            response = http.post("/threads")
            assert response.status_code == 200, response.text
            assert response.http_version == version


def test_yandexcloud_stubs_over_a_secure_channel(tls_server: Server, pki: Pki) -> None:
    with secure_channel(tls_server, pki.ca.cert) as channel:
        create_and_get(channel)


def test_ai_studio_sdk_with_verify_the_ca_file(tls_server: Server, pki: Pki) -> None:
    sdk = AIStudio(
        folder_id="b1g-sdk-folder",
        endpoint=None,
        service_map={"ai-assistants": tls_server.grpc_target},
        verify=pki.ca.cert,
        auth=APIKeyAuth(tls_server.api_key),
    )
    thread = sdk.threads.create(name="verified")
    assert sdk.threads.get(thread.id).name == "verified"
    thread.delete()


def test_both_listeners_present_the_same_certificate(tls_server: Server, pki: Pki) -> None:
    assert (
        presented_serial(tls_server.rest_port, pki.ca.cert)
        == presented_serial(tls_server.grpc_port, pki.ca.cert)
        == pki.server.serial
    )


def test_clients_without_the_ca_are_refused(tls_server: Server, pki: Pki) -> None:
    with httpx.Client(verify=True) as system_roots, pytest.raises(httpx.ConnectError, match="CERTIFICATE"):
        system_roots.get(f"{tls_server.origin}/health")
    with httpx.Client(verify=trusting(pki.other_ca.cert)) as wrong_ca, pytest.raises(httpx.ConnectError):
        wrong_ca.get(f"{tls_server.origin}/health")
    no_ca = OpenAI(base_url=tls_server.base_url, api_key=tls_server.api_key, max_retries=0)
    with no_ca, pytest.raises(openai.APIConnectionError):
        no_ca.beta.threads.create()
    for root in (None, pki.other_ca.cert):  # the system's roots, another CA
        with secure_channel(tls_server, root) as channel, pytest.raises(grpc.RpcError) as info:
            create_and_get(channel)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_plain_text_clients_get_nothing(tls_server: Server) -> None:
    with httpx.Client() as plain, pytest.raises(httpx.TransportError):
        plain.get(f"http://127.0.0.1:{tls_server.rest_port}/health", timeout=10)
    with tls_server.channel() as channel, pytest.raises(grpc.RpcError) as info:
        create_and_get(channel)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    sdk = AIStudio(
        folder_id="b1g-sdk-folder",
        endpoint=None,
        service_map={"ai-assistants": tls_server.grpc_target},
        verify=False,  # the plain-text setup
        auth=APIKeyAuth(tls_server.api_key),
    )
    with pytest.raises(grpc.RpcError):
        sdk.threads.create(name="plain", timeout=1)


def test_mtls_admits_a_client_certificate_from_the_ca(mtls_server: Server, pki: Pki) -> None:
    with httpx.Client(
        base_url=mtls_server.base_url,
        headers=mtls_server.auth_headers,
        verify=trusting(pki.ca.cert, pki.client),
    ) as http:
        assert http.post("/threads").status_code == 200
    with secure_channel(mtls_server, pki.ca.cert, pki.client) as channel:
        create_and_get(channel)


def test_mtls_still_wants_the_api_key(mtls_server: Server, pki: Pki) -> None:
    """A client certificate authenticates the connection, not the caller."""
    with httpx.Client(verify=trusting(pki.ca.cert, pki.client), http2=True) as http:
        assert http.post(f"{mtls_server.base_url}/threads").status_code == 401
    with secure_channel(mtls_server, pki.ca.cert, pki.client, key=False) as channel:
        with pytest.raises(grpc.RpcError) as info:
            create_and_get(channel)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("client", ["none", "another CA's"])
def test_mtls_refuses_connections_without_a_good_client_certificate(
    mtls_server: Server, pki: Pki, client: str
) -> None:
    issued = None if client == "none" else pki.other_client
    for http2 in (False, True):
        with (
            httpx.Client(verify=trusting(pki.ca.cert, issued), http2=http2) as http,
            pytest.raises(httpx.TransportError),
        ):
            http.get(f"{mtls_server.origin}/health", timeout=10)
    with secure_channel(mtls_server, pki.ca.cert, issued) as channel, pytest.raises(grpc.RpcError) as info:
        create_and_get(channel)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_an_early_answer_over_http2_keeps_the_connection(tls_server: Server, pki: Pki) -> None:
    """What tests/e2e/test_http2.py checks over h2c, over TLS, where every h2 client gets
    HTTP/2 by ALPN."""
    with httpx.Client(verify=trusting(pki.ca.cert), http2=True) as http:
        for _ in range(3):
            refused = http.post(f"{tls_server.base_url}/threads", json={"metadata": {"k": "v" * 500}})
            assert refused.status_code == 401 and refused.http_version == "HTTP/2"
        answered = http.post(f"{tls_server.base_url}/threads", headers=tls_server.auth_headers, json={})
        assert answered.status_code == 200 and answered.http_version == "HTTP/2"
    assert "KeyError" not in tls_server.log() and "Traceback" not in tls_server.log()
