//! The lab is a plausible RDP server for a third-party client too: nmap's rdp-enum-encryption
//! (7.93) must accept the lab's endpoints and see the same protocols `check` reports.
#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::process::Command;

mod labproc;
use labproc::{Lab, BIN};

/// nmap's "Security layer" lines that say SUCCESS, mapped to check's protocol names.
fn nmap_accepted(port: u16) -> Vec<String> {
    let out = Command::new("timeout")
        .args([
            "60",
            "nmap",
            "-Pn",
            "-n",
            "-p",
            &port.to_string(),
            "--script",
            "+rdp-enum-encryption",
            "127.0.0.1",
        ])
        .output()
        .expect("nmap is installed (.ci/run installs it)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("rdp-enum-encryption"),
        "nmap did not run the script:\n{text}"
    );
    let mut got = Vec::new();
    for l in text.lines() {
        let l = l.trim_start_matches(['|', '_', ' ']);
        let Some(name) = l.strip_suffix(": SUCCESS") else {
            continue;
        };
        let p = match name.trim() {
            "Native RDP" => "rdp",
            "SSL" => "tls",
            "CredSSP (NLA)" => "hybrid",
            "CredSSP with Early User Auth" => "hybrid_ex",
            "RDSTLS" => "rdstls",
            _ => continue,
        };
        got.push(p.to_string());
    }
    got.sort();
    got
}

fn check_accepted(port: u16) -> Vec<String> {
    let out = Command::new(BIN)
        .args([
            "check",
            &format!("127.0.0.1:{port}"),
            "--format",
            "json",
            "--no-udp",
        ])
        .output()
        .expect("check");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let mut got: Vec<String> = v["facts"]["protocols"]["accepted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .filter(|p| p != "rdsaad") // nmap does not probe RDSAAD
        .collect();
    got.sort();
    got
}

#[test]
fn nmap_sees_the_same_protocols_on_the_healthy_lab() {
    let lab = Lab::one("healthy");
    let ours = check_accepted(lab.port);
    assert_eq!(ours, ["hybrid", "hybrid_ex"]);
    assert_eq!(nmap_accepted(lab.port), ours);
}

#[test]
fn nmap_sees_the_same_protocols_on_a_tls_only_lab() {
    let lab = Lab::one("server-requires-tls");
    let ours = check_accepted(lab.port);
    // nmap asks for CredSSP as SSL|HYBRID (0x03), which this server answers by selecting SSL:
    // nmap counts only the answer type, so compare on what both can see: the SSL success.
    assert!(ours.contains(&"tls".to_string()), "{ours:?}");
    assert!(nmap_accepted(lab.port).contains(&"tls".to_string()));
}
