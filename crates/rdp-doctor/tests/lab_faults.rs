//! Every lab fault, end to end through the command line: `rdp-doctor lab` serves the fault,
//! `rdp-doctor check --format json` must report the expected first finding and verdict.
#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

use rdp_doctor::lab::Fault;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rdp-doctor");

/// A lab process serving one fault on a kernel-chosen loopback port; killed on drop.
struct LabProcess {
    child: Child,
    port: u16,
    ca: tempdir::Dir,
}

mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new(tag: &str) -> Dir {
            let p = std::env::temp_dir().join(format!(
                "rdp-doctor-test-{tag}-{}-{:?}",
                std::process::id(),
                std::time::SystemTime::now()
            ));
            std::fs::create_dir_all(&p).expect("temp dir");
            Dir(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl LabProcess {
    fn start(fault: Fault) -> LabProcess {
        let ca = tempdir::Dir::new(fault.name());
        let ca_file = ca.0.join("ca.pem");
        let mut child = Command::new(BIN)
            .args([
                "lab",
                "--listen",
                "127.0.0.1:0",
                "--fault",
                fault.name(),
                "--ca-out",
            ])
            .arg(&ca_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("lab starts");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("lab listening on 127.0.0.1:") {
                    let port: u16 = rest
                        .split_whitespace()
                        .next()
                        .and_then(|p| p.parse().ok())
                        .unwrap_or(0);
                    let _ = tx.send(port);
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("lab reports its port");
        LabProcess { child, port, ca }
    }
}

impl Drop for LabProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn check_json(lab: &LabProcess, client: &str) -> (serde_json::Value, i32, Duration) {
    let start = Instant::now();
    let out = Command::new(BIN)
        .args([
            "check",
            &format!("127.0.0.1:{}", lab.port),
            "--format",
            "json",
            "--timeout",
            "2",
            "--sec",
            client,
            "--ca",
        ])
        .arg(lab.ca.0.join("ca.pem"))
        .output()
        .expect("check runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "check printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (v, out.status.code().unwrap_or(-1), start.elapsed())
}

fn assert_fault(fault: Fault) {
    let lab = LabProcess::start(fault);
    let exp = fault.expectation();
    let (v, code, took) = check_json(&lab, exp.client);
    let first = v["findings"][0]["id"].as_str().map(String::from);
    let ids: Vec<&str> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert_eq!(
        first.as_deref(),
        exp.first_finding,
        "{}: findings {ids:?}",
        fault.name()
    );
    assert_eq!(
        v["verdict"],
        exp.verdict.as_str(),
        "{}: findings {ids:?}",
        fault.name()
    );
    assert_eq!(code, exp.verdict.exit_code(), "{}: exit code", fault.name());
    assert_eq!(v["schema"], "rdp-doctor/check/v1");
    assert_eq!(v["phases"].as_array().map(|a| a.len()), Some(8));
    // Every finding carries the fields the README documents.
    for f in v["findings"].as_array().expect("array") {
        for key in [
            "id",
            "severity",
            "phase",
            "title",
            "evidence",
            "fix",
            "references",
        ] {
            assert!(!f[key].is_null(), "{}: finding without {key}", fault.name());
        }
        assert!(!f["evidence"].as_array().expect("evidence").is_empty());
    }
    // No fault may make check hang: the slowest waits for one 2 s time-out (plus UDP).
    assert!(
        took < Duration::from_secs(15),
        "{} took {took:?}",
        fault.name()
    );
}

macro_rules! fault_tests {
    ($($name:ident => $fault:expr),* $(,)?) => {
        $( #[test] fn $name() { assert_fault($fault); } )*
        /// The list above covers every fault the lab knows.
        #[test]
        fn every_fault_has_a_test() {
            let tested = [$($fault),*];
            for f in Fault::ALL {
                assert!(tested.contains(&f), "no integration test for {}", f.name());
            }
        }
    };
}

fault_tests! {
    healthy => Fault::Healthy,
    cert_expired => Fault::CertExpired,
    cert_not_yet_valid => Fault::CertNotYetValid,
    cert_self_signed => Fault::CertSelfSigned,
    cert_name_mismatch => Fault::CertNameMismatch,
    cert_weak_key => Fault::CertWeakKey,
    cert_expiring_soon => Fault::CertExpiringSoon,
    cert_wrong_usage => Fault::CertWrongUsage,
    tls_handshake_failed => Fault::TlsHandshakeFailed,
    tls_version_mismatch => Fault::TlsVersionMismatch,
    tls_stalled => Fault::TlsStalled,
    server_requires_nla => Fault::ServerRequiresNla,
    server_requires_tls => Fault::ServerRequiresTls,
    server_forbids_tls => Fault::ServerForbidsTls,
    server_has_no_certificate => Fault::ServerHasNoCertificate,
    standard_rdp_security_only => Fault::StandardRdpSecurityOnly,
    credssp_outdated_server => Fault::CredsspOutdatedServer,
    credssp_failed => Fault::CredsspFailed,
    clock_skew => Fault::ClockSkew,
    x224_no_response => Fault::X224NoResponse,
    x224_reset => Fault::X224Reset,
    not_rdp => Fault::NotRdp,
    server_denied_connection => Fault::ServerDeniedConnection,
    slow_drip => Fault::SlowDrip,
    udp_blocked => Fault::UdpBlocked,
}

/// The lab refuses to listen beyond loopback unless told to.
#[test]
fn lab_stays_on_loopback_by_default() {
    let out = Command::new(BIN)
        .args(["lab", "--listen", "0.0.0.0:0", "--fault", "healthy"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-remote"));
}

/// Bad input is a clear error with exit code 3, never a panic.
#[test]
fn bad_targets_exit_3() {
    for t in ["", "https://srv", "srv:0", "srv:99999", "[::1", "a b"] {
        let out = Command::new(BIN).args(["check", t]).output().expect("runs");
        assert_eq!(out.status.code(), Some(3), "{t:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("rdp-doctor: "), "{t:?}: {err}");
        assert!(!err.contains("panicked"));
    }
}
