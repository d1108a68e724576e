//! Scan output: a compact row per target (table or CSV), JSON Lines (one `check` document per
//! target, written as each finishes), and a summary grouped by finding id. Renderers write to
//! any `Write`. Rows and the summary hold a bounded amount per target (ids, a date, a few
//! short strings), never the report.

use super::scan::{Outcome, TargetResult};
use crate::facts::SecurityProtocol;
use crate::model::{Severity, Verdict};
use crate::render::Style;
use crate::report::Report;
use crate::sanitize::escape;
use std::collections::BTreeMap;
use std::io::{self, Write};

/// `check`'s verdict, or `unknown` when the target got none (deadline, local error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RowVerdict {
    Healthy,
    Degraded,
    Failing,
    Unknown,
}

impl RowVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            RowVerdict::Healthy => "healthy",
            RowVerdict::Degraded => "degraded",
            RowVerdict::Failing => "failing",
            RowVerdict::Unknown => "unknown",
        }
    }
}

/// One line of the table/CSV.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub index: usize,
    pub target: String,
    pub verdict: RowVerdict,
    pub exit_code: u8,
    pub first_finding: Option<String>,
    pub first_severity: Option<Severity>,
    /// Every finding id, in report order.
    pub findings: Vec<String>,
    /// RFC 3339.
    pub cert_not_after: Option<String>,
    pub cert_days_left: Option<i64>,
    /// Accepted protocols (enumeration), or the one selected for the client's request.
    pub protocols: String,
    /// `required`, `supported`, `not-offered`, `unknown`, or empty when not measured.
    pub nla: String,
    pub standard_rdp: String,
    pub tls_version: String,
    pub duration_ms: f64,
    /// Why there is no verdict (deadline, local error).
    pub note: String,
}

impl Row {
    pub fn from_result(r: &TargetResult) -> Row {
        let mut row = Row {
            index: r.index,
            target: r.target.input.clone(),
            verdict: RowVerdict::Unknown,
            exit_code: r.exit_code(),
            first_finding: None,
            first_severity: None,
            findings: Vec::new(),
            cert_not_after: None,
            cert_days_left: None,
            protocols: String::new(),
            nla: String::new(),
            standard_rdp: String::new(),
            tls_version: String::new(),
            duration_ms: r.duration_ms,
            note: String::new(),
        };
        match &r.outcome {
            Outcome::Report(rep) => fill(&mut row, rep),
            Outcome::Deadline(d) => {
                row.note = format!("no result within the {} s deadline", d.as_secs_f64());
            }
            Outcome::LocalError(e) => row.note = e.clone(),
        }
        row
    }
}

fn fill(row: &mut Row, rep: &Report) {
    row.verdict = match rep.verdict {
        Verdict::Healthy => RowVerdict::Healthy,
        Verdict::Degraded => RowVerdict::Degraded,
        Verdict::Failing => RowVerdict::Failing,
    };
    row.first_finding = rep.findings.first().map(|f| f.id.clone());
    row.first_severity = rep.findings.first().map(|f| f.severity);
    row.findings = rep.findings.iter().map(|f| f.id.clone()).collect();
    let f = &rep.facts;
    if let Some(c) = &f.certificate {
        row.cert_not_after = Some(c.not_after.clone());
        row.cert_days_left = Some(c.days_left);
    }
    if let Some(p) = &f.protocols {
        row.protocols = SecurityProtocol::join(&p.accepted, ",");
        row.nla = p.nla.to_string();
        row.standard_rdp = p.standard_rdp.to_string();
    } else if let Some(n) = &f.negotiation {
        if let Some(sel) = n.selected() {
            row.protocols = format!("sel:{}", sel.short_name().unwrap_or("other"));
        }
    }
    if let Some(t) = &f.tls {
        row.tls_version = t.version.clone().unwrap_or_default();
    }
}

/// Counts per finding id, with a few example targets (the first in input order).
#[derive(Debug, Default)]
pub struct Summary {
    pub targets: usize,
    pub by_verdict: [usize; 4],
    pub groups: BTreeMap<String, Group>,
    pub exit_code: u8,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub severity: Option<Severity>,
    pub title: String,
    pub count: usize,
    /// (input index, target) of up to `EXAMPLES` targets, lowest index first.
    pub examples: Vec<(usize, String)>,
}

pub const EXAMPLES: usize = 3;

impl Summary {
    pub fn add(&mut self, r: &TargetResult) {
        self.targets += 1;
        self.exit_code = self.exit_code.max(r.exit_code());
        match &r.outcome {
            Outcome::Report(rep) => {
                let v = match rep.verdict {
                    Verdict::Healthy => 0,
                    Verdict::Degraded => 1,
                    Verdict::Failing => 2,
                };
                if let Some(c) = self.by_verdict.get_mut(v) {
                    *c += 1;
                }
                let mut seen: Vec<&str> = Vec::new();
                for f in &rep.findings {
                    if seen.contains(&f.id.as_str()) {
                        continue;
                    }
                    seen.push(&f.id);
                    self.note(&f.id, Some(f.severity), &f.title, r);
                }
            }
            Outcome::Deadline(_) => {
                self.unknown();
                self.note("(deadline)", None, "no result within the deadline", r);
            }
            Outcome::LocalError(_) => {
                self.unknown();
                self.note(
                    "(local-error)",
                    None,
                    "this machine could not run the check",
                    r,
                );
            }
        }
    }

    fn unknown(&mut self) {
        if let Some(c) = self.by_verdict.get_mut(3) {
            *c += 1;
        }
    }

    fn note(&mut self, id: &str, sev: Option<Severity>, title: &str, r: &TargetResult) {
        let g = self.groups.entry(id.to_string()).or_insert_with(|| Group {
            severity: sev,
            title: title.to_string(),
            count: 0,
            examples: Vec::new(),
        });
        g.count += 1;
        // A finding's severity can be raised for one target; show the highest seen.
        if sev > g.severity {
            g.severity = sev;
        }
        let pos = g.examples.partition_point(|(i, _)| *i < r.index);
        if pos < EXAMPLES {
            g.examples.insert(pos, (r.index, r.target.input.clone()));
            g.examples.truncate(EXAMPLES);
        }
    }

    /// Groups ordered for reading: errors first, then by count, then by id.
    pub fn ordered(&self) -> Vec<(&String, &Group)> {
        let mut v: Vec<_> = self.groups.iter().collect();
        v.sort_by(|(ia, a), (ib, b)| {
            b.severity
                .cmp(&a.severity)
                .then(b.count.cmp(&a.count))
                .then(ia.cmp(ib))
        });
        v
    }
}

/// `check`'s JSON document for a target, on one line; a target without a report gets a small
/// document of its own schema.
pub fn jsonl(r: &TargetResult, w: &mut dyn Write) -> io::Result<()> {
    match &r.outcome {
        Outcome::Report(rep) => crate::sanitize::to_writer(&mut *w, rep.as_ref()),
        other => {
            let (status, error) = match other {
                Outcome::Deadline(d) => (
                    "deadline",
                    format!("no result within the {} s deadline", d.as_secs_f64()),
                ),
                Outcome::LocalError(e) => ("local-error", e.clone()),
                Outcome::Report(_) => ("", String::new()),
            };
            crate::sanitize::to_writer(
                &mut *w,
                &serde_json::json!({
                    "schema": "rdp-doctor/scan-error/v1",
                    "tool_version": env!("CARGO_PKG_VERSION"),
                    "target": r.target,
                    "status": status,
                    "error": error,
                    "duration_ms": r.duration_ms,
                    "exit_code": 3,
                }),
            )
        }
    }?;
    writeln!(w)
}

fn date(rfc3339: &str) -> &str {
    rfc3339.get(..10).unwrap_or(rfc3339)
}

fn cert_cell(r: &Row) -> String {
    match (&r.cert_not_after, r.cert_days_left) {
        (Some(na), Some(d)) => format!("{} ({d} d)", date(na)),
        _ => "-".into(),
    }
}

fn dash(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.to_string()
    }
}

/// The table: one row per target, in input order.
/// `room`: the columns to fit (`render::fit::width()` for standard output).
pub fn table(rows: &[Row], s: Style, room: usize, w: &mut dyn Write) -> io::Result<()> {
    let head = [
        "TARGET",
        "VERDICT",
        "FIRST FINDING",
        "CERT EXPIRES",
        "PROTOCOLS",
        "NLA",
        "TIME",
    ];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                escape(&r.target),
                r.verdict.as_str().to_string(),
                r.first_finding
                    .clone()
                    .unwrap_or_else(|| dash(&escape(&r.note))),
                cert_cell(r),
                dash(&r.protocols),
                dash(&r.nla),
                crate::render::human::format_ms(r.duration_ms),
            ]
        })
        .collect();
    let mut width = head.map(str::len);
    for c in &cells {
        for (wd, v) in width.iter_mut().zip(c.iter()) {
            *wd = (*wd).max(v.chars().count());
        }
    }
    // Fit the output width: drop the columns the JSON/CSV output still has (NLA, then
    // PROTOCOLS, then CERT EXPIRES) before any row would wrap; what remains always wraps,
    // never cut.
    let mut keep: Vec<usize> = (0..7).collect();
    let total = |keep: &[usize]| -> usize {
        keep.iter()
            .map(|i| width.get(*i).copied().unwrap_or(0))
            .sum::<usize>()
            + 2 * keep.len().saturating_sub(1)
    };
    let mut dropped = Vec::new();
    for col in [5, 4, 3] {
        if total(&keep) <= room {
            break;
        }
        keep.retain(|i| *i != col);
        dropped.push(head.get(col).copied().unwrap_or(""));
    }
    let line = |vals: &[String; 7], paint: &dyn Fn(usize, &str) -> String| -> String {
        let mut out = String::new();
        for (k, i) in keep.iter().enumerate() {
            let (Some(v), Some(&wd)) = (vals.get(*i), width.get(*i)) else {
                continue;
            };
            let pad = wd.saturating_sub(v.chars().count());
            let last = k + 1 == keep.len();
            if *i == 6 {
                // right-align the time
                out.push_str(&" ".repeat(pad));
                out.push_str(&paint(*i, v));
            } else {
                out.push_str(&paint(*i, v));
                if !last {
                    out.push_str(&" ".repeat(pad));
                }
            }
            if !last {
                out.push_str("  ");
            }
        }
        out
    };
    let mut w = crate::render::fit::Wrap::new(w, room);
    writeln!(
        w,
        "{}",
        s.bold(&line(&head.map(String::from), &|_, v| v.into()))
    )?;
    for (c, r) in cells.iter().zip(rows) {
        let paint = |i: usize, v: &str| -> String {
            if i == 1 {
                match r.verdict {
                    RowVerdict::Healthy => s.green(v),
                    RowVerdict::Degraded => s.yellow(v),
                    RowVerdict::Failing => s.red(v),
                    RowVerdict::Unknown => s.dim(v),
                }
            } else {
                v.to_string()
            }
        };
        writeln!(w, "{}", line(c, &paint))?;
    }
    if !dropped.is_empty() {
        writeln!(
            w,
            "{}",
            s.dim(&format!(
                "(left out to fit {room} columns: {}; see --format csv)",
                dropped.join(", ")
            ))
        )?;
    }
    w.flush()
}

/// RFC 4180 field: quoted when it holds a comma, quote or line break; control characters
/// escaped; a leading `=`, `+`, `-` or `@` neutralised (spreadsheet formula injection).
pub fn csv_field(v: &str) -> String {
    let mut v = escape(v);
    if v.starts_with(['=', '+', '-', '@']) && v.parse::<f64>().is_err() {
        v.insert(0, '\'');
    }
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

pub const CSV_HEADER: &str = "target,verdict,exit_code,first_finding,first_severity,findings,cert_not_after,cert_days_left,protocols,nla,standard_rdp,tls_version,duration_ms,note";

pub fn csv(rows: &[Row], w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "{CSV_HEADER}")?;
    for r in rows {
        let fields = [
            r.target.clone(),
            r.verdict.as_str().to_string(),
            r.exit_code.to_string(),
            r.first_finding.clone().unwrap_or_default(),
            r.first_severity
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            r.findings.join(";"),
            r.cert_not_after.clone().unwrap_or_default(),
            r.cert_days_left.map(|d| d.to_string()).unwrap_or_default(),
            r.protocols.replace(',', ";"),
            r.nla.clone(),
            r.standard_rdp.clone(),
            r.tls_version.clone(),
            format!("{:.1}", r.duration_ms),
            r.note.clone(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        writeln!(w, "{}", line.join(","))?;
    }
    Ok(())
}

/// Throughput and totals, then one line per finding id.
pub fn summary(
    sum: &Summary,
    stats: &super::scan::ScanStats,
    s: Style,
    w: &mut dyn Write,
) -> io::Result<()> {
    let secs = stats.wall.as_secs_f64();
    let rate = if secs > 0.0 {
        sum.targets as f64 / secs
    } else {
        0.0
    };
    let [h, d, f, u] = sum.by_verdict;
    // One line, wrapped to the output width (the rate's digits vary from run to run).
    let line = format!(
        "{} {} target{} in {:.2} s ({:.1}/s): {} healthy, {} degraded, {} failing, {} unknown{}",
        s.bold("Summary:"),
        sum.targets,
        if sum.targets == 1 { "" } else { "s" },
        secs,
        rate,
        s.green(&h.to_string()),
        s.yellow(&d.to_string()),
        s.red(&f.to_string()),
        u,
        if stats.interrupted {
            " (interrupted: the remaining targets were not started)"
        } else {
            ""
        }
    );
    for l in crate::render::fit::wrap_line(&line, crate::render::fit::width(), 4) {
        writeln!(w, "{l}")?;
    }
    let groups = sum.ordered();
    if groups.is_empty() {
        return Ok(());
    }
    let idw = groups
        .iter()
        .map(|(id, _)| id.len())
        .max()
        .unwrap_or(0)
        .max("FINDING".len());
    writeln!(w)?;
    writeln!(
        w,
        "{}",
        s.bold(&format!(
            "{:<idw$}  {:<8}  {:>7}  EXAMPLES",
            "FINDING", "SEVERITY", "TARGETS"
        ))
    )?;
    for (id, g) in groups {
        let sev = g.severity.map(|x| x.as_str()).unwrap_or("unknown");
        let more = g.count.saturating_sub(g.examples.len());
        let ex: Vec<String> = g.examples.iter().map(|(_, t)| escape(t)).collect();
        let more = if more > 0 {
            format!(" (+{more} more)")
        } else {
            String::new()
        };
        writeln!(
            w,
            "{:<idw$}  {:<8}  {:>7}  {}{more}",
            id,
            sev,
            g.count,
            ex.join(", ")
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::*;
    use crate::fleet::scan::TargetResult;
    use crate::model::{Finding, Phase, Target};
    use std::time::Duration;

    fn target(s: &str) -> Target {
        crate::target::parse_target(s, 3389).expect("valid")
    }

    fn finding(id: &str, sev: Severity) -> Finding {
        Finding {
            id: id.into(),
            severity: sev,
            kind: Default::default(),
            phase: Phase::Tls,
            title: format!("title of {id}"),
            explanation: String::new(),
            evidence: vec![],
            fix: vec![],
            references: vec![],
            count: None,
            first: None,
            last: None,
        }
    }

    fn report(t: &str, findings: Vec<Finding>) -> Report {
        let facts = Facts {
            protocols: Some(ProtocolsFact {
                probes: vec![],
                accepted: vec![SecurityProtocol::Tls, SecurityProtocol::Hybrid],
                nla: Support::Supported,
                tls: Support::Supported,
                standard_rdp: Allowance::Refused,
                together: None,
            }),
            ..Facts::default()
        };
        crate::report::build(
            target(t),
            "2026-11-25T00:00:00Z".into(),
            12.0,
            facts,
            &crate::probe::Timeline::default(),
            findings,
        )
    }

    fn res(i: usize, t: &str, outcome: Outcome) -> TargetResult {
        TargetResult {
            index: i,
            target: target(t),
            outcome,
            duration_ms: 12.5,
            fd_retries: 0,
        }
    }

    fn sample() -> Vec<TargetResult> {
        vec![
            res(
                0,
                "10.0.0.1:3389",
                Outcome::Report(Box::new(report("10.0.0.1", vec![]))),
            ),
            res(
                1,
                "10.0.0.2:3389",
                Outcome::Report(Box::new(report(
                    "10.0.0.2",
                    vec![
                        finding("cert-expired", Severity::Error),
                        finding("nla-not-required", Severity::Warning),
                    ],
                ))),
            ),
            res(
                2,
                "10.0.0.3:3389",
                Outcome::Report(Box::new(report(
                    "10.0.0.3",
                    vec![finding("nla-not-required", Severity::Warning)],
                ))),
            ),
            res(
                3,
                "10.0.0.4:3389",
                Outcome::Deadline(Duration::from_secs(15)),
            ),
        ]
    }

    #[test]
    fn rows_carry_verdict_first_finding_and_protocols() {
        let rows: Vec<Row> = sample().iter().map(Row::from_result).collect();
        assert_eq!(rows[0].verdict, RowVerdict::Healthy);
        assert_eq!(rows[0].protocols, "tls,hybrid");
        assert_eq!(rows[0].nla, "supported");
        assert_eq!(rows[1].first_finding.as_deref(), Some("cert-expired"));
        assert_eq!(rows[1].exit_code, 2);
        assert_eq!(rows[3].verdict, RowVerdict::Unknown);
        assert_eq!(rows[3].exit_code, 3);
        assert!(rows[3].note.contains("15 s deadline"));
    }

    #[test]
    fn table_has_one_aligned_line_per_target() {
        let rows: Vec<Row> = sample().iter().map(Row::from_result).collect();
        let mut out = Vec::new();
        table(&rows, Style { color: false }, 200, &mut out).expect("writes");
        let text = String::from_utf8(out).expect("utf8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(
            lines[0].contains("PROTOCOLS") && lines[0].contains("NLA"),
            "{text}"
        );
        assert!(lines[0].starts_with("TARGET"));
        let col = lines[0].find("VERDICT").expect("column");
        for l in &lines[1..] {
            assert_eq!(&l[col - 2..col], "  ", "{l}");
        }
        assert!(lines[2].contains("failing") && lines[2].contains("cert-expired"));
        assert!(lines[4].contains("unknown") && lines[4].contains("deadline"));
    }

    #[test]
    fn csv_quotes_and_neutralises() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\", ok"), "\"say \"\"hi\"\", ok\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
        assert_eq!(csv_field("-36"), "-36", "numbers stay numbers");
        assert_eq!(csv_field("-cmd"), "'-cmd");
        assert_eq!(csv_field("x\ny"), "x\\x0ay");
        let rows: Vec<Row> = sample().iter().map(Row::from_result).collect();
        let mut out = Vec::new();
        csv(&rows, &mut out).expect("writes");
        let text = String::from_utf8(out).expect("utf8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], CSV_HEADER);
        let ncols = CSV_HEADER.split(',').count();
        assert!(lines[1..].iter().all(|l| l.split(',').count() == ncols));
        assert!(lines[2].starts_with(
            "10.0.0.2:3389,failing,2,cert-expired,error,cert-expired;nla-not-required,"
        ));
    }

    #[test]
    fn jsonl_is_one_check_document_per_line() {
        let mut out = Vec::new();
        for r in sample() {
            jsonl(&r, &mut out).expect("writes");
        }
        let text = String::from_utf8(out).expect("utf8");
        let docs: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(docs.len(), 4);
        assert_eq!(docs[1]["schema"], "rdp-doctor/check/v1");
        assert_eq!(docs[1]["findings"][0]["id"], "cert-expired");
        assert_eq!(docs[3]["schema"], "rdp-doctor/scan-error/v1");
        assert_eq!(docs[3]["status"], "deadline");
        assert_eq!(docs[3]["target"]["host"], "10.0.0.4");
        // a check line deserialises back into a Report
        let _: Report = serde_json::from_str(text.lines().next().expect("line")).expect("report");
    }

    #[test]
    fn summary_groups_by_finding_with_examples() {
        let mut sum = Summary::default();
        // completion order differs from input order: examples are still the first inputs
        let mut rs = sample();
        rs.reverse();
        for r in &rs {
            sum.add(r);
        }
        assert_eq!(sum.targets, 4);
        assert_eq!(sum.by_verdict, [1, 1, 1, 1]);
        assert_eq!(sum.exit_code, 3);
        let g = &sum.groups["nla-not-required"];
        assert_eq!(g.count, 2);
        assert_eq!(
            g.examples,
            vec![
                (1, "10.0.0.2:3389".to_string()),
                (2, "10.0.0.3:3389".to_string())
            ]
        );
        let order: Vec<&str> = sum.ordered().iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(
            order,
            vec!["cert-expired", "nla-not-required", "(deadline)"]
        );
        let stats = crate::fleet::scan::ScanStats {
            started: 4,
            completed: 4,
            wall: Duration::from_secs(2),
            final_concurrency: 4,
            interrupted: false,
        };
        let mut out = Vec::new();
        summary(&sum, &stats, Style { color: false }, &mut out).expect("writes");
        let text = String::from_utf8(out).expect("utf8");
        // 81 columns: wrapped at 80, the words unchanged.
        let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            joined.starts_with(
                "Summary: 4 targets in 2.00 s (2.0/s): 1 healthy, 1 degraded, 1 failing, 1 unknown"
            ),
            "{text}"
        );
        assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
        assert!(text.contains("nla-not-required  warning         2  10.0.0.2:3389, 10.0.0.3:3389"));
    }

    #[test]
    fn examples_are_capped() {
        let mut sum = Summary::default();
        for i in (0..10).rev() {
            sum.add(&res(
                i,
                &format!("10.0.0.{}:3389", i + 1),
                Outcome::LocalError("x".into()),
            ));
        }
        let g = &sum.groups["(local-error)"];
        assert_eq!(g.count, 10);
        assert_eq!(g.examples.len(), EXAMPLES);
        assert_eq!(g.examples[0].0, 0);
    }
}
