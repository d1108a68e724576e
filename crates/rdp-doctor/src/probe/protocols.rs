//! The protocols step: one connection per security protocol, in parallel, to learn exactly
//! which the server accepts and how it refuses the others.

use super::{net, x224};
use crate::facts::{
    Allowance, ProbeStatus, ProtocolProbe, ProtocolsFact, SecurityProtocol, Support, TcpOutcome,
    X224Outcome,
};
use rdp_doctor_wire::nego::Protocols;
use std::net::SocketAddr;
use std::time::Duration;

pub struct ProtocolsRun {
    pub fact: ProtocolsFact,
    /// The TCP connects, for the path statistics.
    pub connects: Vec<super::ConnectSample>,
    /// Retransmitted segments over all enumeration connections (where the OS reports it).
    pub retransmits: Option<u32>,
    pub start_ms: f64,
    pub duration_ms: f64,
}

/// Enumeration connections start this far apart. Small servers have tiny listen backlogs
/// (xrdp 0.9 listens with a backlog of 2): a burst of SYNs overflows the accept queue, the
/// kernel drops SYNs, and each dropped SYN costs a 1 s retransmission that looks like packet
/// loss. Staggering by a few milliseconds avoids the burst without serialising on servers that
/// are slow to answer each request (FreeRDP's shadow server takes 50-100 ms per X.224 answer).
pub const STAGGER: Duration = Duration::from_millis(4);
/// At most this many enumeration connections are open at once (with the main connection, one
/// more than xrdp's accept queue holds).
pub const PARALLEL: usize = 3;

pub async fn run(
    addr: SocketAddr,
    timeout: Duration,
    connect_timeout: Duration,
    t0: std::time::Instant,
) -> ProtocolsRun {
    let start_ms = net::ms(t0.elapsed());
    let mut set = tokio::task::JoinSet::new();
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    for (i, p) in Protocols::ALL
        .iter()
        .filter_map(|p| SecurityProtocol::of(*p))
        .enumerate()
    {
        let gate = gate.clone();
        set.spawn(async move {
            tokio::time::sleep(STAGGER * i as u32).await;
            let _permit = gate.acquire_owned().await;
            let started = std::time::Instant::now();
            let (tcp, stream) =
                net::connect(addr, connect_timeout, net::ConnectOpts::default()).await;
            let connect = super::ConnectSample::of(&tcp);
            let mut retrans = None;
            let response = match stream {
                Some(mut s) => {
                    let o = x224::negotiate(&mut s, p.bits(), None, timeout)
                        .await
                        .outcome;
                    retrans = rdp_doctor_sys::tcp_stats(&s).map(|st| st.lost_retransmits());
                    o
                }
                None => X224Outcome::Error {
                    error: format!("TCP connect failed: {}", describe_tcp(&tcp)),
                },
            };
            let status = x224::probe_status(p.bits(), &response);
            (
                i,
                ProtocolProbe {
                    protocol: p,
                    requested: p.bits(),
                    status,
                    duration_ms: net::ms(started.elapsed()),
                    response,
                },
                connect,
                retrans,
            )
        });
    }
    let mut results: Vec<(
        usize,
        ProtocolProbe,
        Option<super::ConnectSample>,
        Option<u32>,
    )> = Vec::new();
    while let Some(r) = set.join_next().await {
        if let Ok(v) = r {
            results.push(v);
        }
    }
    results.sort_by_key(|(i, ..)| *i);
    let connects = results.iter().filter_map(|(_, _, c, _)| *c).collect();
    let retransmits = results
        .iter()
        .filter_map(|(.., r)| *r)
        .fold(None, |acc: Option<u32>, r| Some(acc.unwrap_or(0) + r));
    let probes: Vec<ProtocolProbe> = results.into_iter().map(|(_, p, ..)| p).collect();
    let fact = summarize(probes);
    ProtocolsRun {
        fact,
        connects,
        retransmits,
        start_ms,
        duration_ms: net::ms(t0.elapsed()) - start_ms,
    }
}

fn describe_tcp(t: &TcpOutcome) -> String {
    match t {
        TcpOutcome::Refused { .. } => "refused".into(),
        TcpOutcome::Reset { .. } => "reset right after the handshake".into(),
        TcpOutcome::Filtered { .. } => "no answer".into(),
        TcpOutcome::Unreachable { error, .. } | TcpOutcome::Error { error, .. } => error.clone(),
        TcpOutcome::Connected { .. } => "connected".into(),
        TcpOutcome::NotTried => "not tried".into(),
    }
}

/// Derives the NLA/TLS/standard-RDP verdicts from the per-protocol answers. Pure.
pub fn summarize(probes: Vec<ProtocolProbe>) -> ProtocolsFact {
    use SecurityProtocol::{Hybrid, HybridEx, Rdp, Tls};
    let get = |p: SecurityProtocol| probes.iter().find(|x| x.protocol == p);
    let accepted: Vec<SecurityProtocol> = probes
        .iter()
        .filter(|p| p.status == ProbeStatus::Accepted)
        .map(|p| p.protocol)
        .collect();
    let is = |p: SecurityProtocol, st: ProbeStatus| get(p).is_some_and(|x| x.status == st);
    let hybrid = is(Hybrid, ProbeStatus::Accepted) || is(HybridEx, ProbeStatus::Accepted);
    let hybrid_known = get(Hybrid).is_some_and(|p| p.status != ProbeStatus::Error);
    let tls_ok = is(Tls, ProbeStatus::Accepted);
    let rdp_ok = is(Rdp, ProbeStatus::Accepted);
    let nla = if hybrid && !tls_ok && !rdp_ok {
        Support::Required
    } else if hybrid {
        Support::Supported
    } else if hybrid_known {
        Support::NotOffered
    } else {
        Support::Unknown
    };
    let tls = if (tls_ok || hybrid) && !rdp_ok && is(Rdp, ProbeStatus::Refused) {
        Support::Required
    } else if tls_ok || hybrid {
        Support::Supported
    } else if is(Tls, ProbeStatus::Refused) {
        Support::NotOffered
    } else {
        Support::Unknown
    };
    let standard_rdp = if rdp_ok {
        Allowance::Allowed
    } else if is(Rdp, ProbeStatus::Refused) {
        Allowance::Refused
    } else {
        Allowance::Unknown
    };
    ProtocolsFact {
        probes,
        accepted,
        nla,
        tls,
        standard_rdp,
    }
}
