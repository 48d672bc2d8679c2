"""The HTTP host: one Starlette app that mounts the HTTP faces, with pure-ASGI middleware."""
