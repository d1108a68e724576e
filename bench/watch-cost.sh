#!/usr/bin/env bash
# Benchmark: what `rdp-doctor watch` costs at 1 probe/s against the lab (a healthy endpoint):
# CPU (% of one core, from utime+stime in /proc/PID/stat over the wall time) and resident
# memory (VmRSS, sampled every 10 s: first, last, highest), for the JSON-lines mode (a pipe)
# and for the live view (in a tmux pane, 100x30). The lab's own cost is not counted.
# Needs: Linux /proc, tmux (see .ci/run). Usage: bench/watch-cost.sh [SECONDS]  (default 180)
# BIN=path/to/rdp-doctor uses that binary instead of building the release one.
set -euo pipefail
SECS=${1:-180}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/rdp-doctor-watch-bench.XXXXXX)
PORT=${PORT:-46489}
SOCK="rdp-doctor-watch-bench-$$"
LAB_PID=""
cleanup() {
  [ -n "$LAB_PID" ] && kill "$LAB_PID" 2>/dev/null || true
  tmux -L "$SOCK" kill-server 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cd "$ROOT"
if [ -z "${BIN:-}" ]; then
  cargo build --release -q -p rdp-doctor
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/rdp-doctor"
fi
TICKS=$(getconf CLK_TCK)

"$BIN" lab --quiet --listen "127.0.0.1:$PORT" --fault healthy --ca-out "$WORK/ca.pem" 2>/dev/null &
LAB_PID=$!
for _ in $(seq 100); do [ -s "$WORK/ca.pem" ] && break; sleep 0.1; done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# measure PID LABEL: CPU over SECS seconds and RSS samples
measure() {
  local pid=$1 label=$2
  sleep 5 # start-up (runtime, trust store, first full check) is not the steady state
  local t0 c0 first rss max=0 last
  t0=$(date +%s.%N)
  c0=$(cpu_ticks "$pid")
  first=$(rss_kb "$pid")
  local end=$(( $(date +%s) + SECS ))
  while [ "$(date +%s)" -lt "$end" ]; do
    sleep 10
    rss=$(rss_kb "$pid")
    [ "$rss" -gt "$max" ] && max=$rss
    last=$rss
  done
  local c1 t1
  c1=$(cpu_ticks "$pid")
  t1=$(date +%s.%N)
  awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$TICKS" \
      -v first="$first" -v last="$last" -v max="$max" -v label="$label" 'BEGIN {
    wall = t1 - t0; cpu = (c1 - c0) / hz
    printf "%-8s %6.0f s  CPU %5.2f s = %5.2f %% of one core  RSS first %d KiB, last %d KiB, max %d KiB\n",
      label, wall, cpu, 100 * cpu / wall, first, last, max
  }'
}

echo "rdp-doctor watch at 1 probe/s (full check every 30 s) for ${SECS} s against the lab, $(nproc) cores"

"$BIN" watch --format jsonl --interval 1 --full-every 30 --ca "$WORK/ca.pem" "127.0.0.1:$PORT" \
  > "$WORK/watch.jsonl" &
W=$!
measure "$W" "jsonl"
kill "$W"; wait "$W" 2>/dev/null || true
echo "         $(grep -c '"type":"sample"' "$WORK/watch.jsonl") samples written"

tmux -L "$SOCK" new-session -d -s b -x 100 -y 30 \
  "exec $BIN watch --interval 1 --full-every 30 --ca $WORK/ca.pem 127.0.0.1:$PORT"
sleep 1
W=$(tmux -L "$SOCK" display-message -p -t b '#{pane_pid}')
measure "$W" "live"
tmux -L "$SOCK" send-keys -t b q
