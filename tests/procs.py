"""Real ``voxpop serve`` processes for integration tests.

``Server(env).start()`` spawns ``voxpop serve`` from this virtualenv on a free
127.0.0.1 port, in its own process group, and waits until ``GET /healthz`` answers 200.
``kill()`` is a crash (SIGKILL to the whole group: the uvicorn master and its workers);
``stop()`` a graceful stop (SIGTERM, then SIGKILL after a timeout). A stopped or killed
server can be started again on the same port and database. As a context manager it
starts and stops; a server still running when the interpreter exits is killed then.

    with Server({"VOXPOP_DATABASE_URL": url, "VOXPOP_SECRET_KEY": key}) as server:
        httpx.get(server.url + "/healthz")

``fresh_postgres(url)`` gives a database of its own on the test PostgreSQL server (created
and dropped here), for servers that must not share tables with the in-process tests.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import httpx

VOXPOP = Path(sys.executable).parent / "voxpop"

# Servers with a live process, killed at exit if a test forgot (or could not) stop them.
_live: weakref.WeakSet[Server] = weakref.WeakSet()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def base_env() -> dict[str, str]:
    """A clean environment: nothing of the caller's VOXPOP_* settings leaks in. A
    PYTHONPATH is passed on (to serve another source tree, as the tests import it)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    env.update(VOXPOP_ENV="dev", VOXPOP_RATE_LIMITS="off", VOXPOP_DEMO="off")
    return env


class Server:
    def __init__(
        self,
        env: Mapping[str, str],
        *,
        workers: int = 1,
        name: str = "voxpop",
        extra_args: Sequence[str] = (),
    ) -> None:
        self.env = {**base_env(), **env}
        self.workers = workers
        self.name = name
        self.extra_args = list(extra_args)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir="/tmp"))
        self.log = self.dir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        pid = self.proc.pid if self.proc else None
        return f"<Server {self.name} {self.url} pid={pid}>"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self) -> list[str]:
        return [
            str(VOXPOP), "serve", "--host", "127.0.0.1", "--port", str(self.port),
            "--workers", str(self.workers), *self.extra_args,
        ]  # fmt: skip

    def start(self, timeout: float = 30) -> Server:
        if self.proc is not None:
            raise RuntimeError(f"{self!r} is already started")
        with self.log.open("ab") as out:
            out.write(f"\n=== start {time.strftime('%H:%M:%S')}: {self.command()}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                self.command(),
                env=self.env,
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killpg reaches the workers
            )
        _live.add(self)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.kill()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2) as client:
            while True:
                code = self.proc.poll()
                if code is not None:
                    raise RuntimeError(
                        f"{self.name} exited with {code} before it was ready:\n{self.tail()}"
                    )
                try:
                    if client.get(self.url + "/healthz").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{self.name} was not ready within {timeout} s:\n{self.tail()}"
                    )
                time.sleep(0.05)

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _signal_group(self, sig: signal.Signals) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL the whole process group (a crash), and reap the server."""
        if self.proc is None:
            return
        self._signal_group(signal.SIGKILL)
        self.proc.wait()
        self.proc = None
        _live.discard(self)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM the process group; SIGKILL it if it has not exited after ``timeout``."""
        if self.proc is None:
            return
        self._signal_group(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout)
        # Also whatever of the group outlived the master (a worker it lost track of).
        self.kill()

    def cleanup(self) -> None:
        """Kill the server if running and remove its directory (and log), unless
        VOXPOP_TEST_KEEP_LOGS is set (to read the logs of a run)."""
        self.kill()
        if not os.environ.get("VOXPOP_TEST_KEEP_LOGS"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.stop()
        finally:
            self.kill()


@contextmanager
def fresh_postgres(url: str, prefix: str = "voxpop_it") -> Iterator[str]:
    """The URL of a new, empty database on the server of ``url``, dropped afterwards.

    Where the role may not create databases (a given VOXPOP_TEST_POSTGRES_URL), the
    database of ``url`` itself is migrated and emptied instead (as the ``database``
    fixture's truncation does), and emptied again afterwards."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ProgrammingError

    from voxpop.store.db import normalise_url

    name = f"{prefix}_{os.getpid()}_{time.monotonic_ns() % 10**9}"
    admin = sa.create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except ProgrammingError:
        admin.dispose()
        _empty(url)
        try:
            yield url
        finally:
            _empty(url)
        return
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _empty(url: str) -> None:
    from voxpop.store import migrate
    from voxpop.store.db import Database
    from voxpop.store.schema import metadata

    db = Database(url)
    try:
        migrate.upgrade(db)
        names = ", ".join(t.name for t in metadata.sorted_tables)
        with db.engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        db.dispose()


@atexit.register
def _kill_leftovers() -> None:
    for server in list(_live):
        server.kill()
