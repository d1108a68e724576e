//! Diagnosis rules: pure functions from facts to findings. Each rule looks at the facts of its
//! phase, and names a catalogue id with the measured evidence; the catalogue supplies title,
//! explanation and fix. Findings are ordered so the first one is the most likely cause of a
//! failing connection: errors before warnings before notes, then by phase in connection order.

mod auth;
pub use auth::finding_for_error_code;
mod negotiation;
pub use negotiation::describe as negotiation_describe;
mod network;
mod security;
mod session;

use crate::facts::Facts;
use crate::kb::{catalogue, Hit};
use crate::model::{Finding, Target};

/// Thresholds and context the rules need besides the facts.
#[derive(Debug, Clone)]
pub struct Context {
    pub target: Target,
    /// Certificates expiring within this many days are reported.
    pub expiry_warning_days: i64,
    /// Median TCP connect time above which the path is "high latency" (ms).
    pub latency_threshold_ms: f64,
    /// Clock difference beyond which `clock-skew` is reported (seconds).
    pub clock_skew_threshold_s: i64,
}

impl Context {
    pub fn new(target: Target) -> Context {
        Context {
            target,
            expiry_warning_days: crate::cert::EXPIRY_WARNING_DAYS,
            latency_threshold_ms: 150.0,
            clock_skew_threshold_s: 300,
        }
    }
}

type Rule = fn(&Facts, &Context, &mut Vec<Hit>);

/// Every rule, in connection-sequence order (the order breaks ties between findings of equal
/// severity and phase).
const RULES: &[Rule] = &[
    network::resolve,
    network::tcp,
    negotiation::x224,
    negotiation::protocols,
    security::tls,
    security::certificate,
    session::credssp,
    auth::auth,
    session::mcs,
    auth::activation,
    session::udp,
    network::path,
];

/// Runs all rules and returns ordered findings.
pub fn diagnose(facts: &Facts, ctx: &Context) -> Vec<Finding> {
    let mut hits = Vec::new();
    for rule in RULES {
        rule(facts, ctx, &mut hits);
    }
    materialize(&hits, facts, ctx)
}

/// Turns hits into findings (placeholders filled) and orders them.
pub fn materialize(hits: &[Hit], facts: &Facts, ctx: &Context) -> Vec<Finding> {
    let cat = catalogue();
    let mut vars: Vec<(&'static str, String)> = vec![
        ("host", ctx.target.host.clone()),
        ("port", ctx.target.port.to_string()),
        (
            "address",
            facts
                .address_used
                .clone()
                .or_else(|| facts.addresses.first().map(|a| a.address.clone()))
                .unwrap_or_else(|| ctx.target.host.clone()),
        ),
    ];
    if let Some(c) = &facts.certificate {
        vars.push(("sha1", c.sha1.clone()));
    } else {
        vars.push(("sha1", "<thumbprint>".into()));
    }
    let mut out: Vec<(usize, Finding)> = hits
        .iter()
        .enumerate()
        .map(|(i, h)| (i, cat.materialize(h, &vars)))
        .collect();
    out.sort_by(|(ia, a), (ib, b)| {
        b.severity
            .cmp(&a.severity)
            .then(a.kind.cmp(&b.kind))
            .then(a.phase.cmp(&b.phase))
            .then(ia.cmp(ib))
    });
    out.into_iter().map(|(_, f)| f).collect()
}

/// Every finding id a rule in this module can produce (tests check each is in the catalogue
/// and has a rule test).
pub const PRODUCED_IDS: &[&str] = &[
    "dns-unresolved",
    "address-unreachable",
    "tcp-refused",
    "tcp-filtered",
    "tcp-unreachable",
    "not-rdp",
    "x224-no-response",
    "x224-reset",
    "slow-drip",
    "x224-unexpected-answer",
    "server-requires-tls",
    "server-forbids-tls",
    "server-has-no-certificate",
    "server-requires-nla",
    "negotiation-refused",
    "standard-rdp-security-only",
    "standard-rdp-security-allowed",
    "nla-not-offered",
    "nla-not-required",
    "tls-handshake-failed",
    "tls-version-mismatch",
    "tls-stalled",
    "path-mtu-blackhole",
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
    "mcs-no-response",
    "weak-rdp-encryption",
    "udp-blocked",
    "high-latency",
    "packet-loss",
    "credentials-not-sent",
    "logon-failure",
    "account-restricted",
    "password-expired",
    "password-must-change",
    "account-disabled",
    "account-locked",
    "no-remote-desktop-right",
    "credssp-version-mismatch",
    "credentials-rejected-silently",
    "credssp-dropped",
    "auth-failed",
    "credentials-not-checked",
    "server-error-info",
    "licensing-failed",
    "activation-incomplete",
];

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

    #[test]
    fn every_produced_id_is_in_the_catalogue() {
        for id in PRODUCED_IDS {
            let def = catalogue().get(id);
            assert!(def.is_some(), "{id} missing from kb");
        }
    }

    #[test]
    fn empty_facts_give_no_findings() {
        assert!(testutil::ids(&Facts::default(), "srv").is_empty());
    }
}
