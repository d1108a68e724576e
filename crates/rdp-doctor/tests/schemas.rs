//! The JSON Schemas in `schemas/` against what the tool really prints: every document comes
//! from the `rdp-doctor` binary (check against every lab fault and with each other source,
//! scan lines, logs, rdpfile, explain) and is validated with Debian's python3-jsonschema
//! (`tests/validate_schema.py`, Draft 2020-12, offline: `$ref`s resolve to the local files
//! only). A missing validator fails these tests; it never skips them. One test proves that the
//! validation can fail.
#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

use rdp_doctor::lab::{Fault, DEFAULT_PASSWORD, DEFAULT_USER};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod labproc;
use labproc::{Lab, TempDir, BIN};

/// Debian's interpreter, where apt installs python3-jsonschema (not a pyenv/venv one).
const PYTHON: &str = "/usr/bin/python3";

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn schema_dir() -> PathBuf {
    manifest().join("../../schemas")
}

fn fixture(rel: &str) -> PathBuf {
    manifest().join("tests/fixtures").join(rel)
}

/// A document and the schema (file, optionally `#/json/pointer`) it must match.
struct Case {
    name: String,
    schema: String,
    document: Value,
}

fn case(name: impl Into<String>, schema: &str, document: Value) -> Case {
    Case {
        name: name.into(),
        schema: schema.into(),
        document,
    }
}

/// What the validator said about one case: `None` when valid, else the errors.
fn validate(cases: &[Case]) -> Vec<(String, Option<Vec<String>>)> {
    let input = Value::Array(
        cases
            .iter()
            .map(|c| json!({"name": c.name, "schema": c.schema, "document": c.document}))
            .collect(),
    );
    let script = manifest().join("tests/validate_schema.py");
    let mut child = Command::new(PYTHON)
        .arg(&script)
        .arg(schema_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {PYTHON} ({e}): the schema tests need python3-jsonschema (apt-get install python3-jsonschema)")
        });
    let mut stdin = child.stdin.take().expect("stdin");
    let body = serde_json::to_vec(&input).expect("cases serialize");
    let writer = std::thread::spawn(move || {
        stdin.write_all(&body).expect("validator reads its input");
    });
    let out = child.wait_with_output().expect("validator runs");
    writer.join().expect("writer");
    assert!(
        out.status.success(),
        "the validator could not run (exit {:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "validator output is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(results.len(), cases.len(), "one verdict per case");
    results
        .iter()
        .map(|r| {
            let name = r["name"].as_str().expect("name").to_string();
            let errs = (r["valid"] != true).then(|| {
                r["errors"]
                    .as_array()
                    .expect("errors")
                    .iter()
                    .map(|e| e.as_str().unwrap_or_default().to_string())
                    .collect()
            });
            (name, errs)
        })
        .collect()
}

/// Every case must be valid; the failure lists each invalid document with its errors.
fn assert_valid(cases: &[Case]) {
    assert!(!cases.is_empty(), "nothing to validate");
    let bad: Vec<String> = validate(cases)
        .into_iter()
        .filter_map(|(name, errs)| errs.map(|e| format!("{name}:\n  {}", e.join("\n  "))))
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} documents do not match their schema:\n{}",
        bad.len(),
        cases.len(),
        bad.join("\n")
    );
}

/// Runs the binary; stdout must be one JSON document. Returns it and the exit code.
fn run_json(args: &[&str], password: Option<&str>) -> (Value, i32) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("RDP_DOCTOR_PASSWORD")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    if let Some(p) = password {
        cmd.env("RDP_DOCTOR_PASSWORD", p);
    }
    let out = cmd.output().expect("rdp-doctor runs");
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "rdp-doctor {args:?} printed no JSON document ({e}):\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (v, out.status.code().unwrap_or(-1))
}

/// `check --format json` with a short time-out and the lab's CA.
fn check(lab: &Lab, target: &str, extra: &[&str], password: Option<&str>) -> Value {
    let ca = lab.ca();
    let mut args = vec![
        "check",
        target,
        "--format",
        "json",
        "--timeout",
        "2",
        "--ca",
        ca.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    let (v, code) = run_json(&args, password);
    assert!((0..=2).contains(&code), "check {args:?}: exit {code}");
    v
}

/// The schema files themselves: Draft 2020-12 (the validator checks each against the
/// meta-schema before anything else), one `$id` per file, and the shared definitions used.
#[test]
fn the_schemas_are_draft_2020_12_and_share_one_finding() {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(schema_dir()).expect("schemas/ exists") {
        let path = entry.expect("entry").path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        assert!(name.ends_with(".schema.json"), "unexpected file {name}");
        let text = std::fs::read_to_string(&path).expect("read");
        let s: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            s["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{name}"
        );
        assert_eq!(s["$id"], name.as_str(), "{name}: $id is the file name");
        if name != "common.schema.json" {
            assert!(
                text.contains("\"common.schema.json#/$defs/"),
                "{name} uses the shared definitions"
            );
        }
        names.push(name);
    }
    names.sort();
    assert_eq!(
        names,
        [
            "check.schema.json",
            "common.schema.json",
            "explain.schema.json",
            "logs.schema.json",
            "rdpfile.schema.json",
            "scan.schema.json",
            "watch.schema.json",
        ]
    );
    // Every document with findings takes them from the one shared definition.
    for name in ["check", "logs", "rdpfile"] {
        let text = std::fs::read_to_string(schema_dir().join(format!("{name}.schema.json")))
            .expect("read");
        assert!(
            text.contains("\"$ref\": \"common.schema.json#/$defs/finding\""),
            "{name}: findings are the shared finding"
        );
    }
    // A trivially valid case runs the meta-schema check of every file.
    assert_valid(&[case(
        "a target",
        "common.schema.json#/$defs/target",
        json!({"input": "srv:3390", "host": "srv", "port": 3390, "host_kind": "dns"}),
    )]);
}

/// `check` against every lab fault, with the options that reproduce it (`--sec`, `--user`,
/// `--full`): every outcome variant the lab can produce, failing ones included.
#[test]
fn check_reports_for_every_lab_fault_match_the_schema() {
    let names: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
    let lab = Lab::start_with(&names, true);
    let lab = &lab;
    // A few at a time: the slow faults wait for a 2 s time-out, the rest take milliseconds.
    let docs: Vec<(String, Value)> = std::thread::scope(|s| {
        let handles: Vec<_> = Fault::ALL
            .chunks(Fault::ALL.len().div_ceil(6))
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|f| {
                            let exp = f.expectation();
                            let mut extra = vec!["--sec", exp.client];
                            if exp.user {
                                extra.extend(["--user", DEFAULT_USER]);
                            }
                            if exp.full {
                                extra.push("--full");
                            }
                            let password = exp.user.then_some(DEFAULT_PASSWORD);
                            let v = check(lab, &lab.target(f.name()), &extra, password);
                            (format!("check {} {}", f.name(), exp.options()), v)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("checks run"))
            .collect()
    });
    assert_eq!(docs.len(), Fault::ALL.len());
    // the set covers what the schema distinguishes: all three verdicts, --user and --full
    for verdict in ["healthy", "degraded", "failing"] {
        assert!(
            docs.iter().any(|(_, d)| d["verdict"] == verdict),
            "{verdict}"
        );
    }
    assert!(docs
        .iter()
        .any(|(_, d)| d["facts"]["activation"].is_object()));
    let cases: Vec<Case> = docs
        .into_iter()
        .map(|(name, d)| case(name, "check.schema.json", d))
        .collect();
    assert_valid(&cases);
}

/// `check` with the other sources and options: the credentialed check that succeeds (with
/// and without `--full`), a wrong password, the credential gate refusing a self-signed
/// server, `--samples`, `--rdp-file`, `--evidence`, a closed port, an IPv6 literal, a name
/// that does not resolve, and the probes turned off.
#[test]
fn check_reports_with_every_source_match_the_schema() {
    let lab = Lab::start_with(
        &[
            "healthy",
            "tls-handshake-failed",
            "cert-self-signed",
            "server-requires-tls",
        ],
        true,
    );
    let healthy = lab.target("healthy");
    let dir = TempDir::new("schemas-check");
    let mut cases = Vec::new();
    let mut add = |name: &str, v: Value| cases.push(case(name, "check.schema.json", v));

    add(
        "--user --full, right password",
        check(
            &lab,
            &healthy,
            &["--user", DEFAULT_USER, "--full"],
            Some(DEFAULT_PASSWORD),
        ),
    );
    add(
        "--user, wrong password",
        check(&lab, &healthy, &["--user", DEFAULT_USER], Some("wrong")),
    );
    add(
        "--user --sec nla",
        check(
            &lab,
            &healthy,
            &["--user", DEFAULT_USER, "--sec", "nla"],
            Some(DEFAULT_PASSWORD),
        ),
    );
    add(
        "--user against a self-signed certificate (credentials not sent)",
        check(
            &lab,
            &lab.target("cert-self-signed"),
            &["--user", DEFAULT_USER],
            Some(DEFAULT_PASSWORD),
        ),
    );
    add(
        "--user --full without NLA",
        check(
            &lab,
            &lab.target("server-requires-tls"),
            &["--user", DEFAULT_USER, "--full"],
            Some(DEFAULT_PASSWORD),
        ),
    );
    add(
        "--samples 3 --cookie",
        check(
            &lab,
            &healthy,
            &["--samples", "3", "--cookie", "alice"],
            None,
        ),
    );
    add(
        "--no-udp --no-enumerate --no-mss-retry",
        check(
            &lab,
            &healthy,
            &["--no-udp", "--no-enumerate", "--no-mss-retry"],
            None,
        ),
    );

    // .rdp file with CredSSP off against a server that requires NLA (as check_sources.rs)
    let rdp = dir.path("client.rdp");
    let text = format!("full address:s:{healthy}\r\nenablecredsspsupport:i:0\r\n");
    let mut bytes = vec![0xFF, 0xFE];
    for u in text.encode_utf16() {
        bytes.extend(u.to_le_bytes());
    }
    std::fs::write(&rdp, bytes).expect("write .rdp");
    let ca = lab.ca();
    let (v, _) = run_json(
        &[
            "check",
            "--format",
            "json",
            "--timeout",
            "2",
            "--rdp-file",
            rdp.to_str().unwrap(),
            "--ca",
            ca.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(v["facts"]["client"]["name"], "rdp-file");
    add("--rdp-file", v);

    // the server's event log joined with the probe (as check_sources.rs)
    let schannel = fixture("evidence/json/server-schannel.json");
    let v = check(
        &lab,
        &lab.target("tls-handshake-failed"),
        &["--evidence", schannel.to_str().unwrap()],
        None,
    );
    assert_eq!(v["findings"][0]["id"], "server-private-key-unreadable");
    add("--evidence", v);
    let all_logs: Vec<String> = [
        "server-lsm.json",
        "server-rcm-system-ps51.json",
        "server-security-ps51.json",
    ]
    .iter()
    .map(|f| {
        fixture(&format!("evidence/json/{f}"))
            .to_string_lossy()
            .into_owned()
    })
    .collect();
    // one file per --evidence flag
    let extra: Vec<&str> = all_logs
        .iter()
        .flat_map(|f| ["--evidence", f.as_str()])
        .collect();
    add(
        "--evidence, logs about another server",
        check(&lab, &healthy, &extra, None),
    );

    // no server at all
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    add(
        "closed port",
        check(&lab, &format!("127.0.0.1:{closed}"), &[], None),
    );
    add(
        "IPv6 literal",
        check(&lab, &format!("[::1]:{closed}"), &[], None),
    );
    add(
        "a name that does not resolve",
        check(&lab, "no-such-host.invalid", &[], None),
    );
    assert_valid(&cases);
}

/// Every line of `scan --format jsonl`: check documents at standard and quick depth, and the
/// scan-error document of a target that misses its deadline. The summary stays on stderr.
#[test]
fn scan_lines_match_the_schema() {
    let faults = [
        "healthy",
        "cert-expired",
        "standard-rdp-security-only",
        "tls-handshake-failed",
        "not-rdp",
        "x224-no-response",
    ];
    let lab = Lab::start_with(&faults, true);
    let ca = lab.ca();
    let ca = ca.to_str().expect("utf-8");
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let mut cases = Vec::new();
    let runs: [(&str, &[&str]); 3] = [
        ("standard", &["--timeout", "1"]),
        ("quick", &["--quick"]),
        ("deadline", &["--deadline", "0.5"]),
    ];
    for (label, extra) in runs {
        let mut args: Vec<String> = ["scan", "--format", "jsonl", "--no-progress", "--ca", ca]
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect();
        for f in &faults {
            args.push(lab.target(f));
        }
        args.push(format!("127.0.0.1:{closed}"));
        let out = Command::new(BIN)
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .expect("scan runs");
        let stdout = String::from_utf8(out.stdout).expect("utf-8");
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(
            lines.len(),
            faults.len() + 1,
            "{label}: one line per target"
        );
        let mut errors = 0;
        for (i, line) in lines.iter().enumerate() {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{label} line {i} is not one JSON document: {e}"));
            if v["schema"] == "rdp-doctor/scan-error/v1" {
                errors += 1;
            }
            cases.push(case(
                format!("scan {label} line {i}"),
                "scan.schema.json",
                v,
            ));
        }
        if label == "deadline" {
            assert!(errors >= 1, "the stuck target gets a scan-error line");
        }
    }
    assert_valid(&cases);
}

/// `watch --format jsonl`: samples that complete, time out (x224-no-response), fail (a closed
/// port) and see an expired certificate; the changes they make; full checks.
#[test]
fn watch_lines_match_the_schema() {
    let faults = ["healthy", "cert-expired", "x224-no-response"];
    let lab = Lab::start_with(&faults, true);
    let ca = lab.ca();
    let ca = ca.to_str().expect("utf-8");
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let mut targets: Vec<String> = faults.iter().map(|f| lab.target(f)).collect();
    targets.push(format!("127.0.0.1:{closed}"));
    let mut cases = Vec::new();
    let mut types = std::collections::BTreeSet::new();
    let mut outcomes = std::collections::BTreeSet::new();
    for t in &targets {
        let out = Command::new(BIN)
            .args([
                "watch",
                "--format",
                "jsonl",
                "--cycles",
                "3",
                "--interval",
                "0.2",
            ])
            .args(["--full-every", "0", "--timeout", "1", "--ca", ca, t])
            .stdin(Stdio::null())
            .output()
            .expect("watch runs");
        let stdout = String::from_utf8(out.stdout).expect("utf-8");
        for (i, line) in stdout.lines().enumerate() {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{t} line {i} is not one JSON document: {e}"));
            types.insert(v["type"].as_str().unwrap_or("").to_string());
            for p in ["tcp", "x224", "tls"] {
                if let Some(o) = v[p]["outcome"].as_str() {
                    outcomes.insert(o.to_string());
                }
            }
            cases.push(case(format!("watch {t} line {i}"), "watch.schema.json", v));
        }
    }
    assert_eq!(
        types.into_iter().collect::<Vec<_>>(),
        ["change", "full", "sample"]
    );
    assert_eq!(
        outcomes.into_iter().collect::<Vec<_>>(),
        ["failed", "lost", "ok", "skipped"]
    );
    assert_valid(&cases);
}

fn evtx(name: &str) -> PathBuf {
    let dir = if name.starts_with("ID") {
        "EVTX-to-MITRE-Attack"
    } else {
        "omerbenamram-evtx"
    };
    fixture(&format!("evidence/evtx/{dir}/{name}"))
}

/// Every event-log sample the evidence tests read, one by one and all together, plus an
/// unreadable file: `logs --format json` with findings.
#[test]
fn logs_documents_match_the_schema() {
    let mut files: Vec<PathBuf> = [
        "ID1149-RDP success logins to multiple hosts.evtx",
        "ID131-RDP brutforce (no user info).evtx",
        "ID4625-failed login with denied access due to account restriction.evtx",
        "ID4688,4778,4779 RDP hijack direct.evtx",
        "ID4825-Denied RDP connection with valid credentials.evtx",
        "2-vss_0-Microsoft-Windows-RemoteDesktopServices-RdpCoreTS%4Operational.evtx",
        "2-vss_0-Microsoft-Windows-TerminalServices-RemoteConnectionManager%4Operational.evtx",
        "2-vss_7-System.evtx",
        "Security_short_selected.evtx",
    ]
    .iter()
    .map(|n| evtx(n))
    .collect();
    for j in [
        "client-rdpclient-utf16.json",
        "server-lsm.json",
        "server-rcm-system-ps51.json",
        "server-schannel.json",
        "server-security-ps51.json",
    ] {
        files.push(fixture(&format!("evidence/json/{j}")));
    }
    let mut cases = Vec::new();
    let mut with_findings = 0;
    for f in &files {
        let (v, _) = run_json(&["logs", "--format", "json", f.to_str().unwrap()], None);
        if v["findings"].as_array().is_some_and(|a| !a.is_empty()) {
            with_findings += 1;
        }
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        cases.push(case(format!("logs {name}"), "logs.schema.json", v));
    }
    assert!(with_findings >= 10, "the samples produce findings");
    let mut args = vec!["logs", "--format", "json"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    args.push("/nonexistent/rdp-doctor-schemas.evtx");
    let (v, _) = run_json(&args, None);
    cases.push(case(
        "logs, every sample and a missing file",
        "logs.schema.json",
        v,
    ));
    assert_valid(&cases);
}

/// The parts of the logs document that do not change with the findings' shape, today:
/// documents without findings (everything filtered out by `--since`, a file with no RDP
/// events, a file that cannot be read).
#[test]
fn logs_documents_without_findings_match_the_schema() {
    let hijack = evtx("ID4688,4778,4779 RDP hijack direct.evtx");
    let schannel = fixture("evidence/json/server-schannel.json");
    let system = evtx("2-vss_7-System.evtx");
    let runs: [(&str, Vec<&str>); 3] = [
        ("no RDP events", vec![hijack.to_str().unwrap()]),
        (
            "all filtered out by --since",
            vec![
                "--since",
                "1d",
                schannel.to_str().unwrap(),
                system.to_str().unwrap(),
            ],
        ),
        (
            "an unreadable file",
            vec!["/nonexistent/rdp-doctor-schemas.evtx"],
        ),
    ];
    let mut cases = Vec::new();
    for (name, extra) in runs {
        let mut args = vec!["logs", "--format", "json"];
        args.extend(extra);
        let (v, _) = run_json(&args, None);
        assert_eq!(v["findings"], json!([]), "{name}");
        cases.push(case(format!("logs, {name}"), "logs.schema.json", v));
    }
    assert_valid(&cases);
}

fn utf16le_bom(text: &str) -> Vec<u8> {
    let mut v = vec![0xFF, 0xFE];
    for u in text.encode_utf16() {
        v.extend_from_slice(&u.to_le_bytes());
    }
    v
}

/// `rdpfile --format json` on FreeRDP's sample files and on the files tests/rdpfile.rs builds
/// (mstsc's UTF-16LE with risky settings, saved secrets, a gateway, no address at all).
#[test]
fn rdpfile_documents_match_the_schema() {
    let dir = TempDir::new("schemas-rdpfile");
    let mut files: Vec<PathBuf> = ["test1.rdp", "test2.rdp", "test3.rdp"]
        .iter()
        .map(|n| fixture(&format!("evidence/rdp-files/freerdp/{n}")))
        .collect();
    let written = [
        (
            "risky.rdp",
            [
                "screen mode id:i:2",
                "Full Address:s:rds01.corp.example:3390",
                "server port:i:3389",
                "EnableCredSspSupport:i:0",
                "authentication level:i:1",
                "password 51:b:01000000D08C9DDF0115D1118C7A00C04FC297EB0100000041414141DEADBEEF",
                "username:s:CORP\\alice",
                "domain:s:OTHER",
                "x-custom-setting:s:kept",
                "this line is broken",
                "negotiate security layer:i:maybe",
                "password:s:hunter2-plain",
                "gatewayaccesstoken:s:eyJtoken",
                "",
            ]
            .join("\r\n"),
        ),
        (
            "gateway.rdp",
            [
                "full address:s:[2001:db8::5]:3391",
                "gatewayhostname:s:gw.corp.example",
                "gatewayusagemethod:i:1",
                "enablerdsaadauth:i:1",
                "alternate full address:s:other.corp.example",
                "",
            ]
            .join("\r\n"),
        ),
        ("empty.rdp", "screen mode id:i:1\r\n".to_string()),
    ];
    for (name, text) in &written {
        let p = dir.path(name);
        std::fs::write(&p, utf16le_bom(text)).expect("write");
        files.push(p);
    }
    let mut cases = Vec::new();
    for f in &files {
        let (v, code) = run_json(&["rdpfile", "--format", "json", f.to_str().unwrap()], None);
        assert!((0..=2).contains(&code), "{f:?}: exit {code}");
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        cases.push(case(format!("rdpfile {name}"), "rdpfile.schema.json", v));
    }
    assert!(cases.iter().any(|c| c.document["target"].is_null()));
    assert!(cases.iter().any(|c| c.document["exit_code"] == 1));
    assert_valid(&cases);
}

/// `explain --format json` on codes of every kind: decoded, read together, by name, with a
/// prefix, a compound `a/b`, prose around them, an unknown number, a typo, not a code.
#[test]
fn explain_documents_match_the_schema() {
    let queries: &[&[&str]] = &[
        &["0x904", "0x7"],
        &["Error code: 0x904, Extended error code: 0x7"],
        &["ERRINFO_SERVER_DENIED_CONNECTION"],
        &["server_denied_connection", "handshake_failure"],
        &["schannel:36870", "rcm:1058"],
        &["4625/0xC000006E"],
        &["C000006D", "-1073741715", "904h"],
        &["0x8009030D", "neg:5", "alert:40", "exit:147", "logon:10"],
        &["errconnect:0x2000D", "0x0001000D"],
        &[
            "KDC_ERR_PREAUTH_FAILED",
            "-1765328360",
            "4771/0x18",
            "kdc:0x7",
        ],
        &["0xDEADBEEF"],
        &["ERRINFO_SERVER_DENIED_CONECTION"],
        &["zz:12"],
        &["hello", "world"],
    ];
    let mut cases = Vec::new();
    let mut codes = std::collections::BTreeSet::new();
    for q in queries {
        let mut args = vec!["explain", "--format", "json"];
        args.extend_from_slice(q);
        let (v, code) = run_json(&args, None);
        codes.insert(code);
        cases.push(case(
            format!("explain {}", q.join(" ")),
            "explain.schema.json",
            v,
        ));
    }
    assert_eq!(
        codes.into_iter().collect::<Vec<_>>(),
        [0, 1, 3],
        "decoded, unknown and not-a-code queries are all covered"
    );
    assert_valid(&cases);
}

/// `facts.local` (`check --local`, Windows only) from the collector's recorded outputs,
/// parsed as the tool parses them: the part of a check report no Linux run prints.
#[test]
fn local_facts_from_the_collector_fixtures_match_the_schema() {
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(fixture("local")).expect("fixtures/local") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let facts = rdp_doctor::local::parse::parse(&text)
            .unwrap_or_else(|e| panic!("{path:?} does not parse: {e}"));
        let v = serde_json::to_value(&facts).expect("serializes");
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        cases.push(case(
            format!("local facts {name}"),
            "check.schema.json#/$defs/local",
            v,
        ));
    }
    assert!(cases.len() >= 5, "the collector fixtures are there");
    assert_valid(&cases);
}

/// The validation can fail: real documents, each changed in one way the schemas must catch,
/// are rejected with an error that names the change; the unchanged documents pass.
#[test]
fn validation_rejects_documents_that_drift_from_the_schema() {
    let lab = Lab::start_with(&["healthy"], true);
    // --sec tls against the NLA-requiring lab: a failing report with findings
    let report = check(&lab, &lab.target("healthy"), &["--sec", "tls"], None);
    assert!(report["findings"][0].is_object(), "a finding to mutate");
    let (rdpfile, _) = run_json(
        &[
            "rdpfile",
            "--format",
            "json",
            fixture("evidence/rdp-files/freerdp/test1.rdp")
                .to_str()
                .unwrap(),
        ],
        None,
    );
    let (explain, _) = run_json(&["explain", "--format", "json", "0x904", "0x7"], None);
    let scan_error = json!({
        "schema": "rdp-doctor/scan-error/v1",
        "tool_version": "0.1.0",
        "target": report["target"].clone(),
        "status": "deadline",
        "error": "no result within the 0.5 s deadline",
        "duration_ms": 500.2,
        "exit_code": 3,
    });
    let logs = |findings: Value| {
        json!({
            "schema": "rdp-doctor/logs/v1",
            "tool_version": "0.1.0",
            "exit_code": 2,
            "totals": {"files": 1, "files_unreadable": 0, "bytes": 10, "records": 2, "damaged": 0,
                       "matched": 2, "filtered_out": 0, "seconds": 0.1, "records_per_second": 20.0,
                       "mib_per_second": 0.1},
            "findings": findings,
            "files": [],
        })
    };
    let finding = report["findings"][0].clone();
    let mut log_finding = finding.clone();
    log_finding["count"] = json!(2);
    log_finding["first"] = json!("2020-07-12T05:27:05.5797045Z");
    log_finding["last"] = json!("2020-07-12T05:28:26.8313792Z");

    type Mutation = (&'static str, &'static str, Value, &'static str);
    let edit = |doc: &Value, f: &dyn Fn(&mut Value)| {
        let mut d = doc.clone();
        f(&mut d);
        d
    };
    let mutations: Vec<Mutation> = vec![
        (
            "a finding without id",
            "check.schema.json",
            edit(&report, &|d| {
                d["findings"][0].as_object_mut().unwrap().remove("id");
            }),
            "'id' is a required property",
        ),
        (
            "an unknown verdict",
            "check.schema.json",
            edit(&report, &|d| d["verdict"] = json!("broken")),
            "'broken' is not one of",
        ),
        (
            "a verdict that contradicts the findings",
            "check.schema.json",
            edit(&report, &|d| d["verdict"] = json!("healthy")),
            "/findings/0/severity",
        ),
        (
            "an unknown severity",
            "check.schema.json",
            edit(&report, &|d| d["findings"][0]["severity"] = json!("fatal")),
            "'fatal' is not one of",
        ),
        (
            "an unknown phase status",
            "check.schema.json",
            edit(&report, &|d| d["phases"][0]["status"] = json!("fine")),
            "'fine' is not one of",
        ),
        (
            "a field the schema does not know",
            "check.schema.json",
            edit(&report, &|d| d["extra"] = json!(1)),
            "'extra' was unexpected",
        ),
        (
            "a fact the schema does not know",
            "check.schema.json",
            edit(&report, &|d| d["facts"]["tls"]["new_field"] = json!(1)),
            "'new_field' was unexpected",
        ),
        (
            "phases out of connection order",
            "check.schema.json",
            edit(&report, &|d| {
                d["phases"].as_array_mut().unwrap().swap(0, 1);
            }),
            "'resolve' was expected",
        ),
        (
            "an unknown TCP outcome",
            "check.schema.json",
            edit(&report, &|d| {
                d["facts"]["addresses"][0]["tcp"]["outcome"] = json!("maybe")
            }),
            "'maybe' is not one of",
        ),
        (
            "a finding without id, in a scan line",
            "scan.schema.json",
            edit(&report, &|d| {
                d["findings"][0].as_object_mut().unwrap().remove("id");
            }),
            "'id' is a required property",
        ),
        (
            "an unknown scan-error status",
            "scan.schema.json",
            edit(&scan_error, &|d| d["status"] = json!("oops")),
            "'oops' is not one of",
        ),
        (
            "an rdpfile finding in another phase set",
            "rdpfile.schema.json",
            edit(&rdpfile, &|d| d["findings"][0]["phase"] = json!("gateway")),
            "'gateway' is not one of",
        ),
        (
            "an unknown explain status",
            "explain.schema.json",
            edit(&explain, &|d| d["items"][0]["status"] = json!("guessed")),
            "'guessed' is not one of",
        ),
        (
            "a logs finding in the old nested shape",
            "logs.schema.json",
            logs(json!([{"finding": finding.clone(), "count": 2}])),
            "'finding'",
        ),
        (
            "a logs finding without its count",
            "logs.schema.json",
            logs(json!([finding.clone()])),
            "'count' is a required property",
        ),
    ];
    let mut cases: Vec<Case> = mutations
        .iter()
        .map(|(name, schema, doc, _)| case(*name, schema, doc.clone()))
        .collect();
    // the controls: the same documents unchanged
    cases.push(case("control: check", "check.schema.json", report.clone()));
    cases.push(case(
        "control: scan line",
        "scan.schema.json",
        report.clone(),
    ));
    cases.push(case("control: scan-error", "scan.schema.json", scan_error));
    cases.push(case("control: rdpfile", "rdpfile.schema.json", rdpfile));
    cases.push(case("control: explain", "explain.schema.json", explain));
    cases.push(case(
        "control: logs with the flat finding",
        "logs.schema.json",
        logs(json!([log_finding])),
    ));
    let results = validate(&cases);
    for ((name, _, _, expect), (_, errs)) in mutations.iter().zip(&results) {
        let errs = errs
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: the mutated document was accepted"));
        assert!(
            errs.iter().any(|e| e.contains(expect)),
            "{name}: no error mentions {expect:?}: {errs:#?}"
        );
    }
    for (name, errs) in results.iter().skip(mutations.len()) {
        assert!(errs.is_none(), "{name} is valid: {errs:#?}");
    }
}

/// Listeners that reset or are not RDP (in-test servers on loopback): the `reset` TCP outcome
/// and the identification probes' fact (`identify`), answered, silent and recognised.
#[test]
fn check_reports_about_other_listeners_match_the_schema() {
    use std::io::Read;
    use std::net::{SocketAddr, TcpListener, TcpStream};
    fn serve(f: fn(TcpStream)) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                std::thread::spawn(move || f(s));
            }
        });
        addr
    }
    fn drain(mut s: TcpStream) {
        let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(3)));
        let mut b = [0u8; 512];
        while matches!(s.read(&mut b), Ok(n) if n > 0) {}
    }
    let servers = [
        (
            "reset on accept",
            serve(|s| {
                let _ = socket2::SockRef::from(&s).set_linger(Some(std::time::Duration::ZERO));
            }),
        ),
        (
            "VNC-style banner",
            serve(|mut s| {
                let _ = s.write_all(b"RFB 003.008\n");
                drain(s);
            }),
        ),
        (
            "HTTP to a request line, silent otherwise",
            serve(|mut s| {
                let mut b = [0u8; 512];
                let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(3)));
                if let Ok(n) = s.read(&mut b) {
                    if b[..n].starts_with(b"GET ") {
                        let _ = s.write_all(
                            b"HTTP/1.1 404 Not Found\r\nServer: test/1.0\r\nContent-Length: 0\r\n\r\n",
                        );
                    }
                }
                drain(s);
            }),
        ),
        ("silent", serve(drain)),
    ];
    let mut cases = Vec::new();
    for (name, addr) in servers {
        let (v, _) = run_json(
            &[
                "check",
                &addr.to_string(),
                "--format",
                "json",
                "--timeout",
                "1",
                "--no-udp",
            ],
            None,
        );
        cases.push(case(name, "check.schema.json", v));
    }
    assert_valid(&cases);
}
