#!/usr/bin/env bash
# Benchmark: `rdp-doctor check` vs nmap's RDP scripts against the same local servers, run side by
# side: xrdp (TLS, no NLA) and FreeRDP's shadow server (NLA). Prints wall-time ratios and peak RSS.
# Needs: xrdp, freerdp2-shadow-x11, winpr-utils, xvfb, nmap, hyperfine, time, openssl (see .ci/run).
# Usage: bench/check-vs-nmap.sh [RUNS]   (default 10)
set -euo pipefail
RUNS=${1:-10}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/rdp-doctor-bench.XXXXXX)
XRDP_PORT=${XRDP_PORT:-46389}
SHADOW_PORT=${SHADOW_PORT:-46390}
DISPLAY_NUM=${DISPLAY_NUM:-46}
. "$ROOT/bench/servers.sh"

cd "$ROOT"
cargo build --release -q -p rdp-doctor
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/rdp-doctor"

start_servers

peak_kb() { { /usr/bin/time -f %M "$@" 2>&1 >/dev/null || true; } | tail -1; }

echo "rdp-doctor $("$BIN" --version | cut -d' ' -f2) vs $(nmap --version | head -1)"
echo
printf '%-22s %12s %12s %8s %14s %14s\n' server "rdp-doctor" "nmap" "ratio" "rdp-doctor RSS" "nmap RSS"
for srv in "xrdp-negotiate:$XRDP_PORT" "freerdp-shadow-nla:$SHADOW_PORT"; do
  name=${srv%%:*}; port=${srv##*:}
  hyperfine -N -i -w 1 -r "$RUNS" --export-json "$WORK/h.json" \
    "$BIN check 127.0.0.1:$port --format json --color never" \
    "nmap -Pn -n -p $port --script +rdp-enum-encryption,+rdp-ntlm-info,+ssl-cert 127.0.0.1" >/dev/null 2>&1
  read -r a b < <(python3 -c "import json;r=json.load(open('$WORK/h.json'))['results'];print(r[0]['mean'],r[1]['mean'])")
  ra=$(peak_kb "$BIN" check "127.0.0.1:$port" --format json)
  rb=$(peak_kb nmap -Pn -n -p "$port" --script +rdp-enum-encryption,+rdp-ntlm-info,+ssl-cert 127.0.0.1)
  printf '%-22s %10.1fms %10.1fms %7.0fx %11s KB %11s KB\n' "$name" "$(echo "$a*1000" | bc -l)" "$(echo "$b*1000" | bc -l)" "$(echo "$b/$a" | bc -l)" "$ra" "$rb"
  "$BIN" check "127.0.0.1:$port" --format json > "$WORK/$name.json" || true
  nmap -Pn -n -p "$port" --script +rdp-enum-encryption,+rdp-ntlm-info,+ssl-cert 127.0.0.1 > "$WORK/$name.nmap" 2>&1 || true
  python3 - "$WORK/$name.json" "$WORK/$name.nmap" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
nm = open(sys.argv[2]).read()
f = r["facts"]
p = f.get("protocols", {})
print(f"    rdp-doctor: verdict {r['verdict']}, NLA {p.get('nla')}, accepted {p.get('accepted')}, "
      f"cert {'yes' if f.get('certificate') else 'no'}, ntlm {'yes' if (f.get('credssp') or {}).get('ntlm') else 'no'}, "
      f"udp {(f.get('udp') or {}).get('outcome')}, findings {[x['id'] for x in r['findings']]}")
lines = [l.strip('| ').rstrip() for l in nm.splitlines() if l.startswith('|')]
print("    nmap:       " + "; ".join(lines[:12]))
PY
done
