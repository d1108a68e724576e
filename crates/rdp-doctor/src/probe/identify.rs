//! Identification probes: when the X.224 request got silence or bytes that are not a TPKT
//! frame, three cheap connections find out what listens instead — does it speak first (a
//! banner), does it answer a TLS ClientHello, does it answer an HTTP request line? They run at
//! once; each read is bounded in bytes ([`MAX_ANSWER`]) and time (the banner wait, or the
//! check's step time-out).

use super::net::{self, FrameProgress, ReadEnd};
use crate::facts::{IdentifyAnswer, IdentifyFact, IdentifyProbe, IdentifyProbeKind, Speaks};
use crate::sanitize;
use rdp_doctor_wire::sniff::{self, Banner, TlsAnswer};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// The most bytes read from one probe's answer.
pub const MAX_ANSWER: usize = 2048;

/// The probes run at once, one connection each: banner, TLS ClientHello, HTTP request.
pub const CONNECTIONS: usize = 3;
/// How long the banner probe waits for a server that speaks first: SSH, VNC, SMTP and FTP
/// servers send their banner as soon as the connection is accepted; x11vnc 0.9.16 first
/// waits about 200 ms for an HTTP request on the same port (measured here), and it takes its
/// new connections one at a time, so behind the other probes' connections the banner came
/// after 500 ms on a loaded machine. The TLS and HTTP probes wait the whole time-out for a
/// silent listener anyway, so a longer banner wait costs no time there.
pub const BANNER_WAIT: Duration = Duration::from_millis(1500);
/// The TLS and HTTP probes connect this much after the banner probe, so a server that accepts
/// one connection at a time greets the banner probe first.
const AFTER_BANNER: Duration = Duration::from_millis(100);

/// Runs the three probes against `addr` at once. `x224` is what the X.224 request itself got
/// back (and how long it took): recognised last, when no probe names the service.
pub async fn run(
    addr: SocketAddr,
    host: &str,
    timeout: Duration,
    x224: (Vec<u8>, Option<f64>),
) -> IdentifyFact {
    let start = Instant::now();
    let http = http_request(host);
    let hello = super::tls::client_hello(host).unwrap_or_default();
    let (b, t, h) = tokio::join!(
        probe(
            addr,
            IdentifyProbeKind::Banner,
            &[],
            BANNER_WAIT.min(timeout),
            timeout
        ),
        async {
            tokio::time::sleep(AFTER_BANNER).await;
            probe(addr, IdentifyProbeKind::Tls, &hello, timeout, timeout).await
        },
        async {
            tokio::time::sleep(AFTER_BANNER).await;
            probe(addr, IdentifyProbeKind::Http, &http, timeout, timeout).await
        },
    );
    let mut probes = vec![b, t, h];
    if !x224.0.is_empty() {
        probes.push(IdentifyProbe {
            probe: IdentifyProbeKind::X224,
            duration_ms: x224.1.unwrap_or_default(),
            answer: answer(&ReadEnd::Eof, &x224.0, timeout),
        });
    }
    let (speaks, by) = probes
        .iter()
        .find_map(|p| match &p.answer {
            IdentifyAnswer::Answered {
                speaks: Some(s), ..
            } => Some((Some(s.clone()), Some(p.probe))),
            _ => None,
        })
        .unwrap_or((None, None));
    IdentifyFact {
        duration_ms: net::ms(start.elapsed()),
        probes,
        speaks,
        by,
    }
}

/// `GET / HTTP/1.0` with a Host field (an IP literal in brackets for IPv6).
pub fn http_request(host: &str) -> Vec<u8> {
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect();
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host
    };
    format!("GET / HTTP/1.0\r\nHost: {host}\r\nUser-Agent: rdp-doctor\r\n\r\n").into_bytes()
}

async fn probe(
    addr: SocketAddr,
    kind: IdentifyProbeKind,
    send: &[u8],
    wait: Duration,
    connect_timeout: Duration,
) -> IdentifyProbe {
    let start = Instant::now();
    let done = |answer| IdentifyProbe {
        probe: kind,
        duration_ms: net::ms(start.elapsed()),
        answer,
    };
    let (tcp, stream) = net::connect(addr, connect_timeout, net::ConnectOpts::default()).await;
    let Some(mut s) = stream else {
        return done(IdentifyAnswer::NotConnected { tcp });
    };
    if !send.is_empty() {
        if let Err(e) = s.write_all(send).await {
            return done(match net::io_end(&e) {
                ReadEnd::Reset => IdentifyAnswer::Reset,
                ReadEnd::Eof => IdentifyAnswer::Closed,
                _ => IdentifyAnswer::Error {
                    error: e.to_string(),
                },
            });
        }
    }
    let mut buf = Vec::new();
    let end = net::read_frame(&mut s, &mut buf, MAX_ANSWER, wait, progress).await;
    done(answer(&end, &buf, wait))
}

/// Enough bytes to judge: a whole HTTP head, a recognised TLS record or banner, or a line.
fn progress(buf: &[u8]) -> FrameProgress {
    let complete = if buf.starts_with(b"HTTP/") {
        buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n")
    } else {
        sniff::tls_answer(buf).is_some() || buf.contains(&b'\n') || buf.len() >= 64
    };
    if complete {
        FrameProgress::Complete(buf.len())
    } else {
        FrameProgress::NeedMore
    }
}

/// What the bytes say. Pure, so each branch is unit-tested.
pub fn answer(end: &ReadEnd, buf: &[u8], wait: Duration) -> IdentifyAnswer {
    if buf.is_empty() {
        return match end {
            ReadEnd::Reset => IdentifyAnswer::Reset,
            ReadEnd::Eof => IdentifyAnswer::Closed,
            ReadEnd::Error(e) => IdentifyAnswer::Error { error: e.clone() },
            _ => IdentifyAnswer::Silent {
                wait_ms: net::ms(wait),
            },
        };
    }
    IdentifyAnswer::Answered {
        bytes: buf.len(),
        first_bytes_hex: sanitize::hex(buf, 32),
        preview: sanitize::preview_bytes(buf, 80),
        speaks: speaks(buf),
    }
}

/// Recognises a server's bytes: a banner, an HTTP status line or a TLS record.
pub fn speaks(buf: &[u8]) -> Option<Speaks> {
    if let Some(b) = sniff::banner(buf) {
        return Some(match b {
            Banner::Ssh { line } => Speaks::Ssh { banner: line },
            Banner::Vnc { version } => Speaks::Vnc { version },
            Banner::Greeting220 { line } => Speaks::Greeting220 { banner: line },
            Banner::MailOk { line } => Speaks::MailOk { banner: line },
        });
    }
    if let Some(h) = sniff::http_answer(buf) {
        return Some(Speaks::Http {
            status: h.status,
            status_line: h.status_line,
            server: h.server,
        });
    }
    sniff::tls_answer(buf).map(|t| match t {
        TlsAnswer::ServerHello { version } => Speaks::Tls {
            version: Some(rdp_doctor_wire::tls::version_name(version)),
            alert: None,
        },
        TlsAnswer::Alert { description, .. } => Speaks::Tls {
            version: None,
            alert: Some(format!(
                "{description} ({})",
                rdp_doctor_wire::tls::alert_name(description)
            )),
        },
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn answers_by_what_arrived() {
        let w = Duration::from_millis(300);
        assert_eq!(
            answer(&ReadEnd::Timeout, &[], w),
            IdentifyAnswer::Silent { wait_ms: 300.0 }
        );
        assert_eq!(answer(&ReadEnd::Eof, &[], w), IdentifyAnswer::Closed);
        assert_eq!(answer(&ReadEnd::Reset, &[], w), IdentifyAnswer::Reset);
        match answer(&ReadEnd::Frame { len: 9 }, b"RFB 003.008\n", w) {
            IdentifyAnswer::Answered { speaks, bytes, .. } => {
                assert_eq!(bytes, 12);
                assert_eq!(
                    speaks,
                    Some(Speaks::Vnc {
                        version: "003.008".into()
                    })
                );
            }
            other => panic!("{other:?}"),
        }
        // Garbage: answered, not recognised.
        match answer(&ReadEnd::Timeout, &[0xff, 0x00, 0x13], w) {
            IdentifyAnswer::Answered { speaks: None, .. } => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_http_request_names_the_host() {
        let r = String::from_utf8(http_request("fd00::2")).unwrap();
        assert!(
            r.starts_with("GET / HTTP/1.0\r\nHost: [fd00::2]\r\n"),
            "{r}"
        );
        // No CR, LF or space from a host name reaches the request.
        let r = String::from_utf8(http_request("srv\r\nX-Injected y")).unwrap();
        assert!(r.contains("Host: srvX-Injectedy\r\n"), "{r}");
    }

    #[test]
    fn progress_waits_for_the_whole_http_head() {
        assert!(matches!(
            progress(b"HTTP/1.0 200 OK\r\nServer: x\r\n"),
            FrameProgress::NeedMore
        ));
        assert!(matches!(
            progress(b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\n"),
            FrameProgress::Complete(_)
        ));
        assert!(matches!(
            progress(b"SSH-2.0-x\r\n"),
            FrameProgress::Complete(_)
        ));
        assert!(matches!(progress(b"SSH-2.0"), FrameProgress::NeedMore));
    }

    #[test]
    fn a_client_hello_is_a_tls_handshake_record() {
        let h = crate::probe::tls::client_hello("rdp.example").unwrap();
        assert_eq!(h.first(), Some(&22));
        assert_eq!(h.get(5), Some(&1), "handshake type ClientHello");
        assert!(crate::probe::tls::client_hello("10.0.0.1").is_some());
    }
}
