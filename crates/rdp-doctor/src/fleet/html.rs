//! `scan --html FILE`: the fleet page. One self-contained HTML file like `check --html`'s (the
//! same style sheet, no script, no external resource): the totals, then the targets grouped
//! by their first finding (errors first, then the bigger groups), then every target in one
//! table worst first, and in input order. Sorting needs no script: each order is its own
//! pre-sorted table. Every value is escaped ([`crate::render::html::text`]).

use super::output::{Row, RowVerdict, Summary};
use super::scan::ScanStats;
use crate::model::Severity;
use crate::render::html::{page_start, text};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};

fn verdict_rank(v: RowVerdict) -> u8 {
    match v {
        RowVerdict::Failing => 0,
        RowVerdict::Unknown => 1,
        RowVerdict::Degraded => 2,
        RowVerdict::Healthy => 3,
    }
}

fn sev_class(s: Option<Severity>) -> &'static str {
    match s {
        Some(s) => s.as_str(),
        None => "unknown",
    }
}

/// The group a row belongs to: its first finding id, `(no finding)` or why it has no verdict.
fn group_key(r: &Row) -> String {
    match (&r.first_finding, r.verdict) {
        (Some(id), _) => id.clone(),
        (None, RowVerdict::Unknown) => "(no result)".into(),
        (None, _) => "(no finding)".into(),
    }
}

/// Writes the fleet page for `rows` (any order) with the scan's summary and statistics.
pub fn render(
    rows: &[Row],
    sum: &Summary,
    stats: &ScanStats,
    generated_at: &str,
    w: &mut dyn Write,
) -> io::Result<()> {
    let mut o = String::with_capacity(16 * 1024 + rows.len() * 400);
    let [h, d, f, u] = sum.by_verdict;
    let worst = if f > 0 {
        "failing"
    } else if u > 0 {
        "unknown"
    } else if d > 0 {
        "degraded"
    } else {
        "healthy"
    };
    page_start(
        &mut o,
        &format!(
            "rdp-doctor scan: {} targets, {f} failing, {d} degraded",
            sum.targets
        ),
    );
    let _ = write!(
        o,
        "<header class=\"banner {worst}\">\n<h1>{} target{} &mdash; <span class=\"v\">{f} failing</span>, {d} degraded, {h} healthy, {u} without a result</h1>\n\
         <p class=\"mut\">scanned in {:.2} s{} &middot; {}</p>\n</header>\n",
        sum.targets,
        if sum.targets == 1 { "" } else { "s" },
        stats.wall.as_secs_f64(),
        if stats.interrupted {
            " (interrupted: the remaining targets were not started)"
        } else {
            ""
        },
        text(generated_at)
    );
    // Grouped by first finding.
    let mut groups: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
    for r in rows {
        groups.entry(group_key(r)).or_default().push(r);
    }
    let mut order: Vec<(&String, &Vec<&Row>)> = groups.iter().collect();
    order.sort_by(|(ia, a), (ib, b)| {
        let rank = |v: &Vec<&Row>| v.iter().map(|r| verdict_rank(r.verdict)).min();
        rank(a)
            .cmp(&rank(b))
            .then(b.len().cmp(&a.len()))
            .then(ia.cmp(ib))
    });
    o.push_str("<section id=\"by-finding\">\n<h2>By first finding</h2>\n");
    if !order.is_empty() {
        o.push_str("<ul>\n");
        for (i, (id, members)) in order.iter().enumerate() {
            let _ = writeln!(
                o,
                "<li><a href=\"#g{i}\">{}</a> &middot; {} target{}</li>",
                text(&title_of(sum, id)),
                members.len(),
                if members.len() == 1 { "" } else { "s" }
            );
        }
        o.push_str("</ul>\n");
    }
    for (i, (id, members)) in order.iter().enumerate() {
        let sev = sum.groups.get(*id).and_then(|g| g.severity);
        let class = match (sev, members.first().map(|r| r.verdict)) {
            (Some(_), _) => sev_class(sev),
            (None, Some(RowVerdict::Healthy)) => "healthy",
            _ => "unknown",
        };
        let mut sorted = members.to_vec();
        sorted.sort_by_key(|r| r.index);
        let _ = write!(
            o,
            "<article class=\"finding {class}\" id=\"g{i}\">\n<h3>{} <span class=\"mut\"><code>{}</code> &middot; {} target{}</span></h3>\n",
            text(&title_of(sum, id)),
            text(id),
            members.len(),
            if members.len() == 1 { "" } else { "s" }
        );
        table(&mut o, &sorted, false);
        o.push_str("</article>\n");
    }
    o.push_str("</section>\n");
    let mut worst_first: Vec<&Row> = rows.iter().collect();
    worst_first.sort_by_key(|r| (verdict_rank(r.verdict), r.index));
    o.push_str("<section id=\"worst-first\">\n<h2>All targets, worst first</h2>\n");
    table(&mut o, &worst_first, true);
    o.push_str("</section>\n");
    let mut by_input: Vec<&Row> = rows.iter().collect();
    by_input.sort_by_key(|r| r.index);
    o.push_str("<section id=\"input-order\">\n<h2>All targets, in input order</h2>\n<details><summary>show</summary>\n");
    table(&mut o, &by_input, true);
    o.push_str("</details>\n</section>\n");
    let _ = write!(
        o,
        "<footer>rdp-doctor {} &middot; <code>rdp-doctor check TARGET --html FILE</code> gives the full report of one target</footer>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    );
    w.write_all(o.as_bytes())
}

fn title_of(sum: &Summary, id: &str) -> String {
    match id {
        "(no finding)" => "No problem found".into(),
        "(no result)" => "No result".into(),
        _ => sum
            .groups
            .get(id)
            .map(|g| g.title.clone())
            .unwrap_or_else(|| id.to_string()),
    }
}

fn table(o: &mut String, rows: &[&Row], with_finding: bool) {
    o.push_str("<table>\n<thead><tr><th>target</th><th>verdict</th>");
    if with_finding {
        o.push_str("<th>first finding</th>");
    }
    o.push_str("<th>all findings</th><th>certificate expires</th><th>protocols</th><th>NLA</th><th>TLS</th><th>time</th></tr></thead>\n<tbody>\n");
    for r in rows {
        let v = r.verdict.as_str();
        let _ = write!(
            o,
            "<tr class=\"{v}\"><td><code>{}</code></td><td><span class=\"tag\">{v}</span></td>",
            text(&r.target)
        );
        if with_finding {
            let first = match &r.first_finding {
                Some(id) => format!("<code>{}</code>", text(id)),
                None if !r.note.is_empty() => text(&r.note),
                None => "&ndash;".into(),
            };
            let _ = write!(o, "<td>{first}</td>");
        }
        let all = if r.findings.is_empty() {
            text(&r.note)
        } else {
            text(&r.findings.join(", "))
        };
        let cert = match (&r.cert_not_after, r.cert_days_left) {
            (Some(na), Some(d)) => text(&format!("{} ({d} d)", na.get(..10).unwrap_or(na))),
            _ => "&ndash;".into(),
        };
        let _ = writeln!(
            o,
            "<td class=\"mut\">{all}</td><td>{cert}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            text(&r.protocols),
            text(&r.nla),
            text(&r.tls_version),
            text(&crate::render::human::format_ms(r.duration_ms))
        );
    }
    o.push_str("</tbody>\n</table>\n");
}

#[cfg(test)]
mod tests {
    use super::super::output::Group;
    use super::*;

    fn row(index: usize, target: &str, verdict: RowVerdict, first: Option<&str>) -> Row {
        Row {
            index,
            target: target.into(),
            verdict,
            exit_code: 0,
            first_finding: first.map(String::from),
            first_severity: None,
            findings: first.map(String::from).into_iter().collect(),
            cert_not_after: None,
            cert_days_left: None,
            protocols: String::new(),
            nla: String::new(),
            standard_rdp: String::new(),
            tls_version: String::new(),
            duration_ms: 1.0,
            note: String::new(),
        }
    }

    fn page() -> String {
        let rows = vec![
            row(0, "a:3389", RowVerdict::Healthy, None),
            row(1, "b:3389", RowVerdict::Degraded, Some("cert-self-signed")),
            row(
                2,
                "<img src=x onerror=alert(1)>:3389",
                RowVerdict::Failing,
                Some("tcp-refused"),
            ),
            row(3, "d:3389", RowVerdict::Failing, Some("tcp-refused")),
        ];
        let mut sum = Summary {
            targets: 4,
            by_verdict: [1, 1, 2, 0],
            ..Summary::default()
        };
        for (id, sev, title) in [
            ("tcp-refused", Severity::Error, "Connection refused"),
            ("cert-self-signed", Severity::Warning, "Self-signed <b>"),
        ] {
            sum.groups.insert(
                id.into(),
                Group {
                    severity: Some(sev),
                    title: title.into(),
                    count: 1,
                    examples: vec![],
                },
            );
        }
        let mut out = Vec::new();
        render(
            &rows,
            &sum,
            &ScanStats::default(),
            "2026-12-06T00:00:00Z",
            &mut out,
        )
        .expect("render");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn the_fleet_page_groups_by_first_finding_errors_first() {
        let p = page();
        let at = |s: &str| p.find(s).unwrap_or_else(|| panic!("{s} missing"));
        // groups: the error group (two targets) before the warning, healthy last
        assert!(at("id=\"g0\"") < at("id=\"g1\"") && at("id=\"g1\"") < at("id=\"g2\""));
        let g0 = &p[at("id=\"g0\"")..at("id=\"g1\"")];
        assert!(
            g0.contains("Connection refused") && g0.contains("2 targets"),
            "{g0}"
        );
        assert!(p[at("id=\"g2\"")..].contains("No problem found"));
        // worst first: failing rows, then degraded, then healthy
        let worst = &p[at("id=\"worst-first\"")..at("id=\"input-order\"")];
        let order: Vec<usize> = ["d:3389", "b:3389", "a:3389"]
            .iter()
            .map(|t| worst.find(t).expect("row"))
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    }

    #[test]
    fn the_fleet_page_escapes_targets_and_titles() {
        let p = page().to_ascii_lowercase();
        assert!(!p.contains("<img") && !p.contains("<b>") && !p.contains("<script"));
        assert!(p.contains("&lt;img src=x onerror=alert(1)&gt;"));
    }
}
