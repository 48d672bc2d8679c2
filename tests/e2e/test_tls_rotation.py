"""Certificate rotation without a restart, under live clients: after SIGHUP (or once the
files change) new connections are shown the new certificate, and connections opened
before it keep working.

The new certificate comes from another CA, so the clients opened before the rotation,
which trust only the first CA, prove by working that they still use their old
connections: a new connection would fail verification.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2_grpc as ts_grpc

from testkit.server import AuthInterceptor, Server, running_server
from tests.certs import Issued, Pki, make_pki, presented_serial, trusting

RELOADED = "TLS certificate reloaded"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def live(tmp_path: Path, pki: Pki) -> Issued:
    """The files the server is pointed at, holding the first CA's certificate."""
    files = Issued(tmp_path / "tls" / "server.crt", tmp_path / "tls" / "server.key")
    files.cert.parent.mkdir()
    shutil.copyfile(pki.server.cert, files.cert)
    shutil.copyfile(pki.server.key, files.key)
    return files


def tls_args(files: Issued, *more: str) -> tuple[str, ...]:
    return ("--tls-cert", str(files.cert), "--tls-key", str(files.key), *more)


def replace(path: Path, source: Path) -> None:
    """Swap ``path`` for a copy of ``source`` in one rename, as deployment tools do."""
    staged = path.with_name(f".{path.name}.new")
    shutil.copyfile(source, staged)
    os.replace(staged, path)


def wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def channel(server: Server, root: Path) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(root.read_bytes())
    return grpc.intercept_channel(
        grpc.secure_channel(server.grpc_target, credentials), AuthInterceptor(server.api_key)
    )


def create_thread(ch: grpc.Channel) -> None:
    ts_grpc.ThreadServiceStub(ch).Create(ts.CreateThreadRequest(folder_id="b1gfolder"), timeout=10)


def serials(server: Server, ca: Path) -> tuple[int, int]:
    return presented_serial(server.rest_port, ca), presented_serial(server.grpc_port, ca)


@pytest.fixture
def sighup_server(tmp_path: Path, live: Issued) -> Iterator[Server]:
    # no file watching: only the signal reloads
    with running_server(tmp_path / "data", *tls_args(live, "--tls-watch-interval", "0")) as server:
        yield server


def test_sighup_rotates_under_live_clients(sighup_server: Server, live: Issued, pki: Pki) -> None:
    server = sighup_server
    assert serials(server, pki.ca.cert) == (pki.server.serial, pki.server.serial)
    old = trusting(pki.ca.cert)
    with (
        httpx.Client(base_url=server.base_url, headers=server.auth_headers, verify=old) as http11,
        httpx.Client(base_url=server.base_url, headers=server.auth_headers, verify=old, http2=True) as http2,
        channel(server, pki.ca.cert) as grpc_old,
    ):
        for client in (http11, http2):
            assert client.post("/threads").status_code == 200
        create_thread(grpc_old)

        shutil.copyfile(pki.other_server.cert, live.cert)
        shutil.copyfile(pki.other_server.key, live.key)
        server.process.send_signal(signal.SIGHUP)
        wait_for(lambda: RELOADED in server.log())

        # the connections opened before keep working (a new one would not verify)
        for client in (http11, http2):
            response = client.post("/threads")
            assert response.status_code == 200
        create_thread(grpc_old)
        # new connections see the new certificate, on both listeners
        assert serials(server, pki.other_ca.cert) == (pki.other_server.serial,) * 2
        with httpx.Client(verify=old) as stale, pytest.raises(httpx.ConnectError):
            stale.get(f"{server.origin}/health")
        with channel(server, pki.ca.cert) as grpc_stale, pytest.raises(grpc.RpcError) as info:
            create_thread(grpc_stale)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        with httpx.Client(verify=trusting(pki.other_ca.cert)) as fresh:
            assert fresh.get(f"{server.origin}/health").status_code == 200
        with channel(server, pki.other_ca.cert) as grpc_fresh:
            create_thread(grpc_fresh)
        # and the old ones still do
        assert http11.post("/threads").status_code == 200
        create_thread(grpc_old)


def test_a_half_done_rotation_is_refused_and_the_old_certificate_stays(
    sighup_server: Server, live: Issued, pki: Pki
) -> None:
    server = sighup_server
    shutil.copyfile(pki.other_server.cert, live.cert)  # the key is still the old one
    server.process.send_signal(signal.SIGHUP)
    wait_for(lambda: "TLS reload refused" in server.log())
    assert "does not match" in server.log()
    assert serials(server, pki.ca.cert) == (pki.server.serial,) * 2
    shutil.copyfile(pki.other_server.key, live.key)
    server.process.send_signal(signal.SIGHUP)
    wait_for(lambda: RELOADED in server.log())
    assert serials(server, pki.other_ca.cert) == (pki.other_server.serial,) * 2
    assert server.process.poll() is None


def test_a_file_change_rotates_without_a_signal(tmp_path: Path, live: Issued, pki: Pki) -> None:
    args = tls_args(live, "--tls-watch-interval", "0.2")
    with running_server(tmp_path / "data", *args) as server, channel(server, pki.ca.cert) as grpc_old:
        create_thread(grpc_old)
        # key first, then certificate: between the two the pair does not match,
        # and the watcher must wait for the second file rather than serve half
        replace(live.key, pki.other_server.key)
        replace(live.cert, pki.other_server.cert)
        wait_for(lambda: RELOADED in server.log())
        assert serials(server, pki.other_ca.cert) == (pki.other_server.serial,) * 2
        create_thread(grpc_old)


def test_sighup_reaches_every_worker(tmp_path: Path, live: Issued, pki: Pki) -> None:
    args = tls_args(live, "--workers", "2", "--tls-watch-interval", "0")
    with running_server(tmp_path / "data", *args) as server:
        assert server.scheme == "https"
        old = trusting(pki.ca.cert)
        with httpx.Client(base_url=server.base_url, headers=server.auth_headers, verify=old) as http:
            assert http.post("/threads").status_code == 200
            shutil.copyfile(pki.other_server.cert, live.cert)
            shutil.copyfile(pki.other_server.key, live.key)
            server.process.send_signal(signal.SIGHUP)
            wait_for(lambda: server.log().count(RELOADED) == 2)
            # new connections spread over both workers; every one is shown the new certificate
            for _ in range(12):
                assert serials(server, pki.other_ca.cert) == (pki.other_server.serial,) * 2
            assert http.post("/threads").status_code == 200
        assert server.process.poll() is None


def test_a_new_client_ca_replaces_the_old_on_both_ports(tmp_path: Path, live: Issued, pki: Pki) -> None:
    clients_ca = tmp_path / "tls" / "clients.crt"
    shutil.copyfile(pki.ca.cert, clients_ca)
    args = tls_args(live, "--tls-client-ca", str(clients_ca), "--tls-watch-interval", "0")

    def admitted(client: Issued) -> tuple[bool, bool]:
        """Does a new connection with ``client``'s certificate get through, REST and gRPC?"""
        with httpx.Client(verify=trusting(pki.ca.cert, client)) as http:
            try:
                rest = http.get(f"{server.origin}/health").status_code == 200
            except httpx.TransportError:
                rest = False
        credentials = grpc.ssl_channel_credentials(
            pki.ca.cert.read_bytes(), client.key.read_bytes(), client.cert.read_bytes()
        )
        ch = grpc.intercept_channel(
            grpc.secure_channel(server.grpc_target, credentials), AuthInterceptor(server.api_key)
        )
        with ch:
            try:
                create_thread(ch)
                rpc = True
            except grpc.RpcError:
                rpc = False
        return rest, rpc

    with running_server(tmp_path / "data", *args) as server:
        assert admitted(pki.client) == (True, True)
        assert admitted(pki.other_client) == (False, False)
        replace(clients_ca, pki.other_ca.cert)
        server.process.send_signal(signal.SIGHUP)
        wait_for(lambda: RELOADED in server.log())
        assert admitted(pki.other_client) == (True, True)
        assert admitted(pki.client) == (False, False)  # taken out of the file: no longer trusted
