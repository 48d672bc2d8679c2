"""The OpenAPI document the server serves is the checked-in file, and documents every route."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
from starlette.routing import Mount, Route

from adapters.http.app import build_app
from adapters.storage.memory import InMemoryStore
from adapters.yandex.rest.routes import ROUTES
from core.clock import RandomIds, SystemClock
from core.services import Core
from testkit.server import ROOT, Server

OPENAPI_FILE = ROOT / "adapters" / "http" / "openapi.json"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def document() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(OPENAPI_FILE.read_bytes())
    return data


def starlette_routes(app: Any, prefix: str = "") -> list[tuple[str, Route]]:
    """The routes of the Starlette app with their full paths, under whatever middleware
    wraps it, the routes of mounted faces included."""
    seen = 0
    while not hasattr(app, "routes"):
        inner = getattr(app, "app", None) or getattr(app, "_app", None)
        assert inner is not None and seen < 10, f"cannot find the Starlette app inside {app!r}"
        app, seen = inner, seen + 1
    found: list[tuple[str, Route]] = []
    for r in app.routes:
        if isinstance(r, Mount):
            found += starlette_routes(r.app, prefix + r.path)
        else:
            assert isinstance(r, Route), r
            found.append((prefix + r.path, r))
    return found


def app_operations() -> set[tuple[str, str]]:
    clock = SystemClock()
    core = Core(InMemoryStore(), clock, RandomIds())
    operations = set()
    for path, route in starlette_routes(build_app(core)):
        assert route.methods, path
        operations |= {(m.upper(), path) for m in route.methods if m.upper() != "HEAD"}
    # serve.py mounts the Yandex REST face too; its app imports our generated modules, which
    # this process must not (tests/conftest.py), so its routes come from its route table
    # (tests/faces_grpc/test_rest_routes.py checks that table against the protos)
    return operations | {(r.method, r.path) for r in ROUTES}


def documented_operations(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def get_soon(url: str, timeout: float = 15) -> httpx.Response:
    """GET, retrying refused connections: ``serve`` says "listening" a moment before it listens."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=30)
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_served_document_is_the_checked_in_file(server: Server) -> None:
    root = server.base_url.removesuffix("/v1")
    response = get_soon(f"{root}/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == "application/json"
    assert response.content == OPENAPI_FILE.read_bytes()
    assert response.json() == document()


def test_document_is_openapi_3_1() -> None:
    doc = document()
    assert doc["openapi"].startswith("3.1.")
    operation_ids = [
        op["operationId"]
        for item in doc["paths"].values()
        for method, op in item.items()
        if method in HTTP_METHODS
    ]
    assert len(operation_ids) == len(set(operation_ids)), operation_ids


def test_every_route_is_documented_and_every_documented_operation_exists() -> None:
    routes = app_operations()
    documented = documented_operations(document())
    assert routes - documented == set(), "routes missing from adapters/http/openapi.json"
    assert documented - routes == set(), "documented operations the app does not serve"


def test_v1_operations_need_the_key_and_only_threads_the_beta_header() -> None:
    doc = document()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            refs = [p.get("$ref") for p in op.get("parameters", [])]
            if path.startswith("/v1/"):
                assert op["security"] == [{"bearer": []}], (method, path)
                # the Assistants API wanted the header; Conversations clients never send it
                needs_beta = path.startswith("/v1/threads")
                assert ("#/components/parameters/OpenAIBeta" in refs) is needs_beta, (method, path)
            elif path.startswith("/assistants/v1/"):  # Yandex REST: Bearer or Api-Key, no beta
                assert op["security"] == [{"bearer": []}, {"yandexApiKey": []}], (method, path)
                assert "#/components/parameters/OpenAIBeta" not in refs, (method, path)
            else:
                assert op["security"] == [], (method, path)


def test_links_name_existing_operations() -> None:
    doc = document()
    operations = {
        op["operationId"]: op
        for item in doc["paths"].values()
        for method, op in item.items()
        if method in HTTP_METHODS
    }
    path_params_of = {}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                path_params_of[op["operationId"]] = {
                    part[1:-1] for part in Path(path).parts if part.startswith("{")
                }
    links = 0
    for op in operations.values():
        for response in op["responses"].values():
            for link in response.get("links", {}).values():
                links += 1
                target = link["operationId"]
                assert target in operations, target
                assert path_params_of[target] <= set(link.get("parameters", {})), link
    assert links >= 8
