//! X.224 TPDUs as RDP uses them ([MS-RDPBCGR] 2.2.1.1 Client X.224 Connection Request,
//! 2.2.1.2 Server X.224 Connection Confirm, [X.224] 13.7 Data, 13.5 Disconnect Request).
//!
//! The functions here work on the TPKT *payload* (see [`crate::tpkt`]).

use crate::cursor::Cursor;
use crate::nego::{NegOutcome, NegRequest};
use crate::DecodeError;

pub const CODE_CR: u8 = 0xE0;
pub const CODE_CC: u8 = 0xD0;
pub const CODE_DR: u8 = 0x80;
pub const CODE_DT: u8 = 0xF0;
pub const CODE_ER: u8 = 0x70;

/// The longest routing token / cookie we emit or accept, in bytes (the CR's length indicator
/// is one byte, so the whole variable part is below 255 anyway).
pub const MAX_TOKEN: usize = 200;

/// Client X.224 Connection Request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectionRequest {
    /// The routing token or cookie line without its CR LF, e.g. `Cookie: mstshash=alice`.
    pub token: Option<Vec<u8>>,
    pub nego: Option<NegRequest>,
    /// RDP_NEG_CORRELATION_INFO correlationId ([MS-RDPBCGR] 2.2.1.1.2).
    pub correlation_id: Option<[u8; 16]>,
}

impl ConnectionRequest {
    /// The `Cookie: mstshash=NAME` token mstsc sends (the user name, truncated by mstsc to 9
    /// characters). Control characters and non-ASCII bytes are dropped.
    pub fn mstshash(name: &str) -> Vec<u8> {
        let mut t = b"Cookie: mstshash=".to_vec();
        t.extend(
            name.bytes()
                .filter(|b| b.is_ascii_graphic())
                .take(MAX_TOKEN - 17),
        );
        t
    }

    /// Encodes the TPKT payload (LI, CR code, refs, class, variable part).
    pub fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        let mut var = Vec::new();
        if let Some(t) = &self.token {
            if t.len() > MAX_TOKEN {
                return Err(DecodeError::TooLarge {
                    what: "X.224 routing token",
                    len: t.len(),
                    max: MAX_TOKEN,
                });
            }
            var.extend_from_slice(t);
            var.extend_from_slice(b"\r\n");
        }
        if let Some(n) = &self.nego {
            let mut n = *n;
            if self.correlation_id.is_some() {
                n.flags |= crate::nego::req_flags::CORRELATION_INFO_PRESENT;
            }
            n.encode(&mut var);
        }
        if let Some(id) = &self.correlation_id {
            var.push(crate::nego::TYPE_RDP_CORRELATION_INFO);
            var.push(0);
            var.extend_from_slice(&36u16.to_le_bytes());
            var.extend_from_slice(id);
            var.extend_from_slice(&[0u8; 16]);
        }
        let li = 6 + var.len();
        let li8 = u8::try_from(li).map_err(|_| DecodeError::TooLarge {
            what: "X.224 length indicator",
            len: li,
            max: 254,
        })?;
        let mut out = vec![li8, CODE_CR, 0, 0, 0, 0, 0];
        out.extend_from_slice(&var);
        Ok(out)
    }

    /// Decodes the variable part of a CR (used by the lab server).
    fn decode_variable(var: &[u8]) -> Result<Self, DecodeError> {
        let mut req = ConnectionRequest::default();
        let mut rest = var;
        // A token is anything before the first CR LF, when the part does not start with an
        // RDP_NEG_REQ ([MS-RDPBCGR] 2.2.1.1: routingToken / cookie are CR LF terminated).
        if rest
            .first()
            .is_some_and(|&b| b != crate::nego::TYPE_RDP_NEG_REQ)
        {
            match rest.windows(2).position(|w| w == b"\r\n") {
                Some(end) => {
                    req.token = Some(rest.get(..end).unwrap_or(&[]).to_vec());
                    rest = rest.get(end + 2..).unwrap_or(&[]);
                }
                None => {
                    return Err(DecodeError::Invalid {
                        what: "X.224 routing token (no CR LF)",
                        value: rest.len() as u64,
                    })
                }
            }
        }
        let mut c = Cursor::new(rest);
        if !c.is_empty() {
            let nego = NegRequest::decode(&mut c)?;
            req.nego = Some(nego);
            if nego.flags & crate::nego::req_flags::CORRELATION_INFO_PRESENT != 0 {
                let ty = c.u8("RDP_NEG_CORRELATION_INFO type")?;
                let _flags = c.u8("RDP_NEG_CORRELATION_INFO flags")?;
                let len = c.u16_le("RDP_NEG_CORRELATION_INFO length")?;
                if ty != crate::nego::TYPE_RDP_CORRELATION_INFO || len != 36 {
                    return Err(DecodeError::Invalid {
                        what: "RDP_NEG_CORRELATION_INFO",
                        value: u64::from(ty),
                    });
                }
                req.correlation_id = Some(c.array::<16>("correlationId")?);
                c.skip(16, "correlation reserved")?;
            }
        }
        Ok(req)
    }
}

/// Server X.224 Connection Confirm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionConfirm {
    pub dst_ref: u16,
    pub src_ref: u16,
    pub class: u8,
    pub nego: NegOutcome,
}

impl ConnectionConfirm {
    pub fn encode(&self) -> Vec<u8> {
        let mut var = Vec::new();
        self.nego.encode(&mut var);
        let li = (6 + var.len()) as u8; // at most 14
        let mut out = vec![li, CODE_CC];
        out.extend_from_slice(&self.dst_ref.to_be_bytes());
        out.extend_from_slice(&self.src_ref.to_be_bytes());
        out.push(self.class);
        out.extend_from_slice(&var);
        out
    }
}

/// Any TPDU a peer may send where we expect a Connection Confirm or data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tpdu<'a> {
    ConnectionRequest(ConnectionRequest),
    ConnectionConfirm(ConnectionConfirm),
    /// Data TPDU: the MCS PDU inside.
    Data(&'a [u8]),
    DisconnectRequest {
        reason: u8,
    },
    /// Another TPDU code (e.g. 0x70 error TPDU).
    Other {
        code: u8,
    },
}

/// The TPDU code of a TPKT payload (the upper nibble identifies CR/CC/DR/DT/ER).
pub fn tpdu_code(payload: &[u8]) -> Option<u8> {
    payload.get(1).map(|c| c & 0xF0)
}

/// Decodes one TPKT payload.
pub fn decode(payload: &[u8]) -> Result<Tpdu<'_>, DecodeError> {
    let mut c = Cursor::new(payload);
    let li = usize::from(c.u8("X.224 length indicator")?);
    let code = c.u8("X.224 TPDU code")? & 0xF0;
    if code == CODE_DT {
        // LI = 2, code F0, EOT 0x80; the rest is user data.
        if li != 2 {
            return Err(DecodeError::Invalid {
                what: "X.224 Data length indicator",
                value: li as u64,
            });
        }
        c.skip(1, "X.224 Data EOT")?;
        return Ok(Tpdu::Data(c.rest()));
    }
    if li + 1 > payload.len() {
        return Err(DecodeError::Truncated {
            what: "X.224 TPDU",
            needed: li + 1,
            available: payload.len(),
        });
    }
    if li < 6 && code != CODE_DR {
        return Err(DecodeError::Invalid {
            what: "X.224 length indicator",
            value: li as u64,
        });
    }
    let header_and_var = payload.get(..li + 1).unwrap_or(&[]);
    let mut c = Cursor::new(header_and_var);
    c.skip(2, "X.224 LI/code")?;
    match code {
        CODE_CC => {
            let dst_ref = c.u16_be("X.224 dst-ref")?;
            let src_ref = c.u16_be("X.224 src-ref")?;
            let class = c.u8("X.224 class")?;
            let nego = NegOutcome::decode(&mut c)?;
            Ok(Tpdu::ConnectionConfirm(ConnectionConfirm {
                dst_ref,
                src_ref,
                class,
                nego,
            }))
        }
        CODE_CR => {
            c.skip(5, "X.224 refs/class")?;
            Ok(Tpdu::ConnectionRequest(ConnectionRequest::decode_variable(
                c.rest(),
            )?))
        }
        CODE_DR => {
            c.skip(4, "X.224 DR refs")?;
            let reason = c.u8("X.224 DR reason").unwrap_or(0);
            Ok(Tpdu::DisconnectRequest { reason })
        }
        other => Ok(Tpdu::Other { code: other }),
    }
}

/// Wraps an MCS PDU in an X.224 Data TPDU (without the TPKT header).
pub fn encode_data(mcs: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(mcs.len() + 3);
    out.extend_from_slice(&[0x02, CODE_DT, 0x80]);
    out.extend_from_slice(mcs);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nego::{FailureCode, Protocols};
    use crate::tpkt;

    /// The CR sslyze sends: TPKT(19) | LI 0x0E, CR, dst 0, src 0, class 0 |
    /// RDP_NEG_REQ type 1, flags 0, len 8, requestedProtocols 3 (SSL|HYBRID).
    const SSLYZE_CR: [u8; 19] = [
        0x03, 0x00, 0x00, 0x13, // TPKT v3, len 19
        0x0E, 0xE0, 0x00, 0x00, 0x00, 0x00, 0x00, // X.224 CR
        0x01, 0x00, 0x08, 0x00, 0x03, 0x00, 0x00, 0x00, // RDP_NEG_REQ SSL|HYBRID
    ];

    #[test]
    fn encodes_the_sslyze_request_byte_for_byte() {
        let cr = ConnectionRequest {
            token: None,
            nego: Some(NegRequest {
                flags: 0,
                protocols: Protocols(3),
            }),
            correlation_id: None,
        };
        let bytes = tpkt::encode(&cr.encode().expect("fits")).expect("fits");
        assert_eq!(bytes, SSLYZE_CR);
        let (payload, _) = tpkt::split_frame(&bytes).expect("frame");
        assert_eq!(decode(payload), Ok(Tpdu::ConnectionRequest(cr)));
    }

    #[test]
    fn cookie_round_trips() {
        let cr = ConnectionRequest {
            token: Some(ConnectionRequest::mstshash("alice\r\nx")),
            nego: Some(NegRequest {
                flags: 0,
                protocols: Protocols(0x0B),
            }),
            correlation_id: Some([7; 16]),
        };
        let payload = cr.encode().expect("fits");
        assert!(payload
            .windows(26)
            .any(|w| w == b"Cookie: mstshash=alicex\r\n\x01"));
        match decode(&payload).expect("decodes") {
            Tpdu::ConnectionRequest(got) => {
                assert_eq!(got.token.as_deref(), Some(&b"Cookie: mstshash=alicex"[..]));
                assert_eq!(got.correlation_id, Some([7; 16]));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Windows Server answer (nmap-service-probes "Microsoft Terminal Services"):
    /// LI 0x0E, CC, dst 0, src 0x1234, class 0 | RDP_NEG_RSP flags 0x1F, len 8, selected HYBRID.
    #[test]
    fn decodes_windows_confirm() {
        let p = [
            0x0E, 0xD0, 0x00, 0x00, 0x12, 0x34, 0x00, 0x02, 0x1F, 0x08, 0x00, 0x02, 0x00, 0x00,
            0x00,
        ];
        assert_eq!(
            decode(&p),
            Ok(Tpdu::ConnectionConfirm(ConnectionConfirm {
                dst_ref: 0,
                src_ref: 0x1234,
                class: 0,
                nego: NegOutcome::Response {
                    flags: 0x1F,
                    selected: Protocols::HYBRID
                }
            }))
        );
    }

    /// Windows XP/2003: an 11-byte CC without negotiation data (`03 00 00 0b 06 d0 00 00 12 34 00`).
    #[test]
    fn decodes_legacy_confirm() {
        let p = [0x06, 0xD0, 0x00, 0x00, 0x12, 0x34, 0x00];
        match decode(&p).expect("decodes") {
            Tpdu::ConnectionConfirm(cc) => assert_eq!(cc.nego, NegOutcome::Absent),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// xrdp 0.9.21 `security_layer=tls`, asked for PROTOCOL_RDP only (captured on loopback by
    /// `crates/rdp-doctor/tests/real_servers_smoke.rs`, which asserts the same 19 bytes):
    /// LI 0x0E, CC, dst 0, src 0x1234, class 0 | RDP_NEG_FAILURE code 1 SSL_REQUIRED_BY_SERVER.
    #[test]
    fn decodes_xrdp_failure() {
        let p = [
            0x0E, 0xD0, 0x00, 0x00, 0x12, 0x34, 0x00, 0x03, 0x00, 0x08, 0x00, 0x01, 0x00, 0x00,
            0x00,
        ];
        match decode(&p).expect("decodes") {
            Tpdu::ConnectionConfirm(cc) => assert_eq!(
                cc.nego,
                NegOutcome::Failure {
                    code: FailureCode::SSL_REQUIRED_BY_SERVER
                }
            ),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for p in [
            &[][..],
            &[0x0E],
            &[0x0E, 0xD0],
            &[0xFF, 0xD0, 0, 0],
            &[1, 0xE0],
        ] {
            assert!(decode(p).is_err(), "{p:?}");
        }
        assert_eq!(decode(&[2, 0xF0, 0x80, 9]), Ok(Tpdu::Data(&[9])));
    }
}
