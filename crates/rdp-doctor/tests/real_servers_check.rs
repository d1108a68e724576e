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
use std::process::Command;
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

#[test]
fn closed_port() {
    let port = support::ports::free_port().expect("port");
    let (v, code) = check(port, &[]);
    assert_first(&v, code, "tcp-refused", "failing");
    assert_eq!(v["phases"][1]["status"], "failed");
}
