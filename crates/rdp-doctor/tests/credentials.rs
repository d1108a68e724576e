//! The credentialed check (`check --user`, issue 5) against real servers and the lab:
//!
//! * FreeRDP 2.11 shadow server, `/sec:nla`, SAM with labuser / LabPass1! and LAB\labuser2 /
//!   Other2@ (real CredSSP/NTLM): right password accepted, wrong password and unknown user
//!   rejected the way FreeRDP rejects them (it closes after the NTLM AUTHENTICATE and sends no
//!   errorCode), `--full` through to the Demand Active PDU;
//! * FreeRDP 3 shadow server (`freerdp-shadow-cli3`): a wrong password gets errorCode 0xC00700EA
//!   after the AUTHENTICATE, diagnosed as `logon-failure` (issue 16 §4);
//! * xfreerdp 2.11 `+auth-only` against `rdp-doctor lab --fault healthy`: exit 0 with the lab
//!   account, ERRCONNECT_LOGON_FAILURE (exit 134) with a wrong password;
//! * the password-safety rule: a known password, given through the environment and through a
//!   password file, appears in no output format, no stderr, no JSON and no process argv.
//!
//! The password reaches xfreerdp through its `/p:` argument only (its one way to take it), in
//! `support::tools::xfreerdp_auth_only`; rdp-doctor itself never takes one on the command line.
// Failing loudly is the point of a test: panics with context are intended here.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

mod support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::certs;
use support::shadow::{ShadowConfig, ShadowServer, LAB_PASSWORD, LAB_USER, LAB_USER2};
use support::tools;

const BIN: &str = env!("CARGO_BIN_EXE_rdp-doctor");

/// A password that appears nowhere else: if it shows up in any output, it leaked.
const KNOWN_WRONG: &str = "Kn0wn-Wr0ng-Pa55word!";

fn timing(what: &str, d: Duration) {
    println!("[timing] {what}: {:.1} ms", d.as_secs_f64() * 1000.0);
}

mod labproc;
use labproc::Lab;

/// Where the password comes from in one run.
#[derive(Clone, Copy, Debug)]
enum Source<'a> {
    Env(&'a str),
    File(&'a std::path::Path),
}

/// What one `check` run produced, and the argv seen in /proc while it ran.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    argv_seen: Vec<String>,
    took: Duration,
}

impl Run {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("no JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
}

/// Runs `rdp-doctor check TARGET ARGS` with the password from `source`, reading the child's
/// /proc/PID/cmdline while it runs.
fn check(target: &str, args: &[&str], source: Source<'_>) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.arg("check")
        .arg(target)
        .args([
            "--timeout",
            "3",
            "--no-udp",
            "--no-enumerate",
            "--color",
            "never",
        ])
        .args(args)
        .env_remove("RDP_DOCTOR_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match source {
        Source::Env(p) => {
            cmd.env("RDP_DOCTOR_PASSWORD", p);
        }
        Source::File(f) => {
            cmd.arg("--password-file").arg(f);
        }
    }
    let t0 = Instant::now();
    let mut child = cmd.spawn().expect("check starts");
    let pid = child.id();
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut o = String::new();
        let mut e = String::new();
        let _ = out.read_to_string(&mut o);
        let _ = err.read_to_string(&mut e);
        (o, e)
    });
    let mut argv_seen = Vec::new();
    loop {
        if let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            if !raw.is_empty() {
                argv_seen.push(String::from_utf8_lossy(&raw).replace('\0', " "));
            }
        }
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let status = child.wait().expect("exit");
    let (stdout, stderr) = reader.join().expect("reader");
    Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
        argv_seen,
        took: t0.elapsed(),
    }
}

fn assert_no_secret(run: &Run, secret: &str, what: &str) {
    assert!(
        !run.stdout.contains(secret),
        "{what}: password in stdout:\n{}",
        run.stdout
    );
    assert!(
        !run.stderr.contains(secret),
        "{what}: password in stderr:\n{}",
        run.stderr
    );
    assert!(
        !run.argv_seen.is_empty(),
        "{what}: /proc/PID/cmdline never read"
    );
    for a in &run.argv_seen {
        assert!(!a.contains(secret), "{what}: password in argv: {a}");
    }
}

fn start_shadow(cfg: ShadowConfig) -> ShadowServer {
    let s = ShadowServer::start(cfg).unwrap_or_else(|e| panic!("shadow did not start: {e}"));
    timing("shadow start", s.startup());
    s
}

fn shadow_target(s: &ShadowServer) -> String {
    format!("127.0.0.1:{}", s.port())
}

fn ca_arg() -> String {
    certs::lab().ca.display().to_string()
}

#[test]
fn shadow_nla_accepts_and_rejects_credentials() {
    let s = start_shadow(ShadowConfig::new("nla").user(LAB_USER2.0, LAB_USER2.1, LAB_USER2.2));
    let target = shadow_target(&s);
    let ca = ca_arg();
    let base = ["--ca", ca.as_str(), "--format", "json", "--user"];

    // right password
    let r = check(
        &target,
        &[&base[..], &[LAB_USER]].concat(),
        Source::Env(LAB_PASSWORD),
    );
    timing("check --user vs shadow, right password", r.took);
    let v = r.json();
    let a = &v["facts"]["auth"];
    assert_eq!(a["outcome"], "success", "{a:#}\n{}", s.log());
    assert_eq!(a["selected_protocol"], "HYBRID");
    assert_eq!(a["credentials_delegated"], true);
    assert_eq!(a["trust_basis"], "trusted-certificate");
    assert!(
        !v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["phase"] == "auth"),
        "{:#}",
        v["findings"]
    );
    assert!(
        !s.log().contains("client authentication failure"),
        "{}",
        s.log()
    );

    // wrong password: FreeRDP closes after the AUTHENTICATE, with no errorCode
    let r = check(
        &target,
        &[&base[..], &[LAB_USER]].concat(),
        Source::Env(KNOWN_WRONG),
    );
    timing("check --user vs shadow, wrong password", r.took);
    let v = r.json();
    let a = &v["facts"]["auth"];
    assert_eq!(a["outcome"], "dropped", "{a:#}");
    assert_eq!(a["round"], "authenticate");
    assert!(a["error_code"].is_null());
    assert_eq!(v["findings"][0]["id"], "logon-failure");
    assert_eq!(r.code, 2);
    assert!(
        s.wait_for_log("client authentication failure", Duration::from_secs(2)),
        "{}",
        s.log()
    );
    assert_no_secret(&r, KNOWN_WRONG, "shadow wrong password");

    // unknown user: the same observable
    let r = check(
        &target,
        &[&base[..], &["nosuchuser"]].concat(),
        Source::Env(LAB_PASSWORD),
    );
    let v = r.json();
    assert_eq!(v["facts"]["auth"]["outcome"], "dropped");
    assert_eq!(v["findings"][0]["id"], "logon-failure");

    // DOMAIN\user
    let who = format!("{}\\{}", LAB_USER2.1, LAB_USER2.0);
    let r = check(
        &target,
        &[&base[..], &[who.as_str()]].concat(),
        Source::Env(LAB_USER2.2),
    );
    let v = r.json();
    assert_eq!(
        v["facts"]["auth"]["outcome"],
        "success",
        "{:#}\n{}",
        v["facts"]["auth"],
        s.log()
    );
    assert_eq!(v["facts"]["auth"]["user"], "LAB\\labuser2");
}

/// Issue 16 §4 against FreeRDP 3's shadow server (`freerdp-shadow-cli3`, Debian
/// bookworm-backports freerdp3-shadow-x11): it answers a wrong password's AUTHENTICATE with
/// TSRequest errorCode 0xC00700EA (its log: "AcceptSecurityContext failed with
/// SEC_E_MESSAGE_ALTERED"), a code that names no logon problem. What it refused is the password
/// proof, so the finding is `logon-failure` with the code as evidence; the right password passes.
#[test]
fn shadow3_wrong_password_is_a_logon_failure() {
    let s = start_shadow(ShadowConfig::new("nla").program("freerdp-shadow-cli3"));
    let target = shadow_target(&s);
    let ca = ca_arg();
    let base = ["--ca", ca.as_str(), "--format", "json", "--user"];

    let r = check(
        &target,
        &[&base[..], &[LAB_USER]].concat(),
        Source::Env(LAB_PASSWORD),
    );
    timing("check --user vs shadow 3, right password", r.took);
    let v = r.json();
    let a = &v["facts"]["auth"];
    assert_eq!(a["outcome"], "success", "{a:#}\n{}", s.log());

    let r = check(
        &target,
        &[&base[..], &[LAB_USER]].concat(),
        Source::Env(KNOWN_WRONG),
    );
    timing("check --user vs shadow 3, wrong password", r.took);
    let v = r.json();
    let a = &v["facts"]["auth"];
    assert_eq!(a["outcome"], "server-error", "{a:#}\n{}", s.log());
    assert_eq!(a["round"], "authenticate", "{a:#}");
    assert_eq!(a["error_code"], 0xC007_00EA_u32, "{a:#}");
    let f = &v["findings"][0];
    assert_eq!(f["id"], "logon-failure", "{:#}", v["findings"]);
    let ev = f["evidence"].to_string();
    assert!(ev.contains("0xC00700EA"), "{ev}");
    assert_eq!(r.code, 2);
    assert_no_secret(&r, KNOWN_WRONG, "shadow 3 wrong password");
}

/// --full against the shadow server: MCS, channels, Client Info and licensing to its Demand
/// Active PDU (a real server's, decoded by our codec).
#[test]
fn shadow_full_reaches_demand_active() {
    let s = start_shadow(ShadowConfig::new("nla"));
    let ca = ca_arg();
    let r = check(
        &shadow_target(&s),
        &[
            "--ca", &ca, "--format", "json", "--user", LAB_USER, "--full",
        ],
        Source::Env(LAB_PASSWORD),
    );
    timing("check --user --full vs shadow", r.took);
    let v = r.json();
    let act = &v["facts"]["activation"];
    assert_eq!(act["outcome"], "demand-active", "{act:#}\n{}", s.log());
    assert_eq!(v["facts"]["mcs"]["outcome"], "connected");
    assert!(
        act["licensing"]
            .as_str()
            .unwrap()
            .contains("STATUS_VALID_CLIENT"),
        "{act:#}"
    );
    assert!(
        act["capabilities"].as_array().unwrap().len() >= 5,
        "{act:#}"
    );
    assert!(act["desktop"].is_string());
    println!("shadow Demand Active: {act:#}");
}

#[test]
fn xfreerdp_auth_only_against_the_lab() {
    let lab = Lab::one("healthy");
    let t0 = Instant::now();
    let ok = tools::xfreerdp_auth_only("127.0.0.1", lab.port, "labuser", "", "LabPass1!", &[])
        .expect("xfreerdp runs");
    timing("xfreerdp +auth-only vs lab, right password", t0.elapsed());
    assert!(ok.success(), "{}\nlab log:\n{}", ok.describe(), lab.log());
    assert!(
        ok.output.contains("Authentication only, exit status 0"),
        "{}",
        ok.describe()
    );
    assert!(lab.log().contains("finalization sent"), "{}", lab.log());

    let bad = tools::xfreerdp_auth_only("127.0.0.1", lab.port, "labuser", "", KNOWN_WRONG, &[])
        .expect("xfreerdp runs");
    // FreeRDP client/X11/xfreerdp.h (enum XF_EXIT_CODE): 134 = XF_EXIT_LOGON_FAILURE, driven by the errorCode
    assert_eq!(bad.code, Some(134), "{}", bad.describe());
    assert!(
        bad.output.contains("ERRCONNECT_LOGON_FAILURE [0x00020014]"),
        "{}",
        bad.describe()
    );
    assert!(
        bad.output.contains("STATUS_LOGON_FAILURE [0xC000006D]"),
        "{}",
        bad.describe()
    );
}

/// The same check, every output format, both password sources, right and wrong credentials,
/// against the lab and the shadow server: the password never appears.
#[test]
fn the_password_never_appears() {
    let lab = Lab::one("healthy");
    let shadow = start_shadow(ShadowConfig::new("nla"));
    let dir = support::tmp::TempDir::new("creds-pw").expect("temp dir");
    let lab_target = format!("127.0.0.1:{}", lab.port);
    let lab_ca = lab.ca().display().to_string();
    let shadow_target = shadow_target(&shadow);
    let shadow_ca = ca_arg();
    let mut runs = 0;
    for (target, ca, right) in [
        (&lab_target, &lab_ca, "LabPass1!"),
        (&shadow_target, &shadow_ca, LAB_PASSWORD),
    ] {
        for password in [right, KNOWN_WRONG] {
            let file = dir.join("password.txt");
            std::fs::write(&file, format!("{password}\n")).expect("write");
            for source in [Source::Env(password), Source::File(&file)] {
                for format in ["human", "json", "nagios"] {
                    for full in [false, true] {
                        let mut args =
                            vec!["--ca", ca.as_str(), "--format", format, "--user", "labuser"];
                        if full {
                            args.push("--full");
                        }
                        let r = check(target, &args, source);
                        runs += 1;
                        let what = format!("{target} {format} {source:?} full={full}");
                        assert!(
                            (0..=2).contains(&r.code),
                            "{what}: exit {} {}",
                            r.code,
                            r.stderr
                        );
                        assert_no_secret(&r, password, &what);
                        if format == "json" {
                            let v = r.json();
                            let want = if password == right {
                                "success"
                            } else if target == &lab_target {
                                "server-error"
                            } else {
                                "dropped"
                            };
                            assert_eq!(v["facts"]["auth"]["outcome"], want, "{what}");
                        }
                    }
                }
            }
            // the insecure override and a refused gate (no --ca) too
            let r = check(
                target,
                &[
                    "--format",
                    "json",
                    "--user",
                    "labuser",
                    "--insecure-send-credentials",
                ],
                Source::Env(password),
            );
            assert_no_secret(&r, password, "insecure");
            let r = check(
                target,
                &["--format", "human", "--user", "labuser"],
                Source::Env(password),
            );
            assert!(r.stdout.contains("credentials not sent"), "{}", r.stdout);
            assert_no_secret(&r, password, "gate refused");
            runs += 2;
        }
    }
    // the lab's own log shows who logged on, never the password
    assert!(
        !lab.log().contains("LabPass1!") && !lab.log().contains(KNOWN_WRONG),
        "{}",
        lab.log()
    );
    println!("password-safety runs: {runs}");
    assert_eq!(runs, 2 * 2 * (2 * 3 * 2 + 2));
}
