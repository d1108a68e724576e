//! One status line with performance data, as Nagios/Icinga plugins print it:
//! `RDP <STATE> - <text> | <perfdata>`; the exit code is the verdict's (0/1/2).

use crate::model::{PhaseStatus, Verdict};
use crate::report::Report;
use crate::sanitize::escape;
use std::io::{self, Write};

pub fn render(r: &Report, w: &mut dyn Write) -> io::Result<()> {
    let state = match r.verdict {
        Verdict::Healthy => "OK",
        Verdict::Degraded => "WARNING",
        Verdict::Failing => "CRITICAL",
    };
    let text = match r
        .findings
        .iter()
        .find(|f| f.severity >= crate::model::Severity::Warning)
    {
        Some(f) => {
            let more = r
                .findings
                .iter()
                .filter(|f| f.severity >= crate::model::Severity::Warning)
                .count()
                .saturating_sub(1);
            let more = if more > 0 {
                format!(" (+{more} more)")
            } else {
                String::new()
            };
            format!("{}: {}{more}", f.id, f.title)
        }
        None => {
            let nla = r
                .facts
                .protocols
                .as_ref()
                .map(|p| p.nla.as_str())
                .unwrap_or("unknown");
            format!("{}:{} answers, NLA {nla}", r.target.host, r.target.port)
        }
    };
    // '|' separates perfdata: never let it appear in the text.
    let text = escape(&text).replace('|', "/");
    let mut perf = vec![format!("time={:.4}s;;;0", r.duration_ms / 1000.0)];
    for p in &r.phases {
        if p.status != PhaseStatus::Skipped {
            perf.push(format!("{}={:.4}s;;;0", p.phase, p.duration_ms / 1000.0));
        }
    }
    if let Some(c) = &r.facts.certificate {
        perf.push(format!("cert_days_left={};30:;0:", c.days_left));
    }
    writeln!(w, "RDP {state} - {text} | {}", perf.join(" "))
}
