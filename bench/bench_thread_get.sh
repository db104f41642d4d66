#!/usr/bin/env bash
# bench_thread_get.sh - start a comment server, seed threads through its HTTP API,
# load it with wrk on loopback, print one RESULT line per scenario, stop it.
#
# Copied from the project's shared benchmark harness (shared/bench/bench_thread_get.sh)
# and adapted for voxpop's bench/run.  Added: --capture-dir, --uncached and --fill-cmd
# (below); --duration-n (per-thread-size durations, for
# peers that serve a large thread at a few requests per second) and, before every wrk
# run and seeding, a wait until the server has finished the requests the previous run
# left queued (--idle-max-wait); --db-pid (a database server: its CPU is recorded as
# db_cores, not as other processes); --wait-budget (a time bound on quiet-waits and
# retries).  Everything else is as in the shared harness.
#
# Usage (all durations bounded; every target is 127.0.0.0/8, ::1 or localhost):
#   bench_thread_get.sh --name NAME --port PORT --server-cmd 'CMD' [options]
#
#   --server-cmd CMD      run with `bash -c` in a new session (own process group).
#                         It sees BENCH_HOST, BENCH_PORT, BENCH_DATA_DIR (fresh, empty
#                         per server start) and BENCH_HERE (this directory).  Prefer
#                         `exec ...` so the server is the process the harness tracks.
#   --host H              default 127.0.0.1 (must be loopback)
#   --adapter A           adapters/A.py (default isso; `static` for fixed responses)
#   --adapter-opt k=v     passed to the adapter, repeatable
#   --comments "0 10 ..." thread sizes to seed and GET (default "0 10 100 1000")
#   --concurrency "1 32"  wrk connections for the GET scenarios (default "1 32")
#   --post-concurrency "" wrk connections for the POST scenario (default: none)
#   --duration S          seconds per measured wrk run (default 10, max 120)
#   --duration-n "N=S .." per thread size N, use S seconds instead of --duration
#                         (e.g. "1000=30" for a server that does 2 req/s there)
#   --reps R              measured runs per scenario (default 3)
#   --warmup S            discarded wrk run before each scenario (default 2, 0 = none)
#   --wrk-threads T       wrk -t (default 1; capped at the connection count)
#   --wrk-timeout S       wrk per-request timeout (default 30s)
#   --start-reps K        extra start/ready/stop cycles to time start-up (default 0)
#   --pre-start-cmd CMD   run (bash -c, same env) after the data dir is made, before start
#   --data-root DIR       parent of the per-start data dirs (default /tmp/bench-data)
#   --out-dir DIR         logs + results.jsonl (default /tmp/bench-results/NAME-RUNID)
#   --ready-timeout S     default 60
#   --quiet-threshold C   before each measured run wait until no other load generator
#                         (wrk/oha/ab/hey/k6) runs and the machine's busy CPU (the idle
#                         server barely counts) is below C cores over 1 s (default 0.25) ...
#   --quiet-max-wait S    ... but at most S seconds (default 120), then measure anyway.
#                         Each run records server / load-generator / other-process /
#                         softirq CPU (cores) next to its wrk figures.
#   --max-other-cores C   a measured run during which other processes used more than C
#                         cores on average is logged to results.rejected.jsonl and
#                         redone (default 0.3) ...
#   --max-retries K       ... at most K extra times per rep (default 3); then it is kept.
#   --idle-max-wait S     before every wrk run, wait until the server group uses < 0.1
#                         core (it has drained the previous run's queue), at most S s
#                         (default 90)
#   --db-pid P            a database server the server uses (PostgreSQL's postmaster):
#                         its and its children's CPU is recorded as db_cores, not counted
#                         as other processes, and it too must be idle before a run
#   --wait-budget S       seconds this run may spend in quiet-waits and redone runs in
#                         all (default: unlimited); once spent, measure at once, keep
#                         every run (bounds the run on a machine that stays busy)
#   --capture-dir DIR     after seeding each thread, save the response of its read as the
#                         server answers it from then on (nN.path, nN.headers from
#                         curl -D, nN.body): what bench/bare_asgi.py serves
#   --uncached            per thread size and connection count, also a cache-miss read
#                         scenario (getu): reads of the same thread that each miss the
#                         server's cache (the adapter's thread_get_uncached) ...
#   --uncached-n "N .."   ... for these thread sizes only (default: all)
#   --fill-cmd CMD        run the read scenarios (phase=before), then CMD (bash -c, same
#                         env; its last stdout line, JSON, is kept in OUT_DIR/fill.json and
#                         on a RESULT scenario=fill line), wait until server and database
#                         are idle, and run the read scenarios again (phase=after)
#
# Output: RESULT lines on stdout (per-run detail goes to stderr and results.jsonl):
#   RESULT name=... scenario=startup ms=MED (MIN-MAX) reps=K
#   RESULT name=... scenario=get n=N c=C reps=R ok_rps=MED (MIN-MAX) p50_ms=... p99_ms=... ...
#   RESULT name=... scenario=getu n=N c=C ...      (--uncached; with --fill-cmd every get
#                                                    and getu line also has phase=before|after)
#   RESULT name=... scenario=fill ms=... {JSON}    (--fill-cmd)
#   RESULT name=... scenario=post c=C ...
#   RESULT name=... scenario=rss peak_sum_rss_mb=... peak_sum_pss_mb=... max_proc_hwm_mb=... nproc=...
#
# The server is stopped by the PID the harness started (SIGTERM, then its process
# group, which has that same id); nothing is ever killed by name.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${BENCH_PYTHON:-python3}"
HELPER=("$PY" "$HERE/bench_helper.py")

NAME="" PORT="" SERVER_CMD="" HOST="127.0.0.1" ADAPTER="isso"
ADAPTER_OPTS=() COMMENTS="0 10 100 1000" CONCURRENCY="1 32" POST_CONC=""
DURATION=10 DURATION_N="" REPS=3 WARMUP=2 WRK_THREADS=1 WRK_TIMEOUT=30s START_REPS=0
PRE_START_CMD="" DATA_ROOT="/tmp/bench-data" OUT_DIR="" READY_TIMEOUT=60
QUIET_THRESHOLD=0.25 QUIET_MAX_WAIT=120 MAX_OTHER=0.3 MAX_RETRIES=3 IDLE_MAX_WAIT=90 DB_PID=() WAIT_BUDGET=-1 WAIT_SPENT=0
CAPTURE_DIR="" UNCACHED=0 UNCACHED_N="" FILL_CMD="" PHASE=""

while [[ $# -gt 0 ]]; do
  case "$1" in
    --name) NAME="$2"; shift 2;;
    --port) PORT="$2"; shift 2;;
    --server-cmd) SERVER_CMD="$2"; shift 2;;
    --host) HOST="$2"; shift 2;;
    --adapter) ADAPTER="$2"; shift 2;;
    --adapter-opt) ADAPTER_OPTS+=(--opt "$2"); shift 2;;
    --comments) COMMENTS="$2"; shift 2;;
    --concurrency) CONCURRENCY="$2"; shift 2;;
    --post-concurrency) POST_CONC="$2"; shift 2;;
    --duration) DURATION="$2"; shift 2;;
    --duration-n) DURATION_N="$2"; shift 2;;
    --reps) REPS="$2"; shift 2;;
    --warmup) WARMUP="$2"; shift 2;;
    --wrk-threads) WRK_THREADS="$2"; shift 2;;
    --wrk-timeout) WRK_TIMEOUT="$2"; shift 2;;
    --start-reps) START_REPS="$2"; shift 2;;
    --pre-start-cmd) PRE_START_CMD="$2"; shift 2;;
    --data-root) DATA_ROOT="$2"; shift 2;;
    --out-dir) OUT_DIR="$2"; shift 2;;
    --ready-timeout) READY_TIMEOUT="$2"; shift 2;;
    --quiet-threshold) QUIET_THRESHOLD="$2"; shift 2;;
    --quiet-max-wait) QUIET_MAX_WAIT="$2"; shift 2;;
    --max-other-cores) MAX_OTHER="$2"; shift 2;;
    --max-retries) MAX_RETRIES="$2"; shift 2;;
    --idle-max-wait) IDLE_MAX_WAIT="$2"; shift 2;;
    --db-pid) DB_PID+=(--db-pid "$2"); shift 2;;
    --wait-budget) WAIT_BUDGET="$2"; shift 2;;
    --capture-dir) CAPTURE_DIR="$2"; shift 2;;
    --uncached) UNCACHED=1; shift;;
    --uncached-n) UNCACHED_N="$2"; shift 2;;
    --fill-cmd) FILL_CMD="$2"; shift 2;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done

[[ -n "$NAME" && -n "$PORT" && -n "$SERVER_CMD" ]] || { echo "need --name, --port, --server-cmd" >&2; exit 2; }
[[ "$NAME" =~ ^[A-Za-z0-9._-]+$ ]] || { echo "--name: letters, digits, . _ - only" >&2; exit 2; }
[[ "$PORT" =~ ^[0-9]+$ ]] || { echo "--port must be a number" >&2; exit 2; }
(( DURATION >= 1 && DURATION <= 120 )) || { echo "--duration must be 1..120" >&2; exit 2; }
(( REPS >= 1 && REPS <= 20 )) || { echo "--reps must be 1..20" >&2; exit 2; }
for kv in $DURATION_N; do
  [[ "$kv" =~ ^[0-9]+=[0-9]+$ ]] && (( ${kv#*=} >= 1 && ${kv#*=} <= 120 )) \
    || { echo "--duration-n: N=S pairs, S in 1..120 (got $kv)" >&2; exit 2; }
done
duration_for() {  # $1 = thread size -> seconds
  local kv
  for kv in $DURATION_N; do [[ "${kv%%=*}" == "$1" ]] && { echo "${kv#*=}"; return; }; done
  echo "$DURATION"
}
command -v wrk >/dev/null || { echo "wrk not found (apt-get install -y wrk)" >&2; exit 2; }
case "$HOST" in *:*) URL_HOST="[$HOST]";; *) URL_HOST="$HOST";; esac
BASE="http://$URL_HOST:$PORT"
"${HELPER[@]}" check-free --host "$HOST" --port "$PORT"   # also refuses non-loopback hosts

RUN_ID="$(date +%Y%m%d-%H%M%S)-$$"
OUT_DIR="${OUT_DIR:-/tmp/bench-results/$NAME-$RUN_ID}"
mkdir -p "$OUT_DIR" "$DATA_ROOT"
RESULTS="$OUT_DIR/results.jsonl"
: > "$RESULTS"
READY_PATH="$("${HELPER[@]}" ready-path --adapter "$ADAPTER" "${ADAPTER_OPTS[@]}")"
export BENCH_HOST="$HOST" BENCH_PORT="$PORT" BENCH_HERE="$HERE"

SERVER_PID="" SAMPLER_PID=""
log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }

alive() {  # running and not a zombie
  [[ -r "/proc/$1/stat" ]] && ! awk '{ s=$0; sub(/.*\) /, "", s); split(s, f, " "); exit (f[1] == "Z") ? 0 : 1 }' "/proc/$1/stat" 2>/dev/null
}

LAST_STARTUP_MS=""
start_server() {  # $1 = tag; sets SERVER_PID and LAST_STARTUP_MS (ms to first 2xx on the readiness path)
  local tag="$1"
  export BENCH_DATA_DIR="$DATA_ROOT/$NAME-$RUN_ID-$tag"
  mkdir -p "$BENCH_DATA_DIR"
  if [[ -n "$PRE_START_CMD" ]]; then bash -c "$PRE_START_CMD" >"$OUT_DIR/prestart-$tag.log" 2>&1; fi
  local t0; t0="$(date +%s%N)"
  # setsid: new session + process group whose id is the PID we record
  setsid bash -c "$SERVER_CMD" >"$OUT_DIR/server-$tag.log" 2>&1 < /dev/null &
  SERVER_PID=$!
  if ! LAST_STARTUP_MS="$("${HELPER[@]}" wait-ready --url "$BASE$READY_PATH" --t0-ns "$t0" --timeout "$READY_TIMEOUT")"; then
    log "server did not become ready; log: $OUT_DIR/server-$tag.log"; tail -20 "$OUT_DIR/server-$tag.log" >&2
    return 1
  fi
  alive "$SERVER_PID" || { log "server process $SERVER_PID exited; something else answers on $BASE"; return 1; }
}

stop_server() {
  [[ -n "$SERVER_PID" ]] || return 0
  local pid="$SERVER_PID" i
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 150); do alive "$pid" || break; sleep 0.1; done
  alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
  # leftovers of the process group this harness created (pgid == pid); empty => no-op
  if pgrep -g "$pid" >/dev/null 2>&1; then
    kill -TERM -- "-$pid" 2>/dev/null || true; sleep 2
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  SERVER_PID=""
  for i in $(seq 1 100); do "${HELPER[@]}" check-free --host "$HOST" --port "$PORT" 2>/dev/null && break; sleep 0.1; done
}

stop_sampler() {
  [[ -n "$SAMPLER_PID" ]] || return 0
  kill -TERM "$SAMPLER_PID" 2>/dev/null || true
  wait "$SAMPLER_PID" 2>/dev/null || true
  SAMPLER_PID=""
}

cleanup() { stop_sampler; stop_server; }
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_idle() { "${HELPER[@]}" wait-idle --pgid "$SERVER_PID" "${DB_PID[@]}" --max-wait "$IDLE_MAX_WAIT"; }

run_wrk() {  # $1 scenario $2 n $3 c $4 lua $5 rep(0 = warm-up) $6 seconds; $PHASE if any
  local scen="$1" n="$2" c="$3" lua="$4" rep="$5" secs="$6" t attempt rc final t0
  t=$(( WRK_THREADS < c ? WRK_THREADS : c ))
  local tag="$scen${PHASE:+-$PHASE}-n$n-c$c-r$rep"
  local out="$OUT_DIR/wrk-$tag.txt" cpu="$OUT_DIR/cpu-$tag.json"
  for (( attempt = 0; attempt <= MAX_RETRIES; attempt++ )); do
    log "$scen${PHASE:+ $PHASE} n=$n c=$c rep=$rep try=$attempt $(wait_idle)"
    final=0; (( attempt < MAX_RETRIES )) || final=1
    if (( WAIT_BUDGET >= 0 && WAIT_SPENT >= WAIT_BUDGET )); then
      final=1  # budget spent: no quiet-wait, and this run is kept whatever else ran
    elif (( rep > 0 )); then
      t0=$(date +%s)
      log "$scen n=$n c=$c rep=$rep try=$attempt quiet-wait: $("${HELPER[@]}" wait-quiet --threshold "$QUIET_THRESHOLD" --max-wait "$QUIET_MAX_WAIT")"
      t0=$(( $(date +%s) - t0 - 2 ))  # a quiet machine answers in 1-2 s: not counted
      (( t0 <= 0 )) || WAIT_SPENT=$(( WAIT_SPENT + t0 ))
    fi
    "${HELPER[@]}" run-measured --pgid "$SERVER_PID" "${DB_PID[@]}" --info-out "$cpu" -- timeout $(( secs + ${WRK_TIMEOUT%s} + 15 )) \
      wrk -t "$t" -c "$c" -d "${secs}s" --timeout "$WRK_TIMEOUT" --latency -s "$lua" "$BASE" >"$out" 2>&1 || {
        log "wrk failed ($scen n=$n c=$c rep=$rep)"; cat "$out" >&2; return 1; }
    (( rep > 0 )) || return 0
    local maxo="$MAX_OTHER"; (( final == 0 )) || maxo=999
    rc=0
    "${HELPER[@]}" parse-wrk --wrk-out "$out" --out "$RESULTS" --cpu-info "$cpu" --max-other "$maxo" \
      --meta "{\"key\":\"name=$NAME scenario=$scen n=$n c=$c${PHASE:+ phase=$PHASE}\",\"rep\":$rep,\"try\":$attempt,\"duration_s\":$secs}" || rc=$?
    (( rc == 3 )) || return "$rc"
    WAIT_SPENT=$(( WAIT_SPENT + secs ))  # a redone run costs its duration
    log "wait budget: ${WAIT_SPENT}s of ${WAIT_BUDGET}s spent"
  done
}

# ------------------------------------------------------------------ start-up timing
STARTUP_MS=()
for (( i = 1; i <= START_REPS; i++ )); do
  start_server "start$i"; STARTUP_MS+=("$LAST_STARTUP_MS"); log "start-up $i: ${LAST_STARTUP_MS} ms"
  stop_server
done

# ------------------------------------------------------------------ main run
start_server main; STARTUP_MS+=("$LAST_STARTUP_MS"); log "start-up (main): ${LAST_STARTUP_MS} ms; pid $SERVER_PID"
printf '%s\n' "${STARTUP_MS[@]}" | "$PY" -c '
import sys, statistics as s
v = [float(x) for x in sys.stdin.read().split()]
print(f"RESULT name='"$NAME"' scenario=startup ms={s.median(v):.0f} ({min(v):.0f}-{max(v):.0f}) reps={len(v)}")'

"${HELPER[@]}" rss-sample --pgid "$SERVER_PID" --out "$OUT_DIR/rss.json" &
SAMPLER_PID=$!

get_scenarios() {  # the read scenarios of every thread size; seeds each thread the first time
  local n uri lua luau path code_size c r key
  for n in $COMMENTS; do
    uri="/bench/thread-n$n"
    if (( n > 0 )) && [[ "$PHASE" != after ]]; then
      log "before seeding: $(wait_idle)"
      seedinfo="$(timeout 1800 "${HELPER[@]}" seed --adapter "$ADAPTER" --base "$BASE" --uri "$uri" --n "$n" "${ADAPTER_OPTS[@]}")"
      log "seeded $uri: $seedinfo"
    fi
    lua="$OUT_DIR/get-n$n.lua"
    "${HELPER[@]}" wrk-lua --adapter "$ADAPTER" --kind get --base "$BASE" --uri "$uri" --out "$lua" "${ADAPTER_OPTS[@]}"
    path="$(sed -n 's/^wrk.path = "\(.*\)"$/\1/p' "$lua")"
    code_size="$(curl -s -o /dev/null -w '%{http_code} %{size_download}' --max-time 60 "$BASE$path")"
    log "GET $path -> HTTP/bytes: $code_size"
    if [[ -n "$CAPTURE_DIR" && "$PHASE" != after ]]; then
      # the response a reader gets from the cache (the reads above filled it), for a
      # baseline server that serves the same bytes
      mkdir -p "$CAPTURE_DIR"
      printf '%s\n' "$path" > "$CAPTURE_DIR/n$n.path"
      curl -s --max-time 60 -D "$CAPTURE_DIR/n$n.headers" -o "$CAPTURE_DIR/n$n.body" "$BASE$path"
      log "captured GET $path: $(wc -c < "$CAPTURE_DIR/n$n.body") bytes, $(grep -c : "$CAPTURE_DIR/n$n.headers") headers"
    fi
    luau=""
    if (( UNCACHED )) && [[ -z "$UNCACHED_N" || " $UNCACHED_N " == *" $n "* ]]; then
      luau="$OUT_DIR/getu-n$n.lua"
      "${HELPER[@]}" wrk-lua --adapter "$ADAPTER" --kind get-uncached --base "$BASE" --uri "$uri" --out "$luau" "${ADAPTER_OPTS[@]}"
      path="$(sed -n 's/^wrk.path = "\(.*\)"$/\1/p' "$luau")"
      log "GET $path (as an uncached read, each with its own cursor) -> HTTP/bytes: $(curl -s -o /dev/null -w '%{http_code} %{size_download}' --max-time 60 "$BASE$path")"
    fi
    for c in $CONCURRENCY; do
      (( WARMUP > 0 )) && run_wrk get "$n" "$c" "$lua" 0 "$WARMUP"
      for (( r = 1; r <= REPS; r++ )); do run_wrk get "$n" "$c" "$lua" "$r" "$(duration_for "$n")"; done
      key="name=$NAME scenario=get n=$n c=$c${PHASE:+ phase=$PHASE}"
      "${HELPER[@]}" summarise --in "$RESULTS" --key "$key" | sed "s/\$/ resp_bytes=${code_size#* }/"
      [[ -n "$luau" ]] || continue
      (( WARMUP > 0 )) && run_wrk getu "$n" "$c" "$luau" 0 "$WARMUP"
      for (( r = 1; r <= REPS; r++ )); do run_wrk getu "$n" "$c" "$luau" "$r" "$(duration_for "$n")"; done
      "${HELPER[@]}" summarise --in "$RESULTS" --key "name=$NAME scenario=getu n=$n c=$c${PHASE:+ phase=$PHASE}"
    done
  done
}

if [[ -z "$FILL_CMD" ]]; then
  PHASE="" get_scenarios
else
  PHASE=before get_scenarios
  log "fill: $FILL_CMD"
  log "before fill: $(wait_idle)"
  t0="$(date +%s%N)"
  if ! bash -c "$FILL_CMD" > "$OUT_DIR/fill.json" 2> "$OUT_DIR/fill.log"; then
    log "fill failed:"; tail -20 "$OUT_DIR/fill.log" >&2; exit 1
  fi
  secs="$(( ($(date +%s%N) - t0) / 1000000 ))"
  echo "RESULT name=$NAME scenario=fill ms=$secs $(tail -1 "$OUT_DIR/fill.json")"
  log "filled in ${secs} ms; waiting until the database is idle: $(wait_idle)"
  PHASE=after get_scenarios
fi

if [[ -n "$POST_CONC" ]]; then
  uri="/bench/post-target"
  log "before seeding: $(wait_idle)"
  timeout 600 "${HELPER[@]}" seed --adapter "$ADAPTER" --base "$BASE" --uri "$uri" --n 1 "${ADAPTER_OPTS[@]}" >/dev/null
  lua="$OUT_DIR/post.lua"
  "${HELPER[@]}" wrk-lua --adapter "$ADAPTER" --kind post --base "$BASE" --uri "$uri" --out "$lua" "${ADAPTER_OPTS[@]}"
  for c in $POST_CONC; do
    (( WARMUP > 0 )) && run_wrk post 0 "$c" "$lua" 0 "$WARMUP"
    for (( r = 1; r <= REPS; r++ )); do run_wrk post 0 "$c" "$lua" "$r" "$DURATION"; done
    "${HELPER[@]}" summarise --in "$RESULTS" --key "name=$NAME scenario=post n=0 c=$c"
  done
fi

stop_sampler
"$PY" - "$OUT_DIR/rss.json" "$NAME" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
mb = lambda k: d[k] / 1024
print(f"RESULT name={sys.argv[2]} scenario=rss peak_sum_rss_mb={mb('peak_sum_rss_kb'):.1f} "
      f"peak_sum_pss_mb={mb('peak_sum_pss_kb'):.1f} max_proc_hwm_mb={mb('max_proc_hwm_kb'):.1f} "
      f"nproc={d['max_nproc']} samples={d['samples']}")
EOF
stop_server
log "done; details in $OUT_DIR"
