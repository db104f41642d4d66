#!/usr/bin/env python3
"""Print the comparison tables of one bench/run: voxpop (SQLite, PostgreSQL) against Isso
and against a bare ASGI app serving the same bytes, the 1,000,000-comment scenario, the
query plans, and what each system does to make a commit durable.

usage: report.py RUN_DIR

RUN_DIR holds one bench_thread_get.sh --out-dir per system (isso/, voxpop-sqlite/,
voxpop-pg/, bare/, voxpop-pg-1m/, each with results.jsonl and rss.json), the harness's
stdout and stderr per system (NAME.out, NAME.err), and, when they ran, durability.jsonl
(bench/durability.py), voxpop-pg-1m/fill.json (bench/fill_pg.py) and explain.json /
explain.md (bench/explain.py). Built on the shared harness's bench_report.py
(shared/bench/bench_report.py): same inputs, one row per scenario and system, plus the
ratios measured in the same run and the targets of the performance issue.

Figures per scenario and system are medians over the accepted repetitions:
  req/s   successful (2xx/3xx) responses per second, (min-max over repetitions)
  p50/p99 wrk's latency percentiles of the repetition, median over repetitions
          (and the worst repetition's p99 in brackets)
  x Isso  voxpop's median req/s divided by Isso's median req/s for the same scenario
  % bare  voxpop's median req/s as a share of the bare ASGI app's for the same scenario
          (the same response bytes, served from memory with no framework)
  server cores   CPU of the server's processes (+ PostgreSQL's) during the runs, median
  other cores    CPU of everything else on the machine (not wrk), worst repetition
"""

import json
import os
import re
import statistics
import sys

SYSTEMS = [
    ("isso", "Isso 0.14"),
    ("voxpop-sqlite", "voxpop SQLite"),
    ("voxpop-sqlite-writers", "voxpop SQLite, {w} processes"),
    ("voxpop-pg", "voxpop PG"),
    ("voxpop-pg-writers", "voxpop PG, {w} processes"),
    ("bare", "bare ASGI (same bytes)"),
]
# Systems that run the write scenario only (bench/run: BENCH_WRITE_WORKERS processes).
WRITES_ONLY = {"voxpop-sqlite-writers", "voxpop-pg-writers"}
SCENARIOS = [  # (scenario, n, c, label)
    ("get", 10, 1, "read 10, c=1"),
    ("get", 10, 32, "read 10, c=32"),
    ("get", 100, 1, "read 100, c=1"),
    ("get", 100, 32, "read 100, c=32"),
    ("get", 1000, 1, "read 1000, c=1"),
    ("get", 1000, 32, "read 1000, c=32"),
    ("getu", 100, 1, "read 100 uncached, c=1"),
    ("getu", 100, 32, "read 100 uncached, c=32"),
    ("post", 0, 32, "post, c=32"),
]
# The targets of the performance issue (issue 7), per scenario, for each voxpop backend:
# ("isso", r): req/s >= r x Isso's in the same run; ("p99", ms): p99 < ms;
# ("bare", pct): req/s >= pct % of the bare ASGI app serving the same bytes, same run.
TARGETS = {
    ("get", 100, 32): [("isso", 80.0), ("p99", 25.0), ("bare", 50.0)],
    ("get", 1000, 32): [("isso", 80.0), ("bare", 50.0)],
    ("post", 0, 32): [("isso", 3.0)],
}
FILL_TARGET = 1.5  # p99 with 1,000,000 other comments / p99 without: less than this
# Isso on a machine of this kind, measured earlier (context only; this run measures Isso).
ISSO_REFERENCE = {("get", 10, 32): 233, ("get", 100, 32): 25, ("get", 1000, 32): 2.4}
ISSO_REFERENCE[("post", 0, 32)] = 381
BUSY = 0.3  # cores used by other processes during a kept repetition: the harness's limit


def rate(v):
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 1 else f"{v:.2f}"


def ms(v):
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 1 else f"{v:.2f}"


def load(run_dir, name):
    """(scenario, n, c, phase) -> the accepted repetitions of one system."""
    groups = {}
    path = os.path.join(run_dir, name, "results.jsonl")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    kv = dict(x.split("=", 1) for x in r["key"].split())
                    key = (kv["scenario"], int(kv["n"]), int(kv["c"]), kv.get("phase", ""))
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


def verdict(key, s, isso, bare):
    """(target text, verdict) of one voxpop row: MET or MISSED: which parts, and in brackets
    the parts that could not be judged (n/a: a subset run, or Isso answered nothing)."""
    target = TARGETS.get(key)
    if not target:
        return "", ""
    texts, missed, unknown = [], [], []
    for kind, bound in target:
        if kind == "isso":
            texts.append(f">= {bound:g}x Isso")
            if isso and isso["rps"]:
                ok = s["rps"] / isso["rps"] >= bound
            else:  # not run, or no answer within the run (Isso's 1,000-comment reads)
                ok = "no Isso data" if not isso else "Isso answered nothing"
        elif kind == "p99":
            texts.append(f"p99 < {bound:g} ms")
            ok = s["p99"] < bound
        else:
            texts.append(f">= {bound:g} % bare")
            ok = s["rps"] / bare["rps"] * 100 >= bound if bare and bare["rps"] else "no bare data"
        if isinstance(ok, str):
            unknown.append(ok)
        elif not ok:
            missed.append({"isso": "× Isso", "p99": "p99", "bare": "% bare"}[kind])
    result = "MISSED: " + ", ".join(missed) if missed else "MET"
    if unknown:
        result += " (n/a: " + ", ".join(unknown) + ")"
    return ", ".join(texts), result


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
    if os.path.exists(err) and name != "bare":  # bare seeds nothing: it checks its bytes
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


def main_table(run_dir, data, busy):
    print(
        "| scenario | system | req/s (min–max) | p50 ms | p99 ms (worst) | × Isso | % bare "
        "| KiB/resp | server cores | other cores | errors | target | verdict |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for scen, n, c, label in SCENARIOS:
        key = (scen, n, c)
        if not any((*key, "") in data[name] for name, _ in SYSTEMS):
            continue  # not run (the quick run has no 1-connection scenarios)
        isso = summary(data["isso"].get((*key, ""), []))
        bare = summary(data["bare"].get(("get", n, c, ""), [])) if scen == "get" else None
        for name, title in SYSTEMS:
            s = summary(data[name].get((*key, ""), []))
            if s is None:
                if name in WRITES_ONLY and (scen != "post" or not data[name]):
                    continue
                if name != "bare" and (name != "isso" or scen != "getu"):
                    print(f"| {label} | {title} | no data |" + " |" * 10)
                continue
            ratio = share = target = result = ""
            if name.startswith("voxpop"):
                if isso and isso["rps"]:
                    ratio = f"{s['rps'] / isso['rps']:.1f}×"
                if bare and bare["rps"]:
                    share = f"{s['rps'] / bare['rps'] * 100:.0f} %"
                target, result = verdict(key, s, isso, bare)
            if s["other"] > BUSY:
                busy.append(f"{label} / {title}")
            cells = [
                label,
                title,
                f"{rate(s['rps'])} ({rate(s['rps_min'])}–{rate(s['rps_max'])})",
                ms(s["p50"]),
                f"{ms(s['p99'])} ({ms(s['p99_max'])})",
                ratio,
                share,
                f"{s['bytes'] / 1024:.1f}",
                f"{s['cores']:.2f}" + (f" + {s['db_cores']:.2f} db" if s["db_cores"] else ""),
                f"{s['other']:.2f}",
                str(s["errors"]),
                target,
                result,
            ]
            print("| " + " | ".join(cells) + " |")


def fill_table(run_dir, busy):
    """The 1,000,000-comment scenario: the same reads before and after the fill."""
    data = load(run_dir, "voxpop-pg-1m")
    if not data:
        return
    fill = {}
    path = os.path.join(run_dir, "voxpop-pg-1m", "fill.json")
    if os.path.exists(path):
        with open(path) as f:
            text = f.read().strip().splitlines()
        fill = json.loads(text[-1]) if text else {}
    n_text = f"{fill['comments']:,}" if fill else "the"
    print()
    print(
        f"voxpop on PostgreSQL, the 100-comment thread, before and after {n_text} other "
        "comments were added to the database (same server process, same thread):"
    )
    print()
    print(
        "| read | c | before: req/s | p50 ms | p99 ms | after: req/s | p50 ms | p99 ms "
        "| p99 after / before | target | verdict |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    labels = {"get": "cached (as read 100)", "getu": "uncached (page built per request)"}
    for scen in ("get", "getu"):
        for c in (1, 32):
            before = summary(data.get((scen, 100, c, "before"), []))
            after = summary(data.get((scen, 100, c, "after"), []))
            if before is None and after is None:
                continue
            cells = [labels[scen], str(c)]
            for s in (before, after):
                cells += [rate(s["rps"]), ms(s["p50"]), ms(s["p99"])] if s else ["no data", "", ""]
                if s and s["other"] > BUSY:
                    busy.append(f"1M {labels[scen]} c={c}")
            ratio, result = "", "n/a"
            if before and after and before["p99"]:
                r = after["p99"] / before["p99"]
                ratio = f"{r:.2f}×"
                result = "MET" if r < FILL_TARGET else "MISSED"
            cells += [ratio, f"< {FILL_TARGET:g}×", result]
            print("| " + " | ".join(cells) + " |")
    if fill:
        secs = fill.get("seconds", {})
        rows = fill.get("rows", {})
        print()
        print(
            f"Fill (bench/fill_pg.py, SQL): {fill['comments']:,} comments "
            f"({fill['top_level']:,} top-level, {fill['approved']:,} approved) on "
            f"{fill['articles']:,} articles, {rows.get('votes', 0):,} votes, "
            f"{rows.get('ratings', 0):,} ratings, {rows.get('flags', 0):,} flags, "
            f"{fill['readers']:,} readers in {fill['fill_seconds']:.0f} s (comments alone "
            f"{secs.get('comments', 0):.0f} s), then VACUUM ANALYZE "
            f"{secs.get('vacuum analyze', 0):.0f} s and CHECKPOINT {secs.get('checkpoint', 0):.0f}"
            f" s; comments table {fill['comments_size']}, database {fill['database_size']}; "
            f"busiest article {fill['busiest_article_approved']:,} approved comments, median "
            f"{fill['median_article_approved']}."
        )


def explain_summary(run_dir):
    md = os.path.join(run_dir, "explain.md")
    js = os.path.join(run_dir, "explain.json")
    if not os.path.exists(md):
        return
    print()
    extra = ""
    if os.path.exists(js):
        with open(js) as f:
            d = json.load(f)
        extra = (
            f" ({d['comments']:,} comments; {d['flagged']} statement(s) flagged; plans in "
            "explain.txt)"
        )
    print(f"Query plans at the filled database (bench/explain.py){extra}:")
    print()
    with open(md) as f:
        print(f.read().rstrip())


def durability_notes(run_dir):
    path = os.path.join(run_dir, "durability.jsonl")
    if not os.path.exists(path):
        return
    titles = dict(SYSTEMS) | {"voxpop-pg": "voxpop PG (and the 1M scenario)"}
    print()
    print("Durability of a write, per system (bench/durability.py, measured in this run):")
    with open(path) as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                mark = "durable" if d["durable"] else "NOT durable"
                print(f"- {titles.get(d['system'], d['system'])}: {mark}: {d['note']}.")


def main():
    global SYSTEMS
    run_dir = sys.argv[1]
    workers = "2"  # bench/run records BENCH_WRITE_WORKERS in the run's directory
    path = os.path.join(run_dir, "write-workers")
    if os.path.exists(path):
        with open(path) as f:
            workers = f.read().strip() or workers
    SYSTEMS = [(name, title.replace("{w}", workers)) for name, title in SYSTEMS]
    data = {name: load(run_dir, name) for name, _ in SYSTEMS}
    busy = []
    main_table(run_dir, data, busy)
    print()
    print(
        "| system | start-up ms | seeding, sequential POSTs/s "
        "| peak RSS MiB (all processes) | processes |"
    )
    print("|---|---:|---:|---:|---:|")
    for name, title in SYSTEMS:
        if os.path.exists(os.path.join(run_dir, name + ".out")):
            f = side_facts(run_dir, name)
            print(f"| {title} | {f['startup']} | {f['seed']} | {f['rss']} | {f['nproc']} |")
    fill_table(run_dir, busy)
    explain_summary(run_dir)
    durability_notes(run_dir)
    print()
    refs = ", ".join(
        f"{label.split(',')[0]} {ISSO_REFERENCE[(s, n, c)]}"
        for s, n, c, label in SCENARIOS
        if (s, n, c) in ISSO_REFERENCE
    )
    print(
        f"Isso reference figures at c=32, earlier runs on a machine of this kind (context): {refs}."
    )
    print("Ratios and verdicts use Isso and the bare app as measured in this run.")
    if busy:
        print(
            f"Other processes used more than {BUSY} cores during: {'; '.join(busy)}. "
            "Those figures are disturbed (usually low); rerun on a quiet machine."
        )


if __name__ == "__main__":
    main()
