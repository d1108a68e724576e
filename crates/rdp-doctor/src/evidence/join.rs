//! `check HOST --evidence FILE...`: log findings join the probe report.
//!
//! Decision (documented in docs/evidence.md): the logs name causes with their own ids
//! (`server-private-key-unreadable` for Schannel 36870), the probe names symptoms
//! (`tls-handshake-failed`). `kb/event-rules.toml` `[[join]]` lists which probe findings are
//! the same problem seen from outside. When both are present, they become ONE finding: by
//! default the log's id (the cause), with the probe's evidence and the log's evidence, its
//! severity the higher of the two, and a first evidence line saying that two independent
//! sources confirm it. A log finding with the same id as a probe finding merges the same way.
//! When the probe passed the phase a server-side log finding is about (`resolved_if_phase_ok`),
//! the logged problem is past: it stays in the report as `info`, with that evidence.

use super::rules::{engine, EvidenceFindings, LogFinding};
use super::{HostMatcher, LogsOptions};
use crate::model::{Finding, PhaseStatus, Report, Severity, Verdict};
use std::path::PathBuf;

pub use crate::rdpfile::client_vs_probe;

/// What the join did (for the renderer and the tests).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JoinSummary {
    /// (kept id, merged-away id)
    pub merged: Vec<(String, String)>,
    /// Log findings added on their own.
    pub added: Vec<String>,
    /// Log findings downgraded to info because the probe passed their phase.
    pub resolved: Vec<String>,
    /// Log findings left out because their events are about other hosts.
    pub other_hosts: Vec<String>,
    /// Whether the events could be tied to the report's target by name.
    pub host_verified: bool,
}

/// Every name and address the report knows for its target: what the user typed, the resolved
/// and used addresses, and the names the server gave in its NTLM challenge (computer and DNS
/// names, which is what the server's event log calls itself).
pub fn report_host_matcher(report: &Report) -> HostMatcher {
    let mut names = vec![report.target.host.clone()];
    let f = &report.facts;
    if let Some(a) = &f.address_used {
        names.push(a.clone());
    }
    if let Some(r) = &f.resolve {
        names.extend(r.addresses.iter().cloned());
    }
    if let Some(ntlm) = f.credssp.as_ref().and_then(|c| c.ntlm.as_ref()) {
        names.extend(ntlm.dns_computer.iter().cloned());
        names.extend(ntlm.netbios_computer.iter().cloned());
    }
    HostMatcher::new(names)
}

fn has_name(m: &HostMatcher) -> bool {
    m.names()
        .iter()
        .any(|n| n.parse::<std::net::IpAddr>().is_err())
}

/// Reads the evidence files for a report: events about other hosts are filtered out when the
/// report knows the target by name; otherwise all events are read (and the join says the host
/// could not be verified).
pub fn collect_for_report(files: &[PathBuf], report: &Report, threads: usize) -> EvidenceFindings {
    let m = report_host_matcher(report);
    let opts = LogsOptions {
        threads,
        ..LogsOptions::default()
    };
    if has_name(&m) {
        super::collect_with(files, &opts, Some(m))
    } else {
        super::collect_with(files, &opts, None)
    }
}

fn confirmed_line(lf: &LogFinding, probe_ids: &[String]) -> String {
    format!(
        "confirmed by two sources: the probe ({}) and the event log ({} event{}{})",
        probe_ids.join(", "),
        lf.count,
        if lf.count == 1 { "" } else { "s" },
        match (&lf.first, &lf.last) {
            (Some(f), Some(l)) if f == l => format!(" at {f}"),
            (Some(f), Some(l)) => format!(" from {f} to {l}"),
            _ => String::new(),
        }
    )
}

/// Merges the log findings into the report and recomputes its verdict.
pub fn join(report: &mut Report, evidence: &EvidenceFindings) -> JoinSummary {
    let mut summary = JoinSummary::default();
    let matcher = report_host_matcher(report);
    summary.host_verified = has_name(&matcher);
    // probe id -> the finding id it was merged into
    let mut consumed: Vec<(String, String)> = Vec::new();

    for lf in &evidence.findings {
        let about_target = lf.hosts.is_empty() || lf.hosts.iter().any(|h| matcher.matches(h));
        if summary.host_verified && !about_target {
            summary.other_hosts.push(lf.finding.id.clone());
            continue;
        }
        let mut log = lf.finding.clone();
        for e in log.evidence.iter_mut() {
            *e = format!("log: {e}");
        }
        if !summary.host_verified {
            log.evidence.push(format!(
                "log: not verified that these events are about {} (the report knows no name for it to compare with the events' computer names)",
                crate::sanitize::escape(&report.target.host)
            ));
        }
        let def = engine().joins.iter().find(|j| j.log == log.id);
        let related: Vec<String> = match def {
            Some(j) => j.probe.clone(),
            None => vec![log.id.clone()],
        };
        let keep_probe = def.is_some_and(|j| j.keep == "probe");
        let hits: Vec<usize> = report
            .findings
            .iter()
            .enumerate()
            .filter(|(_, f)| related.contains(&f.id) || f.id == log.id)
            .map(|(i, _)| i)
            .collect();

        if hits.is_empty() {
            // Maybe the probe finding was already merged into another log finding.
            let earlier: Vec<&(String, String)> = consumed
                .iter()
                .filter(|(p, _)| related.contains(p))
                .collect();
            if let Some((p, into)) = earlier.first() {
                log.evidence.insert(
                    0,
                    format!("confirmed by the probe too: its {p} is merged into {into} above"),
                );
                summary.added.push(log.id.clone());
                report.findings.push(log);
                continue;
            }
            let resolved_phase = def.and_then(|j| j.resolved_if_phase_ok);
            if let Some(phase) = resolved_phase {
                if report
                    .phases
                    .iter()
                    .any(|p| p.phase == phase && p.status == PhaseStatus::Ok)
                {
                    log.severity = Severity::Info;
                    log.evidence.insert(
                        0,
                        format!(
                            "the probe completed the {phase} phase now, so this logged problem looks resolved (last event {})",
                            lf.last.as_deref().unwrap_or("without a time stamp")
                        ),
                    );
                    summary.resolved.push(log.id.clone());
                    report.findings.push(log);
                    continue;
                }
            }
            summary.added.push(log.id.clone());
            report.findings.push(log);
            continue;
        }

        let probe_ids: Vec<String> = hits
            .iter()
            .filter_map(|i| report.findings.get(*i))
            .map(|f| f.id.clone())
            .collect();
        let probe: Vec<Finding> = hits
            .iter()
            .filter_map(|i| report.findings.get(*i))
            .cloned()
            .collect();
        let first_pos = hits.first().copied().unwrap_or(report.findings.len());
        let mut merged = if keep_probe {
            probe.first().cloned().unwrap_or_else(|| log.clone())
        } else {
            log.clone()
        };
        let mut evidence = vec![confirmed_line(lf, &probe_ids)];
        for p in &probe {
            for e in &p.evidence {
                evidence.push(format!("probe ({}): {e}", p.id));
            }
        }
        // The probe saw the very certificate the log says the server generated.
        if let Some(cert) = &report.facts.certificate {
            if let Some(thumb) = lf.example.data.get("Binary") {
                if thumb.eq_ignore_ascii_case(&cert.sha1) {
                    evidence.push(format!(
                        "the certificate the server presents (SHA1 {}) is the one the log shows it generated",
                        crate::sanitize::escape(&cert.sha1)
                    ));
                }
            }
        }
        evidence.extend(log.evidence.iter().cloned());
        merged.evidence = evidence;
        merged.severity = probe
            .iter()
            .map(|p| p.severity)
            .chain([log.severity])
            .max()
            .unwrap_or(log.severity);
        for p in &probe {
            for r in &p.references {
                if !merged.references.contains(r) {
                    merged.references.push(r.clone());
                }
            }
        }
        for r in &log.references {
            if !merged.references.contains(r) {
                merged.references.push(r.clone());
            }
        }
        // Remove the probe findings (highest index first), then insert the merged one where the
        // first of them was.
        let mut sorted = hits.clone();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        for i in sorted {
            if i < report.findings.len() {
                report.findings.remove(i);
            }
        }
        let pos = first_pos.min(report.findings.len());
        for pid in &probe_ids {
            let other = if *pid == merged.id {
                log.id.clone()
            } else {
                pid.clone()
            };
            summary.merged.push((merged.id.clone(), other));
            consumed.push((pid.clone(), merged.id.clone()));
        }
        report.findings.insert(pos, merged);
    }
    report.verdict = Verdict::from_findings(&report.findings);
    summary
}
