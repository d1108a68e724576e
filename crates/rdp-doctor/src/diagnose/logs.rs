//! Event-log observations -> hits, and the join with the other sources.
//!
//! The logs name causes with their own ids (`server-private-key-unreadable` for Schannel
//! 36870), the probe names symptoms (`tls-handshake-failed`). `kb/event-rules.toml` `[[join]]`
//! lists which probe ids are the same problem seen from outside. When both are present they
//! become ONE hit: by default the log's id (the cause), with a line saying two independent
//! sources confirm it, the probe's evidence and the log's, the higher severity, and the probe's
//! place in the connection order. A log hit with the same id as a probe hit merges the same
//! way (in `super::findings`). When the probe passed the phase a server-side log finding is
//! about (`resolved_if_phase_ok`), the logged problem is past: it stays, as `info`.

use super::Context;
use crate::evidence::rules::engine;
use crate::facts::logs::{LogFacts, LogFinding};
use crate::facts::Facts;
use crate::kb::Hit;
use crate::model::{PhaseStatus, Severity};

/// The log rules: every observation becomes a hit; joined with a probe, a logged cause absorbs
/// the probe symptoms it explains.
pub fn rules(facts: &Facts, _ctx: &Context, hits: &mut Vec<Hit>) {
    let Some(logs) = &facts.logs else {
        return;
    };
    // Without a probe (`logs`), the observations stand alone.
    let probed = facts.resolve.is_some();
    if !probed {
        hits.extend(logs.evidence.findings.iter().map(|lf| lf.hit.clone()));
        return;
    }
    join(logs, facts, hits);
}

/// Joins the log observations with the hits the other sources' rules found for a probed
/// target (`facts`).
pub fn join(logs: &LogFacts, facts: &Facts, hits: &mut Vec<Hit>) {
    // probe id -> the id it was merged into
    let mut consumed: Vec<(String, String)> = Vec::new();
    let matcher = crate::evidence::HostMatcher::new(logs.target_names.iter());
    for lf in &logs.evidence.findings {
        // Events about another server are not about this target (when it is known by name).
        let about_target = lf.hosts.is_empty() || lf.hosts.iter().any(|h| matcher.matches(h));
        if logs.host_verified && !about_target {
            continue;
        }
        let mut log = lf.hit.clone();
        for e in log.evidence.iter_mut() {
            *e = format!("log: {e}");
        }
        if !logs.host_verified {
            log.evidence.push(format!(
                "log: not verified that these events are about {} (the report knows no name for it to compare with the events' computer names)",
                crate::sanitize::escape(logs.target_names.first().map(String::as_str).unwrap_or("the target"))
            ));
        }
        let def = engine().joins.iter().find(|j| j.log == log.id);
        let related: Vec<String> = match def {
            Some(j) => j.probe.clone(),
            None => vec![log.id.clone()],
        };
        let keep_probe = def.is_some_and(|j| j.keep == "probe");
        let matched: Vec<usize> = hits
            .iter()
            .enumerate()
            .filter(|(_, h)| related.contains(&h.id) || h.id == log.id)
            .map(|(i, _)| i)
            .collect();

        let Some(&first) = matched.first() else {
            // Maybe the probe hit was already merged into another log hit.
            if let Some((p, into)) = consumed.iter().find(|(p, _)| related.contains(p)) {
                log.evidence.insert(
                    0,
                    format!("confirmed by the probe too: its {p} is merged into {into} above"),
                );
            } else if let Some(phase) = def.and_then(|j| j.resolved_if_phase_ok) {
                if crate::phases::status(facts, phase) == Some(PhaseStatus::Ok) {
                    log.severity = Some(Severity::Info);
                    log.evidence.insert(
                        0,
                        format!(
                            "the probe completed the {phase} phase now, so this logged problem looks resolved (last event {})",
                            lf.last.as_deref().unwrap_or("without a time stamp")
                        ),
                    );
                }
            }
            hits.push(log);
            continue;
        };

        let probe: Vec<Hit> = matched
            .iter()
            .filter_map(|i| hits.get(*i))
            .cloned()
            .collect();
        let probe_ids: Vec<String> = probe.iter().map(|h| h.id.clone()).collect();
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
        if let (Some(cert), Some(thumb)) = (&facts.certificate, lf.example.data.get("Binary")) {
            if thumb.eq_ignore_ascii_case(&cert.sha1) {
                evidence.push(format!(
                    "the certificate the server presents (SHA1 {}) is the one the log shows it generated",
                    crate::sanitize::escape(&cert.sha1)
                ));
            }
        }
        evidence.extend(log.evidence.iter().cloned());
        merged.evidence = evidence;
        merged.severity = probe
            .iter()
            .chain([&log])
            .map(Hit::effective_severity)
            .max();
        for p in probe.iter().chain([&log]) {
            for r in crate::kb::catalogue()
                .get(&p.id)
                .map(|d| d.references.clone())
                .unwrap_or_default()
                .into_iter()
                .chain(p.references.iter().cloned())
            {
                if !merged.references.contains(&r) {
                    merged.references.push(r);
                }
            }
        }
        merged.occurrences = log.occurrences.clone();
        merged.order_phase = probe.first().map(Hit::phase);
        for pid in &probe_ids {
            consumed.push((pid.clone(), merged.id.clone()));
        }
        // The merged hit takes the place of the first probe hit; the others go.
        if let Some(slot) = hits.get_mut(first) {
            *slot = merged;
        }
        for i in matched.iter().skip(1).rev() {
            if *i < hits.len() {
                hits.remove(*i);
            }
        }
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
