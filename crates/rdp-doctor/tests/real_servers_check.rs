//! `rdp-doctor check --format json` against real servers: xrdp 0.9.21 in each security layer and
//! with each certificate problem, FreeRDP 2.11's shadow server with NLA, and a closed port. Each
//! asserts the expected first finding and verdict, plus the facts that prove the diagnosis.
#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

mod support;

use serde_json::Value;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use support::certs::{self, CertName};
use support::shadow::{ShadowConfig, ShadowServer};
use support::xrdp::{XrdpConfig, XrdpServer};

fn check(port: u16, extra: &[&str]) -> (Value, i32) {
    let ca = certs::lab().ca.clone();
    let out = Command::new(env!("CARGO_BIN_EXE_rdp-doctor"))
        .args([
            "check",
            &format!("127.0.0.1:{port}"),
            "--format",
            "json",
            "--timeout",
            "5",
            "--ca",
        ])
        .arg(&ca)
        .args(extra)
        .output()
        .expect("check runs");
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    (v, out.status.code().unwrap_or(-1))
}

fn ids(v: &Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

fn assert_first(v: &Value, code: i32, id: &str, verdict: &str) {
    assert_eq!(
        ids(v).first().map(String::as_str),
        Some(id),
        "findings: {:?}",
        ids(v)
    );
    assert_eq!(v["verdict"], verdict, "findings: {:?}", ids(v));
    let want = match verdict {
        "healthy" => 0,
        "degraded" => 1,
        _ => 2,
    };
    assert_eq!(code, want);
}

fn xrdp(cfg: XrdpConfig) -> XrdpServer {
    XrdpServer::start(cfg).expect("xrdp starts")
}

fn probe<'a>(v: &'a Value, proto: &str) -> &'a Value {
    v["facts"]["protocols"]["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["protocol"] == proto)
        .unwrap()
}

/// xrdp negotiate: TLS for mstsc, Standard RDP for an RDP-only client, and a request for
/// CredSSP answered by *selecting Standard RDP Security* — which nmap reports as NLA success.
#[test]
fn xrdp_negotiate() {
    let s = xrdp(XrdpConfig::new("negotiate").cert(Some(CertName::Valid)));
    let (v, code) = check(s.port(), &[]);
    assert_first(&v, code, "standard-rdp-security-allowed", "degraded");
    assert!(ids(&v).contains(&"nla-not-offered".to_string()));
    assert_eq!(
        v["facts"]["negotiation"]["response"]["protocol_name"],
        "PROTOCOL_SSL"
    );
    assert_eq!(v["facts"]["protocols"]["nla"], "not-offered");
    let hybrid = probe(&v, "hybrid");
    assert_eq!(hybrid["status"], "refused");
    assert_eq!(hybrid["response"]["outcome"], "selected");
    assert_eq!(hybrid["response"]["protocol"], 0);
    // Asked together, hybrid_ex, rdstls and rdsaad get a disconnect (xrdp's answer to
    // PROTOCOL_RDSAAD), which settles none of them: each is then asked alone.
    let together = &v["facts"]["protocols"]["together"];
    assert_eq!(together["requested"], 0x1C, "{together}");
    assert_eq!(
        together["response"]["outcome"], "unexpected-pdu",
        "{together}"
    );
    for (p, bits, status) in [
        ("hybrid_ex", 8, "refused"),
        ("rdstls", 4, "refused"),
        ("rdsaad", 16, "error"),
    ] {
        assert_eq!(probe(&v, p)["requested"], bits, "{p}");
        assert_eq!(probe(&v, p)["status"], status, "{p}");
    }
    assert_eq!(v["facts"]["certificate"]["trusted"], true);
    assert_eq!(v["facts"]["certificate"]["name_matches"], true);
    assert_eq!(v["facts"]["mcs"]["outcome"], "connected");
    assert_eq!(v["facts"]["mcs"]["rdp_version"], "RDP 5.0-8.1");
    // xrdp has no RDP-UDP: the SYN meets a closed port.
    assert_eq!(v["facts"]["udp"]["outcome"], "port-unreachable");
}

#[test]
fn xrdp_tls() {
    let s = xrdp(XrdpConfig::new("tls").cert(Some(CertName::Valid)));
    let (v, code) = check(s.port(), &[]);
    assert_first(&v, code, "nla-not-offered", "degraded");
    assert_eq!(
        probe(&v, "rdp")["response"]["code"],
        1,
        "SSL_REQUIRED_BY_SERVER"
    );
    assert_eq!(v["facts"]["protocols"]["standard_rdp"], "refused");
    assert_eq!(v["facts"]["tls"]["outcome"], "ok");
    // An RDP-only client fails against it.
    let (v, code) = check(s.port(), &["--sec", "rdp"]);
    assert_first(&v, code, "server-requires-tls", "failing");
}

#[test]
fn xrdp_standard_rdp_security() {
    let s = xrdp(XrdpConfig::new("rdp").crypt_level("high"));
    let (v, code) = check(s.port(), &[]);
    assert_first(&v, code, "standard-rdp-security-only", "degraded");
    assert_eq!(v["facts"]["mcs"]["over"], "rdp");
    assert_eq!(
        v["facts"]["mcs"]["encryption_level"], 3,
        "ENCRYPTION_LEVEL_HIGH"
    );
    assert!(!ids(&v).contains(&"weak-rdp-encryption".to_string()));
    assert!(v["facts"]["tls"].is_null());
}

#[test]
fn xrdp_standard_rdp_security_low_encryption() {
    let s = xrdp(XrdpConfig::new("rdp").crypt_level("low"));
    let (v, _) = check(s.port(), &[]);
    assert!(
        ids(&v).contains(&"weak-rdp-encryption".to_string()),
        "{:?}",
        ids(&v)
    );
    assert_eq!(
        v["facts"]["mcs"]["encryption_level"], 1,
        "ENCRYPTION_LEVEL_LOW"
    );
}

#[test]
fn xrdp_expired_certificate() {
    let s = xrdp(XrdpConfig::new("tls").cert(Some(CertName::Expired)));
    let (v, code) = check(s.port(), &[]);
    assert_first(&v, code, "cert-expired", "failing");
    assert_eq!(
        v["facts"]["certificate"]["not_after"],
        "2021-01-01T00:00:00Z"
    );
    assert_eq!(
        v["facts"]["certificate"]["trusted"], true,
        "the chain is fine, only the dates are not"
    );
}

#[test]
fn xrdp_not_yet_valid_certificate() {
    let s = xrdp(XrdpConfig::new("tls").cert(Some(CertName::NotYet)));
    let (v, code) = check(s.port(), &[]);
    assert_first(&v, code, "cert-not-yet-valid", "failing");
}

#[test]
fn xrdp_wrong_name_certificate() {
    let s = xrdp(XrdpConfig::new("tls").cert(Some(CertName::WrongCn)));
    let (v, code) = check(s.port(), &[]);
    assert_first(&v, code, "cert-name-mismatch", "degraded");
    assert_eq!(
        v["facts"]["certificate"]["san_dns"][0],
        "wrong.example.invalid"
    );
}

#[test]
fn xrdp_self_signed_certificate() {
    let s = xrdp(XrdpConfig::new("tls").cert(Some(CertName::SelfSigned)));
    let (v, code) = check(s.port(), &[]);
    assert_first(&v, code, "cert-self-signed", "degraded");
}

/// An unreadable key: xrdp refuses every request with SSL_CERT_NOT_ON_SERVER.
#[test]
fn xrdp_missing_certificate() {
    let s = xrdp(XrdpConfig::new("tls").cert(None));
    let (v, code) = check(s.port(), &[]);
    assert_first(&v, code, "server-has-no-certificate", "failing");
    assert_eq!(v["facts"]["negotiation"]["response"]["code"], 3);
}

/// Real NLA: the shadow server requires CredSSP and answers our NTLM NEGOTIATE with a
/// CHALLENGE carrying its names, OS version and clock.
#[test]
fn freerdp_shadow_nla() {
    let s = ShadowServer::start(ShadowConfig::new("nla").cert(Some(CertName::Valid)))
        .expect("shadow starts");
    let (v, code) = check(s.port(), &[]);
    // FreeRDP 2 has no RDP-UDP; nothing else is wrong with this server.
    assert_first(&v, code, "udp-blocked", "healthy");
    assert_eq!(v["facts"]["protocols"]["nla"], "required");
    assert_eq!(
        probe(&v, "tls")["response"]["code"],
        5,
        "HYBRID_REQUIRED_BY_SERVER"
    );
    let c = &v["facts"]["credssp"];
    assert_eq!(c["outcome"], "challenge");
    assert!(c["server_version"].as_u64().unwrap() >= 5, "{c}");
    assert_eq!(c["ntlm"]["os_version"], "6.1.7601");
    assert!(c["ntlm"]["netbios_computer"]
        .as_str()
        .is_some_and(|n| !n.is_empty()));
    assert!(c["ntlm"]["clock_skew_seconds"].as_i64().unwrap().abs() < 120);
    assert_eq!(v["facts"]["mcs"]["outcome"], "skipped");
    // A client with CredSSP turned off fails against it.
    let (v, code) = check(s.port(), &["--sec", "tls"]);
    assert_first(&v, code, "server-requires-nla", "failing");
}

/// A TCP relay on a kernel-chosen port in front of `to`, counting the connections it accepts.
fn counting_relay(to: std::net::SocketAddr) -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("relay binds");
    let port = l.local_addr().expect("relay port").port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let n = accepted.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(c) = c else { continue };
            n.fetch_add(1, Ordering::SeqCst);
            let Ok(s) = TcpStream::connect(to) else {
                continue;
            };
            for (mut from, mut to) in [
                (c.try_clone().expect("dup"), s.try_clone().expect("dup")),
                (s, c),
            ] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(Shutdown::Write);
                });
            }
        }
    });
    (port, accepted)
}

/// With CredSSP selected, the MCS phase needs a connection that asks for TLS only: the protocol
/// enumeration's TLS-only probe is that connection (issue 16 §6), so a check opens the main
/// connection and one per enumeration request, and no other; the rarely accepted protocols
/// the server refuses cost one connection, not three. A relay in front of the shadow server counts
/// them: with NLA required (the probe's refusal says why MCS is skipped) and with TLS allowed
/// too (MCS runs on the probe's connection, after its TLS handshake). Without the enumeration
/// the MCS phase opens its own connection and finds the same.
#[test]
fn the_mcs_phase_runs_on_the_tls_only_probe() {
    for (tls_too, mcs) in [(false, "skipped"), (true, "connected")] {
        let mut cfg = ShadowConfig::new("nla").cert(Some(CertName::Valid));
        if tls_too {
            cfg = cfg.arg("+sec-tls");
        }
        let s = ShadowServer::start(cfg).expect("shadow starts");
        let (port, accepted) = counting_relay(s.socket_addr());
        let (v, _) = check(port, &[]);
        let n = accepted.load(Ordering::SeqCst);
        let f = &v["facts"];
        assert_eq!(
            f["negotiation"]["response"]["protocol"], 2,
            "HYBRID selected"
        );
        assert_eq!(f["mcs"]["outcome"], mcs, "{}", f["mcs"]);
        assert_eq!(f["mcs"]["over"], "tls");
        let tls = probe(&v, "tls");
        assert_eq!(tls["status"], if tls_too { "accepted" } else { "refused" });
        assert!(tls["from_main"].is_null(), "{tls}");
        // The server refuses hybrid_ex, rdstls and rdsaad: one request for the three settles
        // them (a Negotiation Failure refuses each protocol requested).
        let together = &f["protocols"]["together"];
        assert_eq!(together["requested"], 0x1C, "{together}");
        // HYBRID_REQUIRED_BY_SERVER; SSL_REQUIRED_BY_SERVER when TLS is allowed too
        let code = if tls_too { 1 } else { 5 };
        assert_eq!(together["response"]["code"], code, "{together}");
        for p in ["hybrid_ex", "rdstls", "rdsaad"] {
            assert_eq!(probe(&v, p)["status"], "refused");
            assert_eq!(probe(&v, p)["requested"], 0x1C);
        }
        // The main connection and one per request: rdp alone, tls alone, the three together;
        // a request's abandoned quick attempts may add connections the relay accepted before
        // the probe gave up on them.
        let probes = f["protocols"]["probes"].as_array().unwrap();
        let own: Vec<&Value> = probes.iter().filter(|p| p["from_main"].is_null()).collect();
        let requests: std::collections::BTreeMap<u64, u64> = own
            .iter()
            .map(|p| {
                (
                    p["requested"].as_u64().unwrap(),
                    p["retries"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(requests.len(), 3, "{requests:?}");
        let retries: u64 = requests.values().sum();
        let least = 1 + requests.len();
        assert!(
            (least..=least + retries as usize).contains(&n),
            "{n} connections for {} requests ({retries} retries), tls_too {tls_too}",
            requests.len()
        );
        let (v2, _) = check(port, &["--no-enumerate"]);
        let timeless = |m: &Value| {
            let mut m = m.clone();
            m.as_object_mut().unwrap().remove("duration_ms");
            m
        };
        assert_eq!(timeless(&v2["facts"]["mcs"]), timeless(&f["mcs"]));
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            n + 2,
            "main and the MCS phase's own"
        );
    }
}

#[test]
fn closed_port() {
    let port = support::ports::free_port().expect("port");
    let (v, code) = check(port, &[]);
    assert_first(&v, code, "tcp-refused", "failing");
    assert_eq!(v["phases"][1]["status"], "failed");
}
