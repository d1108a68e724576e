//! `rdp-doctor logs` reads its input once, so a pipe, `<(...)` and standard input (`-`) give
//! the same report as the file; and a run that read no event exits 3, never 0 (issue 15).
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_rdp-doctor");

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/evidence")
        .join(rel)
}

/// Runs `logs --format json ARG`, with `stdin` fed to it; returns exit code, JSON, stderr.
fn logs(args: &[&str], stdin: Option<&[u8]>) -> (i32, serde_json::Value, String) {
    let mut child = Command::new(BIN)
        .args(["logs", "--format", "json"])
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    if let Some(bytes) = stdin {
        let mut w = child.stdin.take().expect("stdin");
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            let _ = w.write_all(&bytes);
        });
    }
    let out = child.wait_with_output().expect("waits");
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs through bash so that the input is a pipe named `/dev/fd/N`: `<(cat FILE)`.
fn logs_process_substitution(file: &Path) -> (i32, serde_json::Value) {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "exec '{BIN}' logs --format json <(cat '{}')",
            file.display()
        ))
        .output()
        .expect("bash runs");
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null),
    )
}

/// The same findings (the evidence names the input, `/dev/fd/63` for a pipe: not compared),
/// totals and exit code.
fn same_report(a: &serde_json::Value, b: &serde_json::Value) {
    for key in ["/totals/records", "/totals/damaged", "/exit_code"] {
        assert_eq!(a.pointer(key), b.pointer(key), "{key}");
    }
    let summary = |v: &serde_json::Value| -> Vec<String> {
        v.pointer("/findings")
            .and_then(|f| f.as_array())
            .map(|fs| {
                fs.iter()
                    .map(|f| {
                        ["/id", "/severity", "/count", "/first", "/last"]
                            .map(|k| f.pointer(k).map(|x| x.to_string()).unwrap_or_default())
                            .join(" ")
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(!summary(a).is_empty() || a.pointer("/totals/records").is_some());
    assert_eq!(summary(a), summary(b));
}

#[test]
fn a_json_export_reads_the_same_from_a_file_a_pipe_and_stdin() {
    let file = fixture("json/server-schannel.json");
    let (code, from_file, _) = logs(&[file.to_str().expect("utf-8")], None);
    assert_eq!(code, 2, "{from_file}");
    assert_eq!(from_file.pointer("/totals/records"), Some(&9.into()));

    let (code, piped) = logs_process_substitution(&file);
    assert_eq!(code, 2, "{piped}");
    same_report(&from_file, &piped);

    let bytes = std::fs::read(&file).expect("fixture");
    let (code, stdin, _) = logs(&["-"], Some(&bytes));
    assert_eq!(code, 2, "{stdin}");
    same_report(&from_file, &stdin);
}

#[test]
fn an_evtx_file_reads_the_same_from_stdin() {
    let file = fixture("evtx/EVTX-to-MITRE-Attack/ID4688,4778,4779 RDP hijack direct.evtx");
    let (code, from_file, _) = logs(&[file.to_str().expect("utf-8")], None);
    let bytes = std::fs::read(&file).expect("fixture");
    let (code2, stdin, _) = logs(&["-"], Some(&bytes));
    assert_eq!(code, code2);
    assert!(from_file.pointer("/totals/records").is_some_and(|r| r != 0));
    same_report(&from_file, &stdin);
}

#[test]
fn reading_no_event_is_could_not_run_not_healthy() {
    let dir = std::env::temp_dir().join(format!("rdp-doctor-logs-none-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let deep = format!("[{}{}]", "[".repeat(300), "]".repeat(300));
    let cases: [(&str, String); 4] = [
        ("no records", "[]".into()),
        ("every record damaged", "[1, \"x\", null, [2]]".into()),
        ("nested past the parser's limit", deep),
        ("a lone non-event object", "{\"a\": 1}".into()),
    ];
    for (what, text) in cases {
        let p = dir.join("in.json");
        std::fs::write(&p, &text).expect("write");
        let (code, json, stderr) = logs(&[p.to_str().expect("utf-8")], None);
        assert_eq!(code, 3, "{what}: {json} {stderr}");
        assert_eq!(json.pointer("/exit_code"), Some(&3.into()), "{what}");
        assert!(
            stderr.contains("no event could be read"),
            "{what}: {stderr}"
        );
        // the same from standard input
        let (code, _, _) = logs(&["-"], Some(text.as_bytes()));
        assert_eq!(code, 3, "{what} from stdin");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// One failed logon (4625) as Windows PowerShell 5.1's `Get-WinEvent | ConvertTo-Json` writes
/// it: positional `Properties`, `/Date(...)/` time, the rendered `Message`.
fn event_4625(i: u64) -> String {
    format!(
        r#"{{"Id":4625,"Version":0,"ProviderName":"Microsoft-Windows-Security-Auditing","LogName":"Security","MachineName":"fs02.offsec.lan","RecordId":{i},"TimeCreated":"\/Date({})\/","LevelDisplayName":"Information","Properties":[{{"Value":{{"BinaryLength":12,"AccountDomainSid":null,"Value":"S-1-0-0"}}}},{{"Value":"-"}},{{"Value":"-"}},{{"Value":0}},{{"Value":{{"BinaryLength":12,"AccountDomainSid":null,"Value":"S-1-0-0"}}}},{{"Value":"user{}"}},{{"Value":"OFFSEC"}},{{"Value":-1073741718}},{{"Value":"%%2313"}},{{"Value":-1073741718}},{{"Value":3}},{{"Value":"NtLmSsp "}},{{"Value":"NTLM"}},{{"Value":"WS{}"}},{{"Value":"-"}},{{"Value":"-"}},{{"Value":0}},{{"Value":0}},{{"Value":"-"}},{{"Value":"10.23.23.{}"}},{{"Value":"0"}}],"Message":"An account failed to log on.\r\n\r\nSubject:\r\n\tSecurity ID:\t\tS-1-0-0\r\n\tAccount Name:\t\t-\r\n\r\nLogon Type:\t\t\t3\r\n\r\nAccount For Which Logon Failed:\r\n\tAccount Name:\t\tuser{}\r\n\tAccount Domain:\t\tOFFSEC\r\n\r\nFailure Information:\r\n\tFailure Reason:\t\tUnknown user name or bad password.\r\n\tStatus:\t\t\t0xC000006D\r\n\tSub Status:\t\t0xC000006A"}}"#,
        1_594_531_625_579 + i * 1000,
        i % 50,
        i % 7,
        i % 200,
        i % 50
    )
}

/// A large generated export (about 20 MB) is read with every one of its events, as a file (an
/// array) and through a pipe (PowerShell 5.1's `{"value": [...]}` wrapper, as `-`): the reader
/// streams it event by event (issue 15, item 4; `bench/logs-memory.sh` measures the memory).
#[test]
fn a_large_export_is_read_with_all_its_events() {
    let mut events = Vec::new();
    let mut size = 0;
    let mut i = 0;
    while size < 20 * 1024 * 1024 {
        let e = event_4625(i);
        size += e.len() + 1;
        events.push(e);
        i += 1;
    }
    let n = events.len() as u64;
    let array = format!("[{}]", events.join(",\n"));
    let wrapper = format!("{{\"value\":[{}],\"Count\":{n}}}", events.join(","));
    drop(events);
    let dir = std::env::temp_dir().join(format!("rdp-doctor-large-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("large.json");
    std::fs::write(&file, array.as_bytes()).expect("write");
    let from_file = logs(&[file.to_str().expect("utf-8")], None);
    let from_pipe = logs(&["-"], Some(wrapper.as_bytes()));
    let _ = std::fs::remove_dir_all(&dir);
    for (what, (code, json, stderr)) in [("file", from_file), ("pipe", from_pipe)] {
        assert_eq!(
            json["totals"]["records"], n,
            "{what}: every event\n{stderr}"
        );
        assert_eq!(json["files"][0]["damaged"], 0, "{what}");
        assert!(
            json["files"][0]["error"].is_null(),
            "{what}: {}",
            json["files"][0]
        );
        assert_eq!(
            json["files"][0]["matched"], n,
            "{what}: every event reached the rules"
        );
        assert_eq!(code, 1, "{what}: failed logons are a warning\n{stderr}");
    }
}
