"""The HTTP host: one Starlette app that mounts every HTTP face, plus operations routes.

Faces are mounted under their own prefix (``/v1``: the OpenAI face) and render their own
errors; the host adds ``/health``, ``/ready``, ``/metrics`` and ``/openapi.json`` and
wraps everything in the request observer (request ids, metrics, one log line each).
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Mount, Route

from adapters.http.observer import ASGIApp, RequestObserver
from adapters.http.operations import Operations
from adapters.observability import Metrics
from adapters.openai.app import http_error, openai_app
from adapters.openai.limits import BodyLimits
from adapters.openai.requests import RestOptions
from core.services import Core


def build_app(core: Core, options: RestOptions | None = None, metrics: Metrics | None = None) -> ASGIApp:
    """Every HTTP face and the operations routes, observed."""
    metrics = metrics or Metrics()
    options = options or RestOptions()
    ops = Operations(core, metrics)
    face = openai_app(core, options)
    routes: list[Any] = [
        Route("/openapi.json", ops.openapi, methods=["GET"]),
        Route("/metrics", ops.metrics, methods=["GET"]),
        Route("/health", ops.health, methods=["GET"]),
        Route("/ready", ops.ready, methods=["GET"]),
        Mount("/v1", app=face),
    ]
    # a path no face serves gets the OpenAI-shaped 404 the docs promise; no redirects at
    # all (a trailing slash answered 307 with a Location built from the client's Host)
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    app.router.redirect_slashes = False
    return RequestObserver(BodyLimits(app, options.max_body_bytes, options.body_timeout), metrics)
