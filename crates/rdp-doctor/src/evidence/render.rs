//! Renderers for `rdp-doctor logs`: a human report and JSON (schema `rdp-doctor/logs/v1`).
//! All text that came from a file was escaped when it entered the findings.

use super::{EvidenceFindings, LogsOptions, LOGS_SCHEMA};
use crate::model::{Finding, Severity};
use serde::Serialize;
use std::io::{self, Write};

fn paint(color: bool, sev: Severity, s: &str) -> String {
    if !color {
        return s.to_string();
    }
    let code = match sev {
        Severity::Error => "31;1",
        Severity::Warning => "33;1",
        Severity::Info => "36",
    };
    format!("\x1b[{code}m{s}\x1b[0m")
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn logs_human(
    ev: &EvidenceFindings,
    findings: &[Finding],
    opts: &LogsOptions,
    w: &mut dyn Write,
    color: bool,
) -> io::Result<()> {
    let t = &ev.totals;
    writeln!(
        w,
        "rdp-doctor logs: {} file{}, {} records read, {} damaged (skipped), {} matched{}",
        t.files,
        if t.files == 1 { "" } else { "s" },
        thousands(t.records),
        thousands(t.damaged),
        thousands(t.matched),
        if t.filtered_out > 0 {
            format!(", {} filtered out", thousands(t.filtered_out))
        } else {
            String::new()
        }
    )?;
    let mut filters = Vec::new();
    if let Some(s) = &opts.since {
        filters.push(format!("since {}", super::fmt_time(s)));
    }
    if let Some(h) = &opts.host {
        filters.push(format!("host {}", crate::sanitize::escape(h)));
    }
    if !filters.is_empty() {
        writeln!(w, "filters: {}", filters.join(", "))?;
    }
    writeln!(w)?;

    if findings.is_empty() {
        writeln!(w, "No RDP-relevant events found.")?;
    }
    for f in findings {
        writeln!(
            w,
            "{:<8} {}  {}",
            paint(color, f.severity, f.severity.as_str()),
            f.id,
            f.title
        )?;
        for e in &f.evidence {
            writeln!(w, "         {e}")?;
        }
        if f.severity != Severity::Info {
            for (i, step) in f.fix.iter().enumerate() {
                let prefix = if i == 0 { "fix:" } else { "    " };
                writeln!(w, "         {prefix} {}. {step}", i + 1)?;
            }
        }
        writeln!(w)?;
    }

    writeln!(w, "files:")?;
    for f in &ev.files {
        match &f.error {
            Some(e) => writeln!(w, "  {}: cannot read: {e}", f.path)?,
            None => {
                writeln!(
                    w,
                    "  {} ({}, {} bytes): {} records, {} damaged, {} matched, {:.0} ms",
                    f.path,
                    f.format,
                    thousands(f.bytes),
                    thousands(f.records),
                    thousands(f.damaged),
                    thousands(f.matched),
                    f.duration_ms
                )?;
                for d in &f.damage_examples {
                    writeln!(w, "    damaged: {d}")?;
                }
            }
        }
    }
    writeln!(
        w,
        "read {} records ({:.2} MiB) in {:.3} s: {} records/s, {:.1} MiB/s",
        thousands(t.records),
        t.bytes as f64 / (1024.0 * 1024.0),
        t.seconds,
        thousands(t.records_per_second as u64),
        t.mib_per_second
    )?;
    Ok(())
}

#[derive(Serialize)]
struct LogsJson<'a> {
    schema: &'static str,
    tool_version: &'static str,
    exit_code: u8,
    totals: &'a super::rules::Totals,
    /// The same finding object as `check`'s, with `count`, `first` and `last`.
    findings: &'a [Finding],
    files: &'a [super::FileStats],
}

pub fn logs_json(
    ev: &EvidenceFindings,
    findings: &[Finding],
    exit: crate::model::Exit,
    w: &mut dyn Write,
) -> io::Result<()> {
    let doc = LogsJson {
        schema: LOGS_SCHEMA,
        tool_version: env!("CARGO_PKG_VERSION"),
        exit_code: exit.code(),
        totals: &ev.totals,
        findings,
        files: &ev.files,
    };
    crate::sanitize::to_writer_pretty(&mut *w, &doc)?;
    writeln!(w)
}
