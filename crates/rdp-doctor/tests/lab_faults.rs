//! Every lab fault, end to end through the command line: `rdp-doctor lab` serves the fault,
//! `rdp-doctor check --format json` must report the expected first finding and verdict.
#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

use rdp_doctor::lab::Fault;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod labproc;
use labproc::{Lab, BIN};

/// `check --format json` with `extra` arguments; `password` goes through RDP_DOCTOR_PASSWORD.
fn check_json_with(
    lab: &Lab,
    client: &str,
    extra: &[&str],
    password: Option<&str>,
) -> (serde_json::Value, i32, Duration) {
    let start = Instant::now();
    let mut cmd = Command::new(BIN);
    cmd.args([
        "check",
        &format!("127.0.0.1:{}", lab.port),
        "--format",
        "json",
        "--timeout",
        "2",
        "--sec",
        client,
        "--ca",
    ])
    .arg(lab.ca())
    .args(extra)
    .env_remove("RDP_DOCTOR_PASSWORD")
    .stdin(Stdio::null());
    if let Some(p) = password {
        cmd.env("RDP_DOCTOR_PASSWORD", p);
    }
    let out = cmd.output().expect("check runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "check printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (v, out.status.code().unwrap_or(-1), start.elapsed())
}

fn assert_fault(name: &str) {
    let fault = Fault::parse(name).expect("a lab fault");
    let lab = Lab::one(name);
    let exp = fault.expectation();
    let mut extra = Vec::new();
    if exp.user {
        extra.extend(["--user", rdp_doctor::lab::DEFAULT_USER]);
    }
    if exp.full {
        extra.push("--full");
    }
    let password = exp.user.then_some(rdp_doctor::lab::DEFAULT_PASSWORD);
    let (v, code, took) = check_json_with(&lab, exp.client, &extra, password);
    let first = v["findings"][0]["id"].as_str().map(String::from);
    let ids: Vec<&str> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert_eq!(
        first.as_deref(),
        exp.first_finding,
        "{}: findings {ids:?}",
        fault.name()
    );
    assert_eq!(
        v["verdict"],
        exp.verdict.as_str(),
        "{}: findings {ids:?}",
        fault.name()
    );
    assert_eq!(
        code,
        i32::from(exp.verdict.exit_code().code()),
        "{}: exit code",
        fault.name()
    );
    assert_eq!(v["schema"], "rdp-doctor/check/v1");
    // the eight probe phases, plus auth with --user
    let phases = 8 + usize::from(exp.user);
    assert_eq!(v["phases"].as_array().map(|a| a.len()), Some(phases));
    // Every finding carries the fields the README documents.
    for f in v["findings"].as_array().expect("array") {
        for key in [
            "id",
            "severity",
            "phase",
            "title",
            "evidence",
            "fix",
            "references",
        ] {
            assert!(!f[key].is_null(), "{}: finding without {key}", fault.name());
        }
        assert!(!f["evidence"].as_array().expect("evidence").is_empty());
    }
    // No fault may make check hang: the slowest waits for one 2 s time-out (plus UDP).
    assert!(
        took < Duration::from_secs(15),
        "{} took {took:?}",
        fault.name()
    );
}

macro_rules! fault_tests {
    ($($test:ident => $fault:literal),* $(,)?) => {
        $( #[test] fn $test() { assert_fault($fault); } )*
        /// The list above covers every fault the lab knows.
        #[test]
        fn every_fault_has_a_test() {
            let tested = [$($fault),*];
            for f in Fault::ALL {
                assert!(tested.contains(&f.name()), "no integration test for {}", f.name());
            }
        }
    };
}

fault_tests! {
    healthy => "healthy",
    cert_expired => "cert-expired",
    cert_not_yet_valid => "cert-not-yet-valid",
    cert_self_signed => "cert-self-signed",
    cert_name_mismatch => "cert-name-mismatch",
    cert_weak_key => "cert-weak-key",
    cert_expiring_soon => "cert-expiring-soon",
    cert_wrong_usage => "cert-wrong-usage",
    tls_handshake_failed => "tls-handshake-failed",
    tls_version_mismatch => "tls-version-mismatch",
    tls_stalled => "tls-stalled",
    server_requires_nla => "server-requires-nla",
    server_requires_tls => "server-requires-tls",
    server_forbids_tls => "server-forbids-tls",
    server_has_no_certificate => "server-has-no-certificate",
    standard_rdp_security_only => "standard-rdp-security-only",
    credssp_outdated_server => "credssp-outdated-server",
    credssp_failed => "credssp-failed",
    clock_skew => "clock-skew",
    x224_no_response => "x224-no-response",
    x224_reset => "x224-reset",
    not_rdp => "not-rdp",
    server_denied_connection => "server-denied-connection",
    mcs_malformed_response => "mcs-malformed-response",
    tls_chain_too_large => "tls-chain-too-large",
    cert_hostile_subject => "cert-hostile-subject",
    slow_drip => "slow-drip",
    hostile_strings => "hostile-strings",
    udp_blocked => "udp-blocked",
    logon_failure => "logon-failure",
    account_restricted => "account-restricted",
    password_expired => "password-expired",
    password_must_change => "password-must-change",
    account_disabled => "account-disabled",
    account_locked => "account-locked",
    no_remote_desktop_right => "no-remote-desktop-right",
    logon_type_not_granted => "logon-type-not-granted",
    credssp_version_mismatch => "credssp-version-mismatch",
    credentials_rejected_silently => "credentials-rejected-silently",
    credssp_dropped => "credssp-dropped",
    errinfo_denied => "errinfo-denied",
    errinfo_license => "errinfo-license",
}

/// The lab refuses to listen beyond loopback unless told to.
#[test]
fn lab_stays_on_loopback_by_default() {
    // The flapping lab (--schedule) too.
    for serve in [["--fault", "healthy"], ["--schedule", "healthy:2s"]] {
        let out = Command::new(BIN)
            .args(["lab", "--listen", "0.0.0.0:0"])
            .args(serve)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(3), "{serve:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-remote"));
    }
}

/// Bad input is a clear error with exit code 3, never a panic.
#[test]
fn bad_targets_exit_3() {
    for t in ["", "https://srv", "srv:0", "srv:99999", "[::1", "a b"] {
        let out = Command::new(BIN).args(["check", t]).output().expect("runs");
        assert_eq!(out.status.code(), Some(3), "{t:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("rdp-doctor: "), "{t:?}: {err}");
        assert!(!err.contains("panicked"));
    }
}

/// The credentialed check against the healthy lab: the right password is accepted (with and
/// without --full), a wrong one is a logon-failure with the server's NTSTATUS.
#[test]
fn healthy_lab_with_credentials() {
    let lab = Lab::one("healthy");
    let user = ["--user", rdp_doctor::lab::DEFAULT_USER];
    let (v, code, _) = check_json_with(
        &lab,
        "mstsc",
        &user,
        Some(rdp_doctor::lab::DEFAULT_PASSWORD),
    );
    assert_eq!(
        (v["verdict"].as_str(), code),
        (Some("healthy"), 0),
        "{:#}",
        v["findings"]
    );
    let a = &v["facts"]["auth"];
    assert_eq!(a["outcome"], "success");
    assert_eq!(a["package"], "NTLM");
    assert_eq!(a["early_user_auth_name"], "AUTHZ_SUCCESS");
    assert_eq!(a["trust_basis"], "trusted-certificate");
    assert_eq!(v["phases"][6]["phase"], "auth");
    assert_eq!(v["phases"][6]["status"], "ok");

    let full = ["--user", rdp_doctor::lab::DEFAULT_USER, "--full"];
    let (v, code, _) = check_json_with(
        &lab,
        "mstsc",
        &full,
        Some(rdp_doctor::lab::DEFAULT_PASSWORD),
    );
    assert_eq!(code, 0, "{:#}", v["findings"]);
    let act = &v["facts"]["activation"];
    assert_eq!(act["outcome"], "demand-active");
    assert_eq!(act["channels_joined"], serde_json::json!([1007, 1003]));
    assert_eq!(act["desktop"], "1024x768");
    assert_eq!(act["client_info_autologon"], false);
    assert_eq!(v["facts"]["mcs"]["outcome"], "connected");

    let (v, code, _) = check_json_with(&lab, "mstsc", &user, Some("not-the-password"));
    assert_eq!(code, 2);
    assert_eq!(v["findings"][0]["id"], "logon-failure");
    assert_eq!(v["facts"]["auth"]["error_code"], 0xC000_006Du32);
    assert_eq!(v["facts"]["auth"]["error_name"], "STATUS_LOGON_FAILURE");
    // HYBRID only (FreeRDP /sec:nla): no early user authorization, still accepted
    let (v, code, _) = check_json_with(&lab, "nla", &user, Some(rdp_doctor::lab::DEFAULT_PASSWORD));
    assert_eq!(code, 0, "{:#}", v["findings"]);
    assert!(v["facts"]["auth"]["early_user_auth"].is_null());
}

/// An unpatched server (TSRequest version 3) accepts the credentials, but patched clients
/// refuse it: with --user that is reported as credssp-version-mismatch with the matrix.
#[test]
fn outdated_server_with_credentials_is_a_version_mismatch() {
    let lab = Lab::one("credssp-outdated-server");
    let (v, code, _) = check_json_with(
        &lab,
        "mstsc",
        &["--user", rdp_doctor::lab::DEFAULT_USER],
        Some(rdp_doctor::lab::DEFAULT_PASSWORD),
    );
    assert_eq!(code, 2);
    assert_eq!(v["findings"][0]["id"], "credssp-version-mismatch");
    assert_eq!(v["facts"]["auth"]["outcome"], "success");
    assert_eq!(v["facts"]["auth"]["version_used"], 3);
    let ev = v["findings"][0]["evidence"].to_string();
    assert!(ev.contains("AllowEncryptionOracle"), "{ev}");
}

/// The credential gate: a self-signed certificate gets nothing derived from the password,
/// unless its SHA-256 is pinned or the user insists (with a warning on stderr).
#[test]
fn gate_refuses_an_untrusted_certificate() {
    let lab = Lab::one("cert-self-signed");
    let user = ["--user", rdp_doctor::lab::DEFAULT_USER];
    let (v, _, _) = check_json_with(
        &lab,
        "mstsc",
        &user,
        Some(rdp_doctor::lab::DEFAULT_PASSWORD),
    );
    let a = &v["facts"]["auth"];
    assert_eq!(a["outcome"], "not-sent");
    assert_eq!(a["ntlm_response_sent"], false);
    assert_eq!(a["credentials_delegated"], false);
    assert!(a["refused_because"][0]
        .as_str()
        .unwrap()
        .contains("not trusted"));
    let ids: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert!(ids.contains(&"credentials-not-sent"), "{ids:?}");
    // pinned: the server is trusted by its fingerprint (colons accepted)
    let sha = v["facts"]["certificate"]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let colons = sha
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).to_string())
        .collect::<Vec<_>>()
        .join(":");
    let pinned = [
        "--user",
        rdp_doctor::lab::DEFAULT_USER,
        "--trust-fingerprint",
        &colons,
    ];
    let (v, _, _) = check_json_with(
        &lab,
        "mstsc",
        &pinned,
        Some(rdp_doctor::lab::DEFAULT_PASSWORD),
    );
    assert_eq!(v["facts"]["auth"]["outcome"], "success");
    assert_eq!(v["facts"]["auth"]["trust_basis"], "pinned-fingerprint");
    // a wrong pin is refused
    let wrong = [
        "--user",
        rdp_doctor::lab::DEFAULT_USER,
        "--trust-fingerprint",
        &"00".repeat(32),
    ];
    let (v, _, _) = check_json_with(
        &lab,
        "mstsc",
        &wrong,
        Some(rdp_doctor::lab::DEFAULT_PASSWORD),
    );
    assert_eq!(v["facts"]["auth"]["outcome"], "not-sent");
    // insecure: sent, with the warning on stderr
    let out = Command::new(BIN)
        .args([
            "check",
            &format!("127.0.0.1:{}", lab.port),
            "--format",
            "json",
            "--timeout",
            "2",
            "--no-udp",
            "--no-enumerate",
            "--user",
            rdp_doctor::lab::DEFAULT_USER,
            "--insecure-send-credentials",
        ])
        .env("RDP_DOCTOR_PASSWORD", rdp_doctor::lab::DEFAULT_PASSWORD)
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("NTLM relay") && err.contains("offline"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["facts"]["auth"]["outcome"], "success");
    assert_eq!(v["facts"]["auth"]["trust_basis"], "insecure-override");
}

/// A server without NLA: credentials cannot be checked before the session; --full puts them in
/// the Client Info PDU (autologon) and reaches the Demand Active PDU. Standard RDP Security is
/// out of scope for --full and says so.
#[test]
fn servers_without_nla() {
    let lab = Lab::one("server-requires-tls");
    let args = ["--user", rdp_doctor::lab::DEFAULT_USER, "--full"];
    let (v, code, _) = check_json_with(
        &lab,
        "mstsc",
        &args,
        Some(rdp_doctor::lab::DEFAULT_PASSWORD),
    );
    // degraded by nla-not-offered (a warning), not by the credentials
    assert_eq!(code, 1, "{:#}", v["findings"]);
    assert_eq!(v["findings"][0]["id"], "nla-not-offered");
    assert_eq!(v["facts"]["auth"]["outcome"], "no-credssp");
    assert_eq!(v["facts"]["activation"]["outcome"], "demand-active");
    assert_eq!(v["facts"]["activation"]["client_info_autologon"], true);
    assert_eq!(v["findings"][1]["id"], "credentials-not-checked");
    drop(lab);
    let lab = Lab::one("standard-rdp-security-only");
    let (v, _, _) = check_json_with(
        &lab,
        "mstsc",
        &args,
        Some(rdp_doctor::lab::DEFAULT_PASSWORD),
    );
    assert_eq!(v["facts"]["activation"]["outcome"], "unsupported");
    assert!(v["facts"]["activation"]["detail"]
        .as_str()
        .unwrap()
        .contains("Standard RDP Security"));
    assert_eq!(v["facts"]["activation"]["client_info_autologon"], false);
}

/// The rarely accepted protocols asked together, against a server that accepts one of them:
/// a client offering CredSSP only (`--sec nla`) leaves HYBRID_EX open, so the request for
/// HYBRID_EX, RDSTLS and RDSAAD goes out with the main one; the lab (Windows defaults) selects
/// HYBRID_EX, which settles that one (accepted) and neither other: each is asked alone and
/// refused, with the lab's own code. With mstsc's request the main answer settles HYBRID_EX and
/// one refused request settles RDSTLS and RDSAAD.
#[test]
fn protocols_asked_together_are_settled_only_by_what_the_answer_says() {
    let lab = Lab::one("healthy");
    let probe = |v: &serde_json::Value, p: &str| {
        v["facts"]["protocols"]["probes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["protocol"] == p)
            .cloned()
            .unwrap()
    };
    let (v, _, _) = check_json_with(&lab, "nla", &[], None);
    let together = &v["facts"]["protocols"]["together"];
    assert_eq!(together["requested"], 0x1C, "{together}");
    assert_eq!(together["response"]["protocol"], 8, "{together}");
    let hx = probe(&v, "hybrid_ex");
    assert_eq!(
        (&hx["status"], &hx["requested"]),
        (&"accepted".into(), &0x1C.into())
    );
    for (p, bits) in [("rdstls", 4), ("rdsaad", 16)] {
        let x = probe(&v, p);
        assert_eq!(x["requested"], bits, "{x}");
        assert_eq!(x["status"], "refused", "{x}");
        assert_eq!(x["response"]["name"], "HYBRID_REQUIRED_BY_SERVER", "{x}");
    }
    assert_eq!(v["facts"]["protocols"]["nla"], "required");

    let (v, _, _) = check_json_with(&lab, "mstsc", &[], None);
    assert_eq!(probe(&v, "hybrid_ex")["from_main"], true);
    let together = &v["facts"]["protocols"]["together"];
    assert_eq!(together["requested"], 0x14, "{together}");
    for p in ["rdstls", "rdsaad"] {
        let x = probe(&v, p);
        assert_eq!(
            (&x["status"], &x["requested"]),
            (&"refused".into(), &0x14.into())
        );
    }
}

/// No password source: a clear error (exit 3), never a hang on a prompt without a terminal.
#[test]
fn user_without_a_password_source_exits_3() {
    let out = Command::new(BIN)
        .args(["check", "127.0.0.1:1", "--user", "alice"])
        .env_remove("RDP_DOCTOR_PASSWORD")
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("RDP_DOCTOR_PASSWORD") && err.contains("--password-file"),
        "{err}"
    );
    // and no way to pass it on the command line
    let out = Command::new(BIN)
        .args(["check", "127.0.0.1:1", "--user", "alice", "--password", "x"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(3));
}

/// Faults found without credentials keep their diagnosis when --user is given: a skewed clock
/// does not stop NTLM (success, plus the clock-skew warning), and a server that drops CredSSP
/// after the NEGOTIATE is still credssp-failed (nothing derived from the password was sent).
#[test]
fn unauthenticated_faults_with_credentials() {
    let user = ["--user", rdp_doctor::lab::DEFAULT_USER];
    let lab = Lab::one("clock-skew");
    let (v, code, _) = check_json_with(
        &lab,
        "mstsc",
        &user,
        Some(rdp_doctor::lab::DEFAULT_PASSWORD),
    );
    assert_eq!(
        (code, v["findings"][0]["id"].as_str()),
        (1, Some("clock-skew"))
    );
    assert_eq!(v["facts"]["auth"]["outcome"], "success");
    assert_eq!(
        v["facts"]["auth"]["clock_skew_seconds"]
            .as_i64()
            .map(|s| (s - 4 * 3600).abs() < 60),
        Some(true)
    );
    drop(lab);
    let lab = Lab::one("credssp-failed");
    let (v, code, _) = check_json_with(
        &lab,
        "mstsc",
        &user,
        Some(rdp_doctor::lab::DEFAULT_PASSWORD),
    );
    assert_eq!(
        (code, v["findings"][0]["id"].as_str()),
        (2, Some("credssp-failed"))
    );
    assert_eq!(v["facts"]["auth"]["ntlm_response_sent"], false);
}

/// A protocol violation by the server is its own finding, and a limit of ours is said as ours
/// (issue 15, item 8): neither carries the fixes of the diagnosis it used to get.
#[test]
fn hostile_servers_are_not_blamed_for_the_wrong_thing() {
    let lab = Lab::one("mcs-malformed-response");
    let (v, _, _) = check_json_with(&lab, "mstsc", &[], None);
    let ids: Vec<&str> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert!(!ids.contains(&"server-denied-connection"), "{ids:?}");
    assert_eq!(v["facts"]["mcs"]["outcome"], "malformed");
    assert_eq!(v["findings"][0]["id"], "mcs-malformed-response");
    // The server is blamed for what it sent, and no refusal's repair is offered.
    let fix = v["findings"][0]["fix"].to_string();
    assert!(!fix.contains("FIPS") && !fix.contains("licens"), "{fix}");
    let evidence = v["findings"][0]["evidence"].to_string();
    assert!(evidence.contains("does not decode"), "{evidence}");

    let lab = Lab::one("tls-chain-too-large");
    let (v, _, _) = check_json_with(&lab, "mstsc", &[], None);
    let ids: Vec<&str> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert!(!ids.contains(&"tls-handshake-failed"), "{ids:?}");
    let f = &v["findings"][0];
    assert_eq!(f["id"], "tls-chain-too-large");
    let text = f.to_string();
    assert!(!text.contains("MachineKeys"), "{text}");
    assert!(text.contains("rdp-doctor"), "said as our limit: {text}");
    assert!(text.contains("65535"), "the limit is named: {text}");
}
