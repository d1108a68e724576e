#!/usr/bin/env bash
# Benchmark: peak memory of `rdp-doctor logs` on large `Get-WinEvent | ConvertTo-Json` exports
# (issue 15, item 4). Generates the exports, runs `logs --format json` on each and prints the
# peak RSS (/usr/bin/time's maximum resident set size) next to the input size.
#   * events-array.json: an array of realistic Security 4625 records in Windows PowerShell 5.1's
#     shape (positional Properties, /Date()/ times, the rendered Message), SIZE_MB in all;
#   * events-wrapper.json: the same events in 5.1's {"value": [...], "Count": n} wrapper;
#   * zeros.json: an array of ZEROS_MB (default 50) of `0` elements, each one a damaged element
#     (before the streaming reader, 50 MB of it took 1.8 GiB; kept smaller so that an old
#     build does not exhaust the machine).
# Needs: python3, awk, time (GNU, /usr/bin/time). Usage: bench/logs-memory.sh [SIZE_MB] (default 200)
# BIN=path/to/rdp-doctor runs that binary instead of a fresh release build (to compare builds).
set -euo pipefail
SIZE_MB=${1:-200}
ZEROS_MB=${ZEROS_MB:-50}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/rdp-doctor-logs-memory.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

if [ -z "${BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release -q -p rdp-doctor)
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/rdp-doctor"
fi

python3 - "$WORK" "$SIZE_MB" "$ZEROS_MB" <<'PY'
import sys
work, size = sys.argv[1], int(sys.argv[2]) * 1024 * 1024
zeros = int(sys.argv[3]) * 1024 * 1024
def event(i):
    return ('{"Id":4625,"Version":0,"ProviderName":"Microsoft-Windows-Security-Auditing",'
            '"LogName":"Security","MachineName":"fs02.offsec.lan","RecordId":%d,'
            '"TimeCreated":"\\/Date(%d)\\/","LevelDisplayName":"Information","Properties":['
            '{"Value":{"BinaryLength":12,"AccountDomainSid":null,"Value":"S-1-0-0"}},{"Value":"-"},'
            '{"Value":"-"},{"Value":0},{"Value":{"BinaryLength":12,"AccountDomainSid":null,'
            '"Value":"S-1-0-0"}},{"Value":"user%d"},{"Value":"OFFSEC"},{"Value":-1073741718},'
            '{"Value":"%%%%2313"},{"Value":-1073741718},{"Value":3},{"Value":"NtLmSsp "},'
            '{"Value":"NTLM"},{"Value":"WS%d"},{"Value":"-"},{"Value":"-"},{"Value":0},{"Value":0},'
            '{"Value":"-"},{"Value":"10.23.23.%d"},{"Value":"0"}],"Message":"An account failed to '
            'log on.\\r\\n\\r\\nSubject:\\r\\n\\tSecurity ID:\\t\\tS-1-0-0\\r\\n\\tAccount Name:'
            '\\t\\t-\\r\\n\\r\\nLogon Type:\\t\\t\\t3\\r\\n\\r\\nFailure Information:\\r\\n\\t'
            'Failure Reason:\\t\\tUnknown user name or bad password.\\r\\n\\tStatus:\\t\\t\\t'
            '0xC000006D\\r\\n\\tSub Status:\\t\\t0xC000006A"}'
            % (i, 1594531625579 + i * 1000, i % 50, i % 7, i % 200))
n = 0
with open(f"{work}/events-array.json", "w") as a, open(f"{work}/events-wrapper.json", "w") as w:
    a.write("[")
    w.write('{"value":[')
    written = 1
    while written < size:
        e = event(n)
        sep = ",\n" if n else "\n"
        a.write(sep + e)
        w.write(sep + e)
        written += len(e) + 2
        n += 1
    a.write("\n]\n")
    w.write('],"Count":%d}\n' % n)
with open(f"{work}/zeros.json", "w") as z:
    z.write("[0" + ",0" * (zeros // 2) + "]")
print(f"{n} events")
PY

printf '%-20s %10s %10s %14s %8s\n' input "size MiB" records "peak RSS MiB" seconds
for f in events-array events-wrapper zeros; do
  file="$WORK/$f.json"
  start=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$WORK/rss" "$BIN" logs --format json "$file" >"$WORK/out.json" || true
  end=$(date +%s.%N)
  records=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["totals"]["records"])' "$WORK/out.json" 2>/dev/null || echo "?")
  awk -v f="$f" -v size="$(stat -c %s "$file")" -v rec="$records" -v rss="$(tail -n 1 "$WORK/rss")" \
    -v s="$start" -v e="$end" \
    'BEGIN { printf "%-20s %10.1f %10s %14.1f %8.1f\n", f, size / 1048576, rec, rss / 1024, e - s }'
done
