# Sourced by the bench scripts that measure against real servers (check-floor.sh,
# check-vs-nmap.sh): starts xrdp (TLS, no NLA, listen backlog 2) and FreeRDP's shadow server
# (NLA) on loopback, as tests/support/ starts them, and stops them on exit.
# The caller sets WORK (a temp dir, removed on exit), XRDP_PORT, SHADOW_PORT and DISPLAY_NUM;
# sourcing sets the EXIT trap, `start_servers` returns once both ports answer.
# Needs: xrdp, freerdp2-shadow-x11, winpr-utils, xvfb, x11-xserver-utils, openssl.

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${PIDS[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_port() {
  for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done
  echo "port $1 never opened" >&2; tail -5 "$WORK/shadow.log" >&2; exit 1
}

start_servers() {
  # certificate for both servers
  openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -days 30 \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
  [ -s /etc/xrdp/rsakeys.ini ] || xrdp-keygen xrdp /etc/xrdp/rsakeys.ini >/dev/null

  # xrdp, security_layer=negotiate, one process (fork=false), tcp_nodelay as Debian's
  # /etc/xrdp/xrdp.ini and tests/support/xrdp.rs (without it xrdp's MCS answer waits
  # ~40 ms for the client's delayed ACK: Nagle)
  mkdir -p "$WORK/xrdp"
  cat > "$WORK/xrdp/xrdp.ini" <<INI
[Globals]
fork=false
tcp_nodelay=true
tcp_keepalive=true
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

  # FreeRDP shadow server with NLA under Xvfb, as tests/support/shadow.rs
  setsid Xvfb ":$DISPLAY_NUM" -screen 0 1024x768x24 -nolisten tcp >/dev/null 2>&1 & PIDS+=($!)
  mkdir -p "$WORK/home/.config/freerdp/shadow"
  cp "$WORK/cert.pem" "$WORK/home/.config/freerdp/shadow/shadow.crt"
  cp "$WORK/key.pem" "$WORK/home/.config/freerdp/shadow/shadow.key"
  winpr-hash -u labuser -p 'LabPass1!' -f sam > "$WORK/SAM"
  for _ in $(seq 50); do DISPLAY=":$DISPLAY_NUM" xset q >/dev/null 2>&1 && break; sleep 0.1; done
  HOME="$WORK/home" DISPLAY=":$DISPLAY_NUM" setsid freerdp-shadow-cli /bind-address:127.0.0.1 \
    "/port:$SHADOW_PORT" "/sam-file:$WORK/SAM" /sec:nla >"$WORK/shadow.log" 2>&1 & PIDS+=($!)

  wait_port "$XRDP_PORT"; wait_port "$SHADOW_PORT"
}
