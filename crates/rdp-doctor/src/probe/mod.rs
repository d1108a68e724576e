//! The probe runner: the only code with sockets and a clock. It walks the RDP connection
//! sequence against one target, running independent steps concurrently, and returns facts with
//! a timeline. Every step is bounded in time and bytes; a failed step is recorded, not thrown.

pub mod activation;
pub mod auth;
pub mod credssp;
pub mod dns;
pub mod gateway;
pub mod identify;
pub mod kdc;
pub mod loss;
pub mod mcs;
pub mod net;
pub mod protocols;
pub mod resolve;
pub mod tls;
pub mod udp;
pub mod x224;

use crate::cert::TrustStore;
use crate::facts::*;
use crate::model::{Phase, Target};
use rdp_doctor_wire::nego::Protocols;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to probe and how patiently.
#[derive(Clone)]
pub struct CheckOptions {
    pub target: Target,
    pub client: ClientProfile,
    /// Longest wait for one network step (a connect, one reply, a handshake).
    pub timeout: Duration,
    /// How long to wait for an RDP-UDP answer.
    pub udp_wait: Duration,
    /// Trust anchors for the certificate check.
    pub trust: Arc<TrustStore>,
    /// Run the one-connection-per-protocol enumeration.
    pub enumerate_protocols: bool,
    pub udp: bool,
    /// Unix time used to judge certificates (normally now).
    pub now_unix: i64,
    /// Repeat the light phases (TCP connect + X.224) this many times in all, for firmer
    /// round-trip and loss numbers.
    pub samples: u32,
    /// When TLS stalls, retry with a small MSS to detect a path-MTU black hole.
    pub mss_retry: bool,
    /// `--user`: run CredSSP with credentials on the main connection (and `--full`).
    pub auth: Option<auth::AuthOptions>,
    /// Quick depth (fleet scans): the main connection ends after the TLS handshake and the
    /// certificate; nothing that follows TLS on it (CredSSP, MCS) runs.
    pub stop_after_tls: bool,
    /// Addresses already resolved (and vetted: the exporter checks its allowlist on exactly
    /// these); the resolve step reports this fact and uses them instead of asking the resolver
    /// again, so a second lookup cannot return an address that was not checked.
    pub resolved: Option<(ResolveFact, Vec<SocketAddr>)>,
    /// `--gateway`: reach the target through this RD Gateway; the target's phases run inside
    /// its tunnel.
    pub gateway: Option<gateway::client::GatewayOptions>,
    /// `--realm`, `--kdc`, `--dns-server`.
    pub kdc: kdc::KdcOptions,
    /// Run the `kdc` phase without credentials against a domain member (or with `--realm`):
    /// discovery, reachability, the KDC's clock. Off for fleet scans, where one AS-REQ per
    /// server would fill the domain controllers' audit log.
    pub kdc_probe: bool,
    /// When the X.224 request gets no RDP answer, name what listens instead (three more
    /// connections, `identify`). Off at scan/exporter quick depth: one connection a target.
    pub identify: bool,
}

/// Default probe settings, in one place: the CLI's `--timeout`/`--udp-timeout`, `demo`,
/// `scan` and the exporter's modules take them from here.
pub mod defaults {
    /// Longest wait for one network step (a connect, one reply, a handshake), seconds.
    pub const STEP_TIMEOUT_S: f64 = 5.0;
    /// How long to wait for an RDP-UDP answer, seconds.
    pub const UDP_WAIT_S: f64 = 1.5;
}

impl CheckOptions {
    /// A full check of `target` as mstsc with its defaults would connect: every phase, one
    /// sample, the default time-outs, no credentials. Callers change what they need with
    /// struct update syntax (`CheckOptions { timeout, ..CheckOptions::new(t, trust) }`).
    pub fn new(target: Target, trust: Arc<TrustStore>) -> CheckOptions {
        CheckOptions {
            target,
            client: ClientProfile::mstsc(),
            timeout: Duration::from_secs_f64(defaults::STEP_TIMEOUT_S),
            udp_wait: Duration::from_secs_f64(defaults::UDP_WAIT_S),
            trust,
            enumerate_protocols: true,
            udp: true,
            now_unix: crate::clock::now_unix(),
            samples: 1,
            mss_retry: true,
            auth: None,
            stop_after_tls: false,
            resolved: None,
            gateway: None,
            kdc: kdc::KdcOptions::default(),
            kdc_probe: true,
            identify: true,
        }
    }
}

/// What one check uses at most, derived from what its options enable: the TCP connections it
/// opens (what `scan --rate` charges; retries of a lost SYN not counted) and the sockets it
/// holds at once (what `ulimit -n` limits when sizing a scan's concurrency).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub connections: u32,
    pub sockets: usize,
}

impl CheckOptions {
    pub fn budget(&self) -> Budget {
        let count = |on: bool, n: usize| if on { n } else { 0 };
        // One connection per protocol, all at once; the identification's replace them when
        // the main request got no RDP answer (the enumeration is then dropped).
        let probes = count(self.enumerate_protocols, Protocols::ALL.len())
            .max(count(self.identify, identify::CONNECTIONS));
        // The one request for the rarely accepted protocols together: when its answer settles
        // none of them, each is still asked alone. No socket more: the requests in flight
        // never outnumber the protocols.
        let together = count(self.enumerate_protocols, 1);
        // A CredSSP server's MCS phase on a second connection; with the enumeration it runs
        // on the TLS-only probe's connection instead.
        let side_mcs = count(
            !self.stop_after_tls && !self.enumerate_protocols && self.gateway.is_none(),
            1,
        );
        // The path-MTU retry and its control.
        let mss = count(self.mss_retry, 2);
        let samples = if self.enumerate_protocols {
            self.samples.max(AMBIGUITY_SAMPLES)
        } else {
            self.samples.max(1)
        } - 1;
        Budget {
            connections: (1 + probes + together + side_mcs + mss) as u32 + samples,
            // At the start the main connect and its witnesses; then the main socket and the
            // duplicate its counters are read from, beside the probes, the second connection,
            // the MSS retry and the RDP-UDP socket; the samples one at a time after.
            sockets: (1 + net::WITNESSES).max(2 + probes + side_mcs + mss + count(self.udp, 1)),
        }
    }
}

/// The samples (connect + X.224, one after another) a check makes in all when a SYN of the
/// protocol enumeration's burst went unanswered (see `run`).
pub const AMBIGUITY_SAMPLES: u32 = 4;

/// The MSS the path-MTU retry advertises (the IPv4 minimum reassembly size minus headers).
pub const RETRY_MSS: u32 = 536;

pub use crate::facts::Timeline;

pub struct ProbeRun {
    pub facts: Facts,
    pub timeline: Timeline,
    pub duration_ms: f64,
}

/// Runs every phase against the target.
pub async fn run(opts: &CheckOptions) -> ProbeRun {
    let t0 = Instant::now();
    let mut facts = Facts {
        client: opts.client.clone(),
        ..Facts::default()
    };
    let mut tl = Timeline::default();
    let mut rtts: Vec<ConnectSample> = Vec::new();
    let mut loss = loss::Counter::default();

    // Through an RD Gateway: its phases, then the target's inside the tunnel. The target's
    // resolve and TCP are the gateway's (CHANNEL_CREATE); the protocol enumeration, RDP-UDP
    // and the path samples would each need a tunnel of their own and are not run.
    if let Some(gw) = &opts.gateway {
        let (mut gf, opened) = gateway::client::open(opts, gw, t0, &mut tl).await;
        if let Some((stream, closed)) = opened {
            let (confirm_tx, _confirm_rx) = tokio::sync::oneshot::channel();
            let m = main_chain(stream, None, opts, t0, confirm_tx, None).await;
            for (phase, s, d) in m.timeline.entries {
                tl.add(phase, s, d);
            }
            facts.negotiation = m.negotiation;
            facts.tls = m.tls;
            facts.certificate = m.certificate;
            facts.credssp = m.credssp;
            facts.auth = m.auth;
            facts.mcs = m.mcs;
            facts.activation = m.activation;
            // A CLOSE_CHANNEL from the gateway during the target's phases: the gateway ended
            // the channel, not the target.
            let code = closed.lock().ok().and_then(|c| *c).filter(|c| *c != 0);
            if let (Some(code), Some(u)) = (code, gf.tunnel.as_mut()) {
                u.outcome = crate::facts::gateway::GwTunnelOutcome::Closed;
                u.hresult = Some(code);
                u.hresult_name = rdp_doctor_wire::gateway::hresult::name(code).map(String::from);
            }
        }
        facts.gateway = Some(gf);
        return finish(facts, tl, t0);
    }

    // 1. resolve
    let (rf, addrs) = match &opts.resolved {
        Some((fact, addrs)) => (fact.clone(), addrs.clone()),
        None => resolve::resolve(&opts.target, opts.timeout).await,
    };
    tl.add(Phase::Resolve, 0.0, rf.duration_ms);
    facts.resolve = Some(rf);
    if addrs.is_empty() {
        return finish(facts, tl, t0);
    }

    // 2. tcp, every address at once
    let tcp_start = net::ms(t0.elapsed());
    let mut set = tokio::task::JoinSet::new();
    for (i, a) in addrs.iter().copied().enumerate() {
        let to = opts.timeout;
        set.spawn(async move {
            let w = net::connect_witnessed(
                move |t| net::connect(a, t, net::ConnectOpts::default()),
                to,
            )
            .await;
            (i, a, w.outcome, w.stream, w.main_lost_after)
        });
    }
    let mut conns = Vec::new();
    while let Some(r) = set.join_next().await {
        if let Ok(v) = r {
            conns.push(v);
        }
    }
    conns.sort_by_key(|(i, ..)| *i);
    let mut primary: Option<(SocketAddr, tokio::net::TcpStream)> = None;
    // Main connects that got no answer at all while a witness to the same port connected.
    let mut failed_connects = 0u32;
    for (_, a, o, s, main_lost_after) in conns {
        if let Some(waited) = main_lost_after {
            failed_connects += 1;
            loss.unanswered(waited);
        }
        if let Some(c) = ConnectSample::of(&o) {
            rtts.push(c);
            loss.connect(&c);
        }
        facts.addresses.push(AddressFact {
            address: a.ip().to_string(),
            tcp: o,
        });
        if primary.is_none() {
            if let Some(s) = s {
                primary = Some((a, s));
            }
        }
    }
    tl.add(Phase::Tcp, tcp_start, net::ms(t0.elapsed()) - tcp_start);
    let Some((addr, stream)) = primary else {
        facts.path = Some(measured_path(&rtts, &loss));
        return finish(facts, tl, t0);
    };
    facts.address_used = Some(addr.ip().to_string());

    // 3-8. the main connection's chain, the protocol enumeration and UDP, concurrently
    // The enumeration starts with the main connection; the probes the main request may answer
    // wait for its answer, and all of it is dropped when no Connection Confirm came: against
    // a server that does not speak X.224 at all it would only wait for the same time-outs.
    let (confirm_tx, confirm_rx) = tokio::sync::oneshot::channel();
    // The enumeration's TLS-only probe doubles as the MCS phase's connection when the main
    // connection selects CredSSP (without the enumeration, that phase opens its own).
    let (lend_tx, lend_rx) = match opts.enumerate_protocols {
        true => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            (Some(tx), Some(rx))
        }
        false => (None, None),
    };
    // A second handle on the main socket: its counters are read when the chain is done.
    let stats = net::StatsHandle::of(&stream);
    let main_connect = facts
        .addresses
        .iter()
        .find(|a| a.address == addr.ip().to_string())
        .and_then(|a| ConnectSample::of(&a.tcp));
    let main_rtt = main_connect.map(|c| c.ms);
    let main = main_chain(stream, Some(addr), opts, t0, confirm_tx, lend_rx);
    let protos = async {
        if !opts.enumerate_protocols {
            return None;
        }
        let p = protocols::run(
            addr,
            opts.timeout,
            opts.timeout,
            t0,
            main_rtt,
            opts.client.requested_protocols,
            confirm_rx,
            lend_tx,
        )
        .await?;
        // A SYN of the burst that went unanswered is the server's accept queue or the path,
        // and the burst's SYNs are not counted; a few samples with nothing else of ours in
        // the queue tell the two apart (at 30 % loss they took the checks that found no loss
        // from 1 in 60 to none in 40). They run beside the rest of the main chain.
        let ambiguous = p.fact.probes.iter().any(|x| x.retries > 0);
        let extra = if ambiguous {
            AMBIGUITY_SAMPLES.saturating_sub(opts.samples.max(1))
        } else {
            0
        };
        Some((p, path_samples(addr, extra, opts).await))
    };
    let udp = async {
        if opts.udp {
            let s = net::ms(t0.elapsed());
            let f = udp::probe(addr, opts.udp_wait).await;
            Some((s, f))
        } else {
            None
        }
    };
    let (m, p, u) = tokio::join!(main, protos, udp);
    for (phase, s, d) in m.timeline.entries {
        tl.add(phase, s, d);
    }
    // Silence, no TPKT frame (a trickling or undecodable TPKT frame is RDP-ish and is not
    // probed), or a drop without a byte (a TLS-first server drops a request
    // that is not TLS; so does x11vnc one that is not RFB): find out what listens instead.
    if opts.identify
        && m.negotiation.as_ref().is_some_and(|n| {
            matches!(
                n.response,
                X224Outcome::NoResponse { .. }
                    | X224Outcome::NotRdp { .. }
                    | X224Outcome::Reset { bytes_before: 0 }
                    | X224Outcome::Closed { bytes_before: 0 }
            )
        })
    {
        let answer = (m.x224_answer, m.negotiation.as_ref().map(|n| n.duration_ms));
        facts.identify = Some(identify::run(addr, &opts.target.host, opts.timeout, answer).await);
    }
    facts.negotiation = m.negotiation;
    facts.tls = m.tls;
    facts.certificate = m.certificate;
    facts.credssp = m.credssp;
    facts.kdc = m.kdc;
    facts.auth = m.auth;
    facts.mcs = m.mcs;
    facts.activation = m.activation;
    loss.connection(
        stats.and_then(|h| h.read()).as_ref(),
        main_connect.and_then(|c| c.syn_retransmits),
    );
    if let Some((p, extra)) = p {
        extra.add_to(&mut rtts, &mut loss, &mut failed_connects);
        tl.add(Phase::Protocols, p.start_ms, p.duration_ms);
        // The enumeration is a burst of connections: a small accept queue can drop one of its
        // SYNs (a 1 s retransmission that is the server's backlog, not the path). Its lossy
        // connects therefore count neither as loss nor as round trips; once established, its
        // connections' data segments measure the path like any other.
        rtts.extend(p.connects.iter().filter(|c| !c.lost_syn()).copied());
        loss.merge(&p.loss);
        facts.protocols = Some(p.fact);
    }
    if let Some((s, f)) = u {
        tl.add(Phase::Udp, s, f.duration_ms);
        facts.udp = Some(f);
    }
    // The samples asked for (`--samples`), one after another, after everything else.
    path_samples(addr, opts.samples.max(1) - 1, opts)
        .await
        .add_to(&mut rtts, &mut loss, &mut failed_connects);
    let mut path = measured_path(&rtts, &loss);
    path.failed_connects = failed_connects;
    path.mss_retry = m.mss_retry;
    facts.path = Some(path);
    finish(facts, tl, t0)
}

/// `watch`'s cheap sample: resolve, TCP, X.224 with the client's request, and the TLS
/// handshake with the certificate, on one connection; nothing after TLS, no protocol
/// enumeration, no RDP-UDP, no KDC, no path-MTU retry, no credentials. The certificate is
/// judged at the time of the sample.
pub async fn sample(opts: &CheckOptions) -> ProbeRun {
    let cheap = CheckOptions {
        enumerate_protocols: false,
        udp: false,
        samples: 1,
        mss_retry: false,
        auth: None,
        stop_after_tls: true,
        kdc_probe: false,
        gateway: None,
        now_unix: crate::clock::now_unix(),
        ..opts.clone()
    };
    run(&cheap).await
}

fn finish(facts: Facts, timeline: Timeline, t0: Instant) -> ProbeRun {
    ProbeRun {
        facts,
        timeline,
        duration_ms: net::ms(t0.elapsed()),
    }
}

#[derive(Default)]
struct MainChain {
    negotiation: Option<NegotiationFact>,
    tls: Option<TlsFact>,
    certificate: Option<CertFact>,
    credssp: Option<CredsspFact>,
    kdc: Option<kerberos::KdcFact>,
    auth: Option<AuthFact>,
    mcs: Option<McsFact>,
    activation: Option<ActivationFact>,
    mss_retry: Option<MssRetry>,
    timeline: Timeline,
    /// What the server sent back to the X.224 request (bounded), for `identify`.
    x224_answer: Vec<u8>,
}

/// X.224 with the client's request, then TLS and what follows on the same connection.
/// `addr` is the target's address for the second connections (the MCS phase of a CredSSP
/// server, the path-MTU retry); `None` through a gateway, where they are not run. `tls_only`
/// receives the protocol enumeration's TLS-only probe, which the MCS phase of a CredSSP
/// server uses instead of a connection of its own.
async fn main_chain<S>(
    mut stream: S,
    addr: Option<SocketAddr>,
    opts: &CheckOptions,
    t0: Instant,
    confirmed: tokio::sync::oneshot::Sender<protocols::MainAnswer>,
    tls_only: Option<tokio::sync::oneshot::Receiver<protocols::TlsOnlyProbe>>,
) -> MainChain
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    let mut out = MainChain::default();
    let x_start = net::ms(t0.elapsed());
    let neg = x224::negotiate(
        &mut stream,
        opts.client.requested_protocols,
        opts.client.cookie.as_deref(),
        opts.timeout,
    )
    .await;
    out.timeline.add(Phase::X224, x_start, neg.duration_ms);
    let nf = NegotiationFact {
        requested_protocols: opts.client.requested_protocols,
        requested: opts.client.requested_protocols.to_string(),
        cookie_sent: opts.client.cookie.is_some(),
        duration_ms: neg.duration_ms,
        response: neg.outcome,
        confirm_hex: neg.confirm_hex,
    };
    out.x224_answer = neg.answer;
    let selected = nf.selected();
    let _ = confirmed.send(
        matches!(
            nf.response,
            X224Outcome::Selected { .. } | X224Outcome::Failure { .. } | X224Outcome::Legacy
        )
        .then(|| (nf.response.clone(), nf.duration_ms)),
    );
    out.negotiation = Some(nf);
    let Some(selected) = selected else {
        return out;
    };
    let tls_only = tls_only.filter(|_| selected != Protocols::RDP);
    let full = opts.auth.as_ref().is_some_and(|a| a.full);
    if selected == Protocols::RDP && opts.stop_after_tls {
        return out;
    }
    if selected == Protocols::RDP {
        // Standard RDP Security: MCS runs in the clear on this connection.
        let m_start = net::ms(t0.elapsed());
        let mf = mcs::connect(&mut stream, selected, SecurityLayer::Rdp, opts.timeout).await;
        out.timeline.add(Phase::Mcs, m_start, mf.duration_ms);
        out.mcs = Some(mf);
        if let Some(a) = &opts.auth {
            let mut af = auth::fact(a, AuthOutcome::NoCredssp, AuthRound::Negotiate);
            af.selected_protocol = Some("RDP".into());
            out.auth = Some(af);
            if a.full {
                let mut act = activation::empty(ActivationStep::McsConnect);
                act.outcome = ActivationOutcome::Unsupported;
                act.detail = Some("the server selected Standard RDP Security (RC4 encryption, no TLS): --full does not implement it, and sends no credentials over it".into());
                out.activation = Some(act);
            }
        }
        return out;
    }
    // With CredSSP selected, the MCS phase needs a second connection that asks for TLS only
    // (the enumeration's TLS-only probe when it runs); it runs alongside this one's TLS and
    // CredSSP. With --full the main connection itself goes on to MCS after CredSSP.
    let side_mcs = if let Some(addr) =
        addr.filter(|_| selected.needs_credssp() && !full && !opts.stop_after_tls)
    {
        let o = opts.clone();
        Some(tokio::spawn(async move {
            // The enumeration always answers when it runs; should it end without (a task
            // that died), the phase opens its connection as without the enumeration.
            let lent = match tls_only {
                Some(rx) => rx.await.ok(),
                None => None,
            };
            match lent {
                Some(probe) => mcs_on_tls_only(probe, &o, t0).await,
                None => mcs_over_tls_only(addr, &o, t0).await,
            }
        }))
    } else {
        // Not needed: the enumeration closes its TLS-only probe as soon as it ends.
        drop(tls_only);
        None
    };
    // TLS (SSL, HYBRID, HYBRID_EX, RDSTLS and RDSAAD all start with a TLS handshake)
    let t_start = net::ms(t0.elapsed());
    let tr = tls::handshake_over(stream, &opts.target.host, opts.timeout).await;
    out.timeline.add(Phase::Tls, t_start, tr.fact.duration_ms);
    if let Some(addr) = addr.filter(|_| tr.fact.outcome == TlsOutcome::Stalled && opts.mss_retry) {
        if crate::sys::CAN_SET_MSS {
            out.mss_retry = Some(mss_retry(addr, opts).await);
        }
    }
    if !tr.chain.is_empty() {
        out.certificate =
            crate::cert::analyze(&tr.chain, &opts.target.host, opts.now_unix, &opts.trust);
    }
    let tls_ok = tr.fact.outcome == TlsOutcome::Ok;
    out.tls = Some(tr.fact);
    if opts.stop_after_tls {
        return out;
    }
    let protocols = selected;
    if let Some(mut tls_stream) = tr.stream.filter(|_| tls_ok) {
        if protocols.needs_credssp() {
            if let Some(a) = &opts.auth {
                let leaf = tr.chain.first().map(Vec::as_slice);
                let cert = out.certificate.clone();
                let (c_start, (cf, af, ok)) = credentialed(
                    &mut tls_stream,
                    a,
                    protocols,
                    opts,
                    cert.as_ref(),
                    leaf,
                    t0,
                    &mut out,
                )
                .await;
                out.timeline.add(Phase::Credssp, c_start, cf.duration_ms);
                out.timeline.add(
                    Phase::Auth,
                    c_start + cf.duration_ms,
                    (af.duration_ms - cf.duration_ms).max(0.0),
                );
                out.credssp = Some(cf);
                out.auth = Some(af);
                if ok && a.full {
                    let creds = activation::ClientInfoCreds {
                        domain: &a.credentials.domain,
                        user: &a.credentials.user,
                        password: None,
                    };
                    run_full(&mut tls_stream, selected, &creds, opts, t0, &mut out).await;
                }
            } else {
                let c_start = net::ms(t0.elapsed());
                let cf = credssp::probe(&mut tls_stream, opts.timeout, opts.now_unix).await;
                out.timeline.add(Phase::Credssp, c_start, cf.duration_ms);
                let realm = match &opts.kdc.realm {
                    Some(r) => Some((r.to_ascii_uppercase(), kerberos::RealmSource::Option)),
                    None => cf
                        .ntlm
                        .as_ref()
                        .and_then(kdc::realm_from_challenge)
                        .map(|r| (r, kerberos::RealmSource::NtlmChallenge)),
                };
                out.credssp = Some(cf);
                if let Some((realm, source)) = realm.filter(|_| opts.kdc_probe) {
                    let k_start = net::ms(t0.elapsed());
                    let kf = kdc::probe(
                        &realm,
                        source,
                        &opts.kdc,
                        &opts.target.host,
                        opts.target.host_kind != "dns",
                        opts.timeout,
                    )
                    .await;
                    out.timeline.add(Phase::Kdc, k_start, kf.duration_ms);
                    out.kdc = Some(kf);
                }
            }
        } else if let Some(a) = opts.auth.as_ref().filter(|a| a.full) {
            // TLS without NLA: the credentials can only travel in the Client Info PDU
            // (autologon), under the same gate as the NTLM response.
            let mut af = auth::fact(a, AuthOutcome::NoCredssp, AuthRound::Negotiate);
            af.selected_protocol = protocols.short_name().map(str::to_uppercase);
            let basis = crate::credentials::gate(
                out.certificate.as_ref(),
                a.pinned_sha256.as_deref(),
                a.insecure,
            );
            let password = match &basis {
                Ok(b) => {
                    af.trust_basis = Some(*b);
                    af.credentials_delegated = true;
                    Some(a.credentials.password.expose())
                }
                Err(why) => {
                    af.refused_because = why.clone();
                    None
                }
            };
            let creds = activation::ClientInfoCreds {
                domain: &a.credentials.domain,
                user: &a.credentials.user,
                password,
            };
            out.auth = Some(af);
            run_full(&mut tls_stream, selected, &creds, opts, t0, &mut out).await;
        } else {
            let m_start = net::ms(t0.elapsed());
            let mf =
                mcs::connect(&mut tls_stream, selected, SecurityLayer::Tls, opts.timeout).await;
            out.timeline.add(Phase::Mcs, m_start, mf.duration_ms);
            out.mcs = Some(mf);
            if let Some(a) = &opts.auth {
                let mut af = auth::fact(a, AuthOutcome::NoCredssp, AuthRound::Negotiate);
                af.selected_protocol = protocols.short_name().map(str::to_uppercase);
                out.auth = Some(af);
            }
        }
    }
    if let Some(side) = side_mcs {
        if let Ok((mf, timing)) = side.await {
            if let Some((s, d)) = timing {
                out.timeline.add(Phase::Mcs, s, d);
            }
            out.mcs = Some(mf);
        }
    }
    out
}

/// The credentialed CredSSP exchange with the package `--auth` asks for. Kerberos needs a realm
/// (`--realm`, or the user name's suffix) and a name to build the SPN from; under `negotiate`
/// a Kerberos that cannot be used (IP target, no KDC, unknown SPN, no common encryption type)
/// falls back to NTLM on the same, still unused, connection, as mstsc's Negotiate does; a KDC
/// that refuses the account stops there. Returns when CredSSP started (after the KDC
/// exchanges) and the facts.
#[allow(clippy::too_many_arguments)]
async fn credentialed<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    s: &mut S,
    a: &auth::AuthOptions,
    protocols: rdp_doctor_wire::nego::Protocols,
    opts: &CheckOptions,
    cert: Option<&CertFact>,
    leaf: Option<&[u8]>,
    t0: Instant,
    out: &mut MainChain,
) -> (f64, (CredsspFact, AuthFact, bool)) {
    use kdc::{AuthMode, Tickets};
    let host = opts.target.host.as_str();
    let (timeout, now) = (opts.timeout, opts.now_unix);
    if a.mode == AuthMode::Ntlm {
        let c_start = net::ms(t0.elapsed());
        let r = auth::run(s, a, protocols, host, cert, leaf, timeout, now).await;
        return (c_start, r);
    }
    let (cname, user_realm) = kdc::principal_of(&a.credentials.domain, &a.credentials.user);
    let realm = match (&opts.kdc.realm, user_realm) {
        (Some(r), _) => Some((r.to_ascii_uppercase(), kerberos::RealmSource::Option)),
        (None, Some(r)) => Some((r, kerberos::RealmSource::User)),
        (None, None) => None,
    };
    let Some((realm, source)) = realm else {
        if a.mode == AuthMode::Negotiate {
            // No realm known: what mstsc on a machine outside any domain does, NTLM.
            let c_start = net::ms(t0.elapsed());
            let r = auth::run(s, a, protocols, host, cert, leaf, timeout, now).await;
            return (c_start, r);
        }
        let c_start = net::ms(t0.elapsed());
        let cf = credssp::probe(s, opts.timeout, opts.now_unix).await;
        let mut af = auth::fact(a, AuthOutcome::ClientError, crate::facts::AuthRound::Kdc);
        af.package = crate::facts::AuthPackage::Kerberos;
        af.auth_mode = Some(a.mode.as_str().into());
        af.error =
            Some("--auth kerberos needs a realm: give --realm REALM or --user user@REALM".into());
        af.duration_ms = cf.duration_ms;
        return (c_start, (cf, af, false));
    };
    let k_start = net::ms(t0.elapsed());
    let (kf, tickets) = kdc::tickets(
        &realm,
        source,
        &opts.kdc,
        &cname,
        &a.credentials.password,
        &opts.target.host,
        opts.target.host_kind != "dns",
        opts.timeout,
    )
    .await;
    out.timeline.add(Phase::Kdc, k_start, kf.duration_ms);
    out.kdc = Some(kf);
    let c_start = net::ms(t0.elapsed());
    match tickets {
        Tickets::Ready(t) => {
            let r =
                auth::run_kerberos(s, a, protocols, cert, leaf, opts.timeout, opts.now_unix, &t)
                    .await;
            (c_start, r)
        }
        Tickets::Unavailable(why) if a.mode == AuthMode::Negotiate => {
            let (cf, mut af, ok) = auth::run(s, a, protocols, host, cert, leaf, timeout, now).await;
            af.auth_mode = Some(a.mode.as_str().into());
            af.kerberos_unavailable = Some(why);
            (c_start, (cf, af, ok))
        }
        Tickets::Unavailable(_) | Tickets::Failed => {
            let cf = credssp::probe(s, opts.timeout, opts.now_unix).await;
            let mut af = auth::fact(a, AuthOutcome::KdcRefused, crate::facts::AuthRound::Kdc);
            af.package = crate::facts::AuthPackage::Kerberos;
            af.auth_mode = Some(a.mode.as_str().into());
            af.server_version = cf.server_version;
            af.duration_ms = cf.duration_ms;
            (c_start, (cf, af, false))
        }
    }
}

/// `--full` on the main connection: MCS, channels, Client Info, licensing, Demand Active.
async fn run_full<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    s: &mut S,
    selected: Protocols,
    creds: &activation::ClientInfoCreds<'_>,
    opts: &CheckOptions,
    t0: Instant,
    out: &mut MainChain,
) {
    let m_start = net::ms(t0.elapsed());
    let (mf, act) = activation::run(s, selected, creds, opts.timeout).await;
    out.timeline
        .add(Phase::Mcs, m_start, act.duration_ms.max(mf.duration_ms));
    out.mcs = Some(mf);
    out.activation = Some(act);
}

/// The MCS phase for a server that selected CredSSP on the main connection: a second
/// connection asking for TLS only. A server that requires NLA refuses it; then MCS is out of
/// reach without credentials.
async fn mcs_over_tls_only(
    addr: SocketAddr,
    opts: &CheckOptions,
    t0: Instant,
) -> (McsFact, Option<(f64, f64)>) {
    let (_, stream) = net::connect(addr, opts.timeout, net::ConnectOpts::default()).await;
    let probe = match stream {
        Some(mut stream) => {
            let neg = x224::negotiate(&mut stream, Protocols::SSL, None, opts.timeout).await;
            protocols::TlsOnlyProbe {
                outcome: Some(neg.outcome),
                stream: Some(stream),
            }
        }
        None => protocols::TlsOnlyProbe {
            outcome: None,
            stream: None,
        },
    };
    mcs_on_tls_only(probe, opts, t0).await
}

/// The MCS phase on a connection that asked for TLS only (`probe`: the server's answer and
/// the connection): TLS, then MCS Connect Initial; skipped, saying why, when the server did not
/// select TLS.
async fn mcs_on_tls_only(
    probe: protocols::TlsOnlyProbe,
    opts: &CheckOptions,
    t0: Instant,
) -> (McsFact, Option<(f64, f64)>) {
    let failed = || {
        (
            mcs::skipped(
                SecurityLayer::Tls,
                "a second connection for the MCS phase failed".into(),
            ),
            None,
        )
    };
    let Some(outcome) = probe.outcome else {
        return failed();
    };
    let stream = match &outcome {
        X224Outcome::Selected { protocol, .. } if *protocol == Protocols::SSL => {
            match probe.stream {
                Some(s) => s,
                None => return failed(),
            }
        }
        X224Outcome::Failure { code, name } => {
            let why = if *code == 5 {
                "the server requires NLA (HYBRID_REQUIRED_BY_SERVER to a TLS-only request): the MCS phase needs credentials (check --user USER --full)".to_string()
            } else {
                format!(
                    "the server refused a TLS-only request (RDP_NEG_FAILURE {code} {}): the MCS phase needs CredSSP",
                    name.as_deref().unwrap_or("")
                )
            };
            return (mcs::skipped(SecurityLayer::Tls, why), None);
        }
        other => {
            return (
                mcs::skipped(
                    SecurityLayer::Tls,
                    format!("a TLS-only request got {}", other.describe()),
                ),
                None,
            )
        }
    };
    let tr = tls::handshake(stream, &opts.target.host, opts.timeout).await;
    let Some(mut s) = tr.stream else {
        return (
            mcs::skipped(
                SecurityLayer::Tls,
                "TLS on the second connection failed".into(),
            ),
            None,
        );
    };
    let mf = mcs::connect(&mut s, Protocols::SSL, SecurityLayer::Tls, opts.timeout).await;
    let end = net::ms(t0.elapsed());
    let d = mf.duration_ms;
    (mf, Some((end - d, d)))
}

/// After a stalled TLS handshake: a fresh connection advertising a small MSS and, at the same
/// time, a control connection at the normal MSS. A path-MTU black hole lets the small-MSS
/// handshake through and stalls the control again. Without the control, a handshake that
/// stalled because the path lost the same segment several times in a row would look like a
/// black hole: measured in a network namespace with 30 % random loss and `--timeout 2`, 1 run
/// in 25 reported `path-mtu-blackhole` that way. Only a control that reached TLS and stalled
/// there counts: one that could not even connect (likely under such loss) says nothing about
/// packet sizes. Both run concurrently, so the retry costs at most one more time-out.
async fn mss_retry(addr: SocketAddr, opts: &CheckOptions) -> MssRetry {
    let small = tls_attempt(addr, opts, Some(RETRY_MSS));
    let control = tls_attempt(addr, opts, None);
    let ((end, ms), (control, control_ms)) = tokio::join!(small, control);
    MssRetry {
        mss: RETRY_MSS,
        tls_completed: end == RetryEnd::Completed,
        duration_ms: ms,
        control: Some(control),
        control_duration_ms: Some(control_ms),
    }
}

/// Connect (optionally advertising `mss`), X.224 with the client's request, TLS handshake.
/// Returns how it ended, and how long it took.
async fn tls_attempt(addr: SocketAddr, opts: &CheckOptions, mss: Option<u32>) -> (RetryEnd, f64) {
    let start = Instant::now();
    let (_, stream) = net::connect(addr, opts.timeout, net::ConnectOpts { mss }).await;
    let Some(mut stream) = stream else {
        return (RetryEnd::Failed, net::ms(start.elapsed()));
    };
    let neg = x224::negotiate(
        &mut stream,
        opts.client.requested_protocols,
        opts.client.cookie.as_deref(),
        opts.timeout,
    )
    .await;
    if !matches!(neg.outcome, X224Outcome::Selected { protocol, .. } if protocol != Protocols::RDP)
    {
        return (RetryEnd::Failed, net::ms(start.elapsed()));
    }
    let tr = tls::handshake(stream, &opts.target.host, opts.timeout).await;
    let end = match tr.fact.outcome {
        TlsOutcome::Ok => RetryEnd::Completed,
        TlsOutcome::Stalled => RetryEnd::TlsStalled,
        _ => RetryEnd::Failed,
    };
    (end, net::ms(start.elapsed()))
}

/// One TCP connect, as the path statistics see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConnectSample {
    pub ms: f64,
    /// SYN retransmissions the kernel counted, where it reports them.
    pub syn_retransmits: Option<u32>,
}

impl ConnectSample {
    pub fn of(o: &TcpOutcome) -> Option<ConnectSample> {
        match o {
            TcpOutcome::Connected {
                duration_ms,
                syn_retransmits,
            } => Some(ConnectSample {
                ms: *duration_ms,
                syn_retransmits: *syn_retransmits,
            }),
            _ => None,
        }
    }

    /// Whether the SYN or SYN+ACK was lost: the kernel's count where there is one, otherwise a
    /// connect of 1 s or more (it waited for at least the initial retransmission time-out,
    /// RFC 6298 2.1; a path with a 1 s round trip is rarer than a lost SYN).
    pub fn lost_syn(&self) -> bool {
        match self.syn_retransmits {
            Some(n) => n > 0,
            None => self.ms >= 1000.0,
        }
    }
}

/// What path samples measured.
#[derive(Default)]
struct PathSamples {
    rtts: Vec<ConnectSample>,
    loss: loss::Counter,
    failed: u32,
}

impl PathSamples {
    fn add_to(self, rtts: &mut Vec<ConnectSample>, l: &mut loss::Counter, failed: &mut u32) {
        rtts.extend(self.rtts);
        l.merge(&self.loss);
        *failed += self.failed;
    }
}

/// `n` samples of the light phases (TCP connect + X.224 with the client's request), one after
/// another. A sample connect that gets no answer at all, to an address that just worked, lost
/// every SYN it sent: loss too.
async fn path_samples(addr: SocketAddr, n: u32, opts: &CheckOptions) -> PathSamples {
    let mut out = PathSamples::default();
    for _ in 0..n {
        let (o, s) = net::connect(addr, opts.timeout, net::ConnectOpts::default()).await;
        if matches!(o, TcpOutcome::Filtered { .. }) {
            out.failed += 1;
            out.loss.unanswered(opts.timeout);
        }
        if let (Some(c), Some(mut s)) = (ConnectSample::of(&o), s) {
            out.rtts.push(c);
            out.loss.connect(&c);
            let _ =
                x224::negotiate(&mut s, opts.client.requested_protocols, None, opts.timeout).await;
            out.loss
                .connection(rdp_doctor_sys::tcp_stats(&s).as_ref(), c.syn_retransmits);
        }
    }
    out
}

/// The path fact of a run: round trips from the clean connects, loss from the counter.
fn measured_path(rtts: &[ConnectSample], loss: &loss::Counter) -> PathFact {
    PathFact {
        retransmits: loss.lost(),
        loss: loss.fact(),
        ..path_fact_from(rtts)
    }
}

/// RTT statistics from connect times alone (the OS did not say which connects retransmitted).
pub fn path_fact(samples: &[f64]) -> PathFact {
    let s: Vec<ConnectSample> = samples
        .iter()
        .map(|&ms| ConnectSample {
            ms,
            syn_retransmits: None,
        })
        .collect();
    path_fact_from(&s)
}

/// RTT statistics from the TCP connects: min/median/max and jitter (standard deviation) over
/// the connects without retransmission, which take one round trip; the others are counted as
/// loss. A connect whose SYN was lost takes a round trip plus the 1 s retransmission time-out:
/// counted as a round trip it made 30 % loss look like a 1 s median RTT (`high-latency`) and a
/// jitter of 1 s in the namespace measurements.
pub fn path_fact_from(samples: &[ConnectSample]) -> PathFact {
    let clean: Vec<f64> = samples
        .iter()
        .filter(|c| !c.lost_syn() && c.ms.is_finite())
        .map(|c| c.ms)
        .collect();
    let lossy: Vec<f64> = samples
        .iter()
        .filter(|c| c.lost_syn())
        .map(|c| c.ms)
        .collect();
    let mut s = clean.clone();
    s.sort_by(|a, b| a.total_cmp(b));
    let median = if s.is_empty() {
        None
    } else {
        let mid = s.len() / 2;
        if s.len() % 2 == 0 {
            Some(
                (s.get(mid.saturating_sub(1)).copied().unwrap_or(0.0)
                    + s.get(mid).copied().unwrap_or(0.0))
                    / 2.0,
            )
        } else {
            s.get(mid).copied()
        }
    };
    let jitter = if s.len() >= 2 {
        let mean = s.iter().sum::<f64>() / s.len() as f64;
        Some((s.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / s.len() as f64).sqrt())
    } else {
        None
    };
    PathFact {
        rtt_samples_ms: clean,
        rtt_min_ms: s.first().copied(),
        rtt_median_ms: median.map(round2),
        rtt_max_ms: s.last().copied(),
        jitter_ms: jitter.map(round2),
        slow_connects: lossy.len() as u32,
        lossy_connects_ms: lossy,
        failed_connects: 0,
        retransmits: None,
        loss: None,
        mss_retry: None,
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[cfg(test)]
mod path_tests {
    use super::*;

    fn c(ms: f64, syn: Option<u32>) -> ConnectSample {
        ConnectSample {
            ms,
            syn_retransmits: syn,
        }
    }

    #[test]
    fn a_lost_syn_is_loss_not_a_round_trip() {
        // 30 % loss on a 0.1 ms path, as measured in a network namespace (Linux counts).
        let p = path_fact_from(&[
            c(1031.8, Some(1)),
            c(0.15, Some(0)),
            c(0.07, Some(0)),
            c(2051.8, Some(2)),
            c(0.08, Some(0)),
        ]);
        assert_eq!(p.rtt_samples_ms, [0.15, 0.07, 0.08]);
        assert_eq!(p.rtt_median_ms, Some(0.08));
        assert_eq!(p.rtt_max_ms, Some(0.15));
        assert_eq!(p.slow_connects, 2);
        assert_eq!(p.lossy_connects_ms, [1031.8, 2051.8]);
        assert_eq!(p.connects(), 5);
        assert!(p.jitter_ms.is_some_and(|j| j < 0.1), "{p:?}");
    }

    #[test]
    fn the_kernel_count_beats_the_one_second_rule() {
        // A 1.2 s round trip without retransmission is a round trip (satellite + VPN) ...
        let p = path_fact_from(&[c(1200.0, Some(0)), c(1210.0, Some(0))]);
        assert_eq!(p.slow_connects, 0);
        assert_eq!(p.rtt_median_ms, Some(1205.0));
        // ... and a 300 ms connect after a retransmitted SYN (RTO 200 ms) is loss.
        let p = path_fact_from(&[c(300.0, Some(1)), c(100.0, Some(0))]);
        assert_eq!(p.slow_connects, 1);
        assert_eq!(p.rtt_median_ms, Some(100.0));
        // Without a count, 1 s or more is taken as a lost SYN.
        let p = path_fact(&[1004.0, 2.0, 3.0]);
        assert_eq!(p.slow_connects, 1);
        assert_eq!(p.rtt_samples_ms, [2.0, 3.0]);
        assert_eq!(p.rtt_median_ms, Some(2.5));
    }

    #[test]
    fn jitter_is_the_spread_of_the_round_trips() {
        let p = path_fact(&[200.0, 220.0, 180.0, 200.0]);
        // mean 200, deviations 0, 20, 20, 0 -> sqrt(800 / 4) = 14.14
        assert_eq!(p.jitter_ms, Some(14.14));
        assert_eq!(path_fact(&[5.0]).jitter_ms, None);
        assert_eq!(path_fact(&[]).rtt_median_ms, None);
    }
}
