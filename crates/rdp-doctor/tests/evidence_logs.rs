//! `rdp-doctor logs` on the real .evtx samples (tests/fixtures/evidence/evtx, see SOURCES.md)
//! and on the project's JSON fixtures for events no public sample has. Counts, time ranges and
//! values below were read from the samples with this reader and cross-checked against the
//! samples' own descriptions (tests/fixtures/evidence/SOURCES.md) and a prototype reader.

fn run_logs(files: &[std::path::PathBuf], opts: LogsOptions, out: &mut Vec<u8>, color: bool) -> u8 {
    let (exit, written) = rdp_doctor::commands::logs(files, opts, out, color);
    assert!(written.is_ok());
    exit.code()
}

use rdp_doctor::evidence::{self, collect, rules::EvidenceFindings, LogsOptions};
use rdp_doctor::model::Severity;
use std::path::{Path, PathBuf};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/evidence")
        .join(rel)
}

fn at<'a>(v: &'a serde_json::Value, path: &str) -> &'a serde_json::Value {
    static NULL: serde_json::Value = serde_json::Value::Null;
    v.pointer(path).unwrap_or(&NULL)
}

const MITRE: &str = "evtx/EVTX-to-MITRE-Attack";
const OMER: &str = "evtx/omerbenamram-evtx";

fn read(rels: &[&str]) -> EvidenceFindings {
    let files: Vec<PathBuf> = rels.iter().map(|r| fixture(r)).collect();
    collect(&files, &LogsOptions::default())
}

fn evidence_text(ev: &EvidenceFindings, id: &str) -> String {
    ev.get(id)
        .map(|f| f.finding().evidence.join("\n"))
        .unwrap_or_default()
}

#[test]
fn sample_4625_logon_type_10_account_restriction() {
    let ev = read(&[&format!(
        "{MITRE}/ID4625-failed login with denied access due to account restriction.evtx"
    )]);
    assert_eq!(ev.findings.len(), 1, "{:#?}", ev.findings);
    let f = ev.get("account-restricted").expect("finding");
    assert_eq!(f.count, 2);
    assert_eq!(f.finding().severity, Severity::Error);
    assert_eq!(f.first.as_deref(), Some("2021-10-23T21:50:11.6665197Z"));
    assert_eq!(f.last.as_deref(), Some("2021-10-23T21:51:57.2125134Z"));
    assert_eq!(f.hosts, vec!["FS03.offsec.lan"]);
    let text = evidence_text(&ev, "account-restricted");
    assert!(text.contains("logon type 10 (RemoteInteractive)"), "{text}");
    assert!(
        text.contains("0xC000006E (STATUS_ACCOUNT_RESTRICTION"),
        "{text}"
    );
    assert!(text.contains("from 10.23.23.9"), "{text}");
    assert_eq!(
        f.example.data.get("Status").map(String::as_str),
        Some("0xc000006e")
    );
    assert_eq!(ev.exit_code().code(), 2);
}

#[test]
fn sample_4825_no_remote_desktop_right_with_the_user_in_the_fix() {
    let ev = read(&[&format!(
        "{MITRE}/ID4825-Denied RDP connection with valid credentials.evtx"
    )]);
    let f = ev.get("no-remote-desktop-right").expect("finding");
    assert_eq!(f.count, 2);
    assert_eq!(f.first.as_deref(), Some("2020-07-12T05:27:05.5797045Z"));
    assert_eq!(f.hosts, vec!["fs02.offsec.lan"]);
    assert!(
        f.finding()
            .fix
            .iter()
            .any(|s| s.contains("-Member 'OFFSEC\\\\svc6test1'")
                || s.contains("-Member 'OFFSEC\\svc6test1'")),
        "{:?}",
        f.finding().fix
    );
    assert!(f.finding().fix.iter().all(|s| !s.contains("<AccountName>")));
}

#[test]
fn sample_rdpcorets_140_bad_credentials_with_client_ip_and_damaged_records() {
    let ev = read(&[&format!(
        "{OMER}/2-vss_0-Microsoft-Windows-RemoteDesktopServices-RdpCoreTS%4Operational.evtx"
    )]);
    let file = ev.files.first().expect("one file");
    assert_eq!(file.format, "evtx");
    assert_eq!(file.records, 1910);
    assert_eq!(file.damaged, 4, "{:?}", file.damage_examples);
    assert!(file.error.is_none());
    let f = ev.get("logon-failure").expect("140 finding");
    assert_eq!(f.count, 126);
    assert_eq!(f.finding().severity, Severity::Warning);
    assert!(ev.files.iter().all(|f| f.damage_examples.len() <= 5));
    // The record the windows-evidence prototype printed: #5281377, IPString=43.228.99.228.
    let all = evidence_text(&ev, "logon-failure");
    assert!(
        f.lines.iter().any(|l| l.text.contains("43.228.99.228"))
            || f.distinct_lines > f.lines.len(),
        "{all}"
    );
    let accepted = ev.get("rdp-connections-accepted").expect("131 finding");
    assert_eq!(accepted.count, 126);
    let state = ev.get("rdp-state-transition-error").expect("226 finding");
    assert_eq!(state.count, 118);
    assert!(state.lines.iter().any(|l| l
        .text
        .contains("0x80070040 (HRESULT_FROM_WIN32(ERROR_NETNAME_DELETED)")));
}

#[test]
fn the_ip_of_record_5281377_is_reported() {
    // The record the windows-evidence prototype printed: #5281377 2018-08-02T04:32:34.4369592Z
    // RdpCoreTS 140 IPString=43.228.99.228. With --since just before it, it is the first event
    // of the finding and its line is there.
    let now = time::OffsetDateTime::now_utc();
    let since = evidence::parse_since("2018-08-02T04:32:34Z", now).expect("time");
    let files = vec![fixture(&format!(
        "{OMER}/2-vss_0-Microsoft-Windows-RemoteDesktopServices-RdpCoreTS%4Operational.evtx"
    ))];
    let ev = collect(
        &files,
        &LogsOptions {
            since: Some(since),
            host: Some("desktop-1n4r894".into()),
            ..LogsOptions::default()
        },
    );
    let f = ev.get("logon-failure").expect("finding");
    assert_eq!(f.first.as_deref(), Some("2018-08-02T04:32:34.4369592Z"));
    assert!(ev.totals.filtered_out > 0);
    let mut seen = None;
    for path in &files {
        evidence::read_file(path, 1, &mut |e| {
            if e.event_id == 140 && e.record_id == 5_281_377 {
                seen = e.field("IPString").map(str::to_string);
            }
        });
    }
    assert_eq!(seen.as_deref(), Some("43.228.99.228"));
    let all = collect(&files, &LogsOptions::default());
    let f = all.get("logon-failure").expect("finding");
    assert_eq!(f.distinct_lines, 62);
    assert!(
        f.finding()
            .evidence
            .iter()
            .any(|e| e.contains("... and 54 more distinct")),
        "{:?}",
        f.finding().evidence
    );
}

#[test]
fn sample_1056_self_signed_certificate_thumbprint() {
    let ev = read(&[&format!("{OMER}/2-vss_7-System.evtx")]);
    let f = ev.get("rdp-self-signed-cert-created").expect("finding");
    assert_eq!(f.count, 1);
    assert_eq!(f.first.as_deref(), Some("2018-07-06T18:45:47.0178202Z"));
    assert_eq!(
        f.example.data.get("Binary").map(String::as_str),
        Some("59EFF2E3B509C83137E81085E02A1AC63A7E61AA")
    );
    assert_eq!(
        f.example.data.get("Data").map(String::as_str),
        Some("DESKTOP-1N4R894")
    );
    assert_eq!(f.example.record_id, 201);
    assert_eq!(f.finding().severity, Severity::Info);
    assert!(f
        .finding()
        .explanation
        .contains("59EFF2E3B509C83137E81085E02A1AC63A7E61AA"));
    // Only info: nothing to warn about.
    assert_eq!(ev.exit_code().code(), 0);
}

#[test]
fn sample_131_brute_force_and_1149_logins() {
    let ev = read(&[
        &format!("{MITRE}/ID131-RDP brutforce (no user info).evtx"),
        &format!("{MITRE}/ID1149-RDP success logins to multiple hosts.evtx"),
    ]);
    let f = ev.get("rdp-connections-accepted").expect("131");
    assert_eq!(f.count, 154);
    assert_eq!(
        f.lines.first().map(|l| (l.count, l.text.as_str())),
        Some((
            154,
            "RdpCoreTS 131: TCP connection accepted from 10.23.123.11"
        ))
    );
    let f = ev.get("rdp-auth-succeeded").expect("1149");
    assert_eq!(f.count, 11);
    assert!(f
        .lines
        .iter()
        .all(|l| l.text.contains("admmig authenticated from 10.23.123.11")));
    assert!(f.hosts.len() > 1, "logins to multiple hosts: {:?}", f.hosts);
}

#[test]
fn sample_4625_bad_password_and_unrelated_events() {
    let ev = read(&[
        &format!("{OMER}/Security_short_selected.evtx"),
        &format!("{MITRE}/ID4688,4778,4779 RDP hijack direct.evtx"),
    ]);
    let f = ev.get("logon-failure").expect("4625");
    assert_eq!(f.count, 1);
    let text = evidence_text(&ev, "logon-failure");
    assert!(
        text.contains("TEMPORAL\\Administrator from 23.94.153.202"),
        "{text}"
    );
    assert!(text.contains("0xC000006A (STATUS_WRONG_PASSWORD"), "{text}");
    assert_eq!(ev.findings.len(), 1);
    let hijack = ev.files.get(1).expect("second file");
    assert_eq!((hijack.records, hijack.matched), (14, 0));
    assert_eq!(ev.exit_code().code(), 1);
}

#[test]
fn all_samples_together_totals() {
    let ev = read(&[
        &format!("{MITRE}/ID1149-RDP success logins to multiple hosts.evtx"),
        &format!("{MITRE}/ID131-RDP brutforce (no user info).evtx"),
        &format!("{MITRE}/ID4625-failed login with denied access due to account restriction.evtx"),
        &format!("{MITRE}/ID4688,4778,4779 RDP hijack direct.evtx"),
        &format!("{MITRE}/ID4825-Denied RDP connection with valid credentials.evtx"),
        &format!("{OMER}/2-vss_0-Microsoft-Windows-RemoteDesktopServices-RdpCoreTS%4Operational.evtx"),
        &format!("{OMER}/2-vss_0-Microsoft-Windows-TerminalServices-RemoteConnectionManager%4Operational.evtx"),
        &format!("{OMER}/2-vss_7-System.evtx"),
        &format!("{OMER}/Security_short_selected.evtx"),
    ]);
    assert_eq!(ev.totals.files, 9);
    assert_eq!(ev.totals.damaged, 6);
    assert_eq!(
        ev.get("rdp-listener-connections").map(|f| f.count),
        Some(1790)
    );
    assert_eq!(ev.get("rdp-auth-succeeded").map(|f| f.count), Some(16));
    // Through the pipeline, as `logs` prints them: errors first.
    let facts = rdp_doctor::facts::Facts {
        logs: Some(rdp_doctor::facts::logs::LogFacts {
            evidence: ev.clone(),
            host_verified: false,
            target_names: Vec::new(),
        }),
        ..Default::default()
    };
    let found =
        rdp_doctor::diagnose::diagnose(&facts, &rdp_doctor::diagnose::Context::without_target());
    assert_eq!(found.len(), ev.findings.len());
    let sev: Vec<Severity> = found.iter().map(|f| f.severity).collect();
    let mut sorted = sev.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(sev, sorted);
    // One thread or many: the same findings.
    let files: Vec<PathBuf> = ev.files.iter().map(|f| PathBuf::from(&f.path)).collect();
    let one = collect(
        &files,
        &LogsOptions {
            threads: 1,
            ..LogsOptions::default()
        },
    );
    let four = collect(
        &files,
        &LogsOptions {
            threads: 4,
            ..LogsOptions::default()
        },
    );
    assert_eq!(one.findings, four.findings);
}

#[test]
fn evtx_records_stream_in_file_order_whatever_the_thread_count() {
    // The evtx crate parses chunks on worker threads and re-orders them; the sink must see the
    // same sequence with 1 or 4 threads. (EventRecordID is the one Event Viewer shows: in this
    // merged multi-host sample it is not monotonic, so compare sequences, not sortedness.)
    let path = fixture(&format!(
        "{OMER}/2-vss_0-Microsoft-Windows-RemoteDesktopServices-RdpCoreTS%4Operational.evtx"
    ));
    let mut one = Vec::new();
    let s1 = evidence::read_file(&path, 1, &mut |e| one.push((e.record_id, e.time)));
    let mut four = Vec::new();
    let s4 = evidence::read_file(&path, 4, &mut |e| four.push((e.record_id, e.time)));
    assert_eq!(s1.records, 1910);
    assert_eq!(s4.records, 1910);
    assert_eq!(one, four);
}

#[test]
fn json_fixtures_schannel_36870_and_friends() {
    let ev = read(&["json/server-schannel.json"]);
    let f = ev.get("server-private-key-unreadable").expect("36870");
    assert_eq!(f.count, 3);
    assert_eq!(f.first.as_deref(), Some("2024-03-04T08:15:02.1234567Z"));
    assert_eq!(f.last.as_deref(), Some("2024-03-04T09:01:13Z"));
    assert!(f
        .lines
        .iter()
        .any(|l| l.text.contains("0x8009030D (SEC_E_UNKNOWN_CREDENTIALS")));
    assert!(f.finding().explanation.contains("RDS01.corp.example"));
    assert_eq!(
        ev.get("server-tls-credential-failed").map(|f| f.count),
        Some(1)
    );
    assert_eq!(ev.get("tls-no-common-cipher").map(|f| f.count), Some(2));
    let alert = ev.get("tls-fatal-alert-received").expect("36887");
    assert!(alert
        .lines
        .iter()
        .any(|l| l.text.contains("46 (certificate_unknown)")));
    let sent = ev.get("tls-fatal-alert-sent").expect("36888");
    assert_eq!(sent.count, 2);
    assert!(sent
        .lines
        .iter()
        .any(|l| l.text.contains("70 (protocol_version")));
}

#[test]
fn json_fixtures_rcm_1057_1058_in_the_powershell_51_default_shape() {
    let ev = read(&["json/server-rcm-system-ps51.json"]);
    let create = ev.get("rdp-cert-create-failed").expect("1057");
    assert_eq!(create.count, 1);
    assert_eq!(create.first.as_deref(), Some("2024-03-04T08:00:00Z"));
    assert!(create
        .lines
        .iter()
        .any(|l| l.text.contains("Keyset does not exist")));
    let renew = ev.get("rdp-cert-renew-failed").expect("1058");
    assert_eq!(renew.count, 2);
    assert_eq!(renew.last.as_deref(), Some("2024-03-05T09:00:00Z"));
    assert_eq!(renew.finding().severity, Severity::Error);
}

#[test]
fn json_fixtures_lsm_40_reason_codes() {
    let ev = read(&["json/server-lsm.json"]);
    let bad = ev.get("rdp-session-ended-abnormally").expect("40 abnormal");
    assert_eq!(bad.count, 2);
    assert!(bad.lines.iter().any(|l| l
        .text
        .contains("0x80070040 (HRESULT_FROM_WIN32(ERROR_NETNAME_DELETED)")));
    assert!(bad
        .lines
        .iter()
        .any(|l| l.text.contains("reason 3 (exDiscReasonServerIdleTimeout: The server has disconnected the client because the client has been idle")));
    assert_eq!(ev.get("rdp-session-disconnected").map(|f| f.count), Some(2));
    assert_eq!(ev.get("rdp-session-activity").map(|f| f.count), Some(4));
}

#[test]
fn json_fixtures_security_positional_properties() {
    let ev = read(&["json/server-security-ps51.json"]);
    let bad = ev.get("logon-failure").expect("4625 LT3");
    assert_eq!(bad.count, 1);
    assert!(bad
        .lines
        .iter()
        .any(|l| l.text.contains("CORP\\bob from 10.0.0.77")
            && l.text.contains("0xC0000064 (STATUS_NO_SUCH_USER")));
    let right = ev.get("no-remote-desktop-right").expect("4625 0xC000015B");
    assert_eq!(right.count, 1);
    // Logon type 2 (console) is not RDP evidence.
    assert_eq!(ev.totals.matched, 2);
    assert_eq!(ev.totals.records, 3);
}

#[test]
fn json_fixtures_client_log_utf16_with_disconnect_reasons() {
    let ev = read(&["json/client-rdpclient-utf16.json"]);
    assert_eq!(ev.totals.records, 10);
    let dropped = ev.get("client-connection-dropped").expect("1026 2308");
    assert_eq!(dropped.hosts, vec!["rds01.corp.example"]);
    assert!(dropped.lines.iter().any(|l| l
        .text
        .contains("2308 = 0x904 (disconnectReasonAtClientWinsockFDCLOSE: Socket closed")));
    let dns = ev.get("dns-unresolved").expect("1026 260");
    assert_eq!(dns.hosts, vec!["rds-old.corp.example"]);
    assert_eq!(ev.get("client-disconnected").map(|f| f.count), Some(1));
    assert_eq!(ev.get("client-udp-failed").map(|f| f.count), Some(1));
    assert_eq!(ev.get("client-udp-activity").map(|f| f.count), Some(2));
    let attempts = ev.get("client-connection-attempts").expect("1024");
    assert_eq!(attempts.count, 4);
}

#[test]
fn host_and_since_filters() {
    let all: Vec<PathBuf> = [
        "json/server-schannel.json",
        "json/client-rdpclient-utf16.json",
        "json/server-lsm.json",
    ]
    .iter()
    .map(|r| fixture(r))
    .collect();
    let old = collect(
        &all,
        &LogsOptions {
            host: Some("rds-old".into()),
            ..LogsOptions::default()
        },
    );
    let mut ids: Vec<&str> = old.findings.iter().map(|f| f.hit.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec!["client-connection-attempts", "dns-unresolved"]);
    let rds01 = collect(
        &all,
        &LogsOptions {
            host: Some("RDS01".into()),
            ..LogsOptions::default()
        },
    );
    assert!(rds01.get("server-private-key-unreadable").is_some());
    assert!(rds01.get("client-connection-dropped").is_some());
    assert!(rds01.get("dns-unresolved").is_none());
    let now = time::OffsetDateTime::now_utc();
    let since = evidence::parse_since("2024-03-06", now).expect("date");
    let late = collect(
        &all,
        &LogsOptions {
            since: Some(since),
            ..LogsOptions::default()
        },
    );
    assert!(late.get("server-private-key-unreadable").is_none());
    assert!(late.get("rdp-session-activity").is_some());
}

#[test]
fn run_logs_exit_codes_and_json_schema() {
    let mut out = Vec::new();
    let code = run_logs(
        &[fixture("json/server-schannel.json")],
        LogsOptions {
            json: true,
            ..LogsOptions::default()
        },
        &mut out,
        false,
    );
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
    assert_eq!(*at(&v, "/schema"), "rdp-doctor/logs/v1");
    assert_eq!(*at(&v, "/exit_code"), 2);
    assert_eq!(*at(&v, "/totals/records"), 9);
    // The same finding object as check's, with count and time range.
    let f = at(&v, "/findings/0");
    assert_eq!(*at(f, "/id"), "server-private-key-unreadable");
    assert_eq!(*at(f, "/severity"), "error");
    assert_eq!(*at(f, "/count"), 3);
    assert_eq!(*at(f, "/first"), "2024-03-04T08:15:02.1234567Z");
    assert!(
        at(f, "/evidence")
            .as_array()
            .is_some_and(|e| e.iter().any(|l| l
                .as_str()
                .is_some_and(|l| l.contains("ErrorCode=0x8009030D")))),
        "{f}"
    );

    let mut out = Vec::new();
    let code = run_logs(
        &[fixture("does-not-exist.evtx")],
        LogsOptions::default(),
        &mut out,
        false,
    );
    assert_eq!(code, 3);
    // The error goes to stderr naming the file (tests/bad_input.rs runs the binary for that);
    // standard output must not pass the unread file off as a clean log.
    let text = String::from_utf8(out).expect("utf-8");
    assert!(!text.contains("No RDP-relevant events"), "{text}");

    let mut out = Vec::new();
    let code = run_logs(
        &[
            fixture(&format!("{MITRE}/ID4688,4778,4779 RDP hijack direct.evtx")),
            fixture("nope.json"),
        ],
        LogsOptions::default(),
        &mut out,
        true,
    );
    assert_eq!(code, 1, "nothing found, but one file unreadable");
    let text = String::from_utf8(out).expect("utf-8");
    assert!(text.contains("No RDP-relevant events found."));
}

#[test]
fn not_an_event_file_is_reported_per_file() {
    let ev = read(&["rdp-files/freerdp/test1.rdp"]);
    let f = ev.files.first().expect("file");
    assert!(
        f.error
            .as_deref()
            .is_some_and(|e| e.contains("neither an .evtx file")),
        "{f:?}"
    );
    assert_eq!(ev.exit_code().code(), 3);
}

// ------------------------------------------------------------------ damaged input -------------

struct TempDir(PathBuf);
impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("rdp-doctor-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn truncated_evtx_files_give_a_report_with_damage_counts() {
    let src = fixture(&format!(
        "{OMER}/2-vss_0-Microsoft-Windows-TerminalServices-RemoteConnectionManager%4Operational.evtx"
    ));
    let bytes = std::fs::read(&src).expect("sample");
    let full = evidence::read_file(&src, 1, &mut |_| {});
    assert_eq!(full.records, 1795);
    let dir = TempDir::new("truncated");
    // 4096-byte file header, then 64 KiB chunks.
    let cuts = [
        0usize,
        100,
        4096,
        4096 + 200,
        4096 + 65536 * 3 + 30_000,
        bytes.len() - 1,
    ];
    let mut files = Vec::new();
    for cut in cuts {
        let p = dir.0.join(format!("cut-{cut}.evtx"));
        std::fs::write(&p, bytes.get(..cut).expect("in range")).expect("write");
        files.push(p);
    }
    let ev = collect(&files, &LogsOptions::default());
    assert_eq!(ev.files.len(), cuts.len());
    for (cut, st) in cuts.iter().zip(&ev.files) {
        if *cut <= 100 {
            assert!(st.error.is_some(), "cut {cut}: {st:?}");
        } else {
            assert!(st.error.is_none(), "cut {cut}: {st:?}");
            assert!(st.records < full.records, "cut {cut}: {st:?}");
        }
    }
    let mid = ev.files.get(4).expect("mid-chunk cut");
    assert!(mid.records > 0 && mid.damaged >= 1, "{mid:?}");
    assert!(ev.get("rdp-listener-connections").is_some());
    assert_ne!(ev.exit_code().code(), 3);
}

#[test]
fn bit_flipped_evtx_files_never_fail_the_run() {
    let src = fixture(&format!(
        "{OMER}/2-vss_0-Microsoft-Windows-RemoteDesktopServices-RdpCoreTS%4Operational.evtx"
    ));
    let bytes = std::fs::read(&src).expect("sample");
    let dir = TempDir::new("bitflip");
    let mut files = Vec::new();
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        // xorshift64*: deterministic, so a failure reproduces.
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        seed.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    for i in 0..12 {
        let mut copy = bytes.clone();
        let flips = 1 + (i % 4) * 40;
        for _ in 0..flips {
            let pos = (next() as usize) % copy.len();
            if let Some(b) = copy.get_mut(pos) {
                *b ^= 1 << (next() % 8);
            }
        }
        // Copy 0 also loses its file header magic.
        if i == 0 {
            if let Some(b) = copy.get_mut(0) {
                *b = b'X';
            }
        }
        let p = dir.0.join(format!("flip-{i}.evtx"));
        std::fs::write(&p, &copy).expect("write");
        files.push(p);
    }
    let mut out = Vec::new();
    let code = run_logs(&files, LogsOptions::default(), &mut out, false);
    assert!((0..=3).contains(&code));
    let ev = collect(&files, &LogsOptions::default());
    let readable: Vec<_> = ev.files.iter().filter(|f| f.error.is_none()).collect();
    assert!(readable.len() >= 10, "{:#?}", ev.files);
    assert!(readable.iter().all(|f| f.records + f.damaged > 0));
    assert!(readable.iter().map(|f| f.records).sum::<u64>() > 10_000);
}

#[test]
fn truncated_and_damaged_json() {
    let dir = TempDir::new("json");
    let text = std::fs::read_to_string(fixture("json/server-schannel.json")).expect("fixture");
    let cut = text.find("\"Id\": 36871").expect("marker");
    let p = dir.0.join("cut.json");
    std::fs::write(&p, text.get(..cut).expect("in range")).expect("write");
    let ev = collect(&[p], &LogsOptions::default());
    let f = ev.files.first().expect("file");
    assert_eq!(f.records, 3);
    assert_eq!(f.damaged, 1);
    assert_eq!(
        ev.get("server-private-key-unreadable").map(|f| f.count),
        Some(3)
    );
}

#[test]
fn evtx_fuzz_oracle_on_mutated_samples() {
    let bytes = std::fs::read(fixture(&format!(
        "{MITRE}/ID4825-Denied RDP connection with valid credentials.evtx"
    )))
    .expect("sample");
    evidence::evtx::fuzz_evtx(&bytes);
    evidence::evtx::fuzz_evtx(&[]);
    evidence::evtx::fuzz_evtx(b"ElfFile\0");
    let mut seed: u64 = 42;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..40 {
        let mut m = bytes.clone();
        if i % 5 == 0 {
            m.truncate((next() as usize) % m.len());
        }
        for _ in 0..(1 + i * 3) {
            let len = m.len().max(1);
            if let Some(b) = m.get_mut((next() as usize) % len) {
                *b = next() as u8;
            }
        }
        evidence::evtx::fuzz_evtx(&m);
    }
}

#[test]
fn json_fixtures_kerberos_events_of_a_domain_controller() {
    let ev = read(&["json/dc-security-kerberos.json"]);
    // 4771 0x18 twice: the wrong password, with the Kerberos code decoded
    let bad = ev.get("logon-failure").expect("4771 0x18");
    assert_eq!(bad.count, 2);
    let texts: Vec<&str> = bad.lines.iter().map(|l| l.text.as_str()).collect();
    assert!(
        texts.iter().any(|t| t.contains("bob from ::ffff:10.0.0.77")
            && t.contains("0x18 (KDC_ERR_PREAUTH_FAILED")),
        "{texts:?}"
    );
    let revoked = ev.get("account-revoked").expect("4768 0x12");
    assert_eq!(revoked.count, 1);
    let spn = ev.get("spn-unknown").expect("4769 0x7");
    assert!(spn
        .lines
        .iter()
        .any(|l| l.text.contains("TERMSRV/rds-alias.corp.example")));
    assert_eq!(ev.get("clock-skew").expect("4771 0x25").count, 1);
    // a successful TGT request (4768 0x0) is no finding
    assert_eq!(ev.totals.records, 6);
    assert_eq!(ev.totals.matched, 5);
}

/// The RD Gateway's own log: the CAP and RAP decisions and its failed connection to the target
/// become the same findings `check --gateway` reports from the tunnel's HRESULTs.
#[test]
fn json_fixtures_rd_gateway_operational_log() {
    let ev = read(&["json/gateway-operational.json"]);
    let rap = ev.get("gateway-rap-denied").expect("301");
    assert_eq!(rap.count, 2);
    assert!(
        rap.lines
            .iter()
            .any(|l| l.text.contains("CORP\\alice") && l.text.contains("rds07")),
        "{:?}",
        rap.lines
    );
    let cap = ev.get("gateway-cap-denied").expect("201");
    assert_eq!(cap.count, 1);
    assert!(cap.lines.iter().any(|l| l.text.contains("23003")));
    let unreachable = ev.get("gateway-target-unreachable").expect("304");
    assert!(unreachable
        .lines
        .iter()
        .any(|l| l.text.contains("rds09.corp.example")));
    // 200 and 302 are the gateway working: no finding
    assert_eq!(ev.totals.records, 6);
    assert_eq!(ev.totals.matched, 4);
    let f = rap.finding();
    assert_eq!(
        f.severity,
        Severity::Warning,
        "a logged refusal is a warning"
    );
}
