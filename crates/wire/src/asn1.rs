//! A small BER/DER reader and DER writer, enough for [MS-CSSP] 2.2.1 (TSRequest, TSCredentials,
//! TSPasswordCreds): universal SEQUENCE / INTEGER / OCTET STRING, context-specific constructed
//! `[n]` (explicit tags), definite lengths of up to four length octets (ITU-T X.690 8.1.3).
//!
//! Strict where a wrong answer would be dangerous (every length is checked against the bytes
//! present and against [`MAX_LEN`]; indefinite lengths and high tag numbers are refused), lenient
//! where peers differ harmlessly (non-minimal length and INTEGER encodings are accepted on input;
//! the writer always emits DER).

use crate::cursor::Cursor;
use crate::DecodeError;

/// Universal INTEGER.
pub const TAG_INTEGER: u8 = 0x02;
/// Universal OCTET STRING.
pub const TAG_OCTET_STRING: u8 = 0x04;
/// Universal SEQUENCE / SEQUENCE OF (constructed).
pub const TAG_SEQUENCE: u8 = 0x30;

/// The largest content length any element may announce. TSRequests are a few KiB at most.
pub const MAX_LEN: usize = 1 << 20;

/// The identifier octet of a context-specific constructed tag `[n]` (X.690 8.1.2), `n` < 31.
pub const fn context(n: u8) -> u8 {
    0xA0 | (n & 0x1F)
}

/// One decoded element: its identifier octet and its contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub contents: &'a [u8],
}

/// Where a header announces its contents: `(tag, header_len, content_len)`. Needs only the
/// header bytes, so a stream reader can learn the total length early.
pub fn read_header(c: &mut Cursor<'_>) -> Result<(u8, usize, usize), DecodeError> {
    let start = c.position();
    let tag = c.u8("ASN.1 tag")?;
    if tag & 0x1F == 0x1F {
        // High-tag-number form: nothing in [MS-CSSP] uses it.
        return Err(DecodeError::Invalid {
            what: "ASN.1 tag (high tag number form)",
            value: u64::from(tag),
        });
    }
    let first = c.u8("ASN.1 length")?;
    let len = if first < 0x80 {
        usize::from(first)
    } else if first == 0x80 {
        return Err(DecodeError::Invalid {
            what: "ASN.1 length (indefinite form)",
            value: u64::from(first),
        });
    } else {
        let n = usize::from(first & 0x7F);
        if n > 4 {
            return Err(DecodeError::Invalid {
                what: "ASN.1 length (more than 4 length octets)",
                value: n as u64,
            });
        }
        let mut v: usize = 0;
        for _ in 0..n {
            v = (v << 8) | usize::from(c.u8("ASN.1 length octets")?);
        }
        v
    };
    if len > MAX_LEN {
        return Err(DecodeError::TooLarge {
            what: "ASN.1 element",
            len,
            max: MAX_LEN,
        });
    }
    Ok((tag, c.position() - start, len))
}

/// Reads one element; its contents must be present in full.
pub fn read_tlv<'a>(c: &mut Cursor<'a>) -> Result<Tlv<'a>, DecodeError> {
    let (tag, _, len) = read_header(c)?;
    let contents = c.take(len, "ASN.1 contents")?;
    Ok(Tlv { tag, contents })
}

/// Reads one element and checks its tag.
pub fn expect<'a>(
    c: &mut Cursor<'a>,
    tag: u8,
    what: &'static str,
) -> Result<&'a [u8], DecodeError> {
    let t = read_tlv(c)?;
    if t.tag != tag {
        return Err(DecodeError::Invalid {
            what,
            value: u64::from(t.tag),
        });
    }
    Ok(t.contents)
}

/// Reads an INTEGER's contents as a signed value (two's complement, X.690 8.3). Accepts
/// redundant leading sign octets (BER) as long as the value fits in an `i64`.
pub fn integer_value(contents: &[u8], what: &'static str) -> Result<i64, DecodeError> {
    let Some(&first) = contents.first() else {
        return Err(DecodeError::Invalid { what, value: 0 });
    };
    let negative = first & 0x80 != 0;
    // Drop an octet that only repeats the sign of the next one.
    let mut s = contents;
    while let (Some(&a), Some(&b)) = (s.first(), s.get(1)) {
        let redundant = (a == 0x00 && b & 0x80 == 0) || (a == 0xFF && b & 0x80 != 0);
        if !redundant {
            break;
        }
        s = s.get(1..).unwrap_or(&[]);
    }
    if s.len() > 8 {
        return Err(DecodeError::TooLarge {
            what,
            len: contents.len(),
            max: 8,
        });
    }
    let mut v: i64 = if negative { -1 } else { 0 };
    for &b in s {
        v = (v << 8) | i64::from(b);
    }
    Ok(v)
}

/// Reads an explicitly tagged `[n] INTEGER` element's inner INTEGER.
pub fn read_integer(c: &mut Cursor<'_>, what: &'static str) -> Result<i64, DecodeError> {
    let contents = expect(c, TAG_INTEGER, what)?;
    integer_value(contents, what)
}

/// Appends a definite length in DER (shortest) form.
pub fn write_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let bytes = (len as u64).to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let sig = bytes.get(skip..).unwrap_or(&[]);
    out.push(0x80 | sig.len() as u8);
    out.extend_from_slice(sig);
}

/// Appends one element.
pub fn write_tlv(out: &mut Vec<u8>, tag: u8, contents: &[u8]) {
    out.push(tag);
    write_len(out, contents.len());
    out.extend_from_slice(contents);
}

/// The total encoded size of an element with `content_len` content octets.
pub fn tlv_len(content_len: usize) -> usize {
    let len_octets = if content_len < 0x80 {
        1
    } else {
        1 + (usize::BITS as usize / 8 - content_len.leading_zeros() as usize / 8)
    };
    1 + len_octets + content_len
}

/// The minimal two's-complement contents of an INTEGER (X.690 8.3.2).
pub fn integer_contents(v: i64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < 7 {
        let (b, next) = match (bytes.get(start), bytes.get(start + 1)) {
            (Some(&b), Some(&n)) => (b, n),
            _ => break,
        };
        let redundant = (b == 0x00 && next & 0x80 == 0) || (b == 0xFF && next & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    bytes.get(start..).unwrap_or(&[]).to_vec()
}

/// Appends an INTEGER element.
pub fn write_integer(out: &mut Vec<u8>, v: i64) {
    write_tlv(out, TAG_INTEGER, &integer_contents(v));
}

/// Appends `[n] { inner }` where `inner` is already encoded.
pub fn write_explicit(out: &mut Vec<u8>, n: u8, inner: &[u8]) {
    write_tlv(out, context(n), inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_short_and_long_forms() {
        let mut v = Vec::new();
        write_len(&mut v, 0x7F);
        write_len(&mut v, 0x80);
        write_len(&mut v, 0x1234);
        assert_eq!(v, [0x7F, 0x81, 0x80, 0x82, 0x12, 0x34]);
        for n in [0usize, 1, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000] {
            let mut out = Vec::new();
            write_tlv(&mut out, TAG_OCTET_STRING, &vec![0u8; n]);
            assert_eq!(out.len(), tlv_len(n), "n={n}");
            let mut c = Cursor::new(&out);
            let t = read_tlv(&mut c).expect("own encoding decodes");
            assert_eq!(t.contents.len(), n);
            assert!(c.is_empty());
        }
    }

    #[test]
    fn integers_round_trip_minimally() {
        let cases: [(i64, &[u8]); 8] = [
            (0, &[0x00]),
            (2, &[0x02]),
            (127, &[0x7F]),
            (128, &[0x00, 0x80]),
            (-1, &[0xFF]),
            (-128, &[0x80]),
            (-129, &[0xFF, 0x7F]),
            // STATUS_LOGON_FAILURE as Windows writes it: a negative 32-bit INTEGER.
            (0xC000_006Du32 as i32 as i64, &[0xC0, 0x00, 0x00, 0x6D]),
        ];
        for (v, enc) in cases {
            assert_eq!(integer_contents(v), enc, "{v}");
            assert_eq!(integer_value(enc, "i"), Ok(v));
        }
        // Non-minimal encodings are accepted on input.
        assert_eq!(integer_value(&[0x00, 0x00, 0x05], "i"), Ok(5));
        assert_eq!(
            integer_value(&[0x00, 0xC0, 0x00, 0x00, 0x6D], "i"),
            Ok(0xC000_006D)
        );
        assert!(integer_value(&[], "i").is_err());
        assert!(integer_value(&[0x01; 9], "i").is_err());
        // 2^64 - 1 does not fit an i64 and must not wrap to -1.
        assert!(
            integer_value(&[0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], "i").is_err()
        );
        assert_eq!(
            integer_value(&[0x00, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], "i"),
            Ok(i64::MAX)
        );
        assert_eq!(
            integer_value(&[0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0], "i"),
            Ok(i64::MIN)
        );
        assert_eq!(
            integer_value(&[0xFF, 0xFF, 0xC0, 0, 0, 0x6D], "i"),
            Ok(-0x3FFF_FF93)
        );
    }

    #[test]
    fn refuses_indefinite_huge_and_high_tags() {
        assert!(read_tlv(&mut Cursor::new(&[0x30, 0x80, 0x00, 0x00])).is_err());
        assert!(read_tlv(&mut Cursor::new(&[0x30, 0x85, 1, 1, 1, 1, 1])).is_err());
        assert!(read_tlv(&mut Cursor::new(&[0x30, 0x84, 0x7F, 0xFF, 0xFF, 0xFF])).is_err());
        assert!(read_tlv(&mut Cursor::new(&[0x1F, 0x01, 0x00])).is_err());
        // Announces 3 content octets, has 2.
        assert!(read_tlv(&mut Cursor::new(&[0x04, 0x03, 1, 2])).is_err());
    }
}
