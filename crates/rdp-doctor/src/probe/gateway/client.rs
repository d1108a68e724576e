//! `check --gateway`: the client side of an RD Gateway ([MS-TSGU] 3.3.5). The gateway's
//! resolve, TCP and TLS (the same steps and certificate analysis as for an RDP server), an
//! unauthenticated `RDG_OUT_DATA` (what the HTTP endpoint is), NTLM or the access token on the
//! same connection with the WebSocket upgrade (the legacy two-connection transport when the
//! upgrade is refused or stripped), then HANDSHAKE, TUNNEL_CREATE, TUNNEL_AUTH (the CAP) and
//! CHANNEL_CREATE (the RAP and the gateway's own connection to the target). An open channel
//! becomes a byte stream for the target's phases. Every read is bounded in bytes and time.

use super::channel::{Framing, PduRx, PduTx, RxEvent};
use crate::credentials::{Credentials, Secret};
use crate::facts::gateway::*;
use crate::facts::{AddressFact, Timeline};
use crate::model::{Phase, Target};
use crate::probe::{net, resolve, tls, CheckOptions};
use base64::Engine as _;
use rdp_doctor_wire::gateway::http1::{
    self, BodyFraming, HeadStatus, Headers, RequestHead, ResponseHead,
};
use rdp_doctor_wire::gateway::tsgu::{self, caps, ext_auth, Pdu};
use rdp_doctor_wire::gateway::websocket::{self, Opcode, Role};
use rdp_doctor_wire::gateway::{hresult, RDG_IN_DATA, RDG_OUT_DATA, RDG_PATH, USER_AGENT};
use rdp_doctor_wire::ntlm::{self, ClientAuthInput, Key16, Negotiate, Version};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::TcpStream;
use zeroize::Zeroizing;

/// How to reach the gateway and what to prove to it.
#[derive(Clone)]
pub struct GatewayOptions {
    pub target: Target,
    /// Gateway credentials (`--gateway-user`, or `--user`'s when the same).
    pub credentials: Option<Arc<Credentials>>,
    /// The access token (PAA, `gatewayaccesstoken`).
    pub token: Option<Arc<Secret>>,
    pub pinned_sha256: Option<String>,
    pub insecure: bool,
}

/// Most bytes of a response body read and dropped.
const MAX_BODY: u64 = 64 * 1024;
/// The client name sent in TUNNEL_AUTH.
const CLIENT_NAME: &str = "rdp-doctor";

type Tls = tokio_rustls::client::TlsStream<tls::Counting<TcpStream>>;

/// One TLS connection to the gateway with the bytes read past the last head.
struct Http {
    s: Tls,
    buf: Vec<u8>,
}

/// What came back for a request.
enum Answer {
    Head(ResponseHead),
    NotHttp(Vec<u8>),
    Closed,
    Reset,
    Stalled,
    Error(String),
}

impl Http {
    async fn request(&mut self, head: &RequestHead, timeout: Duration) -> Answer {
        match self.send(&head.encode()).await {
            Ok(()) => self.answer(timeout).await,
            Err(a) => a,
        }
    }

    /// Writes an encoded request head.
    async fn send(&mut self, head: &[u8]) -> Result<(), Answer> {
        if let Err(e) = self.s.write_all(head).await {
            return Err(match net::io_end(&e) {
                net::ReadEnd::Reset => Answer::Reset,
                net::ReadEnd::Eof => Answer::Closed,
                _ => Answer::Error(e.to_string()),
            });
        }
        let _ = self.s.flush().await;
        Ok(())
    }

    /// Reads the response head to the request sent.
    async fn answer(&mut self, timeout: Duration) -> Answer {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match http1::response_head_status(&self.buf) {
                HeadStatus::Complete { len } => {
                    let parsed = ResponseHead::parse(self.buf.get(..len).unwrap_or(&[]));
                    self.buf.drain(..len);
                    let h = match parsed {
                        Ok(h) => h,
                        Err(e) => return Answer::Error(format!("bad response head: {e}")),
                    };
                    // Drop a length-delimited body; a legacy OUT body stays for the PDUs.
                    if let Ok(BodyFraming::Length(n)) = h.framing() {
                        let n = n.min(MAX_BODY) as usize;
                        while self.buf.len() < n {
                            if self.read_more(deadline).await.is_err() {
                                break;
                            }
                        }
                        self.buf.drain(..n.min(self.buf.len()));
                    }
                    return Answer::Head(h);
                }
                HeadStatus::NotHttp => return Answer::NotHttp(self.buf.clone()),
                HeadStatus::TooLarge => return Answer::Error("response head over 16 KiB".into()),
                HeadStatus::Incomplete => {}
            }
            match self.read_more(deadline).await {
                Ok(()) => {}
                Err(a) => return a,
            }
        }
    }

    async fn read_more(&mut self, deadline: tokio::time::Instant) -> Result<(), Answer> {
        let mut tmp = [0u8; 8192];
        match tokio::time::timeout_at(deadline, self.s.read(&mut tmp)).await {
            Err(_) => Err(Answer::Stalled),
            Ok(Ok(0)) => Err(Answer::Closed),
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(tmp.get(..n).unwrap_or(&[]));
                Ok(())
            }
            Ok(Err(e)) => Err(match net::io_end(&e) {
                net::ReadEnd::Reset => Answer::Reset,
                net::ReadEnd::Eof => Answer::Closed,
                _ => Answer::Error(e.to_string()),
            }),
        }
    }
}

/// The request head FreeRDP 3 writes ([MS-TSGU] 3.3.5.1), with the upgrade when `ws_key`.
fn rdg_request(method: &str, host: &str, conn_id: &str, ws_key: Option<&str>) -> RequestHead {
    let mut h = Headers::new()
        .with("Cache-Control", "no-cache")
        .with("Pragma", "no-cache")
        .with("Accept", "*/*")
        .with("User-Agent", USER_AGENT)
        .with("Host", host);
    match ws_key {
        Some(k) => {
            h.push("Connection", "Upgrade");
            h.push("Upgrade", "websocket");
            h.push("Sec-WebSocket-Version", "13");
            h.push("Sec-WebSocket-Key", k);
        }
        None => h.push("Connection", "Keep-Alive"),
    }
    h.push("RDG-Connection-Id", conn_id);
    h.push("RDG-Correlation-Id", conn_id);
    RequestHead {
        method: method.into(),
        target: RDG_PATH.into(),
        version: "HTTP/1.1".into(),
        headers: h,
    }
}

fn with(mut r: RequestHead, name: &str, value: &str) -> RequestHead {
    r.headers.push(name, value);
    r
}

/// `with(r, name, value).encode()` for a `value` that carries a secret: the head is encoded
/// into a buffer sized once (no reallocation leaves a copy behind) and wiped when dropped; the
/// value never becomes a `String` of the head.
fn encode_with_secret(r: &RequestHead, name: &str, value: &[u8]) -> Zeroizing<Vec<u8>> {
    let head = r.encode();
    // The head ends with the empty line; the field goes before it.
    let fields = head.strip_suffix(b"\r\n").unwrap_or(&head);
    let mut out = Zeroizing::new(Vec::with_capacity(
        fields.len() + name.len() + value.len() + 6,
    ));
    out.extend_from_slice(fields);
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n\r\n");
    out
}

/// The `Authorization` value of Basic (RFC 7617 2), `Basic base64(user:password)`, in buffers
/// sized once and wiped when dropped.
fn basic_credentials(user: &str, password: &str) -> Zeroizing<Vec<u8>> {
    let mut plain = Zeroizing::new(Vec::with_capacity(user.len() + 1 + password.len()));
    plain.extend_from_slice(user.as_bytes());
    plain.push(b':');
    plain.extend_from_slice(password.as_bytes());
    const PREFIX: &[u8] = b"Basic ";
    let b64 = base64::engine::general_purpose::STANDARD;
    let len = base64::encoded_len(plain.len(), true).unwrap_or(0);
    let mut value = Zeroizing::new(vec![0u8; PREFIX.len() + len]);
    let (prefix, rest) = value.split_at_mut(PREFIX.len());
    prefix.copy_from_slice(PREFIX);
    // `rest` has exactly the encoded length: this cannot fail.
    let _ = b64.encode_slice(plain.as_slice(), rest);
    value
}

/// The status of a CLOSE_CHANNEL the gateway sent while the target's phases ran (set by the
/// pump; read after them).
pub type ClosedBy = Arc<std::sync::Mutex<Option<u32>>>;

/// The gateway's phases; the open channel as a byte stream when the tunnel opened.
pub async fn open(
    opts: &CheckOptions,
    gw: &GatewayOptions,
    t0: Instant,
    tl: &mut Timeline,
) -> (GatewayFacts, Option<(DuplexStream, ClosedBy)>) {
    let mut f = GatewayFacts::new(&gw.target.host, gw.target.port);
    // gw-resolve
    let (rf, addrs) = resolve::resolve(&gw.target, opts.timeout).await;
    tl.add(Phase::GwResolve, 0.0, rf.duration_ms);
    f.resolve = Some(rf);
    // gw-tcp: the first address that connects
    let tcp_start = net::ms(t0.elapsed());
    let mut stream = None;
    for a in addrs {
        let (o, s) = net::connect(a, opts.timeout, net::ConnectOpts::default()).await;
        f.addresses.push(AddressFact {
            address: a.ip().to_string(),
            tcp: o,
        });
        if let Some(s) = s {
            stream = Some((a, s));
            break;
        }
    }
    tl.add(Phase::GwTcp, tcp_start, net::ms(t0.elapsed()) - tcp_start);
    let Some((addr, stream)) = stream else {
        return (f, None);
    };
    f.address_used = Some(addr.ip().to_string());
    // gw-tls
    let t_start = net::ms(t0.elapsed());
    let tr = tls::handshake(stream, &gw.target.host, opts.timeout).await;
    tl.add(Phase::GwTls, t_start, tr.fact.duration_ms);
    if !tr.chain.is_empty() {
        f.certificate =
            crate::cert::analyze(&tr.chain, &gw.target.host, opts.now_unix, &opts.trust);
    }
    f.tls = Some(tr.fact);
    let Some(s) = tr.stream else {
        return (f, None);
    };
    let mut http = Http { s, buf: Vec::new() };
    // gw-http: unauthenticated, with the upgrade, as a client's first request
    let h_start = net::ms(t0.elapsed());
    let started = Instant::now();
    let conn_id = rdp_doctor_wire::gateway::guid_text(rand::random());
    let key = websocket::client_key(rand::random());
    let first = rdg_request(RDG_OUT_DATA, &gw.target.host, &conn_id, Some(&key));
    let first = with(first, "Content-Length", "0");
    let answer = http.request(&first, opts.timeout).await;
    let mut hf = http_fact(&answer, net::ms(started.elapsed()));
    if matches!(
        hf.outcome,
        GwHttpOutcome::NotFound | GwHttpOutcome::MethodBlocked
    ) {
        hf.rpc_status = rpc_probe(addr, gw, opts.timeout).await;
    }
    tl.add(Phase::GwHttp, h_start, hf.duration_ms);
    let outcome = hf.outcome;
    f.http = Some(hf);
    if !matches!(outcome, GwHttpOutcome::AuthRequired | GwHttpOutcome::Open) {
        return (f, None);
    }
    // gw-auth (+ the upgrade answer)
    let a_start = net::ms(t0.elapsed());
    let started = Instant::now();
    let schemes = f
        .http
        .as_ref()
        .map(|h| h.schemes.clone())
        .unwrap_or_default();
    let (mut af, last) = if outcome == GwHttpOutcome::Open {
        let af = GwAuthFact {
            outcome: GwAuthOutcome::Accepted,
            duration_ms: 0.0,
            scheme: None,
            user: None,
            status: None,
            ntlm: None,
            refused_because: Vec::new(),
            detail: Some("the gateway asked for no authentication".into()),
        };
        (af, Some(answer_head(answer)))
    } else {
        authenticate(
            &mut http,
            &first,
            &schemes,
            gw,
            f.certificate.as_ref(),
            opts,
        )
        .await
    };
    af.duration_ms = net::ms(started.elapsed());
    tl.add(Phase::GwAuth, a_start, af.duration_ms);
    let accepted = af.outcome == GwAuthOutcome::Accepted;
    f.auth = Some(af);
    let Some(Some(last)) = last.filter(|_| accepted) else {
        return (f, None);
    };
    // gw-transport
    let x_start = net::ms(t0.elapsed());
    let started = Instant::now();
    let ws_ok = last.status == 101
        && last
            .headers
            .get("sec-websocket-accept")
            .is_some_and(|a| a.trim().eq_ignore_ascii_case(&websocket::accept_key(&key)));
    let mut tf = GwTransportFact {
        outcome: match last.status {
            101 if ws_ok => GwTransportOutcome::WebSocket,
            101 => GwTransportOutcome::BadAccept,
            200 => GwTransportOutcome::UpgradeStripped,
            _ => GwTransportOutcome::UpgradeRefused,
        },
        status: Some(last.status),
        client_setting: None,
    };
    let channel = if ws_ok {
        tf.client_setting = Some(
            "WebSocket: mstsc automatic; FreeRDP 2 /gt:http; FreeRDP 3 /gateway:...,type:http"
                .into(),
        );
        let (r, w) = tokio::io::split(http.s);
        Some((
            PduRx::new(Box::new(r), Framing::WebSocket, Role::Client, http.buf),
            PduTx::new(Box::new(w), Framing::WebSocket, Role::Client),
        ))
    } else {
        // The legacy transport on two fresh connections, as clients fall back to it.
        let ch = legacy(addr, gw, f.certificate.as_ref(), opts).await;
        if let Err(why) = &ch {
            tf.client_setting = Some(format!("legacy HTTP transport failed too: {why}"));
        } else {
            tf.client_setting = Some(
                "legacy HTTP: FreeRDP 2 /gt:http,no-websockets; FreeRDP 3 /gateway:...,type:http,no-websockets; mstsc falls back by itself only when the upgrade is ignored".into(),
            );
        }
        ch.ok()
    };
    tl.add(Phase::GwTransport, x_start, net::ms(started.elapsed()));
    f.transport = Some(tf);
    let Some((mut rx, mut tx)) = channel else {
        return (f, None);
    };
    // gw-tunnel
    let u_start = net::ms(t0.elapsed());
    let started = Instant::now();
    let target = format!("{}:{}", opts.target.host, opts.target.port);
    let mut uf = GwTunnelFact::new(target);
    let open = tunnel(&mut rx, &mut tx, gw, opts, &mut uf).await;
    uf.duration_ms = net::ms(started.elapsed());
    tl.add(Phase::GwTunnel, u_start, uf.duration_ms);
    f.tunnel = Some(uf);
    if !open {
        return (f, None);
    }
    // The channel as a byte stream for the target's phases.
    let (mine, theirs) = tokio::io::duplex(64 * 1024);
    let closed: ClosedBy = Arc::default();
    tokio::spawn(pump(rx, tx, theirs, closed.clone()));
    (f, Some((mine, closed)))
}

fn answer_head(a: Answer) -> Option<ResponseHead> {
    match a {
        Answer::Head(h) => Some(h),
        _ => None,
    }
}

fn http_fact(a: &Answer, duration_ms: f64) -> GwHttpFact {
    let mut f = GwHttpFact {
        outcome: GwHttpOutcome::NoAnswer,
        duration_ms,
        status: None,
        reason: None,
        schemes: Vec::new(),
        server: None,
        location: None,
        allow: None,
        first_bytes_hex: None,
        rpc_status: None,
    };
    match a {
        Answer::Head(h) => {
            f.status = Some(h.status);
            f.reason = Some(h.reason.chars().take(120).collect());
            f.server = h
                .headers
                .get("server")
                .map(|s| s.chars().take(120).collect());
            f.location = h
                .headers
                .get("location")
                .map(|s| s.chars().take(200).collect());
            f.allow = h
                .headers
                .get("allow")
                .map(|s| s.chars().take(120).collect());
            f.schemes = http1::parse_challenges(h.headers.get_all("www-authenticate"))
                .into_iter()
                .map(|c| c.scheme)
                .collect();
            f.outcome = match h.status {
                401 => GwHttpOutcome::AuthRequired,
                101 | 200 => GwHttpOutcome::Open,
                404 => GwHttpOutcome::NotFound,
                403 | 405 | 501 => GwHttpOutcome::MethodBlocked,
                503 => GwHttpOutcome::ServiceUnavailable,
                300..=399 => GwHttpOutcome::Redirect,
                _ => GwHttpOutcome::OtherStatus,
            };
        }
        Answer::NotHttp(b) => {
            f.outcome = GwHttpOutcome::NotHttp;
            f.first_bytes_hex = Some(b.iter().take(16).map(|x| format!("{x:02x}")).collect());
        }
        Answer::Closed => f.outcome = GwHttpOutcome::NoAnswer,
        Answer::Reset => f.outcome = GwHttpOutcome::Reset,
        Answer::Stalled => f.outcome = GwHttpOutcome::Stalled,
        Answer::Error(_) => f.outcome = GwHttpOutcome::NotHttp,
    }
    f
}

/// `RPC_IN_DATA /rpc/rpcproxy.dll` on a fresh connection ([MS-RPCH] 2.1.2.1.1): whether the
/// RPC-over-HTTP transport answers where the RD Gateway resource did not.
async fn rpc_probe(addr: SocketAddr, gw: &GatewayOptions, timeout: Duration) -> Option<u16> {
    let mut http = connect(addr, gw, timeout).await?;
    let head = RequestHead {
        method: "RPC_IN_DATA".into(),
        target: "/rpc/rpcproxy.dll?localhost:3388".into(),
        version: "HTTP/1.1".into(),
        headers: Headers::new()
            .with("Cache-Control", "no-cache")
            .with("Pragma", "no-cache")
            .with("Accept", "application/rpc")
            .with("User-Agent", "MSRPC")
            .with("Host", &gw.target.host)
            .with("Content-Length", "0"),
    };
    match http.request(&head, timeout).await {
        Answer::Head(h) => Some(h.status),
        _ => None,
    }
}

async fn connect(addr: SocketAddr, gw: &GatewayOptions, timeout: Duration) -> Option<Http> {
    let (_, s) = net::connect(addr, timeout, net::ConnectOpts::default()).await;
    let tr = tls::handshake(s?, &gw.target.host, timeout).await;
    tr.stream.map(|s| Http { s, buf: Vec::new() })
}

/// NTLM (scheme `NTLM` when offered, else raw NTLMSSP under `Negotiate`) or the access token,
/// on the connection of the first answer. Returns the fact and the final answer's head.
async fn authenticate(
    http: &mut Http,
    first: &RequestHead,
    schemes: &[String],
    gw: &GatewayOptions,
    cert: Option<&crate::facts::CertFact>,
    opts: &CheckOptions,
) -> (GwAuthFact, Option<Option<ResponseHead>>) {
    let mut af = GwAuthFact {
        outcome: GwAuthOutcome::NoCredentials,
        duration_ms: 0.0,
        scheme: None,
        user: None,
        status: None,
        ntlm: None,
        refused_because: Vec::new(),
        detail: None,
    };
    if let Some(token) = &gw.token {
        let _ = token.expose();
        af.scheme = Some("PAA".into());
        let req = with(first.clone(), "RDG-Auth-Scheme", "PAA");
        return match http.request(&req, opts.timeout).await {
            Answer::Head(h) if h.status == 401 => {
                af.outcome = GwAuthOutcome::Rejected;
                af.status = Some(401);
                (af, None)
            }
            Answer::Head(h) => {
                af.outcome = GwAuthOutcome::Accepted;
                af.status = Some(h.status);
                (af, Some(Some(h)))
            }
            other => {
                af.outcome = GwAuthOutcome::Failed;
                af.detail = Some(describe(&other));
                (af, None)
            }
        };
    }
    let Some(creds) = &gw.credentials else {
        af.detail = Some("no gateway credentials: give --gateway-user (or --user)".into());
        return (af, None);
    };
    af.user = Some(if creds.domain.is_empty() {
        creds.user.clone()
    } else {
        format!("{}\\{}", creds.domain, creds.user)
    });
    let scheme = ["NTLM", "Negotiate"]
        .into_iter()
        .find(|s| schemes.iter().any(|o| o.eq_ignore_ascii_case(s)));
    if scheme.is_none() && schemes.iter().any(|o| o.eq_ignore_ascii_case("Basic")) {
        return basic(http, first, creds, af, gw, cert, opts).await;
    }
    let Some(scheme) = scheme else {
        af.outcome = GwAuthOutcome::NoUsableScheme;
        af.detail = Some(format!(
            "offered: {}",
            if schemes.is_empty() {
                "nothing".to_string()
            } else {
                schemes.join(", ")
            }
        ));
        return (af, None);
    };
    af.scheme = Some(scheme.into());
    match crate::credentials::gate(cert, gw.pinned_sha256.as_deref(), gw.insecure) {
        Ok(_) => {}
        Err(why) => {
            af.outcome = GwAuthOutcome::NotSent;
            af.refused_because = why;
            return (af, None);
        }
    }
    let (af, h) = ntlm_legs(http, first, scheme, creds, af, gw, opts).await;
    (af, Some(h))
}

/// Basic (RFC 7617) when it is all the gateway offers: the password itself travels in the
/// header, so only to a gateway whose certificate verified (trusted chain or a pinned
/// fingerprint) — `--insecure-send-credentials` does not extend to it.
async fn basic(
    http: &mut Http,
    req: &RequestHead,
    creds: &Credentials,
    mut af: GwAuthFact,
    gw: &GatewayOptions,
    cert: Option<&crate::facts::CertFact>,
    opts: &CheckOptions,
) -> (GwAuthFact, Option<Option<ResponseHead>>) {
    af.scheme = Some("Basic".into());
    match crate::credentials::gate(cert, gw.pinned_sha256.as_deref(), false) {
        Ok(_) => {}
        Err(mut why) => {
            why.push(
                "Basic sends the password itself: only to a gateway whose certificate verified"
                    .into(),
            );
            af.outcome = GwAuthOutcome::NotSent;
            af.refused_because = why;
            return (af, None);
        }
    }
    let user = if creds.domain.is_empty() {
        creds.user.clone()
    } else {
        format!("{}\\{}", creds.domain, creds.user)
    };
    let value = basic_credentials(&user, creds.password.expose());
    let head = encode_with_secret(req, "Authorization", &value);
    drop(value);
    let sent = http.send(&head).await;
    // Written: the head that carries the password is wiped now, before the answer comes.
    drop(head);
    let answer = match sent {
        Ok(()) => http.answer(opts.timeout).await,
        Err(a) => a,
    };
    match verdict(&mut af, answer) {
        Ok(h) => (af, h.map(Some)),
        Err(other) => {
            af.outcome = GwAuthOutcome::Failed;
            af.detail = Some(format!("answer to Basic: {}", describe(&other)));
            (af, None)
        }
    }
}

/// The gateway's answer to the request that carried the credentials: 401 is a rejection
/// (`Ok(None)`); 400, 5xx, 101 and 200 mean the credentials were accepted and what remains
/// is the upgrade's answer (`Ok(Some(head))`); anything else is for the caller (`Err`).
fn verdict(af: &mut GwAuthFact, answer: Answer) -> Result<Option<ResponseHead>, Answer> {
    match answer {
        Answer::Head(h) if h.status == 401 => {
            af.outcome = GwAuthOutcome::Rejected;
            af.status = Some(401);
            Ok(None)
        }
        Answer::Head(h)
            if h.status == 400 || h.status >= 500 || h.status == 101 || h.status == 200 =>
        {
            af.outcome = GwAuthOutcome::Accepted;
            af.status = Some(h.status);
            Ok(Some(h))
        }
        other => Err(other),
    }
}

/// NEGOTIATE -> 401 with the CHALLENGE -> AUTHENTICATE -> the final answer.
async fn ntlm_legs(
    http: &mut Http,
    req: &RequestHead,
    scheme: &str,
    creds: &Credentials,
    mut af: GwAuthFact,
    gw: &GatewayOptions,
    opts: &CheckOptions,
) -> (GwAuthFact, Option<ResponseHead>) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let negotiate = Negotiate::modern_client().encode();
    let r1 = with(
        req.clone(),
        "Authorization",
        &format!("{scheme} {}", b64.encode(&negotiate)),
    );
    let h = match http.request(&r1, opts.timeout).await {
        Answer::Head(h) => h,
        Answer::Closed | Answer::Reset => {
            af.outcome = GwAuthOutcome::ConnectionClosed;
            af.detail = Some("the gateway closed the connection after our NTLM NEGOTIATE".into());
            return (af, None);
        }
        other => {
            af.outcome = GwAuthOutcome::Failed;
            af.detail = Some(format!(
                "answer to the NTLM NEGOTIATE: {}",
                describe(&other)
            ));
            return (af, None);
        }
    };
    af.status = Some(h.status);
    let challenge = http1::parse_challenges(h.headers.get_all("www-authenticate"))
        .into_iter()
        .find(|c| c.is(scheme) && c.token.is_some())
        .and_then(|c| c.token)
        .and_then(|t| b64.decode(t).ok());
    let Some(challenge) = challenge.filter(|_| h.status == 401) else {
        af.outcome = if h.status == 401 {
            GwAuthOutcome::ChallengeMissing
        } else {
            GwAuthOutcome::Failed
        };
        af.detail = Some(format!(
            "answer to the NTLM NEGOTIATE: {} {}",
            h.status, h.reason
        ));
        return (af, None);
    };
    let closing = h.headers.has_token("connection", "close");
    let ch = match ntlm::Challenge::decode(&challenge) {
        Ok(c) => c,
        Err(e) => {
            af.outcome = GwAuthOutcome::Failed;
            af.detail = Some(format!("the NTLM CHALLENGE does not decode: {e}"));
            return (af, None);
        }
    };
    af.ntlm = Some(crate::probe::credssp::ntlm_info(&ch, opts.now_unix));
    let nt = ntlm::nt_hash(creds.password.expose());
    let session_key = Key16::from_bytes(rand::random());
    let spn = format!("HTTP/{}", gw.target.host);
    let input = ClientAuthInput {
        negotiate: &negotiate,
        challenge: &challenge,
        user: &creds.user,
        domain: &creds.domain,
        workstation: "RDPDOCTOR",
        nt_hash: &nt,
        client_challenge: rand::random(),
        timestamp: ntlm::unix_seconds_to_filetime(opts.now_unix),
        exported_session_key: &session_key,
        target_spn: Some(&spn),
        channel_bindings: None,
        version: Some(Version::WINDOWS_10),
    };
    let out = match ntlm::compute_authenticate(&input) {
        Ok(o) => o,
        Err(e) => {
            af.outcome = GwAuthOutcome::Failed;
            af.detail = Some(format!("cannot answer the gateway's CHALLENGE: {e}"));
            return (af, None);
        }
    };
    let r2 = with(
        req.clone(),
        "Authorization",
        &format!("{scheme} {}", b64.encode(&out.authenticate)),
    );
    let answer = match verdict(&mut af, http.request(&r2, opts.timeout).await) {
        Ok(h) => return (af, h),
        Err(other) => other,
    };
    match answer {
        Answer::Head(h) => {
            af.outcome = GwAuthOutcome::Failed;
            af.status = Some(h.status);
            af.detail = Some(format!(
                "answer to the NTLM AUTHENTICATE: {} {}",
                h.status, h.reason
            ));
            (af, None)
        }
        Answer::Closed | Answer::Reset if closing => {
            af.outcome = GwAuthOutcome::ConnectionClosed;
            af.detail = Some(
                "the gateway sent its CHALLENGE with Connection: close and closed: the AUTHENTICATE must travel on the same connection".into(),
            );
            (af, None)
        }
        Answer::Closed | Answer::Reset => {
            af.outcome = GwAuthOutcome::ConnectionClosed;
            af.detail = Some("the connection closed between the NTLM legs".into());
            (af, None)
        }
        other => {
            af.outcome = GwAuthOutcome::Failed;
            af.detail = Some(format!(
                "answer to the NTLM AUTHENTICATE: {}",
                describe(&other)
            ));
            (af, None)
        }
    }
}

fn describe(a: &Answer) -> String {
    match a {
        Answer::Head(h) => format!("{} {}", h.status, crate::sanitize::escape(&h.reason)),
        Answer::NotHttp(_) => "bytes that are not HTTP".into(),
        Answer::Closed => "the connection closed".into(),
        Answer::Reset => "the connection was reset".into(),
        Answer::Stalled => "no answer within the time-out".into(),
        Answer::Error(e) => crate::sanitize::escape(e),
    }
}

/// The legacy transport ([MS-TSGU] 3.3.5.1): an authenticated OUT channel (200, seed bytes,
/// then PDUs) and an authenticated IN channel (200, then a chunked request body).
async fn legacy(
    addr: SocketAddr,
    gw: &GatewayOptions,
    cert: Option<&crate::facts::CertFact>,
    opts: &CheckOptions,
) -> Result<(PduRx, PduTx), String> {
    let conn_id = rdp_doctor_wire::gateway::guid_text(rand::random());
    let mut out = legacy_channel(addr, gw, cert, opts, &conn_id, RDG_OUT_DATA).await?;
    // Skip the seed bytes (clients skip 10).
    while out.buf.len() < rdp_doctor_wire::gateway::OUT_SEED_LEN {
        let deadline = tokio::time::Instant::now() + opts.timeout;
        if out.read_more(deadline).await.is_err() {
            return Err("OUT channel: no seed bytes".into());
        }
    }
    out.buf.drain(..rdp_doctor_wire::gateway::OUT_SEED_LEN);
    let mut inn = legacy_channel(addr, gw, cert, opts, &conn_id, RDG_IN_DATA).await?;
    let stream_req = with(
        rdg_request(RDG_IN_DATA, &gw.target.host, &conn_id, None),
        "Transfer-Encoding",
        "chunked",
    );
    inn.s
        .write_all(&stream_req.encode())
        .await
        .map_err(|e| format!("IN channel: {e}"))?;
    let rx = PduRx::new(Box::new(out.s), Framing::Raw, Role::Client, out.buf);
    let tx = PduTx::new(Box::new(inn.s), Framing::Chunked, Role::Client);
    Ok((rx, tx))
}

/// One legacy channel on a TLS connection of its own (the OUT channel on the second, the IN
/// channel on the third): `method` (`RDG_OUT_DATA` or `RDG_IN_DATA`) with `Content-Length: 0`,
/// authenticated; open when the gateway answers 200.
async fn legacy_channel(
    addr: SocketAddr,
    gw: &GatewayOptions,
    cert: Option<&crate::facts::CertFact>,
    opts: &CheckOptions,
    conn_id: &str,
    method: &str,
) -> Result<Http, String> {
    let (name, nth) = if method == RDG_OUT_DATA {
        ("OUT", "second")
    } else {
        ("IN", "third")
    };
    let mut http = connect(addr, gw, opts.timeout)
        .await
        .ok_or_else(|| format!("no {nth} TLS connection"))?;
    let req = with(
        rdg_request(method, &gw.target.host, conn_id, None),
        "Content-Length",
        "0",
    );
    let h = authed(&mut http, &req, gw, cert, opts).await?;
    if h.status != 200 {
        return Err(format!("{name} channel: {} {}", h.status, h.reason));
    }
    Ok(http)
}

/// One authenticated request: unauthenticated first, then NTLM or the token.
async fn authed(
    http: &mut Http,
    req: &RequestHead,
    gw: &GatewayOptions,
    cert: Option<&crate::facts::CertFact>,
    opts: &CheckOptions,
) -> Result<ResponseHead, String> {
    match http.request(req, opts.timeout).await {
        Answer::Head(h) if h.status == 401 => {
            let schemes: Vec<String> =
                http1::parse_challenges(h.headers.get_all("www-authenticate"))
                    .into_iter()
                    .map(|c| c.scheme)
                    .collect();
            let (af, last) = authenticate(http, req, &schemes, gw, cert, opts).await;
            match last.flatten() {
                Some(h) => Ok(h),
                None => Err(format!(
                    "authentication: {:?} {}",
                    af.outcome,
                    af.detail.unwrap_or_default()
                )),
            }
        }
        Answer::Head(h) => Ok(h),
        other => Err(describe(&other)),
    }
}

/// HANDSHAKE, TUNNEL_CREATE, TUNNEL_AUTH, CHANNEL_CREATE; true when the channel is open.
async fn tunnel(
    rx: &mut PduRx,
    tx: &mut PduTx,
    gw: &GatewayOptions,
    opts: &CheckOptions,
    uf: &mut GwTunnelFact,
) -> bool {
    let paa = gw.token.is_some();
    let steps: [&str; 4] = [
        "handshake",
        "tunnel-create",
        "tunnel-auth",
        "channel-create",
    ];
    for step in steps {
        uf.step = step.into();
        let pdu = match step {
            "handshake" => Pdu::HandshakeRequest(tsgu::HandshakeRequest::v1(if paa {
                ext_auth::PAA
            } else {
                ext_auth::NONE
            })),
            "tunnel-create" => Pdu::TunnelCreate(tsgu::TunnelCreate::new(
                caps::MESSAGING_CONSENT_SIGN | caps::MESSAGING_SERVICE_MSG,
                gw.token.as_ref().map(|t| t.expose()),
            )),
            "tunnel-auth" => Pdu::TunnelAuth(tsgu::TunnelAuth {
                fields_present: 0,
                client_name: tsgu::UnicodeString::with_nul(CLIENT_NAME),
                statement_of_health: None,
            }),
            _ => Pdu::ChannelCreate(tsgu::ChannelCreate::to(&opts.target.host, opts.target.port)),
        };
        if let Err(e) = tx.send(&pdu).await {
            uf.outcome = GwTunnelOutcome::Dropped;
            uf.detail = Some(format!("sending {step}: {e}"));
            return false;
        }
        let ev = rx.next(tokio::time::Instant::now() + opts.timeout).await;
        let d = match ev {
            RxEvent::Pdu(d) => d,
            RxEvent::Timeout => {
                uf.outcome = GwTunnelOutcome::Stalled;
                uf.detail = Some(format!(
                    "no answer to {} within {:.1} s",
                    pdu.packet_type().label(),
                    opts.timeout.as_secs_f64()
                ));
                return false;
            }
            RxEvent::Eof | RxEvent::Reset | RxEvent::Close(_) => {
                uf.outcome = GwTunnelOutcome::Dropped;
                uf.detail = Some(format!(
                    "the gateway ended the connection instead of answering {}",
                    pdu.packet_type().label()
                ));
                return false;
            }
            RxEvent::Ping(_) => {
                uf.outcome = GwTunnelOutcome::ProtocolError;
                uf.detail = Some("a WebSocket ping instead of an answer".into());
                return false;
            }
            RxEvent::Bad { why, pending } => {
                uf.outcome = GwTunnelOutcome::ProtocolError;
                uf.detail = Some(format!(
                    "answer to {}: {} ({pending} bytes pending)",
                    pdu.packet_type().label(),
                    crate::sanitize::escape(&why)
                ));
                return false;
            }
        };
        let code = match &d.pdu {
            Pdu::HandshakeResponse(h) if step == "handshake" => {
                uf.extended_auth = Some(h.extended_auth);
                h.error_code
            }
            Pdu::TunnelResponse(r) if step == "tunnel-create" => {
                uf.tunnel_id = r.tunnel_id;
                uf.caps = r.caps.map(|c| tsgu::flag_names(c, caps::NAMES));
                uf.consent_message = r
                    .consent_message
                    .as_ref()
                    .map(|m| m.text().chars().take(500).collect());
                r.status
            }
            Pdu::TunnelAuthResponse(r) if step == "tunnel-auth" => {
                uf.redir_flags = r
                    .redir_flags
                    .map(|f| tsgu::flag_names(f, tsgu::redir::NAMES));
                uf.idle_timeout = r.idle_timeout;
                r.error_code
            }
            Pdu::ChannelResponse(r) if step == "channel-create" => {
                uf.channel_id = r.channel_id;
                r.error_code
            }
            Pdu::CloseChannel(code) => {
                uf.outcome = GwTunnelOutcome::Closed;
                uf.hresult = Some(*code);
                uf.hresult_name = hresult::name(*code).map(String::from);
                return false;
            }
            other => {
                uf.outcome = GwTunnelOutcome::ProtocolError;
                uf.detail = Some(format!(
                    "{} where the answer to {} belongs",
                    other.packet_type().label(),
                    pdu.packet_type().label()
                ));
                return false;
            }
        };
        if hresult::failed(code) {
            uf.outcome = GwTunnelOutcome::Refused;
            uf.hresult = Some(code);
            uf.hresult_name = hresult::name(code).map(String::from);
            return false;
        }
    }
    uf.step = "open".into();
    uf.outcome = GwTunnelOutcome::Open;
    true
}

/// Moves bytes between the target's phases (a duplex stream) and DATA PDUs.
async fn pump(mut rx: PduRx, mut tx: PduTx, mut local: DuplexStream, closed: ClosedBy) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            ev = rx.next(tokio::time::Instant::now() + Duration::from_secs(600)) => match ev {
                RxEvent::Pdu(d) => match d.pdu {
                    Pdu::Data(bytes) => {
                        let written = local.write_all(&bytes).await;
                        if written.is_err() {
                            break;
                        }
                    }
                    Pdu::Keepalive => {
                        let echoed = tx.send(&Pdu::Keepalive).await;
                        if echoed.is_err() {
                            break;
                        }
                    }
                    Pdu::CloseChannel(code) => {
                        if let Ok(mut c) = closed.lock() {
                            *c = Some(code);
                        }
                        let _ = tx.send(&Pdu::CloseChannelResponse(0)).await;
                        break;
                    }
                    _ => {}
                },
                RxEvent::Ping(p) => {
                    let _ = tx.control(Opcode::PONG, &p).await;
                }
                _ => break,
            },
            r = local.read(&mut buf) => match r {
                Ok(0) | Err(_) => {
                    let _ = tx.send(&Pdu::CloseChannel(0)).await;
                    break;
                }
                Ok(n) => {
                    let data = buf.get(..n).unwrap_or(&[]).to_vec();
                    if tx.send(&Pdu::Data(data)).await.is_err() {
                        break;
                    }
                }
            },
        }
    }
    let _ = local.shutdown().await;
    tx.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_rfc_7617s() {
        // RFC 7617 2, the example.
        let v = basic_credentials("Aladdin", "open sesame");
        assert_eq!(v.as_slice(), b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        // A domain user, a password whose length needs one padding character.
        let v = basic_credentials("LAB\\labuser", "LabPass1!");
        let want = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("LAB\\labuser:LabPass1!")
        );
        assert_eq!(v.as_slice(), want.as_bytes());
    }

    #[test]
    fn a_secret_field_encodes_as_the_head_with_it() {
        let r = with(
            rdg_request(RDG_OUT_DATA, "gw.example", "{0}", Some("a2V5")),
            "Content-Length",
            "0",
        );
        let value = b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==";
        let wire = encode_with_secret(&r, "Authorization", value);
        let plain = with(
            r.clone(),
            "Authorization",
            std::str::from_utf8(value).unwrap_or_default(),
        );
        assert_eq!(wire.as_slice(), plain.encode().as_slice());
        // Sized once: no reallocation left a copy of the value behind.
        assert_eq!(wire.capacity(), wire.len());
    }
}
