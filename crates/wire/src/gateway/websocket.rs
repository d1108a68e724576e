//! WebSocket framing (RFC 6455 5) for the RD Gateway's upgraded channel: frames both ways
//! (a client masks, a server must not, 5.1), control-frame rules (5.5), the close payload
//! (5.5.1), message reassembly with a cap, and the handshake's accept key (4.2.2).
//!
//! The masking key is an argument: the codec has no randomness. A frame whose direction is
//! wrong (a masked server frame, which FreeRDP rejects) is decoded and reported, not hidden:
//! [`Frame::masked`] says so and [`check_role`] judges it.

use crate::DecodeError;
use base64::Engine as _;
use sha1::{Digest, Sha1};

/// RFC 6455 1.3: appended to the client's key before hashing.
pub const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` value, over the value exactly as received
/// (FreeRDP 2 sends 15 characters that are not base64; the accept is still computed over them).
pub fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.trim().as_bytes());
    h.update(ACCEPT_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// A client key: base64 of 16 bytes the caller chose at random (RFC 6455 4.1 item 7).
pub fn client_key(nonce: [u8; 16]) -> String {
    base64::engine::general_purpose::STANDARD.encode(nonce)
}

/// A frame opcode (RFC 6455 5.2); unknown values are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Opcode(pub u8);

impl Opcode {
    pub const CONTINUATION: Opcode = Opcode(0x0);
    pub const TEXT: Opcode = Opcode(0x1);
    pub const BINARY: Opcode = Opcode(0x2);
    pub const CLOSE: Opcode = Opcode(0x8);
    pub const PING: Opcode = Opcode(0x9);
    pub const PONG: Opcode = Opcode(0xA);

    pub fn is_control(self) -> bool {
        self.0 & 0x8 != 0
    }

    pub fn name(self) -> &'static str {
        match self.0 {
            0x0 => "continuation",
            0x1 => "text",
            0x2 => "binary",
            0x8 => "close",
            0x9 => "ping",
            0xA => "pong",
            _ => "reserved",
        }
    }
}

/// Largest payload one frame may announce before we refuse it (an MS-TSGU PDU is at most
/// 64 KiB plus its header; a peer that announces more is not an RD Gateway).
pub const MAX_FRAME_PAYLOAD: u64 = 1 << 20;

/// One decoded frame, payload unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    /// RSV1-3 (no extension is negotiated: must be 0).
    pub rsv: u8,
    pub opcode: Opcode,
    /// Whether the sender masked it.
    pub masked: bool,
    pub payload: Vec<u8>,
}

/// Decodes one frame from the start of `buf`. `Ok(None)`: more bytes are needed. Returns the
/// frame and its length on the wire.
pub fn decode_frame(buf: &[u8], max_payload: u64) -> Result<Option<(Frame, usize)>, DecodeError> {
    let (Some(&b0), Some(&b1)) = (buf.first(), buf.get(1)) else {
        return Ok(None);
    };
    let fin = b0 & 0x80 != 0;
    let rsv = (b0 >> 4) & 0x7;
    let opcode = Opcode(b0 & 0x0F);
    let masked = b1 & 0x80 != 0;
    let mut pos = 2usize;
    let len = match b1 & 0x7F {
        126 => {
            let Some(&[a, b]) = buf.get(2..4) else {
                return Ok(None);
            };
            pos = 4;
            u64::from(u16::from_be_bytes([a, b]))
        }
        127 => {
            let Some(b) = buf.get(2..10) else {
                return Ok(None);
            };
            pos = 10;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            let v = u64::from_be_bytes(a);
            if v >> 63 != 0 {
                return Err(DecodeError::Invalid {
                    what: "websocket payload length (top bit set)",
                    value: v,
                });
            }
            v
        }
        n => u64::from(n),
    };
    if len > max_payload {
        return Err(DecodeError::TooLarge {
            what: "websocket frame payload",
            len: usize::try_from(len).unwrap_or(usize::MAX),
            max: usize::try_from(max_payload).unwrap_or(usize::MAX),
        });
    }
    if opcode.is_control() && (len > 125 || !fin) {
        return Err(DecodeError::Invalid {
            what: "websocket control frame (longer than 125 bytes or fragmented)",
            value: len,
        });
    }
    let mask = if masked {
        let Some(&[a, b, c, d]) = buf.get(pos..pos + 4) else {
            return Ok(None);
        };
        pos += 4;
        Some([a, b, c, d])
    } else {
        None
    };
    // len <= max_payload <= 2^20 here, so it fits a usize.
    let len = len as usize;
    let Some(data) = buf.get(pos..pos + len) else {
        return Ok(None);
    };
    let mut payload = data.to_vec();
    if let Some(m) = mask {
        apply_mask(&mut payload, m);
    }
    Ok(Some((
        Frame {
            fin,
            rsv,
            opcode,
            masked,
            payload,
        },
        pos + len,
    )))
}

fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    for (i, b) in data.iter_mut().enumerate() {
        *b ^= mask.get(i % 4).copied().unwrap_or(0);
    }
}

/// Encodes one frame; `mask` is the client's masking key (a server passes `None`).
pub fn encode_frame(fin: bool, opcode: Opcode, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(if fin { 0x80 } else { 0 } | (opcode.0 & 0x0F));
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(m | n as u8),
        n if n <= 0xFFFF => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(k) => {
            out.extend_from_slice(&k);
            let start = out.len();
            out.extend_from_slice(payload);
            if let Some(tail) = out.get_mut(start..) {
                apply_mask(tail, k);
            }
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// Which side read a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A client reading server frames: they must be unmasked.
    Client,
    /// A server reading client frames: they must be masked.
    Server,
}

/// Whether a frame obeys the direction rule (RFC 6455 5.1) and has no RSV bits set.
pub fn check_role(f: &Frame, reader: Role) -> Result<(), DecodeError> {
    let ok = match reader {
        Role::Client => !f.masked,
        Role::Server => f.masked,
    };
    if !ok {
        return Err(DecodeError::Invalid {
            what: match reader {
                Role::Client => "websocket frame from the server is masked (RFC 6455 5.1)",
                Role::Server => "websocket frame from the client is not masked (RFC 6455 5.1)",
            },
            value: u64::from(f.opcode.0),
        });
    }
    if f.rsv != 0 {
        return Err(DecodeError::Invalid {
            what: "websocket RSV bits without a negotiated extension",
            value: u64::from(f.rsv),
        });
    }
    Ok(())
}

/// The payload of a Close frame (RFC 6455 5.5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseBody {
    pub code: Option<u16>,
    pub reason: String,
}

impl CloseBody {
    pub fn decode(payload: &[u8]) -> CloseBody {
        match payload {
            [a, b, rest @ ..] => CloseBody {
                code: Some(u16::from_be_bytes([*a, *b])),
                reason: String::from_utf8_lossy(rest).into_owned(),
            },
            _ => CloseBody {
                code: None,
                reason: String::new(),
            },
        }
    }

    pub fn encode(code: u16, reason: &str) -> Vec<u8> {
        let mut out = code.to_be_bytes().to_vec();
        out.extend(reason.bytes().take(123));
        out
    }
}

/// What a [`Reassembler`] hands back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A complete data message (text or binary) and its opcode.
    Data { opcode: Opcode, payload: Vec<u8> },
    /// A control frame, passed through as it came (they may arrive between fragments).
    Control(Frame),
}

/// Joins fragmented data messages (RFC 6455 5.4), bounded by `max`.
#[derive(Debug, Clone)]
pub struct Reassembler {
    max: usize,
    partial: Option<(Opcode, Vec<u8>)>,
}

impl Reassembler {
    pub fn new(max: usize) -> Reassembler {
        Reassembler { max, partial: None }
    }

    /// Takes one frame; a complete message or a control frame comes out.
    pub fn push(&mut self, f: Frame) -> Result<Option<Message>, DecodeError> {
        if f.opcode.is_control() {
            return Ok(Some(Message::Control(f)));
        }
        let (opcode, mut buf) = match (f.opcode, self.partial.take()) {
            (Opcode::CONTINUATION, Some(p)) => p,
            (Opcode::CONTINUATION, None) => {
                return Err(DecodeError::Invalid {
                    what: "websocket continuation frame without a message",
                    value: 0,
                })
            }
            (_, Some(_)) => {
                return Err(DecodeError::Invalid {
                    what: "websocket data frame inside a fragmented message",
                    value: u64::from(f.opcode.0),
                })
            }
            (op, None) => (op, Vec::new()),
        };
        if buf.len() + f.payload.len() > self.max {
            return Err(DecodeError::TooLarge {
                what: "websocket message",
                len: buf.len() + f.payload.len(),
                max: self.max,
            });
        }
        buf.extend_from_slice(&f.payload);
        if f.fin {
            Ok(Some(Message::Data {
                opcode,
                payload: buf,
            }))
        } else {
            self.partial = Some((opcode, buf));
            Ok(None)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_6455_accept_example() {
        // RFC 6455 1.3.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        // FreeRDP 2's 15-character key is hashed as received.
        assert_eq!(accept_key("ABCDEFGHIJKLMNO").len(), 28);
    }

    #[test]
    fn the_rfc_6455_5_7_examples() {
        // A single-frame unmasked text message "Hello": 0x81 0x05 "Hello".
        let (f, n) = decode_frame(b"\x81\x05\x48\x65\x6c\x6c\x6f", 100)
            .unwrap()
            .unwrap();
        assert_eq!(
            (f.fin, f.opcode, f.masked, n),
            (true, Opcode::TEXT, false, 7)
        );
        assert_eq!(f.payload, b"Hello");
        // The same, masked with 37 fa 21 3d.
        let wire = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
        let (f, _) = decode_frame(wire, 100).unwrap().unwrap();
        assert!(f.masked);
        assert_eq!(f.payload, b"Hello");
        assert_eq!(
            encode_frame(true, Opcode::TEXT, b"Hello", Some([0x37, 0xfa, 0x21, 0x3d])),
            wire
        );
        assert!(check_role(&f, Role::Server).is_ok());
        assert!(check_role(&f, Role::Client).is_err());
        // A fragmented unmasked text message: "Hel" then "lo".
        let mut r = Reassembler::new(100);
        let (a, _) = decode_frame(b"\x01\x03\x48\x65\x6c", 100).unwrap().unwrap();
        let (b, _) = decode_frame(b"\x80\x02\x6c\x6f", 100).unwrap().unwrap();
        assert_eq!(r.push(a).unwrap(), None);
        assert_eq!(
            r.push(b).unwrap(),
            Some(Message::Data {
                opcode: Opcode::TEXT,
                payload: b"Hello".to_vec()
            })
        );
        // 256 bytes binary in a single unmasked frame: 0x82 0x7E 0x0100.
        let big = encode_frame(true, Opcode::BINARY, &[7u8; 256], None);
        assert_eq!(&big[..4], b"\x82\x7e\x01\x00");
        // 64 KiB: 0x82 0x7F 0x0000000000010000.
        let huge = encode_frame(true, Opcode::BINARY, &vec![0u8; 65536], None);
        assert_eq!(&huge[..10], b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00");
        assert_eq!(decode_frame(&huge, 1 << 20).unwrap().unwrap().1, huge.len());
    }

    #[test]
    fn partial_and_hostile_frames() {
        let wire = encode_frame(true, Opcode::BINARY, &[1u8; 300], Some([1, 2, 3, 4]));
        for cut in 0..wire.len() {
            assert_eq!(decode_frame(&wire[..cut], 1 << 20).unwrap(), None);
        }
        // A ping longer than 125 bytes, a fragmented close, a length with the top bit set.
        assert!(decode_frame(b"\x89\x7e\x00\x80", 1 << 20).is_err());
        assert!(decode_frame(b"\x08\x00", 1 << 20).is_err());
        assert!(decode_frame(b"\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00", 1 << 20).is_err());
        assert!(decode_frame(b"\x82\x7f\x00\x00\x00\x01\x00\x00\x00\x00", 1 << 20).is_err());
        let mut r = Reassembler::new(4);
        assert!(r
            .push(Frame {
                fin: true,
                rsv: 0,
                opcode: Opcode::CONTINUATION,
                masked: false,
                payload: vec![]
            })
            .is_err());
        assert!(r
            .push(Frame {
                fin: true,
                rsv: 0,
                opcode: Opcode::BINARY,
                masked: false,
                payload: vec![0; 5]
            })
            .is_err());
    }

    #[test]
    fn close_bodies() {
        let b = CloseBody::decode(&CloseBody::encode(1000, "bye"));
        assert_eq!((b.code, b.reason.as_str()), (Some(1000), "bye"));
        assert_eq!(CloseBody::decode(b"").code, None);
    }
}
