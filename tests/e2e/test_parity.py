"""``threadgate parity`` against real servers, run as a subprocess (it loads our
generated gRPC stubs, which this process must not): the shipped scenarios agree on all
four faces, and a deliberately broken mapping is caught on that face and field only."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit.ports import free_port
from testkit.server import ROOT, TEST_FOLDERS, Server, create_key, serving, spawn

EXAMPLES = sorted(str(p) for p in (ROOT / "examples" / "parity").iterdir())
FACES = ["assistants", "conversations", "yandex-grpc", "yandex-rest"]
FOLDER = "b1g-cross"  # one of the tests' key's folders; every face creates there


def parity(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    flags = ["--base-url", server.origin, "--grpc-target", server.grpc_target, "--folder", FOLDER]
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli", "parity", *args, *flags],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "THREADGATE_API_KEY": server.api_key},
        timeout=300,
    )


def unexpected_readings(document: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(face, kind, field) of every unexpected reading."""
    return {
        (face, check["kind"], check["field"])
        for scenario in document["scenarios"]
        for run in scenario["runs"]
        for step in run["steps"]
        for check in step["checks"]
        for face, reading in check["faces"].items()
        if reading["verdict"] == "unexpected"
    }


def test_every_shipped_scenario_agrees_on_all_four_faces(server: Server, tmp_path: Path) -> None:
    report = tmp_path / "parity.json"
    done = parity(server, *EXAMPLES, "--json", str(report))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.rstrip().splitlines()[-1].startswith("OK: the faces agree but for documented losses")
    document = json.loads(report.read_text())
    assert document["ok"] is True
    assert [s["path"] for s in document["scenarios"]] == EXAMPLES
    for scenario in document["scenarios"]:
        assert scenario["faces"] == FACES and scenario["ok"] is True
        assert [run["writer"] for run in scenario["runs"]] == FACES
        assert scenario["counts"]["unexpected"] == 0 and scenario["counts"]["equal"] > 0
        for run in scenario["runs"]:
            for step in run["steps"]:
                assert set(step) == {"step", "op", "thread", "line", "checks"}
                for check in step["checks"]:
                    assert set(check["faces"]) == set(FACES), check
    # a documented loss is reported as such, with its reason
    name = next(
        c
        for c in document["scenarios"][0]["runs"][0]["steps"][0]["checks"]
        if (c["object"], c["field"]) == ("thread chat", "name")
    )
    assert name["faces"]["assistants"]["verdict"] == "expected-loss"
    assert "no name" in name["faces"]["assistants"]["why"]
    assert name["faces"]["yandex-grpc"]["value"] == ""  # written through Assistants: no name


def test_json_on_stdout_for_chosen_faces(server: Server) -> None:
    done = parity(server, EXAMPLES[0], "--faces", "yandex-rest,conversations", "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    (scenario,) = json.loads(done.stdout)["scenarios"]
    assert scenario["faces"] == ["yandex-rest", "conversations"]
    assert [run["writer"] for run in scenario["runs"]] == ["yandex-rest", "conversations"]


def test_a_server_that_cannot_be_reached_exits_2_without_a_traceback(server: Server) -> None:
    gone = f"127.0.0.1:{free_port()}"
    done = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "parity", EXAMPLES[0], "--base-url", f"http://{gone}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "THREADGATE_API_KEY": "tgk_x", "THREADGATE_GRPC_TARGET": gone},
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("threadgate: cannot run ") and "Traceback" not in done.stderr
    wrong_key = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "parity", EXAMPLES[0], "--base-url", server.origin],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "THREADGATE_API_KEY": "tgk_wrong"},
        timeout=120,
    )
    assert wrong_key.returncode == 2 and "refused the key" in wrong_key.stderr, wrong_key.stderr


@pytest.fixture
def broken_server(tmp_path: Path) -> Iterator[Server]:
    """A server whose Assistants face drops a thread's last metadata pair."""
    data = tmp_path / "data"
    token = create_key(data, TEST_FOLDERS)
    rest_port, grpc_port = free_port(), free_port()
    cmd = [sys.executable, "-m", "tests.e2e.broken_mapping", "serve", "--data-dir", str(data)]
    cmd += ["--rest-port", str(rest_port), "--grpc-port", str(grpc_port)]
    started = spawn(cmd, rest_port=rest_port, grpc_port=grpc_port, data_dir=data, name="broken threadgate")
    started.api_key = token
    with serving(started) as s:
        yield s


def test_an_injected_mapping_bug_is_caught_on_that_face_and_field_only(
    broken_server: Server, tmp_path: Path
) -> None:
    report = tmp_path / "parity.json"
    done = parity(
        broken_server, str(ROOT / "examples" / "parity" / "basic-thread.yaml"), "--json", str(report)
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.rstrip().splitlines()[-1].startswith("FAIL: unexpected differences")
    assert "thread chat labels on assistants: differs from the scenario" in done.stdout
    document = json.loads(report.read_text())
    assert document["ok"] is False
    assert unexpected_readings(document) == {("assistants", "thread", "labels")}
    labels = next(
        c
        for c in document["scenarios"][0]["runs"][0]["steps"][0]["checks"]
        if (c["object"], c["field"]) == ("thread chat", "labels")
    )
    assert labels["expected"] == {"team": "support", "tier": "gold"}
    assert labels["faces"]["assistants"]["value"] == {"team": "support"}
    assert labels["faces"]["yandex-grpc"]["verdict"] == "equal"
