//! Human text for `explain`: the combined readings first, then each code with its most likely
//! interpretation in full and the others on one line each.

use super::{Combined, Explanation, FindingRef, Interpretation, Item, Status};
use crate::kb::codes::CodePhase;
use std::io::{self, Write};

/// ANSI styling when asked, plain text otherwise.
#[derive(Clone, Copy)]
struct Paint(bool);

impl Paint {
    fn wrap(self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn bold(self, s: &str) -> String {
        self.wrap("1", s)
    }
    fn dim(self, s: &str) -> String {
        self.wrap("2", s)
    }
    fn red(self, s: &str) -> String {
        self.wrap("31", s)
    }
    fn yellow(self, s: &str) -> String {
        self.wrap("33", s)
    }
    fn cyan(self, s: &str) -> String {
        self.wrap("36", s)
    }
}

/// Writes the explanation as text; colour (ANSI) only when `color`.
pub fn render_human(ex: &Explanation, w: &mut dyn Write, color: bool) -> io::Result<()> {
    let p = Paint(color);
    let mut first = true;
    let mut in_combined = vec![false; ex.items.len()];
    for c in &ex.combined {
        for &i in &c.items {
            if let Some(f) = in_combined.get_mut(i) {
                *f = true;
            }
        }
    }
    for c in &ex.combined {
        if !first {
            writeln!(w)?;
        }
        first = false;
        combined(ex, c, w, p)?;
    }
    for (i, item) in ex.items.iter().enumerate() {
        if !first {
            writeln!(w)?;
        }
        first = false;
        let part = in_combined.get(i).copied().unwrap_or(false);
        one_item(item, part, w, p)?;
    }
    if !ex.ignored.is_empty() {
        writeln!(w)?;
        writeln!(
            w,
            "{}",
            p.dim(&format!("Ignored (not codes): {}", ex.ignored.join(" ")))
        )?;
    }
    for n in &ex.notes {
        writeln!(w, "{}", p.yellow(&format!("Note: {n}")))?;
    }
    Ok(())
}

fn combined(ex: &Explanation, c: &Combined, w: &mut dyn Write, p: Paint) -> io::Result<()> {
    let queries: Vec<&str> = c
        .items
        .iter()
        .filter_map(|&i| ex.items.get(i).map(|it| it.query.as_str()))
        .collect();
    let how = match c.kind {
        super::CombinedKind::DisconnectExtended => "read together: mstsc main code + extended code",
        super::CombinedKind::Compound => "read together",
    };
    writeln!(
        w,
        "{} {}",
        p.bold(&queries.join(" ")),
        p.dim(&format!("({how})"))
    )?;
    writeln!(w, "  {}", p.bold(&c.title))?;
    phase(c.phase, "  ", w, p)?;
    writeln!(w, "  {}", c.meaning)?;
    details(&c.causes, &c.fixes, &c.findings, &c.notes, "  ", w, p)?;
    writeln!(w, "  {}", p.dim(&format!("Source: {}", c.source)))
}

fn one_item(item: &Item, part_of_combined: bool, w: &mut dyn Write, p: Paint) -> io::Result<()> {
    let tag = match item.status {
        Status::Decoded => String::new(),
        Status::Undocumented => format!(" {}", p.yellow("- undocumented")),
        Status::Unknown => format!(" {}", p.red("- unknown")),
        Status::NotACode => format!(" {}", p.red("- not a code")),
    };
    let count = match item.interpretations.len() {
        0 | 1 => String::new(),
        n => format!(" {}", p.dim(&format!("({n} readings, most likely first)"))),
    };
    writeln!(w, "{}{tag}{count}", p.bold(&item.query))?;
    if let Some(m) = &item.message {
        writeln!(w, "  {m}")?;
    }
    if !item.did_you_mean.is_empty() {
        writeln!(w, "  Did you mean: {}", item.did_you_mean.join(", "))?;
    }
    for n in &item.notes {
        writeln!(w, "  {}", p.dim(&format!("Note: {n}")))?;
    }
    let numbered = item.interpretations.len() > 1;
    for (k, it) in item.interpretations.iter().enumerate() {
        let n = if numbered {
            format!("{}. ", k + 1)
        } else {
            String::new()
        };
        if k == 0 && !part_of_combined {
            full(it, &n, w, p)?;
        } else {
            brief(it, &n, w, p)?;
        }
    }
    if part_of_combined && !item.interpretations.is_empty() {
        writeln!(w, "  {}", p.dim("(read together with its partner above)"))?;
    }
    Ok(())
}

fn heading(it: &Interpretation, p: Paint) -> String {
    let alt = match it.key.strip_prefix("0x") {
        Some(_) if it.code >= 10 => format!(" = {}", it.code),
        _ => String::new(),
    };
    format!(
        "{} {}{alt}: {}",
        it.table_title,
        p.cyan(&it.key),
        p.bold(&it.name)
    )
}

fn full(it: &Interpretation, n: &str, w: &mut dyn Write, p: Paint) -> io::Result<()> {
    writeln!(w, "  {n}{}", heading(it, p))?;
    // Under "1. " the text lines up with the heading.
    let ind = if n.is_empty() { "    " } else { "     " };
    if it.undocumented {
        writeln!(
            w,
            "{ind}{}",
            p.yellow("Undocumented: only sightings are known, no meaning.")
        )?;
    }
    writeln!(w, "{ind}{}", it.meaning)?;
    if let Some(prov) = &it.provider {
        let log = it.log.as_deref().unwrap_or("");
        writeln!(
            w,
            "{ind}{}",
            p.dim(&format!("Provider: {prov}; log: {log}"))
        )?;
    }
    phase(it.phase, ind, w, p)?;
    details(&it.causes, &it.fixes, &it.findings, &it.notes, ind, w, p)?;
    writeln!(w, "{ind}{}", p.dim(&format!("Source: {}", it.source)))
}

fn brief(it: &Interpretation, n: &str, w: &mut dyn Write, p: Paint) -> io::Result<()> {
    writeln!(w, "  {n}{}", heading(it, p))?;
    writeln!(w, "     {}", it.meaning)?;
    let more = if it.findings.is_empty() {
        String::new()
    } else {
        let ids: Vec<&str> = it.findings.iter().map(|f| f.id.as_str()).collect();
        format!("check: {}; ", ids.join(", "))
    };
    writeln!(
        w,
        "     {}",
        p.dim(&format!("{more}details: rdp-doctor explain {}", it.query))
    )
}

fn phase(ph: Option<CodePhase>, ind: &str, w: &mut dyn Write, p: Paint) -> io::Result<()> {
    match ph {
        Some(ph) => writeln!(w, "{ind}Phase: {} ({})", p.cyan(ph.as_str()), ph.describe()),
        None => Ok(()),
    }
}

fn details(
    causes: &[String],
    fixes: &[String],
    findings: &[FindingRef],
    notes: &[String],
    ind: &str,
    w: &mut dyn Write,
    p: Paint,
) -> io::Result<()> {
    if !causes.is_empty() {
        writeln!(w, "{ind}Likely causes, most likely first:")?;
        for (i, c) in causes.iter().enumerate() {
            writeln!(w, "{ind}  {}. {c}", i + 1)?;
        }
    }
    if !fixes.is_empty() {
        writeln!(w, "{ind}What to do:")?;
        for (i, f) in fixes.iter().enumerate() {
            writeln!(w, "{ind}  {}. {f}", i + 1)?;
        }
    }
    if !findings.is_empty() {
        writeln!(w, "{ind}rdp-doctor check HOST would report:")?;
        let width = findings.iter().map(|f| f.id.len()).max().unwrap_or(0);
        for f in findings {
            let pad = " ".repeat(width.saturating_sub(f.id.len()));
            writeln!(w, "{ind}  {}{pad}  {}", p.cyan(&f.id), f.title)?;
        }
    }
    if !notes.is_empty() {
        writeln!(w, "{ind}Notes:")?;
        for n in notes {
            writeln!(w, "{ind}  - {n}")?;
        }
    }
    Ok(())
}
