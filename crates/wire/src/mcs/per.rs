//! The ALIGNED PER subset ([X.691]) that GCC ([T.124] ConnectData, ConferenceCreateRequest /
//! ConferenceCreateResponse) and the T.125 domain PDUs use in RDP: length determinants without
//! fragmentation, constrained 16-bit integers with a lower bound, short unconstrained INTEGERs,
//! the T.124 object identifier, and a bit reader/writer for the CHOICE indices and small
//! enumerations that share a byte.

use crate::cursor::Cursor;
use crate::DecodeError;

/// The largest length a non-fragmented PER length determinant can carry (14 bits).
pub const MAX_LENGTH: usize = 0x3FFF;

/// Reads a length determinant ([X.691] 10.9.3.6-10.9.3.7): one byte below 128, two bytes
/// (`10xxxxxx xxxxxxxx`) below 16384. The fragmented form (`11xxxxxx`) is refused: no RDP PDU
/// we decode needs it.
pub fn read_length(c: &mut Cursor<'_>, what: &'static str) -> Result<usize, DecodeError> {
    let first = c.u8(what)?;
    match first & 0xC0 {
        0x00 | 0x40 => Ok(usize::from(first)),
        0x80 => {
            let second = c.u8(what)?;
            Ok((usize::from(first & 0x3F) << 8) | usize::from(second))
        }
        _ => Err(DecodeError::Invalid {
            what,
            value: u64::from(first),
        }),
    }
}

/// Writes a length determinant in the shortest form.
pub fn write_length(out: &mut Vec<u8>, len: usize, what: &'static str) -> Result<(), DecodeError> {
    if len < 0x80 {
        out.push(len as u8);
        Ok(())
    } else if len <= MAX_LENGTH {
        out.extend_from_slice(&((len as u16) | 0x8000).to_be_bytes());
        Ok(())
    } else {
        Err(DecodeError::TooLarge {
            what,
            len,
            max: MAX_LENGTH,
        })
    }
}

/// Reads a length determinant followed by that many bytes.
pub fn read_octets<'a>(c: &mut Cursor<'a>, what: &'static str) -> Result<&'a [u8], DecodeError> {
    let len = read_length(c, what)?;
    c.take(len, what)
}

/// Reads an INTEGER (min..=65535) in two octets (offset from `min`).
pub fn read_u16_min(c: &mut Cursor<'_>, min: u16, what: &'static str) -> Result<u16, DecodeError> {
    let raw = c.u16_be(what)?;
    raw.checked_add(min).ok_or(DecodeError::Invalid {
        what,
        value: u64::from(raw),
    })
}

pub fn write_u16_min(
    out: &mut Vec<u8>,
    v: u16,
    min: u16,
    what: &'static str,
) -> Result<(), DecodeError> {
    let raw = v.checked_sub(min).ok_or(DecodeError::Invalid {
        what,
        value: u64::from(v),
    })?;
    out.extend_from_slice(&raw.to_be_bytes());
    Ok(())
}

/// Reads an unconstrained non-negative INTEGER: a length byte (1 to 4) and big-endian octets.
pub fn read_integer(c: &mut Cursor<'_>, what: &'static str) -> Result<u32, DecodeError> {
    let len = read_length(c, what)?;
    if len == 0 || len > 4 {
        return Err(DecodeError::Invalid {
            what,
            value: len as u64,
        });
    }
    Ok(c.take(len, what)?
        .iter()
        .fold(0u32, |v, &b| (v << 8) | u32::from(b)))
}

/// Writes an unconstrained INTEGER in the fewest octets (1, 2 or 4, as T.124 stacks do).
pub fn write_integer(out: &mut Vec<u8>, v: u32) {
    if v <= 0xFF {
        out.extend_from_slice(&[1, v as u8]);
    } else if v <= 0xFFFF {
        out.push(2);
        out.extend_from_slice(&(v as u16).to_be_bytes());
    } else {
        out.push(4);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// The T.124 object identifier `{ itu-t(0) recommendation(0) t(20) t124(124) version(0) 1 }`
/// that keys GCC ConnectData, in its PER encoding: length 5, then (0*40+0), 20, 124, 0, 1.
pub const T124_OID: [u8; 6] = [0x05, 0x00, 0x14, 0x7C, 0x00, 0x01];

/// Reads ConnectData's `t124Identifier` ([T.124] 8.7: Key CHOICE `object` (0) and the OID).
pub fn read_t124_key(c: &mut Cursor<'_>) -> Result<(), DecodeError> {
    let choice = c.u8("GCC ConnectData key choice")?;
    if choice != 0 {
        return Err(DecodeError::Invalid {
            what: "GCC ConnectData key choice",
            value: u64::from(choice),
        });
    }
    let oid = c.array::<6>("GCC ConnectData t124Identifier")?;
    if oid != T124_OID {
        return Err(DecodeError::Invalid {
            what: "GCC ConnectData t124Identifier",
            value: u64::from(oid[0]),
        });
    }
    Ok(())
}

pub fn write_t124_key(out: &mut Vec<u8>) {
    out.push(0);
    out.extend_from_slice(&T124_OID);
}

/// Reads bits most-significant first, for the PER preambles that pack a CHOICE index, optional
/// bits and small enumerations into one or two bytes.
#[derive(Debug, Clone, Copy)]
pub struct Bits {
    word: u16,
    used: u8,
}

impl Bits {
    /// Two bytes as one 16-bit word (missing second byte counts as zero bits).
    pub fn new(first: u8, second: u8) -> Self {
        Bits {
            word: u16::from_be_bytes([first, second]),
            used: 0,
        }
    }

    /// Takes the next `n` (1..=8) bits.
    pub fn take(&mut self, n: u8) -> u8 {
        let n = n.clamp(1, 8);
        let shift = 16u8.saturating_sub(self.used).saturating_sub(n);
        self.used = self.used.saturating_add(n).min(16);
        ((self.word >> shift) & ((1u16 << n) - 1)) as u8
    }

    /// How many bytes the bits read so far span (the field that follows is octet-aligned).
    pub fn bytes_used(&self) -> usize {
        usize::from(self.used).div_ceil(8)
    }
}

/// Writes bits most-significant first; `finish` pads with zero bits to a whole byte.
#[derive(Debug, Default)]
pub struct BitWriter {
    bytes: Vec<u8>,
    used: u8,
}

impl BitWriter {
    pub fn put(&mut self, value: u8, n: u8) {
        for i in (0..n.min(8)).rev() {
            if self.used % 8 == 0 {
                self.bytes.push(0);
            }
            let bit = (value >> i) & 1;
            if let Some(last) = self.bytes.last_mut() {
                *last |= bit << (7 - (self.used % 8));
            }
            self.used = (self.used + 1) % 8;
        }
    }

    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        for (len, bytes) in [
            (0usize, &[0x00][..]),
            (0x7F, &[0x7F]),
            (0x80, &[0x80, 0x80]),
            (0x12A, &[0x81, 0x2A]),
            (MAX_LENGTH, &[0xBF, 0xFF]),
        ] {
            let mut out = Vec::new();
            write_length(&mut out, len, "len").expect("fits");
            assert_eq!(out, bytes);
            assert_eq!(read_length(&mut Cursor::new(bytes), "len"), Ok(len));
        }
        assert!(write_length(&mut Vec::new(), MAX_LENGTH + 1, "len").is_err());
        assert!(read_length(&mut Cursor::new(&[0xC1]), "len").is_err());
        assert!(read_length(&mut Cursor::new(&[0x81]), "len").is_err());
    }

    #[test]
    fn constrained_u16() {
        let mut out = Vec::new();
        write_u16_min(&mut out, 0x79F3, 1001, "node").expect("in range");
        assert_eq!(out, [0x76, 0x0A]);
        assert_eq!(
            read_u16_min(&mut Cursor::new(&out), 1001, "node"),
            Ok(0x79F3)
        );
        assert!(write_u16_min(&mut Vec::new(), 1000, 1001, "node").is_err());
        assert!(read_u16_min(&mut Cursor::new(&[0xFF, 0xFF]), 1001, "node").is_err());
    }

    #[test]
    fn integers() {
        for v in [0u32, 1, 0xFF, 0x100, 0xFFFF, 0x1_0000, u32::MAX] {
            let mut out = Vec::new();
            write_integer(&mut out, v);
            assert_eq!(read_integer(&mut Cursor::new(&out), "int"), Ok(v));
        }
        assert!(read_integer(&mut Cursor::new(&[0]), "int").is_err());
        assert!(read_integer(&mut Cursor::new(&[5, 0, 0, 0, 0, 0]), "int").is_err());
    }

    #[test]
    fn bits_read_and_write_across_bytes() {
        // DisconnectProviderUltimatum rn-user-requested: choice 8 (6 bits), reason 3 (3 bits)
        let mut w = BitWriter::default();
        w.put(8, 6);
        w.put(3, 3);
        let bytes = w.finish();
        assert_eq!(bytes, [0x21, 0x80]);
        let mut b = Bits::new(0x21, 0x80);
        assert_eq!(b.take(6), 8);
        assert_eq!(b.take(3), 3);
        assert_eq!(b.bytes_used(), 2);
    }
}
