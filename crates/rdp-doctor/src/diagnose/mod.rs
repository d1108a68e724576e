//! Diagnosis rules: pure functions from facts to hits, run once over one [`Facts`] value that
//! holds every source (the probe, the client's .rdp file, the Windows server's own
//! configuration, event logs). Each rule names a catalogue id with the measured evidence; the
//! catalogue supplies title, explanation and fix ([`crate::kb::Catalogue::materialize`]).
//! [`findings`] is the one place that merges hits of the same cause and orders them, so the
//! first finding is the most likely cause of a failing connection: errors before warnings
//! before notes, failures before hardening, then by phase in connection order.

mod auth;
pub use auth::finding_for_error_code;
pub mod client;
mod gateway;
pub use gateway::side as gateway_side;
mod kerberos;
pub use kerberos::finding_for_krb_error;
pub mod local;
pub mod logs;
mod negotiation;
pub use negotiation::describe as negotiation_describe;
mod network;
mod security;
mod session;

use crate::facts::Facts;
use crate::kb::{catalogue, Hit};
use crate::model::{Finding, Phase, Target};

/// Default thresholds, in one place (the CLI, `demo`, `scan` and `serve` take them from here).
pub mod defaults {
    /// Certificates expiring within this many days are reported.
    pub const EXPIRY_WARNING_DAYS: i64 = crate::cert::EXPIRY_WARNING_DAYS;
    /// Median TCP connect time above which the path is "high latency" (ms).
    pub const LATENCY_THRESHOLD_MS: f64 = 150.0;
    /// Clock difference beyond which `clock-skew` is reported (seconds): Kerberos' default
    /// maximum tolerance.
    pub const CLOCK_SKEW_THRESHOLD_S: i64 = 300;
}

/// Thresholds and context the rules need besides the facts.
#[derive(Debug, Clone)]
pub struct Context {
    /// The target as typed (empty for sources without one: `logs`, `rdpfile`).
    pub target: Target,
    /// Certificates expiring within this many days are reported.
    pub expiry_warning_days: i64,
    /// Median TCP connect time above which the path is "high latency" (ms).
    pub latency_threshold_ms: f64,
    /// Clock difference beyond which `clock-skew` is reported (seconds).
    pub clock_skew_threshold_s: i64,
    /// The time the facts were gathered (Unix seconds), for rules that judge dates.
    pub now_unix: i64,
}

impl Context {
    pub fn new(target: Target) -> Context {
        Context {
            target,
            expiry_warning_days: defaults::EXPIRY_WARNING_DAYS,
            latency_threshold_ms: defaults::LATENCY_THRESHOLD_MS,
            clock_skew_threshold_s: defaults::CLOCK_SKEW_THRESHOLD_S,
            now_unix: 0,
        }
    }

    /// For sources without a target (`logs`, `rdpfile`): the probe rules find nothing to
    /// judge, and host placeholders stay as written.
    pub fn without_target() -> Context {
        Context::new(Target {
            input: String::new(),
            host: String::new(),
            port: 0,
            host_kind: "none".into(),
        })
    }
}

type Rule = fn(&Facts, &Context, &mut Vec<Hit>);

/// Every rule, in connection-sequence order (the order breaks ties between findings of equal
/// severity and phase). The rules of an absent source find nothing.
const RULES: &[Rule] = &[
    gateway::rules,
    network::resolve,
    network::tcp,
    negotiation::x224,
    negotiation::protocols,
    security::tls,
    security::certificate,
    session::credssp,
    kerberos::kdc,
    kerberos::ntlm_after_kerberos,
    auth::auth,
    session::mcs,
    auth::activation,
    session::udp,
    network::path,
    client::rules,
    local::rules_for,
    // Last: it merges logged causes into the symptoms the rules above found.
    logs::rules,
];

/// Runs every rule once and returns the ordered findings.
pub fn diagnose(facts: &Facts, ctx: &Context) -> Vec<Finding> {
    let mut hits = Vec::new();
    for rule in RULES {
        rule(facts, ctx, &mut hits);
    }
    findings(hits, facts, ctx)
}

/// Hits -> findings: hits of the same id (one cause seen by two sources) become one finding
/// with both evidences and the higher severity; placeholders are filled; the findings are
/// ordered. The only place where findings are made and sorted.
pub fn findings(hits: Vec<Hit>, facts: &Facts, ctx: &Context) -> Vec<Finding> {
    let cat = catalogue();
    let address = facts
        .address_used
        .clone()
        .or_else(|| facts.addresses.first().map(|a| a.address.clone()))
        .unwrap_or_else(|| ctx.target.host.clone());
    let mut vars: Vec<(&str, String)> = Vec::new();
    if !ctx.target.host.is_empty() {
        vars.push(("host", ctx.target.host.clone()));
        vars.push(("port", ctx.target.port.to_string()));
        vars.push(("address", address));
    }
    match &facts.certificate {
        Some(c) => vars.push(("sha1", c.sha1.clone())),
        None => vars.push(("sha1", "<thumbprint>".into())),
    }
    let mut out: Vec<(usize, Finding, Phase)> = merge_same_cause(hits)
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let f = cat.materialize(h, &vars);
            let order = h.order_phase.unwrap_or(f.phase);
            (i, f, order)
        })
        .collect();
    out.sort_by(|(ia, a, pa), (ib, b, pb)| {
        b.severity
            .cmp(&a.severity)
            .then(a.kind.cmp(&b.kind))
            .then(pa.cmp(pb))
            .then(ia.cmp(ib))
    });
    out.into_iter().map(|(_, f, _)| f).collect()
}

/// One hit per id, in the order of first appearance: evidence appended (without repeats),
/// the higher severity kept, references, placeholder values and occurrences joined.
fn merge_same_cause(hits: Vec<Hit>) -> Vec<Hit> {
    let mut out: Vec<Hit> = Vec::with_capacity(hits.len());
    for h in hits {
        match out.iter_mut().find(|g| g.id == h.id) {
            Some(g) => {
                let sev = g.effective_severity().max(h.effective_severity());
                if sev != g.effective_severity() || h.severity.is_some() {
                    g.severity = Some(sev);
                }
                for e in h.evidence {
                    if !g.evidence.contains(&e) {
                        g.evidence.push(e);
                    }
                }
                for r in h.references {
                    if !g.references.contains(&r) {
                        g.references.push(r);
                    }
                }
                for v in h.vars {
                    if !g.vars.iter().any(|(k, _)| *k == v.0) {
                        g.vars.push(v);
                    }
                }
                if g.occurrences.is_none() {
                    g.occurrences = h.occurrences;
                }
                if g.order_phase.is_none() {
                    g.order_phase = h.order_phase;
                }
            }
            None => out.push(h),
        }
    }
    out
}

/// A duration for evidence text.
pub(crate) fn ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} s", v / 1000.0)
    } else {
        format!("{v:.1} ms")
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;
    use crate::target::parse_target;

    pub fn ctx(host: &str) -> Context {
        Context::new(parse_target(host, 3389).expect("valid"))
    }

    pub fn ids(facts: &Facts, host: &str) -> Vec<String> {
        diagnose(facts, &ctx(host))
            .into_iter()
            .map(|f| f.id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules' sources, read at compile time: the id list is derived from them, not kept
    /// by hand.
    const RULE_SOURCES: &[&str] = &[
        include_str!("auth.rs"),
        include_str!("client.rs"),
        include_str!("gateway.rs"),
        include_str!("kerberos.rs"),
        include_str!("local.rs"),
        include_str!("logs.rs"),
        include_str!("negotiation.rs"),
        include_str!("network.rs"),
        include_str!("security.rs"),
        include_str!("session.rs"),
        crate::evidence::rules::EVENT_RULES_TOML,
    ];

    /// Every quoted kebab-case word in the rules' sources (ids among other strings).
    fn quoted_words() -> std::collections::BTreeSet<&'static str> {
        let mut out = std::collections::BTreeSet::new();
        for src in RULE_SOURCES {
            for (i, part) in src.split('"').enumerate() {
                let word = i % 2 == 1
                    && part.contains('-')
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
                if word {
                    out.insert(part);
                }
            }
        }
        out
    }

    #[test]
    fn every_catalogue_entry_is_produced_by_a_rule() {
        let words = quoted_words();
        let dead: Vec<&String> = catalogue()
            .findings
            .keys()
            .filter(|id| !words.contains(id.as_str()))
            .collect();
        assert!(
            dead.is_empty(),
            "catalogue entries no rule produces: {dead:?}"
        );
    }

    #[test]
    fn every_hit_names_a_catalogue_entry() {
        for src in RULE_SOURCES {
            for part in src.split("Hit::new(\"").skip(1) {
                let id = part.split('"').next().unwrap_or("");
                assert!(
                    catalogue().get(id).is_some(),
                    "Hit::new(\"{id}\") is not in the catalogue"
                );
            }
        }
    }

    #[test]
    fn empty_facts_give_no_findings() {
        assert!(testutil::ids(&Facts::default(), "srv").is_empty());
    }
}
