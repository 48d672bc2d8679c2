"""Starting with TLS and with ``--config``: files that cannot be served stop ``serve`` with
one line and a non-zero exit before anything binds or writes; a config file's settings
apply under the environment's and the flags'."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import grpc
import httpx
import pytest
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2_grpc as ts_grpc

from testkit.ports import free_port
from testkit.server import ROOT, AuthInterceptor, running_server
from tests.certs import Pki, make_pki, trusting


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def serve(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "adapters.cli", "serve", "--data-dir", str(data_dir)]
    ports = ["--rest-port", str(free_port()), "--grpc-port", str(free_port())]
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADGATE_")}
    return subprocess.run(
        [*cmd, *ports, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60, check=False
    )


def assert_refused(result: subprocess.CompletedProcess[str], data_dir: Path, *words: str) -> None:
    """Exit 1, one line on stderr naming the problem, nothing on stdout, no store made."""
    lines = result.stderr.splitlines()
    assert result.returncode == 1, result
    assert len(lines) == 1 and lines[0].startswith("threadgate: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert result.stdout == ""  # no listening line, no first key
    assert not data_dir.exists()  # the store was never opened


def _broken(pki: Pki, tmp_path: Path) -> dict[str, tuple[Sequence[str], tuple[str, ...]]]:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    encrypted = tmp_path / "encrypted.key"
    subprocess.run(
        [
            "openssl",
            "pkey",
            "-in",
            str(pki.server.key),
            "-aes256",
            "-passout",
            "pass:x",
            "-out",
            str(encrypted),
        ],
        check=True,
        capture_output=True,
    )
    cert, key = str(pki.server.cert), str(pki.server.key)
    return {
        "key of another certificate": (
            ["--tls-cert", cert, "--tls-key", str(pki.other_server.key)],
            ("does not match", "--tls-key", str(pki.other_server.key)),
        ),
        "not a certificate": (
            ["--tls-cert", str(garbage), "--tls-key", key],
            ("--tls-cert", "no PEM certificate"),
        ),
        "a certificate for a key": (
            ["--tls-cert", cert, "--tls-key", cert],
            ("--tls-key", "PEM private key"),
        ),
        "a missing file": (
            ["--tls-cert", str(tmp_path / "nope.crt"), "--tls-key", key],
            ("cannot read", "nope.crt", "No such file"),
        ),
        "a folder": (["--tls-cert", cert, "--tls-key", str(tmp_path)], ("cannot read", "--tls-key")),
        "an encrypted key": (["--tls-cert", cert, "--tls-key", str(encrypted)], ("encrypted",)),
        "a client CA that is no certificate": (
            ["--tls-cert", cert, "--tls-key", key, "--tls-client-ca", str(garbage)],
            ("--tls-client-ca",),
        ),
        "a certificate without its key": (["--tls-cert", cert], ("--tls-cert and --tls-key",)),
        "a client CA without a certificate": (["--tls-client-ca", cert], ("--tls-client-ca needs",)),
    }


CASES = [
    "key of another certificate",
    "not a certificate",
    "a certificate for a key",
    "a missing file",
    "a folder",
    "an encrypted key",
    "a client CA that is no certificate",
    "a certificate without its key",
    "a client CA without a certificate",
]


@pytest.mark.parametrize("case", CASES)
def test_files_that_cannot_be_served_stop_the_start(case: str, pki: Pki, tmp_path: Path) -> None:
    cases = _broken(pki, tmp_path)
    assert set(cases) == set(CASES)
    args, words = cases[case]
    data_dir = tmp_path / "data"
    assert_refused(serve(data_dir, *args), data_dir, *words)


def test_workers_check_the_certificate_before_anything_starts(pki: Pki, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    args = ["--workers", "2", "--tls-cert", str(pki.server.cert), "--tls-key", str(pki.other_server.key)]
    assert_refused(serve(data_dir, *args), data_dir, "does not match")


def test_a_config_file_error_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "threadgate.toml"
    data_dir = tmp_path / "data"
    config.write_text('rest_port = "8080"\n')
    assert_refused(serve(data_dir, "--config", str(config)), data_dir, "'rest_port'", "integer")
    config.write_text("tls_certificate = 'x.pem'\n")
    assert_refused(serve(data_dir, "--config", str(config)), data_dir, "'tls_certificate'", "'tls_cert'")


def test_serve_from_a_config_file(pki: Pki, tmp_path: Path) -> None:
    """TLS and limits from the file, paths relative to it; the environment beats the
    file (max_ttl_days) and flags beat both (the ports and data dir start_server gives)."""
    etc = tmp_path / "etc"
    (etc / "tls").mkdir(parents=True)
    for source, name in ((pki.server.cert, "server.crt"), (pki.server.key, "server.key")):
        (etc / "tls" / name).write_bytes(source.read_bytes())
    config = etc / "threadgate.toml"
    config.write_text(
        "# threadgate settings\n"
        'tls_cert = "tls/server.crt"\n'
        'tls_key = "tls/server.key"\n'
        "default_ttl_days = 3\n"
        "max_ttl_days = 5\n"
        "rest_port = 1\n"
        "grpc_port = 2\n"
        'data_dir = "never-used"\n'
    )
    env = {"THREADGATE_MAX_TTL_DAYS": "6"}
    with running_server(tmp_path / "data", "--config", str(config), env=env) as server:
        assert server.scheme == "https"
        with httpx.Client(
            base_url=server.base_url, headers=server.auth_headers, verify=trusting(pki.ca.cert)
        ) as http:
            thread_id = http.post("/threads").json()["id"]
        credentials = grpc.ssl_channel_credentials(pki.ca.cert.read_bytes())
        with grpc.intercept_channel(
            grpc.secure_channel(server.grpc_target, credentials), AuthInterceptor(server.api_key)
        ) as channel:
            stub = ts_grpc.ThreadServiceStub(channel)
            got = stub.Get(ts.GetThreadRequest(thread_id=thread_id), timeout=10)
            assert got.expiration_config.ttl_days == 3  # the file's default
            six = ts.CreateThreadRequest(folder_id="b1gfolder")
            six.expiration_config.ttl_days = 6  # the environment's maximum, over the file's 5
            stub.Create(six, timeout=10)
            seven = ts.CreateThreadRequest(folder_id="b1gfolder")
            seven.expiration_config.ttl_days = 7
            with pytest.raises(grpc.RpcError) as info:
                stub.Create(seven, timeout=10)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert not (etc / "never-used").exists()
