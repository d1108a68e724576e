//! The protocols step: a request per security protocol, in parallel, to learn exactly which
//! the server accepts and how it refuses the others (the rarely accepted ones first asked
//! together, see [`ASKED_TOGETHER`]).

use super::{net, x224};
use crate::facts::{
    Allowance, ProbeStatus, ProtocolProbe, ProtocolsFact, SecurityProtocol, Support, TcpOutcome,
    TogetherRequest, X224Outcome,
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

/// The protocols asked about in one request, where the main answer leaves them open, before
/// any is asked alone: few servers accept them, and a Negotiation Failure to a request is a
/// refusal of every protocol in it ([MS-RDPBCGR] 3.3.5.3.2: the Negotiation Response is sent
/// when the server supports one of the requested protocols, the Failure when it can continue
/// with none of them). One connection instead of three against a server that refuses them all,
/// which matters where the server's cost is per connection (FreeRDP's shadow server loads and
/// checks its RSA key for each one). Any other answer is taken only as far as it goes: the
/// protocol it selects is accepted, and every protocol it does not settle is asked alone (see
/// [`settled`]); no probe's answer is inferred from a server's choice among several.
pub const ASKED_TOGETHER: [SecurityProtocol; 3] = [
    SecurityProtocol::HybridEx,
    SecurityProtocol::Rdstls,
    SecurityProtocol::Rdsaad,
];

/// What one answer settles for each protocol of its request (`members`, in order):
/// `Some(status)` when it answers for that protocol, `None` when that protocol must be asked
/// alone. A request for one protocol is always settled by its answer. Pure.
pub fn settled(members: &[SecurityProtocol], response: &X224Outcome) -> Vec<Option<ProbeStatus>> {
    if let [p] = members {
        return vec![Some(x224::probe_status(p.bits(), response))];
    }
    members
        .iter()
        .map(|p| match response {
            // none of them can be used (3.3.5.3.2); a server without negotiation ignores the
            // request, so any one of them alone gets the same confirm
            X224Outcome::Failure { .. } | X224Outcome::Legacy => Some(ProbeStatus::Refused),
            // the selected one is supported; the others are not settled by a choice
            X224Outcome::Selected { protocol, .. } if *protocol == p.bits() => {
                Some(ProbeStatus::Accepted)
            }
            // a server that said nothing in time would only be waited for again, per protocol
            X224Outcome::NoResponse { .. } | X224Outcome::Partial { .. } => {
                Some(ProbeStatus::Error)
            }
            // another protocol selected, a disconnect (xrdp's answer to PROTOCOL_RDSAAD), no
            // connection...: ask each alone
            _ => None,
        })
        .collect()
}

/// One connection's request: one protocol, or several asked together.
struct Ask {
    /// (index in the report's order, protocol)
    members: Vec<(usize, SecurityProtocol)>,
    /// Quick attempts used so far.
    tries: u32,
}

impl Ask {
    fn one(i: usize, p: SecurityProtocol) -> Ask {
        Ask {
            members: vec![(i, p)],
            tries: 0,
        }
    }

    fn bits(&self) -> Protocols {
        Protocols(self.members.iter().fold(0, |b, (_, p)| b | p.bits().0))
    }
}

/// One connection's end: the server's answer with its timing and the TCP evidence.
struct Answer {
    response: X224Outcome,
    duration_ms: f64,
    connect: Option<super::ConnectSample>,
    stats: Option<rdp_doctor_sys::TcpStats>,
}

enum Attempt {
    Done(Box<Answer>),
    /// No SYN+ACK within the quick wait: start again (fewer at once).
    Again,
}

/// Runs the enumeration alongside the main connection: every protocol the main request cannot
/// answer starts at once; those it may answer wait for its answer and run only if it did not;
/// [`ASKED_TOGETHER`] go in one request (after the main answer when it may settle one of them).
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
    let together = |p: &SecurityProtocol| ASKED_TOGETHER.contains(p);
    // the group waits for the main answer only when that answer may settle one of them
    let group_waits = all
        .iter()
        .any(|p| together(p) && may_be_answered(*p, main_requested));
    let mut pending: VecDeque<Ask> = VecDeque::new();
    let mut deferred = Vec::new();
    let mut group = Vec::new();
    for (i, p) in all.iter().copied().enumerate() {
        if together(&p) && !group_waits {
            group.push((i, p));
        } else if may_be_answered(p, main_requested) || together(&p) {
            deferred.push((i, p));
        } else {
            pending.push_back(Ask::one(i, p));
        }
    }
    push_group(&mut pending, group);
    let lend: Option<Lend> = lend.map(|l| std::sync::Arc::new(std::sync::Mutex::new(Some(l))));
    let mut main = Some(main);
    let mut window = all.len();
    let mut in_flight = 0usize;
    let mut set = tokio::task::JoinSet::new();
    let mut done: Vec<(usize, ProtocolProbe)> = Vec::new();
    let mut connections = Vec::new();
    let mut asked_together = None;
    loop {
        while in_flight < window {
            let Some(ask) = pending.pop_front() else {
                break;
            };
            in_flight += 1;
            let quick = ask.tries < QUICK_ATTEMPTS;
            let lend = lend
                .clone()
                .filter(|_| ask.bits() == Protocols::SSL && ask.members.len() == 1);
            set.spawn(async move {
                let a = attempt(
                    addr,
                    ask.bits(),
                    timeout,
                    if quick { wait } else { connect_timeout },
                    quick,
                    lend,
                )
                .await;
                (ask, a)
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
                let mut group = Vec::new();
                for (i, p) in deferred.drain(..) {
                    match answered_by_main(p, main_requested, &outcome) {
                        Some(mut probe) => {
                            probe.duration_ms = ms;
                            done.push((i, probe));
                        }
                        None if together(&p) => group.push((i, p)),
                        None => pending.push_back(Ask::one(i, p)),
                    }
                }
                push_group(&mut pending, group);
            }
            Some(r) = set.join_next(), if in_flight > 0 => {
                in_flight -= 1;
                let Ok((mut ask, a)) = r else { continue };
                match a {
                    Attempt::Done(a) => {
                        let members: Vec<SecurityProtocol> =
                            ask.members.iter().map(|(_, p)| *p).collect();
                        let requested = ask.bits();
                        if members.len() > 1 {
                            asked_together = Some(TogetherRequest {
                                requested,
                                duration_ms: a.duration_ms,
                                response: a.response.clone(),
                            });
                        }
                        for ((i, p), status) in
                            ask.members.iter().zip(settled(&members, &a.response))
                        {
                            match status {
                                Some(status) => done.push((
                                    *i,
                                    ProtocolProbe {
                                        protocol: *p,
                                        requested,
                                        status,
                                        duration_ms: a.duration_ms,
                                        response: a.response.clone(),
                                        from_main: false,
                                        retries: ask.tries,
                                    },
                                )),
                                None => pending.push_back(Ask::one(*i, *p)),
                            }
                        }
                        connections.push((a.connect, a.stats));
                        window = (window + 1).min(all.len());
                    }
                    Attempt::Again => {
                        window = (in_flight + 1).div_ceil(2).max(1);
                        ask.tries += 1;
                        pending.push_front(ask);
                    }
                }
            }
        }
    }
    done.sort_by_key(|(i, _)| *i);
    let connects = connections.iter().filter_map(|(c, _)| *c).collect();
    let mut loss = super::loss::Counter::default();
    for (c, st) in &connections {
        loss.connection(st.as_ref(), c.and_then(|c| c.syn_retransmits));
    }
    let probes: Vec<ProtocolProbe> = done.into_iter().map(|(_, p)| p).collect();
    let mut fact = summarize(probes);
    fact.together = asked_together;
    Some(ProtocolsRun {
        fact,
        connects,
        loss,
        start_ms,
        duration_ms: net::ms(t0.elapsed()) - start_ms,
    })
}

/// Queues the [`ASKED_TOGETHER`] protocols still open: one request for two or more, a request
/// of its own for one.
fn push_group(
    pending: &mut std::collections::VecDeque<Ask>,
    members: Vec<(usize, SecurityProtocol)>,
) {
    if members.is_empty() {
        return;
    }
    pending.push_back(Ask { members, tries: 0 });
}

/// One connection asking for `requested`. A quick attempt whose connect times out is
/// `Again` (nothing recorded); any other end is the answer, handed to `lend` too.
async fn attempt(
    addr: SocketAddr,
    requested: Protocols,
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
            let o = x224::negotiate(&mut s, requested, None, timeout)
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
    Attempt::Done(Box::new(Answer {
        response,
        duration_ms,
        connect,
        stats,
    }))
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
        together: None,
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
    fn a_refusal_of_several_refuses_each_and_a_choice_settles_only_the_chosen() {
        use ProbeStatus::{Accepted, Error, Refused};
        let g = ASKED_TOGETHER;
        let fail = X224Outcome::Failure {
            code: 5,
            name: Some("HYBRID_REQUIRED_BY_SERVER".into()),
        };
        // FreeRDP's shadow server with NLA: no member can be used
        assert_eq!(settled(&g, &fail), vec![Some(Refused); 3]);
        // a server without negotiation gives any request the same confirm
        assert_eq!(settled(&g, &X224Outcome::Legacy), vec![Some(Refused); 3]);
        // Windows-like: HYBRID_EX selected; the others are not settled by a choice
        assert_eq!(
            settled(&g, &selected(Protocols::HYBRID_EX)),
            vec![Some(Accepted), None, None]
        );
        assert_eq!(
            settled(&g, &selected(Protocols::RDSAAD)),
            vec![None, None, Some(Accepted)]
        );
        // xrdp: standard RDP chosen, or a disconnect for PROTOCOL_RDSAAD: each asked alone
        assert_eq!(settled(&g, &selected(Protocols::RDP)), vec![None; 3]);
        let ultimatum = X224Outcome::UnexpectedPdu {
            description: "MCS Disconnect Provider Ultimatum (reason 3)".into(),
        };
        assert_eq!(settled(&g, &ultimatum), vec![None; 3]);
        assert_eq!(
            settled(&g, &X224Outcome::Reset { bytes_before: 0 }),
            vec![None; 3]
        );
        // silence: an error for each, not three more waits for the same time-out
        assert_eq!(
            settled(&g, &X224Outcome::NoResponse { timeout_ms: 5.0 }),
            vec![Some(Error); 3]
        );
        // a request for one protocol is settled by whatever it got
        assert_eq!(
            settled(&[SecurityProtocol::Tls], &selected(Protocols::RDP)),
            vec![Some(Refused)]
        );
        assert_eq!(
            settled(&[SecurityProtocol::Tls], &ultimatum),
            vec![Some(Error)]
        );
    }

    #[test]
    fn evidence_names_the_request_that_answered() {
        let mut p = ProtocolProbe {
            protocol: SecurityProtocol::Rdstls,
            requested: Protocols::RDSTLS,
            status: ProbeStatus::Refused,
            duration_ms: 1.0,
            response: X224Outcome::Legacy,
            from_main: false,
            retries: 0,
        };
        assert_eq!(p.asked(), "rdstls only");
        p.requested = Protocols(0x1C);
        assert_eq!(p.asked(), "hybrid_ex, rdstls and rdsaad together");
        p.requested = Protocols(0x14);
        assert_eq!(p.asked(), "rdstls and rdsaad together");
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
