//! `check --format nagios` as a monitoring system reads it: the perfdata thresholds are
//! parsed by a real Nagios-range implementation (Debian's python3-nagiosplugin), so a
//! threshold that says the opposite of what it means (`30` = alert outside 0..30) fails here.
#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

mod labproc;
use labproc::Lab;
use std::io::Write;
use std::process::{Command, Stdio};

/// Debian's interpreter, where apt installs python3-nagiosplugin.
const PYTHON: &str = "/usr/bin/python3";

/// `label value warn-state crit-state` per perfdata item of `line`.
fn judge(line: &str) -> Vec<(String, String, String, String)> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/nagios_perfdata.py");
    let mut child = Command::new(PYTHON)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {PYTHON} ({e}): apt-get install python3-nagiosplugin")
        });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{line}\n").as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "the Nagios range parser refused {line}: {} (apt-get install python3-nagiosplugin)",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[0].into(), f[1].into(), f[2].into(), f[3].into())
        })
        .collect()
}

#[test]
fn certificate_thresholds_mean_what_they_say() {
    let lab = Lab::start(&["healthy", "cert-expiring-soon", "cert-expired"]);
    let ca = lab.ca().display().to_string();
    for (fault, warn, crit, state) in [
        ("healthy", "ok", "ok", "RDP OK"),
        ("cert-expiring-soon", "alert", "ok", "RDP WARNING"),
        ("cert-expired", "alert", "alert", "RDP CRITICAL"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_rdp-doctor"))
            .args(["check", "--format", "nagios", "--no-udp", "--ca", &ca])
            .arg(lab.target(fault))
            .output()
            .expect("runs");
        let line = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(line.starts_with(state), "{fault}: {line}");
        let perf = judge(line.trim_end());
        let cert = perf
            .iter()
            .find(|p| p.0 == "cert_days_left")
            .unwrap_or_else(|| panic!("{fault}: no cert_days_left in {line}"));
        assert_eq!(
            (cert.2.as_str(), cert.3.as_str()),
            (warn, crit),
            "{fault}: cert_days_left={} judged by the plugin range rules: {line}",
            cert.1
        );
        // Timings carry no thresholds: never an alert.
        for p in perf.iter().filter(|p| p.0 != "cert_days_left") {
            assert_eq!((p.2.as_str(), p.3.as_str()), ("-", "-"), "{line}");
        }
    }
}
