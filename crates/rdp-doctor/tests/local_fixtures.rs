//! `check --local`: the collector's recorded outputs (hand-written in its exact shape, see
//! tests/fixtures/local/README.md) -> facts -> findings, and the merge into a report. Runs on
//! every OS (the fixtures are compiled in), under Wine too.
#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

use rdp_doctor::diagnose::local::{rules, RuleContext};
use rdp_doctor::local::parse::parse;
use rdp_doctor::local::{LocalFacts, SettingSource};
use rdp_doctor::model::{Phase, PhaseStatus, Severity, Verdict};

/// 2026-11-20T00:00:00Z, the "now" every fixture is written against.
const NOW: i64 = 1_795_132_800;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("fixtures/local/", $name))
    };
}

fn ctx() -> RuleContext {
    RuleContext {
        now_unix: NOW,
        ..RuleContext::default()
    }
}

fn facts(text: &str) -> LocalFacts {
    parse(text).unwrap_or_else(|e| panic!("fixture does not parse: {e}"))
}

fn ids(text: &str) -> Vec<String> {
    rules(&facts(text), &ctx())
        .into_iter()
        .map(|h| h.id)
        .collect()
}

#[test]
fn healthy_server_has_no_findings() {
    let f = facts(fixture!("healthy-server2022.json"));
    assert_eq!(f.computer.as_deref(), Some("SRV-RDS01"));
    assert_eq!(f.security_layer.map(|s| s.value), Some(2));
    assert_eq!(f.user_authentication.map(|s| s.value), Some(1));
    assert_eq!(f.port, Some(3389));
    let l = f
        .listener_certificate
        .as_ref()
        .expect("listener certificate");
    assert_eq!(l.thumbprint, "5C1F3B2A9E8D7C6B5A4F3E2D1C0B9A8F7E6D5C4B");
    assert_eq!(l.source, "wmi");
    assert_eq!(l.hash_type, Some(1));
    assert_eq!(f.certificates.len(), 2);
    let rd = &f.certificates[0];
    assert_eq!(rd.store, "Remote Desktop");
    assert_eq!(rd.not_after.as_deref(), Some("2027-03-03T10:00:00Z"));
    let key = rd.private_key.as_ref().expect("key read for the listener");
    assert_eq!(key.network_service_read, Some(true));
    assert_eq!(key.acl.len(), 2);
    assert_eq!(f.firewall.as_ref().map(|fw| fw.rules.len()), Some(2));
    assert_eq!(
        f.term_service.as_ref().map(|s| s.status.as_str()),
        Some("Running")
    );
    assert!(ids(fixture!("healthy-server2022.json")).is_empty());
}

#[test]
fn key_acl_without_network_service_is_the_0x904_cause() {
    let text = fixture!("tls-0x904-key-acl.json");
    let f = facts(text);
    assert_eq!(
        f.listener_certificate.as_ref().map(|l| l.hash_type),
        Some(Some(3))
    );
    let hits = rules(&f, &ctx());
    let got: Vec<_> = hits.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(
        got,
        ["local-private-key-unreadable", "local-stale-certificates"]
    );
    let ev = hits[0].evidence.join(" | ");
    assert!(ev.contains("NETWORK SERVICE"), "{ev}");
    assert!(
        ev.contains("3b8a1c0d9e2f4a5b6c7d8e9f0a1b2c3d"),
        "names the key file: {ev}"
    );
    assert!(
        ev.contains("Administrators allow 0x1F01FF"),
        "shows the ACL: {ev}"
    );
    assert_eq!(
        hits[0].vars,
        vec![(
            "sha1".to_string(),
            "0A1B2C3D4E5F60718293A4B5C6D7E8F901234567".to_string()
        )]
    );
    assert!(hits[1].evidence[0].contains("9F8E7D6C5B4A39281706F5E4D3C2B1A098765432"));
}

#[test]
fn expired_self_signed_with_a_lost_key() {
    let hits = rules(&facts(fixture!("cert-expired-selfsigned.json")), &ctx());
    let got: Vec<_> = hits.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(got, ["local-private-key-unreadable", "cert-expired"]);
    assert!(hits[0].evidence[0].contains("Keyset does not exist"));
    assert!(hits[0].evidence[0].contains("administrator"));
    assert!(
        hits[1].evidence[0].contains("expired on 2025-11-18T09:15:00Z (367 days ago)"),
        "{:?}",
        hits[1].evidence
    );
}

#[test]
fn configured_certificate_missing_from_the_stores() {
    let f = facts(fixture!("cert-missing.json"));
    assert_eq!(
        f.listener_certificate
            .as_ref()
            .map(|l| l.thumbprint.as_str()),
        Some("D41D8CD98F00B204E9800998ECF8427E12345678")
    );
    let hits = rules(&f, &ctx());
    assert_eq!(
        hits.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(),
        ["local-certificate-missing"]
    );
    assert!(hits[0].evidence[0].contains("Win32_TSGeneralSetting"));
}

#[test]
fn disabled_by_policy_with_stopped_service_and_closed_firewall() {
    let f = facts(fixture!("rdp-disabled-by-policy.json"));
    let deny = f.deny_connections.expect("fDenyTSConnections");
    assert_eq!(
        (deny.value, deny.source),
        (1, SettingSource::Policy),
        "the policy value wins over the listener's 0"
    );
    let hits = rules(&f, &ctx());
    assert_eq!(
        hits.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(),
        [
            "local-rdp-disabled",
            "local-termservice-not-running",
            "local-firewall-blocks-rdp",
            "local-firewall-blocks-rdp-udp"
        ]
    );
    assert!(hits[1].evidence[0].contains("Stopped, start type Disabled"));
    let fw = hits[2].evidence.join(" | ");
    assert!(fw.contains("disabled"), "{fw}");
    assert!(
        fw.contains("allows local port 3389 but the listener uses port 3390"),
        "{fw}"
    );
    assert!(fw.contains("profile(s): Domain, Public"), "{fw}");
    assert_eq!(
        hits[2].severity, None,
        "disabled, not a block rule: default severity"
    );
    assert!(hits[2]
        .vars
        .contains(&("port".to_string(), "3390".to_string())));
}

#[test]
fn legacy_security_settings_map_to_the_probe_ids() {
    assert_eq!(
        ids(fixture!("insecure-legacy.json")),
        [
            "standard-rdp-security-only",
            "nla-not-offered",
            "local-credssp-oracle-vulnerable",
            "local-low-encryption-level"
        ]
    );
}

#[test]
fn not_elevated_still_finds_the_expired_certificate() {
    let f = facts(fixture!("not-elevated.json"));
    assert_eq!(f.is_admin, Some(false));
    assert!(f.listener_certificate.is_none());
    let hits = rules(&f, &ctx());
    assert_eq!(
        hits.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(),
        ["cert-expired", "local-sources-unreadable"]
    );
    assert!(hits[0].evidence[0].contains("could not be determined"));
    assert_eq!(hits[1].severity, Some(Severity::Warning));
    assert!(hits[1].evidence.iter().any(|e| e.contains("wmi_listener")));
}

#[test]
fn powershell_5_1_shapes_are_tolerated() {
    let f = facts(fixture!("ps51-quirks.json"));
    assert_eq!(f.port, Some(3389), "PortNumber as a string");
    assert_eq!(
        f.min_encryption_level.map(|s| (s.value, s.source)),
        Some((4, SettingSource::Policy))
    );
    let l = f.listener_certificate.as_ref().expect("listener");
    assert_eq!(
        l.thumbprint, "0A1B2C3D4E5F60718293A4B5C6D7E8F901234567",
        "lower case with spaces, normalised"
    );
    assert_eq!(f.certificates.len(), 1, "a bare object counts as a list");
    let c = &f.certificates[0];
    assert_eq!(
        c.subject,
        "CN=srv-fips01.corp.example, O=Contoso 'North' & Co"
    );
    assert_eq!(c.not_after_unix, Some(1_796_472_000), "/Date(ms)/");
    assert_eq!(c.eku, ["1.3.6.1.5.5.7.3.1"]);
    let key = c.private_key.as_ref().expect("key");
    assert_eq!(key.acl[0].rights, 0x8000_0000, "GENERIC_READ as Int32");
    assert!(key.acl[0].allow);
    assert_eq!(key.network_service_read, Some(true));
    let fw = f.firewall.as_ref().expect("firewall");
    assert_eq!(fw.profiles.len(), 1);
    assert_eq!(fw.profiles[0].enabled, Some(true));
    assert_eq!(
        fw.rules[0].enabled,
        Some(true),
        "NetSecurity Enabled 1 = True"
    );
    assert_eq!(
        fw.rules[1].enabled,
        Some(false),
        "NetSecurity Enabled 2 = False"
    );
    assert_eq!(fw.rules[0].local_ports, ["3389"]);
    let svc = f.term_service.as_ref().expect("service");
    assert_eq!(
        (svc.status.as_str(), svc.start_type.as_deref()),
        ("Running", Some("Manual"))
    );
    assert_eq!(
        ids(fixture!("ps51-quirks.json")),
        [
            "local-firewall-blocks-rdp-udp",
            "cert-expiring-soon",
            "local-credssp-force-updated-clients",
            "local-fips-encryption-level"
        ]
    );
}

/// Every id the local rules produce on the fixtures is in the catalogue, and new local ids
/// live in phase `local`.
#[test]
fn every_local_id_is_in_the_catalogue() {
    let cat = rdp_doctor::kb::catalogue();
    for text in [
        fixture!("healthy-server2022.json"),
        fixture!("tls-0x904-key-acl.json"),
        fixture!("cert-expired-selfsigned.json"),
        fixture!("cert-missing.json"),
        fixture!("rdp-disabled-by-policy.json"),
        fixture!("insecure-legacy.json"),
        fixture!("not-elevated.json"),
        fixture!("ps51-quirks.json"),
    ] {
        for h in rules(&facts(text), &ctx()) {
            let def = cat.get(&h.id);
            assert!(def.is_some(), "{} missing from kb", h.id);
            if h.id.starts_with("local-") {
                assert_eq!(
                    def.map(|d| d.phase),
                    Some(Phase::Local),
                    "{}: new local ids live in phase local",
                    h.id
                );
            }
        }
        rdp_doctor::local::parse::fuzz_local_json(text.as_bytes());
    }
}

/// What `check --local` does with the collector's result, through the pipeline: the local
/// rules next to the probe's hits, one ordered list of findings, the local phase record.
fn with_local(
    report: rdp_doctor::report::Report,
    local: Result<rdp_doctor::local::LocalFacts, String>,
    duration_ms: f64,
    rctx: &RuleContext,
    probe_hits: Vec<rdp_doctor::kb::Hit>,
) -> rdp_doctor::report::Report {
    let mut facts = report.facts.clone();
    match local {
        Ok(l) => facts.local = Some(l),
        Err(e) => facts.local_error = Some(e),
    }
    let mut dctx = rdp_doctor::diagnose::Context::new(report.target.clone());
    dctx.now_unix = rctx.now_unix;
    dctx.expiry_warning_days = rctx.expiry_warning_days;
    let mut hits = probe_hits;
    rdp_doctor::diagnose::local::rules_for(&facts, &dctx, &mut hits);
    let findings = rdp_doctor::diagnose::findings(hits, &facts, &dctx);
    let mut tl = rdp_doctor::probe::Timeline::default();
    tl.add(Phase::Local, 0.0, duration_ms);
    rdp_doctor::report::build(
        report.target,
        report.started_at,
        report.duration_ms.max(duration_ms),
        facts,
        &tl,
        findings,
    )
}

fn empty_report(host: &str, port: u16) -> rdp_doctor::report::Report {
    let target = rdp_doctor::target::parse_target(host, port).expect("target");
    rdp_doctor::report::build(
        target,
        "2026-11-20T00:00:00Z".into(),
        12.0,
        rdp_doctor::facts::Facts::default(),
        &rdp_doctor::probe::Timeline::default(),
        Vec::new(),
    )
}

#[test]
fn merge_adds_a_local_phase_facts_and_ordered_findings() {
    let report = empty_report("127.0.0.1", 3389);
    let probe_phases = report.phases.len();
    // A probe hit with the same id as a local one gets the local evidence appended.
    let probe = rdp_doctor::kb::Hit::new("cert-expired")
        .severity(Severity::Error)
        .evidence("probe: the presented certificate expired");
    let f = facts(fixture!("cert-expired-selfsigned.json"));
    let rctx = ctx();
    let report = with_local(report, Ok(f.clone()), 850.0, &rctx, vec![probe]);
    assert_eq!(report.phases.len(), probe_phases + 1);
    let p = report.phases.last().expect("local phase");
    assert_eq!((p.phase, p.status), (Phase::Local, PhaseStatus::Ok));
    assert!(p.summary.contains("read on WS-FIN-114"), "{}", p.summary);
    assert_eq!(report.duration_ms, 850.0);
    assert_eq!(report.facts.local.as_ref(), Some(&f));
    let got: Vec<_> = report.findings.iter().map(|x| x.id.as_str()).collect();
    assert_eq!(
        got,
        ["cert-expired", "local-private-key-unreadable"],
        "errors in phase order: tls before local; no duplicate cert-expired"
    );
    assert_eq!(report.findings[0].evidence.len(), 2);
    assert!(report.findings[0].evidence[1].starts_with("on this server:"));
    assert!(
        report.findings[1]
            .fix
            .iter()
            .any(|s| s.contains("9F8E7D6C5B4A39281706F5E4D3C2B1A098765432")),
        "{{sha1}} filled with the listener's thumbprint"
    );
    assert_eq!(report.verdict, Verdict::Failing);
    // The JSON report carries the local facts and round-trips.
    let json = serde_json::to_string(&report).expect("json");
    let back: rdp_doctor::report::Report = serde_json::from_str(&json).expect("parses back");
    assert_eq!(back, report);
}

#[test]
fn merge_of_a_failed_collection_is_a_warning_not_a_crash() {
    let report = empty_report("srv01", 3389);
    let report = with_local(
        report,
        Err("powershell.exe printed nothing".into()),
        40.0,
        &ctx(),
        Vec::new(),
    );
    let p = report.phases.last().expect("local phase");
    assert_eq!(p.status, PhaseStatus::Failed);
    assert_eq!(report.findings.len(), 1);
    assert_eq!(report.findings[0].id, "local-facts-unavailable");
    assert_eq!(report.verdict, Verdict::Degraded);
    assert!(report.facts.local.is_none());
}

#[test]
fn the_probed_port_is_compared_on_this_machine() {
    let f = facts(fixture!("rdp-disabled-by-policy.json"));
    let report = empty_report("localhost", 3389);
    let target = rdp_doctor::target::parse_target("localhost", 3389).expect("target");
    let rctx = RuleContext::from_check(&rdp_doctor::diagnose::Context::new(target), NOW);
    let report = with_local(report, Ok(f), 1.0, &rctx, Vec::new());
    let port = report
        .findings
        .iter()
        .find(|x| x.id == "local-listener-port-differs")
        .expect("port finding");
    assert!(
        port.explanation.contains("port 3390"),
        "{}",
        port.explanation
    );
    assert!(
        port.explanation.contains("port 3389"),
        "{}",
        port.explanation
    );
}

/// The human renderer shows the local phase and escapes what came from the server.
#[test]
fn human_report_shows_the_local_phase() {
    let report = empty_report("127.0.0.1", 3389);
    let mut f = facts(fixture!("healthy-server2022.json"));
    f.computer = Some("SRV\u{1b}[31m".into());
    let report = with_local(report, Ok(f), 5.0, &ctx(), Vec::new());
    let mut out = Vec::new();
    rdp_doctor::render::render(
        &report,
        rdp_doctor::render::Format::Human,
        rdp_doctor::render::Style { color: false },
        &mut out,
    )
    .expect("render");
    let text = String::from_utf8(out).expect("utf8");
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("local"))
        .expect("a local phase line");
    assert!(line.contains("read on SRV\\x1b[31m"), "{line}");
    assert!(line.contains("NLA required"), "{line}");
    assert!(
        !text.contains('\u{1b}'),
        "no raw escape reaches the terminal"
    );
}

/// Off Windows, `check --local` refuses clearly (exit 3) before probing anything.
#[cfg(not(windows))]
#[test]
fn local_is_refused_off_windows() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rdp-doctor"))
        .args(["check", "127.0.0.1:1", "--local"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("only on the Windows server itself"), "{err}");
}

/// On Windows the collector runs; under Wine there is no real PowerShell (Wine's
/// powershell.exe prints nothing), so the report must show the local phase as failed, keep
/// the probe's result, and exit 1 (a warning), not crash.
#[cfg(windows)]
#[test]
fn local_runs_the_collector_on_windows() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rdp-doctor"))
        .args([
            "check",
            "127.0.0.1:1",
            "--local",
            "--format",
            "json",
            "--timeout",
            "2",
            "--no-udp",
        ])
        .output()
        .expect("runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    let local = v["phases"]
        .as_array()
        .expect("phases")
        .iter()
        .find(|p| p["phase"] == "local")
        .expect("a local phase");
    let ids: Vec<&str> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert!(ids.contains(&"tcp-refused"), "{ids:?}");
    if local["status"] == "failed" {
        assert!(ids.contains(&"local-facts-unavailable"), "{ids:?}");
    } else {
        // A real Windows: the collector worked and its facts are in the report.
        assert!(v["facts"]["local"].is_object());
    }
}
