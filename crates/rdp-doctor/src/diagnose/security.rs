//! Rules for the TLS handshake and the server's certificate.

use super::{ms, Context};
use crate::facts::{Facts, RetryEnd, TlsFailure, TlsOutcome};
use crate::kb::Hit;
use crate::sanitize::escape;

pub fn tls(f: &Facts, _ctx: &Context, hits: &mut Vec<Hit>) {
    let Some(t) = &f.tls else { return };
    let selected = f
        .negotiation
        .as_ref()
        .and_then(|n| n.selected())
        .map(|p| p.to_string())
        .unwrap_or_else(|| "TLS".into());
    let flight = if t.server_bytes == 0 {
        "no bytes of a TLS answer arrived".to_string()
    } else {
        format!(
            "{} bytes of the server's handshake arrived ({} in complete records)",
            t.server_bytes, t.server_complete_record_bytes
        )
    };
    let base = format!("the server selected {selected} in the X.224 negotiation");
    match t.outcome {
        TlsOutcome::Ok => {}
        TlsOutcome::Stalled => {
            let retry = f.path.as_ref().and_then(|p| p.mss_retry.as_ref());
            let stalled = format!(
                "{base}; the TLS handshake stalled: {flight} within {}",
                ms(t.duration_ms)
            );
            if let Some(r) = retry {
                // A black hole: the small MSS gets through and (when a control ran) the
                // normal MSS stalls again.
                let control_stalled = matches!(r.control, None | Some(RetryEnd::TlsStalled));
                if r.tls_completed && control_stalled {
                    let mut h = Hit::new("path-mtu-blackhole")
                        .evidence(stalled)
                        .evidence(format!(
                        "a second connection advertising MSS {} completed the TLS handshake in {}",
                        r.mss,
                        ms(r.duration_ms)
                    ));
                    if let (Some(RetryEnd::TlsStalled), Some(d)) =
                        (r.control, r.control_duration_ms)
                    {
                        h = h.evidence(format!(
                            "a control connection at the normal MSS, made at the same time, stalled again ({}): the size of the packets decides",
                            ms(d)
                        ));
                    }
                    // IPv4 + TCP headers are 40 bytes, IPv6 + TCP 60.
                    let v6 = f.address_used.as_deref().is_some_and(|a| a.contains(':'));
                    let (headers, family) = if v6 { (60, "IPv6") } else { (40, "IPv4") };
                    hits.push(h.evidence(format!(
                        "TCP and X.224 (small packets) work; full-size packets from the server are lost and no ICMP 'fragmentation needed' reaches it. The path carries {}-byte packets (MSS {} + {headers} bytes of {family}/TCP headers) but not full-size ones",
                        r.mss + headers,
                        r.mss,
                    )));
                    return;
                }
            }
            let mut h = Hit::new("tls-stalled").evidence(format!(
                "{base}; the TLS handshake did not complete within {}: {flight}",
                ms(t.duration_ms)
            ));
            if let Some(r) = retry {
                h = h.evidence(match (r.tls_completed, r.control) {
                    (true, Some(RetryEnd::Completed)) => format!(
                        "two fresh connections then completed the TLS handshake, one advertising MSS {} ({}) and one at the normal MSS ({}): the stall did not repeat, so it is intermittent (packet loss, or a server that was briefly busy), not the path MTU",
                        r.mss,
                        ms(r.duration_ms),
                        ms(r.control_duration_ms.unwrap_or(0.0))
                    ),
                    (false, Some(RetryEnd::Completed)) => format!(
                        "a fresh connection at the normal MSS completed the TLS handshake, one advertising MSS {} did not: the stall is intermittent, not the path MTU",
                        r.mss
                    ),
                    (true, Some(RetryEnd::Failed)) => format!(
                        "a fresh connection advertising MSS {} completed the TLS handshake ({}), but the control at the normal MSS failed before TLS (no connection or no X.224 answer within the time-out): inconclusive, the path loses packets of every size",
                        r.mss,
                        ms(r.duration_ms)
                    ),
                    _ => format!(
                        "a retry advertising MSS {} stalled too, so the path MTU is not the (only) cause",
                        r.mss
                    ),
                });
            }
            hits.push(h);
        }
        TlsOutcome::Alert => {
            let (d, name) = t
                .alert
                .as_ref()
                .map(|a| (a.description, a.name.clone()))
                .unwrap_or((0, "unknown".into()));
            let id = if matches!(d, 40 | 70 | 71) {
                "tls-version-mismatch"
            } else {
                "tls-handshake-failed"
            };
            hits.push(Hit::new(id).evidence(format!(
                "{base}; the server answered our ClientHello (TLS 1.2/1.3) with fatal alert {d} ({name}) after {}",
                ms(t.duration_ms)
            )));
        }
        TlsOutcome::Reset | TlsOutcome::Closed => {
            let how = if t.outcome == TlsOutcome::Reset {
                "reset the connection (RST)"
            } else {
                "closed the connection (FIN)"
            };
            let when = if t.server_bytes == 0 {
                "right after our ClientHello, before sending any TLS message".to_string()
            } else {
                format!("after sending {} bytes", t.server_bytes)
            };
            hits.push(
                Hit::new("tls-handshake-failed")
                    .evidence(format!("{base}; then it {how} {when} ({} into the handshake)", ms(t.duration_ms)))
                    .evidence("the server agreed to TLS and then could not complete it: on Windows this is Schannel failing to use the certificate's private key (event 36870) or, less often, no common TLS version (36871/36874)".to_string()),
            );
        }
        TlsOutcome::Error => {
            let err = t.error.clone().unwrap_or_default();
            let old = t
                .server_hello_version
                .as_deref()
                .is_some_and(|v| matches!(v, "SSLv3" | "TLSv1.0" | "TLSv1.1"));
            // No version, cipher suite or extension both sides accept: the server's TLS is too
            // old (or too restricted) for current clients.
            let incompatible = matches!(
                t.failure,
                Some(
                    TlsFailure::VersionMismatch
                        | TlsFailure::NoCommonCipher
                        | TlsFailure::Incompatible
                )
            );
            if t.failure == Some(TlsFailure::HandshakeTooLarge) {
                // Our limit, not a server fault: said as ours, with no server-side repair.
                hits.push(
                    Hit::new("tls-chain-too-large")
                        .evidence(format!(
                            "{base}; after {} its handshake held a message larger than 65535 bytes, the most rustls (rdp-doctor's TLS library) takes in one handshake message: in practice the Certificate message, that is the certificate chain",
                            ms(t.duration_ms)
                        ))
                        .evidence(format!("TLS error: {}", escape(&err))),
                );
            } else if old || incompatible {
                let mut h = Hit::new("tls-version-mismatch");
                if let Some(v) = &t.server_hello_version {
                    h = h.evidence(format!("{base}; its ServerHello chose {v}, which current clients no longer accept (TLS 1.2 and 1.3 offered)"));
                }
                hits.push(h.evidence(format!("TLS error: {}", escape(&err))));
            } else {
                hits.push(
                    Hit::new("tls-handshake-failed")
                        .evidence(format!(
                            "{base}; the TLS handshake failed after {}: {}",
                            ms(t.duration_ms),
                            escape(&err)
                        ))
                        .evidence(flight),
                );
            }
        }
    }
}

pub fn certificate(f: &Facts, ctx: &Context, hits: &mut Vec<Hit>) {
    let Some(c) = &f.certificate else { return };
    let who = format!(
        "certificate subject '{}', issuer '{}', SHA-1 thumbprint {}",
        escape(&c.subject),
        escape(&c.issuer),
        c.sha1
    );
    if c.expired {
        hits.push(
            Hit::new("cert-expired")
                .evidence(format!("notAfter {} ({} days ago)", c.not_after, -c.days_left))
                .evidence(who.clone())
                .evidence(if c.self_signed {
                    "self-signed: the server should have renewed it itself; if it did not, it cannot write its key (event 1058, MachineKeys)".to_string()
                } else {
                    "issued by a CA: it must be renewed and re-bound to the listener".to_string()
                }),
        );
    } else if c.not_yet_valid {
        hits.push(
            Hit::new("cert-not-yet-valid")
                .evidence(format!(
                    "notBefore {} is in the future (this machine's clock says otherwise)",
                    c.not_before
                ))
                .evidence(who.clone()),
        );
    } else if c.days_left <= ctx.expiry_warning_days {
        hits.push(
            Hit::new("cert-expiring-soon")
                .evidence(format!(
                    "notAfter {} ({} days left)",
                    c.not_after, c.days_left
                ))
                .evidence(who.clone()),
        );
    }
    if c.self_signed && !c.trusted {
        hits.push(Hit::new("cert-self-signed").evidence(who.clone()));
    } else if !c.trusted {
        hits.push(
            Hit::new("cert-untrusted")
                .evidence(format!(
                    "{} (checked against the {} trust store)",
                    c.trust_error.as_deref().unwrap_or("not trusted"),
                    c.trust_store
                ))
                .evidence(who.clone()),
        );
    }
    if !c.name_matches {
        let mut names: Vec<String> = c
            .san_dns
            .iter()
            .map(|s| format!("DNS:{}", escape(s)))
            .collect();
        names.extend(c.san_ip.iter().map(|s| format!("IP:{s}")));
        if let Some(cn) = &c.common_name {
            names.push(format!("CN={}", escape(cn)));
        }
        hits.push(
            Hit::new("cert-name-mismatch")
                .evidence(format!(
                    "connected as '{}' but the certificate names {}",
                    escape(&c.name_checked),
                    if names.is_empty() { "nothing".to_string() } else { names.join(", ") }
                ))
                .evidence(if c.name_checked.parse::<std::net::IpAddr>().is_ok() {
                    "an IP address matches only an iPAddress subject alternative name".to_string()
                } else {
                    "DNS names are compared with the dNSName subject alternative names (the CN only when there are none)".to_string()
                }),
        );
    }
    let weak_key = match c.key_type.as_str() {
        "RSA" => c.key_bits < 2048,
        "EC" => c.key_bits < 224,
        "DSA" => true,
        _ => false,
    };
    if weak_key {
        hits.push(
            Hit::new("cert-weak-key")
                .evidence(format!(
                    "{} key of {} bits (minimum: RSA 2048, EC 224)",
                    c.key_type, c.key_bits
                ))
                .evidence(who.clone()),
        );
    }
    if !c.self_signed && matches!(c.signature_hash.as_str(), "md5" | "sha1") {
        hits.push(
            Hit::new("cert-weak-signature")
                .evidence(format!(
                    "signed with {} ({})",
                    c.signature_algorithm, c.signature_hash
                ))
                .evidence(who.clone()),
        );
    }
    if !c.eku_ok {
        hits.push(
            Hit::new("cert-wrong-usage")
                .evidence(format!("Extended Key Usage: {}", c.eku.join(", ")))
                .evidence(who),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::ids;
    use crate::facts::*;

    pub fn cert() -> CertFact {
        CertFact {
            subject: "CN=srv".into(),
            issuer: "CN=Corp CA".into(),
            serial: "01".into(),
            not_before: "2026-01-01T00:00:00Z".into(),
            not_after: "2027-01-01T00:00:00Z".into(),
            days_left: 200,
            expired: false,
            not_yet_valid: false,
            self_signed: false,
            trusted: true,
            trust_error: None,
            trust_store: "system".into(),
            name_checked: "srv".into(),
            name_matches: true,
            common_name: Some("srv".into()),
            san_dns: vec!["srv".into()],
            san_ip: vec![],
            key_type: "RSA".into(),
            key_bits: 2048,
            signature_algorithm: "sha256WithRSAEncryption".into(),
            signature_hash: "sha256".into(),
            eku: vec!["serverAuth".into()],
            eku_ok: true,
            sha1: "AB".into(),
            sha256: "CD".into(),
            chain: vec![],
        }
    }

    fn with_cert(c: CertFact) -> Facts {
        Facts {
            certificate: Some(c),
            ..Facts::default()
        }
    }

    #[test]
    fn a_good_certificate_gives_nothing() {
        assert!(ids(&with_cert(cert()), "srv").is_empty());
    }

    #[test]
    fn each_certificate_problem() {
        let mut c = cert();
        c.expired = true;
        c.days_left = -10;
        assert_eq!(ids(&with_cert(c), "srv"), ["cert-expired"]);
        let mut c = cert();
        c.not_yet_valid = true;
        assert_eq!(ids(&with_cert(c), "srv"), ["cert-not-yet-valid"]);
        let mut c = cert();
        c.days_left = 12;
        assert_eq!(ids(&with_cert(c), "srv"), ["cert-expiring-soon"]);
        let mut c = cert();
        c.self_signed = true;
        c.trusted = false;
        assert_eq!(ids(&with_cert(c), "srv"), ["cert-self-signed"]);
        let mut c = cert();
        c.trusted = false;
        c.trust_error = Some("unknown issuer".into());
        assert_eq!(ids(&with_cert(c), "srv"), ["cert-untrusted"]);
        let mut c = cert();
        c.name_matches = false;
        assert_eq!(ids(&with_cert(c), "srv"), ["cert-name-mismatch"]);
        let mut c = cert();
        c.key_bits = 1024;
        assert_eq!(ids(&with_cert(c), "srv"), ["cert-weak-key"]);
        let mut c = cert();
        c.signature_hash = "sha1".into();
        assert_eq!(ids(&with_cert(c), "srv"), ["cert-weak-signature"]);
        let mut c = cert();
        c.eku_ok = false;
        c.eku = vec!["clientAuth".into()];
        assert_eq!(ids(&with_cert(c), "srv"), ["cert-wrong-usage"]);
    }

    fn tls(outcome: TlsOutcome) -> TlsFact {
        TlsFact::new(outcome, 5.0)
    }

    #[test]
    fn tls_failures() {
        let f = Facts {
            tls: Some(tls(TlsOutcome::Reset)),
            ..Facts::default()
        };
        assert_eq!(ids(&f, "s"), ["tls-handshake-failed"]);
        let f = Facts {
            tls: Some(tls(TlsOutcome::Closed)),
            ..Facts::default()
        };
        assert_eq!(ids(&f, "s"), ["tls-handshake-failed"]);
        let mut t = tls(TlsOutcome::Alert);
        t.alert = Some(TlsAlertFact {
            level: 2,
            description: 70,
            name: "protocol_version".into(),
            direction: AlertDirection::Received,
        });
        assert_eq!(
            ids(
                &Facts {
                    tls: Some(t),
                    ..Facts::default()
                },
                "s"
            ),
            ["tls-version-mismatch"]
        );
        let mut t = tls(TlsOutcome::Alert);
        t.alert = Some(TlsAlertFact {
            level: 2,
            description: 80,
            name: "internal_error".into(),
            direction: AlertDirection::Received,
        });
        assert_eq!(
            ids(
                &Facts {
                    tls: Some(t),
                    ..Facts::default()
                },
                "s"
            ),
            ["tls-handshake-failed"]
        );
        let mut t = tls(TlsOutcome::Error);
        t.server_hello_version = Some("TLSv1.0".into());
        t.error = Some("peer is incompatible: ServerDoesNotSupportTls12Or13".into());
        t.failure = Some(TlsFailure::VersionMismatch);
        assert_eq!(
            ids(
                &Facts {
                    tls: Some(t),
                    ..Facts::default()
                },
                "s"
            ),
            ["tls-version-mismatch"]
        );
        // A handshake message over rustls' limit is said as ours, not as a server abort.
        let mut t = tls(TlsOutcome::Error);
        t.error = Some("received corrupt message of type HandshakePayloadTooLarge".into());
        t.failure = Some(TlsFailure::HandshakeTooLarge);
        assert_eq!(
            ids(
                &Facts {
                    tls: Some(t),
                    ..Facts::default()
                },
                "s"
            ),
            ["tls-chain-too-large"]
        );
        // The typed failure decides, not the words of the message.
        let by_failure = |failure: TlsFailure, error: &str| {
            let mut t = tls(TlsOutcome::Error);
            t.error = Some(error.into());
            t.failure = Some(failure);
            ids(
                &Facts {
                    tls: Some(t),
                    ..Facts::default()
                },
                "s",
            )
        };
        assert_eq!(
            by_failure(
                TlsFailure::NoCommonCipher,
                "peer is incompatible: NoCipherSuitesInCommon"
            ),
            ["tls-version-mismatch"]
        );
        assert_eq!(
            by_failure(
                TlsFailure::Misbehaved,
                "a message mentioning ProtocolVersion"
            ),
            ["tls-handshake-failed"]
        );
        assert_eq!(
            by_failure(TlsFailure::Connection, "incompatible"),
            ["tls-handshake-failed"]
        );
        let mut t = tls(TlsOutcome::Stalled);
        t.server_bytes = 600;
        assert_eq!(
            ids(
                &Facts {
                    tls: Some(t),
                    ..Facts::default()
                },
                "s"
            ),
            ["tls-stalled"]
        );
    }

    #[test]
    fn mss_retry_turns_a_stall_into_a_blackhole() {
        let mut f = Facts {
            tls: Some(tls(TlsOutcome::Stalled)),
            ..Facts::default()
        };
        let mut p = crate::probe::path_fact(&[1.0]);
        p.mss_retry = Some(MssRetry {
            mss: 536,
            tls_completed: true,
            duration_ms: 12.0,
            control: None,
            control_duration_ms: None,
        });
        f.path = Some(p);
        assert_eq!(ids(&f, "s"), ["path-mtu-blackhole"]);
        if let Some(r) = f.path.as_mut().and_then(|p| p.mss_retry.as_mut()) {
            // the control at the normal MSS stalled again: still a black hole
            r.control = Some(RetryEnd::TlsStalled);
            r.control_duration_ms = Some(2000.0);
        }
        let d = super::super::diagnose(&f, &super::super::testutil::ctx("s"));
        assert_eq!(d[0].id, "path-mtu-blackhole");
        assert!(
            d[0].evidence.iter().any(|e| e.contains("stalled again")),
            "{:?}",
            d[0].evidence
        );
        if let Some(r) = f.path.as_mut().and_then(|p| p.mss_retry.as_mut()) {
            // both retries completed: the stall was transient
            r.control = Some(RetryEnd::Completed);
        }
        let d = super::super::diagnose(&f, &super::super::testutil::ctx("s"));
        assert_eq!(d[0].id, "tls-stalled");
        assert!(
            d[0].evidence.iter().any(|e| e.contains("intermittent")),
            "{:?}",
            d[0].evidence
        );
        if let Some(r) = f.path.as_mut().and_then(|p| p.mss_retry.as_mut()) {
            // the control never reached TLS (lost SYNs): no evidence about packet sizes
            r.control = Some(RetryEnd::Failed);
        }
        let d = super::super::diagnose(&f, &super::super::testutil::ctx("s"));
        assert_eq!(d[0].id, "tls-stalled");
        assert!(
            d[0].evidence.iter().any(|e| e.contains("inconclusive")),
            "{:?}",
            d[0].evidence
        );
        if let Some(r) = f.path.as_mut().and_then(|p| p.mss_retry.as_mut()) {
            r.tls_completed = false;
            r.control = Some(RetryEnd::TlsStalled);
        }
        assert_eq!(ids(&f, "s"), ["tls-stalled"]);
    }
}
