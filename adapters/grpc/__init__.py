"""The gRPC host: one grpc.aio server carrying the gRPC faces, health and reflection."""
