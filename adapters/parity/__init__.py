"""``threadgate parity``: replay a scenario through each face of a running server and
compare what every face reads back (docs/operations.md, "Parity in CI").

A client only: it speaks to the server over its wire protocols (httpx for the HTTP faces,
our generated stubs for gRPC) and imports nothing of the server.  ``scenario``,
``losses``, ``compare`` and ``report`` load neither grpc nor protobuf; only
``yandex_grpc`` does, and only when the gRPC face is selected.
"""
