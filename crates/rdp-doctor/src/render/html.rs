//! The HTML report (`check --html FILE`): one self-contained page to attach to a ticket. No
//! external resource and no script is needed to read it: the CSS is inline (light and dark by
//! `prefers-color-scheme`), the phase waterfall is inline SVG drawn from the measured phase
//! start and duration, command lines in fix steps are `<pre>` blocks that select whole on a
//! click. The JSON document (the same as `--format json`) is embedded in a
//! `<script type="application/json">` block for machines, with `<`, `>` and `&` written as
//! JSON `\u` escapes so no text in it can close the block.
//!
//! Everything is escaped: server text (certificate subjects, NTLM names, HTTP banners, event
//! log fields) goes through [`crate::sanitize::escape`] (control, C1 and bidi characters made
//! visible) and then HTML escaping ([`text`]), so it can never become markup.

use super::human::format_ms;
use crate::facts::{CertFact, ProtocolsFact, X224Outcome};
use crate::model::{Finding, PhaseRecord, PhaseStatus, Severity, Verdict};
use crate::report::Report;
use std::fmt::Write as _;
use std::io::{self, Write};

/// The style sheet every page shares (the fleet page too). Small on purpose.
pub const CSS: &str = r#":root{color-scheme:light dark;--bg:#fff;--fg:#1f2328;--mut:#59636e;--line:#d1d9e0;--card:#f6f8fa;--err:#cf222e;--warn:#9a6700;--ok:#1a7f37;--info:#0969da;--skip:#8c959f}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--mut:#9198a1;--line:#3d444d;--card:#151b23;--err:#ff7b72;--warn:#d29922;--ok:#3fb950;--info:#4493f8;--skip:#656c76}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1120px;padding:16px 24px 40px;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","DejaVu Sans",sans-serif;background:var(--bg);color:var(--fg)}
h1{font-size:1.55em;margin:.1em 0 .3em}h2{font-size:1.2em;margin:1.8em 0 .5em;padding-bottom:.2em;border-bottom:1px solid var(--line)}h3{font-size:1.05em;margin:.2em 0 .4em}
.banner{border-left:10px solid var(--c);background:var(--card);padding:12px 18px;border-radius:8px}
.banner p,.banner div{margin:.3em 0}
.failing,.error,.failed{--c:var(--err)}.degraded,.warning,.timeout{--c:var(--warn)}.healthy,.ok{--c:var(--ok)}.info{--c:var(--info)}.skipped,.unknown{--c:var(--skip)}
.v{color:var(--c);font-weight:700}
.tag{display:inline-block;white-space:nowrap;border-radius:10px;padding:0 8px;font-size:.78em;font-weight:700;color:var(--bg);background:var(--c);vertical-align:middle}
.mut{color:var(--mut)}
table{border-collapse:collapse;width:100%;font-size:.92em;margin:.4em 0}
th,td{text-align:left;vertical-align:top;padding:4px 8px;border-bottom:1px solid var(--line);overflow-wrap:anywhere}
th{font-weight:600;white-space:nowrap}
table.phases td:nth-child(-n+4),table.matrix td:nth-child(-n+3),table.matrix td:last-child{white-space:nowrap}
table.kv th{width:13em;color:var(--mut);font-weight:500}
code,pre{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace}
pre{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:7px 10px;margin:.35em 0;white-space:pre-wrap;overflow-wrap:anywhere;user-select:all;-webkit-user-select:all}
.finding{border:1px solid var(--line);border-left:6px solid var(--c);border-radius:8px;padding:8px 16px 10px;margin:14px 0}
.finding ul,.finding ol{margin:.2em 0 .5em;padding-left:1.6em}
.finding h4{margin:.6em 0 .1em;font-size:.9em;text-transform:uppercase;letter-spacing:.04em;color:var(--mut)}
svg{max-width:100%;height:auto;display:block}
svg text{font:12px system-ui,sans-serif;fill:var(--fg)}
svg .grid{stroke:var(--line)}svg .bar{fill:var(--c)}svg .lbl{fill:var(--mut)}
details{margin:.6em 0}summary{cursor:pointer;color:var(--mut)}
footer{margin-top:2.5em;font-size:.85em;color:var(--mut)}
a{color:var(--info)}"#;

/// Escapes `s` for HTML text and attribute values: controls, C1 and bidi characters become
/// visible `\x..`/`\u{..}` ([`crate::sanitize::escape`]), then `& < > " '` become entities.
pub fn text(s: &str) -> String {
    let shown = crate::sanitize::escape(s);
    let mut out = String::with_capacity(shown.len() + 8);
    for c in shown.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The report's JSON document (exactly `--format json`'s) for a `<script type=
/// "application/json">` block: `<`, `>` and `&` (which JSON has only inside strings) are
/// written as `\u003c`, `\u003e`, `\u0026`, so `</script>` or `<!--` cannot appear; line
/// separators, C1 controls and bidi characters are `\u` escapes too. `JSON.parse` of the
/// block's text gives the same document.
pub fn embedded_json(r: &Report) -> io::Result<String> {
    let mut buf = Vec::new();
    super::json(r, &mut buf)?;
    let s = String::from_utf8(buf).map_err(io::Error::other)?;
    Ok(json_for_script(&s))
}

/// Escapes JSON text for a script data block (see [`embedded_json`]).
pub fn json_for_script(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + 64);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            // line separators, C1 controls, bidi and invisible formatting characters: the
            // same value, but nothing that turns text around in a source view
            c if ('\u{7f}'..='\u{9f}').contains(&c)
                || ('\u{200b}'..='\u{200f}').contains(&c)
                || ('\u{2028}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c)
                || c == '\u{feff}' =>
            {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// The start of a page: doctype, title, the style sheet.
pub fn page_start(out: &mut String, title: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"rdp-doctor {}\">\n<title>{}</title>\n<style>\n{CSS}\n</style>\n</head>\n<body>\n",
        env!("CARGO_PKG_VERSION"),
        text(title)
    );
}

fn verdict_class(v: Verdict) -> &'static str {
    v.as_str()
}

fn severity_label(s: Severity) -> &'static str {
    match s {
        Severity::Error => "ERROR",
        Severity::Warning => "WARNING",
        Severity::Info => "NOTE",
    }
}

/// Renders the report as one self-contained HTML page.
pub fn render(r: &Report, w: &mut dyn Write) -> io::Result<()> {
    let json = embedded_json(r)?;
    let mut o = String::with_capacity(32 * 1024 + json.len());
    let t = &r.target;
    let target = format!("{}:{}", t.host, t.port);
    page_start(
        &mut o,
        &format!(
            "rdp-doctor: {target} is {}",
            r.verdict.as_str().to_uppercase()
        ),
    );
    banner(&mut o, r, &target);
    // Phases
    o.push_str("<section id=\"phases\">\n<h2>Connection phases</h2>\n");
    o.push_str(&waterfall(&r.phases, r.duration_ms));
    phase_table(&mut o, &r.phases);
    o.push_str("</section>\n");
    // Findings
    o.push_str("<section id=\"findings\">\n<h2>Findings</h2>\n");
    if r.findings.is_empty() {
        o.push_str("<p>No problem found.</p>\n");
    }
    for (i, f) in r.findings.iter().enumerate() {
        finding(&mut o, i, f);
    }
    o.push_str("</section>\n");
    facts(&mut o, r);
    // Machine-readable
    let _ = write!(
        o,
        "<section id=\"json\">\n<h2>For machines</h2>\n<p class=\"mut\">The JSON document of \
         this check (schema <code>{}</code>, the same as <code>rdp-doctor check --format json</code>) \
         is embedded in this file: <code>&lt;script type=\"application/json\" id=\"rdp-doctor-report\"&gt;</code>.</p>\n\
         <script type=\"application/json\" id=\"rdp-doctor-report\">\n{json}</script>\n</section>\n",
        text(&r.schema)
    );
    let _ = write!(
        o,
        "<footer>rdp-doctor {} &middot; check started {} &middot; took {}</footer>\n</body>\n</html>\n",
        text(&r.tool_version),
        text(&r.started_at),
        text(&format_ms(r.duration_ms))
    );
    w.write_all(o.as_bytes())
}

fn banner(o: &mut String, r: &Report, target: &str) {
    let v = r.verdict;
    let count = |s: Severity| r.findings.iter().filter(|f| f.severity == s).count();
    let _ = write!(
        o,
        "<header class=\"banner {}\">\n<h1><span class=\"v\">{}</span> &mdash; {}</h1>\n",
        verdict_class(v),
        v.as_str().to_uppercase(),
        text(target)
    );
    match r.findings.first() {
        Some(f) => {
            let lead = match f.severity {
                Severity::Error => "Most likely cause",
                Severity::Warning => "First warning",
                Severity::Info => "Note",
            };
            let _ = writeln!(
                o,
                "<p><strong>{lead}:</strong> <a href=\"#f1\">{}</a> <span class=\"mut\">({}, phase {})</span></p>",
                text(&f.title),
                text(&f.id),
                text(f.phase.as_str())
            );
            if let Some(e) = f.evidence.first() {
                let _ = writeln!(o, "<p class=\"mut\">{}</p>", text(e));
            }
            if let Some(step) = f.fix.first() {
                o.push_str("<div><strong>First step:</strong> ");
                fix_step(o, step);
                o.push_str("</div>\n");
            }
        }
        None => o.push_str("<p>No problem found: every phase this client needs completed.</p>\n"),
    }
    let addr = r
        .facts
        .address_used
        .as_deref()
        .map(|a| format!(" ({})", text(a)))
        .unwrap_or_default();
    let _ = writeln!(
        o,
        "<p class=\"mut\">{} error(s), {} warning(s), {} note(s) &middot; target {}{addr} &middot; client profile {} &middot; {} &middot; {}</p>",
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info),
        text(&r.target.input),
        text(&r.facts.client.name),
        text(&r.started_at),
        text(&format_ms(r.duration_ms))
    );
    if let Some(side) = &r.failing_side {
        let _ = writeln!(o, "<p><strong>Failing side:</strong> {}</p>", text(side));
    }
    o.push_str("</header>\n");
}

/// Layout of the waterfall, in SVG user units.
const SVG_W: f64 = 1000.0;
const LABEL_W: f64 = 112.0;
const RIGHT_W: f64 = 96.0;
const ROW_H: f64 = 22.0;
const AXIS_H: f64 = 22.0;
/// A bar is never narrower than this (a 0 ms phase stays visible).
pub const MIN_BAR: f64 = 2.0;

fn finite(v: f64) -> f64 {
    if v.is_finite() && v > 0.0 {
        v
    } else {
        0.0
    }
}

/// The phase waterfall as inline SVG: one row per phase, a bar from its start to its end on a
/// common time axis (the check's duration, or the latest phase end if later), ticks at 1/2/5
/// steps. Skipped phases have a label and no bar. Any duration works: 0 ms gives
/// [`MIN_BAR`]-wide bars, a very long one scales down; nothing is NaN.
pub fn waterfall(phases: &[PhaseRecord], duration_ms: f64) -> String {
    let plot = SVG_W - LABEL_W - RIGHT_W;
    let end = phases
        .iter()
        .filter(|p| p.status != PhaseStatus::Skipped)
        .map(|p| finite(p.start_ms) + finite(p.duration_ms))
        .fold(finite(duration_ms), f64::max);
    let total = if end > 0.0 { end } else { 1.0 };
    let height = AXIS_H + ROW_H * phases.len() as f64 + 6.0;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class=\"waterfall\" role=\"img\" viewBox=\"0 0 {SVG_W} {height}\" width=\"{SVG_W}\" height=\"{height}\" xmlns=\"http://www.w3.org/2000/svg\">\n\
         <title>Phase waterfall: where the {} went</title>\n",
        text(&format_ms(total))
    );
    let step = tick_step(total);
    let mut t = 0.0;
    let mut n = 0;
    while t <= total * 1.000_001 && n <= 12 {
        let x = LABEL_W + t / total * plot;
        let _ = writeln!(
            s,
            "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"/>\
             <text class=\"lbl\" x=\"{x:.1}\" y=\"14\" text-anchor=\"middle\">{}</text>",
            AXIS_H - 4.0,
            height - 4.0,
            text(&tick_label(t, step))
        );
        t += step;
        n += 1;
    }
    for (i, p) in phases.iter().enumerate() {
        let y = AXIS_H + ROW_H * i as f64;
        let status = p.status.as_str();
        let _ = write!(
            s,
            "<g class=\"{status}\"><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LABEL_W - 8.0,
            y + 15.0,
            text(p.phase.as_str())
        );
        if p.status == PhaseStatus::Skipped {
            let _ = write!(
                s,
                "<text class=\"lbl\" x=\"{:.1}\" y=\"{:.1}\">skipped</text>",
                LABEL_W + 4.0,
                y + 15.0
            );
        } else {
            let (x, wd) = bar_geometry(p.start_ms, p.duration_ms, total, plot);
            let label = format!("{} {}", format_ms(finite(p.duration_ms)), status);
            let _ = write!(
                s,
                "<rect class=\"bar\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{wd:.1}\" height=\"{:.1}\" rx=\"3\"><title>{}: {}</title></rect>\
                 <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                y + 4.0,
                ROW_H - 8.0,
                text(p.phase.as_str()),
                text(&label),
                (x + wd + 6.0).min(SVG_W - RIGHT_W + 6.0),
                y + 15.0,
                text(&label)
            );
        }
        s.push_str("</g>\n");
    }
    s.push_str("</svg>\n");
    s
}

/// x and width of a bar for [start, start+dur] on a plot `plot` units wide for `total` ms.
fn bar_geometry(start: f64, dur: f64, total: f64, plot: f64) -> (f64, f64) {
    let x0 = (finite(start) / total * plot).clamp(0.0, plot - MIN_BAR);
    let wd = (finite(dur) / total * plot).clamp(MIN_BAR, plot - x0);
    (LABEL_W + x0, wd)
}

/// A 1, 2 or 5 times a power of ten, giving at most about six ticks over `total`.
fn tick_step(total: f64) -> f64 {
    let raw = total / 5.0;
    let pow = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * pow)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * pow);
    if step.is_finite() && step > 0.0 {
        step
    } else {
        total.max(1.0)
    }
}

fn tick_label(t: f64, step: f64) -> String {
    if t == 0.0 {
        "0".into()
    } else if step >= 1000.0 {
        format!("{} s", trim(t / 1000.0))
    } else {
        format!("{} ms", trim(t))
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn phase_table(o: &mut String, phases: &[PhaseRecord]) {
    o.push_str("<table class=\"phases\">\n<thead><tr><th>phase</th><th>status</th><th>start</th><th>duration</th><th>what happened</th></tr></thead>\n<tbody>\n");
    for p in phases {
        let (start, dur) = if p.status == PhaseStatus::Skipped {
            (String::new(), String::new())
        } else {
            (format_ms(p.start_ms), format_ms(p.duration_ms))
        };
        let _ = writeln!(
            o,
            "<tr class=\"{0}\"><td><code>{1}</code></td><td><span class=\"tag\">{0}</span></td><td>{2}</td><td>{3}</td><td>{4}</td></tr>",
            p.status.as_str(),
            text(p.phase.as_str()),
            text(&start),
            text(&dur),
            text(&p.summary)
        );
    }
    o.push_str("</tbody>\n</table>\n");
}

fn finding(o: &mut String, i: usize, f: &Finding) {
    let sev = f.severity.as_str();
    let _ = write!(
        o,
        "<article class=\"finding {sev}\" id=\"f{}\">\n<h3><span class=\"tag\">{}</span> {}. {}</h3>\n\
         <p class=\"mut\"><code>{}</code> &middot; phase <code>{}</code> &middot; {}{}</p>\n<p>{}</p>\n",
        i + 1,
        severity_label(f.severity),
        i + 1,
        text(&f.title),
        text(&f.id),
        text(f.phase.as_str()),
        match f.kind {
            crate::model::Kind::Failure => "makes connections fail",
            crate::model::Kind::Hardening => "hardening",
        },
        if i == 0 && f.severity == Severity::Error {
            " &middot; <strong>most likely cause</strong>"
        } else {
            ""
        },
        text(&f.explanation)
    );
    if let Some(c) = f.count {
        let _ = writeln!(
            o,
            "<p class=\"mut\">{c} event(s){}{}</p>",
            f.first
                .as_deref()
                .map(|t| format!(", first {}", text(t)))
                .unwrap_or_default(),
            f.last
                .as_deref()
                .map(|t| format!(", last {}", text(t)))
                .unwrap_or_default()
        );
    }
    o.push_str("<h4>Evidence</h4>\n<ul>\n");
    for e in &f.evidence {
        let _ = writeln!(o, "<li>{}</li>", text(e));
    }
    o.push_str("</ul>\n<h4>Fix</h4>\n<ol>\n");
    for step in &f.fix {
        o.push_str("<li>");
        fix_step(o, step);
        o.push_str("</li>\n");
    }
    o.push_str("</ol>\n");
    if !f.references.is_empty() {
        o.push_str("<h4>References</h4>\n<ul>\n");
        for r in &f.references {
            let _ = writeln!(o, "<li>{}</li>", reference(r));
        }
        o.push_str("</ul>\n");
    }
    o.push_str("</article>\n");
}

/// A reference: a link when it is an https URL (an address to follow, not a resource the page
/// loads), text otherwise.
fn reference(r: &str) -> String {
    let (url, rest) = r.split_once(' ').unwrap_or((r, ""));
    let url_ok = url.starts_with("https://")
        && url.chars().all(|c| c.is_ascii_graphic())
        && !url.contains(['"', '\'', '<', '>', '`']);
    if url_ok {
        let t = text(url);
        let rest = if rest.is_empty() {
            String::new()
        } else {
            format!(" {}", text(rest))
        };
        format!("<a href=\"{t}\" rel=\"noreferrer\">{t}</a>{rest}")
    } else {
        text(r)
    }
}

/// Words that start a command line in a fix step: PowerShell cmdlets (Verb-Noun) and the
/// Windows tools the catalogue names.
const COMMANDS: &[&str] = &[
    "certutil",
    "cmdkey",
    "gpupdate",
    "icacls",
    "ipconfig",
    "klist",
    "netsh",
    "netstat",
    "nltest",
    "nslookup",
    "qwinsta",
    "reg",
    "setspn",
    "w32tm",
    "wevtutil",
    "wmic",
    "xfreerdp",
    "rdp-doctor",
];

/// Whether `s` starts with a command: a known tool followed by a space, or a PowerShell
/// `Verb-Noun` (optionally in parentheses or after `$x = `).
fn starts_command(s: &str) -> bool {
    let s = s.trim_start_matches('(');
    // `$x = ...`: a PowerShell assignment
    if let Some(v) = s.strip_prefix('$') {
        let name = v
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .count();
        return name > 0 && v.get(name..).is_some_and(|r| r.starts_with(" = "));
    }
    let word: String = s
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
        .collect();
    let rest = s.get(word.len()..).unwrap_or("");
    if COMMANDS.contains(&word.to_ascii_lowercase().trim_end_matches(".exe")) {
        return rest.starts_with(' ');
    }
    match word.split_once('-') {
        Some((verb, noun)) => {
            verb.len() >= 3
                && verb.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && verb.chars().skip(1).all(|c| c.is_ascii_lowercase())
                && noun.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        }
        None => false,
    }
}

/// A fix step: prose, with the command line after its first `: ` (when there is one) in a
/// `<pre>` block that selects whole with a click, ready to copy. The command runs to the
/// sentence's end (`. `, or the end of the step), or to where prose takes over again
/// (` (or `, ` and `, ` must ` ...).
pub fn fix_step(o: &mut String, step: &str) {
    let mut search = 0;
    while let Some(pos) = step.get(search..).and_then(|s| s.find(": ")) {
        let at = search + pos + 2;
        let rest = step.get(at..).unwrap_or("");
        if starts_command(rest) {
            let end = [". ", " (or ", " and ", " must ", " to see ", " shows "]
                .iter()
                .filter_map(|sep| rest.find(sep))
                .min()
                .unwrap_or(rest.len());
            let cmd = rest.get(..end).unwrap_or(rest).trim_end_matches('.');
            let after = rest.get(end..).unwrap_or("").trim_start_matches([';', '.']);
            let _ = write!(
                o,
                "{}<pre><code>{}</code></pre>",
                text(step.get(..at).unwrap_or(step).trim_end()),
                text(cmd)
            );
            let after = after.trim();
            if !after.is_empty() {
                fix_step(o, after);
            }
            return;
        }
        search = at;
    }
    o.push_str(&text(step));
}

fn kv(o: &mut String, rows: &[(&str, String)]) {
    o.push_str("<table class=\"kv\">\n");
    for (k, v) in rows {
        let _ = writeln!(o, "<tr><th>{}</th><td>{}</td></tr>", text(k), v);
    }
    o.push_str("</table>\n");
}

/// A value as the JSON spells it (`"reset"` for an outcome, its tag for a tagged one).
fn name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Object(o)) => o
            .get("outcome")
            .and_then(|t| t.as_str())
            .unwrap_or("?")
            .to_string(),
        _ => "?".into(),
    }
}

fn yes(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

/// The facts sections: certificate (and chain), negotiation matrix, server names, gateway,
/// event logs, the .rdp file. Only what was measured.
fn facts(o: &mut String, r: &Report) {
    let f = &r.facts;
    if let Some(c) = &f.certificate {
        o.push_str("<section id=\"certificate\">\n<h2>Certificate</h2>\n");
        certificate(o, c);
        o.push_str("</section>\n");
    }
    if f.negotiation.is_some() || f.protocols.is_some() {
        o.push_str("<section id=\"negotiation\">\n<h2>Negotiation</h2>\n");
        negotiation(o, r);
        o.push_str("</section>\n");
    }
    server_names(o, r);
    if let Some(g) = &f.gateway {
        o.push_str("<section id=\"gateway\">\n<h2>RD Gateway</h2>\n");
        let mut rows = vec![("gateway", text(&format!("{}:{}", g.host, g.port)))];
        if let Some(a) = &g.address_used {
            rows.push(("address", text(a)));
        }
        if let Some(h) = &g.http {
            rows.push(("HTTP outcome", text(&name(&h.outcome))));
            if let Some(st) = h.status {
                rows.push((
                    "HTTP status",
                    text(&format!("{st} {}", h.reason.as_deref().unwrap_or(""))),
                ));
            }
            if let Some(sv) = &h.server {
                rows.push(("Server header", text(sv)));
            }
            if !h.schemes.is_empty() {
                rows.push(("auth schemes", text(&h.schemes.join(", "))));
            }
        }
        if let Some(a) = &g.auth {
            rows.push(("authentication", text(&name(&a.outcome))));
            if let Some(n) = &a.ntlm {
                rows.push(("gateway (NTLM)", ntlm_line(n)));
            }
        }
        if let Some(t) = &g.tunnel {
            rows.push((
                "tunnel",
                text(&format!("{} ({})", name(&t.outcome), t.step)),
            ));
            if let Some(h) = &t.hresult_name {
                rows.push(("HRESULT", text(h)));
            }
            if let Some(m) = &t.consent_message {
                rows.push(("consent message", text(m)));
            }
        }
        kv(o, &rows);
        if let Some(c) = &g.certificate {
            o.push_str("<h3>Gateway certificate</h3>\n");
            certificate(o, c);
        }
        o.push_str("</section>\n");
    }
    if let Some(l) = &f.logs {
        logs(o, l);
    }
    if let Some(rdp) = &f.rdp_file {
        o.push_str("<section id=\"rdp-file\">\n<h2>The client's .rdp file</h2>\n");
        let _ = writeln!(
            o,
            "<p class=\"mut\">{} settings ({}); passwords and tokens are not kept, only whether they are present.</p>",
            rdp.settings.len(),
            text(&rdp.encoding)
        );
        o.push_str("<details><summary>settings</summary>\n<table>\n<thead><tr><th>line</th><th>setting</th><th>value</th></tr></thead><tbody>\n");
        for s in &rdp.settings {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td><code>{}:{}</code>{}</td><td>{}</td></tr>",
                s.line,
                text(&s.key),
                text(&s.kind.to_string()),
                if s.known {
                    ""
                } else {
                    " <span class=\"mut\">(unknown)</span>"
                },
                text(&s.display_value())
            );
        }
        o.push_str("</tbody></table>\n</details>\n");
        for p in &rdp.problems {
            let _ = writeln!(o, "<p>line {}: {}</p>", p.line, text(&p.what));
        }
        o.push_str("</section>\n");
    }
}

fn ntlm_line(n: &crate::facts::NtlmInfo) -> String {
    let mut parts = Vec::new();
    let mut add = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            parts.push(format!("{k} <code>{}</code>", text(v)));
        }
    };
    add("computer", &n.netbios_computer);
    add("DNS name", &n.dns_computer);
    add("domain", &n.netbios_domain);
    add("DNS domain", &n.dns_domain);
    add("forest", &n.dns_tree);
    add("target", &n.target_name);
    add("OS build", &n.os_version);
    parts.join(", ")
}

fn server_names(o: &mut String, r: &Report) {
    let f = &r.facts;
    let mut rows = Vec::new();
    if let Some(n) = f.credssp.as_ref().and_then(|c| c.ntlm.as_ref()) {
        rows.push(("server (NTLM)", ntlm_line(n)));
        if let Some(s) = n.clock_skew_seconds {
            rows.push(("server clock", text(&format!("{s:+} s from ours"))));
        }
    }
    if let Some(m) = &f.mcs {
        if let Some(v) = &m.rdp_version {
            rows.push(("server (MCS)", text(v)));
        }
        if let Some(e) = &m.encryption_level_name {
            rows.push(("encryption level", text(e)));
        }
    }
    if let Some(t) = &f.tls {
        if let Some(v) = &t.version {
            rows.push((
                "TLS",
                text(&format!("{v} {}", t.cipher_suite.as_deref().unwrap_or(""))),
            ));
        }
    }
    if let Some(p) = &f.path {
        if let (Some(min), Some(med), Some(max)) = (p.rtt_min_ms, p.rtt_median_ms, p.rtt_max_ms) {
            rows.push((
                "round trip",
                text(&format!(
                    "min {} / median {} / max {} over {} TCP connects",
                    format_ms(min),
                    format_ms(med),
                    format_ms(max),
                    p.rtt_samples_ms.len()
                )),
            ));
        }
        if let Some(l) = &p.loss {
            rows.push(("loss", text(&l.summary())));
        }
    }
    if let Some(u) = &f.udp {
        rows.push(("RDP over UDP", text(&name(&u.outcome))));
    }
    if let Some(a) = &f.auth {
        rows.push((
            "credentials",
            text(&format!(
                "user {}, package {}, last step {}, outcome {}",
                a.user,
                a.package,
                a.round,
                name(&a.outcome)
            )),
        ));
    }
    if let Some(k) = &f.kdc {
        rows.push(("Kerberos realm", text(&k.realm)));
    }
    if rows.is_empty() {
        return;
    }
    o.push_str("<section id=\"server\">\n<h2>What the server said</h2>\n");
    kv(o, &rows);
    o.push_str("</section>\n");
}

fn certificate(o: &mut String, c: &CertFact) {
    let validity = if c.expired {
        format!("EXPIRED {} days ago", -c.days_left)
    } else if c.not_yet_valid {
        "NOT YET VALID".to_string()
    } else {
        format!("{} days left", c.days_left)
    };
    let trust = if c.trusted {
        format!("trusted ({})", c.trust_store)
    } else {
        format!(
            "NOT trusted ({}): {}",
            c.trust_store,
            c.trust_error.as_deref().unwrap_or("?")
        )
    };
    let names = c
        .san_dns
        .iter()
        .chain(c.san_ip.iter())
        .map(|n| format!("<code>{}</code>", text(n)))
        .collect::<Vec<_>>()
        .join(", ");
    kv(
        o,
        &[
            ("subject", format!("<code>{}</code>", text(&c.subject))),
            ("issuer", format!("<code>{}</code>", text(&c.issuer))),
            (
                "valid",
                text(&format!("{} .. {} ({validity})", c.not_before, c.not_after)),
            ),
            ("trust", text(&trust)),
            (
                "name",
                text(&format!(
                    "{} {} the name checked",
                    c.name_checked,
                    if c.name_matches {
                        "matches"
                    } else {
                        "does NOT match"
                    }
                )),
            ),
            (
                "names in it",
                if names.is_empty() {
                    "none".into()
                } else {
                    names
                },
            ),
            (
                "key",
                text(&format!(
                    "{} {} bits, signed with {}",
                    c.key_type, c.key_bits, c.signature_algorithm
                )),
            ),
            (
                "usage (EKU)",
                text(&format!(
                    "{}{}",
                    if c.eku.is_empty() {
                        "(no EKU extension)".to_string()
                    } else {
                        c.eku.join(", ")
                    },
                    if c.eku_ok {
                        ""
                    } else {
                        " - NOT for server authentication"
                    }
                )),
            ),
            ("self-signed", yes(c.self_signed)),
            ("serial", format!("<code>{}</code>", text(&c.serial))),
            ("SHA-1", format!("<code>{}</code>", text(&c.sha1))),
            ("SHA-256", format!("<code>{}</code>", text(&c.sha256))),
        ],
    );
    if !c.chain.is_empty() {
        o.push_str("<h3>Chain as sent by the server</h3>\n<table>\n<thead><tr><th>#</th><th>subject</th><th>issuer</th><th>not after</th><th>SHA-256</th></tr></thead><tbody>\n");
        for (i, cc) in c.chain.iter().enumerate() {
            let _ = writeln!(
                o,
                "<tr><td>{i}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td><code>{}</code></td></tr>",
                text(&cc.subject),
                text(&cc.issuer),
                text(&cc.not_after),
                text(&cc.sha256)
            );
        }
        o.push_str("</tbody></table>\n");
    }
}

fn x224(out: &X224Outcome) -> String {
    text(&out.describe())
}

fn negotiation(o: &mut String, r: &Report) {
    let f = &r.facts;
    if let Some(n) = &f.negotiation {
        kv(
            o,
            &[
                (
                    "client asked for",
                    text(&format!("{} ({})", n.requested, f.client.name)),
                ),
                ("server answered", x224(&n.response)),
                ("took", text(&format_ms(n.duration_ms))),
            ],
        );
    }
    if let Some(p) = &f.protocols {
        protocols_matrix(o, p, r);
    }
}

fn protocols_matrix(o: &mut String, p: &ProtocolsFact, r: &Report) {
    let _ = writeln!(
        o,
        "<p>A request per security protocol (the rarely accepted ones first together): NLA {}, TLS {}, Standard RDP Security {}.</p>",
        text(p.nla.as_str()),
        text(p.tls.as_str()),
        text(p.standard_rdp.as_str())
    );
    o.push_str("<table class=\"matrix\">\n<thead><tr><th>protocol</th><th>this client offers it</th><th>server</th><th>answer</th><th>took</th></tr></thead><tbody>\n");
    for probe in &p.probes {
        let class = match probe.status {
            crate::facts::ProbeStatus::Accepted => "ok",
            crate::facts::ProbeStatus::Refused => "failed",
            crate::facts::ProbeStatus::Error => "timeout",
        };
        let _ = writeln!(
            o,
            "<tr class=\"{class}\"><td><code>{}</code></td><td>{}</td><td><span class=\"tag\">{}</span></td><td>{}</td><td>{}</td></tr>",
            text(probe.protocol.as_str()),
            yes(r.facts.client.requested_names.contains(&probe.protocol)),
            text(probe.status.as_str()),
            if probe.requested == probe.protocol.bits() || probe.from_main {
                x224(&probe.response)
            } else {
                format!("{} (request for {})", x224(&probe.response), text(&probe.asked()))
            },
            text(&format_ms(probe.duration_ms))
        );
    }
    o.push_str("</tbody></table>\n");
}

fn logs(o: &mut String, l: &crate::facts::logs::LogFacts) {
    let ev = &l.evidence;
    o.push_str("<section id=\"event-logs\">\n<h2>Event-log evidence</h2>\n");
    let _ = writeln!(
        o,
        "<p class=\"mut\">{} file(s), {} records read, {} matched; {}.</p>",
        ev.totals.files,
        ev.totals.records,
        ev.totals.matched,
        if l.host_verified {
            format!(
                "events about other hosts than {} left out",
                text(&l.target_names.join(", "))
            )
        } else {
            "not verified that the events are about this target".to_string()
        }
    );
    o.push_str("<table>\n<thead><tr><th>file</th><th>format</th><th>records</th><th>damaged</th><th>matched</th><th>note</th></tr></thead><tbody>\n");
    for fs in &ev.files {
        let _ = writeln!(
            o,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            text(&fs.path),
            text(&fs.format),
            fs.records,
            fs.damaged,
            fs.matched,
            text(fs.error.as_deref().unwrap_or(""))
        );
    }
    o.push_str("</tbody></table>\n");
    for lf in &ev.findings {
        let _ = writeln!(
            o,
            "<h3><code>{}</code> &middot; {} event(s) <span class=\"mut\">{} .. {}</span></h3>",
            text(&lf.hit.id),
            lf.count,
            text(lf.first.as_deref().unwrap_or("?")),
            text(lf.last.as_deref().unwrap_or("?"))
        );
        if !lf.hosts.is_empty() {
            let _ = writeln!(o, "<p>about: {}</p>", text(&lf.hosts.join(", ")));
        }
        o.push_str("<ul>\n");
        for line in &lf.lines {
            let _ = writeln!(o, "<li>{} &times; {}</li>", line.count, text(&line.text));
        }
        o.push_str("</ul>\n");
        let ex = &lf.example;
        let _ = writeln!(
            o,
            "<details><summary>example record: {} event {} on {} (record {})</summary>",
            text(&ex.provider),
            ex.event_id,
            text(&ex.computer),
            ex.record_id
        );
        let mut rows: Vec<(&str, String)> = vec![
            ("time", text(ex.time.as_deref().unwrap_or("?"))),
            ("channel", text(&ex.channel)),
            ("file", text(&ex.file)),
        ];
        for (k, v) in &ex.data {
            rows.push((k.as_str(), format!("<code>{}</code>", text(v))));
        }
        kv(o, &rows);
        o.push_str("</details>\n");
    }
    o.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{CertFact, ChainCert, Facts, NtlmInfo};
    use crate::model::{Finding, Kind, Phase, PhaseRecord, PhaseStatus, Target};

    const HOSTILE: &str =
        "<script>alert(1)</script>\"><img src=x onerror=alert(2)>\u{202e}gnp.exe\u{9b}31m";

    fn cert(subject: &str) -> CertFact {
        CertFact {
            subject: subject.into(),
            issuer: subject.into(),
            serial: "01".into(),
            not_before: "2026-01-01T00:00:00Z".into(),
            not_after: "2027-01-01T00:00:00Z".into(),
            days_left: 30,
            expired: false,
            not_yet_valid: false,
            self_signed: false,
            trusted: true,
            trust_error: None,
            trust_store: "system".into(),
            name_checked: "host".into(),
            name_matches: true,
            common_name: Some(subject.into()),
            san_dns: vec![subject.into()],
            san_ip: vec![],
            key_type: "EC".into(),
            key_bits: 256,
            signature_algorithm: "ecdsa-with-SHA256".into(),
            signature_hash: "sha256".into(),
            eku: vec![],
            eku_ok: true,
            sha1: "AA".into(),
            sha256: "BB".into(),
            chain: vec![ChainCert {
                subject: subject.into(),
                issuer: subject.into(),
                not_after: "2027-01-01T00:00:00Z".into(),
                sha256: "BB".into(),
                der_base64: String::new(),
            }],
        }
    }

    fn phase(p: Phase, status: PhaseStatus, start: f64, dur: f64) -> PhaseRecord {
        PhaseRecord {
            phase: p,
            status,
            start_ms: start,
            duration_ms: dur,
            summary: format!("summary {HOSTILE}"),
            details: serde_json::Value::Null,
        }
    }

    fn hostile_report() -> Report {
        let facts = Facts {
            certificate: Some(cert(HOSTILE)),
            credssp: Some(crate::facts::CredsspFact {
                outcome: crate::facts::CredsspOutcome::Challenge,
                duration_ms: 1.0,
                server_version: Some(6),
                error_code: None,
                ntlm: Some(NtlmInfo {
                    netbios_computer: Some(HOSTILE.into()),
                    dns_computer: Some(HOSTILE.into()),
                    ..NtlmInfo::default()
                }),
                error: None,
                server_bytes: 10,
            }),
            ..Facts::default()
        };
        let finding = Finding {
            id: "cert-name-mismatch".into(),
            severity: Severity::Warning,
            kind: Kind::Failure,
            phase: Phase::Tls,
            title: format!("title {HOSTILE}"),
            explanation: HOSTILE.into(),
            evidence: vec![HOSTILE.into()],
            fix: vec![format!("Run: Get-Item {HOSTILE}")],
            references: vec![format!("https://x.example/\"><script>{HOSTILE}")],
            count: None,
            first: None,
            last: None,
        };
        let mut r = crate::report::build(
            Target {
                input: HOSTILE.into(),
                host: HOSTILE.into(),
                port: 3389,
                host_kind: "dns".into(),
            },
            "2026-12-06T00:00:00Z".into(),
            12.0,
            facts,
            &crate::facts::Timeline::default(),
            vec![finding],
        );
        r.phases = vec![phase(Phase::Tcp, PhaseStatus::Ok, 0.0, 1.0)];
        r
    }

    fn html(r: &Report) -> String {
        let mut out = Vec::new();
        render(r, &mut out).expect("render");
        String::from_utf8(out).expect("utf-8")
    }

    /// The page without the embedded JSON block.
    fn markup(page: &str) -> String {
        let open = "<script type=\"application/json\" id=\"rdp-doctor-report\">";
        let start = page.find(open).expect("json block");
        let end = start + page[start..].find("</script>").expect("end of block");
        format!("{}{}", &page[..start], &page[end + "</script>".len()..])
    }

    /// Every tag in `page`: (name, attribute text). Text is escaped, so each `<` opens one.
    pub(crate) fn tags(page: &str) -> Vec<(String, String)> {
        page.split('<')
            .skip(1)
            .filter_map(|t| {
                let t = t.split('>').next()?;
                let t = t.strip_prefix('/').unwrap_or(t);
                let name: String = t
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '!')
                    .collect();
                Some((name.to_ascii_lowercase(), t[name.len()..].to_string()))
            })
            .collect()
    }

    /// The elements a report is made of.
    const ELEMENTS: &[&str] = &[
        "!doctype", "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3",
        "h4", "p", "span", "strong", "a", "code", "pre", "section", "table", "thead", "tbody",
        "tr", "th", "td", "ul", "ol", "li", "article", "details", "summary", "svg", "line", "text",
        "g", "rect", "script", "footer", "small", "div",
    ];

    #[test]
    fn hostile_server_text_never_becomes_markup() {
        let page = html(&hostile_report());
        let rest = markup(&page);
        for (name, attrs) in tags(&rest) {
            assert!(
                ELEMENTS.contains(&name.as_str()),
                "an injected <{name}{attrs}>"
            );
            assert!(name != "script", "a script element outside the JSON block");
            let lower = attrs.to_ascii_lowercase();
            assert!(
                !lower.split([' ', '"', '\'']).any(|a| a.starts_with("on")),
                "an event handler in <{name}{attrs}>"
            );
            assert!(!lower.contains("javascript:"), "<{name}{attrs}>");
        }
        assert!(
            !rest.contains('\u{202e}'),
            "a bidi override reached the page"
        );
        assert!(!rest.contains('\u{9b}'), "a C1 control reached the page");
        // shown, as text
        assert!(rest.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(rest.contains("\\u{202e}gnp.exe"));
        // exactly one script element: the data block, of a type browsers do not run
        assert_eq!(page.to_ascii_lowercase().matches("<script").count(), 1);
        assert_eq!(page.matches("</script>").count(), 1);
        // the reference with a quote is not made a link
        assert!(!rest.contains("href=\"https://x.example/\""));
    }

    #[test]
    fn escaping_covers_markup_quotes_and_invisible_characters() {
        assert_eq!(
            text("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(text("a\u{202e}b\u{2066}c"), "a\\u{202e}b\\u{2066}c");
        assert_eq!(text("x\ny\u{1b}[31m"), "x\\x0ay\\x1b[31m");
        assert_eq!(text("C:\\Windows"), "C:\\Windows");
    }

    #[test]
    fn the_embedded_json_is_the_json_document() {
        let r = hostile_report();
        let page = html(&r);
        let open = "<script type=\"application/json\" id=\"rdp-doctor-report\">";
        let start = page.find(open).expect("block") + open.len();
        let end = start + page[start..].find("</script>").expect("end");
        let embedded: serde_json::Value =
            serde_json::from_str(&page[start..end]).expect("the block is JSON");
        let mut plain = Vec::new();
        crate::render::json(&r, &mut plain).expect("json");
        let direct: serde_json::Value = serde_json::from_slice(&plain).expect("json");
        assert_eq!(embedded, direct);
        assert!(!page[start..end].contains('<'));
        assert!(!page.contains('\u{202e}') && !page.contains('\u{9b}'));
        // and it reads back as the report
        let back: Report = serde_json::from_value(embedded).expect("a report");
        assert_eq!(back.target.host, HOSTILE);
    }

    /// (x, width) of every bar in an SVG.
    fn bars(svg: &str) -> Vec<(f64, f64)> {
        svg.split("<rect ")
            .skip(1)
            .map(|r| {
                let attr = |name: &str| -> f64 {
                    let k = format!(" {name}=\"");
                    let at = r.find(&k).expect("attribute") + k.len();
                    r[at..r[at..].find('"').expect("quote") + at]
                        .parse()
                        .expect("a number")
                };
                (attr("x"), attr("width"))
            })
            .collect()
    }

    #[test]
    fn the_waterfall_scales_to_zero_and_to_very_long_checks() {
        let plot_end = SVG_W - RIGHT_W;
        // all zero: bars of the minimum width, no NaN
        let zero = [
            phase(Phase::Resolve, PhaseStatus::Ok, 0.0, 0.0),
            phase(Phase::Tcp, PhaseStatus::Ok, 0.0, 0.0),
            phase(Phase::Udp, PhaseStatus::Skipped, 0.0, 0.0),
        ];
        let svg = waterfall(&zero, 0.0);
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        let b = bars(&svg);
        assert_eq!(b.len(), 2, "a skipped phase has no bar");
        for (x, w) in &b {
            assert!(*w >= MIN_BAR && *x >= LABEL_W && x + w <= plot_end + 0.05);
        }
        // eleven days; the second phase starts at half the time and takes the rest
        let long = 1.0e9;
        let phases = [
            phase(Phase::Tcp, PhaseStatus::Ok, 0.0, 1.0),
            phase(Phase::Tls, PhaseStatus::Timeout, long / 2.0, long / 2.0),
        ];
        let svg = waterfall(&phases, long);
        let b = bars(&svg);
        assert_eq!(b[0].1, MIN_BAR);
        let half = (plot_end - LABEL_W) / 2.0;
        assert!((b[1].0 - (LABEL_W + half)).abs() < 0.1, "{:?}", b[1]);
        assert!((b[1].1 - half).abs() < 0.1, "{:?}", b[1]);
        assert!(svg.contains(">200000 s<"), "ticks in seconds: {svg}");
        assert!(svg.matches("class=\"grid\"").count() <= 13);
        // a phase that ends after the check's own duration widens the axis
        let svg = waterfall(&[phase(Phase::Tcp, PhaseStatus::Ok, 50.0, 150.0)], 100.0);
        let b = bars(&svg);
        assert!((b[0].0 + b[0].1 - plot_end).abs() < 0.1, "{b:?}");
        // non-finite input is treated as zero
        let svg = waterfall(
            &[phase(Phase::Tcp, PhaseStatus::Ok, f64::NAN, f64::INFINITY)],
            f64::NAN,
        );
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn commands_in_fix_steps_become_copyable_blocks() {
        let mut o = String::new();
        fix_step(
            &mut o,
            "If you use a non-default port: Set-NetFirewallRule -Name X -LocalPort 3390. Then reconnect.",
        );
        assert_eq!(
            o,
            "If you use a non-default port:<pre><code>Set-NetFirewallRule -Name X -LocalPort 3390</code></pre>Then reconnect."
        );
        let mut o = String::new();
        fix_step(&mut o, "Check the spelling: it is a name, not a command.");
        assert!(!o.contains("<pre>"));
        let mut o = String::new();
        fix_step(&mut o, "Regenerate: $g = Get-CimInstance -Namespace x");
        assert!(
            o.ends_with("<pre><code>$g = Get-CimInstance -Namespace x</code></pre>"),
            "{o}"
        );
        assert_eq!(
            reference("https://learn.microsoft.com/x (the key's permissions)"),
            "<a href=\"https://learn.microsoft.com/x\" rel=\"noreferrer\">https://learn.microsoft.com/x</a> (the key&#39;s permissions)"
        );
        let mut o = String::new();
        fix_step(&mut o, "On the server: certutil -store My <b>");
        assert!(
            o.ends_with("<pre><code>certutil -store My &lt;b&gt;</code></pre>"),
            "{o}"
        );
    }
}
