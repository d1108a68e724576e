//! Rules for CredSSP (unauthenticated probe), MCS and UDP.

use super::{ms, Context};
use crate::facts::{CredsspOutcome, Facts, McsOutcome, SecurityLayer, UdpOutcome};
use crate::kb::Hit;
use crate::sanitize::escape;

pub fn credssp(f: &Facts, ctx: &Context, hits: &mut Vec<Hit>) {
    let Some(c) = &f.credssp else { return };
    // With Kerberos the first TSRequest carried the AP-REQ: the auth rules say what the server
    // made of it.
    let kerberos = f
        .auth
        .as_ref()
        .is_some_and(|a| a.package == crate::facts::AuthPackage::Kerberos)
        && c.outcome != CredsspOutcome::Challenge;
    match c.outcome {
        _ if kerberos => {}
        CredsspOutcome::Challenge | CredsspOutcome::NotReached | CredsspOutcome::Spnego => {}
        CredsspOutcome::ServerError => {
            let code = c.error_code.unwrap_or(0);
            hits.push(Hit::new("credssp-failed").evidence(format!(
                "the server answered our NTLM NEGOTIATE with TSRequest errorCode 0x{code:08X} (see: rdp-doctor explain 0x{code:08X})"
            )));
        }
        CredsspOutcome::Reset
        | CredsspOutcome::Closed
        | CredsspOutcome::Timeout
        | CredsspOutcome::Malformed => {
            let what = match c.outcome {
                CredsspOutcome::Reset => "reset the connection".to_string(),
                CredsspOutcome::Closed => "closed the connection".to_string(),
                CredsspOutcome::Timeout => format!("sent no answer within {}", ms(c.duration_ms)),
                _ => format!(
                    "answered with {} bytes that are not a TSRequest with an NTLM CHALLENGE ({})",
                    c.server_bytes,
                    escape(c.error.as_deref().unwrap_or("?"))
                ),
            };
            hits.push(Hit::new("credssp-failed").evidence(format!(
                "TLS completed and the server selected CredSSP; after our TSRequest with an NTLM NEGOTIATE it {what}"
            )));
        }
    }
    // With credentials, the auth rule reports an old version as credssp-version-mismatch
    // (with the AllowEncryptionOracle matrix) and a time-skew errorCode as clock-skew.
    let auth = f.auth.as_ref().filter(|a| {
        !matches!(
            a.outcome,
            crate::facts::AuthOutcome::NotReached | crate::facts::AuthOutcome::NotSent
        )
    });
    if let Some(v) = c.server_version.filter(|_| auth.is_none()) {
        if v < 5 {
            hits.push(
                Hit::new("credssp-outdated-server")
                    .evidence(format!("the server's TSRequest has version {v}; versions 5 and 6 carry the CVE-2018-0886 fix ([MS-CSSP] 2.2.1)"))
                    .evidence("patched clients (default 'Mitigated' or 'Force Updated Clients') refuse an unpatched server".to_string()),
            );
        }
    }
    let skew_error = auth.is_some_and(|a| {
        a.error_code
            .is_some_and(|code| super::finding_for_error_code(code) == "clock-skew")
    });
    if let Some(n) = c.ntlm.as_ref().filter(|_| !skew_error) {
        if let Some(skew) = n.clock_skew_seconds {
            if skew.abs() > ctx.clock_skew_threshold_s {
                hits.push(
                    Hit::new("clock-skew")
                        .evidence(format!(
                            "the server's clock (NTLM MsvAvTimestamp {}) is {} {} this machine's",
                            n.server_time.as_deref().unwrap_or("?"),
                            human_duration(skew.unsigned_abs()),
                            if skew > 0 { "ahead of" } else { "behind" }
                        ))
                        .evidence(format!(
                            "Kerberos tolerates {} minutes",
                            ctx.clock_skew_threshold_s / 60
                        )),
                );
            }
        }
    }
}

fn human_duration(s: u64) -> String {
    if s >= 86_400 {
        format!("{:.1} days", s as f64 / 86_400.0)
    } else if s >= 3600 {
        format!("{:.1} hours", s as f64 / 3600.0)
    } else if s >= 60 {
        format!("{} min {} s", s / 60, s % 60)
    } else {
        format!("{s} s")
    }
}

pub fn mcs(f: &Facts, _ctx: &Context, hits: &mut Vec<Hit>) {
    let Some(m) = &f.mcs else { return };
    let over = format!("after security negotiation ({})", m.over);
    if m.outcome == McsOutcome::Connected && m.over == SecurityLayer::Rdp {
        let level = m.encryption_level.unwrap_or(0);
        let method = m.encryption_method.unwrap_or(0);
        // 0x01 40-bit, 0x08 56-bit: nothing stronger selected.
        let weak_method = method != 0 && method & (0x02 | 0x10) == 0;
        if level <= 1 || weak_method {
            hits.push(
                Hit::new("weak-rdp-encryption")
                    .evidence(format!(
                        "the MCS Connect Response's security data: encryption level {}, method {}",
                        escape(m.encryption_level_name.as_deref().unwrap_or("?")),
                        escape(m.encryption_method_name.as_deref().unwrap_or("?"))
                    ))
                    .evidence("the connection runs Standard RDP Security (no TLS)".to_string()),
            );
        }
    }
    match m.outcome {
        McsOutcome::Connected | McsOutcome::Skipped => {}
        McsOutcome::Denied => hits.push(Hit::new("server-denied-connection").evidence(format!(
            "{over}, the server answered our MCS Connect Initial with a Disconnect Provider Ultimatum ({})",
            escape(m.disconnect_reason.as_deref().unwrap_or("no reason"))
        ))),
        McsOutcome::Rejected => hits.push(Hit::new("server-denied-connection").evidence(format!(
            "{over}, the server's MCS Connect Response has result {} (not rt-successful)",
            m.result.unwrap_or(255)
        ))),
        McsOutcome::Reset | McsOutcome::Closed => hits.push(Hit::new("server-denied-connection").evidence(format!(
            "{over}, the server {} the connection instead of answering our MCS Connect Initial",
            if m.outcome == McsOutcome::Reset { "reset" } else { "closed" }
        ))),
        // A protocol violation by the server, not a refusal: its own finding.
        McsOutcome::Malformed => hits.push(Hit::new("mcs-malformed-response").evidence(format!(
            "{over}, the answer to our MCS Connect Initial does not decode: {}",
            escape(m.error.as_deref().unwrap_or("?"))
        ))),
        McsOutcome::Timeout => hits.push(Hit::new("mcs-no-response").evidence(format!(
            "{over}, no answer to our MCS Connect Initial within {}",
            ms(m.duration_ms)
        ))),
    }
}

pub fn udp(f: &Facts, ctx: &Context, hits: &mut Vec<Hit>) {
    let Some(u) = &f.udp else { return };
    let port = ctx.target.port;
    let h = match u.outcome {
        UdpOutcome::SynAck => return,
        UdpOutcome::PortUnreachable => Hit::new("udp-blocked").evidence(format!(
            "an RDP-UDP SYN ({} bytes) to UDP {port} was answered with ICMP port unreachable after {}: nothing listens on UDP, or a firewall rejects",
            u.datagram_bytes,
            ms(u.duration_ms)
        )),
        UdpOutcome::Silent => Hit::new("udp-blocked").evidence(format!(
            "{} RDP-UDP SYNs ({} bytes each) to UDP {port} got no answer within {}: dropped by a firewall, or UDP disabled on the server",
            u.attempts,
            u.datagram_bytes,
            ms(u.duration_ms)
        )),
        UdpOutcome::Unexpected => Hit::new("udp-blocked").evidence(format!(
            "UDP {port} answered, but not with an RDP-UDP SYN+ACK: {}",
            escape(u.error.as_deref().unwrap_or("?"))
        )),
        UdpOutcome::Error => Hit::new("udp-blocked").evidence(format!(
            "sending to UDP {port} failed: {}",
            escape(u.error.as_deref().unwrap_or("?"))
        )),
    };
    hits.push(h);
}

#[cfg(test)]
mod tests {
    use super::super::testutil::ids;
    use crate::facts::*;

    fn cs(outcome: CredsspOutcome, version: Option<u32>, skew: Option<i64>) -> Facts {
        Facts {
            credssp: Some(CredsspFact {
                outcome,
                duration_ms: 3.0,
                server_version: version,
                error_code: None,
                ntlm: skew.map(|s| NtlmInfo {
                    clock_skew_seconds: Some(s),
                    server_time: Some("2026-11-25T12:00:00Z".into()),
                    ..NtlmInfo::default()
                }),
                error: None,
                server_bytes: 100,
            }),
            ..Facts::default()
        }
    }

    #[test]
    fn credssp_rules() {
        assert!(ids(&cs(CredsspOutcome::Challenge, Some(6), Some(2)), "s").is_empty());
        assert_eq!(
            ids(&cs(CredsspOutcome::Challenge, Some(3), None), "s"),
            ["credssp-outdated-server"]
        );
        assert_eq!(
            ids(&cs(CredsspOutcome::Reset, None, None), "s"),
            ["credssp-failed"]
        );
        assert_eq!(
            ids(&cs(CredsspOutcome::Timeout, None, None), "s"),
            ["credssp-failed"]
        );
        assert_eq!(
            ids(&cs(CredsspOutcome::Challenge, Some(6), Some(4 * 3600)), "s"),
            ["clock-skew"]
        );
        assert_eq!(
            ids(&cs(CredsspOutcome::Challenge, Some(6), Some(-400)), "s"),
            ["clock-skew"]
        );
    }

    fn m(outcome: McsOutcome) -> Facts {
        Facts {
            mcs: Some(McsFact {
                outcome,
                duration_ms: 4.0,
                disconnect_reason: Some("rn-provider-initiated".into()),
                ..crate::probe::mcs::empty(SecurityLayer::Tls)
            }),
            ..Facts::default()
        }
    }

    #[test]
    fn weak_standard_rdp_encryption() {
        let mut f = m(McsOutcome::Connected);
        if let Some(x) = f.mcs.as_mut() {
            x.over = SecurityLayer::Rdp;
            x.encryption_level = Some(0);
            x.encryption_method = Some(0);
        }
        assert_eq!(ids(&f, "s"), ["weak-rdp-encryption"]);
        if let Some(x) = f.mcs.as_mut() {
            x.encryption_level = Some(2);
            x.encryption_method = Some(2);
        }
        assert!(ids(&f, "s").is_empty());
        // Under TLS, level NONE is the normal case.
        if let Some(x) = f.mcs.as_mut() {
            x.over = SecurityLayer::Tls;
            x.encryption_level = Some(0);
        }
        assert!(ids(&f, "s").is_empty());
    }

    #[test]
    fn mcs_rules() {
        assert!(ids(&m(McsOutcome::Connected), "s").is_empty());
        assert_eq!(
            ids(&m(McsOutcome::Denied), "s"),
            ["server-denied-connection"]
        );
        assert_eq!(
            ids(&m(McsOutcome::Reset), "s"),
            ["server-denied-connection"]
        );
        assert_eq!(ids(&m(McsOutcome::Timeout), "s"), ["mcs-no-response"]);
        assert_eq!(
            ids(&m(McsOutcome::Malformed), "s"),
            ["mcs-malformed-response"]
        );
    }

    fn u(outcome: UdpOutcome) -> Facts {
        Facts {
            udp: Some(UdpFact {
                outcome,
                duration_ms: 1.0,
                attempts: 3,
                datagram_bytes: 1232,
                rtt_ms: None,
                version: None,
                error: None,
            }),
            ..Facts::default()
        }
    }

    #[test]
    fn udp_rules() {
        assert!(ids(&u(UdpOutcome::SynAck), "s").is_empty());
        assert_eq!(ids(&u(UdpOutcome::Silent), "s"), ["udp-blocked"]);
        assert_eq!(ids(&u(UdpOutcome::PortUnreachable), "s"), ["udp-blocked"]);
    }
}
