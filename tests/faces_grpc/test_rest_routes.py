"""The Yandex REST face's route table is the protos' google.api.http options, and the
face (like the HTTP host) loads no grpc."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import message_service_pb2 as ms
from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from adapters.yandex.rest.routes import ROUTES, annotated
from tests.faces_grpc.rest_harness import RestFace

ROOT = Path(__file__).resolve().parents[2]


def test_the_route_table_is_what_the_protos_annotate() -> None:
    services = [
        ts.DESCRIPTOR.services_by_name["ThreadService"],
        ms.DESCRIPTOR.services_by_name["MessageService"],
    ]
    assert annotated(services) == set(ROUTES)
    assert len(ROUTES) == 8


def loaded(module: str) -> set[str]:
    """The top-level packages a fresh interpreter holds after importing ``module``."""
    code = f"import sys, {module}; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(run.stdout.split())


def test_the_rest_face_loads_no_grpc_and_the_host_no_protobuf() -> None:
    assert not loaded("adapters.yandex.rest.app") & {"grpc", "grpc_status", "grpc_health", "grpc_reflection"}
    assert not loaded("adapters.http.app") & {"grpc", "google", "yandex"}


async def test_the_openai_face_keeps_v1_and_its_own_error_shape(rest: RestFace) -> None:
    """Both faces on one host, over one store: the same thread, two shapes."""
    openai = {"Authorization": f"Bearer {rest.token}", "OpenAI-Beta": "assistants=v2"}
    r = await rest.client.get("http://face/v1/threads/nope", headers=openai)
    assert r.status_code == 404 and set(r.json()) == {"error"} and "x-server-trace-id" not in r.headers
    r = await rest.client.get("http://face/nothing")
    assert r.status_code == 404 and set(r.json()) == {"error"}  # outside both faces: the host's 404
    t = await rest.thread()
    got = await rest.client.get(f"http://face/v1/threads/{t['id']}", headers=openai)
    assert got.status_code == 200 and got.json()["id"] == t["id"]
