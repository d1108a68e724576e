//! Rules for the `kdc` phase: whether Kerberos can be used at all (a KDC found and answering,
//! a name to build the SPN from, a common encryption type), the KDC's clock, and with
//! credentials what the KDC said about the account — mapped onto the same finding ids as the
//! NTLM path where the cause is the same (a wrong password is `logon-failure` whichever
//! package reported it).

use super::{ms, Context};
use crate::facts::kerberos::{
    is_etype_failure, DiscoveryMethod, KdcFact, KdcReach, KdcReply, KdcStep, KerberosUnavailable,
};
use crate::facts::{AuthOutcome, Facts};
use crate::kb::Hit;
use crate::model::Severity;
use crate::sanitize::escape;

/// KRB-ERROR codes (RFC 4120 7.5.9) that have a finding of their own.
pub fn finding_for_krb_error(code: i32, extended: Option<u32>) -> &'static str {
    match code {
        // KDC_ERR_C_PRINCIPAL_UNKNOWN, KDC_ERR_PREAUTH_FAILED
        6 | 24 => "logon-failure",
        // KDC_ERR_NAME_EXP: the account expired (MIT; AD sends 18)
        1 => "account-disabled",
        // KDC_ERR_CLIENT_REVOKED: disabled, expired or locked out; [MS-KILE] KERB-EXT-ERROR
        // says which.
        18 => match extended.map(super::finding_for_error_code) {
            Some(
                id @ ("account-disabled"
                | "account-locked"
                | "account-restricted"
                | "password-expired"
                | "password-must-change"),
            ) => id,
            _ => "account-revoked",
        },
        23 => match extended {
            Some(0xC000_0224) => "password-must-change",
            _ => "password-expired",
        },
        12 => "account-restricted",
        // KRB_AP_ERR_SKEW, KRB_AP_ERR_TKT_NYV
        37 | 33 => "clock-skew",
        7 => "spn-unknown",
        14 => "etype-not-supported",
        _ => "kdc-error",
    }
}

/// The mode the credentialed check ran in (`negotiate`, `kerberos`), if any.
fn mode(f: &Facts) -> Option<&str> {
    f.auth.as_ref().and_then(|a| a.auth_mode.as_deref())
}

/// Kerberos being unusable is an error when the user asked for Kerberos only; under
/// negotiate (and without credentials) mstsc falls back to NTLM: a warning.
fn unusable_severity(f: &Facts) -> Severity {
    if mode(f) == Some("kerberos") {
        Severity::Error
    } else {
        Severity::Warning
    }
}

fn kdc_list(k: &KdcFact) -> Vec<String> {
    k.kdcs
        .iter()
        .map(|e| {
            let addr = match (&e.address, &e.resolve_error) {
                (Some(a), _) => format!(" ({a})"),
                (None, Some(err)) => format!(" (does not resolve: {})", escape(err)),
                _ => String::new(),
            };
            format!(
                "KDC {}:{}{addr} [{}]: TCP {}; UDP {}",
                escape(&e.host),
                e.port,
                e.source,
                e.tcp.describe(),
                e.udp.describe()
            )
        })
        .collect()
}

fn discovery_evidence(k: &KdcFact) -> Vec<String> {
    let Some(d) = &k.discovery else {
        return Vec::new();
    };
    match d.method {
        DiscoveryMethod::Option => vec!["the KDCs came from --kdc".into()],
        DiscoveryMethod::SpecialUseName => Vec::new(),
        DiscoveryMethod::DnsSrv => d
            .queries
            .iter()
            .map(|q| {
                let server = if q.server.is_empty() {
                    "no DNS server known (no --dns-server, no /etc/resolv.conf nameserver)"
                        .to_string()
                } else {
                    format!("DNS server {}", escape(&q.server))
                };
                let what = match q.records.len() {
                    0 => format!(
                        "{}{}",
                        q.rcode.as_deref().unwrap_or("no answer"),
                        q.error
                            .as_deref()
                            .map(|e| format!(" ({})", escape(e)))
                            .unwrap_or_default()
                    ),
                    n => format!(
                        "{n} record{}: {}",
                        if n == 1 { "" } else { "s" },
                        q.records
                            .iter()
                            .map(|r| format!(
                                "{} port {} (priority {}, weight {})",
                                escape(&r.target),
                                r.port,
                                r.priority,
                                r.weight
                            ))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                format!(
                    "SRV {} -> {what} ({server}, {})",
                    escape(&q.name),
                    ms(q.duration_ms)
                )
            })
            .collect(),
    }
}

fn realm_origin(k: &KdcFact) -> &'static str {
    match k.realm_source {
        crate::facts::kerberos::RealmSource::Option => "given with --realm",
        crate::facts::kerberos::RealmSource::User => "taken from the user name",
        crate::facts::kerberos::RealmSource::NtlmChallenge => {
            "the DNS domain the server named in its NTLM CHALLENGE: it is a domain member"
        }
    }
}

pub fn kdc(f: &Facts, ctx: &Context, hits: &mut Vec<Hit>) {
    let Some(k) = &f.kdc else { return };
    let realm = escape(&k.realm);
    let special = matches!(&k.discovery, Some(d) if d.method == DiscoveryMethod::SpecialUseName);
    if special {
        return;
    }
    let sev = unusable_severity(f);
    let user = f.auth.as_ref().map(|a| a.user.clone()).unwrap_or_default();

    // Discovery and reachability.
    if k.discovery.is_some() && k.kdcs.is_empty() {
        let mut h = Hit::new("kdc-not-found")
            .severity(sev)
            .evidence(format!(
                "no KDC found for the realm {realm} ({})",
                realm_origin(k)
            ))
            .var("realm", k.realm.clone());
        for e in discovery_evidence(k) {
            h = h.evidence(e);
        }
        hits.push(h);
    } else if !k.kdcs.is_empty() && !k.any_answer() {
        let mut h = Hit::new("kdc-unreachable")
            .severity(sev)
            .evidence(format!(
                "none of the {} KDC{} of {realm} answered an AS-REQ over TCP or UDP (time-out {} per attempt)",
                k.kdcs.len(),
                if k.kdcs.len() == 1 { "" } else { "s" },
                ms(k.kdcs
                    .iter()
                    .find_map(|e| match e.tcp {
                        KdcReach::Filtered { timeout_ms } | KdcReach::Silent { timeout_ms } => {
                            Some(timeout_ms)
                        }
                        _ => None,
                    })
                    .unwrap_or(0.0))
            ))
            .var("realm", k.realm.clone());
        for e in kdc_list(k) {
            h = h.evidence(e);
        }
        for e in discovery_evidence(k) {
            h = h.evidence(e);
        }
        hits.push(h);
    }

    // The KDC's clock.
    if let Some(s) = k.clock_skew_seconds {
        if s.abs() > ctx.clock_skew_threshold_s as f64 {
            let when = k
                .exchanges
                .iter()
                .find_map(|e| match &e.reply {
                    KdcReply::Error { kdc_time, .. } => Some(kdc_time.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            hits.push(
                Hit::new("clock-skew")
                    .severity(Severity::Error)
                    .evidence(format!(
                        "the KDC of {realm} says it is {when} (KRB-ERROR stime/susec): {:+.1} s from this machine's clock; Kerberos refuses more than {} minutes (KRB_AP_ERR_SKEW)",
                        s,
                        ctx.clock_skew_threshold_s / 60
                    )),
            );
        }
    }

    // A target typed as an IP address has no SPN.
    if k.target_is_ip && (k.with_credentials || k.any_answer()) {
        let sev = if mode(f) == Some("kerberos") {
            Severity::Error
        } else {
            Severity::Warning
        };
        hits.push(
            Hit::new("kerberos-target-is-ip")
                .severity(sev)
                .evidence(format!(
                    "the target was typed as the IP address {}: there is no TERMSRV/<name> SPN to ask the KDC for, so mstsc cannot use Kerberos and uses NTLM",
                    escape(&ctx.target.host)
                ))
                .evidence(format!(
                    "the server belongs to the Kerberos realm {realm} ({})",
                    realm_origin(k)
                )),
        );
    }

    // With credentials: what the KDC said about the account and the SPN.
    if !k.with_credentials {
        return;
    }
    let Some(ex) = k.exchanges.iter().find(|e| match &e.reply {
        KdcReply::Error { code, .. } => *code != 25 || is_etype_failure(e),
        KdcReply::Malformed { .. } | KdcReply::ClientError { .. } => true,
        _ => false,
    }) else {
        return;
    };
    let step = match ex.step {
        KdcStep::Probe => "the AS-REQ without a password",
        KdcStep::As => "the AS-REQ with pre-authentication (the password)",
        KdcStep::Tgs => "the TGS-REQ",
    };
    let from = ex
        .kdc
        .as_deref()
        .map(|k| format!(" ({k} over {})", ex.transport.as_deref().unwrap_or("?")))
        .unwrap_or_default();
    match &ex.reply {
        KdcReply::Error {
            code,
            name,
            e_text,
            extended_status,
            etype_info,
            ..
        } => {
            let id = if is_etype_failure(ex) {
                "etype-not-supported"
            } else {
                finding_for_krb_error(*code, *extended_status)
            };
            let mut h = Hit::new(id).evidence(format!(
                "the KDC{from} answered {step} for {} with KRB-ERROR {code} {}{} (see: rdp-doctor explain KDC {code})",
                escape(&ex.request),
                name.as_deref().unwrap_or("(unnamed)"),
                e_text
                    .as_deref()
                    .map(|t| format!(", e-text \"{t}\""))
                    .unwrap_or_default()
            ));
            if let Some(st) = extended_status {
                h = h.evidence(format!(
                    "its extended error ([MS-KILE] KERB-EXT-ERROR) is 0x{st:08X}{}",
                    crate::probe::auth::error_name(*st)
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default()
                ));
            }
            match id {
                "logon-failure" if *code == 6 => {
                    h = h.evidence(format!(
                        "KDC_ERR_C_PRINCIPAL_UNKNOWN: the KDC has no account {} in {realm}",
                        escape(&user)
                    ))
                }
                "logon-failure" => {
                    h = h.evidence(
                        "KDC_ERR_PREAUTH_FAILED: the encrypted timestamp made from the password did not decrypt with the account's key: the password is wrong (a domain controller logs Security 4771 with failure code 0x18)".to_string(),
                    )
                }
                "account-revoked" => {
                    h = h.evidence("KDC_ERR_CLIENT_REVOKED without extended error data: the account is disabled, expired or locked out; the KDC does not say which".to_string())
                }
                "etype-not-supported" => {
                    h = h.severity(sev);
                    if *code == 25 {
                        h = h.evidence(if etype_info.is_empty() {
                            "the KDC requires pre-authentication but names no key type (ETYPE-INFO2) among those offered (aes256, aes128, rc4-hmac): the account has no key of these types".to_string()
                        } else {
                            format!(
                                "the account's keys (ETYPE-INFO2): {}; rdp-doctor and current Windows clients use AES only",
                                etype_info
                                    .iter()
                                    .map(|i| i.name.clone())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        });
                    }
                }
                "spn-unknown" => {
                    h = h
                        .severity(sev)
                        .evidence(format!(
                            "no account in {realm} holds the SPN {} (setspn -Q {} finds none)",
                            escape(&ex.request),
                            escape(&ex.request)
                        ))
                        .var("ServiceName", ex.request.clone());
                }
                "clock-skew" => {
                    h = h.severity(Severity::Error);
                }
                _ => {}
            }
            if mode(f) == Some("negotiate") && matches!(id, "spn-unknown" | "etype-not-supported") {
                h = h.evidence(fallback_evidence(f));
            }
            hits.push(h.var("realm", k.realm.clone()));
        }
        KdcReply::Malformed { error } | KdcReply::ClientError { error } => hits.push(
            Hit::new("kdc-error")
                .evidence(format!(
                    "{step} for {}{from}: {}",
                    escape(&ex.request),
                    escape(error)
                ))
                .var("realm", k.realm.clone()),
        ),
        _ => {}
    }
}

fn fallback_evidence(f: &Facts) -> String {
    match f.auth.as_ref() {
        Some(a) if a.outcome == AuthOutcome::Success => {
            "mstsc's Negotiate falls back to NTLM here, and NTLM worked: the connection succeeds, but fails wherever NTLM is blocked".to_string()
        }
        Some(_) => "mstsc's Negotiate falls back to NTLM here, and NTLM failed too (see the other findings)".to_string(),
        None => String::new(),
    }
}

/// NTLM after Kerberos: under negotiate a Kerberos that could not be used leaves NTLM, and the
/// server refused that too.
pub fn ntlm_after_kerberos(f: &Facts, _ctx: &Context, hits: &mut Vec<Hit>) {
    let Some(a) = &f.auth else { return };
    let Some(why) = a.kerberos_unavailable else {
        return;
    };
    if matches!(
        a.outcome,
        AuthOutcome::Success | AuthOutcome::NotSent | AuthOutcome::NotReached
    ) {
        return;
    }
    let ntlm = match (a.error_code, &a.error) {
        (Some(code), _) => format!(
            "errorCode 0x{code:08X}{}",
            a.error_name
                .as_deref()
                .map(|n| format!(" ({})", escape(n)))
                .unwrap_or_default()
        ),
        (None, Some(e)) => escape(e),
        (None, None) => a.outcome.as_str().to_string(),
    };
    let mut h = Hit::new("ntlm-refused-after-kerberos")
        .evidence(format!(
            "Kerberos could not be used for {}: {}",
            escape(&a.user),
            why.describe()
        ))
        .evidence(format!(
            "the NTLM fallback (as mstsc's Negotiate does) was refused: {ntlm}"
        ));
    if why == KerberosUnavailable::TargetIsIp {
        h = h.evidence(
            "connecting by the server's DNS name lets the client ask for a TERMSRV/<name> ticket instead"
                .to_string(),
        );
    }
    hits.push(h.var("kerberos_cause", why.finding().to_string()));
}

#[cfg(test)]
mod tests {
    use super::super::testutil::ids;
    use super::*;
    use crate::facts::kerberos::*;
    use crate::facts::{AuthFact, Facts};

    fn fact(with_credentials: bool) -> KdcFact {
        KdcFact {
            realm: "RDPDOC.TEST".into(),
            realm_source: RealmSource::User,
            duration_ms: 3.0,
            discovery: Some(DiscoveryFact {
                method: DiscoveryMethod::Option,
                queries: vec![],
                duration_ms: 0.0,
            }),
            kdcs: vec![KdcEndpoint {
                host: "127.0.0.1".into(),
                port: 88,
                address: Some("127.0.0.1".into()),
                source: "option".into(),
                tcp: KdcReach::Answered {
                    connect_ms: Some(0.1),
                    answer_ms: 2.0,
                    bytes: 200,
                },
                udp: KdcReach::Answered {
                    connect_ms: None,
                    answer_ms: 2.0,
                    bytes: 200,
                },
                resolve_error: None,
            }],
            clock_skew_seconds: Some(0.4),
            exchanges: vec![],
            spn: Some("TERMSRV/srv".into()),
            target_is_ip: false,
            unavailable: None,
            with_credentials,
        }
    }

    fn err(step: KdcStep, code: i32, ext: Option<u32>) -> KdcExchange {
        KdcExchange {
            step,
            request: "alice@RDPDOC.TEST for krbtgt/RDPDOC.TEST".into(),
            kdc: Some("127.0.0.1:88".into()),
            transport: Some("tcp".into()),
            duration_ms: 1.0,
            reply: KdcReply::Error {
                code,
                name: rdp_doctor_wire::kerberos::error_name(code).map(String::from),
                e_text: None,
                extended_status: ext,
                kdc_time: "2026-12-06T01:19:19Z".into(),
                padata_types: vec![],
                etype_info: vec![],
            },
        }
    }

    fn auth(
        mode: &str,
        outcome: AuthOutcome,
        unavailable: Option<KerberosUnavailable>,
    ) -> AuthFact {
        let opts = crate::probe::auth::AuthOptions {
            credentials: std::sync::Arc::new(crate::credentials::Credentials {
                domain: String::new(),
                user: "alice@RDPDOC.TEST".into(),
                password: crate::credentials::Secret::new("x".into()),
            }),
            password_source: "password file",
            pinned_sha256: None,
            insecure: false,
            full: false,
            mode: crate::probe::kdc::AuthMode::Negotiate,
        };
        let mut a = crate::probe::auth::fact(&opts, outcome, crate::facts::AuthRound::Authenticate);
        a.auth_mode = Some(mode.into());
        a.kerberos_unavailable = unavailable;
        a
    }

    fn with(k: KdcFact, a: Option<AuthFact>) -> Facts {
        Facts {
            kdc: Some(k),
            auth: a,
            ..Facts::default()
        }
    }

    #[test]
    fn a_healthy_realm_gives_nothing() {
        assert!(ids(&with(fact(false), None), "srv").is_empty());
    }

    #[test]
    fn kdc_errors_map_to_the_ntlm_ids() {
        for (code, ext, id) in [
            (6, None, "logon-failure"),
            (24, None, "logon-failure"),
            (1, None, "account-disabled"),
            (18, None, "account-revoked"),
            (18, Some(0xC000_0234), "account-locked"),
            (18, Some(0xC000_0072), "account-disabled"),
            (23, None, "password-expired"),
            (23, Some(0xC000_0224), "password-must-change"),
            (12, None, "account-restricted"),
            (37, None, "clock-skew"),
            (7, None, "spn-unknown"),
            (14, None, "etype-not-supported"),
            (68, None, "kdc-error"),
        ] {
            let mut k = fact(true);
            k.exchanges = vec![err(KdcStep::Probe, 25, None), err(KdcStep::As, code, ext)];
            // an empty ETYPE-INFO2 in the first answer would be an etype failure: give one
            if let KdcReply::Error { etype_info, .. } = &mut k.exchanges[0].reply {
                etype_info.push(EtypeInfo {
                    etype: 18,
                    name: "18".into(),
                    salt_given: true,
                });
            }
            let got = ids(
                &with(k, Some(auth("kerberos", AuthOutcome::KdcRefused, None))),
                "srv",
            );
            assert_eq!(
                got.first().map(String::as_str),
                Some(id),
                "code {code} {ext:?}: {got:?}"
            );
        }
    }

    #[test]
    fn reachability_discovery_and_clock() {
        let mut k = fact(false);
        k.kdcs.clear();
        assert_eq!(ids(&with(k, None), "srv"), ["kdc-not-found"]);
        let mut k = fact(false);
        k.kdcs[0].tcp = KdcReach::Refused { duration_ms: 0.1 };
        k.kdcs[0].udp = KdcReach::Silent { timeout_ms: 5000.0 };
        assert_eq!(ids(&with(k, None), "srv"), ["kdc-unreachable"]);
        let mut k = fact(false);
        k.clock_skew_seconds = Some(600.2);
        k.exchanges = vec![err(KdcStep::Probe, 6, None)];
        assert_eq!(ids(&with(k, None), "srv"), ["clock-skew"]);
        // a special-use realm is not looked up and reported on
        let mut k = fact(false);
        k.kdcs.clear();
        k.discovery = Some(DiscoveryFact {
            method: DiscoveryMethod::SpecialUseName,
            queries: vec![],
            duration_ms: 0.0,
        });
        assert!(ids(&with(k, None), "srv").is_empty());
    }

    #[test]
    fn an_ip_target_and_the_ntlm_fallback() {
        let mut k = fact(false);
        k.target_is_ip = true;
        assert_eq!(ids(&with(k, None), "10.0.0.5"), ["kerberos-target-is-ip"]);
        // negotiate fell back to NTLM and NTLM was refused: that error comes first
        let mut k = fact(true);
        k.target_is_ip = true;
        k.kdcs.clear();
        k.discovery = None;
        k.unavailable = Some(KerberosUnavailable::TargetIsIp);
        let mut a = auth(
            "negotiate",
            AuthOutcome::ServerError,
            Some(KerberosUnavailable::TargetIsIp),
        );
        a.error_code = Some(0xC007_00EA);
        let got = ids(&with(k, Some(a)), "10.0.0.5");
        assert_eq!(
            got.first().map(String::as_str),
            Some("ntlm-refused-after-kerberos")
        );
        assert!(
            got.contains(&"kerberos-target-is-ip".to_string()),
            "{got:?}"
        );
        // negotiate, SPN unknown, NTLM worked: a warning
        let mut k = fact(true);
        k.exchanges = vec![err(KdcStep::Tgs, 7, None)];
        let a = auth(
            "negotiate",
            AuthOutcome::Success,
            Some(KerberosUnavailable::SpnUnknown),
        );
        let f = with(k, Some(a));
        let found = super::super::diagnose(&f, &super::super::testutil::ctx("srv"));
        assert_eq!(found[0].id, "spn-unknown");
        assert_eq!(found[0].severity, Severity::Warning);
    }
}
