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
    /// The data segments of the enumeration's connections (their SYNs are not counted: see
    /// [`crate::facts::LossFact`]).
    pub loss: super::loss::Counter,
    pub start_ms: f64,
    pub duration_ms: f64,
}

/// The main connection's X.224 answer, as the enumeration needs it: `None` when the main
/// connection got no Connection Confirm (no answer, not RDP, reset...).
pub type MainAnswer = Option<(X224Outcome, f64)>;

/// The enumeration's TLS-only probe (requestedProtocols PROTOCOL_SSL), lent to the MCS phase
/// of a check whose main connection selected CredSSP: that phase needs exactly such a
/// connection, so the check makes one connection and X.224 negotiation fewer than with a
/// connection of its own (the TLS handshake, where TLS is selected, moves with it).
pub struct TlsOnlyProbe {
    /// The server's answer; `None` when the probe could not connect.
    pub outcome: Option<X224Outcome>,
    /// The connection, only when the server selected PROTOCOL_SSL (the MCS phase goes on
    /// with TLS on it); otherwise it is closed after the Connection Confirm as usual.
    pub stream: Option<tokio::net::TcpStream>,
}

/// Where the TLS-only probe is handed over (at most once, from whichever attempt connects).
type Lend = std::sync::Arc<std::sync::Mutex<Option<tokio::sync::oneshot::Sender<TlsOnlyProbe>>>>;

/// The shortest wait for a SYN+ACK before a connect is abandoned and started again.
const SYN_WAIT_MIN: Duration = Duration::from_millis(20);
/// The longest: a server this slow to complete a handshake gets the kernel's own
/// retransmission on the last attempt anyway.
const SYN_WAIT_MAX: Duration = Duration::from_millis(600);
/// Quick attempts per protocol before the last, patient one (the full connect time-out, the
/// kernel's SYN retransmissions).
const QUICK_ATTEMPTS: u32 = 3;

/// How long to wait for a SYN+ACK before treating the SYN as dropped by the server's accept
/// queue: several times the main connection's connect time (one round trip), at least
/// `SYN_WAIT_MIN` (a loaded machine answers loopback connects in a few ms, not always in one).
pub fn syn_wait(rtt_ms: Option<f64>) -> Duration {
    let rtt = rtt_ms
        .filter(|v| v.is_finite() && *v >= 0.0)
        .unwrap_or(100.0);
    Duration::from_secs_f64(rtt * 4.0 / 1000.0).clamp(SYN_WAIT_MIN, SYN_WAIT_MAX)
}

/// What the main connection's answer says about one protocol's probe, if anything: the
/// main request selected `p` (a server that picks `p` from a set accepts it alone), or it
/// requested exactly `p` (then its answer, refusal included, is the probe's answer).
pub fn answered_by_main(
    p: SecurityProtocol,
    main_requested: Protocols,
    main: &X224Outcome,
) -> Option<ProtocolProbe> {
    let exact = main_requested == p.bits();
    let selected = matches!(main, X224Outcome::Selected { protocol, .. } if *protocol == p.bits())
        || (matches!(main, X224Outcome::Legacy) && p == SecurityProtocol::Rdp);
    let answered = matches!(
        main,
        X224Outcome::Selected { .. } | X224Outcome::Failure { .. } | X224Outcome::Legacy
    );
    if !(answered && (exact || selected && may_be_answered(p, main_requested))) {
        return None;
    }
    Some(ProtocolProbe {
        protocol: p,
        requested: p.bits(),
        status: x224::probe_status(p.bits(), main),
        duration_ms: 0.0,
        response: main.clone(),
        from_main: true,
        retries: 0,
    })
}

/// Whether the main request may answer for `p`: `p` is one of the protocols it asked for
/// (standard RDP, no bit, only when it asked for nothing else).
fn may_be_answered(p: SecurityProtocol, main_requested: Protocols) -> bool {
    if p.bits() == Protocols::RDP {
        main_requested == Protocols::RDP
    } else {
        main_requested.contains(p.bits())
    }
}

enum Attempt {
    Done(
        Box<ProtocolProbe>,
        Option<super::ConnectSample>,
        Option<rdp_doctor_sys::TcpStats>,
    ),
    /// No SYN+ACK within the quick wait: start again (fewer at once).
    Again,
}

/// Runs the enumeration alongside the main connection: every protocol the main request cannot
/// answer starts at once; those it may answer wait for its answer and run only if it did not.
/// Connects are adaptive: all in flight while the server keeps up; a SYN unanswered within
/// [`syn_wait`] (an accept queue that overflowed drops it) is abandoned and retried, and
/// the number in flight halves; each completed probe lets one more run. Returns `None` when
/// the main connection got no Connection Confirm: against a server that does not speak X.224
/// the probes would only wait for the same time-outs again. With `lend`, the TLS-only probe's
/// answer (and, when PROTOCOL_SSL was selected, its connection) is sent there once it ends;
/// a receiver that was dropped (the check does not need it) closes the connection.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    addr: SocketAddr,
    timeout: Duration,
    connect_timeout: Duration,
    t0: std::time::Instant,
    rtt_ms: Option<f64>,
    main_requested: Protocols,
    main: tokio::sync::oneshot::Receiver<MainAnswer>,
    lend: Option<tokio::sync::oneshot::Sender<TlsOnlyProbe>>,
) -> Option<ProtocolsRun> {
    use std::collections::VecDeque;
    let start_ms = net::ms(t0.elapsed());
    let wait = syn_wait(rtt_ms);
    let all: Vec<SecurityProtocol> = Protocols::ALL
        .iter()
        .filter_map(|p| SecurityProtocol::of(*p))
        .collect();
    // (index, protocol, quick attempts used)
    let mut pending: VecDeque<(usize, SecurityProtocol, u32)> = VecDeque::new();
    let mut deferred = Vec::new();
    for (i, p) in all.iter().copied().enumerate() {
        if may_be_answered(p, main_requested) {
            deferred.push((i, p));
        } else {
            pending.push_back((i, p, 0));
        }
    }
    let lend: Option<Lend> = lend.map(|l| std::sync::Arc::new(std::sync::Mutex::new(Some(l))));
    let mut main = Some(main);
    let mut window = all.len();
    let mut in_flight = 0usize;
    let mut set = tokio::task::JoinSet::new();
    let mut done: Vec<(
        usize,
        ProtocolProbe,
        Option<super::ConnectSample>,
        Option<rdp_doctor_sys::TcpStats>,
    )> = Vec::new();
    loop {
        while in_flight < window {
            let Some((i, p, tries)) = pending.pop_front() else {
                break;
            };
            in_flight += 1;
            let quick = tries < QUICK_ATTEMPTS;
            let lend = lend.clone().filter(|_| p == SecurityProtocol::Tls);
            set.spawn(async move {
                let a = attempt(
                    addr,
                    p,
                    timeout,
                    if quick { wait } else { connect_timeout },
                    quick,
                    lend,
                )
                .await;
                (i, p, tries, a)
            });
        }
        if in_flight == 0 && main.is_none() && pending.is_empty() {
            break;
        }
        tokio::select! {
            answer = async {
                match main.as_mut() {
                    Some(m) => m.await,
                    None => std::future::pending().await,
                }
            }, if main.is_some() => {
                main = None;
                let Ok(Some((outcome, ms))) = answer else {
                    return None;
                };
                for (i, p) in deferred.drain(..) {
                    match answered_by_main(p, main_requested, &outcome) {
                        Some(mut probe) => {
                            probe.duration_ms = ms;
                            done.push((i, probe, None, None));
                        }
                        None => pending.push_back((i, p, 0)),
                    }
                }
            }
            Some(r) = set.join_next(), if in_flight > 0 => {
                in_flight -= 1;
                let Ok((i, p, tries, a)) = r else { continue };
                match a {
                    Attempt::Done(mut probe, c, stats) => {
                        probe.retries = tries;
                        done.push((i, *probe, c, stats));
                        window = (window + 1).min(all.len());
                    }
                    Attempt::Again => {
                        window = (in_flight + 1).div_ceil(2).max(1);
                        pending.push_front((i, p, tries + 1));
                    }
                }
            }
        }
    }
    done.sort_by_key(|(i, ..)| *i);
    let connects = done.iter().filter_map(|(_, _, c, _)| *c).collect();
    let mut loss = super::loss::Counter::default();
    for (_, _, c, st) in &done {
        loss.connection(st.as_ref(), c.and_then(|c| c.syn_retransmits));
    }
    let probes: Vec<ProtocolProbe> = done.into_iter().map(|(_, p, ..)| p).collect();
    let fact = summarize(probes);
    Some(ProtocolsRun {
        fact,
        connects,
        loss,
        start_ms,
        duration_ms: net::ms(t0.elapsed()) - start_ms,
    })
}

/// One connection asking for exactly `p`. A quick attempt whose connect times out is
/// `Again` (nothing recorded); any other end is the probe's answer, handed to `lend` too.
async fn attempt(
    addr: SocketAddr,
    p: SecurityProtocol,
    timeout: Duration,
    connect_timeout: Duration,
    quick: bool,
    lend: Option<Lend>,
) -> Attempt {
    let started = std::time::Instant::now();
    let (tcp, stream) = net::connect(addr, connect_timeout, net::ConnectOpts::default()).await;
    if quick && matches!(tcp, TcpOutcome::Filtered { .. }) {
        return Attempt::Again;
    }
    let connect = super::ConnectSample::of(&tcp);
    let mut stats = None;
    let mut kept = None;
    let response = match stream {
        Some(mut s) => {
            let o = x224::negotiate(&mut s, p.bits(), None, timeout)
                .await
                .outcome;
            stats = rdp_doctor_sys::tcp_stats(&s);
            kept = Some(s);
            o
        }
        None => X224Outcome::Error {
            error: format!("TCP connect failed: {}", describe_tcp(&tcp)),
        },
    };
    let duration_ms = net::ms(started.elapsed());
    if let Some(tx) = lend.and_then(|l| l.lock().ok().and_then(|mut l| l.take())) {
        let ssl = matches!(&response, X224Outcome::Selected { protocol, .. } if *protocol == Protocols::SSL);
        let _ = tx.send(TlsOnlyProbe {
            outcome: kept.is_some().then(|| response.clone()),
            stream: kept.filter(|_| ssl),
        });
    }
    let status = x224::probe_status(p.bits(), &response);
    Attempt::Done(
        Box::new(ProtocolProbe {
            protocol: p,
            requested: p.bits(),
            status,
            duration_ms,
            response,
            from_main: false,
            retries: 0,
        }),
        connect,
        stats,
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    fn selected(p: Protocols) -> X224Outcome {
        X224Outcome::Selected {
            protocol: p,
            protocol_name: p.name().unwrap_or("?").into(),
            flags: 0,
            flag_names: vec![],
        }
    }

    const MSTSC: Protocols = Protocols(0x0B); // SSL | HYBRID | HYBRID_EX

    #[test]
    fn main_selection_answers_only_the_selected_protocol() {
        // xrdp/shadow: mstsc's request, HYBRID selected
        let main = selected(Protocols::HYBRID);
        let p = answered_by_main(SecurityProtocol::Hybrid, MSTSC, &main).expect("answered");
        assert_eq!(p.status, ProbeStatus::Accepted);
        assert!(p.from_main);
        for other in [
            SecurityProtocol::Rdp,
            SecurityProtocol::Tls,
            SecurityProtocol::HybridEx,
            SecurityProtocol::Rdstls,
            SecurityProtocol::Rdsaad,
        ] {
            assert!(answered_by_main(other, MSTSC, &main).is_none(), "{other:?}");
        }
        // standard RDP selected from a set says nothing about a request for RDP alone
        assert!(
            answered_by_main(SecurityProtocol::Rdp, MSTSC, &selected(Protocols::RDP)).is_none()
        );
        // a protocol the main request did not offer is never taken from it
        assert!(answered_by_main(
            SecurityProtocol::Rdstls,
            MSTSC,
            &selected(Protocols::RDSTLS)
        )
        .is_none());
    }

    #[test]
    fn an_exact_request_answers_refusals_too() {
        let refused = X224Outcome::Failure {
            code: 5,
            name: Some("HYBRID_REQUIRED_BY_SERVER".into()),
        };
        let p = answered_by_main(SecurityProtocol::Tls, Protocols::SSL, &refused).expect("same");
        assert_eq!(p.status, ProbeStatus::Refused);
        assert_eq!(p.response, refused);
        // from a set, a refusal answers none of them
        assert!(answered_by_main(SecurityProtocol::Tls, MSTSC, &refused).is_none());
        // no answer at all answers nothing
        let silent = X224Outcome::NoResponse { timeout_ms: 5.0 };
        assert!(answered_by_main(SecurityProtocol::Tls, Protocols::SSL, &silent).is_none());
        // a legacy confirm to a request for RDP alone
        let p = answered_by_main(SecurityProtocol::Rdp, Protocols::RDP, &X224Outcome::Legacy)
            .expect("legacy");
        assert_eq!(p.status, ProbeStatus::Accepted);
    }

    #[test]
    fn syn_wait_scales_with_the_round_trip_within_bounds() {
        assert_eq!(syn_wait(Some(0.1)), SYN_WAIT_MIN);
        assert_eq!(syn_wait(Some(50.0)), Duration::from_millis(200));
        assert_eq!(syn_wait(Some(10_000.0)), SYN_WAIT_MAX);
        assert_eq!(syn_wait(Some(f64::NAN)), Duration::from_millis(400));
        assert_eq!(syn_wait(None), Duration::from_millis(400));
    }
}
