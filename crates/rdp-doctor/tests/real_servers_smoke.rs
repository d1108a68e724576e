//! Proves the real-server harness in `tests/support`: every xrdp and shadow variant starts,
//! answers the X.224 Connection Request exactly as the expected tables below say, serves
//! the certificate it was given, and the reference tools (xfreerdp, nmap) agree.
//!
//! Needs xrdp, freerdp2-shadow-x11, freerdp2-x11, winpr-utils, xvfb, x11-xserver-utils, nmap,
//! openssl and iproute2 (see `.ci/run`), and root for the netns test. Nothing is skipped: a
//! server that does not start fails the test with its log. Start-up times are printed
//! (`cargo test --test real_servers_smoke -- --nocapture`), never asserted.
// Failing loudly is the point of a test: panics with context are intended here.
#![allow(clippy::panic, clippy::unwrap_used, clippy::indexing_slicing)]

mod support;

use rdp_doctor_wire::nego::{FailureCode, NegOutcome, Protocols};
use rdp_doctor_wire::x224::ConnectionConfirm;
use std::collections::HashSet;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};
use support::certs::{self, CertName};
use support::rdp::{hex, pem_certs, tls_peek, x224_confirm, TlsVersions};
use support::shadow::{ShadowConfig, ShadowServer, LAB_PASSWORD, LAB_USER, LAB_USER2};
use support::tools;
use support::xrdp::{XrdpConfig, XrdpServer};

/// requestedProtocols of a modern client: PROTOCOL_SSL | PROTOCOL_HYBRID | PROTOCOL_HYBRID_EX.
const REQ_MODERN: u32 = 0x0B;
/// requestedProtocols 0: PROTOCOL_RDP only (Standard RDP Security).
const REQ_RDP: u32 = 0x00;

/// RDP_NEG_RSP flags xrdp 0.9.21 sets: EXTENDED_CLIENT_DATA_SUPPORTED.
const XRDP_RSP_FLAGS: u8 = 0x01;
/// X.224 CC src-ref xrdp 0.9.21 sends (captured here: `0e d0 00 00 12 34 00 ...`).
const XRDP_SRC_REF: u16 = 0x1234;
/// RDP_NEG_RSP flags FreeRDP 2.11 shadow sets: EXTENDED_CLIENT_DATA_SUPPORTED |
/// DYNVC_GFX_PROTOCOL_SUPPORTED.
const SHADOW_RSP_FLAGS: u8 = 0x03;
/// X.224 CC src-ref FreeRDP 2.11 sends (captured here: `0e d0 00 00 00 00 00 ...`).
const SHADOW_SRC_REF: u16 = 0;

fn rsp(flags: u8, selected: Protocols) -> NegOutcome {
    NegOutcome::Response { flags, selected }
}

fn failure(code: FailureCode) -> NegOutcome {
    NegOutcome::Failure { code }
}

fn timing(what: &str, d: Duration) {
    println!("[timing] {what}: {:.1} ms", d.as_secs_f64() * 1000.0);
}

/// Sends a CR with `requested` and asserts the whole Connection Confirm: TPKT length 19, X.224
/// CC with dst-ref 0, the server's src-ref, class 0, and the expected RDP_NEG_RSP /
/// RDP_NEG_FAILURE.
fn assert_cc(server: &str, addr: SocketAddr, requested: u32, expected: NegOutcome) {
    assert_cc_for(server, addr, Some(requested), expected);
}

/// Like [`assert_cc`]; `None` sends a CR without RDP_NEG_REQ (a pre-RDP-5.2 client).
fn assert_cc_for(server: &str, addr: SocketAddr, requested: Option<u32>, expected: NegOutcome) {
    let src_ref = if server.starts_with("shadow") {
        SHADOW_SRC_REF
    } else {
        XRDP_SRC_REF
    };
    let got = x224_confirm(addr, requested)
        .unwrap_or_else(|e| panic!("{server}: X.224 with {requested:02X?}: {e}"));
    let want = ConnectionConfirm {
        dst_ref: 0,
        src_ref,
        class: 0,
        nego: expected,
    };
    assert_eq!(
        got.cc,
        want,
        "{server}: requestedProtocols {requested:02X?}: CC {}",
        hex(&got.raw)
    );
    // TPKT(4) + LI/code/dst/src/class(7) + RDP_NEG_RSP/FAILURE(8), or nothing after the class.
    let len = if expected == NegOutcome::Absent {
        11
    } else {
        19
    };
    assert_eq!(got.raw.len(), len, "{server}: CC {}", hex(&got.raw));
}

fn start_xrdp(cfg: XrdpConfig) -> XrdpServer {
    let label = format!("{cfg:?}");
    let s = XrdpServer::start(cfg).unwrap_or_else(|e| panic!("xrdp did not start: {e}"));
    timing(&format!("xrdp start {label}"), s.startup());
    s
}

fn start_shadow(cfg: ShadowConfig) -> ShadowServer {
    let label = format!("sec={} cert={:?}", cfg.sec, cfg.cert);
    let s = ShadowServer::start(cfg).unwrap_or_else(|e| panic!("shadow did not start: {e}"));
    timing(&format!("shadow start {label}"), s.startup());
    timing(
        &format!("  its (shared) Xvfb :{} start", s.xvfb().display()),
        s.xvfb().startup(),
    );
    s
}

/// The served chain must be the configured file's certificates, leaf first.
fn assert_serves(server: &str, chain: &[Vec<u8>], pem: &std::path::Path) {
    let want = pem_certs(pem).unwrap();
    assert!(
        !want.is_empty(),
        "{}: no certificate in file",
        pem.display()
    );
    assert_eq!(
        chain,
        want.as_slice(),
        "{server}: served chain differs from {}",
        pem.display()
    );
}

// ----------------------------------------------------------------------------------------------
// xrdp 0.9.21: the expected answers per security_layer

#[test]
fn xrdp_negotiate_selects_ssl_for_modern_and_rdp_for_legacy() {
    let s = start_xrdp(XrdpConfig::new("negotiate"));
    assert_cc(
        "xrdp negotiate",
        s.socket_addr(),
        REQ_MODERN,
        rsp(XRDP_RSP_FLAGS, Protocols::SSL),
    );
    assert_cc(
        "xrdp negotiate",
        s.socket_addr(),
        REQ_RDP,
        rsp(XRDP_RSP_FLAGS, Protocols::RDP),
    );
    // A legacy CR without RDP_NEG_REQ gets a CC without negotiation data.
    assert_cc_for("xrdp negotiate", s.socket_addr(), None, NegOutcome::Absent);
    // Server-side oracle for the first request.
    assert!(
        s.wait_for_log("selected [SSL]", Duration::from_secs(2)),
        "no 'Security protocol: ... selected [SSL]' line:\n{}",
        s.log()
    );
    assert!(
        s.log().contains("Security protocol: configured ["),
        "{}",
        s.log()
    );
    let peek = tls_peek(s.socket_addr(), REQ_MODERN, TlsVersions::Both).unwrap();
    assert_serves(
        "xrdp negotiate",
        &peek.chain,
        &certs::files(CertName::Valid).cert,
    );
}

/// `security_layer=tls` with each certificate: the negotiation is the same (RSP SSL to 0x0B,
/// FAILURE 1 to PROTOCOL_RDP), and the TLS handshake serves exactly the configured file.
fn xrdp_tls_with(cert: CertName) {
    let s = start_xrdp(XrdpConfig::new("tls").cert(Some(cert)));
    let label = format!("xrdp tls {cert:?}");
    assert_cc(
        &label,
        s.socket_addr(),
        REQ_MODERN,
        rsp(XRDP_RSP_FLAGS, Protocols::SSL),
    );
    assert_cc(
        &label,
        s.socket_addr(),
        REQ_RDP,
        failure(FailureCode::SSL_REQUIRED_BY_SERVER),
    );
    assert!(
        s.wait_for_log(
            "Server requires TLS for security, but the client did not request TLS.",
            Duration::from_secs(2)
        ),
        "{label}: log:\n{}",
        s.log()
    );
    let t0 = Instant::now();
    let peek = tls_peek(s.socket_addr(), REQ_MODERN, TlsVersions::Both)
        .unwrap_or_else(|e| panic!("{label}: {e}\nlog:\n{}", s.log()));
    timing(&format!("{label} X.224+TLS handshake"), t0.elapsed());
    println!(
        "{label}: {} server handshake bytes, {}",
        peek.handshake_bytes_in, peek.version
    );
    let files = certs::files(cert);
    assert_serves(&label, &peek.chain, files.served());
    if cert == CertName::Big {
        assert_eq!(peek.chain.len(), 2, "big serves leaf + CA");
        // Too big for a 1400-byte path MTU in one segment, TLS 1.2 or 1.3 (docs/network-paths.md:
        // the MTU black-hole test needs this flight).
        assert!(
            peek.handshake_bytes_in > 2000,
            "big: server flight only {} bytes",
            peek.handshake_bytes_in
        );
        let v12 = tls_peek(s.socket_addr(), REQ_MODERN, TlsVersions::Only12).unwrap();
        println!(
            "{label}: TLS 1.2 server flight {} bytes",
            v12.handshake_bytes_in
        );
        assert!(v12.handshake_bytes_in > 2000, "{}", v12.handshake_bytes_in);
    }
}

#[test]
fn xrdp_tls_valid() {
    xrdp_tls_with(CertName::Valid);
}

#[test]
fn xrdp_tls_expired() {
    xrdp_tls_with(CertName::Expired);
}

#[test]
fn xrdp_tls_not_yet_valid() {
    xrdp_tls_with(CertName::NotYet);
}

#[test]
fn xrdp_tls_wrong_name() {
    xrdp_tls_with(CertName::WrongCn);
}

#[test]
fn xrdp_tls_self_signed() {
    xrdp_tls_with(CertName::SelfSigned);
}

#[test]
fn xrdp_tls_big_chain() {
    xrdp_tls_with(CertName::Big);
}

#[test]
fn xrdp_tls_unreadable_key_fails_with_cert_not_on_server() {
    let s = start_xrdp(XrdpConfig::new("tls").cert(None));
    for req in [REQ_MODERN, REQ_RDP] {
        assert_cc(
            "xrdp tls, key unreadable",
            s.socket_addr(),
            req,
            failure(FailureCode::SSL_CERT_NOT_ON_SERVER),
        );
    }
    assert!(
        s.wait_for_log(
            "Cannot accept TLS connections because certificate or private key file is not readable",
            Duration::from_secs(2)
        ),
        "log:\n{}",
        s.log()
    );
}

#[test]
fn xrdp_rdp_always_selects_standard_rdp_security() {
    let s = start_xrdp(XrdpConfig::new("rdp"));
    for req in [REQ_MODERN, REQ_RDP] {
        assert_cc(
            "xrdp rdp",
            s.socket_addr(),
            req,
            rsp(XRDP_RSP_FLAGS, Protocols::RDP),
        );
    }
}

/// crypt_level really reaches xrdp: xfreerdp's Standard RDP Security works against `fips`
/// (exit 0) and fails against `high` with ERRINFO_LOGOFF_BY_USER (131) while xrdp logs a MAC
/// error.
#[test]
fn xrdp_rdp_crypt_level_fips_vs_high_with_xfreerdp() {
    let fips = start_xrdp(XrdpConfig::new("rdp").crypt_level("fips"));
    let high = start_xrdp(XrdpConfig::new("rdp").crypt_level("high"));
    assert_cc(
        "xrdp rdp fips",
        fips.socket_addr(),
        REQ_RDP,
        rsp(XRDP_RSP_FLAGS, Protocols::RDP),
    );
    let ok = tools::xfreerdp_auth_only("127.0.0.1", fips.port(), "labuser", "", "x", &["/sec:rdp"])
        .unwrap();
    timing("xfreerdp /sec:rdp +auth-only vs xrdp fips", ok.elapsed);
    assert_eq!(
        ok.code,
        Some(0),
        "{}\nxrdp log:\n{}",
        ok.describe(),
        fips.log()
    );

    let bad =
        tools::xfreerdp_auth_only("127.0.0.1", high.port(), "labuser", "", "x", &["/sec:rdp"])
            .unwrap();
    timing("xfreerdp /sec:rdp +auth-only vs xrdp high", bad.elapsed);
    assert_eq!(bad.code, Some(131), "{}", bad.describe());
    assert!(
        bad.output.contains("ERRINFO_LOGOFF_BY_USER"),
        "{}",
        bad.describe()
    );
    assert!(
        high.wait_for_log(
            "MAC checksum error for non-FIPS PDU",
            Duration::from_secs(2)
        ),
        "xrdp high log:\n{}",
        high.log()
    );
}

/// `ssl_protocols=TLSv1.3`: a TLS 1.2-only client fails the handshake (xrdp logs
/// "unsupported protocol"), a TLS 1.3 client succeeds.
#[test]
fn xrdp_tls13_only() {
    let s = start_xrdp(XrdpConfig::new("tls").ssl_protocols("TLSv1.3"));
    assert_cc(
        "xrdp tls1.3-only",
        s.socket_addr(),
        REQ_MODERN,
        rsp(XRDP_RSP_FLAGS, Protocols::SSL),
    );
    let e = tls_peek(s.socket_addr(), REQ_MODERN, TlsVersions::Only12)
        .expect_err("a TLS 1.2-only handshake must fail against a TLSv1.3-only xrdp");
    println!("TLS 1.2 client vs TLSv1.3-only xrdp: {e}");
    assert!(
        s.wait_for_log("unsupported protocol", Duration::from_secs(2)),
        "log:\n{}",
        s.log()
    );
    let ok = tls_peek(s.socket_addr(), REQ_MODERN, TlsVersions::Only13).unwrap();
    assert_eq!(ok.version, "TLSv1_3");
}

#[test]
fn xrdp_listens_on_ipv6_loopback() {
    let s = start_xrdp(XrdpConfig::new("negotiate").addr(IpAddr::V6(Ipv6Addr::LOCALHOST)));
    assert_eq!(s.addr(), IpAddr::V6(Ipv6Addr::LOCALHOST));
    assert_cc(
        "xrdp [::1]",
        s.socket_addr(),
        REQ_MODERN,
        rsp(XRDP_RSP_FLAGS, Protocols::SSL),
    );
}

/// Ten servers started at once get ten different ports, and each answers on its own.
#[test]
fn xrdp_ten_parallel_starts_do_not_collide() {
    let t0 = Instant::now();
    let servers: Vec<XrdpServer> = support::xrdp::start_many(
        (0..10)
            .map(|i| XrdpConfig::new(if i % 2 == 0 { "tls" } else { "rdp" }))
            .collect(),
    )
    .into_iter()
    .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
    .collect();
    timing("10 xrdp started in parallel (wall)", t0.elapsed());
    let ports: HashSet<u16> = servers.iter().map(XrdpServer::port).collect();
    assert_eq!(ports.len(), 10);
    for (i, s) in servers.iter().enumerate() {
        let expected = if i % 2 == 0 {
            rsp(XRDP_RSP_FLAGS, Protocols::SSL)
        } else {
            rsp(XRDP_RSP_FLAGS, Protocols::RDP)
        };
        assert_cc(&format!("xrdp #{i}"), s.socket_addr(), REQ_MODERN, expected);
    }
    let pids: Vec<u32> = servers.iter().map(XrdpServer::pid).collect();
    drop(servers);
    for pid in pids {
        assert!(
            support::process::group_members(pid).is_empty(),
            "process group {pid} still has live members after drop"
        );
    }
}

/// A server inside a network namespace is invisible from the host and reachable from inside
/// (xfreerdp run with `ip netns exec`).
#[test]
fn xrdp_in_network_namespace() {
    support::require_root();
    let ns = support::netns::NetNs::create().unwrap();
    let s = start_xrdp(XrdpConfig::new("tls").netns(ns.name()));
    assert!(
        TcpStream::connect_timeout(&s.socket_addr(), Duration::from_secs(1)).is_err(),
        "the namespaced server must not be reachable from the host namespace"
    );
    let run = tools::xfreerdp(
        &[
            format!("/v:127.0.0.1:{}", s.port()),
            "/u:labuser".into(),
            "/p:x".into(),
            "/sec:tls".into(),
            "/cert:ignore".into(),
            "+auth-only".into(),
        ],
        &tools::ToolOpts {
            netns: Some(ns.name().into()),
            ..Default::default()
        },
    )
    .unwrap();
    timing("xfreerdp /sec:tls +auth-only inside netns", run.elapsed);
    assert_eq!(
        run.code,
        Some(0),
        "{}\nxrdp log:\n{}",
        run.describe(),
        s.log()
    );
    assert!(s.log().contains("selected [SSL]"), "{}", s.log());
}

#[test]
fn nmap_rdp_enum_encryption_runs_against_xrdp_negotiate() {
    let s = start_xrdp(XrdpConfig::new("negotiate"));
    let run = tools::nmap_rdp(s.addr(), s.port()).unwrap();
    timing(
        "nmap rdp-enum-encryption,rdp-ntlm-info vs xrdp negotiate",
        run.elapsed,
    );
    assert_eq!(run.code, Some(0), "{}", run.describe());
    let out = &run.output;
    for needle in [
        "rdp-enum-encryption:",
        "Native RDP: SUCCESS",
        "SSL: SUCCESS",
        // nmap's false positive: xrdp answered RSP(RDP) to a HYBRID-only request.
        "CredSSP (NLA): SUCCESS",
        "RDP Encryption level: High",
    ] {
        assert!(
            out.contains(needle),
            "missing {needle:?}:\n{}",
            run.describe()
        );
    }
}

// ----------------------------------------------------------------------------------------------
// FreeRDP 2.11 shadow server: the expected answers per /sec mode

#[test]
fn shadow_nla_requires_hybrid_and_checks_the_password() {
    let s = start_shadow(ShadowConfig::new("nla").user(LAB_USER2.0, LAB_USER2.1, LAB_USER2.2));
    assert_cc(
        "shadow nla",
        s.socket_addr(),
        REQ_MODERN,
        rsp(SHADOW_RSP_FLAGS, Protocols::HYBRID),
    );
    assert_cc(
        "shadow nla",
        s.socket_addr(),
        REQ_RDP,
        failure(FailureCode::HYBRID_REQUIRED_BY_SERVER),
    );
    // Even a legacy client without RDP_NEG_REQ is told HYBRID_REQUIRED_BY_SERVER.
    assert_cc_for(
        "shadow nla",
        s.socket_addr(),
        None,
        failure(FailureCode::HYBRID_REQUIRED_BY_SERVER),
    );
    let peek = tls_peek(s.socket_addr(), REQ_MODERN, TlsVersions::Both).unwrap();
    assert_serves(
        "shadow nla",
        &peek.chain,
        &certs::files(CertName::Valid).cert,
    );

    let good =
        tools::xfreerdp_auth_only("127.0.0.1", s.port(), LAB_USER, "", LAB_PASSWORD, &[]).unwrap();
    timing("xfreerdp +auth-only NLA, right password", good.elapsed);
    assert_eq!(
        good.code,
        Some(0),
        "{}\nshadow log:\n{}",
        good.describe(),
        s.log()
    );
    assert!(
        good.output.contains("Authentication only, exit status 0"),
        "{}",
        good.describe()
    );

    let domain = tools::xfreerdp_auth_only(
        "127.0.0.1",
        s.port(),
        LAB_USER2.0,
        LAB_USER2.1,
        LAB_USER2.2,
        &[],
    )
    .unwrap();
    assert_eq!(domain.code, Some(0), "{}", domain.describe());

    let bad =
        tools::xfreerdp_auth_only("127.0.0.1", s.port(), LAB_USER, "", "WrongPass9?", &[]).unwrap();
    timing("xfreerdp +auth-only NLA, wrong password", bad.elapsed);
    // FreeRDP's server just closes after the NTLM AUTHENTICATE: no TSRequest errorCode.
    assert_eq!(bad.code, Some(147), "{}", bad.describe());
    assert!(
        bad.output.contains("ERRCONNECT_CONNECT_TRANSPORT_FAILED"),
        "{}",
        bad.describe()
    );
    assert!(
        !bad.command.contains("WrongPass9?"),
        "password not redacted"
    );
    // Server-side oracle: the NTLM AUTHENTICATE failed its MIC check (the shadow server's log).
    assert!(
        s.wait_for_log(
            "Message Integrity Check (MIC) verification failed!",
            Duration::from_secs(2)
        ),
        "server-side NTLM oracle missing:\n{}",
        s.log()
    );
}

#[test]
fn shadow_tls_requires_ssl() {
    let s = start_shadow(ShadowConfig::new("tls"));
    assert_cc(
        "shadow tls",
        s.socket_addr(),
        REQ_MODERN,
        rsp(SHADOW_RSP_FLAGS, Protocols::SSL),
    );
    assert_cc(
        "shadow tls",
        s.socket_addr(),
        REQ_RDP,
        failure(FailureCode::SSL_REQUIRED_BY_SERVER),
    );
    let peek = tls_peek(s.socket_addr(), REQ_MODERN, TlsVersions::Both).unwrap();
    assert_serves(
        "shadow tls",
        &peek.chain,
        &certs::files(CertName::Valid).cert,
    );
}

#[test]
fn shadow_rdp_refuses_ssl() {
    let s = start_shadow(ShadowConfig::new("rdp"));
    assert_cc(
        "shadow rdp",
        s.socket_addr(),
        REQ_MODERN,
        failure(FailureCode::SSL_NOT_ALLOWED_BY_SERVER),
    );
    assert_cc(
        "shadow rdp",
        s.socket_addr(),
        REQ_RDP,
        rsp(SHADOW_RSP_FLAGS, Protocols::RDP),
    );
}

/// Without a lab certificate the shadow server makes its own in HOME, and serves that one.
#[test]
fn shadow_nla_generates_its_own_certificate() {
    let s = start_shadow(ShadowConfig::new("nla").cert(None));
    let peek = tls_peek(s.socket_addr(), REQ_MODERN, TlsVersions::Both).unwrap();
    assert_serves("shadow nla self-made cert", &peek.chain, &s.cert_path());
    let valid = pem_certs(&certs::files(CertName::Valid).cert).unwrap();
    assert_ne!(peek.chain.first(), valid.first());
}

#[test]
fn shadow_with_expired_certificate_serves_it() {
    let s = start_shadow(ShadowConfig::new("nla").cert(Some(CertName::Expired)));
    let peek = tls_peek(s.socket_addr(), REQ_MODERN, TlsVersions::Both).unwrap();
    assert_serves(
        "shadow nla expired",
        &peek.chain,
        &certs::files(CertName::Expired).cert,
    );
}

// ----------------------------------------------------------------------------------------------
// The harness itself

/// The generated certificates are what their names say, by `openssl verify`.
#[test]
fn certificates_have_the_promised_properties() {
    let lab = certs::lab();
    timing("certificate generation (once per process)", lab.generation);
    let verify = |name: CertName| {
        let f = certs::files(name);
        let out = Command::new("openssl")
            .args(["verify", "-verify_hostname", "localhost", "-CAfile"])
            .arg(&f.ca)
            .arg(&f.cert)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    for (name, ok, needle) in [
        (CertName::Valid, true, ": OK"),
        (CertName::Big, true, ": OK"),
        (CertName::Expired, false, "certificate has expired"),
        (CertName::NotYet, false, "certificate is not yet valid"),
        (CertName::WrongCn, false, "hostname mismatch"),
        (CertName::SelfSigned, false, "self-signed certificate"),
    ] {
        let (success, text) = verify(name);
        assert_eq!(success, ok, "{name:?}: {text}");
        assert!(
            text.contains(needle),
            "{name:?}: expected {needle:?} in {text}"
        );
    }
    let big = certs::files(CertName::Big);
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&big.cert)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("Public-Key: (4096 bit)"));
    assert_eq!(pem_certs(&big.chain).unwrap().len(), 2);
    assert_eq!(
        pem_certs(&certs::files(CertName::SelfSigned).chain)
            .unwrap()
            .len(),
        1
    );
}

/// The SAM hash (openssl MD4 over stdin) equals winpr-hash's and the README's value.
#[test]
fn sam_lines_match_winpr_hash() {
    use support::shadow::{nt_hash, sam_line};
    // labuser:::b34ee6ef4ac9d0614ce3148f144aaab2::: (what winpr-hash prints for the lab password).
    assert_eq!(
        nt_hash(LAB_PASSWORD).unwrap(),
        "b34ee6ef4ac9d0614ce3148f144aaab2"
    );
    let out = Command::new("winpr-hash")
        .args([
            "-u",
            LAB_USER2.0,
            "-p",
            LAB_USER2.2,
            "-d",
            LAB_USER2.1,
            "-f",
            "sam",
        ])
        .output()
        .expect("winpr-hash (winpr-utils) must be installed");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        sam_line(LAB_USER2.0, LAB_USER2.1, LAB_USER2.2)
            .unwrap()
            .trim()
    );
}

/// Parallel threads never receive the same port, and all ports are in the configured range.
#[test]
fn ports_are_unique_across_threads() {
    let handles: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(|| {
                (0..25)
                    .map(|_| support::ports::free_port().unwrap())
                    .collect::<Vec<u16>>()
            })
        })
        .collect();
    let all: Vec<u16> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let unique: HashSet<u16> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len(), "duplicate port handed out");
    let (lo, hi) = support::ports::port_range();
    assert!(all.iter().all(|p| (lo..=hi).contains(p)));
}

#[test]
fn proc_net_addresses_parse() {
    use support::process::parse_proc_addr;
    assert_eq!(
        parse_proc_addr("0100007F:AB7C"),
        Some("127.0.0.1:43900".parse().unwrap())
    );
    assert_eq!(
        parse_proc_addr("00000000000000000000000001000000:AB7D"),
        Some("[::1]:43901".parse().unwrap())
    );
    assert_eq!(parse_proc_addr("zz:1"), None);
}

/// A server that cannot start is an error carrying its log, not a hang or a skip.
#[test]
fn a_server_that_cannot_start_reports_why() {
    let e = XrdpServer::start(XrdpConfig::new("tls").netns("rdpd-no-such-namespace"))
        .expect_err("xrdp in a missing namespace cannot start");
    assert!(e.contains("exited"), "{e}");
    let e = XrdpServer::start(XrdpConfig::new("ssl")).expect_err("bad security_layer");
    assert!(e.contains("security_layer"), "{e}");
}
