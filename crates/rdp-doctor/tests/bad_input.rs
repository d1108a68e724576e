//! What a newcomer types wrong, through the real command line: every input error is exit 3,
//! goes to stderr, names the file, and comes before (instead of) any result; `--format
//! nagios` still prints a status line a monitoring system can show.
#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::path::PathBuf;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rdp-doctor"))
        .args(args)
        .env_remove("RDP_DOCTOR_PASSWORD")
        .env("NO_COLOR", "1")
        .output()
        .expect("runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A scratch file for this test process.
fn scratch(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rdp-doctor-bad-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

/// Exit 3, nothing on stdout, and stderr names `file`.
fn input_error(out: &Output, file: &str, what: &str) {
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(3),
        "{what}: stdout {stdout} stderr {stderr}"
    );
    assert!(stdout.trim().is_empty(), "{what}: no result: {stdout}");
    assert!(
        stderr.contains(file),
        "{what}: the error names {file}: {stderr}"
    );
}

#[test]
fn check_names_a_missing_rdp_file() {
    let out = run(&["check", "--rdp-file", "/nonexistent.rdp"]);
    input_error(&out, "/nonexistent.rdp", "check --rdp-file");
}

#[test]
fn a_binary_or_an_empty_file_is_not_an_rdp_file() {
    let empty = scratch("empty.rdp", b"");
    let blank = scratch("blank.rdp", b"\r\n  \r\n");
    let binary = scratch(
        "prog.rdp",
        b"\x7fELF\x02\x01\x01\0\0\0full address:s:x\0\0\x01\x02",
    );
    let prose = scratch("notes.rdp", b"Meeting notes\nnothing here is a setting\n");
    for (p, why) in [
        (&empty, "empty"),
        (&blank, "empty"),
        (&binary, "binary"),
        (&prose, "'name:type:value'"),
    ] {
        let shown = p.display().to_string();
        for args in [
            vec!["rdpfile", shown.as_str()],
            vec!["rdpfile", "--format", "json", shown.as_str()],
            vec!["check", "--rdp-file", shown.as_str()],
        ] {
            let out = run(&args);
            input_error(&out, &shown, &format!("{args:?}"));
            assert!(
                text(&out.stderr).contains(why),
                "{args:?}: {}",
                text(&out.stderr)
            );
            assert!(text(&out.stderr).contains("not an .rdp file"));
        }
    }
    // A real program, as a newcomer would try it.
    if std::path::Path::new("/bin/ls").exists() {
        let out = run(&["rdpfile", "/bin/ls"]);
        input_error(&out, "/bin/ls", "rdpfile /bin/ls");
        assert!(
            text(&out.stderr).contains("binary"),
            "{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn logs_of_a_missing_file_or_a_directory_is_an_error_before_any_result() {
    let dir = std::env::temp_dir();
    let dir = dir.display().to_string();
    for f in ["/nonexistent.evtx", dir.as_str()] {
        let out = run(&["logs", f]);
        input_error(&out, f, &format!("logs {f}"));
        assert!(
            !text(&out.stdout).contains("No RDP-relevant events"),
            "{}",
            text(&out.stdout)
        );
    }
}

#[test]
fn evidence_takes_one_file_per_flag_and_leaves_the_target_alone() {
    let a = scratch("a.json", b"[]");
    let b = scratch("b.json", b"[]");
    let (a, b) = (a.display().to_string(), b.display().to_string());
    // The target after --evidence is the target (port 1 on loopback: refused fast).
    let out = run(&[
        "check",
        "--timeout",
        "2",
        "--no-udp",
        "--evidence",
        &a,
        "--evidence",
        &b,
        "127.0.0.1:1",
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_ne!(out.status.code(), Some(3), "{stdout}{stderr}");
    assert!(!stderr.contains("give a target"), "{stderr}");
    assert!(!stderr.contains("127.0.0.1:1 does not exist"), "{stderr}");
    assert!(stdout.contains("127.0.0.1"), "{stdout}");
    // A missing evidence file is named.
    let out = run(&["check", "--evidence", "/nonexistent.evtx", "127.0.0.1:1"]);
    input_error(&out, "/nonexistent.evtx", "check --evidence missing");
}

#[test]
fn nagios_usage_errors_still_print_a_status_line() {
    for args in [
        // our own validation
        vec![
            "check",
            "--format",
            "nagios",
            "--timeout",
            "0",
            "127.0.0.1:1",
        ],
        vec![
            "check",
            "--format",
            "nagios",
            "--rdp-file",
            "/nonexistent.rdp",
        ],
        // clap's
        vec!["check", "--format=nagios", "--no-such-flag", "127.0.0.1:1"],
        vec!["check", "--format", "nagios", "--port", "x", "127.0.0.1"],
    ] {
        let out = run(&args);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stdout}");
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: one status line: {stdout}");
        assert!(
            lines[0].starts_with("RDP UNKNOWN - ") && lines[0].len() > 20,
            "{args:?}: {stdout}"
        );
        assert!(!lines[0].contains('|'), "no perfdata separator: {stdout}");
    }
    // Other formats keep stdout clean.
    let out = run(&["check", "--timeout", "0", "127.0.0.1:1"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stdout).is_empty());
}
