//! `check` joined with other sources, end to end through the CLI against the lab server:
//! `--rdp-file` (the client's own settings) and `--evidence` (the server's event logs).
#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::path::PathBuf;
use std::process::Command;

mod labproc;
use labproc::{Lab, BIN};

fn json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(BIN).args(args).output().expect("runs");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

/// A .rdp file with CredSSP turned off, against a server that requires NLA: that client fails,
/// and the finding carries both the probe's and the file's evidence.
#[test]
fn rdp_file_client_against_an_nla_server() {
    let lab = Lab::one("healthy");
    let rdp = lab.dir.path("client.rdp");
    // mstsc writes UTF-16LE with a BOM and CRLF.
    let text = format!(
        "full address:s:127.0.0.1:{}\r\nenablecredsspsupport:i:0\r\n",
        lab.port
    );
    let mut bytes = vec![0xFF, 0xFE];
    for u in text.encode_utf16() {
        bytes.extend(u.to_le_bytes());
    }
    std::fs::write(&rdp, bytes).expect("write");
    let ca = lab.ca();
    let v = json(&[
        "check",
        "--format",
        "json",
        "--rdp-file",
        rdp.to_str().unwrap(),
        "--ca",
        ca.to_str().unwrap(),
    ]);
    assert_eq!(v["target"]["port"], lab.port);
    assert_eq!(v["facts"]["client"]["requested_protocols"], 1);
    assert_eq!(v["findings"][0]["id"], "server-requires-nla");
    assert_eq!(v["verdict"], "failing");
    let ev: Vec<String> = v["findings"][0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    assert!(
        ev.iter().any(|e| e.contains("RDP_NEG_FAILURE code 5")),
        "{ev:?}"
    );
    assert!(
        ev.iter().any(|e| e.contains("enablecredsspsupport:i:0")),
        "{ev:?}"
    );
    // The same server with the default client is healthy.
    let v = json(&[
        "check",
        "--format",
        "json",
        &format!("127.0.0.1:{}", lab.port),
        "--ca",
        ca.to_str().unwrap(),
    ]);
    assert_eq!(v["verdict"], "healthy");
}

/// The classic 0x904/0x7: the probe sees the server abort its own TLS handshake, the server's
/// System log has Schannel 36870. Joined, they are one finding with both pieces of evidence.
#[test]
fn evidence_joins_the_probe_symptom_with_the_logged_cause() {
    let lab = Lab::one("tls-handshake-failed");
    let log = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/evidence/json/server-schannel.json");
    let v = json(&[
        "check",
        "--format",
        "json",
        &format!("127.0.0.1:{}", lab.port),
        "--evidence",
        log.to_str().unwrap(),
    ]);
    let ids: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert_eq!(ids[0], "server-private-key-unreadable", "{ids:?}");
    assert!(
        !ids.contains(&"tls-handshake-failed"),
        "merged, not repeated: {ids:?}"
    );
    let ev = v["findings"][0]["evidence"].to_string();
    assert!(ev.contains("confirmed by two sources"), "{ev}");
    assert!(ev.contains("36870"), "{ev}");
    assert_eq!(v["verdict"], "failing");
}

#[test]
fn missing_sources_are_usage_errors() {
    for args in [
        vec!["check", "--rdp-file", "/nonexistent/x.rdp"],
        vec!["check", "127.0.0.1:1", "--evidence", "/nonexistent/x.evtx"],
        vec!["check"],
    ] {
        let out = Command::new(BIN).args(&args).output().expect("runs");
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("rdp-doctor: "));
    }
}
