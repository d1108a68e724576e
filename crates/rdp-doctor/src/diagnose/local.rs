//! Local facts -> hits. Pure. Where the server's own configuration explains what the network
//! probe sees, the hit uses the probe's id (an expired listener certificate is `cert-expired`,
//! SecurityLayer 0 is `standard-rdp-security-only`); the rest are `local-*` ids
//! (kb/local.toml). Values and their meaning: rdp-knowledge.md B7 (registry, firewall,
//! certificates), B5 (AllowEncryptionOracle).

use super::Context;
use crate::facts::local::*;
use crate::kb::Hit;
use crate::model::Severity;

/// What the rules need besides the facts.
#[derive(Debug, Clone)]
pub struct RuleContext {
    pub now_unix: i64,
    pub expiry_warning_days: i64,
    /// The port `check` probed, when it probed this machine (loopback, `localhost` or the
    /// computer's own name): compared with the listener's PortNumber.
    pub checked_port: Option<u16>,
    /// The host `check` probed.
    pub checked_host: Option<String>,
}

impl Default for RuleContext {
    fn default() -> Self {
        RuleContext {
            now_unix: 0,
            expiry_warning_days: crate::cert::EXPIRY_WARNING_DAYS,
            checked_port: None,
            checked_host: None,
        }
    }
}

impl RuleContext {
    pub fn from_check(ctx: &Context, now_unix: i64) -> RuleContext {
        RuleContext {
            now_unix,
            expiry_warning_days: ctx.expiry_warning_days,
            checked_port: Some(ctx.target.port),
            checked_host: Some(ctx.target.host.clone()),
        }
    }

    /// Whether the probed host is this machine.
    fn probed_this_machine(&self, computer: Option<&str>) -> bool {
        let Some(h) = self.checked_host.as_deref() else {
            return false;
        };
        let h = h.trim_end_matches('.');
        if h.eq_ignore_ascii_case("localhost") {
            return true;
        }
        if let Ok(ip) = h.parse::<std::net::IpAddr>() {
            return ip.is_loopback();
        }
        let first = h.split('.').next().unwrap_or(h);
        computer.is_some_and(|c| c.eq_ignore_ascii_case(first))
    }
}

/// The built-in firewall rules ([rdp-knowledge.md B7]).
const FW_TCP: &str = "RemoteDesktop-UserMode-In-TCP";
const FW_UDP: &str = "RemoteDesktop-UserMode-In-UDP";

/// The local rules as one pipeline rule: the facts read on the server, or why they could not
/// be read.
pub fn rules_for(facts: &crate::facts::Facts, ctx: &Context, hits: &mut Vec<Hit>) {
    if let Some(e) = &facts.local_error {
        hits.push(Hit::new("local-facts-unavailable").evidence(e.clone()));
    }
    if let Some(f) = &facts.local {
        hits.extend(rules(f, &RuleContext::from_check(ctx, ctx.now_unix)));
    }
}

/// All local rules, in connection-sequence order.
pub fn rules(f: &LocalFacts, ctx: &RuleContext) -> Vec<Hit> {
    let mut hits = Vec::new();
    availability(f, ctx, &mut hits);
    firewall(f, &mut hits);
    certificate(f, ctx, &mut hits);
    security(f, &mut hits);
    credssp(f, &mut hits);
    encryption(f, &mut hits);
    sources(f, &mut hits);
    hits
}

fn availability(f: &LocalFacts, ctx: &RuleContext, hits: &mut Vec<Hit>) {
    if let Some(d) = f.deny_connections {
        if d.value != 0 {
            let mut h = Hit::new("local-rdp-disabled").evidence(d.location("fDenyTSConnections"));
            if d.source == SettingSource::Policy {
                h = h.evidence("a Group Policy sets it: changing it in System Properties will not last; change 'Allow users to connect remotely by using Remote Desktop Services' in the GPO");
            }
            hits.push(h);
        }
    }
    if let Some(s) = &f.term_service {
        if !s.status.eq_ignore_ascii_case("running") {
            let start = s
                .start_type
                .as_deref()
                .map(|t| format!(", start type {t}"))
                .unwrap_or_default();
            hits.push(Hit::new("local-termservice-not-running").evidence(format!(
                "TermService (Remote Desktop Services) is {}{start}",
                s.status
            )));
        }
    }
    if let (Some(listen), Some(checked)) = (f.port, ctx.checked_port) {
        if listen != u32::from(checked) && ctx.probed_this_machine(f.computer.as_deref()) {
            hits.push(
                Hit::new("local-listener-port-differs")
                    .evidence(format!(
                        "RDP-Tcp PortNumber = {listen}; this check connected to port {checked}"
                    ))
                    .var("port", listen.to_string())
                    .var("checked", checked.to_string()),
            );
        }
    }
}

/// Whether a rule's LocalPort list admits `port` ("Any", single ports, ranges "a-b").
fn ports_admit(ports: &[String], port: u32) -> bool {
    ports.iter().any(|p| {
        let p = p.trim();
        if p.eq_ignore_ascii_case("any") {
            return true;
        }
        match p.split_once('-') {
            Some((a, b)) => match (a.trim().parse::<u32>(), b.trim().parse::<u32>()) {
                (Ok(a), Ok(b)) => (a..=b).contains(&port),
                _ => false,
            },
            None => p.parse::<u32>() == Ok(port),
        }
    })
}

fn firewall(f: &LocalFacts, hits: &mut Vec<Hit>) {
    let Some(fw) = &f.firewall else { return };
    if f.errors.iter().any(|e| e.source == "firewall") {
        return;
    }
    // With the firewall off in every profile the rules do not matter.
    if !fw.profiles.is_empty() && fw.profiles.iter().all(|p| p.enabled == Some(false)) {
        return;
    }
    let port = f.port.unwrap_or(3389);
    for (name, id) in [
        (FW_TCP, "local-firewall-blocks-rdp"),
        (FW_UDP, "local-firewall-blocks-rdp-udp"),
    ] {
        let mut h = Hit::new(id).var("port", port.to_string());
        let rule = fw.rules.iter().find(|r| r.name.eq_ignore_ascii_case(name));
        let mut problem = false;
        match rule {
            None => {
                problem = true;
                h = h.evidence(format!(
                    "the built-in rule {name} is not in the active firewall policy"
                ));
            }
            Some(r) => {
                if r.action.eq_ignore_ascii_case("block") {
                    problem = true;
                    // A block rule wins over every allow rule.
                    if id == "local-firewall-blocks-rdp" {
                        h = h.severity(Severity::Error);
                    }
                    h = h.evidence(format!(
                        "the rule {name} has Action = Block (block rules win over allow rules)"
                    ));
                }
                if r.enabled == Some(false) {
                    problem = true;
                    h = h.evidence(format!("the rule {name} is disabled (Enabled = False)"));
                }
                if !r.local_ports.is_empty() && !ports_admit(&r.local_ports, port) {
                    problem = true;
                    h = h.evidence(format!(
                        "the rule {name} allows local port {} but the listener uses port {port} (RDP-Tcp PortNumber)",
                        r.local_ports.join(",")
                    ));
                }
            }
        }
        if problem {
            let on: Vec<&str> = fw
                .profiles
                .iter()
                .filter(|p| p.enabled != Some(false))
                .map(|p| p.name.as_str())
                .collect();
            if !on.is_empty() {
                h = h.evidence(format!(
                    "the firewall is on in profile(s): {}",
                    on.join(", ")
                ));
            }
            hits.push(h);
        }
    }
}

fn describe_acl(acl: &[Ace]) -> String {
    acl.iter()
        .map(|a| {
            let who = match a.sid.as_str() {
                "S-1-5-18" => "SYSTEM",
                "S-1-5-20" => "NETWORK SERVICE",
                "S-1-5-19" => "LOCAL SERVICE",
                "S-1-5-32-544" => "Administrators",
                "S-1-5-32-545" => "Users",
                "S-1-5-11" => "Authenticated Users",
                "S-1-1-0" => "Everyone",
                other => other,
            };
            format!(
                "{who} {} 0x{:X}",
                if a.allow { "allow" } else { "deny" },
                a.rights
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn certificate(f: &LocalFacts, ctx: &RuleContext, hits: &mut Vec<Hit>) {
    let store_error = f
        .errors
        .iter()
        .any(|e| e.source.starts_with("certificates"));
    let days = |t: i64| t.saturating_sub(ctx.now_unix).div_euclid(86_400);
    let listener = f.listener_certificate.as_ref();
    if let Some(l) = listener {
        let t = &l.thumbprint;
        let via = match l.source.as_str() {
            "wmi" => "Win32_TSGeneralSetting.SSLCertificateSHA1Hash",
            _ => "RDP-Tcp SSLCertificateSHA1Hash",
        };
        match f.certificates.iter().find(|c| &c.thumbprint == t) {
            None if !store_error => hits.push(
                Hit::new("local-certificate-missing")
                    .evidence(format!(
                        "the listener is configured with certificate {t} ({via}), which is in neither LocalMachine\\Remote Desktop nor LocalMachine\\My"
                    ))
                    .var("sha1", t.clone()),
            ),
            None => {}
            Some(c) => {
                let name = format!("certificate {t} ({}, store {})", c.subject, c.store);
                if !c.has_private_key {
                    hits.push(
                        Hit::new("local-certificate-missing")
                            .evidence(format!(
                                "the listener's {name} has no private key (HasPrivateKey = False)"
                            ))
                            .var("sha1", t.clone()),
                    );
                } else if let Some(k) = &c.private_key {
                    let mut h = Hit::new("local-private-key-unreadable").var("sha1", t.clone());
                    let mut bad = false;
                    if k.opened == Some(false) {
                        bad = true;
                        h = h.evidence(format!(
                            "the private key of the listener's {name} cannot be opened even by this {}: {}",
                            if f.is_admin == Some(true) { "administrator" } else { "user" },
                            k.error.as_deref().unwrap_or("no reason given")
                        ));
                    }
                    if k.file_exists == Some(false) {
                        bad = true;
                        h = h.evidence(format!(
                            "its key file {} does not exist",
                            k.file.as_deref().unwrap_or("?")
                        ));
                    }
                    if k.network_service_read == Some(false) {
                        bad = true;
                        h = h.evidence(format!(
                            "the ACL of its key file {} gives NETWORK SERVICE (S-1-5-20, the account TermService runs as) no read access: {}",
                            k.file.as_deref().unwrap_or("?"),
                            describe_acl(&k.acl)
                        ));
                    }
                    if bad {
                        hits.push(h);
                    }
                }
                if let Some(na) = c.not_after_unix {
                    if na < ctx.now_unix {
                        hits.push(
                            Hit::new("cert-expired")
                                .evidence(format!(
                                    "on this server: the listener's {name} expired on {} ({} days ago)",
                                    c.not_after.as_deref().unwrap_or("?"),
                                    -days(na)
                                ))
                                .var("sha1", t.clone()),
                        );
                    } else if days(na) < ctx.expiry_warning_days {
                        hits.push(
                            Hit::new("cert-expiring-soon")
                                .evidence(format!(
                                    "on this server: the listener's {name} expires on {} ({} days left)",
                                    c.not_after.as_deref().unwrap_or("?"),
                                    days(na)
                                ))
                                .var("sha1", t.clone()),
                        );
                    }
                }
                if let Some(nb) = c.not_before_unix {
                    if nb > ctx.now_unix {
                        hits.push(
                            Hit::new("cert-not-yet-valid")
                                .evidence(format!(
                                    "on this server: the listener's {name} is valid only from {}",
                                    crate::cert::rfc3339(nb)
                                ))
                                .var("sha1", t.clone()),
                        );
                    }
                }
            }
        }
    }
    // Expired certificates in the Remote Desktop store other than the listener's.
    let expired: Vec<&StoreCert> = f
        .certificates
        .iter()
        .filter(|c| c.store.eq_ignore_ascii_case("Remote Desktop"))
        .filter(|c| listener.is_none_or(|l| l.thumbprint != c.thumbprint))
        .filter(|c| c.not_after_unix.is_some_and(|na| na < ctx.now_unix))
        .collect();
    if expired.is_empty() {
        return;
    }
    let rd_total = f
        .certificates
        .iter()
        .filter(|c| c.store.eq_ignore_ascii_case("Remote Desktop"))
        .count();
    let list = expired
        .iter()
        .map(|c| {
            format!(
                "{} ({}) expired {}",
                c.thumbprint,
                c.subject,
                c.not_after.as_deref().unwrap_or("?")
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    if listener.is_none() && expired.len() == rd_total {
        // The listener's thumbprint could not be read (WMI needs elevation); with nothing
        // but expired certificates in its store, the self-signed one it uses has expired.
        let mut h = Hit::new("cert-expired").evidence(format!(
            "on this server: the listener's certificate could not be determined, and every certificate in LocalMachine\\Remote Desktop has expired: {list}"
        ));
        if let Some(c) = expired.first() {
            h = h.var("sha1", c.thumbprint.clone());
        }
        hits.push(h);
    } else {
        hits.push(Hit::new("local-stale-certificates").evidence(format!(
            "expired certificates in LocalMachine\\Remote Desktop that the listener does not use: {list}"
        )));
    }
}

fn security(f: &LocalFacts, hits: &mut Vec<Hit>) {
    let sl = f.security_layer;
    let ua = f.user_authentication;
    let sl_ev = |s: &Setting| {
        format!(
            "{} ({})",
            s.location("SecurityLayer"),
            security_layer_name(s.value)
        )
    };
    match sl.map(|s| s.value) {
        Some(0) => {
            if let Some(s) = &sl {
                hits.push(Hit::new("standard-rdp-security-only").evidence(sl_ev(s)));
                let mut h = Hit::new("nla-not-offered").evidence(format!(
                    "{}: NLA (CredSSP) runs inside TLS, which this security layer turns off",
                    sl_ev(s)
                ));
                if let Some(u) = &ua {
                    h = h.evidence(u.location("UserAuthentication"));
                }
                hits.push(h);
            }
        }
        Some(1) if ua.map(|u| u.value) == Some(0) => {
            if let (Some(s), Some(u)) = (&sl, &ua) {
                hits.push(
                    Hit::new("standard-rdp-security-allowed")
                        .evidence(sl_ev(s))
                        .evidence(format!(
                            "{}: without NLA required, Negotiate accepts a client that offers only Standard RDP Security",
                            u.location("UserAuthentication")
                        )),
                );
                hits.push(Hit::new("nla-not-required").evidence(u.location("UserAuthentication")));
            }
        }
        _ => {
            if let Some(u) = ua.filter(|u| u.value == 0) {
                hits.push(Hit::new("nla-not-required").evidence(u.location("UserAuthentication")));
            }
        }
    }
}

fn credssp(f: &LocalFacts, hits: &mut Vec<Hit>) {
    const KEY: &str =
        "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System\\CredSSP\\Parameters";
    match f.allow_encryption_oracle {
        Some(2) => hits.push(
            Hit::new("local-credssp-oracle-vulnerable")
                .evidence(format!("AllowEncryptionOracle = 2 (Vulnerable) in {KEY}")),
        ),
        Some(0) => hits.push(
            Hit::new("local-credssp-force-updated-clients").evidence(format!(
                "AllowEncryptionOracle = 0 (Force Updated Clients) in {KEY}"
            )),
        ),
        _ => {}
    }
}

fn encryption(f: &LocalFacts, hits: &mut Vec<Hit>) {
    let Some(m) = f.min_encryption_level else {
        return;
    };
    let ev = format!(
        "{} ({})",
        m.location("MinEncryptionLevel"),
        encryption_level_name(m.value)
    );
    match m.value {
        4 => hits.push(Hit::new("local-fips-encryption-level").evidence(ev)),
        1 => hits.push(Hit::new("local-low-encryption-level").evidence(ev)),
        _ => {}
    }
}

fn sources(f: &LocalFacts, hits: &mut Vec<Hit>) {
    if f.errors.is_empty() {
        return;
    }
    let mut h = Hit::new("local-sources-unreadable");
    if f.is_admin == Some(false) {
        h = h
            .severity(Severity::Warning)
            .evidence("rdp-doctor did not run elevated (not in the Administrators role)");
    }
    for e in &f.errors {
        h = h.evidence(format!("{}: {}", e.source, e.error));
    }
    hits.push(h);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(f: &LocalFacts, ctx: &RuleContext) -> Vec<String> {
        rules(f, ctx).into_iter().map(|h| h.id).collect::<Vec<_>>()
    }

    fn listener(v: u32) -> Option<Setting> {
        Some(Setting {
            value: v,
            source: SettingSource::Listener,
        })
    }

    #[test]
    fn security_layer_and_nla_map_to_the_probe_ids() {
        let ctx = RuleContext::default();
        let mut f = LocalFacts {
            security_layer: listener(0),
            user_authentication: listener(1),
            ..LocalFacts::default()
        };
        assert_eq!(
            ids(&f, &ctx),
            ["standard-rdp-security-only", "nla-not-offered"]
        );
        f.security_layer = listener(1);
        assert!(ids(&f, &ctx).is_empty(), "Negotiate + NLA required is fine");
        f.user_authentication = listener(0);
        assert_eq!(
            ids(&f, &ctx),
            ["standard-rdp-security-allowed", "nla-not-required"]
        );
        f.security_layer = listener(2);
        assert_eq!(ids(&f, &ctx), ["nla-not-required"]);
        f.user_authentication = listener(1);
        assert!(ids(&f, &ctx).is_empty(), "TLS + NLA required is the goal");
    }

    #[test]
    fn the_policy_value_is_named_as_the_source() {
        let f = LocalFacts {
            deny_connections: Some(Setting {
                value: 1,
                source: SettingSource::Policy,
            }),
            ..LocalFacts::default()
        };
        let h = rules(&f, &RuleContext::default());
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].id, "local-rdp-disabled");
        assert!(
            h[0].evidence[0].contains("Group Policy"),
            "{:?}",
            h[0].evidence
        );
        assert!(h[0].evidence[1].contains("GPO"));
    }

    #[test]
    fn port_ranges_and_any() {
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(ports_admit(&p(&["3389"]), 3389));
        assert!(!ports_admit(&p(&["3389"]), 3390));
        assert!(ports_admit(&p(&["Any"]), 50000));
        assert!(ports_admit(&p(&["3380-3390"]), 3389));
        assert!(!ports_admit(&p(&["RPC"]), 3389));
        assert!(ports_admit(&p(&["443", "3390"]), 3390));
    }

    #[test]
    fn the_listener_port_is_compared_only_when_this_machine_was_probed() {
        let f = LocalFacts {
            port: Some(3390),
            computer: Some("SRV01".into()),
            ..LocalFacts::default()
        };
        let mut ctx = RuleContext {
            checked_port: Some(3389),
            checked_host: Some("127.0.0.1".into()),
            ..RuleContext::default()
        };
        assert_eq!(ids(&f, &ctx), ["local-listener-port-differs"]);
        ctx.checked_host = Some("srv01.corp.example".into());
        assert_eq!(ids(&f, &ctx), ["local-listener-port-differs"]);
        ctx.checked_host = Some("other.corp.example".into());
        assert!(
            ids(&f, &ctx).is_empty(),
            "another host: its port may differ"
        );
        ctx.checked_host = Some("::1".into());
        ctx.checked_port = Some(3390);
        assert!(ids(&f, &ctx).is_empty(), "same port");
    }

    #[test]
    fn a_firewall_that_is_off_everywhere_needs_no_rule() {
        let f = LocalFacts {
            firewall: Some(Firewall {
                profiles: vec![FirewallProfile {
                    name: "Domain".into(),
                    enabled: Some(false),
                }],
                rules: Vec::new(),
            }),
            ..LocalFacts::default()
        };
        assert!(ids(&f, &RuleContext::default()).is_empty());
    }
}
