"""Fixtures for the REST fuzz tests: a server of their own, and the schema schemathesis reads from it."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from schemathesis.config._checks import NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES as REJECTED
from schemathesis.specs.openapi.schemas import OpenApiSchema

from testkit.server import Server, running_server

# Examples per operation and phase: the default keeps the REST fuzz run near a minute; set
# THREADGATE_REST_FUZZ_EXAMPLES (e.g. 1000) for a deeper run by hand.
REST_FUZZ_MAX_EXAMPLES = int(os.environ.get("THREADGATE_REST_FUZZ_EXAMPLES", "80"))

# The schemathesis checks every REST answer must pass, in single calls and in linked chains.
REST_CHECKS = (
    "not_a_server_error",  # no 5xx, ever
    "status_code_conformance",  # every status the server answers is documented
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",  # a documented status has the documented body
    "missing_required_header",  # without OpenAI-Beta: 4xx
    "ignored_auth",  # without or with a bad key: 401
    "use_after_free",  # a deleted thread or message is gone for every operation
    "ensure_resource_availability",  # a created thread or message can be read at once
    "unsupported_method",  # a method a path does not serve: 405 with an Allow header
    "negative_data_rejection",  # a body that breaks the schema is refused
)
# Left out by design:
# - positive_data_acceptance: schema-valid requests are refused for reasons a schema cannot say
#   (unknown ids: 404; `after`/`before` naming no message of the thread: 400);
# - max_response_time, object_level_authorization, allow_header_conformance (405 only).


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/fuzz carries the ``fuzz`` marker (``-m "not fuzz"`` skips them)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.fuzz)


def wait_until_answering(url: str, timeout: float = 15) -> None:
    """``threadgate serve`` announces "listening" before the REST socket listens: poll /health first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


@pytest.fixture(scope="module")
def rest_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server per module, so the store checks see only what that module's fuzzing did.

    Stopping it asserts a clean exit and no traceback in its log (an unhandled
    error is logged with one, and answered with a 500).
    """
    with running_server(tmp_path_factory.mktemp("rest-fuzz") / "data") as s:
        wait_until_answering(f"{s.base_url.removesuffix('/v1')}/health")
        yield s


@pytest.fixture(scope="module")
def rest_root(rest_server: Server) -> str:
    """The server's root URL (``base_url`` ends in /v1; /health, /openapi.json sit above it)."""
    return rest_server.base_url.removesuffix("/v1")


@pytest.fixture(scope="module")
def api_schema(rest_server: Server, rest_root: str) -> OpenApiSchema:
    """The served /openapi.json, with the server's key for the ``bearer`` scheme."""
    config = schemathesis.Config.from_dict(
        {
            "base-url": rest_root,
            # the Yandex REST routes take either scheme
            "auth": {
                "openapi": {
                    "bearer": {"bearer": rest_server.api_key},
                    "yandexApiKey": {"api_key": f"Api-Key {rest_server.api_key}"},
                }
            },
            # derandomized in CI (one run per submission must not be a draw), random by hand
            "generation": {
                "max-examples": REST_FUZZ_MAX_EXAMPLES,
                "database": "none",
                "deterministic": bool(os.environ.get("CI")),
            },
            "checks": {
                "enabled": False,
                **{name: {"enabled": True} for name in REST_CHECKS},
                # an over-long body is refused before it is parsed: 413 is a rejection too
                "negative_data_rejection": {"expected-statuses": [*REJECTED, "413"]},
            },
            # chains follow the document's links (none inferred) with valid data; single calls
            # get invalid data as well
            "phases": {
                "stateful": {"generation": {"mode": "positive"}, "inference": {"algorithms": []}},
            },
            "request-timeout": 10,  # a hang fails the test
            "operations": [
                # a folder the key can write to: a random one is a 403, and nothing would chain
                {"include-operation-id": "createYandexThread", "parameters": {"body.folderId": "default"}},
                {"include-operation-id": "listYandexThreads", "parameters": {"folderId": "default"}},
                # newline-delimited JSON is no one JSON document; test_rest_fuzz.py checks every
                # line of every stored thread's stream against the document instead
                {
                    "include-operation-id": "listYandexMessages",
                    "checks": {"response_schema_conformance": {"enabled": False}},
                },
            ],
        }
    )
    return schemathesis.openapi.from_url(f"{rest_root}/openapi.json", config=config)
