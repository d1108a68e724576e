//! One connection to the lab gateway: TLS, then HTTP/1.1 requests on the same connection
//! (NTLM needs it kept alive) until one becomes a channel: a WebSocket (101), a legacy OUT
//! channel (200 + seed bytes, then PDUs until close) or a legacy IN channel (200, then a
//! chunked request body handed to its OUT channel).
//!
//! Answers follow what FreeRDP's parser needs ([MS-TSGU] clients in the field): a reason
//! phrase on every status line, `text/plain` bodies with an exact Content-Length, an OUT 200
//! with no length, no Transfer-Encoding and no Content-Type followed by 10 seed bytes.

use super::faults::{Auth, Http, Tls, Upgrade};
use super::{log, GwShared, InChannel};
use crate::probe::gateway::channel::{Framing, PduRx, PduTx};
use base64::Engine as _;
use rdp_doctor_wire::gateway::http1::{
    self, BodyFraming, HeadStatus, Headers, RequestHead, ResponseHead,
};
use rdp_doctor_wire::gateway::websocket::{self, Role};
use rdp_doctor_wire::gateway::{OUT_SEED_LEN, RDG_IN_DATA, RDG_OUT_DATA, RDG_PATH};
use rdp_doctor_wire::ntlm::{self, Negotiate};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// How long the gateway waits for a client's next request or PDU.
pub(crate) const CLIENT_WAIT: Duration = Duration::from_secs(10);
/// How long an OUT channel waits for its IN channel.
const PAIR_WAIT: Duration = Duration::from_secs(10);
/// Largest request body the gateway reads and discards.
const MAX_BODY: u64 = 64 * 1024;

type Stream = TlsStream<TcpStream>;

/// A connection with the bytes read past the last head.
pub(crate) struct HttpConn {
    pub s: Stream,
    pub buf: Vec<u8>,
}

/// Who the HTTP layer let in.
#[derive(Debug, Clone)]
pub(crate) enum Authenticated {
    User(String),
    /// `RDG-Auth-Scheme: PAA`: the token comes in TUNNEL_CREATE.
    Paa,
}

impl HttpConn {
    /// The next request head (`Ok(None)`: the client closed between requests).
    async fn read_request(&mut self) -> Result<Option<RequestHead>, String> {
        loop {
            match http1::request_head_status(&self.buf) {
                HeadStatus::Complete { len } => {
                    let head = RequestHead::parse(self.buf.get(..len).unwrap_or(&[]))
                        .map_err(|e| format!("bad request head: {e}"))?;
                    self.buf.drain(..len);
                    return Ok(Some(head));
                }
                HeadStatus::NotHttp => return Err("not an HTTP request".into()),
                HeadStatus::TooLarge => return Err("request head too large".into()),
                HeadStatus::Incomplete => {}
            }
            let mut tmp = [0u8; 8192];
            match tokio::time::timeout(CLIENT_WAIT, self.s.read(&mut tmp)).await {
                Err(_) => return Err("no request within the wait".into()),
                Ok(Ok(0)) if self.buf.is_empty() => return Ok(None),
                Ok(Ok(0)) => return Err("closed inside a request head".into()),
                Ok(Ok(n)) => self.buf.extend_from_slice(tmp.get(..n).unwrap_or(&[])),
                Ok(Err(e)) => return Err(e.to_string()),
            }
        }
    }

    /// Reads and drops a Content-Length body.
    async fn skip_body(&mut self, head: &RequestHead) -> Result<(), String> {
        let n = match head.framing() {
            Ok(BodyFraming::Length(n)) if n <= MAX_BODY => n as usize,
            Ok(BodyFraming::Length(n)) => return Err(format!("request body of {n} bytes")),
            Ok(_) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        };
        while self.buf.len() < n {
            let mut tmp = [0u8; 8192];
            match tokio::time::timeout(CLIENT_WAIT, self.s.read(&mut tmp)).await {
                Ok(Ok(k)) if k > 0 => self.buf.extend_from_slice(tmp.get(..k).unwrap_or(&[])),
                _ => return Err("request body did not arrive".into()),
            }
        }
        self.buf.drain(..n);
        Ok(())
    }

    async fn send(&mut self, bytes: &[u8]) -> bool {
        self.s.write_all(bytes).await.is_ok() && self.s.flush().await.is_ok()
    }
}

/// A response with a `text/plain` body of exact length (or an empty one).
pub(crate) fn response(status: u16, headers: Headers, body: &str) -> Vec<u8> {
    let mut h = headers;
    if !body.is_empty() {
        h.push("Content-Type", "text/plain");
    }
    h.push("Content-Length", &body.len().to_string());
    let mut out = ResponseHead {
        version: "HTTP/1.1".into(),
        status,
        reason: http1::reason_phrase(status).into(),
        headers: h,
    }
    .encode();
    out.extend_from_slice(body.as_bytes());
    out
}

fn server() -> Headers {
    Headers::new().with("Server", "rdp-doctor-lab-gateway")
}

pub async fn serve(stream: TcpStream, peer: SocketAddr, shared: Arc<GwShared>) {
    let _ = stream.set_nodelay(true);
    let b = shared.fault.behaviour;
    let mut stream = stream;
    match b.tls {
        Tls::Reset => {
            let _ = read_some(&mut stream).await;
            log(&shared, peer, "resetting after the ClientHello");
            crate::lab::conn::reset(stream);
            return;
        }
        Tls::Stall => {
            let _ = read_some(&mut stream).await;
            log(&shared, peer, "holding the TLS handshake");
            crate::lab::conn::hold(&mut stream).await;
            return;
        }
        Tls::Lab | Tls::Cert(_) => {}
    }
    let acceptor = tokio_rustls::TlsAcceptor::from(shared.tls.clone());
    let s = match tokio::time::timeout(CLIENT_WAIT, acceptor.accept(stream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            log(&shared, peer, &format!("TLS handshake failed: {e}"));
            return;
        }
        Err(_) => {
            log(&shared, peer, "TLS handshake timed out");
            return;
        }
    };
    let mut c = HttpConn { s, buf: Vec::new() };
    let mut ntlm_state: Option<(Vec<u8>, Vec<u8>)> = None;
    loop {
        let head = match c.read_request().await {
            Ok(Some(h)) => h,
            Ok(None) => return,
            Err(e) => {
                log(&shared, peer, &e);
                return;
            }
        };
        log(
            &shared,
            peer,
            &format!(
                "{} {}",
                crate::sanitize::escape(&head.method),
                crate::sanitize::escape(&head.target)
            ),
        );
        match b.http {
            Http::NotHttp => {
                let _ = c.send(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n").await;
                let _ = c.s.shutdown().await;
                return;
            }
            Http::NoAnswer => {
                let _ = c.s.shutdown().await;
                return;
            }
            _ => {}
        }
        let is_rdg = (head.method == RDG_OUT_DATA || head.method == RDG_IN_DATA)
            && head.target.eq_ignore_ascii_case(RDG_PATH);
        let is_rpc =
            head.method.starts_with("RPC_") && head.target.starts_with("/rpc/rpcproxy.dll");
        if !is_rdg {
            let (status, h) = if is_rpc && b.http == Http::RpcOnly {
                (
                    401,
                    server()
                        .with("WWW-Authenticate", "Negotiate")
                        .with("WWW-Authenticate", "NTLM")
                        .with("WWW-Authenticate", "Basic realm=\"lab\""),
                )
            } else {
                (404, server())
            };
            let _ = c.skip_body(&head).await;
            if !c
                .send(&response(status, h, http1::reason_phrase(status)))
                .await
            {
                return;
            }
            continue;
        }
        if let Some(bytes) = fault_status(b.http) {
            let _ = c.send(&bytes).await;
            let _ = c.s.shutdown().await;
            return;
        }
        // Authentication.
        let who = if head
            .headers
            .get("rdg-auth-scheme")
            .is_some_and(|v| v.eq_ignore_ascii_case("PAA"))
        {
            Authenticated::Paa
        } else {
            match authenticate(&mut c, &head, &shared, peer, &mut ntlm_state).await {
                Step::Continue => continue,
                Step::Stop => return,
                Step::Done(user) => Authenticated::User(user),
            }
        };
        if head.method == RDG_IN_DATA {
            in_channel(c, head, &shared, peer).await;
            return;
        }
        out_channel(c, head, who, &shared, peer).await;
        return;
    }
}

fn fault_status(h: Http) -> Option<Vec<u8>> {
    let close = || server().with("Connection", "close");
    Some(match h {
        Http::Status(302) => response(
            302,
            close().with(
                "Location",
                "https://login.lab.invalid/adfs/ls/?wa=wsignin1.0",
            ),
            "",
        ),
        Http::Status(405) => response(
            405,
            close().with("Allow", "GET, POST"),
            "Method Not Allowed",
        ),
        Http::Status(503) => response(503, close(), "Service Unavailable"),
        Http::Status(s) => response(s, close(), http1::reason_phrase(s)),
        Http::RpcOnly => response(404, close(), "Not Found"),
        _ => return None,
    })
}

enum Step {
    /// An answer went out; read the next request on this connection.
    Continue,
    Stop,
    Done(String),
}

/// One leg of HTTP authentication.
async fn authenticate(
    c: &mut HttpConn,
    head: &RequestHead,
    shared: &GwShared,
    peer: SocketAddr,
    state: &mut Option<(Vec<u8>, Vec<u8>)>,
) -> Step {
    let b = shared.fault.behaviour;
    if c.skip_body(head).await.is_err() {
        return Step::Stop;
    }
    let offer = || match b.auth {
        Auth::OnlySmartcard => server().with("WWW-Authenticate", "SMARTCARD"),
        Auth::OnlyBasic => server().with("WWW-Authenticate", "Basic realm=\"lab\""),
        _ => server()
            .with("WWW-Authenticate", "Negotiate")
            .with("WWW-Authenticate", "NTLM"),
    };
    let unauthorized = |h: Headers| response(401, h, "Unauthorized.");
    let Some((scheme, token)) = head
        .headers
        .get("authorization")
        .and_then(http1::parse_authorization)
    else {
        log(shared, peer, "401: no Authorization");
        return if c.send(&unauthorized(offer())).await {
            Step::Continue
        } else {
            Step::Stop
        };
    };
    if b.auth == Auth::OnlyBasic && scheme.eq_ignore_ascii_case("Basic") {
        return match token.as_deref().and_then(basic_user) {
            Some((user, password)) => {
                let hash = ntlm::nt_hash(&password);
                let name = user.rsplit('\\').next().unwrap_or(&user).to_string();
                let ok = shared
                    .users
                    .iter()
                    .any(|u| u.user.eq_ignore_ascii_case(&name) && u.nt_hash.ct_eq(&hash));
                if ok {
                    log(
                        shared,
                        peer,
                        &format!("authenticated {} (Basic)", crate::sanitize::escape(&name)),
                    );
                    Step::Done(name)
                } else {
                    log(shared, peer, "401 after Basic (wrong user or password)");
                    if c.send(&unauthorized(offer())).await {
                        Step::Continue
                    } else {
                        Step::Stop
                    }
                }
            }
            None => {
                if c.send(&unauthorized(offer())).await {
                    Step::Continue
                } else {
                    Step::Stop
                }
            }
        };
    }
    let ntlm_scheme =
        scheme.eq_ignore_ascii_case("NTLM") || scheme.eq_ignore_ascii_case("Negotiate");
    if !ntlm_scheme || matches!(b.auth, Auth::OnlySmartcard | Auth::OnlyBasic) {
        log(
            shared,
            peer,
            &format!(
                "401: scheme {} not offered",
                crate::sanitize::escape(&scheme)
            ),
        );
        return if c.send(&unauthorized(offer())).await {
            Step::Continue
        } else {
            Step::Stop
        };
    }
    let Some(bytes) = token.and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
    else {
        return if c.send(&unauthorized(offer())).await {
            Step::Continue
        } else {
            Step::Stop
        };
    };
    match ntlm::message_type(&bytes) {
        Some(1) => {
            let Ok(neg) = Negotiate::decode(&bytes) else {
                return Step::Stop;
            };
            let chal = ntlm::server_challenge(
                &neg,
                rand::random(),
                &crate::lab::session::lab_names(),
                Some(ntlm::unix_seconds_to_filetime(crate::clock::now_unix())),
                Some(crate::lab::session::LAB_VERSION),
            )
            .encode();
            let value = format!(
                "{scheme} {}",
                base64::engine::general_purpose::STANDARD.encode(&chal)
            );
            *state = Some((bytes, chal));
            let mut h = server().with("WWW-Authenticate", &value);
            let close = b.auth == Auth::CloseAfterChallenge;
            if close {
                h.push("Connection", "close");
            }
            log(shared, peer, "401 with the NTLM CHALLENGE");
            if !c.send(&unauthorized(h)).await || close {
                let _ = c.s.shutdown().await;
                return Step::Stop;
            }
            Step::Continue
        }
        Some(3) => {
            let Some((neg, chal)) = state.take() else {
                log(
                    shared,
                    peer,
                    "AUTHENTICATE without a CHALLENGE on this connection",
                );
                return if c.send(&unauthorized(offer())).await {
                    Step::Continue
                } else {
                    Step::Stop
                };
            };
            let users = &shared.users;
            let verified = ntlm::verify_authenticate(&neg, &chal, &bytes, |user, domain| {
                users
                    .iter()
                    .find(|u| {
                        u.user.eq_ignore_ascii_case(user)
                            && (u.domain.is_empty()
                                || domain.is_empty()
                                || u.domain.eq_ignore_ascii_case(domain))
                    })
                    .map(|u| u.nt_hash.clone())
            });
            match verified {
                Ok(out) if b.auth != Auth::RejectAll => {
                    log(
                        shared,
                        peer,
                        &format!("authenticated {}", crate::sanitize::escape(&out.user)),
                    );
                    Step::Done(out.user)
                }
                other => {
                    let why = match other {
                        Ok(_) => "refused by the fault".to_string(),
                        Err(e) => format!("{e:?}"),
                    };
                    log(shared, peer, &format!("401 after AUTHENTICATE ({why})"));
                    if c.send(&unauthorized(offer())).await {
                        Step::Continue
                    } else {
                        Step::Stop
                    }
                }
            }
        }
        _ => Step::Stop,
    }
}

/// The legacy IN channel: 200, then the client's second request (chunked) whose body carries
/// the PDUs; handed to the OUT channel with the same RDG-Connection-Id.
async fn in_channel(mut c: HttpConn, head: RequestHead, shared: &GwShared, peer: SocketAddr) {
    if shared.fault.behaviour.refuse_in {
        log(shared, peer, "IN channel refused (404)");
        let _ = c
            .send(&response(
                404,
                server().with("Connection", "close"),
                "Not Found",
            ))
            .await;
        let _ = c.s.shutdown().await;
        return;
    }
    let id = head
        .headers
        .get("rdg-connection-id")
        .unwrap_or("")
        .to_string();
    if !c.send(&response(200, server(), "")).await {
        return;
    }
    let second = match c.read_request().await {
        Ok(Some(h)) => h,
        other => {
            log(
                shared,
                peer,
                &format!("IN channel: no streaming request ({other:?})"),
            );
            return;
        }
    };
    if second.framing() != Ok(BodyFraming::Chunked) {
        log(
            shared,
            peer,
            "IN channel: the streaming request is not chunked",
        );
        return;
    }
    let waiter = shared.waiting.lock().ok().and_then(|mut m| m.remove(&id));
    match waiter {
        Some(tx) => {
            log(shared, peer, "IN channel paired with its OUT channel");
            let _ = tx.send((c.s, c.buf));
        }
        None => log(
            shared,
            peer,
            "IN channel without an OUT channel of the same RDG-Connection-Id",
        ),
    }
}

/// The OUT channel: a WebSocket, or the legacy OUT body paired with an IN channel.
async fn out_channel(
    mut c: HttpConn,
    head: RequestHead,
    who: Authenticated,
    shared: &GwShared,
    peer: SocketAddr,
) {
    let b = shared.fault.behaviour;
    let wants_ws = head.headers.has_token("connection", "upgrade")
        && head.headers.has_token("upgrade", "websocket");
    if wants_ws && b.upgrade != Upgrade::Strip {
        match b.upgrade {
            Upgrade::Refuse => {
                log(shared, peer, "400 to the WebSocket upgrade");
                let _ = c
                    .send(&response(
                        400,
                        server().with("Connection", "close"),
                        "Bad Request",
                    ))
                    .await;
                let _ = c.s.shutdown().await;
                return;
            }
            Upgrade::BadAccept | Upgrade::Serve => {
                let key = head.headers.get("sec-websocket-key").unwrap_or("");
                let accept = if b.upgrade == Upgrade::BadAccept {
                    websocket::accept_key("not the client's key")
                } else {
                    websocket::accept_key(key)
                };
                let h = ResponseHead {
                    version: "HTTP/1.1".into(),
                    status: 101,
                    reason: "Switching Protocols".into(),
                    headers: server()
                        .with("Upgrade", "websocket")
                        .with("Connection", "Upgrade")
                        .with("Sec-WebSocket-Accept", &accept),
                };
                if !c.send(&h.encode()).await {
                    return;
                }
                if b.upgrade == Upgrade::BadAccept {
                    log(shared, peer, "101 with a wrong Sec-WebSocket-Accept");
                    crate::lab::conn::hold(&mut c.s).await;
                    return;
                }
                log(shared, peer, "101: WebSocket");
                let (r, w) = tokio::io::split(c.s);
                let rx = PduRx::new(Box::new(r), Framing::WebSocket, Role::Server, c.buf);
                let tx = PduTx::new(Box::new(w), Framing::WebSocket, Role::Server);
                super::tunnel::run(rx, tx, who, shared, peer).await;
                return;
            }
            Upgrade::Strip => {}
        }
    }
    // Legacy OUT: 200 without a length, seed bytes, then PDUs until close.
    let id = head
        .headers
        .get("rdg-connection-id")
        .unwrap_or("")
        .to_string();
    let (tx_in, rx_in) = tokio::sync::oneshot::channel::<InChannel>();
    if let Ok(mut m) = shared.waiting.lock() {
        m.insert(id.clone(), tx_in);
    }
    let mut out = b"HTTP/1.1 200 OK\r\n".to_vec();
    out.extend_from_slice(format!("Date: {}\r\n\r\n", http_date()).as_bytes());
    out.extend_from_slice(&[0xab, 0xcd].repeat(OUT_SEED_LEN / 2));
    if !c.send(&out).await {
        return;
    }
    log(
        shared,
        peer,
        "200: legacy OUT channel, waiting for the IN channel",
    );
    let paired = tokio::time::timeout(PAIR_WAIT, rx_in).await;
    if let Ok(mut m) = shared.waiting.lock() {
        m.remove(&id);
    }
    let Ok(Ok((in_stream, in_buf))) = paired else {
        log(shared, peer, "no IN channel arrived for this OUT channel");
        return;
    };
    let rx = PduRx::new(Box::new(in_stream), Framing::Chunked, Role::Server, in_buf);
    let (_r, w) = tokio::io::split(c.s);
    let tx = PduTx::new(Box::new(w), Framing::Raw, Role::Server);
    super::tunnel::run(rx, tx, who, shared, peer).await;
}

fn http_date() -> String {
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::OffsetDateTime::now_utc()
        .format(&fmt)
        .unwrap_or_default()
}

/// Reads whatever arrives first (a ClientHello), bounded.
async fn read_some<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> usize {
    let mut buf = [0u8; 4096];
    match tokio::time::timeout(CLIENT_WAIT, s.read(&mut buf)).await {
        Ok(Ok(n)) => n,
        _ => 0,
    }
}

/// `Basic base64(user:password)` (RFC 7617 2) as user and password; the password stays in a
/// zeroizing string.
fn basic_user(token: &str) -> Option<(String, zeroize::Zeroizing<String>)> {
    let bytes = zeroize::Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(token.trim())
            .ok()?,
    );
    let text = std::str::from_utf8(&bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((
        user.to_string(),
        zeroize::Zeroizing::new(password.to_string()),
    ))
}
