#!/usr/bin/env bash
# The "Scale" figures of docs/performance.md: for 100, 1 000 and 5 000
# simulated clinics, a fresh bench store, a fresh pulse-sync-server, and
# sync-load for DURATION (default 120 s) with a push of 20 changes every 5 s
# and a pull every 30 s per clinic. Builds nothing: point BUILD at a build
# directory holding pulse-sync-server and sync-load.
#
#   BUILD=build-perf benchmarks/sync/run_load.sh [CLINICS...]
#
# Environment: BUILD (default ./build), DURATION (default 120s),
# SERVER_THREADS (default 32: handler threads block in the store's group
# commit, so more threads = bigger groups), SERVER_ARGS (extra serve flags,
# e.g. "--group-commit off" for the before/after figure), WORK (default a new
# mktemp -d; removed at the end unless KEEP=1).
set -euo pipefail

BUILD=${BUILD:-build}
DURATION=${DURATION:-120s}
SERVER_THREADS=${SERVER_THREADS:-32}
SERVER_BIN="$BUILD/sync-server/pulse-sync-server"
LOAD_BIN="$BUILD/tools/sync-load"
for bin in "$SERVER_BIN" "$LOAD_BIN"; do
  [[ -x "$bin" ]] || { echo "run_load.sh: $bin missing (build it first)" >&2; exit 2; }
done
CLINIC_COUNTS=("$@")
[[ ${#CLINIC_COUNTS[@]} -gt 0 ]] || CLINIC_COUNTS=(100 1000 5000)

WORK=${WORK:-$(mktemp -d /tmp/pulse-load.XXXXXX)}
# Bench-only secrets, generated per run and never written to disk.
export PULSE_STORE_PASSPHRASE="bench-store-$RANDOM-$RANDOM"
export PULSE_LOAD_PASSWORD="Load-Bench-$RANDOM-pw"
ulimit -n "$(ulimit -Hn)"  # one socket per clinic on both sides

server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"; wait "$server_pid" || true
  fi
  [[ "${KEEP:-0}" == 1 ]] || rm -rf "$WORK"
}
trap cleanup EXIT

echo "machine: $(nproc) cores, $(uname -r); load average $(cut -d' ' -f1-3 /proc/loadavg)"
for n in "${CLINIC_COUNTS[@]}"; do
  run="$WORK/$n"
  mkdir -p "$run"
  echo "=== $n clinics ==="
  "$LOAD_BIN" --setup --store "$run/store" --clinics "$n" --roster "$run/roster" \
    2> "$run/setup.log"
  "$SERVER_BIN" serve --store "$run/store" --listen 127.0.0.1:0 \
    --threads "$SERVER_THREADS" ${SERVER_ARGS:-} > "$run/server.out" \
    2> "$run/server.log" &
  server_pid=$!
  for _ in $(seq 100); do
    grep -q '^listening on' "$run/server.out" 2>/dev/null && break
    sleep 0.1
  done
  addr=$(sed -n 's/^listening on //p' "$run/server.out")
  [[ -n "$addr" ]] || { echo "server did not start:"; cat "$run/server.log"; exit 1; }
  load_avg_before=$(cut -d' ' -f1 /proc/loadavg)
  "$LOAD_BIN" --server "http://$addr" --roster "$run/roster" --clinics "$n" \
    --duration "$DURATION" --push-interval 5s --pull-interval 30s \
    --changes-per-push 20 --server-pid "$server_pid" 2> "$run/load.log"
  echo "server CPU (user+sys ticks): $(awk '{print $14+$15}' /proc/$server_pid/stat)" \
       "; load average before/after: $load_avg_before / $(cut -d' ' -f1 /proc/loadavg)"
  kill -TERM "$server_pid"; wait "$server_pid" || true
  server_pid=""
  rm -rf "$run/store"
done
