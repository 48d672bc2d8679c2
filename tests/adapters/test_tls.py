"""adapters.tls in process: what a start refuses, and what a reload changes (handshakes
over memory BIOs stand in for connections)."""

from __future__ import annotations

import asyncio
import logging
import shutil
import ssl
from pathlib import Path

import pytest
from cryptography import x509

from adapters.tls import ServerTls, TlsError, TlsFiles, TlsMaterial, new_context, read_material, server_tls
from tests.certs import Issued, Pki, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def live(tmp_path: Path, pki: Pki) -> Issued:
    files = Issued(tmp_path / "server.crt", tmp_path / "server.key")
    shutil.copyfile(pki.server.cert, files.cert)
    shutil.copyfile(pki.server.key, files.key)
    return files


class Connection:
    """A TLS client and a server object of ``ctx`` joined by memory BIOs."""

    def __init__(
        self,
        ctx: ssl.SSLContext,
        ca: Path,
        client: Issued | None = None,
        server_hostname: str | None = "localhost",
    ) -> None:
        client_ctx = ssl.create_default_context(cafile=ca)
        client_ctx.check_hostname = server_hostname is not None
        client_ctx.set_alpn_protocols(["h2", "http/1.1"])
        if client is not None:
            client_ctx.load_cert_chain(client.cert, client.key)
        self._bios = [ssl.MemoryBIO() for _ in range(4)]
        c_in, c_out, s_in, s_out = self._bios
        self.client = client_ctx.wrap_bio(c_in, c_out, server_hostname=server_hostname)
        self.server = ctx.wrap_bio(s_in, s_out, server_side=True)

    def _pump(self) -> None:
        c_in, c_out, s_in, s_out = self._bios
        s_in.write(c_out.read())
        c_in.write(s_out.read())

    def handshake(self) -> int:
        """Complete the handshake (and, under TLS 1.3, the server's check of the client's
        certificate, which a first read surfaces); the serial the client was shown."""
        done = {self.client: False, self.server: False}
        for _ in range(10):
            for side in (self.client, self.server):
                if not done[side]:
                    try:
                        side.do_handshake()
                        done[side] = True
                    except ssl.SSLWantReadError:
                        pass
            self._pump()
            if all(done.values()):
                break
        self.exchange(b"ping")
        der = self.client.getpeercert(binary_form=True)
        assert der is not None
        return x509.load_der_x509_certificate(der).serial_number

    def exchange(self, data: bytes) -> bytes:
        self.client.write(data)
        self._pump()
        got = self.server.read(1024)
        self.server.write(got)
        self._pump()
        return self.client.read(1024)


def test_a_server_context_offers_h2_then_http11(pki: Pki) -> None:
    ctx = new_context(read_material(TlsFiles(pki.server.cert, pki.server.key)))
    conn = Connection(ctx, pki.ca.cert)
    assert conn.handshake() == pki.server.serial
    assert conn.server.selected_alpn_protocol() == "h2"
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2 and ctx.options & ssl.OP_NO_COMPRESSION


def test_mtls_trusts_only_the_client_ca(pki: Pki) -> None:
    ctx = new_context(read_material(TlsFiles(pki.server.cert, pki.server.key, pki.ca.cert)))
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert len(ctx.get_ca_certs()) == 1  # no system store: a public CA's client is a stranger
    assert Connection(ctx, pki.ca.cert, pki.client).handshake() == pki.server.serial
    for client in (None, pki.other_client):
        with pytest.raises(ssl.SSLError):
            Connection(ctx, pki.ca.cert, client).handshake()


def test_tls_is_off_without_files_and_both_go_together(pki: Pki) -> None:
    assert server_tls(None, None, None) is None
    with pytest.raises(TlsError, match="go together"):
        server_tls(pki.server.cert, None, None)
    with pytest.raises(TlsError, match="go together"):
        server_tls(None, pki.server.key, None)
    with pytest.raises(TlsError, match="--tls-client-ca needs"):
        server_tls(None, None, pki.ca.cert)


def test_material_is_read_once_for_both_listeners(pki: Pki) -> None:
    tls = server_tls(pki.server.cert, pki.server.key, pki.ca.cert)
    assert tls is not None and tls.requires_client_certificate
    assert tls.material == TlsMaterial(
        pki.server.cert.read_bytes(), pki.server.key.read_bytes(), pki.ca.cert.read_bytes()
    )


def test_reload_serves_new_handshakes_and_leaves_open_connections(live: Issued, pki: Pki) -> None:
    tls = ServerTls(TlsFiles(live.cert, live.key))
    seen: list[TlsMaterial] = []
    tls.on_reload(seen.append)
    before = Connection(tls.rest_context, pki.ca.cert)
    assert before.handshake() == pki.server.serial
    assert not tls.reload() and not seen  # nothing changed

    shutil.copyfile(pki.other_server.cert, live.cert)
    shutil.copyfile(pki.other_server.key, live.key)
    assert tls.reload()
    assert seen == [tls.material] and tls.material.cert_chain == pki.other_server.cert.read_bytes()
    after = Connection(tls.rest_context, pki.other_ca.cert)
    assert after.handshake() == pki.other_server.serial
    assert after.server.selected_alpn_protocol() == "h2"  # the new context negotiates as the first
    assert before.exchange(b"still here") == b"still here"  # the open connection is untouched
    assert tls.reloads == 1


def test_a_broken_rotation_keeps_the_old_certificate(
    live: Issued, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    tls = ServerTls(TlsFiles(live.cert, live.key))
    shutil.copyfile(pki.other_server.cert, live.cert)  # a new certificate beside the old key
    with caplog.at_level(logging.WARNING, "threadgate.tls"):
        assert not tls.reload()
    assert "TLS reload refused" in caplog.text and "does not match" in caplog.text
    assert tls.material.cert_chain == pki.server.cert.read_bytes()
    assert Connection(tls.rest_context, pki.ca.cert).handshake() == pki.server.serial
    live.key.unlink()
    assert not tls.reload()
    assert Connection(tls.rest_context, pki.ca.cert).handshake() == pki.server.serial


def test_a_reload_replaces_the_client_ca(live: Issued, pki: Pki, tmp_path: Path) -> None:
    """Replaced, not added to: a CA taken out of the file is no longer trusted."""
    ca = tmp_path / "clients.pem"
    shutil.copyfile(pki.ca.cert, ca)
    tls = ServerTls(TlsFiles(live.cert, live.key, ca))
    with pytest.raises(ssl.SSLError):
        Connection(tls.rest_context, pki.ca.cert, pki.other_client).handshake()
    shutil.copyfile(pki.other_ca.cert, ca)
    assert tls.reload()
    assert Connection(tls.rest_context, pki.ca.cert, pki.other_client).handshake() == pki.server.serial
    with pytest.raises(ssl.SSLError):
        Connection(tls.rest_context, pki.ca.cert, pki.client).handshake()
    # a bundle of both trusts both
    ca.write_bytes(pki.ca.cert.read_bytes() + pki.other_ca.cert.read_bytes())
    assert tls.reload()
    for client in (pki.client, pki.other_client):
        assert Connection(tls.rest_context, pki.ca.cert, client).handshake() == pki.server.serial


def test_a_client_that_sends_no_server_name_is_moved_too(live: Issued, pki: Pki) -> None:
    """Clients connecting to an IP address send no SNI; OpenSSL still calls the callback."""
    tls = ServerTls(TlsFiles(live.cert, live.key))
    shutil.copyfile(pki.other_server.cert, live.cert)
    shutil.copyfile(pki.other_server.key, live.key)
    assert tls.reload()
    conn = Connection(tls.rest_context, pki.other_ca.cert, server_hostname=None)
    assert conn.handshake() == pki.other_server.serial


async def test_watch_reloads_when_a_file_changes(live: Issued, pki: Pki) -> None:
    tls = ServerTls(TlsFiles(live.cert, live.key))
    stop = asyncio.Event()
    watching = asyncio.create_task(tls.watch(stop, 0.02))
    await asyncio.sleep(0.1)
    assert tls.reloads == 0  # unchanged files are not even read again
    shutil.copyfile(pki.other_server.key, live.key)
    shutil.copyfile(pki.other_server.cert, live.cert)
    for _ in range(100):
        if tls.reloads:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await watching
    assert tls.reloads == 1 and tls.material.key == pki.other_server.key.read_bytes()


async def test_watch_is_off_at_zero(live: Issued) -> None:
    tls = ServerTls(TlsFiles(live.cert, live.key))
    await asyncio.wait_for(tls.watch(asyncio.Event(), 0), 1)
