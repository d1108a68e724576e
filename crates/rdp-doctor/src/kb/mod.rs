//! The knowledge base: the finding catalogue and the code tables, as data compiled into the
//! binary (`kb/*.toml`). Stable ids; the rules and the `explain` command look things up here.

pub mod codes;

use crate::model::{Finding, Kind, Phase, Severity};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const FINDINGS_TOML: &str = include_str!("../../kb/findings.toml");
const EVIDENCE_TOML: &str = include_str!("../../kb/evidence.toml");
const AUTH_TOML: &str = include_str!("../../kb/auth.toml");
const LOCAL_TOML: &str = include_str!("../../kb/local.toml");
const GATEWAY_TOML: &str = include_str!("../../kb/gateway.toml");
const KERBEROS_TOML: &str = include_str!("../../kb/kerberos.toml");

/// Every catalogue file compiled in. Each area of the product (probe, evidence, credentials,
/// path, local) keeps its findings in its own file; ids must be unique across all of them.
pub const CATALOGUE_FILES: &[(&str, &str)] = &[
    ("kb/findings.toml", FINDINGS_TOML),
    ("kb/evidence.toml", EVIDENCE_TOML),
    ("kb/auth.toml", AUTH_TOML),
    ("kb/local.toml", LOCAL_TOML),
    ("kb/gateway.toml", GATEWAY_TOML),
    ("kb/kerberos.toml", KERBEROS_TOML),
];

/// A catalogue entry as written in `kb/findings.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingDef {
    pub id: String,
    pub severity: Severity,
    #[serde(default)]
    pub kind: Kind,
    pub phase: Phase,
    pub title: String,
    pub explanation: String,
    pub fix: Vec<String>,
    pub references: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FindingsFile {
    finding: Vec<FindingDef>,
}

#[derive(Debug)]
pub struct Catalogue {
    pub findings: BTreeMap<String, FindingDef>,
}

/// The compiled-in catalogue. The data is checked by the tests below, so a malformed file
/// cannot ship; parsing happens once.
pub fn catalogue() -> &'static Catalogue {
    static EMPTY: OnceLock<Catalogue> = OnceLock::new();
    match loaded() {
        Ok(c) => c,
        // Unreachable after `main`'s self-check (which exits 3); never a panic.
        Err(_) => EMPTY.get_or_init(|| Catalogue {
            findings: BTreeMap::new(),
        }),
    }
}

/// The catalogue as parsed once, or why it does not parse (a build bug the tests rule out;
/// `main` checks it before any command runs).
pub fn loaded() -> Result<&'static Catalogue, &'static str> {
    static CAT: OnceLock<Result<Catalogue, String>> = OnceLock::new();
    CAT.get_or_init(|| parse_catalogue_files(CATALOGUE_FILES))
        .as_ref()
        .map_err(String::as_str)
}

pub fn parse_catalogue_files(files: &[(&str, &str)]) -> Result<Catalogue, String> {
    let mut findings = BTreeMap::new();
    for (name, text) in files {
        let file: FindingsFile = toml::from_str(text).map_err(|e| format!("{name}: {e}"))?;
        for f in file.finding {
            if findings.contains_key(&f.id) {
                return Err(format!("{name}: duplicate finding id {}", f.id));
            }
            findings.insert(f.id.clone(), f);
        }
    }
    Ok(Catalogue { findings })
}

/// What a rule concluded: a catalogue id plus the measured evidence. Every source's rules
/// produce hits; [`Catalogue::materialize`] is the one place that turns a hit into a finding.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: String,
    /// Overrides the catalogue's default severity (the evidence should say why).
    pub severity: Option<Severity>,
    pub evidence: Vec<String>,
    /// Values for the placeholders in the explanation and fix steps (escaped when filled).
    pub vars: Vec<(String, String)>,
    /// References beyond the catalogue entry's own (a finding confirmed by another source
    /// keeps that source's references too).
    pub references: Vec<String>,
    /// Where the finding sorts, when it is not its own phase: a log cause merged with a probe
    /// symptom keeps the symptom's place in the connection sequence.
    pub order_phase: Option<Phase>,
    /// How often and when a logged event occurred.
    pub occurrences: Option<Occurrences>,
}

/// Count and time range of the events behind a finding (event logs).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Occurrences {
    pub count: u64,
    pub first: Option<String>,
    pub last: Option<String>,
}

impl Hit {
    pub fn new(id: impl Into<String>) -> Hit {
        Hit {
            id: id.into(),
            severity: None,
            evidence: Vec::new(),
            vars: Vec::new(),
            references: Vec::new(),
            order_phase: None,
            occurrences: None,
        }
    }

    pub fn evidence(mut self, e: impl Into<String>) -> Hit {
        self.evidence.push(e.into());
        self
    }

    pub fn severity(mut self, s: Severity) -> Hit {
        self.severity = Some(s);
        self
    }

    pub fn var(mut self, k: impl Into<String>, v: impl Into<String>) -> Hit {
        self.vars.push((k.into(), v.into()));
        self
    }

    /// The severity the finding will have: the override, or the catalogue's.
    pub fn effective_severity(&self) -> Severity {
        self.severity
            .or_else(|| catalogue().get(&self.id).map(|d| d.severity))
            .unwrap_or(Severity::Warning)
    }

    /// The phase the finding belongs to (the catalogue's), or `Evidence` for an unknown id.
    pub fn phase(&self) -> Phase {
        catalogue()
            .get(&self.id)
            .map(|d| d.phase)
            .unwrap_or(Phase::Evidence)
    }
}

/// Replaces `{name}` placeholders with the values given (escaped); the first value for a name
/// wins. Unknown placeholders stay as written.
pub fn fill_placeholders<'a>(
    text: &str,
    vars: impl IntoIterator<Item = (&'a str, &'a str)> + Clone,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let (lit, tail) = rest.split_at(open);
        out.push_str(lit);
        let close = tail.find('}');
        let name = close.and_then(|c| tail.get(1..c)).unwrap_or("");
        let value = if name.is_empty() {
            None
        } else {
            vars.clone()
                .into_iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v)
        };
        match (value, close) {
            (Some(v), Some(c)) => {
                out.push_str(&crate::sanitize::escape(v));
                rest = tail.get(c + 1..).unwrap_or("");
            }
            _ => {
                out.push('{');
                rest = tail.get(1..).unwrap_or("");
            }
        }
    }
    out.push_str(rest);
    out
}

impl Catalogue {
    pub fn get(&self, id: &str) -> Option<&FindingDef> {
        self.findings.get(id)
    }

    /// Turns a rule's hit into a finding: catalogue text with the hit's placeholders (then the
    /// defaults) filled, the hit's evidence, severity override, extra references and
    /// occurrences. An id missing from the catalogue is an internal error that the tests rule
    /// out; it still yields a usable finding rather than a panic.
    pub fn materialize(&self, hit: &Hit, default_vars: &[(&str, String)]) -> Finding {
        let vars = hit
            .vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(default_vars.iter().map(|(k, v)| (*k, v.as_str())));
        let fill = |s: &str| fill_placeholders(s, vars.clone());
        let occ = hit.occurrences.clone().unwrap_or_default();
        let (count, first, last) = match &hit.occurrences {
            Some(_) => (Some(occ.count), occ.first, occ.last),
            None => (None, None, None),
        };
        match self.get(&hit.id) {
            Some(def) => {
                let mut references = def.references.clone();
                for r in &hit.references {
                    if !references.contains(r) {
                        references.push(r.clone());
                    }
                }
                Finding {
                    id: def.id.clone(),
                    severity: hit.severity.unwrap_or(def.severity),
                    kind: def.kind,
                    phase: def.phase,
                    title: def.title.clone(),
                    explanation: fill(&def.explanation),
                    evidence: hit.evidence.clone(),
                    fix: def.fix.iter().map(|s| fill(s)).collect(),
                    references,
                    count,
                    first,
                    last,
                }
            }
            None => Finding {
                id: hit.id.clone(),
                severity: hit.severity.unwrap_or(Severity::Warning),
                kind: Kind::Failure,
                phase: Phase::Evidence,
                title: format!("{} (not in the knowledge base)", hit.id),
                explanation: String::new(),
                evidence: hit.evidence.clone(),
                fix: Vec::new(),
                references: hit.references.clone(),
                count,
                first,
                last,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_parses_and_every_entry_is_complete() {
        let cat = parse_catalogue_files(CATALOGUE_FILES).expect("the catalogue parses");
        assert!(cat.findings.len() >= 32);
        for (id, f) in &cat.findings {
            assert!(
                id.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{id} is not kebab-case"
            );
            assert!(!f.title.is_empty(), "{id} has no title");
            assert!(!f.explanation.is_empty(), "{id} has no explanation");
            assert!(!f.fix.is_empty(), "{id} has no fix");
            assert!(!f.references.is_empty(), "{id} has no reference");
        }
    }

    #[test]
    fn weakening_steps_say_so() {
        // Any fix step that turns off NLA/TLS or sets AllowEncryptionOracle=2 must warn.
        for f in catalogue().findings.values() {
            for step in &f.fix {
                let s = step.to_lowercase();
                let weakens = s.contains("userauthentication -value 0")
                    || s.contains("allowencryptionoracle = 2")
                    || s.contains("/sec:rdp");
                if weakens {
                    assert!(
                        s.contains("weakens security"),
                        "{}: step weakens security without saying so: {step}",
                        f.id
                    );
                }
            }
        }
    }

    #[test]
    fn placeholders_are_filled() {
        let hit = Hit::new("cert-expired").var("sha1", "ABCD");
        let f = catalogue().materialize(&hit, &[("host", "srv".to_string())]);
        assert!(f.fix.iter().any(|s| s.contains("ABCD")));
        assert!(f.fix.iter().all(|s| !s.contains("{sha1}")));
    }
}
