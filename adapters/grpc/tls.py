"""gRPC server credentials from ``adapters.tls``: the same certificate as REST, reloaded.

``grpc.dynamic_ssl_server_credentials`` asks its fetcher before every new handshake;
the fetcher answers None (keep the current certificate) except once after each reload,
when it hands over the new one.  Connections already open keep theirs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import cast

import grpc

from adapters.tls import ServerTls, TlsMaterial


def certificate_configuration(material: TlsMaterial) -> grpc.ServerCertificateConfiguration:
    return grpc.ssl_server_certificate_configuration(
        [(material.key, material.cert_chain)], root_certificates=material.client_ca
    )


class _Fetcher:
    """The configuration gRPC should switch to at its next handshake, if any."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # gRPC may call from a thread of its own
        self._pending: grpc.ServerCertificateConfiguration | None = None

    def offer(self, material: TlsMaterial) -> None:
        config = certificate_configuration(material)
        with self._lock:
            self._pending = config

    def __call__(self) -> grpc.ServerCertificateConfiguration | None:
        with self._lock:
            config, self._pending = self._pending, None
        return config


def server_credentials(tls: ServerTls) -> grpc.ServerCredentials:
    """Credentials serving ``tls``'s certificate, and each reloaded one to new connections;
    with a client CA, a client certificate that chains to it is required."""
    fetcher = _Fetcher()
    tls.on_reload(fetcher.offer)
    return grpc.dynamic_ssl_server_credentials(
        certificate_configuration(tls.material),
        # the stub says the fetcher must return a configuration; gRPC documents None as
        # "no change", which is what it answers almost always
        cast("Callable[[], grpc.ServerCertificateConfiguration]", fetcher),
        require_client_authentication=tls.requires_client_certificate,
    )
