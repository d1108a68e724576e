//! One lab connection: X.224, then TLS, then CredSSP or MCS, each step able to break as the
//! endpoint's fault says.

use super::faults::{Nego, Tls, X224};
use super::Shared;
use crate::probe::net::{self, FrameProgress, ReadEnd};
use rdp_doctor_wire::nego::{FailureCode, NegOutcome, Protocols};
use rdp_doctor_wire::{tpkt, x224};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long the lab waits for a client's next message, and holds a connection it stalls.
const CLIENT_WAIT: Duration = Duration::from_secs(10);
const HOLD: Duration = Duration::from_secs(60);

/// RDP_NEG_RSP flags a Windows 10 server sends (0x1F).
const WINDOWS_RSP_FLAGS: u8 = 0x1F;

pub(crate) fn log(shared: &Shared, peer: SocketAddr, msg: &str) {
    if shared.log {
        eprintln!(
            "lab {} [{}] {peer}: {msg}",
            shared.addr,
            shared.fault.name()
        );
    }
}

/// What a server with the policy `nego` answers to `requested`
/// (`None` = a Connection Request without RDP_NEG_REQ).
pub fn policy(nego: Nego, requested: Option<Protocols>) -> NegOutcome {
    let rsp = |p: Protocols| NegOutcome::Response {
        flags: WINDOWS_RSP_FLAGS,
        selected: p,
    };
    let fail = |c: FailureCode| NegOutcome::Failure { code: c };
    let req = requested.unwrap_or(Protocols::RDP);
    match nego {
        Nego::NoCertificate => fail(FailureCode::SSL_CERT_NOT_ON_SERVER),
        Nego::TlsForbidden => {
            let tls_family = Protocols::SSL.0
                | Protocols::HYBRID.0
                | Protocols::HYBRID_EX.0
                | Protocols::RDSTLS.0;
            if req.0 & tls_family != 0 {
                fail(FailureCode::SSL_NOT_ALLOWED_BY_SERVER)
            } else if requested.is_none() {
                NegOutcome::Absent
            } else {
                rsp(Protocols::RDP)
            }
        }
        Nego::StandardRdpOnly => {
            if requested.is_none() {
                NegOutcome::Absent
            } else {
                NegOutcome::Response {
                    flags: 0,
                    selected: Protocols::RDP,
                }
            }
        }
        // A TLS-only server without CredSSP (xrdp security_layer=tls, a FreeRDP server without
        // NLA): a request without PROTOCOL_SSL gets SSL_REQUIRED_BY_SERVER ([MS-RDPBCGR]
        // 2.2.1.2.2). Not a Windows server with NLA off: that one still offers CredSSP.
        Nego::TlsRequired => {
            if req.contains(Protocols::SSL) {
                rsp(Protocols::SSL)
            } else {
                fail(FailureCode::SSL_REQUIRED_BY_SERVER)
            }
        }
        // Windows defaults: NLA required.
        Nego::NlaRequired => {
            if req.contains(Protocols::HYBRID_EX) {
                rsp(Protocols::HYBRID_EX)
            } else if req.contains(Protocols::HYBRID) {
                rsp(Protocols::HYBRID)
            } else {
                fail(FailureCode::HYBRID_REQUIRED_BY_SERVER)
            }
        }
    }
}

pub async fn serve(mut stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let behaviour = shared.behaviour;
    // 1. the Connection Request
    let mut buf = Vec::new();
    let end = net::read_frame(&mut stream, &mut buf, 4096, CLIENT_WAIT, net::tpkt_progress).await;
    let len = match end {
        ReadEnd::Frame { len } => len,
        other => {
            log(&shared, peer, &format!("no Connection Request ({other:?})"));
            return;
        }
    };
    match behaviour.x224 {
        X224::Http => {
            log(&shared, peer, "answering like a web server");
            let _ = stream
                .write_all(b"HTTP/1.1 400 Bad Request\r\nServer: lab\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await;
            let _ = stream.shutdown().await;
            return;
        }
        X224::Silence => {
            log(&shared, peer, "holding the connection without answering");
            hold(&mut stream).await;
            return;
        }
        X224::Reset => {
            log(&shared, peer, "resetting after the Connection Request");
            reset(stream);
            return;
        }
        X224::Confirm | X224::ConfirmOneBytePerSecond => {}
    }
    let payload = buf.get(tpkt::HEADER_LEN..len).unwrap_or(&[]);
    let requested = match x224::decode(payload) {
        Ok(x224::Tpdu::ConnectionRequest(cr)) => cr.nego.map(|n| n.protocols),
        other => {
            log(
                &shared,
                peer,
                &format!("not a Connection Request: {other:?}"),
            );
            return;
        }
    };
    let answer = policy(behaviour.nego, requested);
    let cc = x224::ConnectionConfirm {
        dst_ref: 0,
        src_ref: 0x1234,
        class: 0,
        nego: answer,
    };
    let Ok(bytes) = tpkt::encode(&cc.encode()) else {
        return;
    };
    log(
        &shared,
        peer,
        &format!(
            "requested {} -> {}",
            requested
                .map(|p| p.to_string())
                .unwrap_or_else(|| "no negotiation".into()),
            describe_answer(&answer)
        ),
    );
    if behaviour.x224 == X224::ConfirmOneBytePerSecond {
        for b in bytes {
            if stream.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    } else if stream.write_all(&bytes).await.is_err() {
        return;
    }
    let selected = match answer {
        NegOutcome::Response { selected, .. } => selected,
        NegOutcome::Absent => Protocols::RDP,
        NegOutcome::Failure { .. } => {
            // Windows closes after a negotiation failure.
            let _ = stream.shutdown().await;
            return;
        }
    };
    if !selected.needs_tls() {
        super::session::standard_rdp(stream, peer, &shared, requested.map(|p| p.0).unwrap_or(0))
            .await;
        return;
    }
    // 2. TLS
    match behaviour.tls {
        Tls::ResetAfterClientHello => {
            let _ = read_some(&mut stream).await;
            log(
                &shared,
                peer,
                "resetting after the ClientHello (no usable private key)",
            );
            reset(stream);
            return;
        }
        Tls::ProtocolVersionAlert => {
            let _ = read_some(&mut stream).await;
            log(&shared, peer, "sending alert protocol_version");
            let _ = stream
                .write_all(&rdp_doctor_wire::tls::encode_alert(2, 70))
                .await;
            let _ = stream.shutdown().await;
            return;
        }
        Tls::Stall => {
            stall_tls(stream, peer, &shared).await;
            return;
        }
        Tls::Complete => {}
    }
    let Some(cfg) = shared.tls.clone() else {
        return;
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
    let tls = match tokio::time::timeout(CLIENT_WAIT, acceptor.accept(stream)).await {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => {
            log(&shared, peer, &format!("TLS handshake failed: {e}"));
            return;
        }
        Err(_) => {
            log(&shared, peer, "TLS handshake timed out");
            return;
        }
    };
    log(&shared, peer, "TLS established");
    if selected.needs_credssp() {
        if let Some((authenticated, rest)) =
            super::session::credssp(tls, peer, &shared, selected).await
        {
            super::session::mcs_over_tls(
                authenticated,
                peer,
                &shared,
                requested.map(|p| p.0).unwrap_or(0),
                rest,
            )
            .await;
        }
    } else {
        super::session::mcs_over_tls(
            tls,
            peer,
            &shared,
            requested.map(|p| p.0).unwrap_or(0),
            Vec::new(),
        )
        .await;
    }
}

/// Reads whatever arrives next (one ClientHello), bounded.
async fn read_some<S: AsyncRead + Unpin>(s: &mut S) -> usize {
    let mut buf = Vec::new();
    let end = net::read_frame(s, &mut buf, 16 * 1024, CLIENT_WAIT, |b| {
        // A whole TLS record (header + length).
        match (b.get(3), b.get(4)) {
            (Some(&hi), Some(&lo)) => {
                let need = 5 + usize::from(u16::from_be_bytes([hi, lo]));
                if b.len() >= need {
                    FrameProgress::Complete(need)
                } else {
                    FrameProgress::NeedMore
                }
            }
            _ => FrameProgress::NeedMore,
        }
    })
    .await;
    let _ = end;
    buf.len()
}

/// Closes with RST instead of FIN.
pub(crate) fn reset(stream: TcpStream) {
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// Keeps a connection open, reading and discarding, until the peer leaves or HOLD passes.
pub(crate) async fn hold<S: AsyncRead + Unpin>(s: &mut S) {
    let mut buf = [0u8; 1024];
    let _ = tokio::time::timeout(HOLD, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
}

/// Runs the server side of the TLS handshake by hand and sends only the first third of the
/// server's flight: what a client behind an MTU black hole sees.
async fn stall_tls(mut stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let Some(cfg) = shared.tls.clone() else {
        return;
    };
    let Ok(mut conn) = rustls::ServerConnection::new(cfg) else {
        return;
    };
    let mut flight = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + CLIENT_WAIT;
    while !conn.wants_write() {
        let n = match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => return,
        };
        let mut slice = buf.get(..n).unwrap_or(&[]);
        if conn.read_tls(&mut slice).is_err() || conn.process_new_packets().is_err() {
            return;
        }
    }
    while conn.wants_write() {
        if conn.write_tls(&mut flight).is_err() {
            return;
        }
    }
    let cut = (flight.len() / 3).clamp(1, flight.len().saturating_sub(1).max(1));
    log(
        shared,
        peer,
        &format!(
            "sending {cut} of {} bytes of the TLS flight, then nothing",
            flight.len()
        ),
    );
    if stream
        .write_all(flight.get(..cut).unwrap_or(&[]))
        .await
        .is_err()
    {
        return;
    }
    hold(&mut stream).await;
}

/// Writes `bytes` framed in TPKT + X.224 Data.
pub(crate) async fn send_mcs<S: AsyncWrite + Unpin>(s: &mut S, mcs: &[u8]) -> std::io::Result<()> {
    let frame = tpkt::encode(&x224::encode_data(mcs)).map_err(std::io::Error::other)?;
    s.write_all(&frame).await?;
    s.flush().await
}

/// The lab's X.224 answer in the log, in words: what a reader compares with the check's
/// x224 phase, not a Rust debug structure.
fn describe_answer(answer: &NegOutcome) -> String {
    match answer {
        NegOutcome::Response { flags, selected } => {
            if *flags == 0 {
                format!("RDP_NEG_RSP selecting {selected}")
            } else {
                format!("RDP_NEG_RSP selecting {selected}, flags 0x{flags:02x}")
            }
        }
        NegOutcome::Failure { code } => format!("RDP_NEG_FAILURE, code {code}"),
        NegOutcome::Absent => {
            "a Connection Confirm without negotiation (Standard RDP Security)".to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The negotiation policy of the fault named `name`.
    fn nego(name: &str) -> Nego {
        super::super::Fault::parse(name)
            .map(|f| f.behaviour().nego)
            .expect("a lab fault")
    }

    fn sel(o: NegOutcome) -> Option<u32> {
        match o {
            NegOutcome::Response { selected, .. } => Some(selected.0),
            _ => None,
        }
    }

    fn code(o: NegOutcome) -> Option<u32> {
        match o {
            NegOutcome::Failure { code } => Some(code.0),
            _ => None,
        }
    }

    #[test]
    fn healthy_is_nla_required() {
        let p = |r| policy(nego("healthy"), Some(Protocols(r)));
        assert_eq!(sel(p(0x0B)), Some(8));
        assert_eq!(sel(p(0x03)), Some(2));
        assert_eq!(code(p(0x01)), Some(5));
        assert_eq!(code(p(0x00)), Some(5));
    }

    #[test]
    fn failure_faults() {
        assert_eq!(
            code(policy(nego("server-requires-tls"), Some(Protocols(0)))),
            Some(1)
        );
        assert_eq!(
            code(policy(nego("server-requires-tls"), Some(Protocols(2)))),
            Some(1)
        );
        assert_eq!(
            sel(policy(nego("server-requires-tls"), Some(Protocols(0x0B)))),
            Some(1)
        );
        assert_eq!(
            code(policy(nego("server-forbids-tls"), Some(Protocols(0x0B)))),
            Some(2)
        );
        assert_eq!(
            sel(policy(nego("server-forbids-tls"), Some(Protocols(0)))),
            Some(0)
        );
        assert_eq!(
            code(policy(
                nego("server-has-no-certificate"),
                Some(Protocols(0x0B))
            )),
            Some(3)
        );
        assert_eq!(
            sel(policy(
                nego("standard-rdp-security-only"),
                Some(Protocols(0x0B))
            )),
            Some(0)
        );
        assert_eq!(
            policy(nego("standard-rdp-security-only"), None),
            NegOutcome::Absent
        );
    }
}
