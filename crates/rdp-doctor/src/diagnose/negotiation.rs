//! Rules for the X.224 negotiation (the client's own request) and the protocol enumeration.

use super::{ms, Context};
use crate::facts::{
    Allowance, Facts, IdentifyProbeKind, SecurityProtocol, Speaks, Support, X224Outcome,
};
use crate::kb::Hit;
use crate::sanitize::escape;
use rdp_doctor_wire::nego::Protocols;

/// What the identification probes found, as one evidence line, and whether it is a TLS-first
/// service (an RD Gateway among them).
fn identified(s: &Speaks) -> String {
    match s {
        Speaks::Http {
            status_line,
            server,
            ..
        } => format!(
            "answers HTTP: '{}'{}: a web server or an HTTP proxy listens on this port",
            escape(status_line),
            server
                .as_deref()
                .map(|v| format!(", Server: '{}'", escape(v)))
                .unwrap_or_default()
        ),
        Speaks::Tls { version, alert } => format!(
            "speaks TLS first: it answered a TLS ClientHello with {}, before any X.224: an HTTPS server or an RD Gateway (try --gateway)",
            match (version, alert) {
                (Some(v), _) => format!("a ServerHello ({})", escape(v)),
                (None, Some(a)) => format!("TLS alert {}", escape(a)),
                (None, None) => "a TLS record".into(),
            }
        ),
        Speaks::Ssh { banner } => format!(
            "SSH banner '{}': an SSH server listens on this port",
            escape(banner)
        ),
        Speaks::Vnc { version } => format!(
            "VNC banner 'RFB {}': a VNC server listens on this port",
            escape(version)
        ),
        Speaks::Greeting220 { banner } => format!(
            "greets with '{}': an SMTP or FTP server listens on this port",
            escape(banner)
        ),
        Speaks::MailOk { banner } => format!(
            "greets with '{}': a POP3 or IMAP server listens on this port",
            escape(banner)
        ),
    }
}

fn probe_name(k: IdentifyProbeKind) -> &'static str {
    match k {
        IdentifyProbeKind::Banner => "connecting without sending anything",
        IdentifyProbeKind::Tls => "a TLS ClientHello",
        IdentifyProbeKind::Http => "an HTTP request line (GET / HTTP/1.0)",
        IdentifyProbeKind::X224 => "the X.224 Connection Request",
    }
}

pub fn x224(f: &Facts, _ctx: &Context, hits: &mut Vec<Hit>) {
    let Some(n) = &f.negotiation else { return };
    let asked = format!(
        "asked for {} ({} client profile)",
        n.requested, f.client.name
    );
    // Silence or no TPKT frame, and an identification probe recognised the service: it is
    // not RDP, whatever the X.224 step saw.
    if let Some((speaks, by)) = f
        .identify
        .as_ref()
        .and_then(|i| i.speaks.as_ref().zip(i.by))
    {
        let x = match &n.response {
            X224Outcome::NoResponse { timeout_ms } => {
                format!("nothing came back within {}", ms(*timeout_ms))
            }
            X224Outcome::NotRdp { preview, .. } => {
                format!("the answer is not a TPKT frame: \"{}\"", escape(preview))
            }
            X224Outcome::Reset { .. } => {
                "the server reset the connection (RST) without a byte".into()
            }
            X224Outcome::Closed { .. } => {
                "the server closed the connection (FIN) without a byte".into()
            }
            _ => "the answer does not decode".into(),
        };
        let mut h = Hit::new("not-rdp").evidence(format!("TCP connected; {asked}; {x}"));
        if let X224Outcome::NotRdp {
            first_bytes_hex, ..
        } = &n.response
        {
            h = h.evidence(format!("first bytes: {first_bytes_hex}"));
        }
        hits.push(
            h.evidence(identified(speaks))
                .evidence(format!("recognised from the answer to {}", probe_name(by))),
        );
        return;
    }
    let h = match &n.response {
        X224Outcome::Selected { protocol, protocol_name, .. } => {
            if *protocol == Protocols::RDP && n.requested_protocols != Protocols::RDP {
                Hit::new("standard-rdp-security-only").evidence(format!(
                    "{asked}; the server selected {protocol_name} (Standard RDP Security) in {}",
                    ms(n.duration_ms)
                ))
            } else {
                return;
            }
        }
        X224Outcome::Legacy => {
            if n.requested_protocols == Protocols::RDP {
                return;
            }
            Hit::new("standard-rdp-security-only").evidence(format!(
                "{asked}; the server's Connection Confirm carries no negotiation data at all (a pre-Vista RDP stack): Standard RDP Security only"
            ))
        }
        X224Outcome::Failure { code, name } => {
            let id = match code {
                1 => "server-requires-tls",
                2 => "server-forbids-tls",
                3 => "server-has-no-certificate",
                5 => "server-requires-nla",
                _ => "negotiation-refused",
            };
            Hit::new(id).evidence(format!(
                "{asked}; the server answered RDP_NEG_FAILURE code {code} ({}) in {}",
                name.as_deref().unwrap_or("undocumented code"),
                ms(n.duration_ms)
            ))
        }
        X224Outcome::NotRdp {
            first_bytes_hex,
            preview,
        } => Hit::new("not-rdp")
            .evidence(format!("{asked}; the answer is not a TPKT frame"))
            .evidence(format!("first bytes: {first_bytes_hex}"))
            .evidence(format!("as text: \"{}\"", escape(preview))),
        X224Outcome::NoResponse { timeout_ms } => Hit::new("x224-no-response").evidence(format!(
            "TCP connected; {asked}; nothing came back within {}",
            ms(*timeout_ms)
        )),
        X224Outcome::Partial {
            bytes,
            needed,
            timeout_ms,
        } => Hit::new("slow-drip").evidence(format!(
            "{asked}; only {bytes} of the {needed} bytes of the answer arrived within {}",
            ms(*timeout_ms)
        )),
        X224Outcome::Reset { bytes_before } => Hit::new("x224-reset").evidence(format!(
            "TCP connected; {asked}; the server reset the connection (RST) after {bytes_before} bytes, {} after the request",
            ms(n.duration_ms)
        )),
        X224Outcome::Closed { bytes_before } => Hit::new("x224-reset").evidence(format!(
            "TCP connected; {asked}; the server closed the connection (FIN) after {bytes_before} bytes, {} after the request",
            ms(n.duration_ms)
        )),
        X224Outcome::Error { error } => Hit::new("x224-reset").evidence(format!(
            "TCP connected; {asked}; the connection failed: {}",
            escape(error)
        )),
        X224Outcome::UnexpectedPdu { description } => Hit::new("x224-unexpected-answer")
            .evidence(format!("{asked}; the server answered with {}", escape(description))),
        X224Outcome::Malformed { error } => Hit::new("x224-unexpected-answer").evidence(format!(
            "{asked}; the answer is a TPKT frame that does not decode: {}",
            escape(error)
        )),
    };
    let mut h = h;
    if let Some(hex) = &n.confirm_hex {
        h = h.evidence(format!("Connection Confirm bytes: {hex}"));
    }
    hits.push(h);
}

pub fn protocols(f: &Facts, _ctx: &Context, hits: &mut Vec<Hit>) {
    let Some(p) = &f.protocols else { return };
    // A server that refuses everything or is unreachable is diagnosed by the x224 rule.
    let main_ok = f.negotiation.as_ref().and_then(|n| n.selected()).is_some();
    if !main_ok && p.accepted.is_empty() {
        return;
    }
    let line = |name: SecurityProtocol| -> String {
        match p.probe(name) {
            Some(x) => format!("request for {}: {}", x.asked(), describe(&x.response)),
            None => format!("request for {name} only: not tried"),
        }
    };
    let accepted = SecurityProtocol::join(&p.accepted, ", ");
    if p.standard_rdp == Allowance::Allowed
        && matches!(p.tls, Support::Required | Support::Supported)
    {
        hits.push(
            Hit::new("standard-rdp-security-allowed")
                .evidence(line(SecurityProtocol::Rdp))
                .evidence(format!("accepted protocols: {accepted}")),
        );
    }
    match p.nla {
        Support::Supported => {
            let mut h = Hit::new("nla-not-required").evidence(line(SecurityProtocol::Hybrid));
            if p.accepts(SecurityProtocol::Tls) {
                h = h.evidence(line(SecurityProtocol::Tls));
            }
            if p.accepts(SecurityProtocol::Rdp) {
                h = h.evidence(line(SecurityProtocol::Rdp));
            }
            hits.push(h);
        }
        // Only worth saying when the server does speak TLS or RDP (otherwise nothing works
        // and the x224 rule has the cause).
        Support::NotOffered if !p.accepted.is_empty() => {
            hits.push(
                Hit::new("nla-not-offered")
                    .evidence(line(SecurityProtocol::Hybrid))
                    .evidence(line(SecurityProtocol::HybridEx))
                    .evidence(format!("accepted protocols: {accepted}")),
            );
        }
        _ => {}
    }
}

pub fn describe(o: &X224Outcome) -> String {
    o.describe()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::ids;
    use crate::facts::*;
    use crate::probe::protocols::summarize;
    use rdp_doctor_wire::nego::Protocols;

    fn neg(requested: u32, response: X224Outcome) -> Facts {
        Facts {
            client: ClientProfile::with("test", requested),
            negotiation: Some(NegotiationFact {
                requested_protocols: Protocols(requested),
                requested: Protocols(requested).to_string(),
                cookie_sent: false,
                duration_ms: 2.0,
                response,
                confirm_hex: None,
            }),
            ..Facts::default()
        }
    }

    fn sel(p: u32) -> X224Outcome {
        X224Outcome::Selected {
            protocol: Protocols(p),
            protocol_name: Protocols(p).to_string(),
            flags: 1,
            flag_names: vec![],
        }
    }

    fn fail(code: u32) -> X224Outcome {
        X224Outcome::Failure {
            code,
            name: rdp_doctor_wire::nego::FailureCode(code)
                .name()
                .map(String::from),
        }
    }

    #[test]
    fn failure_codes_name_the_cause() {
        assert_eq!(ids(&neg(0, fail(1)), "s"), ["server-requires-tls"]);
        assert_eq!(ids(&neg(0x0B, fail(2)), "s"), ["server-forbids-tls"]);
        assert_eq!(ids(&neg(0x0B, fail(3)), "s"), ["server-has-no-certificate"]);
        assert_eq!(ids(&neg(0x01, fail(5)), "s"), ["server-requires-nla"]);
        assert_eq!(ids(&neg(0x0B, fail(6)), "s"), ["negotiation-refused"]);
        assert_eq!(ids(&neg(0x0B, fail(0x99)), "s"), ["negotiation-refused"]);
    }

    #[test]
    fn standard_rdp_only_when_tls_was_offered() {
        assert_eq!(ids(&neg(0x0B, sel(0)), "s"), ["standard-rdp-security-only"]);
        assert_eq!(
            ids(&neg(0x0B, X224Outcome::Legacy), "s"),
            ["standard-rdp-security-only"]
        );
        assert!(ids(&neg(0, sel(0)), "s").is_empty());
        assert!(ids(&neg(0x0B, sel(2)), "s").is_empty());
    }

    fn identified(response: X224Outcome, by: IdentifyProbeKind, speaks: Speaks) -> Facts {
        let mut f = neg(0x0B, response);
        f.identify = Some(IdentifyFact {
            duration_ms: 300.0,
            probes: vec![IdentifyProbe {
                probe: by,
                duration_ms: 3.0,
                answer: IdentifyAnswer::Answered {
                    bytes: 40,
                    first_bytes_hex: String::new(),
                    preview: String::new(),
                    speaks: Some(speaks.clone()),
                },
            }],
            speaks: Some(speaks),
            by: Some(by),
        });
        f
    }

    #[test]
    fn an_identified_listener_is_not_rdp_whatever_x224_saw() {
        let silent = X224Outcome::NoResponse { timeout_ms: 2000.0 };
        let ctx = super::super::testutil::ctx("s");
        let web = identified(
            silent.clone(),
            IdentifyProbeKind::Http,
            Speaks::Http {
                status: 501,
                status_line: "HTTP/1.0 501 Unsupported method ('\x1b[2J')".into(),
                server: Some("SimpleHTTP/0.6 Python/3.11.2".into()),
            },
        );
        let d = super::super::diagnose(&web, &ctx);
        assert_eq!(d[0].id, "not-rdp");
        let ev = d[0].evidence.join("\n");
        assert!(ev.contains("answers HTTP: 'HTTP/1.0 501"), "{ev}");
        assert!(ev.contains("Server: 'SimpleHTTP/0.6"), "{ev}");
        assert!(!ev.contains('\x1b'), "escaped: {ev}");
        let tls = identified(
            silent.clone(),
            IdentifyProbeKind::Tls,
            Speaks::Tls {
                version: Some("TLSv1.3".into()),
                alert: None,
            },
        );
        let d = super::super::diagnose(&tls, &ctx);
        assert_eq!(d[0].id, "not-rdp");
        assert!(d[0].evidence.iter().any(|e| e.contains("try --gateway")));
        let ssh = identified(
            X224Outcome::NotRdp {
                first_bytes_hex: "5353482d".into(),
                preview: "SSH-2.0-OpenSSH_9.2p1".into(),
            },
            IdentifyProbeKind::Banner,
            Speaks::Ssh {
                banner: "SSH-2.0-OpenSSH_9.2p1".into(),
            },
        );
        let d = super::super::diagnose(&ssh, &ctx);
        assert_eq!(d[0].id, "not-rdp");
        assert!(d[0].evidence.iter().any(|e| e.contains("SSH banner")));
        // Probes that recognised nothing: the X.224 outcome decides.
        let mut quiet = neg(0x0B, silent);
        quiet.identify = Some(IdentifyFact {
            duration_ms: 2000.0,
            probes: vec![],
            speaks: None,
            by: None,
        });
        assert_eq!(ids(&quiet, "s"), ["x224-no-response"]);
    }

    #[test]
    fn broken_answers() {
        let not_rdp = X224Outcome::NotRdp {
            first_bytes_hex: "48545450".into(),
            preview: "HTTP/1.1 400 Bad Request\x1b[2J".into(),
        };
        let d = super::super::diagnose(&neg(0x0B, not_rdp), &super::super::testutil::ctx("s"));
        assert_eq!(d[0].id, "not-rdp");
        assert!(d[0].evidence.iter().all(|e| !e.contains('\x1b')), "escaped");
        assert_eq!(
            ids(
                &neg(0x0B, X224Outcome::NoResponse { timeout_ms: 5000.0 }),
                "s"
            ),
            ["x224-no-response"]
        );
        assert_eq!(
            ids(
                &neg(
                    0x0B,
                    X224Outcome::Partial {
                        bytes: 4,
                        needed: 19,
                        timeout_ms: 5000.0
                    }
                ),
                "s"
            ),
            ["slow-drip"]
        );
        assert_eq!(
            ids(&neg(0x0B, X224Outcome::Reset { bytes_before: 0 }), "s"),
            ["x224-reset"]
        );
        assert_eq!(
            ids(&neg(0x0B, X224Outcome::Closed { bytes_before: 0 }), "s"),
            ["x224-reset"]
        );
        assert_eq!(
            ids(
                &neg(
                    0x0B,
                    X224Outcome::UnexpectedPdu {
                        description: "DR".into()
                    }
                ),
                "s"
            ),
            ["x224-unexpected-answer"]
        );
    }

    fn probe(protocol: SecurityProtocol, response: X224Outcome) -> ProtocolProbe {
        let status = crate::probe::x224::probe_status(protocol.bits(), &response);
        ProtocolProbe {
            protocol,
            requested: protocol.bits(),
            status,
            duration_ms: 1.0,
            response,
            from_main: false,
            retries: 0,
        }
    }

    /// The answers of xrdp 0.9.21 security_layer=negotiate (as tests/real_servers_smoke.rs measures
    /// them against a real xrdp).
    fn xrdp_negotiate() -> ProtocolsFact {
        summarize(vec![
            probe(SecurityProtocol::Rdp, sel(0)),
            probe(SecurityProtocol::Tls, sel(1)),
            probe(SecurityProtocol::Hybrid, sel(0)),
            probe(SecurityProtocol::HybridEx, sel(0)),
            probe(SecurityProtocol::Rdstls, sel(0)),
            probe(
                SecurityProtocol::Rdsaad,
                X224Outcome::UnexpectedPdu {
                    description: "MCS DPUm".into(),
                },
            ),
        ])
    }

    #[test]
    fn xrdp_downgrade_is_not_nla() {
        let p = xrdp_negotiate();
        assert_eq!(p.nla, Support::NotOffered);
        assert_eq!(p.standard_rdp, Allowance::Allowed);
        let mut f = neg(0x0B, sel(1));
        f.protocols = Some(p);
        assert_eq!(
            ids(&f, "s"),
            ["standard-rdp-security-allowed", "nla-not-offered"]
        );
    }

    #[test]
    fn nla_required_vs_supported() {
        // FreeRDP shadow /sec:nla: RDP and TLS refused with code 5, HYBRID selected.
        let required = summarize(vec![
            probe(SecurityProtocol::Rdp, fail(5)),
            probe(SecurityProtocol::Tls, fail(5)),
            probe(SecurityProtocol::Hybrid, sel(2)),
            probe(SecurityProtocol::HybridEx, fail(5)),
        ]);
        assert_eq!(required.nla, Support::Required);
        assert_eq!(required.tls, Support::Required);
        let mut f = neg(0x0B, sel(2));
        f.protocols = Some(required);
        assert!(ids(&f, "s").is_empty());

        let supported = summarize(vec![
            probe(SecurityProtocol::Rdp, fail(1)),
            probe(SecurityProtocol::Tls, sel(1)),
            probe(SecurityProtocol::Hybrid, sel(2)),
        ]);
        assert_eq!(supported.nla, Support::Supported);
        let mut f = neg(0x0B, sel(2));
        f.protocols = Some(supported);
        assert_eq!(ids(&f, "s"), ["nla-not-required"]);
    }
}
