//! Human output fits 80 columns when stdout is not a terminal and COLUMNS is unset: `check`,
//! `explain`, the `demo` table, the `scan` table and `lab --list`. Lines are wrapped, never
//! cut (the evidence survives), colour codes take no width, and debug structures of Rust
//! never reach the reader.
#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

mod labproc;
use labproc::Lab;
use std::process::Command;

fn run(args: &[&str], color: bool) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rdp-doctor"));
    if color {
        cmd.args(["--color", "always"]);
    }
    let out = cmd
        .args(args)
        .env_remove("COLUMNS")
        .env_remove("NO_COLOR")
        .output()
        .expect("runs");
    assert!(
        out.status.code().is_some_and(|c| c < 3),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Columns a line takes: escape sequences excluded.
fn visible(line: &str) -> usize {
    let mut n = 0;
    let mut esc = false;
    for c in line.chars() {
        match (esc, c) {
            (false, '\x1b') => esc = true,
            (true, c) if c.is_ascii_alphabetic() => esc = false,
            (true, _) => {}
            _ => n += 1,
        }
    }
    n
}

fn plain(line: &str) -> String {
    let mut s = String::new();
    let mut esc = false;
    for c in line.chars() {
        match (esc, c) {
            (false, '\x1b') => esc = true,
            (true, c) if c.is_ascii_alphabetic() => esc = false,
            (true, _) => {}
            (false, c) => s.push(c),
        }
    }
    s
}

fn assert_fits(what: &str, out: &str) {
    assert!(out.lines().count() > 2, "{what}: {out}");
    for l in out.lines() {
        assert!(
            visible(l) <= 80,
            "{what}: a line of {} columns:\n{l}\n{out}",
            visible(l)
        );
    }
    for debug in ["FailureCode(", "Some(", "channels ["] {
        assert!(
            !out.contains(debug),
            "{what}: a Rust debug structure ({debug}): {out}"
        );
    }
    assert!(
        !has_debug_struct(out),
        "{what}: a Rust debug structure (Name {{ field: ... }}): {out}"
    );
}

/// `Failure { code: ... }`: a capitalised identifier, " { ", then `field:`. A PowerShell
/// block (`Where-Object { $_.Thumbprint ... }`) is not one.
fn has_debug_struct(out: &str) -> bool {
    out.match_indices(" { ").any(|(i, _)| {
        let before = out[..i]
            .rsplit(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap_or("");
        let after = &out[i + 3..];
        let field: String = after
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        before.starts_with(|c: char| c.is_ascii_uppercase())
            && !field.is_empty()
            && after[field.len()..].starts_with(": ")
    })
}

#[test]
fn the_debug_structure_detector_tells_rust_from_powershell() {
    assert!(has_debug_struct("lab: Failure { code: FailureCode(5) }"));
    assert!(!has_debug_struct(
        "'Cert:\\LocalMachine\\Remote Desktop' | Where-Object { $_.Thumbprint -eq 1 }"
    ));
    assert!(!has_debug_struct("if ($x -eq 1) { Get-ChildItem }"));
}

#[test]
fn every_human_output_fits_80_columns() {
    let lab = Lab::start(&["tls-handshake-failed", "healthy", "server-requires-nla"]);
    let ca = lab.ca().display().to_string();
    for fault in ["tls-handshake-failed", "healthy"] {
        for color in [false, true] {
            let out = run(&["check", "--ca", &ca, &lab.target(fault)], color);
            assert_fits(&format!("check {fault} color={color}"), &out);
        }
    }
    // The X.224 evidence is wrapped, not cut: every requested protocol is still there.
    let out = run(
        &["check", "--ca", &ca, &lab.target("tls-handshake-failed")],
        false,
    );
    let joined: String = out.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        joined.contains("PROTOCOL_SSL|PROTOCOL_HYBRID|PROTOCOL_HYBRID_EX"),
        "{out}"
    );
    // mcs: the channels in words
    let out = run(&["check", "--ca", &ca, &lab.target("healthy")], false);
    assert!(!out.contains("channel id(s)"), "{out}");
    assert_fits(
        "explain 0x904 0x7",
        &run(&["explain", "0x904", "0x7"], false),
    );
    assert_fits(
        "explain 0x904 0x7 (colour)",
        &run(&["explain", "0x904", "0x7"], true),
    );
    assert_fits("lab --list", &run(&["lab", "--list"], false));
    // logs: event summaries and example records are long lines; they wrap, with every word kept.
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/evidence/json/");
    for f in ["server-schannel.json", "gateway-operational.json"] {
        let path = format!("{fixtures}{f}");
        for color in [false, true] {
            let out = run(&["logs", &path], color);
            assert_fits(&format!("logs {f} color={color}"), &out);
        }
    }
    let rdp = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/evidence/rdp-files/freerdp/test1.rdp"
    );
    assert_fits("rdpfile", &run(&["rdpfile", rdp], false));
    let out = run(&["logs", &format!("{fixtures}server-schannel.json")], false);
    let joined: String = out.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(joined.contains("ErrorCode=0x8009030D"), "{out}");
    let scan = run(
        &[
            "scan",
            "--ca",
            &ca,
            &lab.target("healthy"),
            &lab.target("tls-handshake-failed"),
            &lab.target("server-requires-nla"),
            "127.0.0.1:1",
        ],
        false,
    );
    assert_fits("scan", &scan);
    assert!(scan.contains("127.0.0.1:1"), "{scan}");
    // The lab's log speaks words too.
    let log = lab.log();
    assert!(!log.contains("FailureCode("), "{log}");
    assert!(!log.contains("Response {"), "{log}");
}

#[test]
fn the_demo_table_fits_80_columns() {
    let out = run(&["demo", "--table-only"], false);
    assert_fits("demo --table-only", &out);
    let n = rdp_doctor::lab::Fault::ALL.len();
    assert!(out.contains(&format!("{n} of {n} faults")), "{out}");
}

#[test]
fn colour_codes_do_not_eat_the_summary_padding() {
    let lab = Lab::start(&["healthy"]);
    let ca = lab.ca().display().to_string();
    let target = lab.target("healthy");
    let pick = |out: &str| -> Vec<String> {
        out.lines()
            .map(plain)
            .filter(|l| {
                l.starts_with("  Security:")
                    || l.starts_with("  Round trip:")
                    || l.starts_with("  Loss:")
            })
            .collect()
    };
    let without = pick(&run(&["check", "--ca", &ca, &target], false));
    let with = pick(&run(&["check", "--ca", &ca, &target], true));
    assert!(!without.is_empty());
    // The measured loss and how sure it is (loopback: none).
    assert!(
        without
            .iter()
            .any(|l| l.contains("transmissions lost (95 % confidence: below ")),
        "{without:?}"
    );
    assert_eq!(without.len(), with.len());
    for (a, b) in without.iter().zip(&with) {
        // the value starts in the same column, with or without colour
        let va = a
            .split_once(':')
            .map(|(k, v)| k.len() + 1 + (v.len() - v.trim_start().len()));
        let vb = b
            .split_once(':')
            .map(|(k, v)| k.len() + 1 + (v.len() - v.trim_start().len()));
        assert_eq!(va, vb, "\n{a}\n{b}");
        assert_eq!(va, Some(17), "{a}");
    }
}
