//! .rdp parsing, findings, the client profile, and `check --rdp-file` against a probe report.

use rdp_doctor::diagnose::Context;
use rdp_doctor::facts::{
    Allowance, CertFact, Facts, ProbeStatus, ProtocolProbe, ProtocolsFact, SecurityProtocol,
    Support, X224Outcome,
};
use rdp_doctor::model::{Severity, Target, Verdict};
use rdp_doctor::rdpfile::{self, client_profile, target, RdpFile, Value};
use rdp_doctor::report::Report;
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

fn ids(f: &[rdp_doctor::model::Finding]) -> Vec<&str> {
    f.iter().map(|f| f.id.as_str()).collect()
}

/// The file's own findings, through the pipeline as `rdpfile` runs it.
fn file_findings(rdp: &RdpFile) -> Vec<rdp_doctor::model::Finding> {
    let facts = Facts {
        rdp_file: Some(rdp.clone()),
        ..Facts::default()
    };
    rdp_doctor::diagnose::diagnose(&facts, &Context::without_target())
}

/// Only the client-against-probe rule's findings for this file and report.
fn client_vs_probe(rdp: &RdpFile, r: &Report) -> Vec<rdp_doctor::model::Finding> {
    let ctx = Context::new(r.target.clone());
    let mut hits = Vec::new();
    rdp_doctor::diagnose::client::client_vs_probe(rdp, &r.facts, &ctx, &mut hits);
    rdp_doctor::diagnose::findings(hits, &r.facts, &ctx)
}

/// `rdp-doctor rdpfile` as the CLI runs it: the exit code and what it printed.
fn run_rdpfile(path: &Path, json: bool, out: &mut Vec<u8>) -> u8 {
    let (exit, written) = rdp_doctor::commands::rdpfile(path, json, out, false);
    assert!(written.is_ok());
    exit.code()
}

/// What mstsc writes: UTF-16LE with BOM, CRLF. Built here from text; keys in mixed case.
fn utf16le_bom(text: &str) -> Vec<u8> {
    let mut v = vec![0xFF, 0xFE];
    for u in text.encode_utf16() {
        v.extend_from_slice(&u.to_le_bytes());
    }
    v
}

const PASSWORD_HEX: &str = "01000000D08C9DDF0115D1118C7A00C04FC297EB0100000041414141DEADBEEF";

fn synthetic() -> String {
    [
        "screen mode id:i:2",
        "Full Address:s:rds01.corp.example:3390",
        "server port:i:3389",
        "EnableCredSspSupport:i:0",
        "authentication level:i:1",
        &format!("password 51:b:{PASSWORD_HEX}"),
        "username:s:CORP\\alice",
        "domain:s:OTHER",
        "x-custom-setting:s:kept",
        "this line is broken",
        "negotiate security layer:i:maybe",
        "",
    ]
    .join("\r\n")
}

#[test]
fn freerdp_avd_test_file() {
    let rdp = RdpFile::read(&fixture("rdp-files/freerdp/test1.rdp")).expect("parses");
    assert_eq!(rdp.encoding, "utf-8");
    assert_eq!(rdp.settings.len(), 38);
    assert!(rdp.problems.is_empty(), "{:?}", rdp.problems);
    assert_eq!(
        target(&rdp),
        Some(("rdgateway-r1.wvd.microsoft.com".into(), 3389))
    );
    assert_eq!(rdp.authentication_level(), 1);
    assert_eq!(
        rdp.gateway_hostname(),
        Some("afdfp-rdgateway-r1.wvd.microsoft.com:443")
    );
    assert!(rdp.uses_gateway());
    let found = file_findings(&rdp);
    assert_eq!(
        ids(&found),
        vec!["rdpfile-auth-level-strict", "rdpfile-gateway-always"]
    );
    // The activity hint's value holds ':' and '%' and survives whole.
    assert!(rdp
        .string("activityhint")
        .is_some_and(|v| v.ends_with("\"ScaleUnit\"%3a100}")));
    let t2 = RdpFile::read(&fixture("rdp-files/freerdp/test2.rdp")).expect("parses");
    let t3 = RdpFile::read(&fixture("rdp-files/freerdp/test3.rdp")).expect("parses");
    assert_eq!(t2.int("rdgiskdcproxy"), Some(1));
    assert_eq!(t3.int("rdgiskdcproxy"), Some(0));
    assert_eq!(client_profile(&rdp).requested_protocols.bits(), 0x0B);
}

#[test]
fn mstsc_utf16_file_with_risky_settings() {
    let rdp = RdpFile::parse(&utf16le_bom(&synthetic())).expect("parses");
    assert_eq!(rdp.encoding, "utf-16le");
    assert_eq!(target(&rdp), Some(("rds01.corp.example".into(), 3390)));
    assert!(!rdp.credssp_enabled(), "keys are case-insensitive");
    let custom = rdp.get("X-Custom-Setting").expect("unknown key kept");
    assert_eq!((custom.line, custom.known), (9, false));
    assert_eq!(rdp.unknown_keys().len(), 1);
    assert_eq!(rdp.problems.len(), 2, "{:?}", rdp.problems);
    assert_eq!(rdp.problems.first().map(|p| p.line), Some(10));
    assert!(matches!(
        rdp.get("password 51").map(|s| &s.value),
        Some(Value::Binary { bytes: 32 })
    ));
    let found = file_findings(&rdp);
    assert_eq!(
        ids(&found),
        // One comparator for every source: severity, then the rules' order.
        vec![
            "rdpfile-port-conflict",
            "rdpfile-credssp-disabled",
            "rdpfile-username-domain-conflict",
            "rdpfile-malformed-lines",
            "rdpfile-auth-level-strict",
            "rdpfile-saved-password",
        ]
    );
    let p = client_profile(&rdp);
    assert_eq!(p.requested_protocols.bits(), 0x01);
    assert_eq!(p.cookie.as_deref(), Some("alice"));
}

#[test]
fn secrets_never_reach_any_output() {
    let dir = std::env::temp_dir().join(format!("rdp-doctor-rdpfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("secret.rdp");
    let text = synthetic() + "password:s:hunter2-plain\r\ngatewayaccesstoken:s:eyJtoken\r\npassword 51 broken line hunter3\r\n";
    std::fs::write(&path, utf16le_bom(&text)).expect("write");
    for json in [false, true] {
        let mut out = Vec::new();
        let code = run_rdpfile(&path, json, &mut out);
        assert_eq!(code, 1, "warnings only");
        let s = String::from_utf8(out).expect("utf-8");
        for secret in [PASSWORD_HEX, "DEADBEEF", "hunter2", "eyJtoken", "hunter3"] {
            assert!(!s.contains(secret), "{secret} leaked:\n{s}");
        }
        assert!(s.contains("present"), "{s}");
        if json {
            let v: serde_json::Value = serde_json::from_str(&s).expect("json");
            assert_eq!(*at(&v, "/schema"), "rdp-doctor/rdpfile/v1");
            assert_eq!(*at(&v, "/target/port"), 3390);
            assert_eq!(*at(&v, "/client_profile/requested_protocols"), 1);
            assert_eq!(*at(&v, "/unknown_keys/0"), "x-custom-setting");
        }
    }
    let mut out = Vec::new();
    assert_eq!(run_rdpfile(&dir.join("missing.rdp"), false, &mut out), 3);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn addresses_ports_and_ipv6() {
    let t = |s: &str| target(&RdpFile::parse(s.as_bytes()).expect("parses"));
    assert_eq!(
        t("full address:s:[fe80::1]:3391"),
        Some(("fe80::1".into(), 3391))
    );
    assert_eq!(
        t("full address:s:[fe80::1]"),
        Some(("fe80::1".into(), 3389))
    );
    assert_eq!(
        t("full address:s:fe80::1\nserver port:i:4000"),
        Some(("fe80::1".into(), 4000))
    );
    assert_eq!(
        t("full address:s:srv\nserver port:i:4000"),
        Some(("srv".into(), 4000))
    );
    assert_eq!(
        t("full address:s:srv:5000\nserver port:i:4000"),
        Some(("srv".into(), 5000))
    );
    assert_eq!(
        t("full address:s:srv\nserver port:i:0"),
        Some(("srv".into(), 3389))
    );
    assert_eq!(t("username:s:x"), None);
    assert_eq!(t("full address:s:   "), None);
    let rdp = RdpFile::parse(b"username:s:x").expect("parses");
    assert_eq!(ids(&file_findings(&rdp)), vec!["rdpfile-no-full-address"]);
}

#[test]
fn client_profile_mapping() {
    let p = |s: &str| client_profile(&RdpFile::parse(s.as_bytes()).expect("parses"));
    assert_eq!(p("full address:s:a").requested_protocols.bits(), 0x0B);
    assert_eq!(
        p("enablecredsspsupport:i:0").requested_protocols.bits(),
        0x01
    );
    assert_eq!(
        p("negotiate security layer:i:0").requested_protocols.bits(),
        0x02
    );
    assert_eq!(
        p("negotiate security layer:i:0\nenablecredsspsupport:i:0")
            .requested_protocols
            .bits(),
        0x01
    );
    assert_eq!(p("enablerdsaadauth:i:1").requested_protocols.bits(), 0x1B);
    assert_eq!(
        p("username:s:alice@corp.example").cookie.as_deref(),
        Some("alice")
    );
    assert_eq!(
        p("username:s:alice\nloadbalanceinfo:s:tsv://MS Terminal Services Plugin.1.Sales").cookie,
        None
    );
    assert_eq!(p("full address:s:a").name, "rdp-file");
}

#[test]
fn gateway_and_broker_settings() {
    let f = |s: &str| {
        file_findings(&RdpFile::parse(format!("full address:s:h\n{s}").as_bytes()).expect("parses"))
            .iter()
            .map(|f| f.id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        f("gatewayusagemethod:i:1"),
        vec!["rdpfile-gateway-missing-host"]
    );
    assert_eq!(
        f("gatewayhostname:s:gw.example\ngatewayusagemethod:i:0"),
        vec!["rdpfile-gateway-ignored"]
    );
    assert_eq!(
        f("gatewayhostname:s:gw.example\ngatewayusagemethod:i:1\ngatewayprofileusagemethod:i:0"),
        vec!["rdpfile-gateway-ignored"]
    );
    assert_eq!(
        f("gatewayhostname:s:gw.example\ngatewayusagemethod:i:2"),
        Vec::<String>::new()
    );
    assert_eq!(f("gatewayusagemethod:i:9"), vec!["rdpfile-invalid-value"]);
    assert_eq!(
        f("alternate full address:s:other"),
        vec!["rdpfile-alternate-address"]
    );
    assert_eq!(f("alternate full address:s:H"), Vec::<String>::new());
    assert_eq!(
        f("use redirection server name:i:1\nloadbalanceinfo:s:tsv://MS Terminal Services Plugin.1.Sales"),
        vec!["rdpfile-redirection-server-name"]
    );
    assert_eq!(
        f("authentication level:i:0"),
        vec!["rdpfile-auth-level-none"]
    );
    assert_eq!(f("authentication level:i:7"), vec!["rdpfile-invalid-value"]);
    assert_eq!(
        f("negotiate security layer:i:0"),
        vec!["rdpfile-negotiate-disabled"]
    );
    assert_eq!(f("enablerdsaadauth:i:1"), vec!["rdpfile-rdsaad"]);
    assert_eq!(
        f("username:s:CORP\\a\ndomain:s:corp.example"),
        Vec::<String>::new()
    );
}

#[test]
fn duplicate_keys_last_wins() {
    let rdp = RdpFile::parse(b"full address:s:a\nFULL ADDRESS:s:b\n").expect("parses");
    assert_eq!(target(&rdp).map(|t| t.0), Some("b".to_string()));
    assert_eq!(
        rdp.duplicates(),
        vec![("full address".to_string(), vec![1, 2])]
    );
}

// ------------------------------------------------------------------ fuzzing -------------------

#[test]
fn fuzz_oracle_on_fixtures_and_mutations() {
    let mut corpus: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"\xff\xfe".to_vec(),
        b"\xff\xfe\x00".to_vec(),
        b"\xfe\xff\x00a\x00:".to_vec(),
        b":::".to_vec(),
        b"a:i:99999999999999999999999".to_vec(),
        b"\xef\xbb\xbf\xef\xbb\xbfkey:s:v\r\r\r".to_vec(),
        utf16le_bom(&synthetic()),
        synthetic().into_bytes(),
        vec![b'a'; rdpfile::MAX_RDP_FILE_BYTES + 1],
    ];
    for name in ["test1.rdp", "test2.rdp", "test3.rdp"] {
        corpus.push(std::fs::read(fixture(&format!("rdp-files/freerdp/{name}"))).expect("fixture"));
    }
    let mut seed: u64 = 0x0123_4567_89AB_CDEF;
    let mut next = || {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        seed.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let base = corpus.clone();
    for input in &base {
        rdp_doctor::commands::fuzz_rdpfile(input);
        if input.is_empty() || input.len() > rdpfile::MAX_RDP_FILE_BYTES {
            continue;
        }
        for _ in 0..200 {
            let mut m = input.clone();
            match next() % 4 {
                0 => {
                    let pos = (next() as usize) % m.len();
                    if let Some(b) = m.get_mut(pos) {
                        *b ^= 1 << (next() % 8);
                    }
                }
                1 => m.truncate((next() as usize) % m.len()),
                2 => {
                    let pos = (next() as usize) % m.len();
                    let byte = [b':', b'\n', b'\r', 0, 0xFF, b'i', b's', b'b']
                        .get((next() % 8) as usize)
                        .copied()
                        .unwrap_or(b':');
                    m.insert(pos, byte);
                }
                _ => {
                    let pos = (next() as usize) % m.len();
                    m.remove(pos);
                }
            }
            rdp_doctor::commands::fuzz_rdpfile(&m);
        }
    }
}

// ------------------------------------------------------------------ file vs. probe ------------

fn report(host: &str) -> Report {
    Report {
        schema: "rdp-doctor/check/v1".into(),
        tool_version: "test".into(),
        target: Target {
            input: host.into(),
            host: host.into(),
            port: 3389,
            host_kind: "dns".into(),
        },
        started_at: "2024-03-06T08:00:00Z".into(),
        duration_ms: 1.0,
        verdict: Verdict::Healthy,
        failing_side: None,
        phases: Vec::new(),
        findings: Vec::new(),
        facts: Facts::default(),
    }
}

pub fn protocols(nla: Support, tls: Support, accepted: &[SecurityProtocol]) -> ProtocolsFact {
    ProtocolsFact {
        probes: vec![ProtocolProbe {
            protocol: SecurityProtocol::Rdsaad,
            requested: SecurityProtocol::Rdsaad.bits(),
            status: ProbeStatus::Refused,
            duration_ms: 1.0,
            response: X224Outcome::Failure {
                code: 5,
                name: Some("HYBRID_REQUIRED_BY_SERVER".into()),
            },
            from_main: false,
            retries: 0,
        }],
        accepted: accepted.to_vec(),
        nla,
        tls,
        standard_rdp: Allowance::Refused,
        together: None,
    }
}

pub fn self_signed_cert(name: &str) -> CertFact {
    CertFact {
        subject: format!("CN={name}"),
        issuer: format!("CN={name}"),
        serial: "01".into(),
        not_before: "2024-01-01T00:00:00Z".into(),
        not_after: "2024-07-01T00:00:00Z".into(),
        days_left: 100,
        expired: false,
        not_yet_valid: false,
        self_signed: true,
        trusted: false,
        trust_error: Some("unknown issuer".into()),
        trust_store: "system".into(),
        name_checked: name.into(),
        name_matches: true,
        common_name: Some(name.into()),
        san_dns: vec![],
        san_ip: vec![],
        key_type: "RSA".into(),
        key_bits: 2048,
        signature_algorithm: "sha256WithRSAEncryption".into(),
        signature_hash: "sha256".into(),
        eku: vec![],
        eku_ok: true,
        sha1: "59EFF2E3B509C83137E81085E02A1AC63A7E61AA".into(),
        sha256: "00".into(),
        chain: vec![],
    }
}

#[test]
fn credssp_off_against_a_server_that_requires_nla() {
    let rdp = RdpFile::parse(b"full address:s:rds01.corp.example\nenablecredsspsupport:i:0\n")
        .expect("parses");
    let mut r = report("rds01.corp.example");
    r.facts.protocols = Some(protocols(
        Support::Required,
        Support::Supported,
        &[SecurityProtocol::Hybrid, SecurityProtocol::HybridEx],
    ));
    let found = client_vs_probe(&rdp, &r);
    assert_eq!(ids(&found), vec!["server-requires-nla"]);
    let f = found.first().expect("finding");
    assert_eq!(f.severity, Severity::Error);
    assert!(
        f.evidence
            .iter()
            .any(|e| e.contains("line 2: enablecredsspsupport:i:0")),
        "{:?}",
        f.evidence
    );
    assert!(f
        .evidence
        .iter()
        .any(|e| e.starts_with("probe: the server accepts hybrid, hybrid_ex (nla: required")));
    // The same file against a server without NLA requirement: no finding.
    r.facts.protocols = Some(protocols(
        Support::Supported,
        Support::Supported,
        &[SecurityProtocol::Tls, SecurityProtocol::Hybrid],
    ));
    assert!(client_vs_probe(&rdp, &r).is_empty());
}

#[test]
fn strict_authentication_level_against_a_self_signed_certificate() {
    let rdp =
        RdpFile::parse(b"full address:s:rds01\nauthentication level:i:1\nenablerdsaadauth:i:1\n")
            .expect("parses");
    let mut r = report("rds01");
    r.facts.certificate = Some(self_signed_cert("rds01"));
    r.facts.protocols = Some(protocols(
        Support::Supported,
        Support::Supported,
        &[SecurityProtocol::Tls, SecurityProtocol::Hybrid],
    ));
    let found = client_vs_probe(&rdp, &r);
    assert_eq!(
        ids(&found),
        vec![
            "client-rdsaad-not-accepted",
            "client-refuses-server-certificate"
        ]
    );
    let f = found.get(1).expect("cert finding");
    assert!(f
        .evidence
        .iter()
        .any(|e| e == "probe: the certificate is self-signed"));
    assert!(f
        .evidence
        .iter()
        .any(|e| e.contains("authentication level:i:1")));
    let lax = RdpFile::parse(b"full address:s:rds01\nauthentication level:i:0\n").expect("parses");
    assert_eq!(
        ids(&client_vs_probe(&lax, &r)),
        vec!["client-ignores-certificate-errors"]
    );
    let default = RdpFile::parse(b"full address:s:rds01\n").expect("parses");
    assert!(client_vs_probe(&default, &r).is_empty());
}

#[test]
fn nla_only_client_and_gateway_client() {
    let rdp = RdpFile::parse(
        b"full address:s:old\nnegotiate security layer:i:0\ngatewayhostname:s:gw.corp.example\ngatewayusagemethod:i:1\n",
    )
    .expect("parses");
    let mut r = report("old");
    r.facts.protocols = Some(protocols(
        Support::NotOffered,
        Support::Supported,
        &[SecurityProtocol::Tls],
    ));
    assert_eq!(
        ids(&client_vs_probe(&rdp, &r)),
        vec![
            "client-requires-nla-server-does-not",
            "rdpfile-probe-bypassed-gateway"
        ]
    );
}
