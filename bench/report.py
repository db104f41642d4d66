#!/usr/bin/env python3
"""Print the comparison table of one bench/run: voxpop (SQLite, PostgreSQL) against Isso.

usage: report.py RUN_DIR

RUN_DIR holds one bench_thread_get.sh --out-dir per system (isso/, voxpop-sqlite/,
voxpop-pg/, each with results.jsonl and rss.json) and the harness's stdout and stderr
per system (NAME.out, NAME.err).  Built on the shared harness's bench_report.py
(shared/bench/bench_report.py): same inputs, one row per scenario and system, plus the
ratio to Isso measured in the same run and the targets of the performance issue.

Figures per scenario and system are medians over the accepted repetitions:
  req/s   successful (2xx/3xx) responses per second, (min-max over repetitions)
  p50/p99 wrk's latency percentiles of the repetition, median over repetitions
          (and the worst repetition's p99 in brackets)
  x Isso  voxpop's median req/s divided by Isso's median req/s for the same scenario
  server cores   CPU of the server's processes (+ PostgreSQL's) during the runs, median
  other cores    CPU of everything else on the machine (not wrk), worst repetition
"""

import json
import os
import re
import statistics
import sys

SYSTEMS = [("isso", "Isso 0.14"), ("voxpop-sqlite", "voxpop SQLite"), ("voxpop-pg", "voxpop PG")]
SCENARIOS = [  # (scenario, n, c, label)
    ("get", 10, 1, "read 10, c=1"),
    ("get", 10, 32, "read 10, c=32"),
    ("get", 100, 1, "read 100, c=1"),
    ("get", 100, 32, "read 100, c=32"),
    ("get", 1000, 1, "read 1000, c=1"),
    ("get", 1000, 32, "read 1000, c=32"),
    ("post", 0, 32, "post, c=32"),
]
# The targets of the performance issue, per scenario: (min ratio to Isso, max p99 ms).
TARGETS = {("get", 100, 32): (20.0, 50.0), ("post", 0, 32): (2.0, None)}
# Isso on a machine of this kind, measured earlier (context only; this run measures Isso).
ISSO_REFERENCE = {("get", 10, 32): 233, ("get", 100, 32): 25, ("get", 1000, 32): 2.4}
ISSO_REFERENCE[("post", 0, 32)] = 381
BUSY = 0.3  # cores used by other processes during a kept repetition: the harness's limit


def rate(v):
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 1 else f"{v:.2f}"


def ms(v):
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 1 else f"{v:.2f}"


def load(run_dir, name):
    groups = {}
    path = os.path.join(run_dir, name, "results.jsonl")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    kv = dict(x.split("=", 1) for x in r["key"].split())
                    key = (kv["scenario"], int(kv["n"]), int(kv["c"]))
                    groups.setdefault(key, []).append(r)
    return groups


def summary(rows):
    if not rows:
        return None
    return {
        "rps": statistics.median(r["ok_rps"] for r in rows),
        "rps_min": min(r["ok_rps"] for r in rows),
        "rps_max": max(r["ok_rps"] for r in rows),
        "p50": statistics.median(r["p50_us"] / 1e3 for r in rows),
        "p99": statistics.median(r["p99_us"] / 1e3 for r in rows),
        "p99_max": max(r["p99_us"] / 1e3 for r in rows),
        "requests": sum(r["requests"] for r in rows),
        "errors": sum(
            r["err_connect"] + r["err_read"] + r["err_write"] + r["err_timeout"] + r["err_status"]
            for r in rows
        ),
        "bytes": statistics.median(r["bytes"] / r["requests"] for r in rows if r["requests"])
        if any(r["requests"] for r in rows)
        else 0,
        "cores": statistics.median(r.get("server_cores", 0) for r in rows),
        "db_cores": statistics.median(r.get("db_cores", 0) for r in rows),
        "other": max(r.get("other_cores", 0) for r in rows),
        "reps": len(rows),
    }


def verdict(key, s, isso):
    target = TARGETS.get(key)
    if not target:
        return "", ""
    min_ratio, max_p99 = target
    text = f">= {min_ratio:.0f}x Isso" + (f", p99 < {max_p99:.0f} ms" if max_p99 else "")
    if s is None or isso is None or not isso["rps"]:
        return text, "n/a"
    ok = s["rps"] / isso["rps"] >= min_ratio and (max_p99 is None or s["p99"] < max_p99)
    return text, "MET" if ok else "MISSED"


def side_facts(run_dir, name):
    """Start-up time and seeding rate from the harness's logs, peak memory from rss.json."""
    facts = {"startup": "-", "seed": "-", "rss": "-", "nproc": "-"}
    out = os.path.join(run_dir, name + ".out")
    if os.path.exists(out):
        with open(out) as f:
            for line in f:
                m = re.search(r"scenario=startup ms=(\d+)", line)
                if m:
                    facts["startup"] = m.group(1)
    err = os.path.join(run_dir, name + ".err")
    if os.path.exists(err):
        with open(err) as f:
            for line in f:
                m = re.search(r"seeded /bench/thread-n1000: (\{.*\})", line)
                if m:
                    facts["seed"] = f"{json.loads(m.group(1))['per_s']:.0f}"
    rss = os.path.join(run_dir, name, "rss.json")
    if os.path.exists(rss):
        with open(rss) as f:
            d = json.load(f)
        facts["rss"] = f"{d['peak_sum_rss_kb'] / 1024:.0f}"
        facts["nproc"] = str(d["max_nproc"])
    return facts


def main():
    run_dir = sys.argv[1]
    data = {name: load(run_dir, name) for name, _ in SYSTEMS}
    busy = []
    print(
        "| scenario | system | req/s (min–max) | p50 ms | p99 ms (worst) | × Isso "
        "| KiB/resp | server cores | other cores | errors | target | verdict |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for scen, n, c, label in SCENARIOS:
        key = (scen, n, c)
        if not any(key in data[name] for name, _ in SYSTEMS):
            continue  # not run (the quick run has no 1-connection scenarios)
        isso = summary(data["isso"].get(key, []))
        for name, title in SYSTEMS:
            s = summary(data[name].get(key, []))
            if s is None:
                print(f"| {label} | {title} | no data |" + " |" * 9)
                continue
            ratio = target = result = ""
            if name != "isso":
                if isso and isso["rps"]:
                    ratio = f"{s['rps'] / isso['rps']:.1f}×"
                target, result = verdict(key, s, isso)
            if s["other"] > BUSY:
                busy.append(f"{label} / {title}")
            cells = [
                label,
                title,
                f"{rate(s['rps'])} ({rate(s['rps_min'])}–{rate(s['rps_max'])})",
                ms(s["p50"]),
                f"{ms(s['p99'])} ({ms(s['p99_max'])})",
                ratio,
                f"{s['bytes'] / 1024:.1f}",
                f"{s['cores']:.2f}" + (f" + {s['db_cores']:.2f} db" if s["db_cores"] else ""),
                f"{s['other']:.2f}",
                str(s["errors"]),
                target,
                result,
            ]
            print("| " + " | ".join(cells) + " |")
    print()
    print(
        "| system | start-up ms | seeding, sequential POSTs/s "
        "| peak RSS MiB (all processes) | processes |"
    )
    print("|---|---:|---:|---:|---:|")
    for name, title in SYSTEMS:
        f = side_facts(run_dir, name)
        print(f"| {title} | {f['startup']} | {f['seed']} | {f['rss']} | {f['nproc']} |")
    print()
    refs = ", ".join(
        f"{label.split(',')[0]} {ISSO_REFERENCE[(s, n, c)]}"
        for s, n, c, label in SCENARIOS
        if (s, n, c) in ISSO_REFERENCE
    )
    print(
        f"Isso reference figures at c=32, earlier runs on a machine of this kind (context): {refs}."
    )
    print("Ratios and verdicts use Isso as measured in this run.")
    if busy:
        print(
            f"Other processes used more than {BUSY} cores during: {'; '.join(busy)}. "
            "Those figures are disturbed (usually low); rerun on a quiet machine."
        )


if __name__ == "__main__":
    main()
