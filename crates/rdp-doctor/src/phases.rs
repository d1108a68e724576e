//! One record per phase (status, start, duration, one-line summary, details), derived from the
//! facts and the timeline. Pure; the report shows them, and the rules that need to know
//! whether a phase passed ask [`status`].

use crate::facts::*;
use crate::model::{Phase, PhaseRecord, PhaseStatus};
use crate::sanitize::escape;
use rdp_doctor_wire::nego::Protocols;

/// The status of `phase` as the report will show it, `None` when the phase has no record.
pub fn status(f: &Facts, phase: Phase) -> Option<PhaseStatus> {
    records(f, &Timeline::default())
        .into_iter()
        .find(|r| r.phase == phase)
        .map(|r| r.status)
}

fn rec(
    phase: Phase,
    status: PhaseStatus,
    tl: &Timeline,
    summary: String,
    details: serde_json::Value,
) -> PhaseRecord {
    let (start_ms, duration_ms) = tl.get(phase).unwrap_or((0.0, 0.0));
    PhaseRecord {
        phase,
        status,
        start_ms,
        duration_ms,
        summary,
        details,
    }
}

fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn skipped(phase: Phase, why: &str) -> PhaseRecord {
    PhaseRecord {
        phase,
        status: PhaseStatus::Skipped,
        start_ms: 0.0,
        duration_ms: 0.0,
        summary: why.to_string(),
        details: serde_json::Value::Null,
    }
}

pub fn records(f: &Facts, tl: &Timeline) -> Vec<PhaseRecord> {
    let mut out = Vec::new();
    if let Some(g) = &f.gateway {
        gateway_records(g, tl, &mut out);
    }
    // resolve
    match &f.resolve {
        Some(r) => {
            let status = match r.outcome {
                ResolveOutcome::Ok | ResolveOutcome::Literal => PhaseStatus::Ok,
                ResolveOutcome::Timeout => PhaseStatus::Timeout,
                _ => PhaseStatus::Failed,
            };
            let summary = match r.outcome {
                ResolveOutcome::Literal => {
                    format!("{} (an IP address; no lookup)", r.addresses.join(", "))
                }
                ResolveOutcome::Ok => format!(
                    "{} address{}: {}",
                    r.addresses.len(),
                    if r.addresses.len() == 1 { "" } else { "es" },
                    r.addresses.join(", ")
                ),
                other => format!("{other}: {}", escape(r.error.as_deref().unwrap_or(""))),
            };
            out.push(rec(Phase::Resolve, status, tl, summary, json(r)));
        }
        None if f.gateway.is_some() => out.push(skipped(
            Phase::Resolve,
            "the gateway resolves the target (CHANNEL_CREATE)",
        )),
        None => out.push(skipped(Phase::Resolve, "not run")),
    }
    // tcp
    if f.addresses.is_empty() && f.gateway.is_some() {
        out.push(skipped(
            Phase::Tcp,
            "the gateway connects to the target (see gw-tunnel)",
        ));
    } else if f.addresses.is_empty() {
        out.push(skipped(Phase::Tcp, "no address to connect to"));
    } else {
        let ok = f.addresses.iter().any(|a| a.tcp.is_connected());
        let status = if ok {
            PhaseStatus::Ok
        } else if f
            .addresses
            .iter()
            .all(|a| matches!(a.tcp, TcpOutcome::Filtered { .. }))
        {
            PhaseStatus::Timeout
        } else {
            PhaseStatus::Failed
        };
        let parts: Vec<String> = f
            .addresses
            .iter()
            .map(|a| {
                let what = match &a.tcp {
                    TcpOutcome::Connected { duration_ms, .. } => {
                        format!("connected ({duration_ms:.1} ms)")
                    }
                    TcpOutcome::Refused { .. } => "refused".into(),
                    TcpOutcome::Reset { .. } => "reset right after the handshake".into(),
                    TcpOutcome::Filtered { .. } => "no answer (filtered)".into(),
                    TcpOutcome::Unreachable { kind, .. } => format!("{kind} unreachable"),
                    TcpOutcome::Error { error, .. } => escape(error),
                    TcpOutcome::NotTried => "not tried".into(),
                };
                format!("{} {what}", a.address)
            })
            .collect();
        out.push(rec(
            Phase::Tcp,
            status,
            tl,
            parts.join("; "),
            json(&f.addresses),
        ));
    }
    // x224
    match &f.negotiation {
        Some(n) => {
            let status = match &n.response {
                X224Outcome::Selected { .. } | X224Outcome::Legacy => PhaseStatus::Ok,
                X224Outcome::NoResponse { .. } | X224Outcome::Partial { .. } => {
                    PhaseStatus::Timeout
                }
                _ => PhaseStatus::Failed,
            };
            let flags = match &n.response {
                X224Outcome::Selected { flag_names, .. } if !flag_names.is_empty() => {
                    format!(" (flags {})", flag_names.join("|"))
                }
                _ => String::new(),
            };
            let what = f
                .identify
                .as_ref()
                .and_then(|i| i.speaks.as_ref())
                .map(|s| format!("; the listener speaks {}", s.short()))
                .unwrap_or_default();
            let summary = format!(
                "asked {} -> {}{flags}{what}",
                n.requested,
                n.response.describe()
            );
            out.push(rec(Phase::X224, status, tl, summary, json(n)));
        }
        None => out.push(skipped(Phase::X224, "not reached")),
    }
    // protocols
    match &f.protocols {
        Some(p) => {
            let refused: Vec<String> = p
                .probes
                .iter()
                .filter(|x| x.status != ProbeStatus::Accepted)
                .map(|x| format!("{} ({})", x.protocol, short(&x.response)))
                .collect();
            let summary = format!(
                "accepted: {}; refused: {}; NLA {}",
                if p.accepted.is_empty() {
                    "none".to_string()
                } else {
                    SecurityProtocol::join(&p.accepted, ", ")
                },
                if refused.is_empty() {
                    "none".to_string()
                } else {
                    refused.join(", ")
                },
                p.nla
            );
            let status = if p.probes.iter().all(|x| x.status == ProbeStatus::Error) {
                PhaseStatus::Failed
            } else {
                PhaseStatus::Ok
            };
            out.push(rec(Phase::Protocols, status, tl, summary, json(p)));
        }
        None => out.push(skipped(
            Phase::Protocols,
            match &f.negotiation {
                Some(n)
                    if n.selected().is_none()
                        && !matches!(n.response, X224Outcome::Failure { .. }) =>
                {
                    "not run: the main Connection Request got no Connection Confirm"
                }
                _ => "not run",
            },
        )),
    }
    // tls
    match &f.tls {
        Some(t) => {
            let status = match t.outcome {
                TlsOutcome::Ok => PhaseStatus::Ok,
                TlsOutcome::Stalled => PhaseStatus::Timeout,
                _ => PhaseStatus::Failed,
            };
            let summary = match t.outcome {
                TlsOutcome::Ok => {
                    let mut s = format!(
                        "{} {}",
                        t.version.as_deref().unwrap_or("?"),
                        t.cipher_suite.as_deref().unwrap_or("?")
                    );
                    if let Some(c) = &f.certificate {
                        s.push_str(&format!(
                            "; certificate {} valid until {}{}",
                            escape(&c.subject),
                            c.not_after,
                            if c.self_signed { " (self-signed)" } else { "" }
                        ));
                    }
                    s
                }
                TlsOutcome::Stalled => format!(
                    "stalled: {} bytes of the server's handshake arrived",
                    t.server_bytes
                ),
                TlsOutcome::Alert => format!(
                    "alert {} from the server",
                    t.alert
                        .as_ref()
                        .map(|a| format!("{} ({})", a.description, a.name))
                        .unwrap_or_default()
                ),
                TlsOutcome::Reset => format!("reset by the server after {} bytes", t.server_bytes),
                TlsOutcome::Closed => {
                    format!("closed by the server after {} bytes", t.server_bytes)
                }
                // Our limit: said as ours, not as the server's corrupt message.
                TlsOutcome::Error if t.failure == Some(TlsFailure::HandshakeTooLarge) => {
                    "refused by rdp-doctor's TLS library: a handshake message over 65535 bytes (the certificate chain)".to_string()
                }
                TlsOutcome::Error => {
                    format!("failed: {}", escape(t.error.as_deref().unwrap_or("?")))
                }
            };
            let details = serde_json::json!({ "tls": t, "certificate": f.certificate });
            out.push(rec(Phase::Tls, status, tl, summary, details));
        }
        None => {
            let why = match f.negotiation.as_ref().and_then(|n| n.selected()) {
                Some(p) if p == Protocols::RDP => {
                    "the server selected Standard RDP Security (no TLS)"
                }
                _ => "not reached",
            };
            out.push(skipped(Phase::Tls, why));
        }
    }
    // credssp
    match &f.credssp {
        Some(c) if c.outcome != CredsspOutcome::NotReached => {
            let status = match c.outcome {
                CredsspOutcome::Challenge | CredsspOutcome::Spnego => PhaseStatus::Ok,
                CredsspOutcome::Timeout => PhaseStatus::Timeout,
                _ => PhaseStatus::Failed,
            };
            let mut s = match c.server_version {
                Some(v) => format!("TSRequest version {v}"),
                None => "no TSRequest".to_string(),
            };
            if let Some(n) = &c.ntlm {
                let name = n.dns_computer.as_ref().or(n.netbios_computer.as_ref());
                if let Some(name) = name {
                    s.push_str(&format!("; NTLM computer {}", escape(name)));
                }
                if let Some(d) = n.dns_domain.as_ref().or(n.netbios_domain.as_ref()) {
                    s.push_str(&format!(", domain {}", escape(d)));
                }
                if let Some(v) = &n.os_version {
                    s.push_str(&format!(", Windows {}", escape(v)));
                }
                if let Some(k) = n.clock_skew_seconds {
                    s.push_str(&format!(", clock skew {k:+} s"));
                }
            }
            if let Some(code) = c.error_code {
                s.push_str(&format!("; errorCode 0x{code:08X}"));
            }
            if c.outcome == CredsspOutcome::Spnego {
                s.push_str("; answered our SPNEGO token (Kerberos AP-REQ)");
            } else if c.outcome != CredsspOutcome::Challenge {
                s.push_str(&format!("; {:?}", c.outcome).to_lowercase());
            }
            out.push(rec(Phase::Credssp, status, tl, s, json(c)));
        }
        _ => {
            let why = match f.negotiation.as_ref().and_then(|n| n.selected()) {
                Some(p) if p.needs_credssp() => "not reached",
                Some(_) => "the server did not select CredSSP",
                None => "not reached",
            };
            out.push(skipped(Phase::Credssp, why));
        }
    }
    // kdc (only when it ran: a domain member, --realm, or Kerberos with --user)
    if let Some(k) = &f.kdc {
        out.push(kdc_record(k, tl));
    }
    // auth (only with --user)
    if let Some(a) = &f.auth {
        out.push(auth_record(a, tl));
    }
    // mcs
    match &f.mcs {
        Some(m) if m.outcome != McsOutcome::Skipped => {
            let status = match m.outcome {
                McsOutcome::Connected => PhaseStatus::Ok,
                McsOutcome::Timeout => PhaseStatus::Timeout,
                _ => PhaseStatus::Failed,
            };
            let s = match &m.outcome {
                McsOutcome::Connected => {
                    let mut s = m.rdp_version.clone().unwrap_or_else(|| "connected".into());
                    if m.over == SecurityLayer::Tls {
                        s.push_str("; encrypted by TLS");
                    } else {
                        if let Some(l) = &m.encryption_level_name {
                            s.push_str(&format!("; Standard RDP Security, encryption level {l}"));
                        }
                        if let Some(me) = &m.encryption_method_name {
                            s.push_str(&format!(", method {me}"));
                        }
                    }
                    s.push_str(&match m.channels.len() {
                        0 => "; no virtual channels requested".to_string(),
                        1 => "; 1 virtual channel".to_string(),
                        n => format!("; {n} virtual channels"),
                    });
                    s
                }
                McsOutcome::Denied => format!(
                    "Disconnect Provider Ultimatum ({})",
                    escape(m.disconnect_reason.as_deref().unwrap_or("?"))
                ),
                other => format!("{other:?}").to_lowercase(),
            };
            let (status, s, details) = match &f.activation {
                Some(a) => {
                    let (st, more) = activation_summary(a);
                    let status = if status == PhaseStatus::Ok {
                        st
                    } else {
                        status
                    };
                    (
                        status,
                        format!("{s}; {more}"),
                        serde_json::json!({ "mcs": m, "activation": a }),
                    )
                }
                None => (status, s, json(m)),
            };
            out.push(rec(Phase::Mcs, status, tl, s, details));
        }
        Some(m) => out.push(skipped(
            Phase::Mcs,
            m.skipped_reason.as_deref().unwrap_or("skipped"),
        )),
        None => out.push(skipped(Phase::Mcs, "not reached")),
    }
    // udp
    match &f.udp {
        Some(u) => {
            let (status, s) = match u.outcome {
                UdpOutcome::SynAck => (
                    PhaseStatus::Ok,
                    format!(
                        "SYN+ACK in {:.1} ms (RDP-UDP version {})",
                        u.rtt_ms.unwrap_or(0.0),
                        u.version.as_deref().unwrap_or("?")
                    ),
                ),
                UdpOutcome::PortUnreachable => {
                    (PhaseStatus::Failed, "ICMP port unreachable".to_string())
                }
                UdpOutcome::Silent => (
                    PhaseStatus::Timeout,
                    format!("no answer to {} SYNs", u.attempts),
                ),
                UdpOutcome::Unexpected => (PhaseStatus::Failed, "unexpected answer".to_string()),
                UdpOutcome::Error => (
                    PhaseStatus::Failed,
                    escape(u.error.as_deref().unwrap_or("error")),
                ),
            };
            out.push(rec(Phase::Udp, status, tl, s, json(u)));
        }
        None => out.push(skipped(Phase::Udp, "not run")),
    }
    // local (check --local)
    if let Some(l) = &f.local {
        out.push(rec(
            Phase::Local,
            PhaseStatus::Ok,
            tl,
            crate::facts::local::summary(l),
            json(l),
        ));
    } else if let Some(e) = &f.local_error {
        out.push(rec(
            Phase::Local,
            PhaseStatus::Failed,
            tl,
            escape(e),
            serde_json::Value::Null,
        ));
    }
    out
}

fn kdc_record(k: &kerberos::KdcFact, tl: &Timeline) -> PhaseRecord {
    use kerberos::{DiscoveryMethod, KdcReply, KdcStep};
    let realm = escape(&k.realm);
    let found = match &k.discovery {
        Some(d) if d.method == DiscoveryMethod::SpecialUseName => {
            format!("{realm} is a special-use name (RFC 6761): no KDC looked up")
        }
        Some(d) if d.method == DiscoveryMethod::Option => format!("{realm}: KDC from --kdc"),
        Some(d) => {
            let n: usize = d.queries.iter().map(|q| q.records.len()).sum();
            format!("{realm}: {n} SRV record{}", if n == 1 { "" } else { "s" })
        }
        None if k.target_is_ip => format!("{realm}: not asked (the target is an IP address)"),
        None => realm.clone(),
    };
    let reach: Vec<String> = k
        .kdcs
        .iter()
        .map(|e| {
            format!(
                "{}:{} tcp {}, udp {}",
                escape(&e.host),
                e.port,
                e.tcp.describe(),
                e.udp.describe()
            )
        })
        .collect();
    let mut parts = vec![found];
    if !reach.is_empty() {
        parts.push(reach.join("; "));
    }
    if let Some(s) = k.clock_skew_seconds {
        parts.push(format!("KDC clock {s:+.1} s"));
    }
    for e in k
        .exchanges
        .iter()
        .filter(|e| e.step != KdcStep::Probe || !k.with_credentials)
    {
        let what = match &e.reply {
            KdcReply::Ticket { .. } => "ticket".to_string(),
            KdcReply::Error { code, name, .. } => {
                format!("{} {code}", name.as_deref().unwrap_or("KRB-ERROR"))
            }
            KdcReply::NoAnswer { .. } => "no answer".to_string(),
            KdcReply::Malformed { .. } => "malformed answer".to_string(),
            KdcReply::ClientError { error } => escape(error),
        };
        let step = match e.step {
            KdcStep::Probe => "probe",
            KdcStep::As => "AS",
            KdcStep::Tgs => "TGS",
        };
        parts.push(format!("{step} {what} ({:.1} ms)", e.duration_ms));
    }
    if k.with_credentials {
        if let Some(first) = k.exchanges.iter().find(|e| e.step == KdcStep::Probe) {
            if let KdcReply::Error { code, name, .. } = &first.reply {
                if *code != 25 {
                    parts.push(format!(
                        "user: {} {code}",
                        name.as_deref().unwrap_or("KRB-ERROR")
                    ));
                }
            }
        }
    }
    if let Some(u) = k.unavailable {
        parts.push(format!("Kerberos not usable: {}", u.describe()));
    }
    let answered = k.any_answer();
    let failed_exchange = k.with_credentials
        && k.exchanges.iter().any(|e| match &e.reply {
            KdcReply::Error { code, .. } => *code != 25 || kerberos::is_etype_failure(e),
            KdcReply::Malformed { .. } | KdcReply::ClientError { .. } => true,
            _ => false,
        });
    let discovery_empty = k.kdcs.is_empty() && !k.target_is_ip;
    let special = matches!(&k.discovery, Some(d) if d.method == DiscoveryMethod::SpecialUseName);
    let status = if special || (k.target_is_ip && k.kdcs.is_empty()) {
        PhaseStatus::Skipped
    } else if discovery_empty || failed_exchange || k.unavailable.is_some() {
        PhaseStatus::Failed
    } else if !answered {
        let silent = k.kdcs.iter().all(|e| {
            matches!(
                e.tcp,
                kerberos::KdcReach::Filtered { .. } | kerberos::KdcReach::Silent { .. }
            )
        });
        if silent {
            PhaseStatus::Timeout
        } else {
            PhaseStatus::Failed
        }
    } else {
        PhaseStatus::Ok
    };
    rec(Phase::Kdc, status, tl, parts.join("; "), json(k))
}

fn auth_record(a: &AuthFact, tl: &Timeline) -> PhaseRecord {
    let status = match a.outcome {
        AuthOutcome::Success => PhaseStatus::Ok,
        AuthOutcome::Timeout => PhaseStatus::Timeout,
        AuthOutcome::NoCredssp | AuthOutcome::NotReached | AuthOutcome::NotSent => {
            PhaseStatus::Skipped
        }
        _ => PhaseStatus::Failed,
    };
    // The user name was typed by the user and refused with control characters (parse_user).
    let who = a.user.clone();
    let summary = match a.outcome {
        AuthOutcome::Success => format!(
            "{} accepted ({}{}, CredSSP version {}{})",
            who,
            a.package,
            match a.kerberos_unavailable {
                Some(u) => format!(" because Kerberos could not be used: {}", u.describe()),
                None => String::new(),
            },
            a.version_used.unwrap_or(0),
            match &a.early_user_auth_name {
                Some(n) => format!(", early user authorization {n}"),
                None => String::new(),
            }
        ),
        AuthOutcome::ServerError => format!(
            "{who} refused: errorCode 0x{:08X}{} after {}",
            a.error_code.unwrap_or(0),
            a.error_name
                .as_deref()
                .map(|n| format!(" {}", escape(n)))
                .unwrap_or_default(),
            a.round
        ),
        AuthOutcome::AccessDenied => format!(
            "{who}: credentials verified, early user authorization {}",
            escape(a.early_user_auth_name.as_deref().unwrap_or("denied"))
        ),
        AuthOutcome::NotSent => format!(
            "credentials not sent: {}",
            escape(&a.refused_because.join("; "))
        ),
        AuthOutcome::NoCredssp => format!(
            "the server selected {} (no NLA): credentials are checked at its logon screen",
            a.selected_protocol.as_deref().unwrap_or("no CredSSP")
        ),
        AuthOutcome::NotReached => "not reached".to_string(),
        AuthOutcome::KdcRefused => format!(
            "{who}: nothing sent to the server, Kerberos failed at the KDC (see the kdc phase)"
        ),
        AuthOutcome::KerberosRefused => format!(
            "{who}: the server refused the Kerberos ticket: {}",
            escape(a.error.as_deref().unwrap_or("?"))
        ),
        _ => format!(
            "{} after {}: {}",
            a.outcome.as_str(),
            a.round,
            escape(a.error.as_deref().unwrap_or("?"))
        ),
    };
    let (start_ms, duration_ms) = tl.get(Phase::Auth).unwrap_or((0.0, a.duration_ms));
    PhaseRecord {
        phase: Phase::Auth,
        status,
        start_ms,
        duration_ms,
        summary,
        details: json(a),
    }
}

/// "channels 1007 and 1003", "channel 1007", "no channels": words, not a Rust list.
fn joined_channels(ids: &[u16]) -> String {
    let ids: Vec<String> = ids.iter().map(u16::to_string).collect();
    match ids.as_slice() {
        [] => "no channels".to_string(),
        [one] => format!("channel {one}"),
        [init @ .., last] => format!("channels {} and {last}", init.join(", ")),
    }
}

fn activation_summary(a: &ActivationFact) -> (PhaseStatus, String) {
    match a.outcome {
        ActivationOutcome::DemandActive => (
            PhaseStatus::Ok,
            format!(
                "{} joined, licensing {}, Demand Active received ({} capability sets{})",
                joined_channels(&a.channels_joined),
                a.licensing.as_deref().unwrap_or("?"),
                a.capabilities.len(),
                a.desktop
                    .as_deref()
                    .map(|d| format!(", desktop {d}"))
                    .unwrap_or_default()
            ),
        ),
        ActivationOutcome::ErrorInfo => (
            PhaseStatus::Failed,
            format!(
                "Set Error Info {} at {}",
                a.error_info_names
                    .iter()
                    .zip(&a.error_info)
                    .map(|(n, c)| format!("{} (0x{c:08X})", escape(n)))
                    .collect::<Vec<_>>()
                    .join(", "),
                a.stopped_at
            ),
        ),
        ActivationOutcome::Skipped => (PhaseStatus::Ok, "full check not run".to_string()),
        ActivationOutcome::Timeout => {
            (PhaseStatus::Timeout, format!("timeout at {}", a.stopped_at))
        }
        other => (
            PhaseStatus::Failed,
            format!(
                "{} at {}: {}",
                other.as_str(),
                a.stopped_at,
                escape(a.detail.as_deref().unwrap_or("?"))
            ),
        ),
    }
}

fn short(o: &X224Outcome) -> String {
    match o {
        X224Outcome::Failure { code, .. } => format!("code {code}"),
        X224Outcome::Selected { protocol, .. } => {
            format!("selected {}", protocol.short_name().unwrap_or("other"))
        }
        other => other.describe(),
    }
}

/// The gateway's phases (`check --gateway`), before the target's.
fn gateway_records(
    g: &crate::facts::gateway::GatewayFacts,
    tl: &Timeline,
    out: &mut Vec<PhaseRecord>,
) {
    use crate::facts::gateway::*;
    match &g.resolve {
        Some(r) => {
            let ok = matches!(
                r.outcome,
                crate::facts::ResolveOutcome::Ok | crate::facts::ResolveOutcome::Literal
            );
            out.push(rec(
                Phase::GwResolve,
                if ok {
                    PhaseStatus::Ok
                } else {
                    PhaseStatus::Failed
                },
                tl,
                format!(
                    "{} -> {}",
                    escape(&g.host),
                    if ok {
                        r.addresses.join(", ")
                    } else {
                        escape(r.error.as_deref().unwrap_or(r.outcome.as_str()))
                    }
                ),
                json(r),
            ));
        }
        None => out.push(skipped(Phase::GwResolve, "not run")),
    }
    if g.addresses.is_empty() {
        out.push(skipped(Phase::GwTcp, "no address to connect to"));
    } else {
        let ok = g.addresses.iter().any(|a| a.tcp.is_connected());
        let parts: Vec<String> = g
            .addresses
            .iter()
            .map(|a| {
                format!(
                    "{}:{} {}",
                    a.address,
                    g.port,
                    if a.tcp.is_connected() {
                        "connected"
                    } else {
                        "failed"
                    }
                )
            })
            .collect();
        out.push(rec(
            Phase::GwTcp,
            if ok {
                PhaseStatus::Ok
            } else {
                PhaseStatus::Failed
            },
            tl,
            parts.join("; "),
            json(&g.addresses),
        ));
    }
    match &g.tls {
        Some(t) => {
            let status = match t.outcome {
                TlsOutcome::Ok => PhaseStatus::Ok,
                TlsOutcome::Stalled => PhaseStatus::Timeout,
                _ => PhaseStatus::Failed,
            };
            let cert = g
                .certificate
                .as_ref()
                .map(|c| {
                    format!(
                        "; certificate {} ({} days left{})",
                        escape(&c.subject),
                        c.days_left,
                        if c.trusted { "" } else { ", not trusted" }
                    )
                })
                .unwrap_or_default();
            let summary = match &t.outcome {
                TlsOutcome::Ok => format!("{}{cert}", t.version.as_deref().unwrap_or("TLS")),
                other => format!("{other:?} after {} bytes{cert}", t.server_bytes),
            };
            out.push(rec(Phase::GwTls, status, tl, summary, json(t)));
        }
        None => out.push(skipped(Phase::GwTls, "not reached")),
    }
    match &g.http {
        Some(h) => {
            let status = match h.outcome {
                GwHttpOutcome::AuthRequired | GwHttpOutcome::Open => PhaseStatus::Ok,
                GwHttpOutcome::Stalled => PhaseStatus::Timeout,
                _ => PhaseStatus::Failed,
            };
            let mut summary = match h.status {
                Some(s) => format!(
                    "RDG_OUT_DATA -> {s} {}",
                    escape(h.reason.as_deref().unwrap_or_default())
                ),
                None => format!("RDG_OUT_DATA -> {:?}", h.outcome),
            };
            if !h.schemes.is_empty() {
                summary.push_str(&format!("; schemes {}", escape(&h.schemes.join(", "))));
            }
            if let Some(r) = h.rpc_status {
                summary.push_str(&format!("; RPC_IN_DATA -> {r}"));
            }
            out.push(rec(Phase::GwHttp, status, tl, summary, json(h)));
        }
        None => out.push(skipped(Phase::GwHttp, "not reached")),
    }
    match &g.auth {
        Some(a) => {
            let status = match a.outcome {
                GwAuthOutcome::Accepted => PhaseStatus::Ok,
                GwAuthOutcome::NoCredentials => PhaseStatus::Skipped,
                _ => PhaseStatus::Failed,
            };
            let summary = format!(
                "{} {}: {:?}{}",
                a.scheme.as_deref().unwrap_or("-"),
                escape(a.user.as_deref().unwrap_or("")),
                a.outcome,
                a.status.map(|s| format!(" ({s})")).unwrap_or_default()
            );
            out.push(rec(Phase::GwAuth, status, tl, summary, json(a)));
        }
        None => out.push(skipped(Phase::GwAuth, "not reached")),
    }
    match &g.transport {
        Some(t) => {
            let status = match t.outcome {
                GwTransportOutcome::WebSocket => PhaseStatus::Ok,
                _ if g.tunnel.is_some() => PhaseStatus::Ok,
                _ => PhaseStatus::Failed,
            };
            let summary = format!(
                "{:?}{}{}",
                t.outcome,
                t.status.map(|s| format!(" ({s})")).unwrap_or_default(),
                if g.tunnel.is_some() && t.outcome != GwTransportOutcome::WebSocket {
                    "; legacy HTTP transport used"
                } else {
                    ""
                }
            );
            out.push(rec(Phase::GwTransport, status, tl, summary, json(t)));
        }
        None => out.push(skipped(Phase::GwTransport, "not reached")),
    }
    match &g.tunnel {
        Some(u) => {
            let status = match u.outcome {
                GwTunnelOutcome::Open => PhaseStatus::Ok,
                GwTunnelOutcome::Stalled => PhaseStatus::Timeout,
                _ => PhaseStatus::Failed,
            };
            let summary = match u.outcome {
                GwTunnelOutcome::Open => format!(
                    "channel {} to {} open (tunnel {})",
                    u.channel_id.map(|c| c.to_string()).unwrap_or_default(),
                    escape(&u.target),
                    u.tunnel_id.map(|c| c.to_string()).unwrap_or_default()
                ),
                other => format!(
                    "{other:?} at {}{}",
                    u.step,
                    u.hresult
                        .map(|c| format!(
                            ": {} (0x{c:08X})",
                            u.hresult_name.as_deref().unwrap_or("?")
                        ))
                        .unwrap_or_default()
                ),
            };
            out.push(rec(Phase::GwTunnel, status, tl, summary, json(u)));
        }
        None => out.push(skipped(Phase::GwTunnel, "not reached")),
    }
}
