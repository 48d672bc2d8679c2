"""The Yandex REST face: the JSON transcoding of ThreadService and MessageService at
``/assistants/v1``, over the same operations and protobuf messages as the gRPC face.

Loads no grpc (a contract in pyproject.toml): the composition root mounts it on the HTTP
host (``app.yandex_rest_mount``).
"""
