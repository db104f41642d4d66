"""A throwaway PostgreSQL cluster for the tests: the real server, started and stopped here.

Used when VOXPOP_TEST_POSTGRES_URL is not given. As root, PostgreSQL runs as the
``postgres`` user (it refuses root), from a data directory under /tmp.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    def __init__(self) -> None:
        if not BIN_DIRS:
            raise RuntimeError(
                "PostgreSQL is not installed: apt-get install postgresql (or set "
                "VOXPOP_TEST_POSTGRES_URL)"
            )
        self.bin = BIN_DIRS[0]
        self.dir = Path(tempfile.mkdtemp(prefix="voxpop-pg-", dir="/tmp"))
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")

    def _run(self, *args: str) -> None:
        cmd = [str(a) for a in args]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, cwd="/", capture_output=True)

    def start(self) -> str:
        data = self.dir / "data"
        self._run(
            self.bin / "initdb",
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        self._run(
            self.bin / "pg_ctl",
            "-D",
            str(data),
            "-l",
            str(self.dir / "server.log"),
            "-w",
            "start",
            "-o",
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.dir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
        )
        self._run(
            self.bin / "psql",
            "-h",
            str(self.dir),
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-c",
            "CREATE DATABASE voxpop_test",
        )
        return f"postgresql://postgres@127.0.0.1:{self.port}/voxpop_test"

    def stop(self) -> None:
        try:
            self._run(self.bin / "pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
