//! `check --gateway` through the CLI against the lab gateway: every gateway fault gives the
//! first finding and verdict its table row names; through a healthy gateway the target's
//! findings are those of a direct check; xrdp and the FreeRDP shadow server behind the lab
//! gateway the same. A plain check's JSON has no gateway fields.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod fleet_common;
mod labproc;
mod support;

use labproc::{Lab, BIN};
use rdp_doctor::lab::gateway::{Needs, FAULTS};
use std::collections::HashMap;
use std::process::{Command, Stdio};

/// `check TARGET [--gateway GW] --ca CA --format json --timeout 2 --no-udp --no-enumerate
/// [--user labuser]`, the password (or the token) through the environment.
fn check(
    target: &str,
    gateway: Option<&str>,
    ca: &std::path::Path,
    needs: Needs,
) -> serde_json::Value {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "check",
        target,
        "--format",
        "json",
        "--timeout",
        "2",
        "--no-udp",
        "--no-enumerate",
    ])
    .arg("--ca")
    .arg(ca)
    .env_remove("RDP_DOCTOR_GATEWAY_TOKEN")
    .stdin(Stdio::null());
    if let Some(g) = gateway {
        cmd.args(["--gateway", g]);
    }
    match needs {
        Needs::Token => {
            cmd.env("RDP_DOCTOR_GATEWAY_TOKEN", "not-the-lab-token");
        }
        _ => {
            cmd.args(["--user", "labuser"])
                .env("RDP_DOCTOR_PASSWORD", "LabPass1!");
        }
    }
    let out = cmd.output().expect("check runs");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn ids(report: &serde_json::Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_gateway_fault_gives_its_first_finding_through_the_cli() {
    let names: Vec<&str> = FAULTS.iter().map(|f| f.name).collect();
    let lab = Lab::with_gateways(&["healthy"], &names);
    let target = format!("127.0.0.1:{}", lab.ports["healthy"]);
    let jobs: Vec<_> = FAULTS.iter().collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let wrong = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|sc| {
        for _ in 0..4 {
            sc.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(f) = jobs.get(i) else { break };
                // WebSocket works on this fault, so a client (and the check) never needs the
                // legacy IN channel it breaks: nothing to report.
                if f.name == "gateway-in-channel-refused" {
                    continue;
                }
                let gw = format!("127.0.0.1:{}", lab.gateways[f.name]);
                let r = check(&target, Some(&gw), &lab.ca(), f.needs);
                let got = ids(&r);
                let verdict = r["verdict"].as_str().unwrap_or("").to_string();
                let want_verdict = f.verdict.as_str();
                if got.first().map(String::as_str) != f.first_finding || verdict != want_verdict {
                    wrong.lock().unwrap().push(format!(
                        "{}: expected {:?} ({want_verdict}), got {got:?} ({verdict}); phases {}",
                        f.name, f.first_finding, r["phases"]
                    ));
                }
                if f.first_finding.is_some()
                    && f.verdict != rdp_doctor::model::Verdict::Healthy
                    && r["failing_side"].as_str().is_none()
                {
                    wrong
                        .lock()
                        .unwrap()
                        .push(format!("{}: no failing_side", f.name));
                }
            });
        }
    });
    let wrong = wrong.into_inner().unwrap();
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

/// Finding ids that belong to the target (not the gateway).
fn target_ids(r: &serde_json::Value) -> Vec<String> {
    ids(r)
        .into_iter()
        .filter(|i| !i.starts_with("gateway-"))
        .collect()
}

/// (A target's reset reaches the client as the gateway closing the channel, so faults that
/// differ only in RST vs FIN are not compared.)
#[test]
fn a_healthy_gateway_shows_the_same_target_findings_as_a_direct_check() {
    let rdp = [
        "healthy",
        "cert-expired",
        "credssp-outdated-server",
        "server-denied-connection",
        "logon-failure",
    ];
    let lab = Lab::with_gateways(&rdp, &["healthy"]);
    let gw = format!("127.0.0.1:{}", lab.gateways["healthy"]);
    for f in rdp {
        let target = format!("127.0.0.1:{}", lab.ports[f]);
        let direct = check(&target, None, &lab.ca(), Needs::User);
        let through = check(&target, Some(&gw), &lab.ca(), Needs::User);
        assert_eq!(
            target_ids(&through),
            target_ids(&direct),
            "{f}: through the gateway {} vs direct {}",
            through["phases"],
            direct["phases"]
        );
        assert_eq!(through["verdict"], direct["verdict"], "{f}");
        assert!(direct.get("failing_side").is_none());
        assert!(direct["facts"].get("gateway").is_none());
        if through["verdict"] != "healthy" {
            assert_eq!(through["failing_side"], "the target", "{f}");
        }
    }
}

#[test]
fn xrdp_and_the_shadow_server_behind_the_lab_gateway_look_as_they_do_directly() {
    let lab = Lab::with_gateways(&[], &["healthy"]);
    let gw = format!("127.0.0.1:{}", lab.gateways["healthy"]);
    let x = support::xrdp::XrdpServer::start(support::xrdp::XrdpConfig::new("tls"))
        .expect("xrdp starts");
    let s = support::shadow::ShadowServer::start(support::shadow::ShadowConfig::new("nla"))
        .expect("shadow starts");
    for (name, port) in [("xrdp", x.port()), ("shadow", s.port())] {
        let target = format!("127.0.0.1:{port}");
        let direct = check(&target, None, &lab.ca(), Needs::User);
        let through = check(&target, Some(&gw), &lab.ca(), Needs::User);
        assert_eq!(
            target_ids(&through),
            target_ids(&direct),
            "{name}: through {} vs direct {}",
            through["phases"],
            direct["phases"]
        );
        assert_eq!(
            through["facts"]["gateway"]["tunnel"]["outcome"], "open",
            "{name}"
        );
    }
}

/// The .rdp file's gateway keys: gatewayhostname with gatewayusagemethod 1, and its
/// gatewayaccesstoken as the PAA token (read on its own, never kept in the parsed file).
#[test]
fn the_rdp_files_gateway_and_access_token_are_used() {
    let lab = Lab::with_gateways(&["healthy"], &["healthy"]);
    let dir = support::tmp::TempDir::new("gwrdp").expect("temp dir");
    let file = dir.join("gw.rdp");
    std::fs::write(
        &file,
        format!(
            "full address:s:127.0.0.1:{}\r\ngatewayhostname:s:127.0.0.1:{}\r\ngatewayusagemethod:i:1\r\ngatewayaccesstoken:s:{}\r\n",
            lab.ports["healthy"],
            lab.gateways["healthy"],
            rdp_doctor::lab::gateway::LAB_TOKEN
        ),
    )
    .expect("write .rdp");
    let out = Command::new(BIN)
        .args(["check", "--format", "json", "--timeout", "2"])
        .arg("--rdp-file")
        .arg(&file)
        .arg("--ca")
        .arg(lab.ca())
        .env_remove("RDP_DOCTOR_GATEWAY_TOKEN")
        .stdin(Stdio::null())
        .output()
        .expect("check runs");
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(r["facts"]["gateway"]["auth"]["scheme"], "PAA", "{r}");
    assert_eq!(r["facts"]["gateway"]["tunnel"]["outcome"], "open", "{r}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(rdp_doctor::lab::gateway::LAB_TOKEN),
        "the token is never printed"
    );
}

/// `scan --gateway`: every target through one gateway, the gateway's password from the
/// environment (never argv); a target behind a gateway that refuses it by policy is reported
/// with the gateway's finding, the others with their own.
#[test]
fn scan_reaches_every_target_through_the_gateway() {
    let lab = Lab::with_gateways(
        &["healthy", "cert-expired"],
        &["healthy", "gateway-rap-denied"],
    );
    let targets = [
        format!("127.0.0.1:{}", lab.ports["healthy"]),
        format!("127.0.0.1:{}", lab.ports["cert-expired"]),
    ];
    let scan = |gw: &str| -> Vec<serde_json::Value> {
        let out = Command::new(BIN)
            .arg("scan")
            .args(&targets)
            .args([
                "--format",
                "jsonl",
                "--quick",
                "--no-progress",
                "--timeout",
                "2",
            ])
            .arg("--ca")
            .arg(lab.ca())
            .args(["--gateway", &format!("127.0.0.1:{}", lab.gateways[gw])])
            .args(["--gateway-user", "labuser"])
            .env("RDP_DOCTOR_GATEWAY_PASSWORD", "LabPass1!")
            .stdin(Stdio::null())
            .output()
            .expect("scan runs");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(!text.contains("LabPass1!"), "the password leaked: {text}");
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    };
    let first = |v: &serde_json::Value| -> String {
        v["report"]["findings"][0]["id"]
            .as_str()
            .or_else(|| v["findings"][0]["id"].as_str())
            .unwrap_or("-")
            .to_string()
    };
    let healthy = scan("healthy");
    assert_eq!(healthy.len(), 2, "{healthy:?}");
    let by_target: HashMap<String, String> =
        healthy.iter().map(|v| (v.to_string(), first(v))).collect();
    assert!(
        by_target.values().any(|f| f == "cert-expired"),
        "the expired certificate behind the gateway: {healthy:?}"
    );
    let phases = healthy[0].to_string();
    assert!(
        phases.contains("gw-tunnel"),
        "the gateway's phases ran: {phases}"
    );
    let denied = scan("gateway-rap-denied");
    assert_eq!(denied.len(), 2);
    for v in &denied {
        assert_eq!(first(v), "gateway-rap-denied", "{v}");
    }
}

/// An exporter module with `gateway` probes its targets through it; the gateway's password
/// lives in a credentials file, never in the configuration.
#[test]
fn an_exporter_module_probes_through_its_gateway() {
    let lab = Lab::with_gateways(&["healthy"], &["healthy", "gateway-cap-denied"]);
    let dir = support::tmp::TempDir::new("gwexporter").expect("temp dir");
    std::fs::copy(lab.ca(), dir.join("ca.pem")).expect("ca");
    let creds = dir.join("gw-creds.toml");
    std::fs::write(&creds, "username = \"labuser\"\npassword = \"LabPass1!\"\n").expect("creds");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let config = dir.join("exporter.toml");
    std::fs::write(
        &config,
        format!(
            r#"
max_concurrent_probes = 2
[allow]
cidrs = ["127.0.0.0/8"]
ports = [{rdp}]
[modules.via_gw]
depth = "quick"
timeout = 10
ca_file = "ca.pem"
gateway = "127.0.0.1:{ok}"
gateway_credentials_file = "gw-creds.toml"
[modules.via_denying_gw]
depth = "quick"
timeout = 10
ca_file = "ca.pem"
gateway = "127.0.0.1:{denied}"
gateway_credentials_file = "gw-creds.toml"
"#,
            rdp = lab.ports["healthy"],
            ok = lab.gateways["healthy"],
            denied = lab.gateways["gateway-cap-denied"],
        ),
    )
    .expect("config");
    let exp = fleet_common::Exporter::start(&config);
    let target = format!("127.0.0.1:{}", lab.ports["healthy"]);
    let (status, body) = fleet_common::http_get(
        &exp.addr,
        &format!("/probe?target={target}&module=via_gw"),
        &[],
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        fleet_common::sample(&body, "probe_success"),
        Some(1.0),
        "{body}"
    );
    assert!(body.contains("phase=\"gw-tunnel\""), "{body}");
    let (status, body) = fleet_common::http_get(
        &exp.addr,
        &format!("/probe?target={target}&module=via_denying_gw"),
        &[],
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        fleet_common::sample(&body, "probe_success"),
        Some(0.0),
        "{body}"
    );
    assert!(body.contains("id=\"gateway-cap-denied\""), "{body}");
    assert!(!body.contains("LabPass1!"));
}

/// Basic, where it is all a gateway offers: sent to a gateway whose certificate verified (the
/// check through it is healthy), never to one that did not — not even with
/// --insecure-send-credentials, which covers NTLM (a hash exchange), not the password itself.
#[test]
fn basic_goes_only_to_a_verified_gateway() {
    let lab = Lab::with_gateways(&["healthy"], &["gateway-basic-only"]);
    let target = format!("127.0.0.1:{}", lab.ports["healthy"]);
    let gw = format!("127.0.0.1:{}", lab.gateways["gateway-basic-only"]);
    let r = check(&target, Some(&gw), &lab.ca(), Needs::User);
    assert_eq!(r["verdict"], "healthy", "{}", r["findings"]);
    assert_eq!(r["facts"]["gateway"]["auth"]["scheme"], "Basic");
    assert_eq!(r["facts"]["gateway"]["auth"]["outcome"], "accepted");

    // Not verified: the system roots do not know the lab CA.
    let out = Command::new(BIN)
        .args([
            "check",
            &target,
            "--gateway",
            &gw,
            "--format",
            "json",
            "--timeout",
            "2",
            "--no-udp",
            "--no-enumerate",
            "--insecure-send-credentials",
            "--user",
            "labuser",
        ])
        .env("RDP_DOCTOR_PASSWORD", "LabPass1!")
        .stdin(Stdio::null())
        .output()
        .expect("check runs");
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        r["facts"]["gateway"]["auth"]["outcome"], "not-sent",
        "{}",
        r["facts"]["gateway"]
    );
    assert!(
        ids(&r).iter().any(|i| i == "gateway-credentials-not-sent"),
        "{:?}",
        ids(&r)
    );
}
