//! TPKT framing ([RFC 1006] / [MS-RDPBCGR] 2.2.1.1 `tpktHeader`): version 3, reserved 0, and a
//! big-endian total length that includes the 4-byte header.
//!
//! The runner reads a server's bytes into a buffer and asks [`frame_status`] whether a whole
//! frame has arrived; the 16-bit length field bounds every frame at 65 535 bytes.

use crate::DecodeError;

pub const HEADER_LEN: usize = 4;
pub const VERSION: u8 = 3;
/// The smallest TPKT that can carry an X.224 TPDU (header + LI + code + 1).
pub const MIN_LEN: usize = 7;

/// What the bytes received so far amount to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameStatus {
    /// Fewer bytes than needed to know; `needed` is the total frame length when known, else the
    /// header length.
    Incomplete { needed: usize },
    /// A full frame of `len` bytes is at the start of the buffer.
    Complete { len: usize },
    /// The first bytes are not a TPKT header: `first` is the offending byte.
    NotTpkt { first: u8 },
    /// A TPKT header with an impossible length.
    BadLength { len: usize },
}

/// Classifies the start of `buf` as (part of) a TPKT frame.
pub fn frame_status(buf: &[u8]) -> FrameStatus {
    let Some(&first) = buf.first() else {
        return FrameStatus::Incomplete { needed: HEADER_LEN };
    };
    if first != VERSION {
        return FrameStatus::NotTpkt { first };
    }
    if let Some(&reserved) = buf.get(1) {
        if reserved != 0 {
            return FrameStatus::NotTpkt { first };
        }
    }
    let (Some(&hi), Some(&lo)) = (buf.get(2), buf.get(3)) else {
        return FrameStatus::Incomplete { needed: HEADER_LEN };
    };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    if len < MIN_LEN {
        return FrameStatus::BadLength { len };
    }
    if buf.len() >= len {
        FrameStatus::Complete { len }
    } else {
        FrameStatus::Incomplete { needed: len }
    }
}

/// Splits one complete frame off `buf`: returns (payload after the header, rest).
pub fn split_frame(buf: &[u8]) -> Result<(&[u8], &[u8]), DecodeError> {
    match frame_status(buf) {
        FrameStatus::Complete { len } => {
            let (frame, rest) = buf.split_at(len);
            Ok((frame.get(HEADER_LEN..).unwrap_or(&[]), rest))
        }
        FrameStatus::Incomplete { needed } => Err(DecodeError::Truncated {
            what: "TPKT frame",
            needed,
            available: buf.len(),
        }),
        FrameStatus::NotTpkt { first } => Err(DecodeError::Invalid {
            what: "TPKT version",
            value: u64::from(first),
        }),
        FrameStatus::BadLength { len } => Err(DecodeError::Invalid {
            what: "TPKT length",
            value: len as u64,
        }),
    }
}

/// Wraps `payload` in a TPKT header. Payloads longer than 65 531 bytes cannot be framed.
pub fn encode(payload: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let len = payload.len() + HEADER_LEN;
    let len16 = u16::try_from(len).map_err(|_| DecodeError::TooLarge {
        what: "TPKT payload",
        len,
        max: usize::from(u16::MAX),
    })?;
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&[VERSION, 0]);
    out.extend_from_slice(&len16.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_partial_and_foreign_bytes() {
        assert_eq!(frame_status(&[]), FrameStatus::Incomplete { needed: 4 });
        assert_eq!(frame_status(&[3, 0]), FrameStatus::Incomplete { needed: 4 });
        assert_eq!(
            frame_status(&[3, 0, 0, 19, 14]),
            FrameStatus::Incomplete { needed: 19 }
        );
        // "HTTP/1.1 400" from a web server on 3389
        assert_eq!(
            frame_status(b"HTTP/1.1"),
            FrameStatus::NotTpkt { first: b'H' }
        );
        // SSH banner
        assert_eq!(
            frame_status(b"SSH-2.0-"),
            FrameStatus::NotTpkt { first: b'S' }
        );
        assert_eq!(
            frame_status(&[3, 0, 0, 2]),
            FrameStatus::BadLength { len: 2 }
        );
        assert_eq!(
            frame_status(&[3, 1, 0, 19]),
            FrameStatus::NotTpkt { first: 3 }
        );
    }

    #[test]
    fn round_trips() {
        let f = encode(&[0x02, 0xf0, 0x80]).expect("small payload");
        assert_eq!(f, [3, 0, 0, 7, 0x02, 0xf0, 0x80]);
        let (payload, rest) = split_frame(&f).expect("complete");
        assert_eq!(payload, [0x02, 0xf0, 0x80]);
        assert!(rest.is_empty());
        assert!(encode(&vec![0u8; 70_000]).is_err());
    }
}
