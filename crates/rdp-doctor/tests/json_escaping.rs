//! Every machine format escapes C1 controls and bidi/invisible format characters as `\uXXXX`
//! (issue 15, item 7): a server string such as a certificate subject with U+009B (a CSI to some
//! terminals) and U+202E (right-to-left override) reaches `--format json`, `scan --format jsonl`
//! and the human report only escaped, and the JSON still parses back to the original string.
#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

use rdp_doctor::lab::HOSTILE_ORGANIZATION;
use std::process::{Command, Stdio};

mod labproc;
use labproc::{Lab, BIN};

/// No character a terminal or log viewer could be fooled by, raw.
fn assert_no_raw(what: &str, bytes: &[u8]) {
    let text = std::str::from_utf8(bytes).expect("UTF-8 output");
    for c in text.chars() {
        let bad = c.is_control() && c != '\n'
            || ('\u{80}'..='\u{9f}').contains(&c)
            || ('\u{200b}'..='\u{200f}').contains(&c)
            || ('\u{2028}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c);
        assert!(!bad, "{what}: raw U+{:04X} in the output", c as u32);
    }
}

fn run(args: &[&str], lab: &Lab) -> Vec<u8> {
    let out = Command::new(BIN)
        .args(args)
        .arg("--ca")
        .arg(lab.ca())
        .args(["--timeout", "2"])
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    assert!(
        !out.stdout.is_empty(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn a_hostile_certificate_subject_is_escaped_in_every_format() {
    let lab = Lab::one("cert-hostile-subject");
    let target = format!("127.0.0.1:{}", lab.port);

    let json = run(&["check", &target, "--format", "json"], &lab);
    assert_no_raw("check --format json", &json);
    let text = String::from_utf8(json.clone()).expect("utf-8");
    assert!(text.contains("\\u009b"), "U+009B escaped");
    assert!(text.contains("\\u202e"), "U+202E escaped");
    let v: serde_json::Value = serde_json::from_slice(&json).expect("valid JSON");
    let subject = v["facts"]["certificate"]["subject"]
        .as_str()
        .expect("subject");
    assert!(
        subject.contains(HOSTILE_ORGANIZATION),
        "parsed back, the subject is the server's string: {subject:?}"
    );

    let jsonl = run(
        &["scan", &target, "--format", "jsonl", "--no-progress"],
        &lab,
    );
    assert_no_raw("scan --format jsonl", &jsonl);
    let line = String::from_utf8(jsonl.clone()).expect("utf-8");
    assert_eq!(line.lines().count(), 1);
    assert!(line.contains("\\u009b") && line.contains("\\u202e"));
    let v: serde_json::Value = serde_json::from_str(line.trim()).expect("valid JSON line");
    assert_eq!(v["facts"]["certificate"]["subject"], subject);

    let human = run(&["check", &target], &lab);
    assert_no_raw("check (human)", &human);
    let csv = run(&["scan", &target, "--format", "csv", "--no-progress"], &lab);
    assert_no_raw("scan --format csv", &csv);
}
