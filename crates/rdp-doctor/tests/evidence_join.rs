//! `check HOST --evidence FILE...`: probe findings and log findings become one report.

use rdp_doctor::evidence::join::{collect_for_report, join};
use rdp_doctor::facts::{CertFact, CredsspFact, CredsspOutcome, Facts, NtlmInfo};
use rdp_doctor::kb::{catalogue, Hit};
use rdp_doctor::model::{Phase, PhaseRecord, PhaseStatus, Severity, Target, Verdict};
use rdp_doctor::report::Report;
use std::path::{Path, PathBuf};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/evidence")
        .join(rel)
}

fn report(host: &str, kind: &str) -> Report {
    Report {
        schema: "rdp-doctor/check/v1".into(),
        tool_version: "test".into(),
        target: Target {
            input: host.into(),
            host: host.into(),
            port: 3389,
            host_kind: kind.into(),
        },
        started_at: "2024-03-06T08:00:00Z".into(),
        duration_ms: 1.0,
        verdict: Verdict::Healthy,
        phases: Vec::new(),
        findings: Vec::new(),
        facts: Facts::default(),
    }
}

fn phase(p: Phase, status: PhaseStatus) -> PhaseRecord {
    PhaseRecord {
        phase: p,
        status,
        start_ms: 0.0,
        duration_ms: 1.0,
        summary: String::new(),
        details: serde_json::Value::Null,
    }
}

/// The probe's view of the 0x904/0x7 server: TLS selected, then the server reset the handshake.
fn tls_failed_report(host: &str) -> Report {
    let mut r = report(host, "dns");
    r.phases.push(phase(Phase::Tls, PhaseStatus::Failed));
    let hit = Hit::new("tls-handshake-failed")
        .evidence("the server selected TLS, then reset the connection after our ClientHello");
    r.findings.push(catalogue().materialize(&hit, &[]));
    r.verdict = Verdict::Failing;
    r
}

#[test]
fn schannel_36870_and_a_failed_tls_handshake_become_one_confident_finding() {
    let mut r = tls_failed_report("rds01.corp.example");
    let ev = collect_for_report(&[fixture("json/server-schannel.json")], &r, 0);
    let summary = join(&mut r, &ev);
    assert!(summary.host_verified);
    assert!(summary.merged.contains(&(
        "server-private-key-unreadable".to_string(),
        "tls-handshake-failed".to_string()
    )));
    let ids: Vec<&str> = r.findings.iter().map(|f| f.id.as_str()).collect();
    assert!(!ids.contains(&"tls-handshake-failed"), "{ids:?}");
    assert_eq!(
        ids.first(),
        Some(&"server-private-key-unreadable"),
        "{ids:?}"
    );
    assert_eq!(
        ids.iter()
            .filter(|i| **i == "server-private-key-unreadable")
            .count(),
        1
    );
    let f = r.findings.first().expect("merged");
    assert_eq!(f.severity, Severity::Error);
    let first = f.evidence.first().expect("evidence");
    assert!(first.starts_with("confirmed by two sources: the probe (tls-handshake-failed) and the event log (3 events from 2024-03-04T08:15:02.1234567Z to 2024-03-04T09:01:13Z)"), "{first}");
    assert!(f.evidence.iter().any(|e| e == "probe (tls-handshake-failed): the server selected TLS, then reset the connection after our ClientHello"));
    assert!(f
        .evidence
        .iter()
        .any(|e| e.starts_with("log: 3x Schannel 36870")));
    // 36871 relates to the same probe finding, which is already merged: it says so.
    let cred = r
        .findings
        .iter()
        .find(|f| f.id == "server-tls-credential-failed")
        .expect("36871");
    assert!(cred
        .evidence
        .first()
        .is_some_and(|e| e.contains("merged into server-private-key-unreadable")));
    assert_eq!(r.verdict, Verdict::Failing);
}

#[test]
fn events_of_another_host_stay_out() {
    let mut r = tls_failed_report("other.corp.example");
    let ev = collect_for_report(&[fixture("json/server-schannel.json")], &r, 0);
    assert!(ev.findings.is_empty());
    let summary = join(&mut r, &ev);
    assert!(summary.added.is_empty() && summary.merged.is_empty());
    let ids: Vec<&str> = r.findings.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, vec!["tls-handshake-failed"]);
    // Collected without a host filter, the join itself still leaves them out.
    let all = rdp_doctor::evidence::collect(
        &[fixture("json/server-schannel.json")],
        &rdp_doctor::evidence::LogsOptions::default(),
    );
    let summary = join(&mut r, &all);
    assert!(summary
        .other_hosts
        .contains(&"server-private-key-unreadable".to_string()));
    assert_eq!(r.findings.len(), 1);
}

#[test]
fn a_passed_tls_phase_means_the_logged_key_problem_is_past() {
    let mut r = report("RDS01", "dns");
    r.phases.push(phase(Phase::Tls, PhaseStatus::Ok));
    let ev = collect_for_report(&[fixture("json/server-schannel.json")], &r, 0);
    let summary = join(&mut r, &ev);
    assert!(summary
        .resolved
        .contains(&"server-private-key-unreadable".to_string()));
    let f = r
        .findings
        .iter()
        .find(|f| f.id == "server-private-key-unreadable")
        .expect("kept");
    assert_eq!(f.severity, Severity::Info);
    assert!(f
        .evidence
        .first()
        .is_some_and(|e| e.contains("looks resolved (last event 2024-03-04T09:01:13Z)")));
    // 36874/36888 are not resolved by a passing handshake with our client: still warnings.
    assert_eq!(r.verdict, Verdict::Degraded);
}

fn cert(sha1: &str) -> CertFact {
    CertFact {
        subject: "CN=DESKTOP-1N4R894".into(),
        issuer: "CN=DESKTOP-1N4R894".into(),
        serial: "01".into(),
        not_before: "2018-07-05T18:45:47Z".into(),
        not_after: "2019-01-04T18:45:47Z".into(),
        days_left: 10,
        expired: false,
        not_yet_valid: false,
        self_signed: true,
        trusted: false,
        trust_error: Some("unknown issuer".into()),
        trust_store: "system".into(),
        name_checked: "DESKTOP-1N4R894".into(),
        name_matches: true,
        common_name: Some("DESKTOP-1N4R894".into()),
        san_dns: vec![],
        san_ip: vec![],
        key_type: "RSA".into(),
        key_bits: 2048,
        signature_algorithm: "sha256WithRSAEncryption".into(),
        signature_hash: "sha256".into(),
        eku: vec![],
        eku_ok: true,
        sha1: sha1.into(),
        sha256: "00".into(),
        chain: vec![],
    }
}

#[test]
fn rcm_1056_confirms_the_self_signed_certificate_the_probe_saw() {
    let mut r = report("desktop-1n4r894", "dns");
    r.facts.certificate = Some(cert("59EFF2E3B509C83137E81085E02A1AC63A7E61AA"));
    let hit = Hit::new("cert-self-signed").evidence("self-signed: CN=DESKTOP-1N4R894");
    r.findings.push(catalogue().materialize(&hit, &[]));
    let ev = collect_for_report(
        &[fixture("evtx/omerbenamram-evtx/2-vss_7-System.evtx")],
        &r,
        0,
    );
    let summary = join(&mut r, &ev);
    assert_eq!(
        summary.merged,
        vec![(
            "cert-self-signed".to_string(),
            "rdp-self-signed-cert-created".to_string()
        )]
    );
    assert_eq!(r.findings.len(), 1);
    let f = r.findings.first().expect("finding");
    assert_eq!(f.id, "cert-self-signed");
    assert!(
        f.evidence.iter().any(|e| e.contains(
            "(SHA1 59EFF2E3B509C83137E81085E02A1AC63A7E61AA) is the one the log shows it generated"
        )),
        "{:?}",
        f.evidence
    );
}

#[test]
fn an_ip_target_uses_the_ntlm_names_or_says_it_could_not_verify() {
    // Without names: the events are taken, marked unverified.
    let mut r = tls_failed_report("10.0.0.5");
    r.target.host_kind = "ipv4".into();
    let ev = collect_for_report(&[fixture("json/server-lsm.json")], &r, 0);
    let summary = join(&mut r, &ev);
    assert!(!summary.host_verified);
    let f = r
        .findings
        .iter()
        .find(|f| f.id == "rdp-session-ended-abnormally")
        .expect("added");
    assert!(f
        .evidence
        .iter()
        .any(|e| e.contains("not verified that these events are about 10.0.0.5")));

    // With the server's NTLM names from the credssp phase: verified, and matching.
    let mut r = tls_failed_report("10.0.0.5");
    r.facts.credssp = Some(CredsspFact {
        outcome: CredsspOutcome::Challenge,
        duration_ms: 1.0,
        server_version: Some(6),
        error_code: None,
        ntlm: Some(NtlmInfo {
            dns_computer: Some("RDS01.corp.example".into()),
            netbios_computer: Some("RDS01".into()),
            ..NtlmInfo::default()
        }),
        error: None,
        server_bytes: 100,
    });
    let ev = collect_for_report(
        &[
            fixture("json/server-lsm.json"),
            fixture("json/server-schannel.json"),
        ],
        &r,
        0,
    );
    let summary = join(&mut r, &ev);
    assert!(summary.host_verified);
    assert!(r
        .findings
        .iter()
        .any(|f| f.id == "server-private-key-unreadable"));
    assert!(r
        .findings
        .iter()
        .all(|f| f.evidence.iter().all(|e| !e.contains("not verified"))));
}

#[test]
fn client_udp_failure_joins_the_probe_udp_finding() {
    let mut r = report("rds01.corp.example", "dns");
    r.findings.push(catalogue().materialize(
        &Hit::new("udp-blocked").evidence("no SYN+ACK to 3 RDP-UDP SYNs"),
        &[("port", "3389".into())],
    ));
    let ev = collect_for_report(&[fixture("json/client-rdpclient-utf16.json")], &r, 0);
    join(&mut r, &ev);
    let udp: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.id == "udp-blocked")
        .collect();
    assert_eq!(udp.len(), 1);
    let f = udp.first().expect("one");
    assert!(f
        .evidence
        .first()
        .is_some_and(|e| e.starts_with("confirmed by two sources: the probe (udp-blocked)")));
    assert!(f.evidence.iter().any(|e| e.contains("RDPClient 1104")));
    assert!(r.findings.iter().all(|f| f.id != "client-udp-failed"));
    // The dns-unresolved event is about rds-old, not this target.
    assert!(r.findings.iter().all(|f| f.id != "dns-unresolved"));
}
