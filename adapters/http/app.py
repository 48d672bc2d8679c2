"""The HTTP host: one Starlette app that mounts every HTTP face, plus operations routes.

Faces are mounted under their own prefix (``/v1``: the OpenAI face; others, such as the
Yandex REST face at ``/assistants/v1``, are handed in by the composition root as
``mounts``, so this host never imports them) and render their own errors; each face
brings its own body limits.  The host adds ``/health``, ``/ready``, ``/metrics`` and
``/openapi.json`` and wraps everything in the request observer (request ids, metrics, one
log line each).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from adapters.http.observer import RequestObserver
from adapters.http.operations import Operations
from adapters.observability import Metrics
from adapters.openai.app import http_error, openai_app
from adapters.openai.limits import openai_limits
from adapters.openai.requests import RestOptions
from core.services import Core


def build_app(
    core: Core,
    options: RestOptions | None = None,
    metrics: Metrics | None = None,
    mounts: Sequence[BaseRoute] = (),
) -> ASGIApp:
    """Every HTTP face and the operations routes, observed.  ``mounts``: more faces, each
    under a prefix of its own (the OpenAI face has ``/v1``)."""
    metrics = metrics or Metrics()
    options = options or RestOptions()
    ops = Operations(core, metrics)
    face = openai_limits(openai_app(core, options), options.max_body_bytes, options.body_timeout)
    routes: list[BaseRoute] = [
        Route("/openapi.json", ops.openapi, methods=["GET"]),
        Route("/metrics", ops.metrics, methods=["GET"]),
        Route("/health", ops.health, methods=["GET"]),
        Route("/ready", ops.ready, methods=["GET"]),
        Mount("/v1", app=face),
        *mounts,
    ]
    # a path no face serves gets the OpenAI-shaped 404 the docs promise; no redirects at
    # all (a trailing slash answered 307 with a Location built from the client's Host)
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    app.router.redirect_slashes = False
    return RequestObserver(app, metrics)
