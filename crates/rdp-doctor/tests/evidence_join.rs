//! `check HOST --evidence FILE...`: probe findings and log findings become one report.
//!
//! The probe's symptoms are given as hits (what the probe rules would have found), the logs are
//! read for the target as `check` reads them ([`read_logs_for`]), the join is the log rule's
//! seam ([`logs::join`]) and [`diagnose::findings`] turns the hits into the ordered findings of
//! the report.

use rdp_doctor::check::read_logs_for;
use rdp_doctor::diagnose::{self, logs, Context};
use rdp_doctor::facts::logs::LogFacts;
use rdp_doctor::facts::{
    CertFact, CredsspFact, CredsspOutcome, Facts, NtlmInfo, ResolveFact, ResolveOutcome, TlsFact,
    TlsOutcome,
};
use rdp_doctor::kb::Hit;
use rdp_doctor::model::{Finding, Severity, Target, Verdict};
use std::path::{Path, PathBuf};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/evidence")
        .join(rel)
}

fn target(host: &str, kind: &str) -> Target {
    Target {
        input: host.into(),
        host: host.into(),
        port: 3389,
        host_kind: kind.into(),
    }
}

/// Joins the log observations into the probe's hits and makes the report's findings.
fn joined(logs: &LogFacts, facts: &Facts, mut hits: Vec<Hit>, target: Target) -> Vec<Finding> {
    logs::join(logs, facts, &mut hits);
    diagnose::findings(hits, facts, &Context::new(target))
}

fn ids(findings: &[Finding]) -> Vec<&str> {
    findings.iter().map(|f| f.id.as_str()).collect()
}

fn find<'a>(findings: &'a [Finding], id: &str) -> Option<&'a Finding> {
    findings.iter().find(|f| f.id == id)
}

/// The probe's view of the 0x904/0x7 server: TLS selected, then the server reset the handshake.
fn tls_failed_facts() -> Facts {
    Facts {
        tls: Some(TlsFact::new(TlsOutcome::Reset, 1.0)),
        ..Facts::default()
    }
}

fn tls_failed_hit() -> Hit {
    Hit::new("tls-handshake-failed")
        .evidence("the server selected TLS, then reset the connection after our ClientHello")
}

#[test]
fn schannel_36870_and_a_failed_tls_handshake_become_one_confident_finding() {
    let host = "rds01.corp.example";
    let facts = tls_failed_facts();
    let ev = read_logs_for(&[fixture("json/server-schannel.json")], &facts, host);
    assert!(ev.host_verified);
    let findings = joined(&ev, &facts, vec![tls_failed_hit()], target(host, "dns"));
    let ids = ids(&findings);
    // Merged: the probe's symptom is gone, the logged cause is the first finding, once.
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
    let f = findings.first().expect("merged");
    assert_eq!(f.severity, Severity::Error);
    let first = f.evidence.first().expect("evidence");
    assert!(first.starts_with("confirmed by two sources: the probe (tls-handshake-failed) and the event log (3 events from 2024-03-04T08:15:02.1234567Z to 2024-03-04T09:01:13Z)"), "{first}");
    assert!(f.evidence.iter().any(|e| e == "probe (tls-handshake-failed): the server selected TLS, then reset the connection after our ClientHello"));
    assert!(f
        .evidence
        .iter()
        .any(|e| e.starts_with("log: 3x Schannel 36870")));
    // 36871 relates to the same probe finding, which is already merged: it says so.
    let cred = find(&findings, "server-tls-credential-failed").expect("36871");
    assert!(cred
        .evidence
        .first()
        .is_some_and(|e| e.contains("merged into server-private-key-unreadable")));
    assert_eq!(Verdict::from_findings(&findings), Verdict::Failing);
}

#[test]
fn events_of_another_host_stay_out() {
    let host = "other.corp.example";
    let facts = tls_failed_facts();
    let ev = read_logs_for(&[fixture("json/server-schannel.json")], &facts, host);
    // Read for a target known by name, the events about RDS01 are left out...
    assert!(ev.host_verified);
    assert!(ev.evidence.findings.is_empty());
    // ... so nothing is added and nothing merged: the probe's finding stands alone.
    let findings = joined(&ev, &facts, vec![tls_failed_hit()], target(host, "dns"));
    assert_eq!(ids(&findings), vec!["tls-handshake-failed"]);
    let f = findings.first().expect("probe finding");
    assert!(f
        .evidence
        .iter()
        .all(|e| !e.starts_with("confirmed by two sources")));
    // The full pipeline (facts.logs set) agrees: no finding from those events.
    let facts = Facts {
        logs: Some(ev),
        resolve: Some(ResolveFact {
            duration_ms: 1.0,
            outcome: ResolveOutcome::Ok,
            addresses: vec!["10.0.0.7".into()],
            error: None,
        }),
        ..tls_failed_facts()
    };
    let all = diagnose::diagnose(&facts, &Context::new(target(host, "dns")));
    assert!(
        all.iter().all(|f| f.id != "server-private-key-unreadable"
            && f.id != "server-tls-credential-failed"
            && f.evidence.iter().all(|e| !e.starts_with("log: "))),
        "{:?}",
        ids(&all)
    );
}

#[test]
fn a_passed_tls_phase_means_the_logged_key_problem_is_past() {
    let host = "RDS01";
    let facts = Facts {
        tls: Some(TlsFact::new(TlsOutcome::Ok, 1.0)),
        ..Facts::default()
    };
    let ev = read_logs_for(&[fixture("json/server-schannel.json")], &facts, host);
    let findings = joined(&ev, &facts, Vec::new(), target(host, "dns"));
    // Resolved: kept, downgraded to info, saying why.
    let f = find(&findings, "server-private-key-unreadable").expect("kept");
    assert_eq!(f.severity, Severity::Info);
    assert!(f
        .evidence
        .first()
        .is_some_and(|e| e.contains("looks resolved (last event 2024-03-04T09:01:13Z)")));
    // 36874/36888 are not resolved by a passing handshake with our client: still warnings.
    assert_eq!(Verdict::from_findings(&findings), Verdict::Degraded);
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
    let host = "desktop-1n4r894";
    let facts = Facts {
        certificate: Some(cert("59EFF2E3B509C83137E81085E02A1AC63A7E61AA")),
        ..Facts::default()
    };
    let hit = Hit::new("cert-self-signed").evidence("self-signed: CN=DESKTOP-1N4R894");
    let ev = read_logs_for(
        &[fixture("evtx/omerbenamram-evtx/2-vss_7-System.evtx")],
        &facts,
        host,
    );
    let findings = joined(&ev, &facts, vec![hit], target(host, "dns"));
    // Merged into the probe's finding (keep = "probe"): exactly one finding, the probe's id,
    // confirmed by the log; the log's own id is gone.
    assert_eq!(ids(&findings), vec!["cert-self-signed"]);
    let f = findings.first().expect("finding");
    assert!(
        f.evidence.first().is_some_and(|e| e.starts_with(
            "confirmed by two sources: the probe (cert-self-signed) and the event log"
        )),
        "{:?}",
        f.evidence
    );
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
    let host = "10.0.0.5";
    // Without names: the events are taken, marked unverified.
    let facts = tls_failed_facts();
    let ev = read_logs_for(&[fixture("json/server-lsm.json")], &facts, host);
    assert!(!ev.host_verified);
    let findings = joined(&ev, &facts, vec![tls_failed_hit()], target(host, "ipv4"));
    let f = find(&findings, "rdp-session-ended-abnormally").expect("added");
    assert!(f
        .evidence
        .iter()
        .any(|e| e.contains("not verified that these events are about 10.0.0.5")));

    // With the server's NTLM names from the credssp phase: verified, and matching.
    let facts = Facts {
        credssp: Some(CredsspFact {
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
        }),
        ..tls_failed_facts()
    };
    let ev = read_logs_for(
        &[
            fixture("json/server-lsm.json"),
            fixture("json/server-schannel.json"),
        ],
        &facts,
        host,
    );
    assert!(ev.host_verified);
    let findings = joined(&ev, &facts, vec![tls_failed_hit()], target(host, "ipv4"));
    assert!(find(&findings, "server-private-key-unreadable").is_some());
    assert!(findings
        .iter()
        .all(|f| f.evidence.iter().all(|e| !e.contains("not verified"))));
}

#[test]
fn client_udp_failure_joins_the_probe_udp_finding() {
    let host = "rds01.corp.example";
    let facts = Facts::default();
    let hit = Hit::new("udp-blocked")
        .evidence("no SYN+ACK to 3 RDP-UDP SYNs")
        .var("port", "3389");
    let ev = read_logs_for(&[fixture("json/client-rdpclient-utf16.json")], &facts, host);
    let findings = joined(&ev, &facts, vec![hit], target(host, "dns"));
    let udp: Vec<_> = findings.iter().filter(|f| f.id == "udp-blocked").collect();
    assert_eq!(udp.len(), 1);
    let f = udp.first().expect("one");
    assert!(f
        .evidence
        .first()
        .is_some_and(|e| e.starts_with("confirmed by two sources: the probe (udp-blocked)")));
    assert!(f.evidence.iter().any(|e| e.contains("RDPClient 1104")));
    assert!(findings.iter().all(|f| f.id != "client-udp-failed"));
    // The dns-unresolved event is about rds-old, not this target.
    assert!(findings.iter().all(|f| f.id != "dns-unresolved"));
}

#[test]
fn an_error_known_only_from_the_event_logs_does_not_land_behind_probe_warnings() {
    let host = "rds01.corp.example";
    // The probe got through TLS and saw only certificate warnings (self-signed, expiring soon),
    // both in the TLS phase, before the auth phase of the logged error.
    let mut facts = Facts {
        resolve: Some(ResolveFact {
            duration_ms: 1.0,
            outcome: ResolveOutcome::Ok,
            addresses: vec!["10.0.0.5".into()],
            error: None,
        }),
        tls: Some(TlsFact::new(TlsOutcome::Ok, 1.0)),
        certificate: Some(cert("59EFF2E3B509C83137E81085E02A1AC63A7E61AA")),
        ..Facts::default()
    };
    let ctx = Context::new(target(host, "dns"));
    let probe_only = diagnose::diagnose(&facts, &ctx);
    assert!(!probe_only.is_empty());
    assert!(
        probe_only.iter().all(|f| f.severity == Severity::Warning),
        "{:?}",
        probe_only
            .iter()
            .map(|f| (&f.id, f.severity))
            .collect::<Vec<_>>()
    );
    // The server's Security log: 4825 (no Remote Desktop right), an error no probe id joins.
    let ev = read_logs_for(&[fixture("json/server-security-ps51.json")], &facts, host);
    assert!(ev.host_verified);
    assert!(ev
        .evidence
        .findings
        .iter()
        .any(|lf| lf.hit.id == "no-remote-desktop-right"
            && lf.hit.effective_severity() == Severity::Error));
    facts.logs = Some(ev);
    let findings = diagnose::diagnose(&facts, &ctx);
    let first = findings.first().expect("findings");
    assert_eq!(first.id, "no-remote-desktop-right", "{:?}", ids(&findings));
    assert_eq!(first.severity, Severity::Error);
    // Not joined: the log's own finding, no probe evidence in it.
    assert!(first
        .evidence
        .iter()
        .all(|e| !e.starts_with("confirmed by") && !e.starts_with("probe (")));
    // The probe's warnings are all still there, after it.
    for p in &probe_only {
        assert!(find(&findings, &p.id).is_some(), "{}", p.id);
    }
    assert_eq!(Verdict::from_findings(&findings), Verdict::Failing);
}
