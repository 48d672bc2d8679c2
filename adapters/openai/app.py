"""The OpenAI face as one ASGI app: the Assistants threads and Conversations routes, and
OpenAI-shaped errors.

The HTTP host mounts it at ``/v1``; every error under it, from a bad body to an
unknown path, has OpenAI's envelope.
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Match, Route

from adapters.body_limits import BodyTimeout
from adapters.openai.conversations import ConversationEndpoints
from adapters.openai.errors import domain_error_response, error_response
from adapters.openai.limits import body_timed_out, client_gone
from adapters.openai.requests import BadRequest, RestOptions
from adapters.openai.threads import Endpoints
from core.errors import DomainError
from core.services import Core

log = logging.getLogger("threadgate.openai")


async def _bad_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BadRequest)
    # a body refused unread: close the connection rather than leave it half-read
    headers = {"connection": "close"} if exc.status == 413 else None
    return error_response(exc.status, exc.message, param=exc.param, code=exc.code, headers=headers)


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return domain_error_response(exc, getattr(request.state, "nouns", None))


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(404, f"Invalid URL ({request.method} {request.url.path})")
    if exc.status_code == 405:
        return error_response(
            405,
            f"Method not allowed ({request.method} {request.url.path})",
            headers={"allow": ", ".join(allowed_methods(request))},
        )
    return error_response(exc.status_code, str(exc.detail))


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves on this path (Starlette names only the first route's)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        for method in getattr(route, "methods", None) or ():
            match, _ = route.matches({**request.scope, "method": method})
            if match is Match.FULL:
                methods.add(method)
    return sorted(methods)


async def _crash(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error in %s %s", request.method, request.url.path)
    # The request may have committed: tell the SDK not to resend it.
    return error_response(500, "The server had an error while processing your request.", type_="server_error")


def openai_app(core: Core, options: RestOptions) -> Starlette:
    """The face's routes (relative to ``/v1``) with its own error handlers."""
    e = Endpoints(core, options)
    routes = [
        Route("/threads", e.create_thread, methods=["POST"]),
        Route("/threads/{thread_id}", e.get_thread, methods=["GET"]),
        Route("/threads/{thread_id}", e.modify_thread, methods=["POST"]),
        Route("/threads/{thread_id}", e.delete_thread, methods=["DELETE"]),
        Route("/threads/{thread_id}/messages", e.create_message, methods=["POST"]),
        Route("/threads/{thread_id}/messages", e.list_messages, methods=["GET"]),
        Route("/threads/{thread_id}/messages/{message_id}", e.get_message, methods=["GET"]),
        Route("/threads/{thread_id}/messages/{message_id}", e.modify_message, methods=["POST"]),
        Route("/threads/{thread_id}/messages/{message_id}", e.delete_message, methods=["DELETE"]),
    ]
    c = ConversationEndpoints(core, options)
    routes += [
        Route("/conversations", c.create_conversation, methods=["POST"]),
        Route("/conversations/{conversation_id}", c.get_conversation, methods=["GET"]),
        Route("/conversations/{conversation_id}", c.modify_conversation, methods=["POST"]),
        Route("/conversations/{conversation_id}", c.delete_conversation, methods=["DELETE"]),
        Route("/conversations/{conversation_id}/items", c.create_items, methods=["POST"]),
        Route("/conversations/{conversation_id}/items", c.list_items, methods=["GET"]),
        Route("/conversations/{conversation_id}/items/{item_id}", c.get_item, methods=["GET"]),
        Route("/conversations/{conversation_id}/items/{item_id}", c.delete_item, methods=["DELETE"]),
    ]
    app = Starlette(routes=routes, exception_handlers=EXCEPTION_HANDLERS)
    # a trailing slash would answer 307 with a Location built from the client's Host
    # header (an open redirect); such a path is an unknown URL instead
    app.router.redirect_slashes = False
    return app


EXCEPTION_HANDLERS = {
    BadRequest: _bad_request,
    BodyTimeout: body_timed_out,
    ClientDisconnect: client_gone,
    DomainError: _domain_error,
    HTTPException: http_error,
    Exception: _crash,
}
