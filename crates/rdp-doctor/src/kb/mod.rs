//! The knowledge base: the finding catalogue and the code tables, as data compiled into the
//! binary (`kb/*.toml`). Stable ids; the rules and the `explain` command look things up here.

use crate::model::{Finding, Kind, Phase, Severity};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const FINDINGS_TOML: &str = include_str!("../../kb/findings.toml");
const EVIDENCE_TOML: &str = include_str!("../../kb/evidence.toml");
const AUTH_TOML: &str = include_str!("../../kb/auth.toml");
const LOCAL_TOML: &str = include_str!("../../kb/local.toml");

/// Every catalogue file compiled in. Each area of the product (probe, evidence, credentials,
/// path, local) keeps its findings in its own file; ids must be unique across all of them.
pub const CATALOGUE_FILES: &[(&str, &str)] = &[
    ("kb/findings.toml", FINDINGS_TOML),
    ("kb/evidence.toml", EVIDENCE_TOML),
    ("kb/auth.toml", AUTH_TOML),
    ("kb/local.toml", LOCAL_TOML),
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
    static CAT: OnceLock<Catalogue> = OnceLock::new();
    CAT.get_or_init(|| match parse_catalogue_files(CATALOGUE_FILES) {
        Ok(c) => c,
        // The data is compiled in and validated by `cargo test`; reaching this is a build bug.
        Err(e) => {
            eprintln!("rdp-doctor: internal error: knowledge base does not parse: {e}");
            std::process::exit(3)
        }
    })
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

/// What a rule concluded: a catalogue id plus the measured evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: &'static str,
    /// Overrides the catalogue's default severity (the evidence should say why).
    pub severity: Option<Severity>,
    pub evidence: Vec<String>,
    /// Values for the placeholders in fix steps.
    pub vars: Vec<(&'static str, String)>,
}

impl Hit {
    pub fn new(id: &'static str) -> Hit {
        Hit {
            id,
            severity: None,
            evidence: Vec::new(),
            vars: Vec::new(),
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

    pub fn var(mut self, k: &'static str, v: impl Into<String>) -> Hit {
        self.vars.push((k, v.into()));
        self
    }
}

impl Catalogue {
    pub fn get(&self, id: &str) -> Option<&FindingDef> {
        self.findings.get(id)
    }

    /// Turns a rule's hit into a finding. An id missing from the catalogue is an internal
    /// error that the tests rule out; it still yields a usable finding rather than a panic.
    pub fn materialize(&self, hit: &Hit, default_vars: &[(&'static str, String)]) -> Finding {
        let fill = |s: &str| {
            let mut out = s.to_string();
            for (k, v) in hit.vars.iter().chain(default_vars.iter()) {
                out = out.replace(&format!("{{{k}}}"), v);
            }
            out
        };
        self.build(
            hit.id,
            hit.severity,
            hit.evidence.clone(),
            fill,
            Phase::Evidence,
        )
    }

    /// The finding for catalogue entry `id` with `evidence`, the severity overridden when
    /// given, and `fill` applied to the explanation and the fix steps (placeholders). An
    /// unknown id gives a finding that says so, in `fallback_phase`.
    pub fn build(
        &self,
        id: &str,
        severity: Option<Severity>,
        evidence: Vec<String>,
        fill: impl Fn(&str) -> String,
        fallback_phase: Phase,
    ) -> Finding {
        match self.get(id) {
            Some(def) => Finding {
                id: def.id.clone(),
                severity: severity.unwrap_or(def.severity),
                kind: def.kind,
                phase: def.phase,
                title: def.title.clone(),
                explanation: fill(&def.explanation),
                evidence,
                fix: def.fix.iter().map(|s| fill(s)).collect(),
                references: def.references.clone(),
            },
            None => Finding {
                id: id.to_string(),
                severity: severity.unwrap_or(Severity::Warning),
                kind: Kind::Failure,
                phase: fallback_phase,
                title: format!("{id} (not in the knowledge base)"),
                explanation: String::new(),
                evidence,
                fix: Vec::new(),
                references: Vec::new(),
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
    fn the_issue_catalogue_ids_exist() {
        let cat = catalogue();
        for id in [
            "dns-unresolved",
            "address-unreachable",
            "tcp-refused",
            "tcp-filtered",
            "tcp-unreachable",
            "not-rdp",
            "x224-no-response",
            "x224-reset",
            "server-requires-tls",
            "server-forbids-tls",
            "server-has-no-certificate",
            "server-requires-nla",
            "nla-not-offered",
            "standard-rdp-security-only",
            "standard-rdp-security-allowed",
            "tls-handshake-failed",
            "tls-version-mismatch",
            "tls-stalled",
            "cert-expired",
            "cert-not-yet-valid",
            "cert-expiring-soon",
            "cert-self-signed",
            "cert-untrusted",
            "cert-name-mismatch",
            "cert-weak-key",
            "cert-weak-signature",
            "cert-wrong-usage",
            "credssp-outdated-server",
            "credssp-failed",
            "clock-skew",
            "server-denied-connection",
            "udp-blocked",
        ] {
            assert!(cat.get(id).is_some(), "missing {id}");
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
        let f = catalogue().materialize(&hit, &[("host", "srv".into())]);
        assert!(f.fix.iter().any(|s| s.contains("ABCD")));
        assert!(f.fix.iter().all(|s| !s.contains("{sha1}")));
    }
}
