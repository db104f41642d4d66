#!/usr/bin/env python3
"""bench/imports/run.py - how fast `voxpop import disqus` reads a big export, in how much memory.

    python bench/imports/run.py [--posts 100000] [--seed 20261128] [--keep]

Steps, in a fresh temporary directory:

  generate  a Disqus export of --posts posts over posts/100 threads (generate_disqus.py:
            nested replies, some before their parent, 3 % deleted, 2 % spam, HTML bodies
            in five languages; about 1 KB a post, so 100,000 posts ≈ 86 MB)
  parse     the reader alone, in this process (voxpop.importers.disqus.read, no database):
            posts/s from an untraced pass, peak memory from a second pass under tracemalloc
            (Python allocations only: what the reader keeps, not the interpreter)
  import    `voxpop import disqus FILE --site default` as a child process against an empty
            SQLite file (VOXPOP_ENV=dev, VOXPOP_DATABASE_URL=sqlite:////tmp/.../voxpop.db):
            wall time, posts/s, and the peak RSS of its largest process (os.wait4's ru_maxrss:
            interpreter, libraries, SQLite cache); twice, with the default worker processes
            and with --jobs 1, each into an empty database, and the ratio of the two

It checks that the import read every post of the file (the CLI's summary line) and prints a
table. Exit status 0; 1 when the import fails or reads a different number of posts; 2 when
the voxpop command is missing or has no `import disqus`. --keep leaves the directory (the
export and the database) in place and prints where it is.

Needs the project's .venv (uv sync; this script re-runs itself with .venv/bin/python).
100,000 posts take a few minutes on the project's 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VENV = os.path.join(ROOT, ".venv")

try:
    from voxpop.importers import disqus
    from voxpop.importers.records import Post
except ImportError:
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        raise
    python = os.path.join(VENV, "bin", "python")
    if not os.access(python, os.X_OK):
        raise SystemExit(f"no {python}: install the project first (uv sync)") from None
    os.execv(python, [python, os.path.abspath(__file__), *sys.argv[1:]])

sys.path.insert(0, HERE)
import generate_disqus  # noqa: E402 - after the venv check, from this directory

MB = 1024 * 1024


def _voxpop() -> str:
    command = os.path.join(VENV, "bin", "voxpop")
    if os.access(command, os.X_OK):
        return command
    found = shutil.which("voxpop")
    if found is None:
        raise SystemExit("bench/imports: no voxpop command: install the project (uv sync)")
    return found


def _environment(directory: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXPOP_")}
    env.update(
        VOXPOP_DATABASE_URL=f"sqlite:///{os.path.join(directory, 'voxpop.db')}",
        VOXPOP_ENV="dev",
        VOXPOP_SECRET_KEY="x" * 32,
    )
    return env


def _parse(path: str) -> tuple[int, float, float]:
    """Posts, seconds (untraced pass) and tracemalloc peak in MiB (traced pass)."""
    started = time.perf_counter()
    posts = sum(isinstance(r, Post) for r in disqus.read(path, lambda _read: None))
    seconds = time.perf_counter() - started
    tracemalloc.start()
    try:
        for _record in disqus.read(path, lambda _read: None):
            pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return posts, seconds, peak / MB


def _import(command: str, path: str, directory: str, jobs: int | None) -> tuple[float, float, str]:
    """Seconds, the peak RSS of the child's largest process in MiB, and its summary."""
    check = subprocess.run(
        [command, "import", "--help"], capture_output=True, text=True, check=False
    )
    if check.returncode != 0 or "disqus" not in check.stdout:
        print(
            "bench/imports: `voxpop import disqus` does not exist yet "
            f"(voxpop import --help exited {check.returncode}); nothing to measure",
            file=sys.stderr,
        )
        raise SystemExit(2)
    where = tempfile.mkdtemp(prefix="run-", dir=directory)  # an empty database each run
    extra = [] if jobs is None else ["--jobs", str(jobs)]
    out_path, err_path = os.path.join(where, "stdout"), os.path.join(where, "stderr")
    started = time.perf_counter()
    with open(out_path, "w") as out, open(err_path, "w") as err:
        child = subprocess.Popen(
            [command, "import", "disqus", path, "--site", "default", *extra],
            env=_environment(where),
            cwd=where,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
        # wait4: this child's own peak (and its workers'), not every child's so far.
        _pid, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    with open(out_path) as out, open(err_path) as err:
        stdout, stderr = out.read(), err.read()
    if child.returncode != 0:
        print(stdout + stderr, file=sys.stderr)
        print(f"bench/imports: the import failed (exit {child.returncode})", file=sys.stderr)
        raise SystemExit(1)
    return seconds, usage.ru_maxrss * 1024 / MB, stdout  # ru_maxrss is in KiB on Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    command = _voxpop()
    directory = tempfile.mkdtemp(prefix="voxpop-bench-imports-")
    path = os.path.join(directory, "disqus-export.xml")
    try:
        started = time.perf_counter()
        with open(path, "w", encoding="utf-8") as out:
            stats = generate_disqus.write(out, args.posts, args.seed)
        generated = time.perf_counter() - started
        size = os.path.getsize(path)
        print(
            f"generated {path}: {size / MB:,.1f} MiB, "
            + ", ".join(f"{k} {v:,}" for k, v in stats.items())
            + f" ({generated:.1f} s)",
            file=sys.stderr,
        )
        posts, parse_seconds, parse_peak = _parse(path)
        print(f"parsed in {parse_seconds:.1f} s", file=sys.stderr)
        rows = [("parse only: reader, in-process", posts, parse_seconds, parse_peak, "tracemalloc")]
        counts = []
        cores = os.cpu_count() or 1
        for label, jobs in ((f"{cores} worker processes (default)", None), ("--jobs 1", 1)):
            import_seconds, import_peak, summary = _import(command, path, directory, jobs)
            print(summary.rstrip(), file=sys.stderr)
            read = re.search(r"posts in the file: ([\d,]+)", summary)
            counts.append(int(read.group(1).replace(",", "")) if read else -1)
            name = f"voxpop import disqus (SQLite), {label}"
            rows.append((name, counts[-1], import_seconds, import_peak, "RSS, largest process"))
        imported = min(counts)
        print(f"\n{args.posts:,} posts, {stats['threads']:,} threads, {size / MB:,.1f} MiB\n")
        print("| step | posts | seconds | posts/s | peak MiB | peak of |")
        print("|---|---:|---:|---:|---:|---|")
        for name, count, seconds, peak, what in rows:
            rate = count / seconds if seconds > 0 else 0.0
            print(f"| {name} | {count:,} | {seconds:.1f} | {rate:,.0f} | {peak:,.1f} | {what} |")
        parallel, serial = rows[1][2], rows[2][2]
        print(f"\nworker processes vs --jobs 1: {serial / parallel:.2f}x the rate (same run)")
        if posts != stats["posts"] or imported != stats["posts"]:
            print(
                f"bench/imports: the file has {stats['posts']:,} posts; the reader read "
                f"{posts:,}, the import {imported:,}",
                file=sys.stderr,
            )
            return 1
        return 0
    finally:
        if args.keep:
            print(f"kept {directory}", file=sys.stderr)
        else:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
