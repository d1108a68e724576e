//! The BER subset that T.125 uses for the two connect PDUs (Connect-Initial and
//! Connect-Response, [T.125] 11.1 / 11.2, encoded with the basic encoding rules of [X.690]):
//! one-byte universal tags, the two-byte form `7F nn` of the APPLICATION tags 101 and 102,
//! definite lengths of at most 4 length bytes, and non-negative INTEGERs of at most 32 bits.

use crate::cursor::Cursor;
use crate::DecodeError;

pub const TAG_BOOLEAN: u8 = 0x01;
pub const TAG_INTEGER: u8 = 0x02;
pub const TAG_OCTET_STRING: u8 = 0x04;
pub const TAG_ENUMERATED: u8 = 0x0A;
/// SEQUENCE, constructed.
pub const TAG_SEQUENCE: u8 = 0x30;
/// The first byte of an APPLICATION, constructed tag whose number does not fit the low 5 bits.
pub const APPLICATION_HIGH_TAG: u8 = 0x7F;

/// Reads a definite length: short form (`0x00..=0x7F`) or long form with 1 to 4 length bytes.
/// The indefinite form (`0x80`) is not allowed in the MCS connect PDUs.
pub fn read_length(c: &mut Cursor<'_>, what: &'static str) -> Result<usize, DecodeError> {
    let first = c.u8(what)?;
    if first < 0x80 {
        return Ok(usize::from(first));
    }
    let n = usize::from(first & 0x7F);
    if n == 0 || n > 4 {
        return Err(DecodeError::Invalid {
            what,
            value: u64::from(first),
        });
    }
    let mut len: u64 = 0;
    for &b in c.take(n, what)? {
        len = (len << 8) | u64::from(b);
    }
    usize::try_from(len).map_err(|_| DecodeError::TooLarge {
        what,
        len: usize::MAX,
        max: c.remaining(),
    })
}

/// Writes a definite length in the shortest form.
pub fn write_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len <= 0xFF {
        out.extend_from_slice(&[0x81, len as u8]);
    } else if len <= 0xFFFF {
        out.push(0x82);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else if len <= 0xFF_FFFF {
        out.push(0x83);
        out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    } else {
        out.push(0x84);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

/// Reads a one-byte tag, checks it and returns the contents (bounded by the bytes present).
pub fn read_tlv<'a>(
    c: &mut Cursor<'a>,
    tag: u8,
    what: &'static str,
) -> Result<&'a [u8], DecodeError> {
    let got = c.u8(what)?;
    if got != tag {
        return Err(DecodeError::Invalid {
            what,
            value: u64::from(got),
        });
    }
    let len = read_length(c, what)?;
    c.take(len, what)
}

/// Reads `7F nn` (APPLICATION `nn`, constructed) and returns the contents.
pub fn read_application<'a>(
    c: &mut Cursor<'a>,
    number: u8,
    what: &'static str,
) -> Result<&'a [u8], DecodeError> {
    let first = c.u8(what)?;
    let second = c.u8(what)?;
    if first != APPLICATION_HIGH_TAG || second != number {
        return Err(DecodeError::Invalid {
            what,
            value: u64::from(u16::from_be_bytes([first, second])),
        });
    }
    let len = read_length(c, what)?;
    c.take(len, what)
}

/// Writes tag, length and contents.
pub fn write_tlv(out: &mut Vec<u8>, tag: &[u8], contents: &[u8]) {
    out.extend_from_slice(tag);
    write_length(out, contents.len());
    out.extend_from_slice(contents);
}

/// Reads an INTEGER as an unsigned value. Up to 4 content bytes, or 5 when the first is a
/// sign-padding zero. Servers write 65535 both as `02 03 00 FF FF` (correct) and
/// `02 02 FF FF` (what some MCS stacks emit); both read as 65535.
pub fn read_integer(c: &mut Cursor<'_>, what: &'static str) -> Result<u32, DecodeError> {
    let body = read_tlv(c, TAG_INTEGER, what)?;
    unsigned_from(body, what)
}

/// Reads an ENUMERATED value of one byte (T.125 Result).
pub fn read_enumerated(c: &mut Cursor<'_>, what: &'static str) -> Result<u8, DecodeError> {
    let body = read_tlv(c, TAG_ENUMERATED, what)?;
    let v = unsigned_from(body, what)?;
    u8::try_from(v).map_err(|_| DecodeError::Invalid {
        what,
        value: u64::from(v),
    })
}

pub fn read_boolean(c: &mut Cursor<'_>, what: &'static str) -> Result<bool, DecodeError> {
    match read_tlv(c, TAG_BOOLEAN, what)? {
        [b] => Ok(*b != 0),
        other => Err(DecodeError::Invalid {
            what,
            value: other.len() as u64,
        }),
    }
}

fn unsigned_from(body: &[u8], what: &'static str) -> Result<u32, DecodeError> {
    let digits = match body {
        [] => {
            return Err(DecodeError::Invalid { what, value: 0 });
        }
        [0, rest @ ..] if body.len() == 5 => rest,
        _ if body.len() > 4 => {
            return Err(DecodeError::TooLarge {
                what,
                len: body.len(),
                max: 4,
            })
        }
        _ => body,
    };
    Ok(digits.iter().fold(0u32, |v, &b| (v << 8) | u32::from(b)))
}

/// Writes an INTEGER (non-negative, minimal two's complement form).
pub fn write_integer(out: &mut Vec<u8>, v: u32) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take(3).take_while(|&&b| b == 0).count();
    let mut body: Vec<u8> = bytes.get(skip..).unwrap_or(&bytes).to_vec();
    if body.first().is_some_and(|&b| b & 0x80 != 0) {
        body.insert(0, 0);
    }
    write_tlv(out, &[TAG_INTEGER], &body);
}

pub fn write_enumerated(out: &mut Vec<u8>, v: u8) {
    write_tlv(out, &[TAG_ENUMERATED], &[v]);
}

pub fn write_boolean(out: &mut Vec<u8>, v: bool) {
    write_tlv(out, &[TAG_BOOLEAN], &[if v { 0xFF } else { 0 }]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip_in_shortest_form() {
        for (len, bytes) in [
            (0usize, &[0x00][..]),
            (0x7F, &[0x7F]),
            (0x80, &[0x81, 0x80]),
            (0x1AB, &[0x82, 0x01, 0xAB]),
            (0x1_0000, &[0x83, 0x01, 0x00, 0x00]),
        ] {
            let mut out = Vec::new();
            write_length(&mut out, len);
            assert_eq!(out, bytes);
            assert_eq!(read_length(&mut Cursor::new(bytes), "len"), Ok(len));
        }
        // indefinite and 5-byte forms are refused
        assert!(read_length(&mut Cursor::new(&[0x80]), "len").is_err());
        assert!(read_length(&mut Cursor::new(&[0x85, 1, 2, 3, 4, 5]), "len").is_err());
        assert!(read_length(&mut Cursor::new(&[0x82, 1]), "len").is_err());
    }

    #[test]
    fn integers_as_mcs_stacks_write_them() {
        for (v, bytes) in [
            (0u32, &[0x02, 0x01, 0x00][..]),
            (34, &[0x02, 0x01, 0x22]),
            (0x80, &[0x02, 0x02, 0x00, 0x80]),
            (65535, &[0x02, 0x03, 0x00, 0xFF, 0xFF]),
            (64535, &[0x02, 0x03, 0x00, 0xFC, 0x17]),
            (u32::MAX, &[0x02, 0x05, 0x00, 0xFF, 0xFF, 0xFF, 0xFF]),
        ] {
            let mut out = Vec::new();
            write_integer(&mut out, v);
            assert_eq!(out, bytes, "{v}");
            assert_eq!(read_integer(&mut Cursor::new(bytes), "int"), Ok(v));
        }
        // the non-minimal unsigned form some stacks emit
        assert_eq!(
            read_integer(&mut Cursor::new(&[0x02, 0x02, 0xFF, 0xFF]), "int"),
            Ok(65535)
        );
        assert!(read_integer(&mut Cursor::new(&[0x02, 0x00]), "int").is_err());
        assert!(read_integer(&mut Cursor::new(&[0x02, 0x05, 1, 0, 0, 0, 0]), "int").is_err());
        assert!(read_integer(&mut Cursor::new(&[0x04, 0x01, 0x00]), "int").is_err());
    }

    #[test]
    fn application_tags() {
        let bytes = [0x7F, 0x66, 0x02, 0xAA, 0xBB];
        assert_eq!(
            read_application(&mut Cursor::new(&bytes), 102, "app"),
            Ok(&[0xAA, 0xBB][..])
        );
        assert!(read_application(&mut Cursor::new(&bytes), 101, "app").is_err());
        assert!(read_application(&mut Cursor::new(&[0x7F, 0x66, 0x03, 0]), 102, "app").is_err());
    }
}
