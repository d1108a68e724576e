//! What is listening on the port, end to end through `check --format json` on loopback:
//! listeners that accept and reset (the race between the RST and connect() returning must
//! give one finding), and listeners that are not RDP at all (a web server, sshd, a TLS server,
//! a VNC-style banner), which must be named in `not-rdp`, while a truly silent listener stays
//! `x224-no-response`.
//!
//! Real software where Debian has it: python3's http.server, OpenSSH's sshd, `openssl
//! s_server` (`.ci/run` installs python3, openssh-server and openssl); in-test servers for the
//! rest.
#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

mod support;

use serde_json::Value;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_rdp-doctor");

/// `check ADDR --format json --timeout 2 --no-udp`: the JSON and the exit code.
fn check(addr: SocketAddr) -> (Value, i32) {
    let out = Command::new(BIN)
        .args(["check", &addr.to_string(), "--format", "json"])
        .args(["--timeout", "2", "--no-udp"])
        .env_remove("RDP_DOCTOR_PASSWORD")
        .stdin(Stdio::null())
        .output()
        .expect("check runs");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "check printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (v, out.status.code().unwrap_or(-1))
}

fn ids(v: &Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn evidence(v: &Value, id: &str) -> Vec<String> {
    v["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["id"] == id)
        .flat_map(|f| f["evidence"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e.as_str().map(String::from))
        .collect()
}

/// A listener on a loopback port that runs `serve` on every accepted connection, in a
/// detached thread for the life of the test process.
fn serve(serve: fn(TcpStream)) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || serve(s));
        }
    });
    addr
}

/// Closes with SO_LINGER 0: the kernel sends an RST instead of a FIN.
fn reset(s: TcpStream) {
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(s);
}

/// Reads what the client sends until `want` bytes arrived (or 2 s passed).
fn read_some(s: &mut TcpStream, want: usize) -> Vec<u8> {
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = vec![0u8; 4096];
    let mut got = 0;
    while got < want {
        match s.read(&mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    buf.truncate(got);
    buf
}

const RUNS: usize = 20;

/// Runs `check` RUNS times against `addr`; every run must give `x224-reset` first and never
/// `tcp-unreachable`. Returns how many runs saw the reset at connect() (`tcp` outcome `reset`)
/// and how many on the X.224 step.
fn reset_runs(addr: SocketAddr, what: &str) -> (usize, usize) {
    let (mut at_connect, mut at_x224) = (0, 0);
    for i in 0..RUNS {
        let (v, code) = check(addr);
        let got = ids(&v);
        assert_eq!(
            got.first().map(String::as_str),
            Some("x224-reset"),
            "{what}, run {i}: {got:?}\n{v:#}"
        );
        assert!(
            !got.iter().any(|g| g.starts_with("tcp-")),
            "{what}: {got:?}"
        );
        assert_eq!(code, 2, "{what}: CRITICAL");
        let tcp = v["facts"]["addresses"][0]["tcp"]["outcome"]
            .as_str()
            .unwrap();
        match tcp {
            "reset" => at_connect += 1,
            "connected" => {
                let x = &v["facts"]["negotiation"]["response"]["outcome"];
                assert!(x == "reset" || x == "closed", "{what}: {x}");
                at_x224 += 1;
            }
            other => panic!("{what}: TCP outcome {other}\n{v:#}"),
        }
        // The evidence says what happened, whichever order the race took.
        let ev = evidence(&v, "x224-reset").join("\n");
        assert!(ev.contains("reset"), "{what}: {ev}");
    }
    eprintln!(
        "{what}: {RUNS} of {RUNS} runs x224-reset first; the RST ended connect() in {at_connect}, the X.224 step in {at_x224}"
    );
    (at_connect, at_x224)
}

/// A listener that accepts and resets at once (an IPS that kills unwanted sources, a service
/// at its connection limit): the RST races connect() returning. Both orders are one finding.
#[test]
fn a_reset_right_after_accept_is_x224_reset_in_every_run() {
    let addr = serve(reset);
    let (c, x) = reset_runs(addr, "reset on accept");
    assert_eq!(c + x, RUNS);
}

/// A listener that reads the X.224 Connection Request, then resets: always after connect().
#[test]
fn a_reset_after_the_request_is_x224_reset_in_every_run() {
    let addr = serve(|mut s| {
        // TPKT header (4) + the shortest Connection Request (7) at least.
        let _ = read_some(&mut s, 11);
        reset(s);
    });
    let (c, x) = reset_runs(addr, "reset after the request");
    assert_eq!((c, x), (0, RUNS));
}

// ---------------------------------------------------------------------------------------------
// Listeners that are not RDP

use std::io::Write;
use support::process::{wait_listening, GroupChild};
use support::tmp::TempDir;

/// Starts `cmd` (a server that listens on `addr`) and waits until it does.
fn start(name: &str, mut cmd: Command, addr: SocketAddr) -> GroupChild {
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let mut c = GroupChild::spawn(name, cmd).unwrap();
    wait_listening(&mut c, addr, Duration::from_secs(20)).unwrap();
    c
}

fn loopback_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], support::ports::free_port().unwrap()))
}

/// `check` must put `not-rdp` first, with `expect` in its evidence (escaped text).
fn assert_not_rdp(addr: SocketAddr, what: &str, expect: &[&str]) -> Value {
    let (v, code) = check(addr);
    let got = ids(&v);
    assert_eq!(
        got.first().map(String::as_str),
        Some("not-rdp"),
        "{what}: {got:?}\n{v:#}"
    );
    assert_eq!(code, 2, "{what}");
    let ev = evidence(&v, "not-rdp").join("\n");
    for e in expect {
        assert!(ev.contains(e), "{what}: no '{e}' in\n{ev}");
    }
    assert!(!ev.contains('\x1b') && !ev.contains('\r'), "{what}: {ev:?}");
    v
}

/// A real web server (python3's http.server): most web servers wait for a whole request line,
/// so the X.224 request alone gets silence or a 400; the HTTP probe gets the status line and
/// the Server field.
#[test]
fn a_web_server_is_named_by_its_status_line_and_server_field() {
    let addr = loopback_port();
    let dir = TempDir::new("listeners-http").unwrap();
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "http.server", &addr.port().to_string()])
        .args(["--bind", "127.0.0.1", "--directory"])
        .arg(dir.path());
    let _web = start("python3 -m http.server", cmd, addr);
    let v = assert_not_rdp(
        addr,
        "http.server",
        &["answers HTTP: 'HTTP/1.0 200 OK'", "Server: 'SimpleHTTP/"],
    );
    assert_eq!(v["facts"]["identify"]["speaks"]["protocol"], "http");
}

/// A real TLS server (`openssl s_server`): it answers the ClientHello with a ServerHello,
/// which is what an RD Gateway or any HTTPS server does; the report suggests --gateway.
#[test]
fn a_tls_first_server_is_named_and_the_gateway_suggested() {
    let addr = loopback_port();
    let dir = TempDir::new("listeners-tls").unwrap();
    let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
    let st = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=tls.example", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let mut cmd = Command::new("openssl");
    cmd.args(["s_server", "-accept", &addr.to_string(), "-quiet", "-cert"])
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(Stdio::piped());
    let _tls = start("openssl s_server", cmd, addr);
    let v = assert_not_rdp(
        addr,
        "openssl s_server",
        &["speaks TLS first", "ServerHello (TLSv1.3)", "try --gateway"],
    );
    assert_eq!(v["facts"]["identify"]["speaks"]["protocol"], "tls");
    assert_eq!(v["facts"]["identify"]["by"], "tls");
}

/// A real SSH server (OpenSSH's sshd with a throw-away host key and config): it speaks first.
#[test]
fn an_ssh_server_is_named_by_its_banner() {
    let addr = loopback_port();
    let dir = TempDir::new("listeners-ssh").unwrap();
    let key = dir.join("host_ed25519");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let conf = dir
        .write(
            "sshd_config",
            format!(
                "ListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nUsePAM no\nStrictModes no\n",
                key.display(),
                dir.join("sshd.pid").display()
            )
            .as_bytes(),
        )
        .unwrap();
    // sshd insists on its privilege separation directory.
    std::fs::create_dir_all("/run/sshd").unwrap();
    let mut cmd = Command::new("/usr/sbin/sshd");
    cmd.args(["-D", "-e", "-f"])
        .arg(&conf)
        .args(["-p", &addr.port().to_string()]);
    let _sshd = start("sshd", cmd, addr);
    let v = assert_not_rdp(addr, "sshd", &["SSH banner 'SSH-2.0-OpenSSH_"]);
    assert_eq!(v["facts"]["identify"]["by"], "banner");
}

/// A real VNC server (x11vnc on Xvfb): "RFB 003.008".
#[test]
fn a_vnc_server_is_named_by_its_rfb_banner() {
    let x = support::xvfb::shared().unwrap();
    let addr = loopback_port();
    let mut cmd = Command::new("x11vnc");
    cmd.args([
        "-display",
        &x.display_env(),
        "-rfbport",
        &addr.port().to_string(),
    ])
    .args([
        "-listen",
        "127.0.0.1",
        "-nopw",
        "-forever",
        "-shared",
        "-quiet",
    ]);
    let _vnc = start("x11vnc", cmd, addr);
    let v = assert_not_rdp(addr, "x11vnc", &["VNC banner 'RFB 003.008'"]);
    assert_eq!(v["facts"]["identify"]["speaks"]["protocol"], "vnc");
}

/// An SMTP-style greeting (in-test: Debian's MTAs want a whole mail system), with a control
/// character in it that must come out escaped.
#[test]
fn a_220_greeting_is_an_smtp_or_ftp_server() {
    let addr = serve(|mut s| {
        let _ = s.write_all(b"220 mail.example ESMTP \x1b[31mready\r\n");
        let _ = read_some(&mut s, 1 << 16);
    });
    assert_not_rdp(
        addr,
        "220 greeting",
        &["greets with '220 mail.example", "SMTP or FTP"],
    );
}

/// A listener that accepts, reads and never answers anything stays `x224-no-response`: the
/// probes ran and recognised nothing.
#[test]
fn a_truly_silent_listener_stays_x224_no_response() {
    let addr = serve(|mut s| {
        let _ = read_some(&mut s, 1 << 16);
        std::thread::sleep(Duration::from_secs(8));
    });
    let (v, _) = check(addr);
    assert_eq!(
        ids(&v).first().map(String::as_str),
        Some("x224-no-response"),
        "{v:#}"
    );
    let probes = v["facts"]["identify"]["probes"].as_array().unwrap();
    assert_eq!(probes.len(), 3);
    assert!(
        probes.iter().all(|p| p["answer"]["outcome"] == "silent"),
        "{v:#}"
    );
    assert!(v["facts"]["identify"].get("speaks").is_none());
}

/// Garbage to everything: not RDP, nothing recognised; the X.224 answer is the evidence.
#[test]
fn garbage_is_not_rdp_without_a_name() {
    let addr = serve(|mut s| {
        let _ = read_some(&mut s, 1);
        let _ = s.write_all(&[0xff, 0xfe, 0x1b, b'[', b'2', b'J', 0x00, 0x01, b'\n']);
        std::thread::sleep(Duration::from_secs(3));
    });
    let v = assert_not_rdp(
        addr,
        "garbage",
        &["not a TPKT frame", "first bytes: fffe1b"],
    );
    assert!(v["facts"]["identify"].get("speaks").is_none(), "{v:#}");
}
