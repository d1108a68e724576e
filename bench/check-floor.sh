#!/usr/bin/env bash
# Benchmark: how close `rdp-doctor check` runs to its floor, and how much faster than nmap's RDP
# scripts, side by side in one run against xrdp (TLS, no NLA, listen backlog 2) and FreeRDP's
# shadow server (NLA, partly serialised answers), started as tests/support/ starts them.
#   floor : the server's own time to answer every X.224 negotiation the check makes (its main
#           request, each enumeration request that needed a connection: the rarely accepted
#           protocols asked together are one), all sent at once, plus TLS on the first and
#           on the TLS-only probe when the MCS phase of a CredSSP server goes on over it
#           (bench/floor_probe.py, median). The MCS phase has no connection of
#           its own when the enumeration runs, as it does here.
#   check : `rdp-doctor check` (release build), hyperfine median
#   nmap  : nmap -p PORT --script rdp-enum-encryption,rdp-ntlm-info,ssl-cert, hyperfine median
# Target: check/floor <= 1.2 and nmap/check >= 20 on both servers.
# Needs: xrdp, freerdp2-shadow-x11, winpr-utils, xvfb, x11-xserver-utils, nmap, hyperfine,
# python3, openssl, bc (see .ci/run).
# Usage: bench/check-floor.sh [RUNS]   (default 20; nmap gets max(5, RUNS/4))
# Ports: XRDP_PORT, SHADOW_PORT, DISPLAY_NUM; the shadow server cannot bind a port that still has
# connections in TIME_WAIT from a run a moment ago (pick another).
set -euo pipefail
RUNS=${1:-20}
NMAP_RUNS=$(( RUNS / 4 > 5 ? RUNS / 4 : 5 ))
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/rdp-doctor-floor.XXXXXX)
XRDP_PORT=${XRDP_PORT:-46391}
SHADOW_PORT=${SHADOW_PORT:-46392}
DISPLAY_NUM=${DISPLAY_NUM:-47}
. "$ROOT/bench/servers.sh"

cd "$ROOT"
cargo build --release -q -p rdp-doctor
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/rdp-doctor"

start_servers

NMAP="nmap -Pn -n --script +rdp-enum-encryption,+rdp-ntlm-info,+ssl-cert"
echo "rdp-doctor $("$BIN" --version | cut -d' ' -f2) vs $(nmap --version | head -1); $RUNS runs (nmap $NMAP_RUNS), medians"
echo
printf '%-20s %5s %10s %10s %10s %11s %10s\n' server negs floor check nmap check/floor nmap/check
for srv in "xrdp-negotiate:$XRDP_PORT" "freerdp-shadow-nla:$SHADOW_PORT"; do
  name=${srv%%:*}; port=${srv##*:}
  # the negotiations this check makes: main request first, then each probe with a connection
  "$BIN" check "127.0.0.1:$port" --format json --color never > "$WORK/$name.json" || true
  read -r -a REQS < <(python3 - "$WORK/$name.json" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))["facts"]
neg = f["negotiation"]
reqs = [str(neg["requested_protocols"])]
sel = (neg.get("response") or {}).get("protocol")
prot = f.get("protocols") or {}
# one request for the rarely accepted protocols, then one for each it did not settle
if prot.get("together"):
    reqs.append(str(prot["together"]["requested"]))
for p in prot.get("probes", []):
    if p.get("from_main") or (prot.get("together") and p["requested"] == prot["together"]["requested"]):
        continue
    # CredSSP selected: the MCS phase goes on with TLS over the TLS-only probe when it got TLS
    tls = sel in (2, 8) and p["requested"] == 1 and p["status"] == "accepted" and f.get("mcs")
    reqs.append("%dt" % p["requested"] if tls else str(p["requested"]))
print(" ".join(reqs))
PY
)
  floor=$(python3 "$ROOT/bench/floor_probe.py" 127.0.0.1 "$port" "$RUNS" "${REQS[@]}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["median_ms"])')
  hyperfine -N -i -w 2 -r "$RUNS" --export-json "$WORK/c.json" \
    "$BIN check 127.0.0.1:$port --format json --color never" >/dev/null 2>&1
  hyperfine -N -i -w 1 -r "$NMAP_RUNS" --export-json "$WORK/n.json" \
    "$NMAP -p $port 127.0.0.1" >/dev/null 2>&1
  check=$(python3 -c "import json;print(json.load(open('$WORK/c.json'))['results'][0]['median']*1000)")
  nmapm=$(python3 -c "import json;print(json.load(open('$WORK/n.json'))['results'][0]['median']*1000)")
  printf '%-20s %5s %8.1fms %8.1fms %8.1fms %10.2fx %9.1fx\n' "$name" "${#REQS[@]}" "$floor" "$check" "$nmapm" \
    "$(echo "$check/$floor" | bc -l)" "$(echo "$nmapm/$check" | bc -l)"
  python3 - "$WORK/$name.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
p = (r["facts"].get("protocols") or {}).get("probes", [])
print("    verdict %s; probes: %s" % (r["verdict"], ", ".join(
    "%s=%s%s%s" % (x["protocol"], x["status"], " (main)" if x.get("from_main") else "",
                   " retries %d" % x["retries"] if x.get("retries") else "") for x in p)))
print("    phases: " + ", ".join("%s %.0f-%.0fms" % (ph["phase"], ph.get("start_ms", 0), ph.get("start_ms", 0) + ph.get("duration_ms", 0))
                              for ph in r.get("phases", []) if "duration_ms" in ph))
PY
done
