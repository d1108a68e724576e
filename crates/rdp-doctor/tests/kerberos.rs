//! Kerberos (issue 13) against a real MIT KDC (Debian krb5-kdc 1.20) and a real RDP server
//! that accepts Kerberos in CredSSP (FreeRDP 3.10 shadow with a keytab), each test with its own
//! throw-away realm on loopback (`support::krb`). Every fault is made for real (a stopped KDC,
//! a deleted principal, a deleted SPN, a KDC clock shifted with faketime, an expired password,
//! a disabled account, an account with only an RC4 key, a server without NTLM accounts) and
//! checked through the CLI: `check --format json`, the first finding, the verdict.
//!
//! KDC discovery by DNS SRV uses the tests' own DNS responder (tests/lab/dnsd.py, `--srv`),
//! given with `--dns-server`: nothing depends on this machine's resolver or /etc/hosts (the
//! target is `localhost`, which the system resolver answers from /etc/hosts on every Linux,
//! and its SPN is `TERMSRV/localhost` in the realm).
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

mod support;

use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::certs;
use support::krb::{Realm, PASSWORD, REALM};
use support::process::GroupChild;
use support::shadow::ShadowServer;
use support::tmp::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_rdp-doctor");

struct Run {
    code: i32,
    json: Value,
    stderr: String,
    took: Duration,
}

impl Run {
    fn first(&self) -> String {
        self.json["findings"][0]["id"]
            .as_str()
            .unwrap_or("<none>")
            .to_string()
    }

    fn ids(&self) -> Vec<String> {
        self.json["findings"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|f| f["id"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn phase(&self, name: &str) -> Option<&Value> {
        self.json["phases"]
            .as_array()?
            .iter()
            .find(|p| p["phase"] == name)
    }

    fn describe(&self) -> String {
        format!(
            "exit {} in {:.0?}; findings {:?}\nkdc: {}\nauth: {}\nstderr: {}",
            self.code,
            self.took,
            self.ids(),
            self.phase("kdc")
                .map(|p| p["summary"].to_string())
                .unwrap_or_default(),
            self.phase("auth")
                .map(|p| p["summary"].to_string())
                .unwrap_or_default(),
            self.stderr
        )
    }
}

/// Every document these tests produce must match `schemas/check.schema.json` (the kdc phase,
/// the Kerberos auth facts): validated with tests/validate_schema.py, as tests/schemas.rs does.
fn assert_schema(doc: &Value, what: &str) {
    use std::io::Write as _;
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let cases = serde_json::json!([{"name": what, "schema": "check.schema.json", "document": doc}]);
    let mut child = Command::new("/usr/bin/python3")
        .arg(manifest.join("tests/validate_schema.py"))
        .arg(manifest.join("../../schemas"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 with python3-jsonschema (.ci/run)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&serde_json::to_vec(&cases).expect("json"))
        .expect("validator reads");
    let out = child.wait_with_output().expect("validator runs");
    assert!(
        out.status.success(),
        "validator: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).expect("validator output");
    assert_eq!(r[0]["valid"], true, "{what}: {}", r[0]["errors"]);
}

/// The human report of the same check, printed (with --nocapture) for the docs' samples.
fn print_human(target: &str, args: &[&str]) {
    let out = Command::new(BIN)
        .arg("check")
        .arg(target)
        .args([
            "--timeout",
            "3",
            "--no-udp",
            "--no-enumerate",
            "--color",
            "never",
            "--ca",
        ])
        .arg(&certs::lab().ca)
        .args(args)
        .env_remove("RDP_DOCTOR_PASSWORD")
        .stdin(Stdio::null())
        .output()
        .expect("check runs");
    println!(
        "$ rdp-doctor check {target} {}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout)
    );
}

fn password_file(dir: &TempDir, pw: &str) -> String {
    dir.write("pw", pw.as_bytes())
        .expect("password file")
        .display()
        .to_string()
}

/// `check TARGET --format json ... ARGS`.
fn check(target: &str, args: &[&str]) -> Run {
    let t0 = Instant::now();
    let out = Command::new(BIN)
        .arg("check")
        .arg(target)
        .args([
            "--format",
            "json",
            "--timeout",
            "3",
            "--no-udp",
            "--no-enumerate",
            "--ca",
        ])
        .arg(&certs::lab().ca)
        .args(args)
        .env_remove("RDP_DOCTOR_PASSWORD")
        .stdin(Stdio::null())
        .output()
        .expect("check runs");
    let took = t0.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    // The passwords these tests use never appear in any output.
    for secret in [PASSWORD, "Wr0ng-pass"] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "a password leaked into the output of check {target} {args:?}"
        );
    }
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {stdout}\n{stderr}"));
    println!(
        "[timing] check {args:?}: {:.1} ms",
        took.as_secs_f64() * 1000.0
    );
    assert_schema(&json, &format!("check {target} {args:?}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        json,
        stderr,
        took,
    }
}

/// A credentialed check of `user` against the shadow, KDC given with `--kdc`.
fn check_user(realm: &Realm, s: &ShadowServer, user: &str, pw: &str, more: &[&str]) -> Run {
    let dir = TempDir::new("krb-pw").expect("dir");
    let pwf = password_file(&dir, pw);
    let target = format!("localhost:{}", s.port());
    let kdc = realm.kdc_arg();
    let mut args = vec!["--user", user, "--password-file", &pwf, "--kdc", &kdc];
    args.extend_from_slice(more);
    check(&target, &args)
}

fn setup(ntlm: bool) -> (Realm, ShadowServer) {
    let t0 = Instant::now();
    let realm = Realm::create().unwrap_or_else(|e| panic!("realm: {e}"));
    println!(
        "[timing] realm + KDC start: {:.1} ms",
        t0.elapsed().as_secs_f64() * 1000.0
    );
    let s = realm.shadow(ntlm).unwrap_or_else(|e| panic!("shadow: {e}"));
    (realm, s)
}

fn kdc_exchanges(run: &Run) -> Vec<Value> {
    run.json["facts"]["kdc"]["exchanges"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_healthy_kerberos_logon_succeeds() {
    let (realm, s) = setup(true);
    let r = check_user(&realm, &s, &format!("alice@{REALM}"), PASSWORD, &[]);
    assert_eq!(r.code, 0, "{}", r.describe());
    assert_eq!(r.json["verdict"], "healthy", "{}", r.describe());
    let auth = &r.json["facts"]["auth"];
    assert_eq!(auth["package"], "Kerberos", "{}", r.describe());
    assert_eq!(auth["outcome"], "success");
    assert_eq!(auth["kerberos"]["mutual_authentication"], true);
    assert_eq!(auth["kerberos"]["spn"], "TERMSRV/localhost");
    assert_eq!(auth["credentials_delegated"], true);
    let steps: Vec<String> = kdc_exchanges(&r)
        .iter()
        .map(|e| format!("{} {}", e["step"], e["reply"]["outcome"]))
        .collect();
    assert_eq!(
        steps,
        [
            "\"probe\" \"error\"",
            "\"as\" \"ticket\"",
            "\"tgs\" \"ticket\""
        ],
        "{}",
        r.describe()
    );
    for e in kdc_exchanges(&r) {
        println!(
            "[timing] KDC {} round trip: {} ms",
            e["step"], e["duration_ms"]
        );
    }
    let kdc = r.phase("kdc").expect("kdc phase");
    assert_eq!(kdc["status"], "ok", "{}", r.describe());
    println!(
        "[timing] kdc phase {} ms, auth phase {} ms",
        kdc["duration_ms"],
        r.phase("auth").unwrap()["duration_ms"]
    );
    // the KDC saw the AS and the TGS request for the SPN
    let log = realm.kdc_log();
    assert!(
        log.contains("TGS_REQ") && log.contains("TERMSRV/localhost"),
        "{log}"
    );

    let pwdir = TempDir::new("krb-pw").expect("dir");
    let pwf = password_file(&pwdir, PASSWORD);
    let user = format!("alice@{REALM}");
    print_human(
        &format!("localhost:{}", s.port()),
        &[
            "--user",
            &user,
            "--password-file",
            &pwf,
            "--kdc",
            &realm.kdc_arg(),
        ],
    );
    // The same account over NTLM, for the comparison of durations.
    let n = check_user(
        &realm,
        &s,
        &format!("alice@{REALM}"),
        PASSWORD,
        &["--auth", "ntlm"],
    );
    assert_eq!(n.code, 0, "{}", n.describe());
    assert_eq!(n.json["facts"]["auth"]["package"], "NTLM");
    println!(
        "[timing] check duration: Kerberos {} ms, NTLM {} ms",
        r.json["duration_ms"], n.json["duration_ms"]
    );
}

#[test]
fn a_wrong_password_and_a_deleted_principal_are_logon_failures() {
    let (realm, s) = setup(true);
    let r = check_user(&realm, &s, &format!("alice@{REALM}"), "Wr0ng-pass", &[]);
    assert_eq!(r.first(), "logon-failure", "{}", r.describe());
    assert_eq!(r.code, 2);
    let ev = r.json["findings"][0]["evidence"].to_string();
    assert!(ev.contains("KDC_ERR_PREAUTH_FAILED"), "{ev}");
    // nothing reached the RDP server
    assert_eq!(r.json["facts"]["auth"]["outcome"], "kdc-refused");
    assert_eq!(r.json["facts"]["auth"]["credentials_delegated"], false);

    let pwdir = TempDir::new("krb-pw").expect("dir");
    let pwf = password_file(&pwdir, "Wr0ng-pass");
    let user = format!("alice@{REALM}");
    print_human(
        &format!("localhost:{}", s.port()),
        &[
            "--user",
            &user,
            "--password-file",
            &pwf,
            "--kdc",
            &realm.kdc_arg(),
        ],
    );
    realm.kadmin("delprinc -force erin").unwrap();
    let r = check_user(&realm, &s, &format!("erin@{REALM}"), PASSWORD, &[]);
    assert_eq!(r.first(), "logon-failure", "{}", r.describe());
    let ev = r.json["findings"][0]["evidence"].to_string();
    assert!(ev.contains("KDC_ERR_C_PRINCIPAL_UNKNOWN"), "{ev}");
}

#[test]
fn a_stopped_kdc_is_unreachable_and_negotiate_falls_back_to_ntlm() {
    let (mut realm, s) = setup(true);
    realm.stop_kdc();
    let r = check_user(&realm, &s, &format!("alice@{REALM}"), PASSWORD, &[]);
    assert_eq!(r.first(), "kdc-unreachable", "{}", r.describe());
    assert_eq!(r.json["findings"][0]["severity"], "warning");
    assert_eq!(
        r.json["facts"]["auth"]["package"],
        "NTLM",
        "{}",
        r.describe()
    );
    assert_eq!(r.json["facts"]["auth"]["outcome"], "success");
    assert_eq!(
        r.json["facts"]["auth"]["kerberos_unavailable"],
        "kdc-unreachable"
    );
    assert!(
        r.took < Duration::from_secs(5),
        "a refused KDC costs no time-out: {:?}",
        r.took
    );
    // Kerberos only: an error
    let r = check_user(
        &realm,
        &s,
        &format!("alice@{REALM}"),
        PASSWORD,
        &["--auth", "kerberos"],
    );
    assert_eq!(r.first(), "kdc-unreachable", "{}", r.describe());
    assert_eq!(r.json["findings"][0]["severity"], "error");
    assert_eq!(r.code, 2);
}

#[test]
fn a_missing_spn_is_reported_and_negotiate_uses_ntlm() {
    let (realm, s) = setup(true);
    realm.kadmin("delprinc -force TERMSRV/localhost").unwrap();
    let r = check_user(&realm, &s, &format!("alice@{REALM}"), PASSWORD, &[]);
    assert_eq!(r.first(), "spn-unknown", "{}", r.describe());
    assert_eq!(
        r.json["facts"]["auth"]["outcome"],
        "success",
        "{}",
        r.describe()
    );
    assert_eq!(r.json["verdict"], "degraded");
    let r = check_user(
        &realm,
        &s,
        &format!("alice@{REALM}"),
        PASSWORD,
        &["--auth", "kerberos"],
    );
    assert_eq!(r.first(), "spn-unknown", "{}", r.describe());
    assert_eq!(r.code, 2);
}

#[test]
fn a_kdc_clock_ten_minutes_ahead_is_clock_skew() {
    let (mut realm, s) = setup(true);
    realm
        .start_kdc(Some("+600s"))
        .unwrap_or_else(|e| panic!("faketime krb5kdc: {e}"));
    let r = check_user(&realm, &s, &format!("alice@{REALM}"), PASSWORD, &[]);
    assert_eq!(r.first(), "clock-skew", "{}", r.describe());
    assert_eq!(r.json["findings"][0]["severity"], "error");
    let skew = r.json["facts"]["kdc"]["clock_skew_seconds"]
        .as_f64()
        .unwrap();
    assert!((590.0..610.0).contains(&skew), "skew {skew}");
    // without credentials: the same skew from the KDC's answer to the probe
    let target = format!("localhost:{}", s.port());
    let r = check(&target, &["--realm", REALM, "--kdc", &realm.kdc_arg()]);
    assert_eq!(r.first(), "clock-skew", "{}", r.describe());
}

#[test]
fn an_expired_password_and_a_disabled_account() {
    let (realm, s) = setup(true);
    let r = check_user(&realm, &s, &format!("carol@{REALM}"), PASSWORD, &[]);
    assert_eq!(r.first(), "password-expired", "{}", r.describe());
    let r = check_user(&realm, &s, &format!("dave@{REALM}"), PASSWORD, &[]);
    // MIT sends no [MS-KILE] extended error: disabled, expired and locked look the same.
    assert_eq!(r.first(), "account-revoked", "{}", r.describe());
    assert!(r.json["findings"][0]["evidence"]
        .to_string()
        .contains("KDC_ERR_CLIENT_REVOKED"));
}

#[test]
fn an_account_with_only_an_rc4_key_has_no_common_encryption_type() {
    let (realm, s) = setup(true);
    let r = check_user(
        &realm,
        &s,
        &format!("frank@{REALM}"),
        PASSWORD,
        &["--auth", "kerberos"],
    );
    assert_eq!(r.first(), "etype-not-supported", "{}", r.describe());
    assert_eq!(r.code, 2);
    // negotiate: NTLM works for frank, Kerberos does not: a warning
    let r = check_user(&realm, &s, &format!("frank@{REALM}"), PASSWORD, &[]);
    assert_eq!(r.first(), "etype-not-supported", "{}", r.describe());
    assert_eq!(r.json["findings"][0]["severity"], "warning");
    assert!(
        r.json["findings"][0]["evidence"]
            .to_string()
            .contains("rc4-hmac"),
        "{}",
        r.describe()
    );
}

#[test]
fn ntlm_disabled_on_the_server_and_an_ip_target() {
    // No SAM: the server refuses every NTLM logon; typed as an IP, Kerberos cannot be used.
    let (realm, s) = setup(false);
    let dir = TempDir::new("krb-pw").expect("dir");
    let pwf = password_file(&dir, PASSWORD);
    let ip_target = format!("127.0.0.1:{}", s.port());
    let user = format!("alice@{REALM}");
    let kdc = realm.kdc_arg();
    let r = check(
        &ip_target,
        &["--user", &user, "--password-file", &pwf, "--kdc", &kdc],
    );
    assert_eq!(r.first(), "ntlm-refused-after-kerberos", "{}", r.describe());
    assert!(
        r.ids().contains(&"kerberos-target-is-ip".to_string()),
        "{}",
        r.describe()
    );
    assert_eq!(r.code, 2);
    // by name, Kerberos works and NTLM is not needed
    let r = check_user(&realm, &s, &user, PASSWORD, &[]);
    assert_eq!(r.code, 0, "{}", r.describe());
    assert_eq!(r.json["facts"]["auth"]["package"], "Kerberos");
}

/// The tests' DNS responder with SRV records for the realm.
fn dnsd(realm: &Realm) -> (GroupChild, u16, TempDir) {
    let port = support::ports::free_port().expect("port");
    let dir = TempDir::new(&format!("dnsd-{port}")).expect("dir");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/lab/dnsd.py");
    let log = std::fs::File::create(dir.join("dnsd.log")).expect("log");
    let mut cmd = Command::new("python3");
    cmd.arg(script)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args([
            "--srv",
            &format!(
                "_kerberos._tcp.{REALM}=0:100:{}:kdc1.rdpdoc.test",
                realm.port
            ),
            "--srv",
            &format!(
                "_kerberos._udp.{REALM}=0:100:{}:kdc1.rdpdoc.test",
                realm.port
            ),
            "--record",
            "kdc1.rdpdoc.test=127.0.0.1",
        ])
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("dup"))
        .stderr(log);
    let child = GroupChild::spawn("dnsd.py", cmd).expect("dnsd.py starts (python3: .ci/run)");
    let t0 = Instant::now();
    while !support::process::read_text(&dir.join("dnsd.log")).contains("ready") {
        assert!(t0.elapsed() < Duration::from_secs(10), "dnsd.py not ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, port, dir)
}

#[test]
fn kdcs_are_found_through_dns_srv_with_the_tests_own_dns_server() {
    let (realm, s) = setup(true);
    let (_dns, port, dir) = dnsd(&realm);
    let dns = format!("127.0.0.1:{port}");
    let pwdir = TempDir::new("krb-pw").expect("dir");
    let pwf = password_file(&pwdir, PASSWORD);
    let target = format!("localhost:{}", s.port());
    let user = format!("alice@{REALM}");
    let r = check(
        &target,
        &[
            "--user",
            &user,
            "--password-file",
            &pwf,
            "--dns-server",
            &dns,
        ],
    );
    assert_eq!(r.code, 0, "{}", r.describe());
    let k = &r.json["facts"]["kdc"];
    assert_eq!(k["discovery"]["method"], "dns-srv", "{}", r.describe());
    assert_eq!(k["kdcs"][0]["host"], "kdc1.rdpdoc.test");
    assert_eq!(k["kdcs"][0]["source"], "srv");
    assert_eq!(k["kdcs"][0]["tcp"]["outcome"], "answered");
    assert_eq!(k["kdcs"][0]["udp"]["outcome"], "answered");
    let log = support::process::read_text(&dir.join("dnsd.log"));
    assert!(
        log.contains(&format!(
            "query _kerberos._tcp.{} 33 -> 0 1",
            REALM.to_lowercase()
        )),
        "{log}"
    );
    assert!(log.contains("query kdc1.rdpdoc.test 1 -> 0 1"), "{log}");

    // Without credentials: the realm from --realm, the KDC from SRV, nothing wrong.
    let r = check(&target, &["--realm", REALM, "--dns-server", &dns]);
    let kdc = r.phase("kdc").expect("kdc phase");
    assert_eq!(kdc["status"], "ok", "{}", r.describe());
    assert!(r.ids().is_empty(), "{}", r.describe());
    // A realm without SRV records: no KDC found.
    let r = check(&target, &["--realm", "NOWHERE.TEST", "--dns-server", &dns]);
    assert_eq!(r.first(), "kdc-not-found", "{}", r.describe());
    // An IP target in a realm whose KDC answers: Kerberos cannot be used.
    let r = check(
        &format!("127.0.0.1:{}", s.port()),
        &["--realm", REALM, "--dns-server", &dns],
    );
    assert_eq!(r.first(), "kerberos-target-is-ip", "{}", r.describe());
}

#[test]
fn a_server_with_a_stale_key_refuses_the_ticket() {
    // The KDC gets a new key for TERMSRV/localhost; the server's keytab keeps the old one (a
    // restored snapshot, a keytab not exported again). The KDC is happy, the server is not.
    let (realm, s) = setup(true);
    realm.kadmin("cpw -randkey TERMSRV/localhost").unwrap();
    let r = check_user(&realm, &s, &format!("alice@{REALM}"), PASSWORD, &[]);
    assert_eq!(r.first(), "kerberos-refused-by-server", "{}", r.describe());
    assert_eq!(r.code, 2);
    let k = &r.json["facts"]["auth"]["kerberos"];
    assert_eq!(k["mutual_authentication"], false, "{}", r.describe());
    // FreeRDP 3.10 answers a ticket it cannot decrypt with a token of zeros
    assert!(
        k["zero_token_bytes"].as_u64().is_some() || k["server_error_code"].as_i64().is_some(),
        "{k}"
    );
    // the TGS exchange itself succeeded
    let tgs = kdc_exchanges(&r)
        .into_iter()
        .find(|e| e["step"] == "tgs")
        .expect("tgs");
    assert_eq!(tgs["reply"]["outcome"], "ticket");
}
