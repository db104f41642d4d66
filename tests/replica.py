"""A throwaway PostgreSQL primary with a streaming hot standby, for the read-replica tests.

Separate from the session cluster (``pgcluster``), which is not configured for replication:
a small primary (``wal_level=replica``, WAL senders, replication trusted from 127.0.0.1)
and a standby cloned from it with ``pg_basebackup -R`` (``standby.signal`` and
``primary_conninfo`` written for us), each on its own free port, under /tmp. As root both
run as the ``postgres`` user. fsync is off: nothing here has to survive a crash.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from .pgcluster import BIN_DIRS, _free_port

DATABASE = "voxpop_test"


class ReplicaPair:
    def __init__(self) -> None:
        if not BIN_DIRS:
            raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql")
        self.bin = BIN_DIRS[0]
        self.dir = Path(tempfile.mkdtemp(prefix="voxpop-replica-", dir="/tmp"))
        self.primary_port = _free_port()
        self.standby_port = _free_port()
        while self.standby_port == self.primary_port:
            self.standby_port = _free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self.standby_running = False

    # -- URLs -------------------------------------------------------------------------

    def url(self, port: int) -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/{DATABASE}"

    @property
    def primary_url(self) -> str:
        return self.url(self.primary_port)

    @property
    def standby_url(self) -> str:
        return self.url(self.standby_port)

    # -- life cycle -------------------------------------------------------------------

    def _run(self, *args: str | Path) -> None:
        cmd = [str(a) for a in args]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, cwd="/", capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr or done.stdout}")

    def _pg_ctl_start(self, name: str, port: int, *options: str) -> None:
        self._run(
            self.bin / "pg_ctl",
            "-D",
            self.dir / name,
            "-l",
            self.dir / f"{name}.log",
            "-w",
            "start",
            "-o",
            " ".join(
                (
                    f"-c listen_addresses=127.0.0.1 -p {port}",
                    f"-c unix_socket_directories={self.dir}",
                    "-c fsync=off -c full_page_writes=off",
                    *options,
                )
            ),
        )

    def start(self) -> tuple[str, str]:
        """Start both; return (primary URL, standby URL). The database is empty."""
        primary = self.dir / "primary"
        self._run(
            self.bin / "initdb",
            "-D",
            primary,
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        # initdb's pg_hba.conf already trusts replication from 127.0.0.1; say it anyway.
        with (primary / "pg_hba.conf").open("a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
        # synchronous_commit stays on: WAL is sent once flushed, so an asynchronous commit
        # would reach the standby up to wal_writer_delay later.
        self._pg_ctl_start(
            "primary",
            self.primary_port,
            "-c wal_level=replica -c max_wal_senders=4 -c max_replication_slots=4",
        )
        with self.connect(self.primary_port, "postgres") as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        self._run(
            self.bin / "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.primary_port),
            "-U",
            "postgres",
            "-D",
            self.dir / "standby",
            "-R",  # write standby.signal and primary_conninfo
            "-X",
            "stream",
            "-c",
            "fast",  # checkpoint now rather than spread out
        )
        self.start_standby()
        return self.primary_url, self.standby_url

    def start_standby(self) -> None:
        """Start the standby (again): it resumes streaming where it stopped."""
        # No query on the standby is cancelled for a replay conflict while a test runs.
        self._pg_ctl_start(
            "standby",
            self.standby_port,
            "-c hot_standby=on -c hot_standby_feedback=on -c max_standby_streaming_delay=-1",
        )
        self.standby_running = True

    def stop_standby(self) -> None:
        if self.standby_running:
            self.standby_running = False
            self._run(self.bin / "pg_ctl", "-D", self.dir / "standby", "-m", "immediate", "stop")

    def stop(self) -> None:
        try:
            self.stop_standby()
        finally:
            try:
                self._run(
                    self.bin / "pg_ctl", "-D", self.dir / "primary", "-m", "immediate", "stop"
                )
            finally:
                shutil.rmtree(self.dir, ignore_errors=True)

    # -- replication control ----------------------------------------------------------

    def connect(self, port: int, database: str = DATABASE) -> psycopg.Connection[Any]:
        return psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{port}/{database}", autocommit=True
        )

    def standby_value(self, sql: str, *params: Any) -> Any:
        with self.connect(self.standby_port) as conn:
            row = conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def wait_caught_up(self, timeout: float = 10.0) -> None:
        """Until the standby has replayed all the primary has written so far."""
        with self.connect(self.primary_port) as conn:
            row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        assert row is not None
        target = row[0]
        deadline = time.monotonic() + timeout
        while not self.standby_value("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", target):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the standby did not replay up to {target}")
            time.sleep(0.02)

    def pause_replay(self, timeout: float = 10.0) -> None:
        """Stop applying WAL on the standby (it keeps receiving it); returns once paused."""
        with self.connect(self.standby_port) as conn:
            conn.execute("SELECT pg_wal_replay_pause()")
            deadline = time.monotonic() + timeout
            while True:
                row = conn.execute("SELECT pg_get_wal_replay_pause_state()").fetchone()
                if row is not None and row[0] == "paused":
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError("the standby did not pause its replay")
                time.sleep(0.02)

    def resume_replay(self) -> None:
        with self.connect(self.standby_port) as conn:
            conn.execute("SELECT pg_wal_replay_resume()")
