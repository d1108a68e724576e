//! The X.224 step: send a Connection Request, classify whatever comes back.

use super::net::{self, ReadEnd};
use crate::facts::{ProbeStatus, X224Outcome};
use crate::sanitize;
use rdp_doctor_wire::nego::{rsp_flags, NegOutcome, NegRequest, Protocols};
use rdp_doctor_wire::tpkt;
use rdp_doctor_wire::x224::{self, ConnectionRequest, Tpdu};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// A Connection Confirm is 11 or 19 bytes; anything an RDP server answers first fits in 4 KiB.
const MAX_CONFIRM: usize = 4096;

pub struct NegotiationResult {
    pub outcome: X224Outcome,
    pub duration_ms: f64,
    pub confirm_hex: Option<String>,
    /// The bytes that came back (at most 4 KiB), for the identification of a listener that
    /// is not RDP.
    pub answer: Vec<u8>,
}

/// Builds the request bytes (TPKT included).
pub fn request_bytes(requested: Protocols, cookie: Option<&str>) -> Vec<u8> {
    let cr = ConnectionRequest {
        token: cookie.map(ConnectionRequest::mstshash),
        nego: Some(NegRequest {
            flags: 0,
            protocols: requested,
        }),
        correlation_id: None,
    };
    // A request with at most a 200-byte token always fits a TPKT; fall back to no cookie.
    cr.encode()
        .ok()
        .and_then(|p| tpkt::encode(&p).ok())
        .unwrap_or_else(|| {
            let plain = ConnectionRequest {
                token: None,
                ..cr.clone()
            };
            plain
                .encode()
                .ok()
                .and_then(|p| tpkt::encode(&p).ok())
                .unwrap_or_default()
        })
}

pub async fn negotiate<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
    requested: Protocols,
    cookie: Option<&str>,
    timeout: Duration,
) -> NegotiationResult {
    let start = Instant::now();
    let req = request_bytes(requested, cookie);
    if let Err(e) = stream.write_all(&req).await {
        let outcome = match net::io_end(&e) {
            ReadEnd::Reset => X224Outcome::Reset { bytes_before: 0 },
            ReadEnd::Eof => X224Outcome::Closed { bytes_before: 0 },
            _ => X224Outcome::Error {
                error: e.to_string(),
            },
        };
        return NegotiationResult {
            outcome,
            duration_ms: net::ms(start.elapsed()),
            confirm_hex: None,
            answer: Vec::new(),
        };
    }
    let mut buf = Vec::new();
    let end = net::read_frame(stream, &mut buf, MAX_CONFIRM, timeout, net::tpkt_progress).await;
    let duration_ms = net::ms(start.elapsed());
    let (outcome, confirm_hex) = classify(&end, &buf, timeout);
    NegotiationResult {
        outcome,
        duration_ms,
        confirm_hex,
        answer: buf,
    }
}

/// Turns what arrived into an outcome. Pure, so every branch is unit-tested.
pub fn classify(end: &ReadEnd, buf: &[u8], timeout: Duration) -> (X224Outcome, Option<String>) {
    match end {
        ReadEnd::Frame { len } => {
            let frame = buf.get(..*len).unwrap_or(buf);
            let hex = Some(sanitize::hex(frame, 64));
            let payload = frame.get(tpkt::HEADER_LEN..).unwrap_or(&[]);
            let outcome = match x224::decode(payload) {
                Ok(Tpdu::ConnectionConfirm(cc)) => match cc.nego {
                    NegOutcome::Response { flags, selected } => X224Outcome::Selected {
                        protocol: selected,
                        protocol_name: selected.to_string(),
                        flags,
                        flag_names: rsp_flags::names(flags)
                            .into_iter()
                            .map(String::from)
                            .collect(),
                    },
                    NegOutcome::Failure { code } => X224Outcome::Failure {
                        code: code.0,
                        name: code.name().map(String::from),
                    },
                    NegOutcome::Absent => X224Outcome::Legacy,
                },
                Ok(Tpdu::DisconnectRequest { reason }) => X224Outcome::UnexpectedPdu {
                    description: format!("X.224 Disconnect Request (reason {reason})"),
                },
                Ok(Tpdu::Data(mcs)) => X224Outcome::UnexpectedPdu {
                    description: describe_mcs(mcs),
                },
                Ok(Tpdu::ConnectionRequest(_)) => X224Outcome::UnexpectedPdu {
                    description: "an X.224 Connection Request (the peer is a client, or echoes)"
                        .into(),
                },
                Ok(Tpdu::Other { code }) => X224Outcome::UnexpectedPdu {
                    description: format!("X.224 TPDU code 0x{code:02X}"),
                },
                Err(e) => X224Outcome::Malformed {
                    error: e.to_string(),
                },
            };
            (outcome, hex)
        }
        ReadEnd::Invalid => (
            X224Outcome::NotRdp {
                first_bytes_hex: sanitize::hex(buf, 32),
                preview: sanitize::preview_bytes(buf, 80),
            },
            None,
        ),
        ReadEnd::Timeout if buf.is_empty() => (
            X224Outcome::NoResponse {
                timeout_ms: net::ms(timeout),
            },
            None,
        ),
        ReadEnd::Timeout => {
            let needed = match rdp_doctor_wire::tpkt::frame_status(buf) {
                rdp_doctor_wire::tpkt::FrameStatus::Incomplete { needed } => needed,
                _ => buf.len(),
            };
            (
                X224Outcome::Partial {
                    bytes: buf.len(),
                    needed,
                    timeout_ms: net::ms(timeout),
                },
                None,
            )
        }
        ReadEnd::Eof => (
            X224Outcome::Closed {
                bytes_before: buf.len(),
            },
            None,
        ),
        ReadEnd::Reset => (
            X224Outcome::Reset {
                bytes_before: buf.len(),
            },
            None,
        ),
        ReadEnd::Error(e) => (X224Outcome::Error { error: e.clone() }, None),
    }
}

/// A human description of an MCS PDU that arrived instead of a Connection Confirm.
fn describe_mcs(mcs: &[u8]) -> String {
    // [T.125] DomainMCSPDU is PER: the first byte's top 6 bits are the CHOICE index;
    // 8 = disconnectProviderUltimatum.
    match mcs.first() {
        Some(b) if b >> 2 == 8 => {
            // then the 3-bit Reason: two low bits of this byte, the top bit of the next.
            let reason =
                (u16::from(*b & 0x03) << 1) | u16::from(mcs.get(1).copied().unwrap_or(0) >> 7);
            format!("MCS Disconnect Provider Ultimatum (reason {reason})")
        }
        Some(b) => format!("an MCS PDU (first byte 0x{b:02X})"),
        None => "an empty X.224 Data TPDU".into(),
    }
}

/// Whether a single-protocol probe's answer means the protocol was accepted, refused, or the
/// probe failed.
pub fn probe_status(requested: Protocols, outcome: &X224Outcome) -> ProbeStatus {
    match outcome {
        X224Outcome::Selected { protocol, .. } if *protocol == requested => ProbeStatus::Accepted,
        X224Outcome::Selected { .. } => ProbeStatus::Refused,
        X224Outcome::Legacy if requested == Protocols::RDP => ProbeStatus::Accepted,
        X224Outcome::Legacy => ProbeStatus::Refused,
        X224Outcome::Failure { .. } => ProbeStatus::Refused,
        _ => ProbeStatus::Error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(1);

    #[test]
    fn classifies_confirms() {
        // xrdp negotiate answering HYBRID-only with PROTOCOL_RDP (the downgrade nmap misreads)
        let cc = [3, 0, 0, 19, 14, 0xD0, 0, 0, 0, 0, 0, 2, 1, 8, 0, 0, 0, 0, 0];
        let (o, hex) = classify(&ReadEnd::Frame { len: 19 }, &cc, T);
        assert!(matches!(
            o,
            X224Outcome::Selected {
                protocol: Protocols::RDP,
                flags: 1,
                ..
            }
        ));
        assert_eq!(probe_status(Protocols::HYBRID, &o), ProbeStatus::Refused);
        assert_eq!(probe_status(Protocols::RDP, &o), ProbeStatus::Accepted);
        assert!(hex.is_some());
        let fail = [3, 0, 0, 19, 14, 0xD0, 0, 0, 0, 0, 0, 3, 0, 8, 0, 5, 0, 0, 0];
        let (o, _) = classify(&ReadEnd::Frame { len: 19 }, &fail, T);
        assert_eq!(
            o,
            X224Outcome::Failure {
                code: 5,
                name: Some("HYBRID_REQUIRED_BY_SERVER".into())
            }
        );
        let legacy = [3, 0, 0, 11, 6, 0xD0, 0, 0, 0x12, 0x34, 0];
        assert_eq!(
            classify(&ReadEnd::Frame { len: 11 }, &legacy, T).0,
            X224Outcome::Legacy
        );
    }

    #[test]
    fn classifies_misbehaviour() {
        let (o, _) = classify(&ReadEnd::Invalid, b"HTTP/1.1 400 Bad Request\r\n", T);
        match o {
            X224Outcome::NotRdp { preview, .. } => assert!(preview.starts_with("HTTP/1.1 400")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify(&ReadEnd::Timeout, &[], T).0,
            X224Outcome::NoResponse { .. }
        ));
        assert_eq!(
            classify(&ReadEnd::Timeout, &[3, 0, 0], T).0,
            X224Outcome::Partial {
                bytes: 3,
                needed: 4,
                timeout_ms: 1000.0
            }
        );
        assert_eq!(
            classify(&ReadEnd::Reset, &[], T).0,
            X224Outcome::Reset { bytes_before: 0 }
        );
        assert_eq!(
            classify(&ReadEnd::Eof, &[], T).0,
            X224Outcome::Closed { bytes_before: 0 }
        );
        // MCS DPUm (0x21 0x80: choice 8, reason rn-user-requested 3) in a Data TPDU
        let dpum = [3, 0, 0, 9, 2, 0xF0, 0x80, 0x21, 0x80];
        match classify(&ReadEnd::Frame { len: 9 }, &dpum, T).0 {
            X224Outcome::UnexpectedPdu { description } => {
                assert_eq!(description, "MCS Disconnect Provider Ultimatum (reason 3)")
            }
            other => panic!("{other:?}"),
        }
    }
}
