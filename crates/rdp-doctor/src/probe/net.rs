//! Sockets and time: TCP connects classified by how they end, and bounded framed reads.
//! Nothing above this layer sees an `io::Error`; it sees what the network did.

use crate::facts::{TcpOutcome, UnreachableKind};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpSocket, TcpStream};

/// Socket options for a probe connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConnectOpts {
    /// Advertise this MSS in the SYN (TCP_MAXSEG), for the path-MTU retry.
    pub mss: Option<u32>,
}

/// Connects with a timeout and classifies the outcome. Returns the stream when connected.
pub async fn connect(
    addr: SocketAddr,
    timeout: Duration,
    opts: ConnectOpts,
) -> (TcpOutcome, Option<TcpStream>) {
    let start = Instant::now();
    let sock = match if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    } {
        Ok(s) => s,
        Err(e) => {
            return (
                TcpOutcome::Error {
                    duration_ms: ms(start.elapsed()),
                    error: e.to_string(),
                },
                None,
            )
        }
    };
    if let Some(mss) = opts.mss {
        crate::sys::set_mss(&sock, mss);
    }
    let _ = sock.set_nodelay(true);
    match tokio::time::timeout(timeout, sock.connect(addr)).await {
        Err(_) => (
            TcpOutcome::Filtered {
                timeout_ms: ms(timeout),
            },
            None,
        ),
        Ok(Ok(stream)) => {
            let duration_ms = ms(start.elapsed());
            let _ = stream.set_nodelay(true);
            (
                TcpOutcome::Connected {
                    duration_ms,
                    syn_retransmits: crate::sys::syn_retransmits(&stream),
                },
                Some(stream),
            )
        }
        Ok(Err(e)) => (classify_connect_error(&e, start.elapsed()), None),
    }
}

pub fn classify_connect_error(e: &io::Error, elapsed: Duration) -> TcpOutcome {
    let duration_ms = ms(elapsed);
    match e.kind() {
        io::ErrorKind::ConnectionRefused => TcpOutcome::Refused { duration_ms },
        // ECONNRESET from connect(): the SYN+ACK arrived and the handshake completed, then an
        // RST (a RST to the SYN itself is ECONNREFUSED). Whether the reset lands before or
        // after connect() returns is a race; either way it is the peer refusing the session.
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
            TcpOutcome::Reset { duration_ms }
        }
        io::ErrorKind::HostUnreachable => TcpOutcome::Unreachable {
            duration_ms,
            kind: UnreachableKind::Host,
            error: e.to_string(),
        },
        io::ErrorKind::NetworkUnreachable => TcpOutcome::Unreachable {
            duration_ms,
            kind: UnreachableKind::Network,
            error: e.to_string(),
        },
        io::ErrorKind::TimedOut => TcpOutcome::Filtered {
            timeout_ms: duration_ms,
        },
        _ => match crate::sys::unreachable_kind(e) {
            Some(kind) => TcpOutcome::Unreachable {
                duration_ms,
                kind,
                error: e.to_string(),
            },
            None => TcpOutcome::Error {
                duration_ms,
                error: e.to_string(),
            },
        },
    }
}

/// What a framed read ended with.
#[derive(Debug)]
pub enum ReadEnd {
    /// A whole frame; the buffer may hold more bytes after it.
    Frame { len: usize },
    /// The peer sent bytes that cannot start a frame.
    Invalid,
    /// Nothing (or not enough) arrived in time.
    Timeout,
    /// FIN.
    Eof,
    /// RST.
    Reset,
    /// Another socket error.
    Error(String),
}

/// How far a parser got with the bytes so far.
pub enum FrameProgress {
    NeedMore,
    Complete(usize),
    Invalid,
}

/// Reads into `buf` until `progress` reports a complete frame, the peer misbehaves, `max`
/// bytes have arrived, or `timeout` passes. Bytes read stay in `buf` in every case, so the
/// caller can report what arrived.
pub async fn read_frame<R, F>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
    timeout: Duration,
    progress: F,
) -> ReadEnd
where
    R: AsyncRead + Unpin,
    F: Fn(&[u8]) -> FrameProgress,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match progress(buf) {
            FrameProgress::Complete(len) => return ReadEnd::Frame { len },
            FrameProgress::Invalid => return ReadEnd::Invalid,
            FrameProgress::NeedMore => {}
        }
        if buf.len() >= max {
            return ReadEnd::Invalid;
        }
        let mut chunk = [0u8; 4096];
        let want = chunk.len().min(max - buf.len());
        let Some(slice) = chunk.get_mut(..want) else {
            return ReadEnd::Invalid;
        };
        match tokio::time::timeout_at(deadline, r.read(slice)).await {
            Err(_) => return ReadEnd::Timeout,
            Ok(Ok(0)) => return ReadEnd::Eof,
            Ok(Ok(n)) => buf.extend_from_slice(slice.get(..n).unwrap_or(&[])),
            Ok(Err(e)) => return io_end(&e),
        }
    }
}

pub fn io_end(e: &io::Error) -> ReadEnd {
    match e.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => ReadEnd::Reset,
        io::ErrorKind::UnexpectedEof | io::ErrorKind::BrokenPipe => ReadEnd::Eof,
        _ => ReadEnd::Error(e.to_string()),
    }
}

pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}

/// TPKT framing progress for [`read_frame`].
pub fn tpkt_progress(buf: &[u8]) -> FrameProgress {
    use rdp_doctor_wire::tpkt::{frame_status, FrameStatus};
    match frame_status(buf) {
        FrameStatus::Complete { len } => FrameProgress::Complete(len),
        FrameStatus::Incomplete { .. } => FrameProgress::NeedMore,
        FrameStatus::NotTpkt { .. } | FrameStatus::BadLength { .. } => FrameProgress::Invalid,
    }
}
