//! `rdp-doctor scan` end to end: a lab process serving several faults, one scan over all of
//! them, the per-target verdicts and first findings, the merged exit code, every output
//! format, and a target that misses its deadline.
#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

mod fleet_common;
mod labproc;
use fleet_common::*;
use std::process::Command;
use std::time::{Duration, Instant};

/// (fault, expected verdict, expected first finding) at standard depth with mstsc.
const EXPECTED: &[(&str, &str, Option<&str>)] = &[
    ("healthy", "healthy", None),
    ("cert-expired", "failing", Some("cert-expired")),
    ("cert-expiring-soon", "degraded", Some("cert-expiring-soon")),
    (
        "standard-rdp-security-only",
        "degraded",
        Some("standard-rdp-security-only"),
    ),
    ("server-requires-tls", "degraded", Some("nla-not-offered")),
    (
        "tls-handshake-failed",
        "failing",
        Some("tls-handshake-failed"),
    ),
    ("not-rdp", "failing", Some("not-rdp")),
    ("x224-reset", "failing", Some("x224-reset")),
];

fn free_port() -> u16 {
    // bound then dropped: nothing listens there afterwards
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn scan(args: &[&str]) -> (std::process::Output, Duration) {
    scan_with(args, None)
}

/// `columns`: the width the table fits (`COLUMNS`); off a terminal it is 80 without it.
fn scan_with(args: &[&str], columns: Option<&str>) -> (std::process::Output, Duration) {
    let t = Instant::now();
    let mut cmd = Command::new(BIN);
    cmd.arg("scan").args(args).env_remove("COLUMNS");
    if let Some(c) = columns {
        cmd.env("COLUMNS", c);
    }
    let out = cmd.output().expect("scan runs");
    (out, t.elapsed())
}

#[test]
fn a_scan_over_several_faults_reports_each_and_merges_the_exit_code() {
    let faults: Vec<&str> = EXPECTED.iter().map(|(f, ..)| *f).collect();
    let lab = Lab::start_with(&faults, true);
    let closed = free_port();
    let ca = lab.ca();
    let ca = ca.to_str().expect("utf8 path");
    let mut args: Vec<String> = vec![
        "--format".into(),
        "jsonl".into(),
        "--ca".into(),
        ca.into(),
        "--timeout".into(),
        "2".into(),
        "--no-progress".into(),
    ];
    for f in &faults {
        args.push(lab.target(f));
    }
    args.push(format!("127.0.0.1:{closed}"));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, took) = scan(&argv);
    let stdout = String::from_utf8(out.stdout).expect("utf8");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "errors present: exit 2\n{stderr}"
    );
    let docs: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(docs.len(), faults.len() + 1, "one document per target");
    for (fault, verdict, first) in EXPECTED {
        let t = lab.target(fault);
        let d = docs
            .iter()
            .find(|d| d["target"]["input"] == t.as_str())
            .unwrap_or_else(|| panic!("no document for {fault}"));
        assert_eq!(d["schema"], "rdp-doctor/check/v1");
        assert_eq!(d["verdict"], *verdict, "{fault}: {}", d["findings"]);
        assert_eq!(
            d["findings"][0]["id"].as_str(),
            *first,
            "{fault}: {}",
            d["findings"]
        );
    }
    let refused = docs
        .iter()
        .find(|d| d["target"]["port"] == closed)
        .expect("closed port document");
    assert_eq!(refused["findings"][0]["id"], "tcp-refused");
    // the summary goes to stderr for JSON Lines and groups by finding id
    assert!(stderr.contains("Summary: 9 targets"), "{stderr}");
    // (wrapped at 80 columns when the rate's digits make the line longer)
    let flat = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("1 healthy, 3 degraded, 5 failing, 0 unknown"),
        "{stderr}"
    );
    assert!(
        stderr.lines().any(|l| l.starts_with("cert-expired ")),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[test]
fn table_and_csv_list_targets_in_input_order() {
    let lab = Lab::start_with(&["healthy", "cert-expiring-soon"], true);
    let ca = lab.ca();
    let ca = ca.to_str().expect("utf8");
    let (h, s) = (lab.target("healthy"), lab.target("cert-expiring-soon"));
    // a targets file with comments, and the degraded one first
    let file = lab.dir.path("targets.txt");
    std::fs::write(&file, format!("# fleet\n{s}   # expiring\n\n{h}\n")).expect("write");
    // Wide enough for every column (at 80 the PROTOCOLS and NLA columns are left out, which
    // tests/fit.rs covers).
    let (out, _) = scan_with(
        &[
            "-i",
            file.to_str().expect("utf8"),
            "--ca",
            ca,
            "--quick",
            "--no-progress",
        ],
        Some("200"),
    );
    assert_eq!(out.status.code(), Some(1), "worst is a warning: exit 1");
    let text = String::from_utf8(out.stdout).expect("utf8");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("TARGET "), "{text}");
    assert!(
        lines[1].starts_with(&s) && lines[1].contains("degraded"),
        "{text}"
    );
    assert!(
        lines[1].contains("cert-expiring-soon")
            && (lines[1].contains("(9 d)") || lines[1].contains("(10 d)")),
        "{text}"
    );
    assert!(
        lines[2].starts_with(&h) && lines[2].contains("healthy"),
        "{text}"
    );
    assert!(
        lines[2].contains("sel:hybrid"),
        "quick depth shows the selected protocol: {text}"
    );
    assert!(text.contains("Summary: 2 targets"), "{text}");
    assert!(
        text.contains("cert-expiring-soon  warning         1  "),
        "{text}"
    );

    let (out, _) = scan(&[
        &h,
        &s,
        "--ca",
        ca,
        "--format",
        "csv",
        "--no-progress",
        "--no-summary",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).expect("utf8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("target,verdict,exit_code,first_finding"));
    assert!(
        lines[1].starts_with(&format!("{h},healthy,0,,,,")),
        "{text}"
    );
    assert!(
        lines[1].contains(",hybrid;hybrid_ex,required,refused,"),
        "{text}"
    );
    assert!(
        lines[2].starts_with(&format!("{s},degraded,1,cert-expiring-soon,warning,")),
        "{text}"
    );
    assert!(
        out.stderr.is_empty(),
        "no summary, no progress bar off a terminal"
    );
}

#[test]
fn a_target_past_its_deadline_is_unknown_and_the_scan_goes_on() {
    let lab = Lab::start_with(&["x224-no-response", "healthy"], true);
    let ca = lab.ca();
    let (out, took) = scan(&[
        &lab.target("x224-no-response"),
        &lab.target("healthy"),
        "--ca",
        ca.to_str().expect("utf8"),
        "--timeout",
        "5",
        "--deadline",
        "0.5",
        "--format",
        "jsonl",
        "--no-summary",
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "a target without a verdict: exit 3"
    );
    let text = String::from_utf8(out.stdout).expect("utf8");
    let docs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(docs.len(), 2);
    let stuck = docs
        .iter()
        .find(|d| d["schema"] == "rdp-doctor/scan-error/v1")
        .expect("deadline document");
    assert_eq!(stuck["status"], "deadline");
    assert_eq!(stuck["target"]["port"], lab.ports["x224-no-response"]);
    assert!(docs.iter().any(|d| d["verdict"] == "healthy"));
    assert!(
        took < Duration::from_secs(4),
        "the deadline bounds the scan: {took:?}"
    );
}

#[test]
fn bad_targets_are_refused_before_any_connection() {
    for (args, want) in [
        (vec!["10.0.0.0/8"], "--max-targets"),
        (vec!["10.0.0.1/24"], "host bits"),
        (vec!["srv:0"], "port 0"),
        (vec!["--port", "x", "srv"], "--port"),
        (vec![], "no targets"),
        (vec!["-i", "/nonexistent/targets.txt"], "cannot read"),
        (vec!["--rate", "0", "srv"], "--rate"),
    ] {
        let (out, took) = scan(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(out.stdout.is_empty());
        assert!(took < Duration::from_secs(5));
    }
}

#[test]
fn rate_limits_new_connections() {
    let lab = Lab::start_with(&["healthy"], true);
    let port = lab.ports["healthy"];
    // 20 quick targets (one connection each) at 20/s with a burst of 2: about 0.9 s.
    let spec = format!("127.0.0.1-20:{port}");
    let (out, took) = scan(&[
        &spec,
        "--quick",
        "--rate",
        "20",
        "--format",
        "csv",
        "--no-summary",
    ]);
    let text = String::from_utf8(out.stdout).expect("utf8");
    assert_eq!(text.lines().count(), 21, "{text}");
    assert!(
        took >= Duration::from_millis(850) && took < Duration::from_secs(8),
        "20 connections at 20/s: {took:?}"
    );
}

#[test]
fn out_of_file_descriptors_lowers_the_concurrency_and_retries() {
    // Ten endpoints that hold their connection for the whole 1 s time-out, under an
    // open-file limit that leaves room for only a few sockets.
    let mut faults = vec!["x224-no-response"; 10];
    faults.push("healthy");
    let lab = Lab::start_with(&faults, true);
    let mut cmd = format!("ulimit -n 16 && exec '{BIN}' scan --quick --concurrency 64 --timeout 1 --deadline 20 --format csv --no-summary --ca '{}'", lab.ca().display());
    for (_, port) in &lab.all {
        cmd.push_str(&format!(" 127.0.0.1:{port}"));
    }
    let out = Command::new("sh")
        .args(["-c", &cmd])
        .output()
        .expect("sh runs");
    let err = String::from_utf8_lossy(&out.stderr);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{err}\n{text}");
    assert_eq!(
        err.matches("out of file descriptors").count(),
        1,
        "one warning, then the final concurrency: {err}"
    );
    assert!(err.contains("the scan ended with concurrency"), "{err}");
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 11, "{text}");
    // every target got the server's diagnosis, none a local error
    assert_eq!(
        rows.iter()
            .filter(|r| r.contains(",failing,2,x224-no-response,"))
            .count(),
        10,
        "{text}"
    );
    assert_eq!(
        rows.iter().filter(|r| r.contains(",healthy,0,")).count(),
        1,
        "{text}"
    );
}

/// `--max-targets` counts endpoints after duplicates are dropped (issue 15, item 9): a list
/// that names one closed port three ways is one target under `--max-targets 1`, and the error
/// for too many gives the distinct count.
#[test]
fn max_targets_counts_distinct_endpoints() {
    let closed = free_port();
    let a = format!("127.0.0.1:{closed}");
    let b = format!("[::ffff:127.0.0.1]:{closed}");
    let (out, _) = scan(&[
        "--format",
        "jsonl",
        "--no-progress",
        "--timeout",
        "2",
        "--max-targets",
        "1",
        &a,
        &a,
        &b,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_ne!(out.status.code(), Some(3), "accepted: {stderr}");
    assert_eq!(stdout.lines().count(), 1, "one endpoint scanned: {stdout}");
    let other = format!("127.0.0.2:{closed}");
    let (out, _) = scan(&["--max-targets", "1", &a, &a, &other, &b]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("2 distinct endpoints"), "{stderr}");
    assert!(out.stdout.is_empty());
}
