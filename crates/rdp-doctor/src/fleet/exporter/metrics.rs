//! Prometheus text exposition (format 0.0.4) of a check, in the blackbox_exporter shape:
//! `probe_success`, `probe_duration_seconds`, a phase-duration gauge with every phase
//! pre-created, and RDP-specific gauges. Base units (seconds, Unix seconds); every label set
//! is closed: phases and protocols are fixed lists, finding ids come from the catalogue,
//! severities are three words. Never a certificate subject or an error text as a label.

use crate::facts::{SecurityProtocol, Support, UdpOutcome};
use crate::model::{Phase, PhaseStatus, Verdict};
use crate::report::Report;
use std::fmt::Write as _;

/// The protocols of the enumeration, in order (`probe_rdp_protocol_accepted{protocol}`).
pub const PROTOCOLS: [SecurityProtocol; 6] = [
    SecurityProtocol::Rdp,
    SecurityProtocol::Tls,
    SecurityProtocol::Hybrid,
    SecurityProtocol::Rdstls,
    SecurityProtocol::HybridEx,
    SecurityProtocol::Rdsaad,
];

/// A text exposition being written.
#[derive(Debug, Default)]
pub struct Exposition {
    pub text: String,
}

/// Escapes a label value: backslash, double quote and line feed.
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A sample value as the text format writes it.
pub fn value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

impl Exposition {
    /// `# HELP` and `# TYPE` of a family (`kind`: gauge or counter).
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"{}\"", escape_label(val));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", value(v));
    }

    /// A family with one unlabelled sample.
    pub fn gauge(&mut self, name: &str, help: &str, v: f64) {
        self.family(name, "gauge", help);
        self.sample(name, &[], v);
    }
}

/// Milliseconds as seconds, to the microsecond (no `0.00009999999999999999`).
pub fn seconds(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1_000_000.0
}

/// Unix seconds of an RFC 3339 time.
pub fn unix_seconds(rfc3339: &str) -> Option<i64> {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// Whether a check counts as a successful probe: it ran, and no error finding says a
/// standard client would fail. Warnings (an expiring certificate, NLA not required) leave
/// the probe successful; their own gauges carry them.
pub fn success(report: Option<&Report>) -> bool {
    report.is_some_and(|r| r.verdict != Verdict::Failing)
}

/// The exposition of one probe. `report` is None when the check did not finish (deadline).
pub fn probe(report: Option<&Report>, duration_s: f64) -> String {
    let mut e = Exposition::default();
    e.family(
        "probe_rdp_phase_duration_seconds",
        "gauge",
        "Duration of each phase of the RDP check (0 when the phase did not run).",
    );
    for phase in Phase::PROBE_PHASES {
        let d = report
            .and_then(|r| r.phases.iter().find(|p| p.phase == phase))
            .filter(|p| p.status != PhaseStatus::Skipped)
            .map(|p| seconds(p.duration_ms))
            .unwrap_or(0.0);
        e.sample(
            "probe_rdp_phase_duration_seconds",
            &[("phase", phase.as_str())],
            d,
        );
    }
    // A module with a `gateway`: the gateway's phases too (gw-tcp ... gw-tunnel), as run.
    for p in report
        .into_iter()
        .flat_map(|r| r.phases.iter())
        .filter(|p| p.phase.as_str().starts_with("gw-"))
    {
        let d = if p.status == PhaseStatus::Skipped {
            0.0
        } else {
            seconds(p.duration_ms)
        };
        e.sample(
            "probe_rdp_phase_duration_seconds",
            &[("phase", p.phase.as_str())],
            d,
        );
    }
    e.gauge(
        "probe_success",
        "Whether the probe succeeded: the check ran and found no error a standard client would fail on.",
        if success(report) { 1.0 } else { 0.0 },
    );
    e.gauge(
        "probe_duration_seconds",
        "How long the probe took to complete in seconds.",
        (duration_s * 1_000_000.0).round() / 1_000_000.0,
    );
    let Some(r) = report else {
        return e.text;
    };
    e.gauge(
        "probe_rdp_verdict",
        "The check's verdict: 0 healthy, 1 degraded (warnings), 2 failing (as the check's exit code).",
        f64::from(r.exit_code().code()),
    );
    let cat = crate::kb::catalogue();
    let mut ids: Vec<(&str, &str)> = Vec::new();
    for f in &r.findings {
        // Only catalogue ids: the label set stays closed whatever a rule produced.
        if cat.get(&f.id).is_some() && !ids.iter().any(|(i, _)| *i == f.id) {
            ids.push((&f.id, f.severity.as_str()));
        }
    }
    e.family(
        "probe_rdp_finding",
        "gauge",
        "1 for each finding of the check (id from the rdp-doctor catalogue).",
    );
    for (id, sev) in &ids {
        e.sample("probe_rdp_finding", &[("id", id), ("severity", sev)], 1.0);
    }
    let f = &r.facts;
    if let Some(p) = &f.protocols {
        e.family(
            "probe_rdp_protocol_accepted",
            "gauge",
            "Whether the server accepts a connection request for exactly this security protocol.",
        );
        for proto in PROTOCOLS {
            let ok = p.accepts(proto);
            e.sample(
                "probe_rdp_protocol_accepted",
                &[("protocol", proto.as_str())],
                if ok { 1.0 } else { 0.0 },
            );
        }
        match p.nla {
            Support::Required => e.gauge(
                "probe_rdp_nla_required",
                "Whether the server requires Network Level Authentication (CredSSP) of every client.",
                1.0,
            ),
            Support::Supported | Support::NotOffered => e.gauge(
                "probe_rdp_nla_required",
                "Whether the server requires Network Level Authentication (CredSSP) of every client.",
                0.0,
            ),
            Support::Unknown => {}
        }
    }
    if let Some(u) = &f.udp {
        e.gauge(
            "probe_rdp_udp_available",
            "Whether the server answered the RDP-UDP SYN with a SYN+ACK.",
            if u.outcome == UdpOutcome::SynAck {
                1.0
            } else {
                0.0
            },
        );
    }
    if let Some(c) = &f.certificate {
        let earliest = c
            .chain
            .iter()
            .filter_map(|x| unix_seconds(&x.not_after))
            .chain(unix_seconds(&c.not_after))
            .min();
        if let Some(t) = earliest {
            e.gauge(
                "probe_ssl_earliest_cert_expiry",
                "Returns last SSL chain expiry in unixtime (the earliest notAfter of the certificates the server sent).",
                t as f64,
            );
        }
        if let Some(t) = unix_seconds(&c.not_after) {
            e.gauge(
                "probe_rdp_cert_not_after_timestamp_seconds",
                "notAfter of the server's (leaf) certificate in Unix seconds.",
                t as f64,
            );
        }
    }
    if let Some(l) = f.path.as_ref().and_then(|p| p.loss.as_ref()) {
        e.family(
            "probe_rdp_transmissions",
            "gauge",
            "SYNs and data segments the probe sent that needed an answer (retransmissions included), and how many were lost (sent again or never answered).",
        );
        for (kind, t) in [("syn", l.syns), ("segment", l.segments)] {
            for (outcome, v) in [("sent", t.sent), ("lost", t.lost)] {
                e.sample(
                    "probe_rdp_transmissions",
                    &[("kind", kind), ("outcome", outcome)],
                    f64::from(v),
                );
            }
        }
        e.gauge(
            "probe_rdp_loss_ratio",
            "Lost / sent over the probe's SYNs and data segments (see probe_rdp_transmissions).",
            l.rate,
        );
    }
    if let Some(v) = f.credssp.as_ref().and_then(|c| c.server_version) {
        e.gauge(
            "probe_rdp_credssp_version",
            "TSRequest version of the server's CredSSP answer.",
            f64::from(v),
        );
    }
    e.text
}

/// Checks the text format the way a scraper reads it: every sample line is NAME{labels}
/// VALUE with a declared family, label values properly quoted. Used by the tests (and the
/// fuzz-style test over odd label values).
pub fn lint(text: &str) -> Result<usize, String> {
    let mut families: Vec<String> = Vec::new();
    let mut samples = 0;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap_or("");
            if families.iter().any(|f| f == name) {
                return Err(format!("family {name} declared twice"));
            }
            families.push(name.to_string());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let name_end = line
            .find(['{', ' '])
            .ok_or_else(|| format!("no value: {line}"))?;
        let name = line.get(..name_end).unwrap_or("");
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        {
            return Err(format!("bad metric name: {line}"));
        }
        if !families.iter().any(|f| f == name) {
            return Err(format!("sample without # TYPE: {line}"));
        }
        let mut rest = line.get(name_end..).unwrap_or("");
        if let Some(r) = rest.strip_prefix('{') {
            // walk the label pairs
            let mut chars = r.char_indices();
            let mut in_value = false;
            let mut escaped = false;
            let mut end = None;
            for (i, c) in chars.by_ref() {
                if in_value {
                    if escaped {
                        if !matches!(c, '\\' | '"' | 'n') {
                            return Err(format!("bad escape: {line}"));
                        }
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        in_value = false;
                    } else if c == '\n' {
                        return Err(format!("raw newline: {line}"));
                    }
                } else if c == '"' {
                    in_value = true;
                } else if c == '}' {
                    end = Some(i);
                    break;
                }
            }
            let end = end.ok_or_else(|| format!("unterminated labels: {line}"))?;
            rest = r.get(end + 1..).unwrap_or("");
        }
        let v = rest.trim();
        if v.parse::<f64>().is_err() && !matches!(v, "NaN" | "+Inf" | "-Inf") {
            return Err(format!("bad value '{v}': {line}"));
        }
        samples += 1;
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::*;
    use crate::model::{Finding, Severity, Target};

    fn report_with(f: Facts, findings: Vec<Finding>) -> Report {
        let mut tl = crate::probe::Timeline::default();
        tl.add(Phase::Tcp, 0.0, 1.5);
        tl.add(Phase::X224, 1.5, 2.0);
        let target: Target = crate::target::parse_target("127.0.0.1:3389", 3389).expect("t");
        crate::report::build(target, "x".into(), 10.0, f, &tl, findings)
    }

    fn cert(not_after: &str, chain: &[&str]) -> CertFact {
        CertFact {
            subject: "CN=\"evil\"\nname".into(),
            issuer: "CN=ca".into(),
            serial: "01".into(),
            not_before: "2020-01-01T00:00:00Z".into(),
            not_after: not_after.into(),
            days_left: -3,
            expired: true,
            not_yet_valid: false,
            self_signed: false,
            trusted: true,
            trust_error: None,
            trust_store: "x".into(),
            name_checked: "127.0.0.1".into(),
            name_matches: true,
            common_name: None,
            san_dns: vec![],
            san_ip: vec![],
            key_type: "EC".into(),
            key_bits: 256,
            signature_algorithm: "x".into(),
            signature_hash: "sha256".into(),
            eku: vec![],
            eku_ok: true,
            sha1: "AB".into(),
            sha256: "CD".into(),
            chain: chain
                .iter()
                .map(|na| ChainCert {
                    subject: "s".into(),
                    issuer: "i".into(),
                    not_after: na.to_string(),
                    sha256: "x".into(),
                    der_base64: String::new(),
                })
                .collect(),
        }
    }

    fn finding(id: &str, sev: Severity) -> Finding {
        Finding {
            id: id.into(),
            severity: sev,
            kind: Default::default(),
            phase: Phase::Tls,
            title: "t".into(),
            explanation: String::new(),
            evidence: vec![],
            fix: vec![],
            references: vec![],
            count: None,
            first: None,
            last: None,
        }
    }

    #[test]
    fn every_phase_is_pre_created_even_without_a_report() {
        let text = probe(None, 2.5);
        assert_eq!(lint(&text), Ok(2 + Phase::PROBE_PHASES.len()));
        for p in Phase::PROBE_PHASES {
            assert!(text.contains(&format!(
                "probe_rdp_phase_duration_seconds{{phase=\"{}\"}} 0\n",
                p.as_str()
            )));
        }
        assert!(text.contains("probe_success 0\n"));
        assert!(text.contains("probe_duration_seconds 2.5\n"));
        assert!(text.contains("# TYPE probe_success gauge\n"));
    }

    #[test]
    fn a_full_report_gives_every_rdp_gauge() {
        let mut f = Facts {
            certificate: Some(cert(
                "2026-12-01T00:00:00Z",
                &["2026-12-01T00:00:00Z", "2026-11-30T00:00:00Z"],
            )),
            addresses: vec![AddressFact {
                address: "127.0.0.1".into(),
                tcp: TcpOutcome::Connected {
                    duration_ms: 1.5,
                    syn_retransmits: None,
                },
            }],
            ..Facts::default()
        };
        f.protocols = Some(ProtocolsFact {
            probes: vec![],
            accepted: vec![SecurityProtocol::Hybrid, SecurityProtocol::HybridEx],
            nla: Support::Required,
            tls: Support::Required,
            standard_rdp: Allowance::Refused,
            together: None,
        });
        f.udp = Some(UdpFact {
            outcome: UdpOutcome::Silent,
            duration_ms: 1.0,
            attempts: 3,
            datagram_bytes: 1232,
            rtt_ms: None,
            version: None,
            error: None,
        });
        f.credssp = Some(CredsspFact {
            outcome: CredsspOutcome::Challenge,
            duration_ms: 1.0,
            server_version: Some(6),
            error_code: None,
            ntlm: None,
            error: None,
            server_bytes: 10,
        });
        let mut loss = crate::probe::loss::Counter::default();
        loss.connect(&crate::probe::ConnectSample {
            ms: 1001.0,
            syn_retransmits: Some(1),
        });
        f.path = Some(crate::facts::PathFact {
            loss: loss.fact(),
            ..Default::default()
        });
        let r = report_with(
            f,
            vec![
                finding("cert-expired", Severity::Error),
                finding("udp-blocked", Severity::Info),
                finding("udp-blocked", Severity::Info),
                finding("made-up-id", Severity::Error),
            ],
        );
        let text = probe(Some(&r), 0.0123);
        lint(&text).expect("valid exposition");
        assert!(text.contains("probe_rdp_phase_duration_seconds{phase=\"tcp\"} 0.0015\n"));
        assert!(text.contains("probe_rdp_phase_duration_seconds{phase=\"udp\"} 0\n"));
        assert!(
            text.contains("probe_success 0\n"),
            "an error finding fails the probe"
        );
        assert!(text.contains("probe_rdp_verdict 2\n"));
        assert!(text.contains("probe_rdp_finding{id=\"cert-expired\",severity=\"error\"} 1\n"));
        assert_eq!(text.matches("id=\"udp-blocked\"").count(), 1);
        assert!(
            !text.contains("made-up-id"),
            "ids outside the catalogue are not labels"
        );
        assert!(text.contains("probe_rdp_protocol_accepted{protocol=\"rdp\"} 0\n"));
        assert!(text.contains("probe_rdp_protocol_accepted{protocol=\"hybrid\"} 1\n"));
        assert_eq!(text.matches("probe_rdp_protocol_accepted{").count(), 6);
        assert!(text.contains("probe_rdp_nla_required 1\n"));
        assert!(text.contains("probe_rdp_udp_available 0\n"));
        // min over the chain: 2026-11-30
        assert!(text.contains("probe_ssl_earliest_cert_expiry 1795996800\n"));
        assert!(text.contains("probe_rdp_cert_not_after_timestamp_seconds 1796083200\n"));
        assert!(text.contains("probe_rdp_credssp_version 6\n"));
        assert!(text.contains("probe_rdp_transmissions{kind=\"syn\",outcome=\"sent\"} 2\n"));
        assert!(text.contains("probe_rdp_transmissions{kind=\"syn\",outcome=\"lost\"} 1\n"));
        assert!(text.contains("probe_rdp_transmissions{kind=\"segment\",outcome=\"sent\"} 0\n"));
        assert!(text.contains("probe_rdp_loss_ratio 0.5\n"));
        // the certificate subject (with a quote and a newline) never becomes a label
        assert!(!text.contains("evil"));
    }

    #[test]
    fn warnings_keep_the_probe_successful_and_unknowns_are_absent() {
        let r = report_with(
            Facts::default(),
            vec![finding("cert-expiring-soon", Severity::Warning)],
        );
        let text = probe(Some(&r), 1.0);
        assert!(text.contains("probe_success 1\n"));
        assert!(text.contains("probe_rdp_verdict 1\n"));
        for absent in [
            "probe_rdp_nla_required",
            "probe_rdp_udp_available",
            "probe_ssl_earliest_cert_expiry",
            "probe_rdp_protocol_accepted",
            "probe_rdp_credssp_version",
        ] {
            assert!(!text.contains(absent), "{absent} without a measurement");
        }
    }

    #[test]
    fn label_values_and_numbers_are_escaped() {
        assert_eq!(escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        let mut e = Exposition::default();
        e.family("x_total", "counter", "help with \\ and\nnewline");
        e.sample("x_total", &[("module", "we\"ird\n\\")], f64::INFINITY);
        e.sample("x_total", &[("module", "b")], f64::NAN);
        assert_eq!(lint(&e.text), Ok(2), "{}", e.text);
        assert!(e
            .text
            .contains("# HELP x_total help with \\\\ and\\nnewline\n"));
        assert_eq!(value(1.0), "1");
        assert_eq!(value(0.25), "0.25");
        assert_eq!(value(1.7e9), "1700000000");
    }

    #[test]
    fn the_linter_catches_broken_lines() {
        assert!(lint("x 1\n").is_err(), "no TYPE");
        assert!(lint("# TYPE x gauge\nx{a=\"b} 1\n").is_err());
        assert!(lint("# TYPE x gauge\nx{a=\"\\q\"} 1\n").is_err());
        assert!(lint("# TYPE x gauge\nx one\n").is_err());
        assert!(lint("# TYPE x gauge\n# TYPE x gauge\n").is_err());
    }
}
