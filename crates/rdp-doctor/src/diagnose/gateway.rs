//! Rules for the RD Gateway path (`check --gateway`): the gateway's reachability, its
//! certificate, its HTTP endpoint, its authentication, its transport and its tunnel, each
//! with the gateway's own fix (RD Gateway Manager, IIS, the proxy in front), not the RDP
//! listener's.

use super::{ms, Context};
use crate::facts::gateway::*;
use crate::facts::{Facts, TcpOutcome, TlsOutcome};
use crate::kb::Hit;
use crate::model::Severity;
use crate::sanitize::escape;

pub fn rules(f: &Facts, ctx: &Context, hits: &mut Vec<Hit>) {
    let Some(g) = &f.gateway else { return };
    let gw = format!("{}:{}", escape(&g.host), g.port);
    let vars = |h: Hit| {
        h.var("gateway", g.host.clone())
            .var("gwport", g.port.to_string())
    };
    // reachability
    if let Some(r) = &g.resolve {
        if !matches!(
            r.outcome,
            crate::facts::ResolveOutcome::Ok | crate::facts::ResolveOutcome::Literal
        ) {
            hits.push(vars(Hit::new("gateway-unresolved").evidence(format!(
                "looking up the gateway '{}' failed after {}: {}",
                escape(&g.host),
                ms(r.duration_ms),
                escape(r.error.as_deref().unwrap_or(r.outcome.as_str()))
            ))));
            return;
        }
    }
    if !g.addresses.is_empty() && !g.addresses.iter().any(|a| a.tcp.is_connected()) {
        for a in &g.addresses {
            let (id, what) = match &a.tcp {
                TcpOutcome::Refused { .. } => ("gateway-tcp-refused", "refused"),
                TcpOutcome::Filtered { .. } => ("gateway-tcp-filtered", "no answer"),
                // Accepted, then reset before TLS began: the gateway's listener refusing.
                TcpOutcome::Reset { .. } => (
                    "gateway-tls-failed",
                    "accepted, then reset (RST) before the TLS handshake began",
                ),
                _ => ("gateway-tcp-unreachable", "unreachable"),
            };
            hits.push(vars(Hit::new(id).evidence(format!(
                "TCP {}:{} of the gateway: {what}",
                a.address, g.port
            ))));
        }
        return;
    }
    // TLS and certificate
    if let Some(t) = &g.tls {
        match t.outcome {
            TlsOutcome::Ok => {}
            TlsOutcome::Stalled => {
                hits.push(vars(Hit::new("gateway-tls-stalled").evidence(format!(
                    "the TLS handshake with the gateway {gw} did not complete within {} ({} bytes of its answer arrived)",
                    ms(t.duration_ms),
                    t.server_bytes
                ))));
            }
            _ => {
                hits.push(vars(Hit::new("gateway-tls-failed").evidence(format!(
                    "the TLS handshake with the gateway {gw} ended: {:?} after {} bytes{}",
                    t.outcome,
                    t.server_bytes,
                    t.error
                        .as_deref()
                        .map(|e| format!(" ({})", escape(e)))
                        .unwrap_or_default()
                ))));
            }
        }
    }
    if let Some(c) = &g.certificate {
        let who = format!(
            "gateway certificate subject '{}', issuer '{}', SHA-1 thumbprint {}",
            escape(&c.subject),
            escape(&c.issuer),
            c.sha1
        );
        if c.expired {
            hits.push(vars(
                Hit::new("gateway-cert-expired")
                    .evidence(format!(
                        "notAfter {} ({} days ago)",
                        c.not_after, -c.days_left
                    ))
                    .evidence(who.clone()),
            ));
        } else if c.not_yet_valid {
            hits.push(vars(
                Hit::new("gateway-cert-not-yet-valid")
                    .evidence(format!("notBefore {} is in the future", c.not_before))
                    .evidence(who.clone()),
            ));
        } else if c.days_left <= ctx.expiry_warning_days {
            hits.push(vars(
                Hit::new("gateway-cert-expiring-soon")
                    .evidence(format!(
                        "notAfter {} ({} days left)",
                        c.not_after, c.days_left
                    ))
                    .evidence(who.clone()),
            ));
        }
        if !c.trusted {
            hits.push(vars(
                Hit::new("gateway-cert-untrusted")
                    .evidence(format!(
                        "{}{} (checked against the {} trust store)",
                        if c.self_signed { "self-signed; " } else { "" },
                        c.trust_error.as_deref().unwrap_or("not trusted"),
                        c.trust_store
                    ))
                    .evidence(who.clone()),
            ));
        }
        if !c.name_matches {
            hits.push(vars(
                Hit::new("gateway-cert-name-mismatch")
                    .evidence(format!(
                        "the gateway was reached as '{}'; the certificate names DNS {:?}, IP {:?}, CN {:?}",
                        escape(&c.name_checked),
                        c.san_dns,
                        c.san_ip,
                        c.common_name
                    ))
                    .evidence(who.clone()),
            ));
        }
        let weak = match c.key_type.as_str() {
            "RSA" => c.key_bits < 2048,
            "EC" => c.key_bits < 224,
            _ => false,
        };
        if weak {
            hits.push(vars(
                Hit::new("gateway-cert-weak-key")
                    .evidence(format!("{} {} bits", c.key_type, c.key_bits)),
            ));
        }
        if !c.eku_ok {
            hits.push(vars(
                Hit::new("gateway-cert-wrong-usage")
                    .evidence(format!("extended key usage: {}", c.eku.join(", ")))
                    .evidence(who),
            ));
        }
    }
    // HTTP
    if let Some(h) = &g.http {
        let status = h
            .status
            .map(|s| format!("{s} {}", escape(h.reason.as_deref().unwrap_or_default())))
            .unwrap_or_default();
        let server = h
            .server
            .as_deref()
            .map(|s| format!(" (Server: {})", escape(s)))
            .unwrap_or_default();
        let asked = format!("RDG_OUT_DATA /remoteDesktopGateway/ on {gw} was answered");
        let hit = match h.outcome {
            GwHttpOutcome::AuthRequired | GwHttpOutcome::Open => None,
            GwHttpOutcome::NotFound | GwHttpOutcome::MethodBlocked
                if h.rpc_status == Some(401) =>
            {
                Some(Hit::new("gateway-http-transport-unavailable").evidence(format!(
                    "{asked} with {status}{server}; RPC_IN_DATA /rpc/rpcproxy.dll on the same gateway asks for authentication (401): only the RPC-over-HTTP transport is published"
                )))
            }
            GwHttpOutcome::NotFound => Some(
                Hit::new("gateway-site-not-found")
                    .evidence(format!("{asked} with {status}{server}")),
            ),
            GwHttpOutcome::MethodBlocked => Some(
                Hit::new("gateway-methods-blocked").evidence(format!(
                    "{asked} with {status}{server}{}",
                    h.allow
                        .as_deref()
                        .map(|a| format!("; Allow: {}", escape(a)))
                        .unwrap_or_default()
                )),
            ),
            GwHttpOutcome::ServiceUnavailable => Some(
                Hit::new("gateway-service-unavailable")
                    .evidence(format!("{asked} with {status}{server}")),
            ),
            GwHttpOutcome::Redirect => Some(
                Hit::new("gateway-redirected").evidence(format!(
                    "{asked} with {status}{}",
                    h.location
                        .as_deref()
                        .map(|l| format!(" to {}", escape(l)))
                        .unwrap_or_default()
                )),
            ),
            GwHttpOutcome::OtherStatus => Some(
                Hit::new("gateway-http-error").evidence(format!("{asked} with {status}{server}")),
            ),
            GwHttpOutcome::NotHttp => Some(Hit::new("gateway-not-http").evidence(format!(
                "{asked} with bytes that are not HTTP: {}",
                h.first_bytes_hex.as_deref().unwrap_or("")
            ))),
            GwHttpOutcome::NoAnswer | GwHttpOutcome::Reset => {
                Some(Hit::new("gateway-no-answer").evidence(format!(
                    "after RDG_OUT_DATA /remoteDesktopGateway/ the gateway {gw} {} the TLS connection without an HTTP answer ({})",
                    if h.outcome == GwHttpOutcome::Reset { "reset" } else { "closed" },
                    ms(h.duration_ms)
                )))
            }
            GwHttpOutcome::Stalled => Some(Hit::new("gateway-stalled").evidence(format!(
                "no HTTP answer to RDG_OUT_DATA within {}",
                ms(h.duration_ms)
            ))),
        };
        if let Some(hit) = hit {
            hits.push(vars(hit));
            return;
        }
    }
    // authentication
    if let Some(a) = &g.auth {
        let who = a.user.as_deref().map(escape).unwrap_or_else(|| "-".into());
        let detail = a.detail.as_deref().map(escape).unwrap_or_default();
        let hit = match a.outcome {
            GwAuthOutcome::Accepted => None,
            GwAuthOutcome::Rejected => Some(Hit::new("gateway-auth-rejected").evidence(format!(
                "the gateway answered our {} AUTHENTICATE for {who} with 401 again",
                a.scheme.as_deref().unwrap_or("NTLM")
            ))),
            GwAuthOutcome::NoUsableScheme => Some(
                Hit::new("gateway-no-usable-auth-scheme")
                    .evidence(format!("no NTLM or Negotiate among the schemes; {detail}")),
            ),
            GwAuthOutcome::ConnectionClosed => {
                Some(Hit::new("gateway-auth-connection-closed").evidence(detail))
            }
            GwAuthOutcome::ChallengeMissing | GwAuthOutcome::Failed => Some(
                Hit::new("gateway-auth-failed").evidence(format!(
                    "{}: {detail}",
                    a.status.map(|s| s.to_string()).unwrap_or_default()
                )),
            ),
            GwAuthOutcome::NotSent => {
                let mut h = Hit::new("gateway-credentials-not-sent").evidence(format!(
                    "no NTLM response was computed for {who}: the gateway's certificate did not pass the credential check"
                ));
                for r in &a.refused_because {
                    h = h.evidence(r.clone());
                }
                Some(h)
            }
            GwAuthOutcome::NoCredentials => Some(Hit::new("gateway-credentials-needed").evidence(
                "the gateway asks for authentication and no gateway credentials were given: its tunnel and the target behind it were not checked",
            )),
        };
        if let Some(hit) = hit {
            hits.push(vars(hit));
            return;
        }
    }
    // transport
    if let Some(t) = &g.transport {
        let tunnel_ok = g
            .tunnel
            .as_ref()
            .is_some_and(|u| u.outcome != GwTunnelOutcome::NotReached);
        let legacy = t.client_setting.as_deref().map(escape).unwrap_or_default();
        let hit = match t.outcome {
            GwTransportOutcome::WebSocket | GwTransportOutcome::NotTried => None,
            GwTransportOutcome::UpgradeStripped => Some(
                Hit::new("gateway-websocket-stripped")
                    .evidence("the gateway answered our authenticated WebSocket upgrade with 200: the upgrade headers were ignored or stripped (a proxy?); the legacy HTTP transport answered")
                    .evidence(legacy),
            ),
            GwTransportOutcome::UpgradeRefused | GwTransportOutcome::BadAccept => {
                let mut h = Hit::new("gateway-websocket-refused").evidence(match t.outcome {
                    GwTransportOutcome::BadAccept => "the gateway answered the WebSocket upgrade with 101 and a wrong Sec-WebSocket-Accept".to_string(),
                    _ => format!(
                        "the gateway answered our authenticated WebSocket upgrade with {}",
                        t.status.map(|s| s.to_string()).unwrap_or_default()
                    ),
                });
                h = h.evidence(legacy);
                if !tunnel_ok {
                    h = h.severity(Severity::Error);
                }
                Some(h)
            }
        };
        if let Some(hit) = hit {
            hits.push(vars(hit));
        }
    }
    // tunnel
    if let Some(u) = &g.tunnel {
        let code = u
            .hresult
            .map(|c| {
                format!(
                    "{} (0x{c:08X})",
                    u.hresult_name
                        .as_deref()
                        .unwrap_or("an undocumented status")
                )
            })
            .unwrap_or_default();
        let step = match u.step.as_str() {
            "handshake" => "HANDSHAKE_RESPONSE",
            "tunnel-create" => "TUNNEL_RESPONSE",
            "tunnel-auth" => "TUNNEL_AUTH_RESPONSE",
            "channel-create" => "CHANNEL_RESPONSE",
            _ => "the open channel",
        };
        let target = escape(&u.target);
        let hit = match u.outcome {
            GwTunnelOutcome::Open | GwTunnelOutcome::NotReached => None,
            GwTunnelOutcome::Refused => {
                let id = match u.hresult_name.as_deref() {
                    Some("E_PROXY_NAP_ACCESSDENIED") => "gateway-cap-denied",
                    Some("E_PROXY_RAP_ACCESSDENIED") => "gateway-rap-denied",
                    Some("E_PROXY_TS_CONNECTFAILED") => "gateway-target-unreachable",
                    Some("E_PROXY_MAXCONNECTIONSREACHED") => "gateway-connection-limit",
                    Some("E_PROXY_QUARANTINE_ACCESSDENIED") => "gateway-quarantine-denied",
                    Some("E_PROXY_COOKIE_AUTHENTICATION_ACCESS_DENIED") => "gateway-token-rejected",
                    Some("E_PROXY_UNSUPPORTED_AUTHENTICATION_METHOD") => "gateway-token-required",
                    Some("E_PROXY_CAPABILITYMISMATCH") => "gateway-capability-mismatch",
                    Some("E_PROXY_NOCERTAVAILABLE") => "gateway-no-certificate",
                    _ => "gateway-internal-error",
                };
                Some(Hit::new(id).evidence(format!(
                    "the gateway answered with {step} {code} (target {target})"
                )))
            }
            GwTunnelOutcome::Closed => Some(Hit::new("gateway-channel-closed").evidence(format!(
                "the gateway sent CLOSE_CHANNEL {code} at {step} (target {target})"
            ))),
            GwTunnelOutcome::ProtocolError | GwTunnelOutcome::Dropped => {
                Some(Hit::new("gateway-protocol-error").evidence(format!(
                    "waiting for {step}: {}",
                    u.detail.as_deref().map(escape).unwrap_or_default()
                )))
            }
            GwTunnelOutcome::Stalled => Some(Hit::new("gateway-stalled").evidence(format!(
                "waiting for {step}: {}",
                u.detail.as_deref().map(escape).unwrap_or_default()
            ))),
        };
        if let Some(hit) = hit {
            hits.push(vars(hit.var("target", u.target.clone())));
        }
        if let Some(m) = &u.consent_message {
            hits.push(vars(Hit::new("gateway-consent-message").evidence(format!(
                "the gateway asks users to accept: \"{}\"",
                escape(m)
            ))));
        }
    }
}

/// Which side a finding blames when the check went through a gateway.
pub fn side(phase: crate::model::Phase, id: &str) -> &'static str {
    use crate::model::Phase::*;
    match phase {
        GwResolve | GwTcp | GwTls => "the path to the gateway",
        _ if id == "gateway-target-unreachable" => "the gateway's connection to the target",
        GwHttp | GwAuth | GwTransport | GwTunnel => "the gateway",
        _ => "the target",
    }
}

#[cfg(test)]
mod tests {
    use crate::diagnose::testutil::ids;
    use crate::facts::gateway::*;
    use crate::facts::Facts;

    fn through(g: GatewayFacts) -> Facts {
        Facts {
            gateway: Some(g),
            ..Facts::default()
        }
    }

    fn tunnel(outcome: GwTunnelOutcome, step: &str, code: Option<u32>) -> GatewayFacts {
        let mut g = GatewayFacts::new("gw.example", 443);
        let mut u = GwTunnelFact::new("srv:3389".into());
        u.outcome = outcome;
        u.step = step.into();
        u.hresult = code;
        u.hresult_name =
            code.and_then(|c| rdp_doctor_wire::gateway::hresult::name(c).map(String::from));
        g.tunnel = Some(u);
        g
    }

    #[test]
    fn each_hresult_names_its_policy() {
        use rdp_doctor_wire::gateway::hresult::codes::*;
        for (code, step, id) in [
            (
                E_PROXY_NAP_ACCESSDENIED,
                "tunnel-auth",
                "gateway-cap-denied",
            ),
            (
                E_PROXY_RAP_ACCESSDENIED,
                "channel-create",
                "gateway-rap-denied",
            ),
            (
                E_PROXY_TS_CONNECTFAILED,
                "channel-create",
                "gateway-target-unreachable",
            ),
            (
                E_PROXY_MAXCONNECTIONSREACHED,
                "tunnel-auth",
                "gateway-connection-limit",
            ),
            (
                E_PROXY_COOKIE_AUTHENTICATION_ACCESS_DENIED,
                "tunnel-create",
                "gateway-token-rejected",
            ),
            (0x8007_1234, "handshake", "gateway-internal-error"),
        ] {
            let f = through(tunnel(GwTunnelOutcome::Refused, step, Some(code)));
            assert_eq!(ids(&f, "srv"), [id], "0x{code:08X}");
        }
        let f = through(tunnel(
            GwTunnelOutcome::Closed,
            "open",
            Some(E_PROXY_SESSIONTIMEOUT),
        ));
        assert_eq!(ids(&f, "srv"), ["gateway-channel-closed"]);
        let f = through(tunnel(GwTunnelOutcome::Open, "open", None));
        assert!(ids(&f, "srv").is_empty());
    }

    #[test]
    fn http_answers_name_what_stands_in_front() {
        for (outcome, rpc, id) in [
            (GwHttpOutcome::NotFound, None, "gateway-site-not-found"),
            (
                GwHttpOutcome::NotFound,
                Some(401),
                "gateway-http-transport-unavailable",
            ),
            (
                GwHttpOutcome::MethodBlocked,
                None,
                "gateway-methods-blocked",
            ),
            (GwHttpOutcome::NoAnswer, None, "gateway-no-answer"),
            (GwHttpOutcome::NotHttp, None, "gateway-not-http"),
        ] {
            let mut g = GatewayFacts::new("gw.example", 443);
            g.http = Some(GwHttpFact {
                outcome,
                duration_ms: 1.0,
                status: None,
                reason: None,
                schemes: Vec::new(),
                server: None,
                location: None,
                allow: None,
                first_bytes_hex: None,
                rpc_status: rpc,
            });
            assert_eq!(ids(&through(g), "srv"), [id], "{outcome:?}");
        }
    }
}
