//! The human report: one line per phase with a bar showing where the time went, the verdict,
//! the key facts, then the findings with evidence and fix. Server-supplied text is escaped.

use super::Style;
use crate::model::{PhaseStatus, Severity, Verdict};
use crate::report::Report;
use crate::sanitize::escape;
use std::io::{self, Write};

const BAR: usize = 24;

pub fn render(r: &Report, s: Style, w: &mut dyn Write) -> io::Result<()> {
    let t = &r.target;
    let addr = r
        .facts
        .address_used
        .as_deref()
        .map(|a| format!(" ({a})"))
        .unwrap_or_default();
    writeln!(
        w,
        "{} {}:{}{}  client profile {}  {}",
        s.bold("rdp-doctor check"),
        escape(&t.host),
        t.port,
        addr,
        r.facts.client.name,
        s.dim(&r.started_at)
    )?;
    writeln!(w)?;
    let total = r.duration_ms.max(0.001);
    // "protocols" sets the width; the gateway's phase names are longer.
    let width = r
        .phases
        .iter()
        .map(|p| p.phase.as_str().len())
        .max()
        .unwrap_or(0)
        .max(9);
    for p in &r.phases {
        let status = match p.status {
            PhaseStatus::Ok => s.green("ok     "),
            PhaseStatus::Failed => s.red("FAILED "),
            PhaseStatus::Timeout => s.yellow("TIMEOUT"),
            PhaseStatus::Skipped => s.dim("skipped"),
        };
        let (dur, bar) = if p.status == PhaseStatus::Skipped {
            ("".to_string(), " ".repeat(BAR))
        } else {
            (
                format_ms(p.duration_ms),
                bar(p.start_ms, p.duration_ms, total),
            )
        };
        let summary = if p.status == PhaseStatus::Skipped {
            s.dim(&p.summary)
        } else {
            p.summary.clone()
        };
        writeln!(
            w,
            "  {:<width$} {} {:>9} {} {}",
            p.phase.as_str(),
            status,
            dur,
            s.cyan(&format!("|{bar}|")),
            summary
        )?;
    }
    writeln!(w)?;
    let errors = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .count();
    let notes = r.findings.len() - errors - warnings;
    let verdict = match r.verdict {
        Verdict::Healthy => s.green("HEALTHY"),
        Verdict::Degraded => s.yellow("DEGRADED"),
        Verdict::Failing => s.red("FAILING"),
    };
    writeln!(
        w,
        "{} {}  ({} error{}, {} warning{}, {} note{}; {} in {})",
        s.bold("Verdict:"),
        verdict,
        errors,
        plural(errors),
        warnings,
        plural(warnings),
        notes,
        plural(notes),
        r.phases
            .iter()
            .filter(|p| p.status != PhaseStatus::Skipped)
            .count()
            .to_string()
            + " phases",
        format_ms(r.duration_ms)
    )?;
    if let Some(side) = &r.failing_side {
        writeln!(w, "{} {side}", s.bold("Failing side:"))?;
    }
    facts(r, s, w)?;
    if r.findings.is_empty() {
        writeln!(w, "\nNo problem found.")?;
        return Ok(());
    }
    for (i, f) in r.findings.iter().enumerate() {
        writeln!(w)?;
        let sev = match f.severity {
            Severity::Error => s.red("ERROR"),
            Severity::Warning => s.yellow("WARNING"),
            Severity::Info => s.cyan("NOTE"),
        };
        let lead = if i == 0 && f.severity == Severity::Error {
            s.bold(" (most likely cause)")
        } else {
            String::new()
        };
        writeln!(w, "{}. [{sev}] {}{lead}", i + 1, s.bold(&f.title))?;
        writeln!(w, "   id {}  phase {}", f.id, f.phase)?;
        wrap(w, "   ", &f.explanation)?;
        writeln!(w, "   {}", s.bold("Evidence:"))?;
        for e in &f.evidence {
            wrap(w, "     - ", &escape(e))?;
        }
        writeln!(w, "   {}", s.bold("Fix:"))?;
        for (n, step) in f.fix.iter().enumerate() {
            wrap(w, &format!("     {}. ", n + 1), step)?;
        }
        if !f.references.is_empty() {
            writeln!(
                w,
                "   {} {}",
                s.dim("References:"),
                s.dim(&f.references.join("; "))
            )?;
        }
    }
    Ok(())
}

fn facts(r: &Report, s: Style, w: &mut dyn Write) -> io::Result<()> {
    let f = &r.facts;
    let mut lines: Vec<(String, String)> = Vec::new();
    if let Some(p) = &f.protocols {
        lines.push((
            "Security".into(),
            format!(
                "NLA {}, TLS {}, Standard RDP Security {}; accepted: {}",
                p.nla,
                p.tls,
                p.standard_rdp,
                if p.accepted.is_empty() {
                    "none".into()
                } else {
                    crate::facts::SecurityProtocol::join(&p.accepted, ", ")
                }
            ),
        ));
    }
    if let Some(c) = &f.certificate {
        lines.push((
            "Certificate".into(),
            format!(
                "{} issued by {}; {} .. {} ({}); {} {} bits; SHA-1 {}",
                escape(&c.subject),
                escape(&c.issuer),
                c.not_before,
                c.not_after,
                if c.days_left < 0 {
                    format!("expired {} days ago", -c.days_left)
                } else {
                    format!("{} days left", c.days_left)
                },
                c.key_type,
                c.key_bits,
                c.sha1
            ),
        ));
    }
    if let Some(n) = f.credssp.as_ref().and_then(|c| c.ntlm.as_ref()) {
        let mut parts = Vec::new();
        if let Some(v) = &n.netbios_computer {
            parts.push(format!("computer {}", escape(v)));
        }
        if let Some(v) = &n.dns_computer {
            parts.push(format!("DNS {}", escape(v)));
        }
        if let Some(v) = n.dns_domain.as_ref().or(n.netbios_domain.as_ref()) {
            parts.push(format!("domain {}", escape(v)));
        }
        if let Some(v) = &n.os_version {
            parts.push(format!("OS build {}", escape(v)));
        }
        lines.push(("Server (NTLM)".into(), parts.join(", ")));
    }
    if let Some(a) = &f.auth {
        let package = match (a.package.as_str(), a.kerberos_unavailable) {
            ("NTLM", Some(u)) => format!(
                "package NTLM (Kerberos could not be used: {})",
                u.describe()
            ),
            (p, _) => format!("package {p}"),
        };
        let mut parts = vec![
            format!("user {}", a.user),
            package,
            format!("password from {}", a.password_source),
        ];
        if let Some(b) = &a.trust_basis {
            parts.push(format!("server trusted by {b}"));
        }
        parts.push(format!(
            "NTLM response sent: {}, password delegated: {}",
            if a.ntlm_response_sent { "yes" } else { "no" },
            if a.credentials_delegated { "yes" } else { "no" }
        ));
        lines.push(("Credentials".into(), parts.join("; ")));
    }
    if let Some(k) = &f.kdc {
        let mut parts = vec![format!("realm {}", escape(&k.realm))];
        if let Some(s) = &k.spn {
            parts.push(format!("SPN {}", escape(s)));
        }
        if let Some(s) = k.clock_skew_seconds {
            parts.push(format!("KDC clock {s:+.1} s"));
        }
        if let Some(t) = f.auth.as_ref().and_then(|a| a.kerberos.as_ref()) {
            if let Some(e) = t.ticket_etype {
                parts.push(format!(
                    "ticket {}",
                    rdp_doctor_wire::kerberos::crypto::etype_label(e)
                ));
            }
            parts.push(format!(
                "mutual authentication: {}",
                if t.mutual_authentication { "yes" } else { "no" }
            ));
        }
        lines.push(("Kerberos".into(), parts.join("; ")));
    }
    if let Some(m) = &f.mcs {
        if let Some(v) = &m.rdp_version {
            lines.push(("Server (MCS)".into(), v.clone()));
        }
    }
    if let Some(p) = &f.path {
        if let (Some(min), Some(med), Some(max)) = (p.rtt_min_ms, p.rtt_median_ms, p.rtt_max_ms) {
            lines.push((
                "Round trip".into(),
                format!(
                    "min {} / median {} / max {}{} over {} TCP connects{}",
                    format_ms(min),
                    format_ms(med),
                    format_ms(max),
                    p.jitter_ms
                        .map(|j| format!(", jitter {}", format_ms(j)))
                        .unwrap_or_default(),
                    p.rtt_samples_ms.len(),
                    match p.lossy_connects() {
                        0 => String::new(),
                        n => format!(" (+{n} that lost a SYN, not counted)"),
                    }
                ),
            ));
        }
        if let Some(l) = &p.loss {
            lines.push(("Loss".into(), l.summary()));
        }
    }
    if lines.is_empty() {
        return Ok(());
    }
    writeln!(w)?;
    for (k, v) in lines {
        // Padded by visible width: colour codes take no columns.
        writeln!(
            w,
            "  {} {}",
            super::fit::pad(&s.dim(&format!("{k}:")), 14),
            v
        )?;
    }
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

pub fn format_ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} s", v / 1000.0)
    } else {
        format!("{v:.1} ms")
    }
}

/// Columns of the bar covered by [start, start+dur] out of `total`.
pub fn bar(start: f64, dur: f64, total: f64) -> String {
    let a = ((start / total) * BAR as f64)
        .floor()
        .clamp(0.0, BAR as f64) as usize;
    let mut b = (((start + dur) / total) * BAR as f64)
        .ceil()
        .clamp(0.0, BAR as f64) as usize;
    if b <= a {
        b = (a + 1).min(BAR);
    }
    let a = a.min(b.saturating_sub(1));
    let mut s = String::with_capacity(BAR);
    for i in 0..BAR {
        s.push(if i >= a && i < b { '#' } else { ' ' });
    }
    s
}

/// Writes `text` wrapped at the output width with `prefix` on the first line and matching
/// indent.
fn wrap(w: &mut dyn Write, prefix: &str, text: &str) -> io::Result<()> {
    let width = super::fit::width();
    let indent = " ".repeat(prefix.chars().count());
    let mut line = prefix.to_string();
    let mut len = line.chars().count();
    let mut first_word = true;
    for word in text.split(' ') {
        let wl = word.chars().count();
        if !first_word && len + 1 + wl > width {
            writeln!(w, "{line}")?;
            line = indent.clone();
            len = indent.len();
            first_word = true;
        }
        if !first_word {
            line.push(' ');
            len += 1;
        }
        line.push_str(word);
        len += wl;
        first_word = false;
    }
    writeln!(w, "{line}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_cover_the_phase() {
        assert_eq!(bar(0.0, 100.0, 100.0), "#".repeat(BAR));
        let b = bar(50.0, 1.0, 100.0);
        assert_eq!(b.chars().filter(|c| *c == '#').count(), 1);
        assert_eq!(b.find('#'), Some(12));
        assert_eq!(bar(100.0, 0.0, 100.0).find('#'), Some(BAR - 1));
    }
}
