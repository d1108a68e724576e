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
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${PIDS[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

cd "$ROOT"
cargo build --release -q
BIN="$ROOT/target/release/rdp-doctor"

# certificate for both servers
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -days 30 \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
[ -s /etc/xrdp/rsakeys.ini ] || xrdp-keygen xrdp /etc/xrdp/rsakeys.ini >/dev/null

# xrdp, security_layer=negotiate
mkdir -p "$WORK/xrdp"
cat > "$WORK/xrdp/xrdp.ini" <<INI
[Globals]
fork=false
port=tcp://127.0.0.1:$XRDP_PORT
security_layer=negotiate
crypt_level=high
certificate=$WORK/cert.pem
key_file=$WORK/key.pem
[Logging]
LogFile=$WORK/xrdp/xrdp.log
LogLevel=INFO
EnableSyslog=false
[Xvnc]
name=Xvnc
lib=libvnc.so
username=ask
password=ask
ip=127.0.0.1
port=-1
INI
setsid xrdp -n -c "$WORK/xrdp/xrdp.ini" >/dev/null 2>&1 & PIDS+=($!)

# FreeRDP shadow server with NLA under Xvfb
setsid Xvfb ":$DISPLAY_NUM" -screen 0 1024x768x24 -nolisten tcp >/dev/null 2>&1 & PIDS+=($!)
mkdir -p "$WORK/home/.config/freerdp/shadow"
cp "$WORK/cert.pem" "$WORK/home/.config/freerdp/shadow/shadow.crt"
cp "$WORK/key.pem" "$WORK/home/.config/freerdp/shadow/shadow.key"
winpr-hash -u labuser -p 'LabPass1!' -f sam > "$WORK/SAM"
for _ in $(seq 50); do DISPLAY=":$DISPLAY_NUM" xset q >/dev/null 2>&1 && break; sleep 0.1; done
HOME="$WORK/home" DISPLAY=":$DISPLAY_NUM" setsid freerdp-shadow-cli /bind-address:127.0.0.1 \
  "/port:$SHADOW_PORT" "/sam-file:$WORK/SAM" /sec:nla >/dev/null 2>&1 & PIDS+=($!)

wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }
wait_port "$XRDP_PORT"; wait_port "$SHADOW_PORT"

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
