#!/usr/bin/env python3
"""Helper for bench_thread_get.sh (stdlib only, any Python >= 3.8).

Copied from the project's shared benchmark harness (shared/bench/bench_helper.py),
reformatted for the project's ruff settings.  Added: wrk-lua --kind get-uncached
(reads of one thread that each miss the server's cache: the adapter's Lua), wait-idle
(the server finishes the requests a previous wrk run left queued before the next run
starts), and
--db-pid for wait-idle and run-measured: a database server (the process and its
children), whose CPU is recorded as db_cores instead of being counted as other processes.

Subcommands
  check-free   --host H --port P                 exit 1 if something already listens there
  ready-path   --adapter A [--opt k=v ...]       print the adapter's readiness path
  wait-ready   --url U --t0-ns T --timeout S     print ms from T (time.time_ns() clock) to first 2xx
  seed         --adapter A --base U --uri /x --n N [--opt k=v ...]
  wrk-lua      --adapter A --kind get|get-uncached|post --base U --uri /x --out F.lua
               [--opt k=v ...]    (get-uncached: requests that each miss the server's cache)
  rss-sample   --pgid G --out F.json [--interval S --max-seconds S]
  parse-wrk    --wrk-out F --out F.jsonl --meta JSON   wrk output -> one JSON record (appended)
  summarise    --in F.jsonl --key K              aggregate reps (median, min-max) into one line
  wait-quiet   --threshold CORES --max-wait S    wait until other load on the machine is low
  wait-idle    --pgid G [--db-pid P] --threshold C --max-wait S
                                                 wait until the server (and database) is idle
  run-measured --pgid G [--db-pid P] --info-out F -- CMD...
                                                 run CMD, record CPU of CMD / server group /
                                                 database / others

Every network call made here goes to the loopback address that the caller
passes in, and is refused otherwise (see loopback_only).
"""

import argparse
import importlib
import ipaddress
import json
import os
import signal
import socket
import statistics
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


# --------------------------------------------------------------------------- safety
def loopback_only(url_or_host):
    """Raise unless the host is in 127.0.0.0/8, ::1 or 'localhost'."""
    host = url_or_host
    if "://" in url_or_host:
        host = urllib.parse.urlsplit(url_or_host).hostname or ""
    host = host.strip("[]")
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise SystemExit(f"refusing non-loopback target: {url_or_host!r}")


def load_adapter(name):
    if not name.replace("_", "").isalnum():
        raise SystemExit(f"bad adapter name {name!r}")
    return importlib.import_module(f"adapters.{name}")


def parse_opts(pairs):
    out = {}
    for p in pairs or []:
        k, _, v = p.partition("=")
        out[k] = v
    return out


# --------------------------------------------------------------------------- commands
def cmd_check_free(a):
    loopback_only(a.host)
    s = socket.socket(socket.AF_INET6 if ":" in a.host else socket.AF_INET)
    s.settimeout(0.5)
    try:
        s.connect((a.host, a.port))
    except OSError:
        return 0  # nothing there: good
    finally:
        s.close()
    print(f"port {a.host}:{a.port} is already in use", file=sys.stderr)
    return 1


def cmd_wait_ready(a):
    loopback_only(a.url)
    deadline = a.t0_ns + int(a.timeout * 1e9)
    last_err = None
    while time.time_ns() < deadline:
        try:
            with urllib.request.urlopen(a.url, timeout=2) as r:
                r.read()
                if 200 <= r.status < 300:
                    print(f"{(time.time_ns() - a.t0_ns) / 1e6:.1f}")
                    return 0
        except (urllib.error.URLError, ConnectionError, OSError) as e:
            last_err = e
        time.sleep(a.poll)
    print(f"not ready after {a.timeout}s: {last_err}", file=sys.stderr)
    return 1


def cmd_adapter_info(a):
    ad = load_adapter(a.adapter)
    opts = parse_opts(a.opt)
    print(ad.ready_path(opts))
    return 0


def cmd_seed(a):
    loopback_only(a.base)
    ad = load_adapter(a.adapter)
    t = time.perf_counter()
    made = ad.seed(a.base, a.uri, a.n, parse_opts(a.opt))
    dt = time.perf_counter() - t
    print(
        json.dumps(
            {
                "seeded": made,
                "seconds": round(dt, 3),
                "per_s": round(made / dt, 1) if made and dt else None,
            }
        )
    )
    return 0


LUA_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"err_connect":%d,"err_read":%d,' ..
    '"err_write":%d,"err_status":%d,"err_timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"""


def lua_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def cmd_wrk_lua(a):
    loopback_only(a.base)
    ad = load_adapter(a.adapter)
    opts = parse_opts(a.opt)
    lines = ["-- generated by bench_helper.py wrk-lua; do not edit"]
    if a.kind == "get":
        path = ad.thread_get_path(a.uri, opts)
        lines.append(f'wrk.method = "GET"\nwrk.path = {lua_str(path)}')
        for k, v in getattr(ad, "get_headers", lambda o: {})(opts).items():
            lines.append(f"wrk.headers[{lua_str(k)}] = {lua_str(v)}")
    elif a.kind == "get-uncached":
        # requests that each miss the server's cache: the adapter's Lua makes them
        example, lua = ad.thread_get_uncached(a.uri, opts)
        lines.append(f'wrk.method = "GET"\nwrk.path = {lua_str(example)}')
        lines.append(lua)
    elif a.kind == "post":
        spec = ad.post_request(a.uri, opts)
        lines.append(f"wrk.method = {lua_str(spec.get('method', 'POST'))}")
        lines.append(f"wrk.path = {lua_str(spec['path'])}")
        for k, v in spec.get("headers", {}).items():
            lines.append(f"wrk.headers[{lua_str(k)}] = {lua_str(v)}")
        # per-request body: adapters give a Lua expression over the counter `n`
        lines.append("local n = 0")
        lines.append(
            "request = function()\n  n = n + 1\n  local body = "
            + spec["lua_body_expr"]
            + "\n  return wrk.format(nil, nil, nil, body)\nend"
        )
    else:
        raise SystemExit("kind must be get or post")
    lines.append(LUA_DONE)
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    return 0


def _pg_members(pgid):
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
            # field 5 (pgrp) comes after the ")" that closes comm
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                pids.append(int(d))
        except (OSError, IndexError, ValueError):
            continue
    return pids


def _kb(path, key):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cmd_rss_sample(a):
    """Sample the whole process group (server master + workers)."""
    peak = {
        "peak_sum_rss_kb": 0,
        "peak_sum_pss_kb": 0,
        "max_proc_hwm_kb": 0,
        "max_nproc": 0,
        "samples": 0,
    }
    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True))
    signal.signal(signal.SIGINT, lambda *_: stop.update(flag=True))
    t_end = time.time() + a.max_seconds

    def sample():
        pids = _pg_members(a.pgid)
        if not pids:
            return False
        rss = sum(_kb(f"/proc/{p}/status", "VmRSS:") for p in pids)
        pss = sum(_kb(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids)
        hwm = max(_kb(f"/proc/{p}/status", "VmHWM:") for p in pids)
        peak["peak_sum_rss_kb"] = max(peak["peak_sum_rss_kb"], rss)
        peak["peak_sum_pss_kb"] = max(peak["peak_sum_pss_kb"], pss)
        peak["max_proc_hwm_kb"] = max(peak["max_proc_hwm_kb"], hwm)
        peak["max_nproc"] = max(peak["max_nproc"], len(pids))
        peak["samples"] += 1
        return True

    while not stop["flag"] and time.time() < t_end:
        if not sample() and peak["samples"]:
            break
        with open(a.out + ".tmp", "w") as f:
            json.dump(peak, f)
        os.replace(a.out + ".tmp", a.out)
        time.sleep(a.interval)
    sample()
    with open(a.out, "w") as f:
        json.dump(peak, f)
    return 0


HZ = os.sysconf("SC_CLK_TCK")


def _sys_busy():
    """(process-attributable busy jiffies, irq+softirq jiffies) from /proc/stat.
    Loopback TCP work done in softirq context is not charged to any process, so it
    is kept apart instead of being counted as 'other processes'."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    return v[0] + v[1] + v[2] + v[7], v[5] + v[6]


def _grp_cpu(pgid):
    tot = 0
    for p in _pg_members(pgid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            tot += int(fields[11]) + int(fields[12])  # utime + stime
        except (OSError, IndexError, ValueError):
            pass
    return tot


def _tree_cpu(pid):
    """CPU jiffies of a process, of its reaped children and of its live children: a
    database server whose children call setsid() (PostgreSQL's backends do), so that
    they are in no process group of ours."""
    tot = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(d) == pid:
                tot += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
            elif int(fields[1]) == pid:
                tot += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return tot


def _foreign_loadgens():
    """Load generators (wrk/oha/ab) running right now; ours are never running while we wait."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/comm") as f:
                    if f.read().strip() in ("wrk", "oha", "ab", "hey", "k6"):
                        out.append(int(d))
            except OSError:
                pass
    return out


def cmd_wait_idle(a):
    """Wait until the server's process group uses less than the threshold (cores, 0.5 s
    windows).  A slow server (Isso at 1 s per 1,000-comment read) still works through the
    requests a finished wrk run left in its queue; measuring before that is done would
    charge them to the next scenario."""
    t_start = time.time()

    def cpu():
        return _grp_cpu(a.pgid) + sum(map(_tree_cpu, a.db_pid or []))

    while True:
        g0, t0 = cpu(), time.time()
        time.sleep(0.5)
        cores = (cpu() - g0) / HZ / (time.time() - t0)
        if cores < a.threshold or time.time() - t_start > a.max_wait:
            break
    print(
        json.dumps(
            {"server_idle_wait_s": round(time.time() - t_start, 1), "server_cores": round(cores, 2)}
        )
    )
    return 0


def cmd_wait_quiet(a):
    """Wait until no other load generator runs and the machine's busy CPU (cores, 1 s
    windows) is below the threshold (other benchmarks may share this machine)."""
    import random

    t_start = time.time()
    busy_cores = None
    while True:
        b0, t0 = sum(_sys_busy()), time.time()
        time.sleep(1.0 + random.random() * 0.5)  # jitter: do not start in lock-step with a peer
        busy_cores = (sum(_sys_busy()) - b0) / HZ / (time.time() - t0)
        foreign = _foreign_loadgens()
        if (busy_cores < a.threshold and not foreign) or time.time() - t_start > a.max_wait:
            break
    waited = time.time() - t_start
    print(
        json.dumps(
            {
                "waited_s": round(waited, 1),
                "busy_cores_before": round(busy_cores, 2),
                "foreign_loadgens": len(foreign),
            }
        )
    )
    if busy_cores >= a.threshold:
        print(
            f"  machine still busy ({busy_cores:.2f} cores) after {waited:.0f}s; measuring anyway",
            file=sys.stderr,
        )
    return 0


def cmd_run_measured(a):
    """Run a command (wrk); record CPU used by it, by the server group and by everything else."""
    import resource
    import subprocess

    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    db = a.db_pid or []
    (b0, i0), g0, t0 = _sys_busy(), _grp_cpu(a.pgid), time.time()
    d0 = sum(map(_tree_cpu, db))
    rc = subprocess.call(a.command[1:] if a.command and a.command[0] == "--" else a.command)
    (b1, i1), g1, t1 = _sys_busy(), _grp_cpu(a.pgid), time.time()
    d1 = sum(map(_tree_cpu, db))
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = t1 - t0
    load_cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    server_cpu = (g1 - g0) / HZ
    db_cpu = (d1 - d0) / HZ
    total_cpu = (b1 - b0) / HZ
    info = {
        "wall_s": round(wall, 2),
        "server_cores": round(server_cpu / wall, 2),
        "loadgen_cores": round(load_cpu / wall, 2),
        "db_cores": round(db_cpu / wall, 2),
        "other_cores": round(max(0.0, total_cpu - server_cpu - db_cpu - load_cpu) / wall, 2),
        "irq_cores": round((i1 - i0) / HZ / wall, 2),
    }
    with open(a.info_out, "w") as f:
        json.dump(info, f)
    return rc


def cmd_summarise(a):
    rows = []
    with open(a.inp) as f:
        for line in f:
            r = json.loads(line)
            if r.get("key") == a.key:
                rows.append(r)
    if not rows:
        print(f"RESULT {a.key} no-data")
        return 1

    def agg(field, scale=1.0, fmt="{:.1f}"):
        vals = [r[field] * scale for r in rows]
        return (
            fmt.format(statistics.median(vals))
            + " ("
            + fmt.format(min(vals))
            + "-"
            + fmt.format(max(vals))
            + ")"
        )

    cpu = ""
    if all("other_cores" in r for r in rows):
        cpu = (
            f" server_cores={statistics.median(r['server_cores'] for r in rows):.2f}"
            f" db_cores={statistics.median(r.get('db_cores', 0) for r in rows):.2f}"
            f" loadgen_cores={statistics.median(r['loadgen_cores'] for r in rows):.2f}"
            f" other_cores_max={max(r['other_cores'] for r in rows):.2f}"
        )
    retries = sum(r.get("try", 0) for r in rows)
    errs = sum(r["err_connect"] + r["err_read"] + r["err_write"] + r["err_timeout"] for r in rows)
    non2xx = sum(r["err_status"] for r in rows)
    print(
        f"RESULT {a.key} reps={len(rows)} "
        f"ok_rps={agg('ok_rps')} p50_ms={agg('p50_us', 1e-3, '{:.2f}')} "
        f"p99_ms={agg('p99_us', 1e-3, '{:.2f}')} samples={sum(r['requests'] for r in rows)} "
        f"sock_errors={errs} non2xx={non2xx} retries={retries}{cpu}"
    )
    return 0


def cmd_parse_wrk(a):
    """Turn wrk's stdout (with the WRKJSON line) into one JSON record appended to --out."""
    rec = None
    with open(a.wrk_out) as f:
        for line in f:
            if line.startswith("WRKJSON "):
                rec = json.loads(line[len("WRKJSON ") :])
    if rec is None:
        print("no WRKJSON line in wrk output", file=sys.stderr)
        return 1
    dur = rec["duration_us"] / 1e6
    rec["rps"] = rec["requests"] / dur if dur else 0.0
    rec["ok_rps"] = (rec["requests"] - rec["err_status"]) / dur if dur else 0.0
    rec.update(json.loads(a.meta))
    if a.cpu_info and os.path.exists(a.cpu_info):
        with open(a.cpu_info) as f:
            rec.update(json.load(f))
    rejected = a.max_other is not None and rec.get("other_cores", 0) > a.max_other
    out = a.out.replace(".jsonl", ".rejected.jsonl") if rejected else a.out
    with open(out, "a") as f:
        f.write(json.dumps(rec) + "\n")
    print(
        f"  rep {rec.get('rep')}: ok_rps={rec['ok_rps']:.1f} p50_ms={rec['p50_us'] / 1e3:.2f} "
        f"p99_ms={rec['p99_us'] / 1e3:.2f} n={rec['requests']} non2xx={rec['err_status']} "
        f"errs(c/r/w/t)={rec['err_connect']}/{rec['err_read']}/"
        f"{rec['err_write']}/{rec['err_timeout']} "
        f"cpu(server/db/loadgen/other/softirq)={rec.get('server_cores')}/{rec.get('db_cores')}/"
        f"{rec.get('loadgen_cores')}/"
        f"{rec.get('other_cores')}/{rec.get('irq_cores')}"
        + (f"  REJECTED: other processes used > {a.max_other:.2f} cores" if rejected else ""),
        file=sys.stderr,
    )
    return 3 if rejected else 0


def main():
    p = argparse.ArgumentParser()
    sp = p.add_subparsers(dest="subcmd", required=True)

    s = sp.add_parser("check-free")
    s.add_argument("--host", required=True)
    s.add_argument("--port", type=int, required=True)
    s = sp.add_parser("wait-ready")
    s.add_argument("--url", required=True)
    s.add_argument("--t0-ns", type=int, required=True)
    s.add_argument("--timeout", type=float, default=60)
    s.add_argument("--poll", type=float, default=0.005)
    s = sp.add_parser("ready-path")
    s.add_argument("--adapter", required=True)
    s.add_argument("--opt", action="append")
    s = sp.add_parser("seed")
    for x in ("--adapter", "--base", "--uri"):
        s.add_argument(x, required=True)
    s.add_argument("--n", type=int, required=True)
    s.add_argument("--opt", action="append")
    s = sp.add_parser("wrk-lua")
    for x in ("--adapter", "--kind", "--base", "--uri", "--out"):
        s.add_argument(x, required=True)
    s.add_argument("--opt", action="append")
    s = sp.add_parser("rss-sample")
    s.add_argument("--pgid", type=int, required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--interval", type=float, default=0.25)
    s.add_argument("--max-seconds", type=float, default=3600)
    s = sp.add_parser("summarise")
    s.add_argument("--in", dest="inp", required=True)
    s.add_argument("--key", required=True)
    s = sp.add_parser("parse-wrk")
    s.add_argument("--wrk-out", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--meta", required=True)
    s.add_argument("--cpu-info")
    s.add_argument("--max-other", type=float, default=None)
    s = sp.add_parser("wait-idle")
    s.add_argument("--pgid", type=int, required=True)
    s.add_argument("--db-pid", type=int, action="append")
    s.add_argument("--threshold", type=float, default=0.1)
    s.add_argument("--max-wait", type=float, default=60)
    s = sp.add_parser("wait-quiet")
    s.add_argument("--threshold", type=float, default=0.25)
    s.add_argument("--max-wait", type=float, default=120)
    s = sp.add_parser("run-measured")
    s.add_argument("--pgid", type=int, required=True)
    s.add_argument("--db-pid", type=int, action="append")
    s.add_argument("--info-out", required=True)
    s.add_argument("command", nargs=argparse.REMAINDER)

    a = p.parse_args()
    fn = {
        "check-free": cmd_check_free,
        "ready-path": cmd_adapter_info,
        "wait-ready": cmd_wait_ready,
        "seed": cmd_seed,
        "wrk-lua": cmd_wrk_lua,
        "rss-sample": cmd_rss_sample,
        "wait-quiet": cmd_wait_quiet,
        "wait-idle": cmd_wait_idle,
        "run-measured": cmd_run_measured,
        "summarise": cmd_summarise,
        "parse-wrk": cmd_parse_wrk,
    }[a.subcmd]
    sys.exit(fn(a))


if __name__ == "__main__":
    main()
