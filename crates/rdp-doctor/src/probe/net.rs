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

/// A second handle on a connected socket, to read the kernel's counters of the connection
/// after its stream has moved on (into TLS, a task) or been dropped.
pub struct StatsHandle(socket2::Socket);

impl StatsHandle {
    pub fn of(s: &TcpStream) -> Option<StatsHandle> {
        socket2::SockRef::from(s).try_clone().ok().map(StatsHandle)
    }
    pub fn read(&self) -> Option<rdp_doctor_sys::TcpStats> {
        rdp_doctor_sys::tcp_stats(&self.0)
    }
}

/// How long the main connect may wait for its SYN+ACK before witnesses join it.
pub const WITNESS_DELAY: Duration = Duration::from_millis(250);
/// How many witness connects join a main connect that has no answer yet.
pub const WITNESSES: usize = 3;

/// A connect whose answer may come from a witness.
pub struct Witnessed<S> {
    pub outcome: TcpOutcome,
    pub stream: Option<S>,
    /// The main connect's SYN or SYN+ACK was lost while a witness to the same port connected
    /// (see [`connect_witnessed`]): loss, not a firewall. How long the main connect had
    /// waited by then (how many SYNs it had sent).
    pub main_lost_after: Option<Duration>,
}

/// Connects with witnesses: when the main connect (`connect(timeout)`) has no answer after
/// [`WITNESS_DELAY`], [`WITNESSES`] more connects to the same port start, ending at the same
/// deadline. The first to connect wins. A refusal, reset or ICMP error of the main connect
/// ends it at once; "no answer" (`Filtered`) is returned only when no SYN to the port was
/// answered at all, so a lost SYN among answered ones reads as loss, never as a firewall.
pub async fn connect_witnessed<S, F, Fut>(connect: F, timeout: Duration) -> Witnessed<S>
where
    S: Send + 'static,
    F: Fn(Duration) -> Fut,
    Fut: std::future::Future<Output = (TcpOutcome, Option<S>)> + Send + 'static,
{
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    let main = connect(timeout);
    set.spawn(async move { (true, main.await) });
    // The main connect alone first.
    let early = tokio::time::timeout(WITNESS_DELAY.min(timeout), set.join_next()).await;
    match early {
        Ok(Some(Ok((_, (outcome, stream))))) => {
            return Witnessed {
                outcome,
                stream,
                main_lost_after: None,
            }
        }
        Ok(_) => {
            return Witnessed {
                outcome: TcpOutcome::NotTried,
                stream: None,
                main_lost_after: None,
            }
        }
        Err(_) => {}
    }
    let rest = timeout.saturating_sub(WITNESS_DELAY);
    for _ in 0..WITNESSES {
        let f = connect(rest);
        set.spawn(async move { (false, f.await) });
    }
    let mut main_outcome: Option<TcpOutcome> = None;
    while let Some(r) = set.join_next().await {
        let Ok((is_main, (outcome, stream))) = r else {
            continue;
        };
        if outcome.is_connected() {
            // The main connect's SYN (or SYN+ACK) was lost when it timed out, or when it is
            // still unanswered although a witness, started WITNESS_DELAY later, did its whole
            // handshake in less than WITNESS_DELAY: the main connect then waited more than
            // twice a full round trip (the kernel retransmits a SYN only after 1 s).
            let witness_fast = matches!(
                outcome,
                TcpOutcome::Connected { duration_ms, .. } if duration_ms < ms(WITNESS_DELAY)
            );
            let main_lost = match &main_outcome {
                Some(TcpOutcome::Filtered { .. }) => true,
                Some(_) => false,
                None => !is_main && witness_fast,
            };
            set.abort_all();
            return Witnessed {
                outcome,
                stream,
                main_lost_after: main_lost.then(|| started.elapsed()),
            };
        }
        if is_main {
            if !matches!(outcome, TcpOutcome::Filtered { .. }) {
                // Refused, reset, unreachable: the network answered; that is the outcome.
                set.abort_all();
                return Witnessed {
                    outcome,
                    stream,
                    main_lost_after: None,
                };
            }
            main_outcome = Some(outcome);
        }
    }
    Witnessed {
        outcome: main_outcome.unwrap_or(TcpOutcome::NotTried),
        stream: None,
        main_lost_after: None,
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

#[cfg(test)]
mod witness_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    type Fake =
        std::pin::Pin<Box<dyn std::future::Future<Output = (TcpOutcome, Option<()>)> + Send>>;

    /// A connector whose first call (the main connect) behaves as `main`, the others as
    /// `witness`: `Some(ms)` connects after that many ms, `None` never answers.
    fn fake(
        main: Result<Option<u64>, TcpOutcome>,
        witness: Option<u64>,
        calls: Arc<AtomicUsize>,
    ) -> impl Fn(Duration) -> Fake {
        move |t| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            let how = if n == 0 { main.clone() } else { Ok(witness) };
            Box::pin(async move {
                match how {
                    Err(o) => (o, None),
                    Ok(Some(after)) if Duration::from_millis(after) < t => {
                        tokio::time::sleep(Duration::from_millis(after)).await;
                        (
                            TcpOutcome::Connected {
                                duration_ms: after as f64,
                                syn_retransmits: None,
                            },
                            Some(()),
                        )
                    }
                    Ok(_) => {
                        tokio::time::sleep(t).await;
                        (TcpOutcome::Filtered { timeout_ms: ms(t) }, None)
                    }
                }
            })
        }
    }

    const T: Duration = Duration::from_secs(5);

    #[tokio::test(start_paused = true)]
    async fn a_lost_main_syn_among_answered_ones_is_loss_not_filtered() {
        let calls = Arc::new(AtomicUsize::new(0));
        let w = connect_witnessed(fake(Ok(None), Some(2), calls.clone()), T).await;
        assert!(w.outcome.is_connected(), "{:?}", w.outcome);
        assert!(w.stream.is_some());
        assert!(w.main_lost_after.is_some());
        assert_eq!(calls.load(Ordering::SeqCst), 1 + WITNESSES);
    }

    #[tokio::test(start_paused = true)]
    async fn filtered_only_when_no_syn_was_answered() {
        let calls = Arc::new(AtomicUsize::new(0));
        let w = connect_witnessed(fake(Ok(None), None, calls.clone()), T).await;
        assert!(
            matches!(w.outcome, TcpOutcome::Filtered { .. }),
            "{:?}",
            w.outcome
        );
        assert!(w.main_lost_after.is_none());
        assert_eq!(calls.load(Ordering::SeqCst), 1 + WITNESSES);
    }

    #[tokio::test(start_paused = true)]
    async fn a_prompt_answer_needs_no_witness() {
        let calls = Arc::new(AtomicUsize::new(0));
        let w = connect_witnessed(fake(Ok(Some(3)), Some(1), calls.clone()), T).await;
        assert!(w.outcome.is_connected());
        assert!(w.main_lost_after.is_none());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let calls = Arc::new(AtomicUsize::new(0));
        let refused = TcpOutcome::Refused { duration_ms: 0.1 };
        let w = connect_witnessed(fake(Err(refused.clone()), Some(1), calls.clone()), T).await;
        assert_eq!(w.outcome, refused);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_path_is_not_loss() {
        // Round trip 400 ms: the main connect answers before the witnesses, no loss.
        let calls = Arc::new(AtomicUsize::new(0));
        let w = connect_witnessed(fake(Ok(Some(400)), Some(400), calls.clone()), T).await;
        assert!(w.outcome.is_connected());
        assert!(w.main_lost_after.is_none());
    }
}
