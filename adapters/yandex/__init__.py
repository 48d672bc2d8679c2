"""The Yandex vocabulary: the AI Assistants thread protos, converters and status table.

Served over gRPC now, and as REST transcoding next, from the same protobuf messages.
"""
