//! `rdp-doctor demo`: the lab in-process with every fault on free loopback ports, `check`
//! against each, one table, and one full report. Exits non-zero when a fault is not diagnosed
//! as expected, so it doubles as an end-to-end self-test.

use crate::cert::TrustStore;
use crate::facts::ClientProfile;
use crate::lab::{self, Endpoint, Fault, LabConfig};
use crate::model::Verdict;
use crate::probe::CheckOptions;
use crate::render::{human, Style};
use crate::report::Report;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub struct Row {
    pub fault: Fault,
    pub client: &'static str,
    /// The check options the fault needs (`--sec tls`, `--user labuser --full`).
    pub options: String,
    pub expected_first: Option<&'static str>,
    pub expected_verdict: Verdict,
    pub first: Option<String>,
    pub verdict: Verdict,
    pub duration_ms: f64,
    pub ok: bool,
}

pub struct DemoResult {
    pub rows: Vec<Row>,
    pub reports: Vec<(Fault, Report)>,
    pub wall_ms: f64,
}

pub fn client_profile(name: &str) -> ClientProfile {
    match name {
        "tls" => ClientProfile::with("tls", 0x01),
        "rdp" => ClientProfile::with("rdp", 0x00),
        "nla" => ClientProfile::with("nla", 0x02),
        _ => ClientProfile::mstsc(),
    }
}

/// Starts the lab with `faults` and checks each endpoint once, all concurrently.
pub async fn run(faults: &[Fault], timeout: Duration) -> Result<DemoResult, String> {
    let endpoints = faults
        .iter()
        .map(|&fault| Endpoint {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            fault,
        })
        .collect();
    let lab = lab::start(LabConfig {
        endpoints,
        users: Vec::new(),
        names: vec!["localhost".into()],
        log: false,
        gateways: Vec::new(),
    })
    .await?;
    let trust = Arc::new(trust_from_pem(&lab.ca_pem)?);
    let start = std::time::Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for (i, ep) in lab.endpoints.iter().copied().enumerate() {
        let trust = trust.clone();
        set.spawn(async move {
            let exp = ep.fault.expectation();
            let target = crate::model::Target {
                input: ep.addr.to_string(),
                host: ep.addr.ip().to_string(),
                port: ep.addr.port(),
                host_kind: "ipv4".into(),
            };
            let defaults = CheckOptions::new(target.clone(), trust);
            let opts = CheckOptions {
                client: client_profile(exp.client),
                timeout,
                udp_wait: timeout.min(defaults.udp_wait),
                auth: exp.user.then(|| lab_auth(exp.full)),
                ..defaults
            };
            let ctx = crate::diagnose::Context::new(target);
            let report = crate::check::check(&opts, &ctx).await;
            (i, ep.fault, report)
        });
    }
    let mut results = Vec::new();
    while let Some(r) = set.join_next().await {
        results.push(r.map_err(|e| format!("a check task failed: {e}"))?);
    }
    results.sort_by_key(|(i, ..)| *i);
    let wall_ms = crate::probe::net::ms(start.elapsed());
    drop(lab);
    let mut rows = Vec::new();
    let mut reports = Vec::new();
    for (_, fault, report) in results {
        let exp = fault.expectation();
        let first = report.findings.first().map(|f| f.id.clone());
        let ok = first.as_deref() == exp.first_finding && report.verdict == exp.verdict;
        rows.push(Row {
            fault,
            client: exp.client,
            options: exp.options(),
            expected_first: exp.first_finding,
            expected_verdict: exp.verdict,
            first,
            verdict: report.verdict,
            duration_ms: report.duration_ms,
            ok,
        });
        reports.push((fault, report));
    }
    Ok(DemoResult {
        rows,
        reports,
        wall_ms,
    })
}

/// `--user labuser` with the lab's published test password (no secret: see `lab::DEFAULT_PASSWORD`).
pub fn lab_auth(full: bool) -> crate::probe::auth::AuthOptions {
    crate::probe::auth::AuthOptions {
        credentials: Arc::new(crate::credentials::Credentials {
            domain: String::new(),
            user: lab::DEFAULT_USER.into(),
            password: crate::credentials::Secret::new(lab::DEFAULT_PASSWORD.into()),
        }),
        password_source: "the lab's test account",
        pinned_sha256: None,
        insecure: false,
        full,
        mode: crate::probe::kdc::AuthMode::Negotiate,
    }
}

pub fn trust_from_pem(pem: &str) -> Result<TrustStore, String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let c = c.map_err(|e| format!("lab CA: {e:?}"))?;
        roots.add(c).map_err(|e| format!("lab CA: {e}"))?;
    }
    Ok(TrustStore {
        name: "lab CA".into(),
        roots,
    })
}

/// The table, then the full report of the expired-certificate case.
pub fn render(r: &DemoResult, s: Style, w: &mut dyn Write) -> io::Result<()> {
    writeln!(
        w,
        "{}",
        s.bold("rdp-doctor demo: the lab breaks in one way per endpoint; check diagnoses each")
    )?;
    writeln!(w)?;
    // Columns as wide as their widest cell, so the table fits 80 columns; a fault's check
    // options go on a line of their own under it.
    let fault_w = r
        .rows
        .iter()
        .map(|x| x.fault.name().len())
        .chain([5])
        .max()
        .unwrap_or(5);
    // Most faults are named after their finding: "same" keeps that column narrow.
    let shown = |x: &Row| -> String {
        match x.first.as_deref() {
            None => "(none)".to_string(),
            Some(f) if f == x.fault.name() => "same".to_string(),
            Some(f) => f.to_string(),
        }
    };
    let first_w = r
        .rows
        .iter()
        .map(|x| shown(x).len())
        .chain([13])
        .max()
        .unwrap_or(13);
    writeln!(
        w,
        "  {:<fault_w$} {:<first_w$} {:<8} {:>9}  ok",
        "fault", "first finding", "verdict", "time"
    )?;
    for row in &r.rows {
        let first = shown(row);
        let verdict = match row.verdict {
            Verdict::Healthy => s.green("healthy "),
            Verdict::Degraded => s.yellow("degraded"),
            Verdict::Failing => s.red("failing "),
        };
        let ok = if row.ok {
            s.green("yes")
        } else {
            s.red(&format!(
                "NO (expected {} / {})",
                row.expected_first.unwrap_or("(none)"),
                row.expected_verdict
            ))
        };
        writeln!(
            w,
            "  {:<fault_w$} {:<first_w$} {} {:>9}  {}",
            row.fault.name(),
            first,
            verdict,
            human::format_ms(row.duration_ms),
            ok
        )?;
        if !row.options.is_empty() {
            writeln!(w, "    {}", s.dim(&format!("checked with {}", row.options)))?;
        }
    }
    let good = r.rows.iter().filter(|x| x.ok).count();
    writeln!(w)?;
    writeln!(
        w,
        "{} of {} faults diagnosed as expected; {} checks ran concurrently in {}.",
        good,
        r.rows.len(),
        r.rows.len(),
        human::format_ms(r.wall_ms)
    )?;
    if let Some((_, report)) = r.reports.iter().find(|(f, _)| f.name() == "cert-expired") {
        writeln!(w)?;
        writeln!(
            w,
            "{}",
            s.bold("One full report: the endpoint with an expired certificate")
        )?;
        writeln!(w, "{}", "-".repeat(crate::render::fit::width().min(78)))?;
        human::render(report, s, w)?;
    }
    Ok(())
}
