#!/usr/bin/env bash
# Throughput of `rdp-doctor logs` on the sample .evtx files (tests/fixtures/evidence/evtx):
# records/s and MiB/s, one thread and one worker per CPU. Release build; BENCH_ROUNDS=N repeats
# the sample set N times (default 10). No cargo bench needed.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_ROUNDS="${BENCH_ROUNDS:-10}" cargo test --release -p rdp-doctor --test evidence_bench \
  -- --ignored --nocapture bench_logs_throughput 2>&1 | grep -E 'threads=|single|test result'
echo "cpus: $(nproc)"
