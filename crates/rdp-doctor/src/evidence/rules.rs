//! Event rules as data (`kb/event-rules.toml`): which events mean which finding, and how each
//! event is summarised. The [`Aggregator`] applies them to a stream of events and keeps, per
//! finding, the count, the time range, the distinct summary lines and an example record.
//!
//! Rule semantics: rules are tried in file order; the first rule whose provider, event id,
//! channel (if given) and `where` conditions all match claims the event. Conditions compare
//! case-insensitively, and numerically when both sides are numbers (`0xc000006e` equals
//! `0xC000006E` equals `3221225582`).

use super::{decode, fmt_time, Event, HostMatcher};
pub use crate::facts::logs::{
    EvidenceFindings, ExampleRecord, FileStats, LogFinding, SummaryLine, Totals, MAX_LINES,
};
use crate::kb::{catalogue, Hit, Occurrences};
use crate::model::{Phase, Severity};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};
use time::OffsetDateTime;

pub const EVENT_RULES_TOML: &str = include_str!("../../kb/event-rules.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    /// Stable rule id (`schannel-36870`).
    pub id: String,
    /// The catalogue finding the rule produces.
    pub finding: String,
    /// Provider names (any of; case-insensitive).
    pub provider: Vec<String>,
    pub event_id: Vec<u32>,
    /// Channels (any of); empty = any channel.
    #[serde(default)]
    pub channel: Vec<String>,
    #[serde(default, rename = "where")]
    pub conditions: Vec<Condition>,
    /// One line per event: `{Field}`, `{Field|decoder}` (decoders in `decode::apply`),
    /// `{@computer}`, `{@event_id}`.
    pub summary: String,
    /// Overrides the catalogue severity for events of this rule.
    #[serde(default)]
    pub severity: Option<Severity>,
    /// Fields naming the server the event is about (client-side events); default: `Computer`.
    #[serde(default)]
    pub host_fields: Vec<String>,
    /// This event starts a client connection attempt: its `host_fields` name the server for the
    /// later client events of the same file that set `host_from_attempt`.
    #[serde(default)]
    pub starts_attempt: bool,
    /// The server is the one named by the last `starts_attempt` event of the same file.
    #[serde(default)]
    pub host_from_attempt: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub field: String,
    #[serde(default)]
    pub equals: Option<String>,
    #[serde(default, rename = "in")]
    pub any_of: Vec<String>,
    #[serde(default)]
    pub not_in: Vec<String>,
    #[serde(default)]
    pub present: Option<bool>,
}

/// Names for the positional `Properties` of a plain `Get-WinEvent | ConvertTo-Json` export, in
/// the order of the event's manifest template.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldsDef {
    pub provider: Vec<String>,
    pub event_id: Vec<u32>,
    pub names: Vec<String>,
}

/// How a log finding and a probe finding become one ([`super::join`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinDef {
    /// The log finding id.
    pub log: String,
    /// Probe finding ids that are the same problem seen from outside.
    pub probe: Vec<String>,
    /// Which id the merged finding keeps: `log` (the cause) or `probe`.
    #[serde(default = "default_keep")]
    pub keep: String,
    /// When the probe passed this phase, the logged problem is past: the log finding becomes
    /// `info` with that evidence.
    #[serde(default)]
    pub resolved_if_phase_ok: Option<Phase>,
}

fn default_keep() -> String {
    "log".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    rule: Vec<RuleDef>,
    #[serde(default)]
    fields: Vec<FieldsDef>,
    #[serde(default)]
    join: Vec<JoinDef>,
}

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Lit(String),
    Field {
        name: String,
        decoder: Option<String>,
    },
}

fn parse_template(t: &str) -> Result<Vec<Seg>, String> {
    let mut out = Vec::new();
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        let (lit, tail) = rest.split_at(open);
        if !lit.is_empty() {
            out.push(Seg::Lit(lit.to_string()));
        }
        let close = tail
            .find('}')
            .ok_or_else(|| format!("unclosed '{{' in summary: {t}"))?;
        let inner = tail.get(1..close).unwrap_or("");
        let (name, decoder) = match inner.split_once('|') {
            Some((n, d)) => (n.to_string(), Some(d.to_string())),
            None => (inner.to_string(), None),
        };
        if name.is_empty() {
            return Err(format!("empty placeholder in summary: {t}"));
        }
        out.push(Seg::Field { name, decoder });
        rest = tail.get(close + 1..).unwrap_or("");
    }
    if !rest.is_empty() {
        out.push(Seg::Lit(rest.to_string()));
    }
    Ok(out)
}

pub const DECODERS: &[&str] = &[
    "ntstatus",
    "logon_type",
    "tls_alert",
    "hresult",
    "disc_reason",
    "ext_reason",
    "ip",
    "kerberos",
];

#[derive(Debug)]
struct Rule {
    def: RuleDef,
    channels: Vec<String>,
    summary: Vec<Seg>,
}

/// The compiled rules.
#[derive(Debug, Default)]
pub struct Engine {
    rules: Vec<Rule>,
    index: HashMap<(String, u32), Vec<usize>>,
    positional: HashMap<(String, u32), Vec<String>>,
    pub joins: Vec<JoinDef>,
}

/// The compiled-in rules (validated by the tests, so a malformed file cannot ship).
pub fn engine() -> &'static Engine {
    static EMPTY: OnceLock<Engine> = OnceLock::new();
    match loaded() {
        Ok(e) => e,
        // Unreachable after `main`'s self-check (which exits 3); never a panic.
        Err(_) => EMPTY.get_or_init(Engine::default),
    }
}

/// The rules as parsed once, or why they do not parse (checked by `main` before any command).
pub fn loaded() -> Result<&'static Engine, &'static str> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            Engine::parse(EVENT_RULES_TOML).map_err(|e| format!("kb/event-rules.toml: {e}"))
        })
        .as_ref()
        .map_err(String::as_str)
}

impl Engine {
    pub fn parse(text: &str) -> Result<Engine, String> {
        let file: RulesFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut rules = Vec::new();
        let mut index: HashMap<(String, u32), Vec<usize>> = HashMap::new();
        let mut ids = BTreeSet::new();
        for def in file.rule {
            if !ids.insert(def.id.clone()) {
                return Err(format!("duplicate rule id {}", def.id));
            }
            let summary = parse_template(&def.summary)?;
            for seg in &summary {
                if let Seg::Field {
                    decoder: Some(d), ..
                } = seg
                {
                    if !DECODERS.contains(&d.as_str()) {
                        return Err(format!("rule {}: unknown decoder {d}", def.id));
                    }
                }
            }
            for c in &def.conditions {
                if c.equals.is_none()
                    && c.any_of.is_empty()
                    && c.not_in.is_empty()
                    && c.present.is_none()
                {
                    return Err(format!(
                        "rule {}: condition on {} tests nothing",
                        def.id, c.field
                    ));
                }
            }
            let i = rules.len();
            for p in &def.provider {
                for id in &def.event_id {
                    index
                        .entry((p.to_ascii_lowercase(), *id))
                        .or_default()
                        .push(i);
                }
            }
            rules.push(Rule {
                channels: def.channel.iter().map(|c| c.to_ascii_lowercase()).collect(),
                summary,
                def,
            });
        }
        let mut positional = HashMap::new();
        for f in file.fields {
            for p in &f.provider {
                for id in &f.event_id {
                    positional.insert((p.to_ascii_lowercase(), *id), f.names.clone());
                }
            }
        }
        Ok(Engine {
            rules,
            index,
            positional,
            joins: file.join,
        })
    }

    pub fn rules(&self) -> impl Iterator<Item = &RuleDef> {
        self.rules.iter().map(|r| &r.def)
    }

    /// Field names for the positional `Properties` of a `Get-WinEvent` record.
    pub fn positional(&self, provider: &str, event_id: u32) -> Option<&Vec<String>> {
        self.positional
            .get(&(provider.to_ascii_lowercase(), event_id))
    }

    fn find(&self, ev: &Event) -> Option<&Rule> {
        let candidates = self
            .index
            .get(&(ev.provider.to_ascii_lowercase(), ev.event_id))?;
        candidates
            .iter()
            .filter_map(|i| self.rules.get(*i))
            .find(|r| {
                (r.channels.is_empty() || r.channels.contains(&ev.channel.to_ascii_lowercase()))
                    && r.def.conditions.iter().all(|c| c.matches(ev))
            })
    }

    /// The id of the rule that claims this event, if any.
    pub fn rule_for(&self, ev: &Event) -> Option<&RuleDef> {
        self.find(ev).map(|r| &r.def)
    }
}

fn values_equal(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    match (decode::parse_code(a), decode::parse_code(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

impl Condition {
    pub fn matches(&self, ev: &Event) -> bool {
        let v = ev.field(&self.field);
        if let Some(want) = self.present {
            if v.is_some() != want {
                return false;
            }
        }
        if let Some(e) = &self.equals {
            if !v.is_some_and(|v| values_equal(v, e)) {
                return false;
            }
        }
        if !self.any_of.is_empty()
            && !v.is_some_and(|v| self.any_of.iter().any(|e| values_equal(v, e)))
        {
            return false;
        }
        if let Some(v) = v {
            if self.not_in.iter().any(|e| values_equal(v, e)) {
                return false;
            }
        }
        true
    }
}

fn render_summary(segs: &[Seg], ev: &Event) -> String {
    let mut out = String::new();
    for s in segs {
        match s {
            Seg::Lit(l) => out.push_str(l),
            Seg::Field { name, decoder } => {
                let raw = match name.as_str() {
                    "@computer" => Some(ev.computer.clone()),
                    "@event_id" => Some(ev.event_id.to_string()),
                    "@provider" => Some(ev.provider.clone()),
                    _ => ev.field(name).map(str::to_string),
                };
                match raw {
                    Some(r) if !r.is_empty() && r != "-" => {
                        let v = match decoder {
                            Some(d) => decode::apply(d, &r),
                            None => r,
                        };
                        out.push_str(&crate::sanitize::escape(&super::truncate(&v, 200)));
                    }
                    _ => out.push('-'),
                }
            }
        }
    }
    out
}

impl ExampleRecord {
    pub(crate) fn from_event(ev: &Event) -> ExampleRecord {
        let esc = crate::sanitize::escape;
        ExampleRecord {
            time: ev.time.as_ref().map(fmt_time),
            provider: esc(&ev.provider),
            channel: esc(&ev.channel),
            event_id: ev.event_id,
            computer: esc(&ev.computer),
            record_id: ev.record_id,
            file: esc(std::path::Path::new(&*ev.source)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default()
                .as_str()),
            data: ev
                .data
                .iter()
                .map(|(k, v)| (esc(k), esc(&super::truncate(v, 200))))
                .collect(),
        }
    }

    /// One line: `#201 2018-07-06T18:45:47.0178202Z System/...RemoteConnectionManager 1056 on HOST: k=v; ...`
    pub fn one_line(&self) -> String {
        let data = if self.data.is_empty() {
            "(no data)".to_string()
        } else {
            self.data
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        super::truncate(
            &format!(
                "record #{} {} {} {} on {} ({}): {}",
                self.record_id,
                self.time.as_deref().unwrap_or("(no time)"),
                self.provider,
                self.event_id,
                if self.computer.is_empty() {
                    "?"
                } else {
                    &self.computer
                },
                self.file,
                data
            ),
            500,
        )
    }
}

impl EvidenceFindings {
    pub fn get(&self, id: &str) -> Option<&LogFinding> {
        self.findings.iter().find(|f| f.hit.id == id)
    }

    /// What `logs` exits with for these observations alone: 3 when no file could be read,
    /// else by the worst severity (an unreadable file among readable ones is a warning).
    pub fn exit_code(&self) -> crate::model::Exit {
        use crate::model::Exit;
        // Nothing read (no readable file, or not one record) is "could not run", as in
        // `commands::logs`.
        if self.files.is_empty()
            || self
                .files
                .iter()
                .all(|f| f.error.is_some() || f.records == 0)
        {
            return Exit::Unknown;
        }
        let worst = match self
            .findings
            .iter()
            .map(|f| f.hit.effective_severity())
            .max()
        {
            Some(Severity::Error) => Exit::Critical,
            Some(Severity::Warning) => Exit::Warning,
            _ => Exit::Ok,
        };
        let unreadable = if self.files.iter().any(|f| f.error.is_some()) {
            Exit::Warning
        } else {
            Exit::Ok
        };
        worst.merge(unreadable)
    }
}

impl LogFinding {
    /// The finding this observation stands for on its own (the catalogue text filled with the
    /// example event's values).
    pub fn finding(&self) -> crate::model::Finding {
        catalogue().materialize(&self.hit, &[])
    }
}

#[derive(Debug, Default)]
struct Acc {
    severity: Option<Severity>,
    count: u64,
    first: Option<OffsetDateTime>,
    last: Option<OffsetDateTime>,
    example: Option<Event>,
    lines: BTreeMap<String, u64>,
    hosts: BTreeMap<String, u64>,
    rules: BTreeSet<String>,
}

fn later(a: &Event, b: &Event) -> bool {
    (a.time, &*a.source, a.record_id) > (b.time, &*b.source, b.record_id)
}

impl Acc {
    fn merge(&mut self, o: Acc) {
        self.severity = self.severity.max(o.severity);
        self.count += o.count;
        self.first = match (self.first, o.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last = self.last.max(o.last);
        if let Some(e) = o.example {
            if self.example.as_ref().is_none_or(|mine| later(&e, mine)) {
                self.example = Some(e);
            }
        }
        for (k, v) in o.lines {
            *self.lines.entry(k).or_default() += v;
        }
        for (k, v) in o.hosts {
            *self.hosts.entry(k).or_default() += v;
        }
        self.rules.extend(o.rules);
    }
}

/// Filters applied before the rules.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub since: Option<OffsetDateTime>,
    pub host: Option<HostMatcher>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Filtered,
    Unmatched,
    Matched,
}

/// Applies the rules to a stream of events (one file at a time, in file order) and accumulates
/// per finding. Partial aggregators (one per worker) merge deterministically.
#[derive(Debug)]
pub struct Aggregator {
    engine: &'static Engine,
    accs: BTreeMap<String, Acc>,
    /// The server named by the last connection attempt, per file (client-side logs).
    attempt_host: HashMap<Arc<str>, String>,
}

impl Aggregator {
    pub fn new(engine: &'static Engine) -> Aggregator {
        Aggregator {
            engine,
            accs: BTreeMap::new(),
            attempt_host: HashMap::new(),
        }
    }

    /// The names of the server an event is about, per its rule.
    fn hosts_of(&self, rule: &RuleDef, ev: &Event) -> Vec<String> {
        if rule.host_from_attempt {
            return self
                .attempt_host
                .get(&ev.source)
                .map(|h| vec![h.clone()])
                .unwrap_or_default();
        }
        if rule.host_fields.is_empty() {
            return vec![ev.computer.clone()];
        }
        rule.host_fields
            .iter()
            .filter_map(|f| ev.field(f))
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect()
    }

    pub fn add(&mut self, ev: &Event, filter: &Filter) -> Outcome {
        if let (Some(since), Some(t)) = (filter.since, ev.time) {
            if t < since {
                return Outcome::Filtered;
            }
        }
        let Some(rule) = self.engine.find(ev) else {
            return Outcome::Unmatched;
        };
        let def = &rule.def;
        let hosts = self.hosts_of(def, ev);
        if def.starts_attempt {
            if let Some(h) = hosts.first() {
                self.attempt_host.insert(Arc::clone(&ev.source), h.clone());
            }
        }
        if let Some(m) = &filter.host {
            if !hosts.iter().any(|h| m.matches(h)) {
                return Outcome::Filtered;
            }
        }
        let line = render_summary(&rule.summary, ev);
        let acc = self.accs.entry(def.finding.clone()).or_default();
        acc.severity = acc.severity.max(def.severity);
        acc.count += 1;
        if let Some(t) = ev.time {
            acc.first = Some(acc.first.map_or(t, |f| f.min(t)));
            acc.last = Some(acc.last.map_or(t, |l| l.max(t)));
        }
        if acc.example.as_ref().is_none_or(|e| later(ev, e)) {
            acc.example = Some(ev.clone());
        }
        // Bound the distinct lines kept (a brute force from many addresses).
        if acc.lines.len() < 10_000 || acc.lines.contains_key(&line) {
            *acc.lines.entry(line).or_default() += 1;
        }
        for h in hosts {
            if acc.hosts.len() < 1000 || acc.hosts.contains_key(&h) {
                *acc.hosts.entry(h).or_default() += 1;
            }
        }
        if !acc.rules.contains(&def.id) {
            acc.rules.insert(def.id.clone());
        }
        Outcome::Matched
    }

    pub fn merge(&mut self, other: Aggregator) {
        for (id, acc) in other.accs {
            self.accs.entry(id).or_default().merge(acc);
        }
    }

    pub fn finish(self, files: Vec<FileStats>, seconds: f64) -> EvidenceFindings {
        let mut findings = Vec::new();
        for (id, acc) in self.accs {
            let Some(example_ev) = acc.example else {
                continue;
            };
            let example = ExampleRecord::from_event(&example_ev);
            let hosts: Vec<String> = acc
                .hosts
                .keys()
                .map(|h| crate::sanitize::escape(h))
                .collect();
            let mut lines: Vec<SummaryLine> = acc
                .lines
                .iter()
                .map(|(t, c)| SummaryLine {
                    count: *c,
                    text: t.clone(),
                })
                .collect();
            lines.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.text.cmp(&b.text)));
            let distinct_lines = lines.len();
            lines.truncate(MAX_LINES);
            let first = acc.first.as_ref().map(fmt_time);
            let last = acc.last.as_ref().map(fmt_time);

            let mut evidence = vec![format!(
                "{} event{} {}{}",
                acc.count,
                if acc.count == 1 { "" } else { "s" },
                match (&first, &last) {
                    (Some(f), Some(l)) if f == l => format!("at {f}"),
                    (Some(f), Some(l)) => format!("from {f} to {l}"),
                    _ => "(no time stamps)".to_string(),
                },
                if hosts.is_empty() {
                    String::new()
                } else {
                    format!(
                        " about {}",
                        hosts.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
                    )
                }
            )];
            for l in &lines {
                evidence.push(format!("{}x {}", l.count, l.text));
            }
            if distinct_lines > lines.len() {
                evidence.push(format!(
                    "... and {} more distinct",
                    distinct_lines - lines.len()
                ));
            }
            evidence.push(format!("example: {}", example.one_line()));

            let mut hit = Hit::new(id.clone());
            hit.severity = acc.severity;
            hit.evidence = evidence;
            hit.vars = placeholder_values(&id, &example_ev);
            hit.occurrences = Some(Occurrences {
                count: acc.count,
                first: first.clone(),
                last: last.clone(),
            });
            findings.push(LogFinding {
                hit,
                count: acc.count,
                first,
                last,
                hosts,
                lines,
                distinct_lines,
                example,
                rules: acc.rules.into_iter().collect(),
            });
        }
        // Most events first (the one comparator of findings orders them by severity and phase
        // afterwards; this decides ties).
        findings.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.hit.id.cmp(&b.hit.id)));
        let mut totals = Totals {
            files: files.len(),
            seconds,
            ..Totals::default()
        };
        for f in &files {
            totals.files_unreadable += usize::from(f.error.is_some());
            totals.bytes += f.bytes;
            totals.records += f.records;
            totals.damaged += f.damaged;
            totals.matched += f.matched;
            totals.filtered_out += f.filtered_out;
        }
        if seconds > 0.0 {
            totals.records_per_second = (totals.records as f64 / seconds).round();
            totals.mib_per_second =
                ((totals.bytes as f64 / (1024.0 * 1024.0)) / seconds * 100.0).round() / 100.0;
        }
        EvidenceFindings {
            files,
            findings,
            totals,
        }
    }
}

/// Values for the `{Field}` placeholders of a catalogue entry's explanation and fix text, from
/// the example event; `{computer}` is the event's computer. A placeholder without a value
/// becomes `<Field>`.
fn placeholder_values(id: &str, ev: &Event) -> Vec<(String, String)> {
    let Some(def) = catalogue().get(id) else {
        return Vec::new();
    };
    values_for(
        std::iter::once(def.explanation.as_str()).chain(def.fix.iter().map(String::as_str)),
        ev,
    )
}

fn values_for<'a>(texts: impl Iterator<Item = &'a str>, ev: &Event) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for text in texts {
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let tail = rest.get(open..).unwrap_or("");
            let Some(close) = tail.find('}') else { break };
            let name = tail.get(1..close).unwrap_or("");
            rest = tail.get(1..).unwrap_or("");
            let ok_name =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok_name || out.iter().any(|(k, _)| k == name) {
                continue;
            }
            let v = if name == "computer" {
                Some(ev.computer.as_str())
            } else {
                ev.field(name)
            };
            let value = match v {
                Some(v) if !v.is_empty() && v != "-" => super::truncate(v, 200),
                _ => format!("<{name}>"),
            };
            out.push((name.to_string(), value));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(provider: &str, id: u32, data: &[(&str, &str)]) -> Event {
        Event {
            time: None,
            provider: provider.into(),
            channel: String::new(),
            event_id: id,
            computer: "SRV".into(),
            record_id: 1,
            data: data
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            source: Arc::from("f"),
        }
    }

    #[test]
    fn the_rules_parse_and_every_finding_is_in_the_catalogue() {
        let e = Engine::parse(EVENT_RULES_TOML).expect("rules parse");
        let cat = catalogue();
        for r in e.rules() {
            assert!(
                cat.get(&r.finding).is_some(),
                "rule {} -> unknown finding {}",
                r.id,
                r.finding
            );
            assert!(
                !r.provider.is_empty() && !r.event_id.is_empty(),
                "rule {} matches nothing",
                r.id
            );
        }
        for j in &e.joins {
            assert!(
                cat.get(&j.log).is_some(),
                "join: unknown log finding {}",
                j.log
            );
            for p in &j.probe {
                assert!(cat.get(p).is_some(), "join: unknown probe finding {p}");
            }
            assert!(
                j.keep == "log" || j.keep == "probe",
                "join {}: keep must be log or probe",
                j.log
            );
        }
    }

    #[test]
    fn the_issue_events_all_have_a_rule() {
        let e = engine();
        let want: &[(&str, &[u32])] = &[
            ("Schannel", &[36870, 36871, 36874, 36887, 36888]),
            (
                "Microsoft-Windows-TerminalServices-RemoteConnectionManager",
                &[1056, 1057, 1058, 261, 1149],
            ),
            (
                "Microsoft-Windows-RemoteDesktopServices-RdpCoreTS",
                &[131, 140, 226],
            ),
            (
                "Microsoft-Windows-TerminalServices-LocalSessionManager",
                &[21, 22, 23, 24, 25, 39, 40],
            ),
            ("Microsoft-Windows-Security-Auditing", &[4825]),
            (
                "Microsoft-Windows-TerminalServices-Gateway",
                &[201, 203, 204, 301, 304, 305, 306, 308],
            ),
            (
                "Microsoft-Windows-TerminalServices-ClientActiveXCore",
                &[1024, 1025, 1026, 1027, 1028, 1029, 1102, 1103, 1104, 1105],
            ),
        ];
        for (p, ids) in want {
            for id in *ids {
                // A catch-all event with the fields the rules look at.
                let e1 = ev(
                    p,
                    *id,
                    &[
                        ("Value", "12345"),
                        ("Reason", "999"),
                        ("LogonType", "10"),
                        ("Status", "0xc0000001"),
                        ("SubStatus", "0x0"),
                    ],
                );
                assert!(e.rule_for(&e1).is_some(), "no rule for {p} {id}");
            }
        }
        let lt10 = ev(
            "Microsoft-Windows-Security-Auditing",
            4625,
            &[("LogonType", "10"), ("Status", "0xc0000001")],
        );
        assert!(e.rule_for(&lt10).is_some());
        let lt3 = ev(
            "Microsoft-Windows-Security-Auditing",
            4625,
            &[("LogonType", "3"), ("Status", "0xc0000001")],
        );
        assert!(e.rule_for(&lt3).is_some());
        let lt2 = ev(
            "Microsoft-Windows-Security-Auditing",
            4625,
            &[("LogonType", "2"), ("Status", "0xc000006d")],
        );
        assert!(
            e.rule_for(&lt2).is_none(),
            "console logons are not RDP evidence"
        );
    }

    #[test]
    fn conditions_compare_numbers_and_text() {
        let c = Condition {
            field: "Status".into(),
            equals: None,
            any_of: vec!["0xC000006E".into()],
            not_in: vec![],
            present: None,
        };
        assert!(c.matches(&ev("p", 1, &[("Status", "0xc000006e")])));
        assert!(c.matches(&ev("p", 1, &[("Status", "3221225582")])));
        assert!(!c.matches(&ev("p", 1, &[("Status", "0xc000006d")])));
        assert!(!c.matches(&ev("p", 1, &[])));
    }

    #[test]
    fn templates_and_fill() {
        assert!(parse_template("{a").is_err());
        assert!(parse_template("{}").is_err());
        let segs = parse_template("from {IPString|ip} on {@computer}").expect("parses");
        let e = ev("p", 1, &[("IPString", "1.2.3.4:5"), ("x", "\u{1b}[31m")]);
        assert_eq!(render_summary(&segs, &e), "from 1.2.3.4 on SRV");
        let text = "a {x} {missing} {computer} {not a name}";
        let vars = values_for(std::iter::once(text), &e);
        assert_eq!(
            crate::kb::fill_placeholders(text, vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            "a \\x1b[31m <missing> SRV {not a name}"
        );
    }
}
