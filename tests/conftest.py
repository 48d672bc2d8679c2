from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs the suite once per submission: there, every property test draws the same
# examples each run (a failure is a real one, and reproducible); locally they explore.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# Our generated gRPC modules (adapters.yandex._gen) and yandexcloud's register the same
# protobuf names in the one descriptor pool, so no process may import both.  The main run
# drives the real clients (yandexcloud's stubs); the in-process gRPC tier uses ours, so it
# runs in a pytest process of its own: `pytest tests/faces_grpc` (the Makefile's check
# target runs both).  A run is that tier when every path it was given lies inside it; the
# main run never collects it.
GRPC_TIER = Path(__file__).resolve().parent / "faces_grpc"
_IN_GRPC_TIER = pytest.StashKey[bool]()


def _inside_grpc_tier(path: Path) -> bool:
    return path == GRPC_TIER or GRPC_TIER in path.parents


def pytest_configure(config: pytest.Config) -> None:
    given = [Path(config.invocation_params.dir, arg.split("::")[0]).resolve() for arg in config.args]
    inside = [_inside_grpc_tier(path) for path in given]
    if any(inside) and not all(inside):
        raise pytest.UsageError(
            "tests/faces_grpc runs in a pytest process of its own (see tests/conftest.py): "
            "give it no other paths"
        )
    config.stash[_IN_GRPC_TIER] = bool(given) and all(inside)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if not config.stash[_IN_GRPC_TIER] and _inside_grpc_tier(collection_path):
        return True
    return None


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The real-client tests drive the real client's stubs, the gRPC tier ours, never both."""
    if session.config.stash[_IN_GRPC_TIER]:
        if {m.split(".")[0] for m in sys.modules} & {"yandex", "yandexcloud", "yandex_ai_studio_sdk"}:
            _fail(session, "yandexcloud was imported into the in-process gRPC tier (tests/faces_grpc)")
    elif any(m.startswith("adapters.yandex._gen") for m in sys.modules):
        _fail(
            session,
            "our generated gRPC modules were imported into the main test run; in-process gRPC "
            "tests belong in tests/faces_grpc, which runs in a pytest process of its own",
        )


def _fail(session: pytest.Session, why: str) -> None:
    print(f"\nERROR: {why}")
    session.exitstatus = 1
