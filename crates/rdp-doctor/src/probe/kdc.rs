//! The `kdc` step: Kerberos KDCs of the realm, found through DNS SRV (RFC 4120 7.2.3.2) or
//! `--kdc`, each tried over TCP and UDP at once with an AS-REQ that carries no password (its
//! KRB-ERROR tells whether the principal exists, its key types, and the KDC's clock); with
//! credentials then the AS exchange with pre-authentication and the TGS exchange for
//! `TERMSRV/<host>`.
//!
//! This step owns every KDC socket: one connection and one request per exchange, each bounded
//! by `--timeout` and a 64 KiB reply cap (a silent KDC costs one time-out, not MIT's 27 s per
//! exchange). Messages and crypto are `rdp_doctor_wire::kerberos`. The password is turned
//! into a key only here, only after the KDC named the salt, and never leaves this machine: the
//! KDC sees an encrypted timestamp.

use super::dns;
use super::net::{self, FrameProgress, ReadEnd};
use crate::credentials::Secret;
use crate::facts::kerberos::*;
use crate::facts::{NtlmInfo, TcpOutcome};
use crate::sanitize::escape;
use rdp_doctor_wire::kerberos::crypto::{self, Key};
use rdp_doctor_wire::kerberos::messages::{
    pa_type, KdcRep, KrbError, PaData, PrincipalName, TicketInfo,
};
use rdp_doctor_wire::kerberos::{self, key_usage, ClientTime, Credential, KdcAnswer, KdcFrame};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// `--auth`: which package the credentialed check uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// As mstsc (SPNEGO "Negotiate"): Kerberos when it can be used, NTLM otherwise.
    #[default]
    Negotiate,
    Kerberos,
    Ntlm,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Negotiate => "negotiate",
            AuthMode::Kerberos => "kerberos",
            AuthMode::Ntlm => "ntlm",
        }
    }
}

/// `--realm`, `--kdc`, `--dns-server`.
#[derive(Debug, Clone, Default)]
pub struct KdcOptions {
    pub realm: Option<String>,
    pub kdcs: Vec<(String, u16)>,
    pub dns_servers: Vec<SocketAddr>,
}

/// The principal of the credential-less probe: an account that should not exist. A KDC
/// answers KDC_ERR_C_PRINCIPAL_UNKNOWN with its clock; a domain controller logs it as a failed
/// TGT request (Security 4768, result 0x6) for this name.
pub const PROBE_PRINCIPAL: &str = "rdp-doctor";
/// Offered in the AS-REQ: AES first, RC4 last so that ETYPE-INFO2 names an RC4-only account's
/// key type instead of saying nothing.
pub const AS_ETYPES: [i32; 3] = [
    crypto::AES256_CTS_HMAC_SHA1_96,
    crypto::AES128_CTS_HMAC_SHA1_96,
    crypto::RC4_HMAC,
];
/// Offered in the TGS-REQ: only what we can use.
pub const TGS_ETYPES: [i32; 2] = [
    crypto::AES256_CTS_HMAC_SHA1_96,
    crypto::AES128_CTS_HMAC_SHA1_96,
];
/// KDCs probed at most (SRV answers of large domains list dozens of DCs).
pub const MAX_KDCS: usize = 6;
/// Requested ticket lifetime.
const LIFETIME_S: i64 = 10 * 3600;

/// The realm of a domain member from its NTLM CHALLENGE: the DNS domain, upper-cased. A
/// workgroup server names itself as its domain (NetBIOS domain = computer name): no realm.
pub fn realm_from_challenge(n: &NtlmInfo) -> Option<String> {
    let dns = n.dns_domain.as_deref()?.trim_end_matches('.');
    if dns.is_empty() {
        return None;
    }
    let same = |a: Option<&String>, b: Option<&String>| match (a, b) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    };
    if same(n.netbios_domain.as_ref(), n.netbios_computer.as_ref()) {
        return None;
    }
    if n.dns_computer
        .as_deref()
        .is_some_and(|c| c.trim_end_matches('.').eq_ignore_ascii_case(dns))
    {
        return None;
    }
    Some(dns.to_ascii_uppercase())
}

/// The Kerberos client name and the realm a `--user` implies: `alice@corp.example` →
/// (`alice`, `CORP.EXAMPLE`); `CORP.EXAMPLE\alice` → (`alice`, `CORP.EXAMPLE`); a NetBIOS
/// domain (`CORP\alice`) or a bare name gives no realm.
pub fn principal_of(domain: &str, user: &str) -> (String, Option<String>) {
    if let Some((u, d)) = user.rsplit_once('@') {
        return (u.to_string(), Some(d.to_ascii_uppercase()));
    }
    if domain.contains('.') {
        return (user.to_string(), Some(domain.to_ascii_uppercase()));
    }
    (user.to_string(), None)
}

/// RFC 6761 special-use names that never resolve (6.4 `invalid`, 6.3 `localhost`).
pub fn special_use(realm: &str) -> bool {
    let r = realm.to_ascii_lowercase();
    let r = r.trim_end_matches('.');
    ["invalid", "localhost"]
        .iter()
        .any(|s| r == *s || r.ends_with(&format!(".{s}")))
}

/// A KDC as discovered, resolved.
struct Candidate {
    host: String,
    port: u16,
    source: String,
    addrs: Result<Vec<SocketAddr>, String>,
}

async fn discover(
    realm: &str,
    o: &KdcOptions,
    timeout: Duration,
) -> (Option<DiscoveryFact>, Vec<Candidate>) {
    let start = Instant::now();
    if !o.kdcs.is_empty() {
        let mut out = Vec::new();
        for (host, port) in o.kdcs.iter().take(MAX_KDCS) {
            let addrs = dns::addresses(host, *port, &o.dns_servers, &[], timeout).await;
            out.push(Candidate {
                host: host.clone(),
                port: *port,
                source: "option".into(),
                addrs,
            });
        }
        let fact = DiscoveryFact {
            method: DiscoveryMethod::Option,
            queries: Vec::new(),
            duration_ms: net::ms(start.elapsed()),
        };
        return (Some(fact), out);
    }
    if special_use(realm) {
        let fact = DiscoveryFact {
            method: DiscoveryMethod::SpecialUseName,
            queries: Vec::new(),
            duration_ms: 0.0,
        };
        return (Some(fact), Vec::new());
    }
    let servers = if o.dns_servers.is_empty() {
        dns::system_servers()
    } else {
        o.dns_servers.clone()
    };
    let tcp_name = format!("_kerberos._tcp.{realm}");
    let udp_name = format!("_kerberos._udp.{realm}");
    let ((tf, tsrv, tresp), (uf, usrv, uresp)) = tokio::join!(
        dns::srv(&servers, &tcp_name, timeout),
        dns::srv(&servers, &udp_name, timeout)
    );
    let mut targets: Vec<(String, u16, String)> = Vec::new();
    for (list, src) in [(&tsrv, "srv-tcp"), (&usrv, "srv-udp")] {
        for s in list.iter() {
            match targets
                .iter_mut()
                .find(|(h, p, _)| *h == s.target && *p == s.port)
            {
                Some(t) => t.2 = "srv".into(),
                None => targets.push((s.target.clone(), s.port, src.into())),
            }
        }
    }
    targets.truncate(MAX_KDCS);
    let mut set = tokio::task::JoinSet::new();
    for (i, (host, port, source)) in targets.into_iter().enumerate() {
        let glue: Vec<std::net::IpAddr> = [&tresp, &uresp]
            .iter()
            .filter_map(|r| r.as_ref())
            .flat_map(|r| r.addresses(&host))
            .collect();
        let explicit = o.dns_servers.clone();
        set.spawn(async move {
            let addrs = dns::addresses(&host, port, &explicit, &glue, timeout).await;
            (
                i,
                Candidate {
                    host,
                    port,
                    source,
                    addrs,
                },
            )
        });
    }
    let mut cands: Vec<(usize, Candidate)> = Vec::new();
    while let Some(r) = set.join_next().await {
        if let Ok(c) = r {
            cands.push(c);
        }
    }
    cands.sort_by_key(|(i, _)| *i);
    let fact = DiscoveryFact {
        method: DiscoveryMethod::DnsSrv,
        queries: vec![tf, uf],
        duration_ms: net::ms(start.elapsed()),
    };
    (Some(fact), cands.into_iter().map(|(_, c)| c).collect())
}

/// A whole Kerberos message from a KDC, and when it was asked and answered.
struct Answer {
    bytes: Vec<u8>,
    kdc: SocketAddr,
    transport: &'static str,
    sent_us: i64,
    recv_us: i64,
    duration_ms: f64,
}

fn kdc_progress(buf: &[u8]) -> FrameProgress {
    match kerberos::kdc_frame_len(buf) {
        KdcFrame::Complete(n) => FrameProgress::Complete(4 + n),
        KdcFrame::Incomplete(_) => FrameProgress::NeedMore,
        KdcFrame::Invalid(_) => FrameProgress::Invalid,
    }
}

async fn tcp_exchange(
    addr: SocketAddr,
    msg: &[u8],
    timeout: Duration,
) -> (KdcReach, Option<Answer>) {
    let (o, stream) = net::connect(addr, timeout, net::ConnectOpts::default()).await;
    let connect_ms = match &o {
        TcpOutcome::Connected { duration_ms, .. } => *duration_ms,
        TcpOutcome::Refused { duration_ms } => {
            return (
                KdcReach::Refused {
                    duration_ms: *duration_ms,
                },
                None,
            )
        }
        TcpOutcome::Filtered { timeout_ms } => {
            return (
                KdcReach::Filtered {
                    timeout_ms: *timeout_ms,
                },
                None,
            )
        }
        TcpOutcome::Unreachable {
            duration_ms, error, ..
        } => {
            return (
                KdcReach::Unreachable {
                    duration_ms: *duration_ms,
                    error: error.clone(),
                },
                None,
            )
        }
        TcpOutcome::Error { error, .. } => {
            return (
                KdcReach::Error {
                    error: error.clone(),
                },
                None,
            )
        }
        // Accepted and reset before the request: closed with nothing read.
        TcpOutcome::Reset { duration_ms } => {
            return (
                KdcReach::Closed {
                    duration_ms: *duration_ms,
                    bytes: 0,
                },
                None,
            )
        }
        TcpOutcome::NotTried => return (KdcReach::NotTried, None),
    };
    let Some(mut s) = stream else {
        return (KdcReach::NotTried, None);
    };
    let start = Instant::now();
    let sent_us = crate::clock::now_unix_us();
    let framed = kerberos::tcp_frame(msg);
    match tokio::time::timeout(timeout, s.write_all(&framed)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            return (
                KdcReach::Error {
                    error: e.to_string(),
                },
                None,
            )
        }
        Err(_) => {
            return (
                KdcReach::Silent {
                    timeout_ms: net::ms(timeout),
                },
                None,
            )
        }
    }
    let mut buf = Vec::new();
    let end = net::read_frame(
        &mut s,
        &mut buf,
        4 + kerberos::MAX_KDC_MESSAGE,
        timeout,
        kdc_progress,
    )
    .await;
    let recv_us = crate::clock::now_unix_us();
    let answer_ms = net::ms(start.elapsed());
    match end {
        ReadEnd::Frame { len } => {
            let bytes = buf.get(4..len).unwrap_or(&[]).to_vec();
            (
                KdcReach::Answered {
                    connect_ms: Some(connect_ms),
                    answer_ms,
                    bytes: bytes.len(),
                },
                Some(Answer {
                    bytes,
                    kdc: addr,
                    transport: "tcp",
                    sent_us,
                    recv_us,
                    duration_ms: answer_ms,
                }),
            )
        }
        ReadEnd::Timeout => (
            KdcReach::Silent {
                timeout_ms: net::ms(timeout),
            },
            None,
        ),
        ReadEnd::Eof | ReadEnd::Reset => (
            KdcReach::Closed {
                duration_ms: answer_ms,
                bytes: buf.len(),
            },
            None,
        ),
        ReadEnd::Invalid => (
            KdcReach::Malformed {
                error: match kerberos::kdc_frame_len(&buf) {
                    KdcFrame::Invalid(e) => e.to_string(),
                    _ => format!("{} bytes without a whole message", buf.len()),
                },
            },
            None,
        ),
        ReadEnd::Error(e) => (KdcReach::Error { error: e }, None),
    }
}

async fn udp_exchange(
    addr: SocketAddr,
    msg: &[u8],
    timeout: Duration,
) -> (KdcReach, Option<Answer>) {
    let bind: SocketAddr = if addr.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let sock = match tokio::net::UdpSocket::bind(bind).await {
        Ok(s) => s,
        Err(e) => {
            return (
                KdcReach::Error {
                    error: e.to_string(),
                },
                None,
            )
        }
    };
    if let Err(e) = sock.connect(addr).await {
        return (
            KdcReach::Error {
                error: e.to_string(),
            },
            None,
        );
    }
    let start = Instant::now();
    let sent_us = crate::clock::now_unix_us();
    if let Err(e) = sock.send(msg).await {
        return (
            KdcReach::Error {
                error: e.to_string(),
            },
            None,
        );
    }
    let mut buf = vec![0u8; kerberos::MAX_KDC_MESSAGE];
    match tokio::time::timeout(timeout, sock.recv(&mut buf)).await {
        Err(_) => (
            KdcReach::Silent {
                timeout_ms: net::ms(timeout),
            },
            None,
        ),
        // ICMP port unreachable: ECONNREFUSED on Linux, WSAECONNRESET on Windows.
        Ok(Err(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset
            ) =>
        {
            (
                KdcReach::Refused {
                    duration_ms: net::ms(start.elapsed()),
                },
                None,
            )
        }
        Ok(Err(e)) => (
            KdcReach::Error {
                error: e.to_string(),
            },
            None,
        ),
        Ok(Ok(n)) => {
            let answer_ms = net::ms(start.elapsed());
            let bytes = buf.get(..n).unwrap_or(&[]).to_vec();
            (
                KdcReach::Answered {
                    connect_ms: None,
                    answer_ms,
                    bytes: n,
                },
                Some(Answer {
                    bytes,
                    kdc: addr,
                    transport: "udp",
                    sent_us,
                    recv_us: crate::clock::now_unix_us(),
                    duration_ms: answer_ms,
                }),
            )
        }
    }
}

/// Every candidate over TCP and UDP at once with `msg`. Returns the endpoints and the best
/// answer: the first candidate's (in discovery order) TCP answer, else its UDP answer.
async fn reach_all(
    cands: &[Candidate],
    msg: &[u8],
    timeout: Duration,
) -> (Vec<KdcEndpoint>, Option<Answer>) {
    let mut set = tokio::task::JoinSet::new();
    for (i, c) in cands.iter().enumerate() {
        let Ok(addrs) = &c.addrs else { continue };
        let Some(addr) = addrs.first().copied() else {
            continue;
        };
        let m = msg.to_vec();
        set.spawn(async move {
            let (t, u) = tokio::join!(
                tcp_exchange(addr, &m, timeout),
                udp_exchange(addr, &m, timeout)
            );
            (i, addr, t, u)
        });
    }
    let mut results = Vec::new();
    while let Some(r) = set.join_next().await {
        if let Ok(v) = r {
            results.push(v);
        }
    }
    results.sort_by_key(|(i, ..)| *i);
    let mut endpoints: Vec<KdcEndpoint> = cands
        .iter()
        .map(|c| KdcEndpoint {
            host: c.host.clone(),
            port: c.port,
            address: None,
            source: c.source.clone(),
            tcp: KdcReach::NotTried,
            udp: KdcReach::NotTried,
            resolve_error: c.addrs.as_ref().err().map(|e| escape(e)),
        })
        .collect();
    let mut best: Option<Answer> = None;
    let mut best_udp: Option<Answer> = None;
    for (i, addr, (treach, tans), (ureach, uans)) in results {
        if let Some(e) = endpoints.get_mut(i) {
            e.address = Some(addr.ip().to_string());
            e.tcp = treach;
            e.udp = ureach;
        }
        if best.is_none() {
            best = tans;
        }
        if best_udp.is_none() {
            best_udp = uans;
        }
    }
    (endpoints, best.or(best_udp))
}

/// One more request to the KDC that answered: over the transport it answered on; a UDP answer
/// KRB_ERR_RESPONSE_TOO_BIG is asked again over TCP (RFC 4120 7.2.1).
async fn send(
    kdc: SocketAddr,
    transport: &str,
    msg: &[u8],
    timeout: Duration,
) -> (KdcReach, Option<Answer>) {
    if transport == "udp" {
        let (r, a) = udp_exchange(kdc, msg, timeout).await;
        let too_big = a.as_ref().is_some_and(|a| {
            matches!(kerberos::decode_kdc_answer(&a.bytes), Ok(KdcAnswer::Error(ref e)) if e.error_code == 52)
        });
        if !too_big {
            return (r, a);
        }
    }
    tcp_exchange(kdc, msg, timeout).await
}

fn rfc3339_us(us: i64) -> String {
    crate::cert::rfc3339(us.div_euclid(1_000_000))
}

/// A KRB-ERROR as the report keeps it.
fn error_reply(e: &KrbError) -> KdcReply {
    let md = e.method_data().unwrap_or_default();
    KdcReply::Error {
        code: e.error_code,
        name: kerberos::error_name(e.error_code).map(String::from),
        e_text: e.e_text.as_deref().map(escape),
        extended_status: e.extended_status(),
        kdc_time: rfc3339_us(e.server_time_us()),
        padata_types: md.iter().map(|p| p.pa_type).collect(),
        etype_info: e
            .etype_info2()
            .unwrap_or_default()
            .iter()
            .map(|i| EtypeInfo {
                etype: i.etype,
                name: crypto::etype_label(i.etype),
                salt_given: i.salt.is_some(),
            })
            .collect(),
    }
}

/// The exchange record for an answer (or its absence).
fn exchange(step: KdcStep, request: String, reach: &KdcReach, ans: Option<&Answer>) -> KdcExchange {
    let (reply, kdc, transport, duration_ms) = match ans {
        None => (
            KdcReply::NoAnswer {
                detail: reach.describe(),
            },
            None,
            None,
            0.0,
        ),
        Some(a) => {
            let reply = match kerberos::decode_kdc_answer(&a.bytes) {
                Ok(KdcAnswer::Error(e)) => error_reply(&e),
                // Filled in by the caller once the reply is opened.
                Ok(KdcAnswer::Rep(_)) => KdcReply::Malformed {
                    error: "not opened".into(),
                },
                Err(e) => KdcReply::Malformed {
                    error: e.to_string(),
                },
            };
            (
                reply,
                Some(a.kdc.to_string()),
                Some(a.transport.to_string()),
                a.duration_ms,
            )
        }
    };
    KdcExchange {
        step,
        request,
        kdc,
        transport,
        duration_ms,
        reply,
    }
}

fn skew_of(a: &Answer) -> Option<f64> {
    match kerberos::decode_kdc_answer(&a.bytes) {
        Ok(KdcAnswer::Error(e)) => {
            let local = (a.sent_us + a.recv_us) / 2;
            let s = (e.server_time_us() - local) as f64 / 1e6;
            Some((s * 100.0).round() / 100.0)
        }
        _ => None,
    }
}

fn new_fact(
    realm: &str,
    source: RealmSource,
    target_is_ip: bool,
    with_credentials: bool,
) -> KdcFact {
    KdcFact {
        realm: realm.to_string(),
        realm_source: source,
        duration_ms: 0.0,
        discovery: None,
        kdcs: Vec::new(),
        clock_skew_seconds: None,
        exchanges: Vec::new(),
        spn: None,
        target_is_ip,
        unavailable: None,
        with_credentials,
    }
}

/// Without credentials: discovery, reachability over TCP and UDP, the KDC's clock.
pub async fn probe(
    realm: &str,
    source: RealmSource,
    o: &KdcOptions,
    host: &str,
    target_is_ip: bool,
    timeout: Duration,
) -> KdcFact {
    let start = Instant::now();
    let mut fact = new_fact(realm, source, target_is_ip, false);
    if !target_is_ip {
        fact.spn = Some(format!("TERMSRV/{host}"));
    }
    let (disc, cands) = discover(realm, o, timeout).await;
    fact.discovery = disc;
    if !cands.is_empty() {
        let now = crate::clock::now_unix();
        let nonce: u32 = rand::random::<u32>() & 0x7FFF_FFFF;
        let msg = kerberos::as_req(
            PROBE_PRINCIPAL,
            realm,
            nonce,
            now + LIFETIME_S,
            &AS_ETYPES,
            vec![PaData::pac_request(true)],
        );
        let (endpoints, ans) = reach_all(&cands, &msg, timeout).await;
        fact.kdcs = endpoints;
        let reach = fact
            .kdcs
            .first()
            .map(|k| k.tcp.clone())
            .unwrap_or(KdcReach::NotTried);
        fact.clock_skew_seconds = ans.as_ref().and_then(skew_of);
        fact.exchanges.push(exchange(
            KdcStep::Probe,
            format!("{PROBE_PRINCIPAL}@{realm} for krbtgt/{realm} (no password)"),
            &reach,
            ans.as_ref(),
        ));
    }
    fact.duration_ms = net::ms(start.elapsed());
    fact
}

/// A service ticket for the target, ready for the AP-REQ.
pub struct ServiceTicket {
    pub cred: Credential,
    pub cname: String,
    pub realm: String,
    pub spn: String,
}

/// What the credentialed Kerberos attempt ended with.
pub enum Tickets {
    Ready(Box<ServiceTicket>),
    /// Kerberos cannot be used here (negotiate falls back to NTLM).
    Unavailable(KerberosUnavailable),
    /// The KDC refused (the error is the fact's last exchange), or a client-side failure.
    Failed,
}

/// With credentials: discovery, the AS exchange (probe, then pre-authentication), the TGS
/// exchange for `TERMSRV/<host>`.
#[allow(clippy::too_many_arguments)]
pub async fn tickets(
    realm: &str,
    source: RealmSource,
    o: &KdcOptions,
    cname: &str,
    password: &Secret,
    host: &str,
    target_is_ip: bool,
    timeout: Duration,
) -> (KdcFact, Tickets) {
    let start = Instant::now();
    let mut fact = new_fact(realm, source, target_is_ip, true);
    let done = |mut f: KdcFact, t: Tickets| {
        f.duration_ms = net::ms(start.elapsed());
        if let Tickets::Unavailable(u) = &t {
            f.unavailable = Some(*u);
        }
        (f, t)
    };
    if target_is_ip {
        return done(fact, Tickets::Unavailable(KerberosUnavailable::TargetIsIp));
    }
    let spn = format!("TERMSRV/{host}");
    fact.spn = Some(spn.clone());
    let (disc, cands) = discover(realm, o, timeout).await;
    fact.discovery = disc;
    if cands.iter().all(|c| c.addrs.is_err()) {
        if !cands.is_empty() {
            fact.kdcs = cands
                .iter()
                .map(|c| KdcEndpoint {
                    host: c.host.clone(),
                    port: c.port,
                    address: None,
                    source: c.source.clone(),
                    tcp: KdcReach::NotTried,
                    udp: KdcReach::NotTried,
                    resolve_error: c.addrs.as_ref().err().map(|e| escape(e)),
                })
                .collect();
            return done(
                fact,
                Tickets::Unavailable(KerberosUnavailable::KdcUnreachable),
            );
        }
        return done(fact, Tickets::Unavailable(KerberosUnavailable::KdcNotFound));
    }

    // 1. AS-REQ without pre-authentication: clock, principal state, salt.
    let who = format!("{cname}@{realm}");
    let nonce: u32 = rand::random::<u32>() & 0x7FFF_FFFF;
    let now = crate::clock::now_unix();
    let first = kerberos::as_req(
        cname,
        realm,
        nonce,
        now + LIFETIME_S,
        &AS_ETYPES,
        vec![PaData::pac_request(true)],
    );
    let (endpoints, ans) = reach_all(&cands, &first, timeout).await;
    fact.kdcs = endpoints;
    let Some(ans) = ans else {
        let reach = fact
            .kdcs
            .first()
            .map(|k| k.tcp.clone())
            .unwrap_or(KdcReach::NotTried);
        fact.exchanges.push(exchange(
            KdcStep::Probe,
            format!("{who} for krbtgt/{realm} (no password)"),
            &reach,
            None,
        ));
        return done(
            fact,
            Tickets::Unavailable(KerberosUnavailable::KdcUnreachable),
        );
    };
    fact.clock_skew_seconds = skew_of(&ans);
    let (kdc, transport) = (ans.kdc, ans.transport);
    let mut probe_ex = exchange(
        KdcStep::Probe,
        format!("{who} for krbtgt/{realm} (no password)"),
        &KdcReach::NotTried,
        Some(&ans),
    );
    let answer = kerberos::decode_kdc_answer(&ans.bytes);
    let (etype, salt, s2k, cookie, direct_rep) = match answer {
        Err(e) => {
            probe_ex.reply = KdcReply::Malformed {
                error: e.to_string(),
            };
            fact.exchanges.push(probe_ex);
            return done(fact, Tickets::Failed);
        }
        Ok(KdcAnswer::Error(e)) => {
            let is_etype = e.error_code == 14
                || (e.error_code == 25
                    && !e
                        .etype_info2()
                        .unwrap_or_default()
                        .iter()
                        .any(|i| crypto::is_supported(i.etype)));
            fact.exchanges.push(probe_ex);
            if is_etype {
                return done(
                    fact,
                    Tickets::Unavailable(KerberosUnavailable::EtypeNotSupported),
                );
            }
            if e.error_code != 25 {
                return done(fact, Tickets::Failed);
            }
            let info = e.etype_info2().unwrap_or_default();
            let Some(entry) = info.into_iter().find(|i| crypto::is_supported(i.etype)) else {
                return done(
                    fact,
                    Tickets::Unavailable(KerberosUnavailable::EtypeNotSupported),
                );
            };
            let cookie = e
                .method_data()
                .unwrap_or_default()
                .into_iter()
                .find(|p| p.pa_type == pa_type::FX_COOKIE);
            (entry.etype, entry.salt, entry.s2kparams, cookie, None)
        }
        // An account without pre-authentication gets its AS-REP right away.
        Ok(KdcAnswer::Rep(rep)) => {
            let info = rep
                .padata
                .iter()
                .find(|p| p.pa_type == pa_type::ETYPE_INFO2)
                .and_then(|p| {
                    rdp_doctor_wire::kerberos::messages::EtypeInfo2Entry::decode_list(&p.value).ok()
                })
                .and_then(|l| l.into_iter().next());
            fact.exchanges.push(probe_ex);
            let etype = rep.enc_part.etype;
            (
                etype,
                info.as_ref().and_then(|i| i.salt.clone()),
                info.and_then(|i| i.s2kparams),
                None,
                Some(rep),
            )
        }
    };
    // RFC 4120 4: the default salt is the realm followed by the name components.
    let salt = salt.unwrap_or_else(|| format!("{realm}{cname}"));
    let key = match Key::from_password(etype, password.expose(), salt.as_bytes(), s2k.as_deref()) {
        Ok(k) => k,
        Err(e) => {
            fact.exchanges.push(KdcExchange {
                step: KdcStep::As,
                request: format!("{who} for krbtgt/{realm}"),
                kdc: Some(kdc.to_string()),
                transport: Some(transport.into()),
                duration_ms: 0.0,
                reply: KdcReply::ClientError {
                    error: format!("cannot derive the key: {e}"),
                },
            });
            return done(fact, Tickets::Failed);
        }
    };

    // 2. AS-REQ with PA-ENC-TIMESTAMP (or the AS-REP that already came).
    let (as_rep, as_nonce) = match direct_rep {
        Some(rep) => (rep, nonce),
        None => {
            let us = crate::clock::now_unix_us();
            let mut padata = Vec::new();
            if let Some(c) = cookie {
                padata.push(c);
            }
            padata.push(kerberos::pa_enc_timestamp(
                &key,
                us.div_euclid(1_000_000),
                us.rem_euclid(1_000_000) as u32,
                &rand::random(),
            ));
            padata.push(PaData::pac_request(true));
            let nonce2: u32 = rand::random::<u32>() & 0x7FFF_FFFF;
            let msg = kerberos::as_req(
                cname,
                realm,
                nonce2,
                crate::clock::now_unix() + LIFETIME_S,
                &AS_ETYPES,
                padata,
            );
            let (reach, ans) = send(kdc, transport, &msg, timeout).await;
            let ex = exchange(
                KdcStep::As,
                format!("{who} for krbtgt/{realm}"),
                &reach,
                ans.as_ref(),
            );
            match kdc_rep(&mut fact, ex, ans.as_ref()) {
                Ok((rep, ex)) => {
                    fact.exchanges.push(ex);
                    (rep, nonce2)
                }
                Err(t) => return done(fact, t),
            }
        }
    };
    let tgt = match open(&as_rep, &key, key_usage::AS_REP_ENC_PART, as_nonce) {
        Ok((c, reply)) => {
            if let Some(last) = fact.exchanges.last_mut() {
                if last.step == KdcStep::As || last.step == KdcStep::Probe {
                    last.reply = reply;
                }
            }
            c
        }
        Err(e) => {
            if let Some(last) = fact.exchanges.last_mut() {
                last.reply = KdcReply::Malformed { error: e };
            }
            return done(fact, Tickets::Failed);
        }
    };
    drop(key);

    // 3. TGS-REQ for TERMSRV/<host>.
    let sname = PrincipalName::service("TERMSRV", host);
    let us = crate::clock::now_unix_us();
    let tnonce: u32 = rand::random::<u32>() & 0x7FFF_FFFF;
    let who_t = ClientTime {
        user: cname,
        realm,
        unix: us.div_euclid(1_000_000),
        usec: us.rem_euclid(1_000_000) as u32,
    };
    let msg = kerberos::tgs_req(
        &tgt,
        who_t,
        &sname,
        tnonce,
        crate::clock::now_unix() + LIFETIME_S,
        &TGS_ETYPES,
        &rand::random(),
    );
    let (reach, ans) = send(kdc, transport, &msg, timeout).await;
    let ex = exchange(KdcStep::Tgs, spn.clone(), &reach, ans.as_ref());
    let (rep, mut ex) = match kdc_rep(&mut fact, ex, ans.as_ref()) {
        Ok(r) => r,
        Err(t) => return done(fact, t),
    };
    match open(
        &rep,
        &tgt.session_key,
        key_usage::TGS_REP_ENC_PART_SESSION,
        tnonce,
    ) {
        Ok((svc, reply)) => {
            ex.reply = reply;
            fact.exchanges.push(ex);
            let t = ServiceTicket {
                cred: svc,
                cname: cname.to_string(),
                realm: realm.to_string(),
                spn,
            };
            done(fact, Tickets::Ready(Box::new(t)))
        }
        Err(e) => {
            ex.reply = KdcReply::Malformed { error: e };
            fact.exchanges.push(ex);
            done(fact, Tickets::Failed)
        }
    }
}

/// The KDC-REP an AS or TGS exchange brought, with its exchange record (the caller opens the
/// reply); or, without one, how the attempt ends, the exchange then in the fact: the KDC
/// refused (a KRB-ERROR: an etype it does not share, or for TGS an unknown SPN, lets
/// negotiate fall back to NTLM; an AS refusal's time gives the clock skew the probe did not),
/// the answer does not decode, or no answer came.
fn kdc_rep(
    fact: &mut KdcFact,
    mut ex: KdcExchange,
    ans: Option<&Answer>,
) -> Result<(KdcRep, KdcExchange), Tickets> {
    let t = match ans.map(|a| kerberos::decode_kdc_answer(&a.bytes)) {
        Some(Ok(KdcAnswer::Rep(rep))) => return Ok((rep, ex)),
        Some(Ok(KdcAnswer::Error(e))) => {
            if ex.step == KdcStep::As && fact.clock_skew_seconds.is_none() {
                fact.clock_skew_seconds = ans.and_then(skew_of);
            }
            match (ex.step, e.error_code) {
                (_, 14) => Tickets::Unavailable(KerberosUnavailable::EtypeNotSupported),
                (KdcStep::Tgs, 7) => Tickets::Unavailable(KerberosUnavailable::SpnUnknown),
                _ => Tickets::Failed,
            }
        }
        Some(Err(e)) => {
            ex.reply = KdcReply::Malformed {
                error: e.to_string(),
            };
            Tickets::Failed
        }
        None => Tickets::Unavailable(KerberosUnavailable::KdcUnreachable),
    };
    fact.exchanges.push(ex);
    Err(t)
}

/// Opens a KDC-REP; the report's view of it.
fn open(rep: &KdcRep, key: &Key, usage: u32, nonce: u32) -> Result<(Credential, KdcReply), String> {
    if !crypto::is_supported(rep.enc_part.etype) {
        return Err(format!(
            "the reply is encrypted with {}, which rdp-doctor does not speak",
            crypto::etype_label(rep.enc_part.etype)
        ));
    }
    let c = kerberos::open_kdc_rep(rep, key, usage, nonce).map_err(|e| e.to_string())?;
    let ti = TicketInfo::decode(&c.ticket).ok();
    let reply = KdcReply::Ticket {
        session_etype: c.session_key.etype(),
        ticket_etype: ti.as_ref().map(|t| t.etype).unwrap_or(0),
        ticket_kvno: ti.as_ref().and_then(|t| t.kvno),
        server: format!("{}@{}", c.part.sname, c.part.srealm),
        password_expires: c.part.key_expiration.map(crate::cert::rfc3339),
    };
    Ok((c, reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ntlm(nb_c: &str, nb_d: &str, dns_c: &str, dns_d: &str) -> NtlmInfo {
        NtlmInfo {
            netbios_computer: Some(nb_c.into()),
            netbios_domain: Some(nb_d.into()),
            dns_computer: Some(dns_c.into()),
            dns_domain: Some(dns_d.into()),
            ..NtlmInfo::default()
        }
    }

    #[test]
    fn a_domain_member_names_its_realm_a_workgroup_server_does_not() {
        assert_eq!(
            realm_from_challenge(&ntlm("SRV01", "CORP", "srv01.corp.example", "corp.example")),
            Some("CORP.EXAMPLE".into())
        );
        // the lab server and a standalone Windows: NetBIOS domain = computer name
        assert_eq!(
            realm_from_challenge(&ntlm(
                "RDPLAB",
                "RDPLAB",
                "rdplab.lab.invalid",
                "lab.invalid"
            )),
            None
        );
        assert_eq!(
            realm_from_challenge(&ntlm("WS1", "WORKGROUP", "ws1", "ws1")),
            None
        );
        assert_eq!(realm_from_challenge(&NtlmInfo::default()), None);
    }

    #[test]
    fn the_user_name_gives_the_realm() {
        assert_eq!(
            principal_of("", "alice@rdpdoc.test"),
            ("alice".into(), Some("RDPDOC.TEST".into()))
        );
        assert_eq!(
            principal_of("corp.example", "bob"),
            ("bob".into(), Some("CORP.EXAMPLE".into()))
        );
        assert_eq!(principal_of("CORP", "bob"), ("bob".into(), None));
        assert_eq!(principal_of("", "bob"), ("bob".into(), None));
        assert!(special_use("LAB.INVALID"));
        assert!(special_use("localhost"));
        assert!(!special_use("RDPDOC.TEST"));
    }
}
