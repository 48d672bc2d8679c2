"""TLS for both listeners: one certificate and key (and optionally a CA that client
certificates must chain to) read once, checked, and reloaded without a restart.

The files are read into memory together and checked as a whole before anything uses
them, so both listeners always serve the same bytes, and a half-finished rotation (a new
certificate beside the old key) is refused instead of served: at start that stops
``serve`` with one line; on a reload the old certificate stays.

* REST: :attr:`ServerTls.rest_context` is the ``ssl.SSLContext`` Hypercorn listens with.
  A reload makes a whole new context (certificate, key and client CA together), and the
  listening context's SNI callback, which OpenSSL calls at every ClientHello (with or
  without a server name), moves each new handshake onto the newest one.  Connections
  whose handshake is done keep what they negotiated.  (Loading the new chain into the
  listening context in place would do for the certificate, but a trust store can only
  grow: a client CA taken out of the file would stay trusted.)
* gRPC: ``adapters.grpc.tls`` asks :meth:`ServerTls.on_reload` for the new material and
  hands it to gRPC's certificate fetcher, which gRPC consults before each new handshake.

A reload happens on SIGHUP and, every ``--tls-watch-interval`` seconds, when one of the
files has changed (mtime, size or inode: a copy, a rename, or a Kubernetes secret's
symlink swap).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path

from attrs import frozen

log = logging.getLogger("threadgate.tls")

ALPN = ("h2", "http/1.1")
# Hypercorn's default: ECDHE key exchange with AES-GCM, as RFC 7540 (HTTP/2) asks of
# TLS 1.2.  TLS 1.3 suites are not affected by set_ciphers.
CIPHERS = "ECDHE+AESGCM"


class TlsError(Exception):
    """A certificate, key or CA that cannot be served; the message is one line."""


@frozen
class TlsFiles:
    cert: Path
    key: Path
    client_ca: Path | None = None


@frozen
class TlsMaterial:
    """The PEM bytes both listeners serve: the certificate chain, its key, and the CA
    (bundle) client certificates must chain to, when mTLS is on."""

    cert_chain: bytes
    key: bytes
    client_ca: bytes | None = None


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TlsError(f"cannot read the {what} {path}: {exc.strerror or exc}") from exc


def _no_password() -> bytes:
    raise TlsError("is encrypted; threadgate needs an unencrypted private key (PEM)")


def _load_certificates(ctx: ssl.SSLContext, pem: bytes, what: str, path: Path) -> None:
    """Certificates in ``pem`` (PEM text) into ``ctx``'s trust store: a check that they parse."""
    try:
        ctx.load_verify_locations(cadata=pem.decode("ascii"))
    except (UnicodeDecodeError, ValueError, ssl.SSLError) as exc:
        raise TlsError(f"the {what} {path} holds no PEM certificate that loads") from exc


def _load_chain(ctx: ssl.SSLContext, material: TlsMaterial) -> None:
    """``material``'s certificate chain and key into ``ctx``, from memory: an anonymous
    in-memory file where the platform has one (Linux), else a private temporary one."""
    pem = material.cert_chain.rstrip(b"\n") + b"\n" + material.key
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("threadgate-tls", os.MFD_CLOEXEC)
        try:
            with open(fd, "wb", closefd=False) as out:
                out.write(pem)
            ctx.load_cert_chain(f"/proc/self/fd/{fd}", password=_no_password)
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="threadgate-tls-") as directory:
        path = Path(directory, "chain.pem")
        path.touch(0o600)
        path.write_bytes(pem)
        ctx.load_cert_chain(path, password=_no_password)


def new_context(material: TlsMaterial) -> ssl.SSLContext:
    """A server context for ``material``: TLS 1.2 or later, ALPN ``h2`` then
    ``http/1.1``, no compression; with a client CA, a client certificate that chains to
    it is required (and only that CA is trusted: no system store)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_COMPRESSION
    ctx.set_ciphers(CIPHERS)
    ctx.set_alpn_protocols(list(ALPN))
    _load_chain(ctx, material)
    if material.client_ca is not None:
        ctx.load_verify_locations(cadata=material.client_ca.decode("ascii"))
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def read_material(files: TlsFiles) -> TlsMaterial:
    """Read and check the files: raises :class:`TlsError` with one line naming the file
    and what is wrong (unreadable, not a certificate, not a key, key and certificate do
    not match, CA not a certificate)."""
    material = TlsMaterial(
        _read(files.cert, "TLS certificate (--tls-cert)"),
        _read(files.key, "TLS key (--tls-key)"),
        None if files.client_ca is None else _read(files.client_ca, "client CA (--tls-client-ca)"),
    )
    scratch = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _load_certificates(scratch, material.cert_chain, "TLS certificate (--tls-cert)", files.cert)
    if material.client_ca is not None and files.client_ca is not None:
        _load_certificates(scratch, material.client_ca, "client CA (--tls-client-ca)", files.client_ca)
    try:
        _load_chain(scratch, material)
    except TlsError as exc:
        raise TlsError(f"the TLS key (--tls-key) {files.key} {exc}") from None
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise TlsError(
                f"the TLS key (--tls-key) {files.key} does not match the certificate {files.cert}"
            ) from exc
        raise TlsError(f"the TLS key (--tls-key) {files.key} does not load as a PEM private key") from exc
    return material


def _signature(files: TlsFiles) -> tuple[tuple[int, int, int] | None, ...]:
    """What changes when a file is rewritten, replaced or re-linked (None: unreadable)."""
    out: list[tuple[int, int, int] | None] = []
    for path in (files.cert, files.key, files.client_ca):
        if path is None:
            continue
        try:
            st = path.stat()
        except OSError:
            out.append(None)
        else:
            out.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


class ServerTls:
    """The TLS both listeners of one process serve, reloadable in place."""

    def __init__(self, files: TlsFiles) -> None:
        self.files = files
        self.material = read_material(files)
        self._signature = _signature(files)
        self.rest_context = new_context(self.material)
        self.rest_context.sni_callback = self._to_newest
        self._newest = self.rest_context
        self._listeners: list[Callable[[TlsMaterial], None]] = []
        self.reloads = 0

    def _to_newest(self, conn: ssl.SSLObject, server_name: str | None, ctx: ssl.SSLContext) -> None:
        if ctx is not self._newest:
            conn.context = self._newest

    @property
    def requires_client_certificate(self) -> bool:
        return self.material.client_ca is not None

    def on_reload(self, listener: Callable[[TlsMaterial], None]) -> None:
        """Call ``listener`` with the new material after each reload that changed it."""
        self._listeners.append(listener)

    def reload(self) -> bool:
        """Read the files again; serve them to new connections if they changed and are
        sound.  Never raises: a broken file is logged, and the current certificate stays."""
        self._signature = _signature(self.files)
        try:
            material = read_material(self.files)
        except TlsError as exc:
            log.warning("TLS reload refused, still serving the previous certificate: %s", exc)
            return False
        if material == self.material:
            return False
        try:
            newest = new_context(material)
        except (ssl.SSLError, TlsError) as exc:  # checked above; only a failing platform gets here
            log.error("TLS reload failed on the REST listener: %s", exc)
            return False
        self._newest = newest
        self.material = material
        for listener in self._listeners:
            listener(material)
        self.reloads += 1
        log.info("TLS certificate reloaded: new connections on both listeners use it")
        return True

    def changed(self) -> bool:
        return _signature(self.files) != self._signature

    async def watch(self, stop: asyncio.Event, interval: float) -> None:
        """Until ``stop``: every ``interval`` seconds, reload if a file changed (0: never)."""
        if interval <= 0:
            return
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
            if not stop.is_set() and self.changed():
                self.reload()


def server_tls(cert: Path | None, key: Path | None, client_ca: Path | None) -> ServerTls | None:
    """The TLS to serve, from the three settings: None when off.  Raises :class:`TlsError`
    on an incomplete combination or on files that cannot be served."""
    if cert is None and key is None:
        if client_ca is not None:
            raise TlsError("--tls-client-ca needs --tls-cert and --tls-key")
        return None
    if cert is None or key is None:
        raise TlsError("--tls-cert and --tls-key go together: give both, or neither")
    return ServerTls(TlsFiles(cert, key, client_ca))
