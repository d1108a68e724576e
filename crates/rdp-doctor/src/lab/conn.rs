//! One lab connection: X.224, then TLS, then CredSSP or MCS, each step able to break as the
//! endpoint's fault says.

use super::{Fault, Shared};
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

/// The negotiation policy of each fault: what the server answers to `requested`
/// (`None` = a Connection Request without RDP_NEG_REQ).
pub fn policy(fault: Fault, requested: Option<Protocols>) -> NegOutcome {
    let rsp = |p: Protocols| NegOutcome::Response {
        flags: WINDOWS_RSP_FLAGS,
        selected: p,
    };
    let fail = |c: FailureCode| NegOutcome::Failure { code: c };
    let req = requested.unwrap_or(Protocols::RDP);
    match fault {
        Fault::ServerHasNoCertificate => fail(FailureCode::SSL_CERT_NOT_ON_SERVER),
        Fault::ServerForbidsTls => {
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
        Fault::StandardRdpSecurityOnly => {
            if requested.is_none() {
                NegOutcome::Absent
            } else {
                NegOutcome::Response {
                    flags: 0,
                    selected: Protocols::RDP,
                }
            }
        }
        // TLS required, NLA off (SecurityLayer=2, UserAuthentication=0).
        Fault::ServerRequiresTls | Fault::ServerDeniedConnection => {
            if req.contains(Protocols::SSL) {
                rsp(Protocols::SSL)
            } else {
                fail(FailureCode::SSL_REQUIRED_BY_SERVER)
            }
        }
        // Windows defaults: NLA required.
        _ => {
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
    let fault = shared.fault;
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
    match fault {
        Fault::NotRdp => {
            log(&shared, peer, "answering like a web server");
            let _ = stream
                .write_all(b"HTTP/1.1 400 Bad Request\r\nServer: lab\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await;
            let _ = stream.shutdown().await;
            return;
        }
        Fault::X224NoResponse => {
            log(&shared, peer, "holding the connection without answering");
            hold(&mut stream).await;
            return;
        }
        Fault::X224Reset => {
            log(&shared, peer, "resetting after the Connection Request");
            reset(stream);
            return;
        }
        _ => {}
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
    let answer = policy(fault, requested);
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
    if fault == Fault::SlowDrip {
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
    match fault {
        Fault::TlsHandshakeFailed => {
            let _ = read_some(&mut stream).await;
            log(
                &shared,
                peer,
                "resetting after the ClientHello (no usable private key)",
            );
            reset(stream);
            return;
        }
        Fault::TlsVersionMismatch => {
            let _ = read_some(&mut stream).await;
            log(&shared, peer, "sending alert protocol_version");
            let _ = stream
                .write_all(&rdp_doctor_wire::tls::encode_alert(2, 70))
                .await;
            let _ = stream.shutdown().await;
            return;
        }
        Fault::TlsStalled => {
            stall_tls(stream, peer, &shared).await;
            return;
        }
        _ => {}
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let p = |r| policy(Fault::Healthy, Some(Protocols(r)));
        assert_eq!(sel(p(0x0B)), Some(8));
        assert_eq!(sel(p(0x03)), Some(2));
        assert_eq!(code(p(0x01)), Some(5));
        assert_eq!(code(p(0x00)), Some(5));
    }

    #[test]
    fn failure_faults() {
        assert_eq!(
            code(policy(Fault::ServerRequiresTls, Some(Protocols(0)))),
            Some(1)
        );
        assert_eq!(
            code(policy(Fault::ServerRequiresTls, Some(Protocols(2)))),
            Some(1)
        );
        assert_eq!(
            sel(policy(Fault::ServerRequiresTls, Some(Protocols(0x0B)))),
            Some(1)
        );
        assert_eq!(
            code(policy(Fault::ServerForbidsTls, Some(Protocols(0x0B)))),
            Some(2)
        );
        assert_eq!(
            sel(policy(Fault::ServerForbidsTls, Some(Protocols(0)))),
            Some(0)
        );
        assert_eq!(
            code(policy(Fault::ServerHasNoCertificate, Some(Protocols(0x0B)))),
            Some(3)
        );
        assert_eq!(
            sel(policy(
                Fault::StandardRdpSecurityOnly,
                Some(Protocols(0x0B))
            )),
            Some(0)
        );
        assert_eq!(
            policy(Fault::StandardRdpSecurityOnly, None),
            NegOutcome::Absent
        );
    }
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
