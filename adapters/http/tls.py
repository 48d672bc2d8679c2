"""Hypercorn serving TLS with the ``ssl.SSLContext`` of ``adapters.tls``.

Hypercorn makes its own context from file names once, when it starts serving; the
context here is made, checked and reloaded by ``adapters.tls.ServerTls``, and Hypercorn
is handed that very object, so a reload reaches the listener.  Hypercorn negotiates
HTTP/2 or HTTP/1.1 from the context's ALPN answer.
"""

from __future__ import annotations

import ssl

from hypercorn.config import Config

# seconds a new connection has to finish its TLS handshake (Hypercorn's default is 60)
HANDSHAKE_TIMEOUT = 10.0


class TlsConfig(Config):
    """Hypercorn's configuration, serving TLS with ``context``: the bind addresses
    become its secure sockets."""

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__()
        self._context = context
        self.ssl_handshake_timeout = HANDSHAKE_TIMEOUT

    @property
    def ssl_enabled(self) -> bool:
        return True

    def create_ssl_context(self) -> ssl.SSLContext:
        return self._context
