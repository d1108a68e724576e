//! `watch` off the live view: the mtr-style summary (80 columns) and the JSON lines. Both
//! write to any `Write`; server text was escaped when the sample was made, and JSON strings
//! are escaped again by serde_json.

use crate::history::{clock_label, duration_label, Change, FullSummary, History, Sample, PHASES};
use serde_json::{json, Value};
use std::io::{self, Write};

fn time(started_unix_ms: i64, at_ms: u64) -> String {
    let ms = started_unix_ms.saturating_add(i64::try_from(at_ms).unwrap_or(i64::MAX));
    let secs = ms.div_euclid(1000);
    // RFC 3339 with milliseconds: 2026-12-06T04:50:01.250Z
    let base = crate::cert::rfc3339(secs);
    match base.strip_suffix('Z') {
        Some(b) => format!("{b}.{:03}Z", ms.rem_euclid(1000)),
        None => base,
    }
}

/// The `schema` of every line (schemas/watch.schema.json).
pub const SCHEMA: &str = "rdp-doctor/watch/v1";

/// `{"type":"sample", ...}`: one cheap sample.
pub fn sample_json(started_unix_ms: i64, s: &Sample) -> Value {
    let mut v = json!({
        "schema": SCHEMA,
        "type": "sample",
        "time": time(started_unix_ms, s.at_ms),
        "elapsed_ms": s.at_ms,
    });
    if let (Value::Object(m), Ok(Value::Object(fields))) = (&mut v, serde_json::to_value(s)) {
        for (k, x) in fields {
            if k != "at_ms" {
                m.insert(k, x);
            }
        }
    }
    v
}

/// `{"type":"change", ...}`: a state change that began.
pub fn change_json(started_unix_ms: i64, c: &Change) -> Value {
    json!({
        "schema": SCHEMA,
        "type": "change",
        "time": time(started_unix_ms, c.at_ms),
        "elapsed_ms": c.at_ms,
        "kind": c.kind,
        "level": c.level,
        "text": c.text,
    })
}

/// `{"type":"full", ...}`: what a full check concluded.
pub fn full_json(started_unix_ms: i64, f: &FullSummary) -> Value {
    let first = f
        .first
        .as_ref()
        .map(|(id, title)| json!({"id": id, "title": title}));
    json!({
        "schema": SCHEMA,
        "type": "full",
        "time": time(started_unix_ms, f.at_ms),
        "elapsed_ms": f.at_ms,
        "verdict": f.verdict,
        "first_finding": first,
        "findings": f.findings,
    })
}

fn ms(v: Option<f64>) -> String {
    match v {
        Some(x) if x >= 10_000.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.2}"),
        None => "-".into(),
    }
}

/// The summary: per phase sent, loss %, last/avg/best/worst/stdev and jitter in ms; the
/// verdict of the last full check; the timeline. Every line fits 80 columns.
pub fn write(h: &History, label: &str, started_unix_ms: i64, w: &mut dyn Write) -> io::Result<()> {
    let now = h.now_ms();
    let label: String = label.chars().take(62).collect();
    writeln!(w, "rdp-doctor watch {label}")?;
    writeln!(
        w,
        "{} samples, {} full checks, {}",
        h.samples,
        h.fulls,
        duration_label(now)
    )?;
    writeln!(
        w,
        "{:<6}{:>6}{:>7}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}",
        "phase", "sent", "loss%", "last", "avg", "best", "worst", "stdev", "jitter"
    )?;
    for p in PHASES {
        let s = h.stats(p);
        writeln!(
            w,
            "{:<6}{:>6}{:>6.1}%{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}",
            p.as_str(),
            s.sent,
            s.loss_pct(),
            ms(s.last),
            ms(s.avg()),
            ms(s.best),
            ms(s.worst),
            ms(s.stdev()),
            ms(s.jitter()),
        )?;
    }
    writeln!(w, "(times in ms)")?;
    match &h.full {
        Some(f) => {
            let first = match &f.first {
                Some((id, title)) => format!(": {id} - {title}"),
                None => String::new(),
            };
            for line in crate::render::fit::wrap_line(
                &format!("verdict: {}{first}", f.verdict.as_str()),
                80,
                2,
            ) {
                writeln!(w, "{line}")?;
            }
        }
        None => writeln!(w, "verdict: no full check finished")?,
    }
    writeln!(w, "timeline (UTC):")?;
    if h.dropped > 0 {
        writeln!(w, "  ({} older changes not kept)", h.dropped)?;
    }
    for c in h.timeline() {
        writeln!(w, "{}", timeline_line(c, started_unix_ms, now, 80))?;
    }
    Ok(())
}

/// `04:50:06  listener down (refused)          3.0s`, fitted to `width` columns (the text is
/// cut with an ellipsis, the duration stays).
pub fn timeline_line(c: &Change, started_unix_ms: i64, now_ms: u64, width: usize) -> String {
    let clock = clock_label(started_unix_ms, c.at_ms);
    let mut dur = duration_label(c.duration_ms(now_ms));
    if c.ended_ms.is_none() {
        dur.push('+');
    }
    let room = width.saturating_sub(clock.len() + 2 + dur.len() + 1);
    let text: String = if c.text.chars().count() > room {
        let mut t: String = c.text.chars().take(room.saturating_sub(1)).collect();
        t.push('…');
        t
    } else {
        c.text.clone()
    };
    format!("{clock}  {text:<room$} {dur}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::history::{Config, Kind, Level};

    fn sample(at_ms: u64, up: bool) -> Sample {
        crate::history::test_sample(at_ms, up, 0.5)
    }

    #[test]
    fn summary_fits_80_columns_and_has_the_numbers() {
        let mut h = History::new(Config::default());
        for t in 0..4 {
            h.record(sample(t * 1000, t != 2));
        }
        let mut out = Vec::new();
        write(&h, "a-very-long-host-name.example.com:3389", 0, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        for l in text.lines() {
            assert!(l.chars().count() <= 80, "{l}");
        }
        let tcp = text.lines().find(|l| l.starts_with("tcp")).unwrap();
        let cols: Vec<&str> = tcp.split_whitespace().collect();
        assert_eq!(cols[1], "4");
        assert_eq!(cols[2], "25.0%");
        let x224 = text.lines().find(|l| l.starts_with("x224")).unwrap();
        assert!(x224.split_whitespace().nth(1) == Some("3"), "{x224}");
        assert!(text.contains("listener down (refused)"));
        assert!(text.contains("00:00:02  listener down (refused)"), "{text}");
    }

    #[test]
    fn timeline_line_cuts_the_text_not_the_duration() {
        let c = Change {
            at_ms: 0,
            kind: Kind::Listener,
            level: Level::Ok,
            text: "x".repeat(200),
            ended_ms: Some(65_000),
        };
        let l = timeline_line(&c, 0, 0, 40);
        assert_eq!(l.chars().count(), 40);
        assert!(l.ends_with(" 1m05s"), "{l}");
    }

    #[test]
    fn json_lines_escape_and_parse() {
        let mut s = sample(1500, true);
        s.protocol = Some("\"quoted\"\n".into());
        let v = sample_json(1_000_000_000_000, &s);
        let line = v.to_string();
        assert!(!line.contains('\n'));
        let back: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back["type"], "sample");
        assert_eq!(back["elapsed_ms"], 1500);
        assert_eq!(back["tcp"]["outcome"], "ok");
        assert_eq!(back["protocol"], "\"quoted\"\n");
        assert_eq!(back["time"], "2001-09-09T01:46:41.500Z");
    }
}
