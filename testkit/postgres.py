"""A throw-away PostgreSQL server on 127.0.0.1, started and stopped by the tests and the
benchmarks (``--backend postgresql``, ``workers``).  It runs with ``fsync=off``.

``scripts/ensure-test-deps`` (run by ``make test``) installs the binaries when a
machine has none; this module never skips: without binaries it fails loudly.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from testkit.ports import free_port


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise RuntimeError("PostgreSQL is not installed: run scripts/ensure-test-deps (make test does)")


def _as_server_user(cmd: list[str], timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """PostgreSQL refuses to run as root: drop to the 'postgres' user when we are root."""
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=timeout)


class PgServer:
    """A running throw-away cluster: ``dsn`` points at its database ``threadgate``."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.data = root / "data"
        self.dsn = f"postgresql://postgres@127.0.0.1:{port}/threadgate"
        self._bin = _bin_dir()

    def _ctl(self, *args: str) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root / 'sock'} "
            "-c fsync=off -c max_connections=200"
        )
        _as_server_user(
            [
                str(self._bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-o",
                options,
                "-l",
                str(self.root / "log"),
                "-w",
                *args,
            ],
            timeout=60,
        )

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._ctl("-m", "fast", "stop")

    def restart(self) -> None:
        self._ctl("-m", "fast", "restart")

    def processes(self) -> list[int]:
        """The postmaster and every process it forked (backends, checkpointer, ...)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        found = [postmaster]
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    # the parent pid is the 4th field after the parenthesised command name
                    ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                if ppid == postmaster:
                    found.append(int(entry.name))
        return found

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """Stop every process of the cluster (SIGSTOP), as a hung host would; continue them
        (SIGCONT) on leaving, whatever happened.  Connections stay open and get no answer."""
        stopped: list[int] = []
        try:
            for pid in self.processes():
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
            yield
        finally:
            for pid in stopped:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)


@contextmanager
def postgres_server() -> Iterator[PgServer]:
    """Start a fresh cluster with a database ``threadgate``; stop and remove it afterwards."""
    root = Path(tempfile.mkdtemp(prefix="threadgate-pg-"))
    (root / "sock").mkdir()
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for p in (root, root / "sock"):
            os.chown(p, user.pw_uid, user.pw_gid)
    server = PgServer(root, free_port())
    try:
        _as_server_user(
            [
                str(server._bin / "initdb"),
                "-D",
                str(server.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        )
        server.start()
        _as_server_user(
            [
                str(server._bin / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(server.port),
                "-U",
                "postgres",
                "threadgate",
            ]
        )
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
