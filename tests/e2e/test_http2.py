"""HTTP/2 on the REST port (prior-knowledge h2c here; TLS offers it by ALPN too)."""

from __future__ import annotations

import httpx

from testkit.server import Server


def test_an_early_answer_over_http2_keeps_the_connection(server: Server) -> None:
    """A 401 sent before the request body arrived used to kill the whole HTTP/2
    connection (Hypercorn's KeyError on the body's DATA frames)."""
    with httpx.Client(http2=True, http1=False) as http:
        for _ in range(3):
            refused = http.post(f"{server.base_url}/threads", json={"metadata": {"k": "v" * 500}})
            assert refused.status_code == 401 and refused.http_version == "HTTP/2"
        answered = http.post(f"{server.base_url}/threads", headers=server.auth_headers, json={})
        assert answered.status_code == 200 and answered.http_version == "HTTP/2"
    assert "KeyError" not in server.log() and "Traceback" not in server.log()
