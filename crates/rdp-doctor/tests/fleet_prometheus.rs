//! A real Prometheus (Debian's `prometheus` package) scrapes `rdp-doctor serve` against lab
//! endpoints; the test reads the results back through Prometheus's HTTP API. The shipped
//! alert rules pass `promtool check rules` / `promtool test rules` and, loaded into that
//! Prometheus, go pending for the expired-certificate endpoint.
//!
//! Without the prometheus binaries the tests fail (never skip): `.ci/run` installs them.
#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

mod fleet_common;
mod labproc;
use fleet_common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where this test's Prometheus listens: a port the kernel just handed out (and released), so
/// it cannot collide with a fixed port another program or test holds.
fn prom_addr() -> &'static str {
    static ADDR: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ADDR.get_or_init(|| {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        l.local_addr().expect("addr").to_string()
    })
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/prometheus")
}

fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        panic!("{name} is not installed (apt-get install prometheus; .ci/run does)");
    }
    found
}

#[test]
fn the_shipped_rules_and_config_pass_promtool() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let dir = examples();
    for args in [
        vec!["check", "rules", "rdp-doctor-alerts.yml"],
        vec!["test", "rules", "rdp-doctor-alerts_test.yml"],
        vec!["check", "config", "prometheus.yml"],
    ] {
        let out = Command::new(&promtool)
            .args(&args)
            .current_dir(&dir)
            .output()
            .expect("promtool runs");
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn api(path: &str) -> serde_json::Value {
    let (status, body) = http_get(prom_addr(), path, &[]);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// instance -> value of an instant query.
fn query(q: &str) -> Vec<(String, f64)> {
    let v = api(&format!("/api/v1/query?query={q}"));
    v["data"]["result"]
        .as_array()
        .expect("result")
        .iter()
        .map(|r| {
            (
                r["metric"]["instance"].as_str().unwrap_or("").to_string(),
                r["value"][1]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(f64::NAN),
            )
        })
        .collect()
}

fn value_of(rows: &[(String, f64)], instance: &str) -> Option<f64> {
    rows.iter().find(|(i, _)| i == instance).map(|(_, v)| *v)
}

#[test]
fn prometheus_scrapes_the_exporter_and_the_alerts_go_pending() {
    let Some(prometheus) = tool("prometheus") else {
        return;
    };
    let faults = [
        "healthy",
        "cert-expired",
        "cert-expiring-soon",
        "server-requires-tls",
    ];
    let lab = Lab::start_with(&faults, true);
    let ports: Vec<String> = lab.ports.values().map(|p| p.to_string()).collect();
    let exporter_toml = lab.dir.path("exporter.toml");
    std::fs::write(
        &exporter_toml,
        format!(
            "[allow]\ncidrs = [\"127.0.0.0/8\"]\nports = [{}]\n[modules.rdp]\ndepth = \"standard\"\ntimeout = 5\nca_file = \"ca.pem\"\n",
            ports.join(", ")
        ),
    )
    .expect("write");
    let exporter = Exporter::start(&exporter_toml);
    let targets: Vec<String> = faults
        .iter()
        .map(|f| format!("'{}'", lab.target(f)))
        .collect();
    let rules = examples().join("rdp-doctor-alerts.yml");
    let prom_yml = lab.dir.path("prometheus.yml");
    std::fs::write(
        &prom_yml,
        format!(
            r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - '{rules}'
scrape_configs:
  - job_name: rdp
    metrics_path: /probe
    params:
      module: [rdp]
    static_configs:
      - targets: [{targets}]
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: '{exporter}'
  - job_name: rdp-doctor-exporter
    static_configs:
      - targets: ['{exporter}']
"#,
            rules = rules.display(),
            targets = targets.join(", "),
            exporter = exporter.addr
        ),
    )
    .expect("write");
    let data = lab.dir.path("tsdb");
    let _prom = Prometheus(
        Command::new(prometheus)
            .arg(format!("--config.file={}", prom_yml.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address={}", prom_addr()))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts"),
    );
    let start = Instant::now();
    let deadline = Duration::from_secs(60);
    // Ready, then every target scraped at least once.
    loop {
        assert!(
            start.elapsed() < deadline,
            "prometheus did not become ready"
        );
        if std::net::TcpStream::connect(prom_addr()).is_ok()
            && http_get(prom_addr(), "/-/ready", &[]).0 == 200
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let success = loop {
        let rows = query("probe_success");
        if rows.len() == faults.len() {
            break rows;
        }
        assert!(
            start.elapsed() < deadline,
            "not every target scraped: {rows:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    let inst = |f: &str| lab.target(f);
    assert_eq!(
        value_of(&success, &inst("healthy")),
        Some(1.0),
        "{success:?}"
    );
    assert_eq!(
        value_of(&success, &inst("cert-expired")),
        Some(0.0),
        "{success:?}"
    );
    assert_eq!(
        value_of(&success, &inst("cert-expiring-soon")),
        Some(1.0),
        "{success:?}"
    );
    assert_eq!(
        value_of(&success, &inst("server-requires-tls")),
        Some(1.0),
        "{success:?}"
    );

    // days until the earliest notAfter, computed by Prometheus
    let days = query("(probe_ssl_earliest_cert_expiry-time())/86400");
    assert_eq!(days.len(), faults.len(), "{days:?}");
    let d = |f: &str| value_of(&days, &inst(f)).expect("expiry series");
    assert!((360.0..366.0).contains(&d("healthy")), "{days:?}");
    assert!((-36.0..-34.0).contains(&d("cert-expired")), "{days:?}");
    assert!((9.0..11.0).contains(&d("cert-expiring-soon")), "{days:?}");
    let nla = query("probe_rdp_nla_required");
    assert_eq!(value_of(&nla, &inst("healthy")), Some(1.0));
    assert_eq!(value_of(&nla, &inst("server-requires-tls")), Some(0.0));
    // Loss measured on every probe, none on loopback.
    let loss = query("probe_rdp_loss_ratio");
    assert_eq!(loss.len(), faults.len(), "{loss:?}");
    assert!(loss.iter().all(|(_, v)| *v == 0.0), "{loss:?}");
    let sent = query("sum%20by%20(instance)%20(probe_rdp_transmissions{outcome=\"sent\"})");
    assert_eq!(sent.len(), faults.len(), "{sent:?}");
    assert!(sent.iter().all(|(_, v)| *v >= 1.0), "{sent:?}");
    let findings = query("probe_rdp_finding");
    assert!(findings.iter().any(|(i, _)| *i == inst("cert-expired")));
    // The exporter's own job is scraped on its own schedule (Prometheus spreads the jobs'
    // first scrapes over the interval): wait for it too (seen missing once on a clean CI run,
    // with every probe target already in).
    let up = loop {
        let rows = query("up{job=\"rdp-doctor-exporter\"}");
        if !rows.is_empty() {
            break rows;
        }
        assert!(
            start.elapsed() < deadline,
            "the exporter's own job was never scraped"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].1, 1.0, "the exporter's own /metrics is scraped");

    // The shipped rules, loaded by this Prometheus, match exactly the bad endpoints.
    let alerts = loop {
        let v = api("/api/v1/alerts");
        let list: Vec<(String, String, String)> = v["data"]["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .map(|a| {
                (
                    a["labels"]["alertname"].as_str().unwrap_or("").to_string(),
                    a["labels"]["instance"].as_str().unwrap_or("").to_string(),
                    a["state"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        if list.len() >= 4 {
            break list;
        }
        assert!(start.elapsed() < deadline, "alerts: {list:?}");
        std::thread::sleep(Duration::from_millis(300));
    };
    let has = |name: &str, f: &str| {
        alerts
            .iter()
            .any(|(n, i, s)| n == name && *i == inst(f) && (s == "pending" || s == "firing"))
    };
    assert!(
        has("RDPCertificateExpiresSoon", "cert-expired"),
        "{alerts:?}"
    );
    assert!(
        has("RDPCertificateExpiresSoon", "cert-expiring-soon"),
        "{alerts:?}"
    );
    assert!(has("RDPProbeFailing", "cert-expired"), "{alerts:?}");
    assert!(
        has("RDPNLANotRequired", "server-requires-tls"),
        "{alerts:?}"
    );
    assert!(!has("RDPProbeFailing", "healthy") && !has("RDPCertificateExpiresSoon", "healthy"));
    assert_eq!(alerts.len(), 4, "no other alert: {alerts:?}");
}
