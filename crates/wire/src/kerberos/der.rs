//! The DER Kerberos needs on top of [`crate::asn1`] (RFC 4120 5.2, ITU-T X.690): APPLICATION
//! tags, GeneralString / KerberosString, GeneralizedTime (KerberosTime), BIT STRING (the 32-bit
//! option flags), BOOLEAN, ENUMERATED and OBJECT IDENTIFIER, plus a field reader for
//! `SEQUENCE { [0] ..., [1] ... }` with explicit context tags.
//!
//! Bounded like the rest of the codecs: every length is checked by [`crate::asn1`], a SEQUENCE OF
//! holds at most [`MAX_ITEMS`] elements, a string at most [`MAX_STRING`] bytes.

use crate::asn1::{self, TAG_INTEGER, TAG_OCTET_STRING, TAG_SEQUENCE};
use crate::cursor::Cursor;
use crate::DecodeError;

pub const TAG_BOOLEAN: u8 = 0x01;
pub const TAG_BIT_STRING: u8 = 0x03;
pub const TAG_OID: u8 = 0x06;
pub const TAG_ENUMERATED: u8 = 0x0A;
pub const TAG_GENERALIZED_TIME: u8 = 0x18;
pub const TAG_GENERAL_STRING: u8 = 0x1B;
/// RFC 2743 3.1: the InitialContextToken's `[APPLICATION 0]` (constructed).
pub const TAG_GSS_INITIAL: u8 = 0x60;

/// Most elements a SEQUENCE OF may hold (principal components, PA-DATA, etypes, mechTypes).
pub const MAX_ITEMS: usize = 64;
/// Longest KerberosString accepted (principal names, realms, e-text).
pub const MAX_STRING: usize = 4096;

/// The identifier octet of `[APPLICATION n]` constructed, n < 31.
pub const fn application(n: u8) -> u8 {
    0x60 | (n & 0x1F)
}

// ------------------------------------------------------------------------------------ writing

/// `tag { parts... }`.
pub fn tlv(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(asn1::tlv_len(len));
    out.push(tag);
    asn1::write_len(&mut out, len);
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

pub fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(TAG_SEQUENCE, parts)
}

/// `[n] inner` (explicit context tag).
pub fn ctx(n: u8, inner: &[u8]) -> Vec<u8> {
    tlv(asn1::context(n), &[inner])
}

pub fn app(n: u8, inner: &[u8]) -> Vec<u8> {
    tlv(application(n), &[inner])
}

pub fn int(v: i64) -> Vec<u8> {
    tlv(TAG_INTEGER, &[&asn1::integer_contents(v)])
}

pub fn octets(b: &[u8]) -> Vec<u8> {
    tlv(TAG_OCTET_STRING, &[b])
}

pub fn kstring(s: &str) -> Vec<u8> {
    tlv(TAG_GENERAL_STRING, &[s.as_bytes()])
}

pub fn boolean(b: bool) -> Vec<u8> {
    tlv(TAG_BOOLEAN, &[&[if b { 0xFF } else { 0x00 }]])
}

pub fn enumerated(v: u8) -> Vec<u8> {
    tlv(TAG_ENUMERATED, &[&[v]])
}

/// KerberosFlags: a 32-bit BIT STRING, bit 0 first (RFC 4120 5.2.8), no unused bits.
pub fn flags32(v: u32) -> Vec<u8> {
    let b = v.to_be_bytes();
    tlv(TAG_BIT_STRING, &[&[0], &b])
}

/// `SEQUENCE OF` already-encoded elements.
pub fn seq_of(items: &[Vec<u8>]) -> Vec<u8> {
    let parts: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
    seq(&parts)
}

/// KerberosTime: GeneralizedTime `YYYYMMDDHHMMSSZ`, no fraction (RFC 4120 5.2.3).
pub fn time(unix: i64) -> Vec<u8> {
    tlv(TAG_GENERALIZED_TIME, &[format_time(unix).as_bytes()])
}

/// `YYYYMMDDHHMMSSZ` for a Unix time (proleptic Gregorian, UTC; years 0000-9999 clamp).
pub fn format_time(unix: i64) -> String {
    let unix = unix.clamp(-62_167_219_200, 253_402_300_799);
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Days since 1970-01-01 -> (year, month, day); H. Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) -> days since 1970-01-01.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses KerberosTime. Accepts a fraction (`.fff`) before the `Z` (some peers send one),
/// nothing else.
pub fn parse_time(s: &[u8]) -> Result<i64, DecodeError> {
    let bad = |v: usize| DecodeError::Invalid {
        what: "KerberosTime",
        value: v as u64,
    };
    if s.len() < 15 || s.len() > 32 || s.last() != Some(&b'Z') {
        return Err(bad(s.len()));
    }
    let digits = s.get(..14).ok_or(bad(s.len()))?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad(0));
    }
    let rest = s.get(14..s.len() - 1).unwrap_or(&[]);
    let fraction_ok = rest.is_empty()
        || (rest.first() == Some(&b'.')
            && rest.len() > 1
            && rest.iter().skip(1).all(u8::is_ascii_digit));
    if !fraction_ok {
        return Err(bad(14));
    }
    let n = |a: usize, b: usize| -> i64 {
        digits
            .get(a..b)
            .unwrap_or(&[])
            .iter()
            .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'))
    };
    let (y, mo, d, h, mi, se) = (n(0, 4), n(4, 6), n(6, 8), n(8, 10), n(10, 12), n(12, 14));
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return Err(bad(4));
    }
    Ok(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se)
}

/// The DER of an OBJECT IDENTIFIER element from its arcs.
pub fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut body = Vec::new();
    let (a, b) = (
        arcs.first().copied().unwrap_or(0),
        arcs.get(1).copied().unwrap_or(0),
    );
    push_base128(&mut body, a * 40 + b);
    for &v in arcs.iter().skip(2) {
        push_base128(&mut body, v);
    }
    tlv(TAG_OID, &[&body])
}

fn push_base128(out: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 10];
    let mut n = 0;
    loop {
        if let Some(t) = tmp.get_mut(n) {
            *t = (v & 0x7F) as u8;
        }
        n += 1;
        v >>= 7;
        if v == 0 || n == tmp.len() {
            break;
        }
    }
    for i in (0..n).rev() {
        let b = tmp.get(i).copied().unwrap_or(0);
        out.push(if i > 0 { b | 0x80 } else { b });
    }
}

// ------------------------------------------------------------------------------------ reading

/// Reads one element that must fill `data` exactly and have `tag`; returns its contents.
pub fn whole<'a>(data: &'a [u8], tag: u8, what: &'static str) -> Result<&'a [u8], DecodeError> {
    let mut c = Cursor::new(data);
    let contents = asn1::expect(&mut c, tag, what)?;
    if !c.is_empty() {
        return Err(DecodeError::Invalid {
            what,
            value: c.remaining() as u64,
        });
    }
    Ok(contents)
}

/// The explicit context fields `[0]`..`[15]` of a SEQUENCE body. Fields may come in any order
/// but not twice; other elements (higher tags, universal) are skipped.
#[derive(Debug, Default)]
pub struct Fields<'a> {
    f: [Option<&'a [u8]>; 16],
    what: &'static str,
}

impl<'a> Fields<'a> {
    /// Reads `SEQUENCE { ... }` filling `data` exactly (after an optional APPLICATION tag the
    /// caller removed).
    pub fn of_sequence(data: &'a [u8], what: &'static str) -> Result<Fields<'a>, DecodeError> {
        Fields::of_body(whole(data, TAG_SEQUENCE, what)?, what)
    }

    /// `[APPLICATION app] SEQUENCE { ... }` filling `data` exactly.
    pub fn of_application(
        data: &'a [u8],
        app: u8,
        what: &'static str,
    ) -> Result<Fields<'a>, DecodeError> {
        let inner = whole(data, application(app), what)?;
        Fields::of_sequence(inner, what)
    }

    pub fn of_body(body: &'a [u8], what: &'static str) -> Result<Fields<'a>, DecodeError> {
        let mut c = Cursor::new(body);
        let mut f: [Option<&'a [u8]>; 16] = [None; 16];
        while !c.is_empty() {
            let t = asn1::read_tlv(&mut c)?;
            if t.tag & 0xE0 != 0xA0 {
                continue;
            }
            let n = usize::from(t.tag & 0x1F);
            let Some(slot) = f.get_mut(n) else { continue };
            if slot.is_some() {
                return Err(DecodeError::Invalid {
                    what,
                    value: n as u64,
                });
            }
            *slot = Some(t.contents);
        }
        Ok(Fields { f, what })
    }

    /// The inner element of `[n]`, if present.
    pub fn get(&self, n: usize) -> Option<&'a [u8]> {
        self.f.get(n).copied().flatten()
    }

    /// The inner element of `[n]`, required.
    pub fn req(&self, n: usize) -> Result<&'a [u8], DecodeError> {
        self.get(n).ok_or(DecodeError::Truncated {
            what: self.what,
            needed: n + 1,
            available: 0,
        })
    }

    pub fn int(&self, n: usize, what: &'static str) -> Result<i64, DecodeError> {
        int_of(self.req(n)?, what)
    }

    pub fn opt_int(&self, n: usize, what: &'static str) -> Result<Option<i64>, DecodeError> {
        self.get(n).map(|f| int_of(f, what)).transpose()
    }

    pub fn string(&self, n: usize, what: &'static str) -> Result<String, DecodeError> {
        string_of(self.req(n)?, what)
    }

    pub fn opt_string(&self, n: usize, what: &'static str) -> Result<Option<String>, DecodeError> {
        self.get(n).map(|f| string_of(f, what)).transpose()
    }

    pub fn octets(&self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        whole(self.req(n)?, TAG_OCTET_STRING, what)
    }

    pub fn opt_octets(
        &self,
        n: usize,
        what: &'static str,
    ) -> Result<Option<&'a [u8]>, DecodeError> {
        self.get(n)
            .map(|f| whole(f, TAG_OCTET_STRING, what))
            .transpose()
    }

    pub fn time(&self, n: usize, what: &'static str) -> Result<i64, DecodeError> {
        parse_time(whole(self.req(n)?, TAG_GENERALIZED_TIME, what)?)
    }

    pub fn opt_time(&self, n: usize, what: &'static str) -> Result<Option<i64>, DecodeError> {
        self.get(n)
            .map(|f| parse_time(whole(f, TAG_GENERALIZED_TIME, what)?))
            .transpose()
    }
}

/// An INTEGER element filling `data`.
pub fn int_of(data: &[u8], what: &'static str) -> Result<i64, DecodeError> {
    asn1::integer_value(whole(data, TAG_INTEGER, what)?, what)
}

/// An Int32 element (RFC 4120 5.2.4).
pub fn i32_of(data: &[u8], what: &'static str) -> Result<i32, DecodeError> {
    let v = int_of(data, what)?;
    i32::try_from(v).map_err(|_| DecodeError::Invalid {
        what,
        value: v as u64,
    })
}

/// A UInt32 element; Microsoft KDCs have sent nonces as negative INTEGERs, so a negative 32-bit
/// value is taken as its two's complement.
pub fn u32_of(data: &[u8], what: &'static str) -> Result<u32, DecodeError> {
    let v = int_of(data, what)?;
    if let Ok(u) = u32::try_from(v) {
        return Ok(u);
    }
    i32::try_from(v)
        .map(|i| i as u32)
        .map_err(|_| DecodeError::Invalid {
            what,
            value: v as u64,
        })
}

/// A KerberosString (GeneralString, IA5 in practice): bytes that are not UTF-8 are replaced.
pub fn string_of(data: &[u8], what: &'static str) -> Result<String, DecodeError> {
    let mut c = Cursor::new(data);
    let t = asn1::read_tlv(&mut c)?;
    if !c.is_empty() {
        return Err(DecodeError::Invalid {
            what,
            value: c.remaining() as u64,
        });
    }
    // GeneralString, or the UTF8String / IA5String / PrintableString some peers use.
    if ![TAG_GENERAL_STRING, 0x0C, 0x16, 0x13].contains(&t.tag) {
        return Err(DecodeError::Invalid {
            what,
            value: u64::from(t.tag),
        });
    }
    if t.contents.len() > MAX_STRING {
        return Err(DecodeError::TooLarge {
            what,
            len: t.contents.len(),
            max: MAX_STRING,
        });
    }
    Ok(String::from_utf8_lossy(t.contents).into_owned())
}

/// The elements of a `SEQUENCE OF` filling `data`, at most [`MAX_ITEMS`].
pub fn items<'a>(data: &'a [u8], what: &'static str) -> Result<Vec<&'a [u8]>, DecodeError> {
    let body = whole(data, TAG_SEQUENCE, what)?;
    let mut c = Cursor::new(body);
    let mut out = Vec::new();
    while !c.is_empty() {
        let start = c.position();
        asn1::read_tlv(&mut c)?;
        if out.len() >= MAX_ITEMS {
            return Err(DecodeError::TooLarge {
                what,
                len: out.len() + 1,
                max: MAX_ITEMS,
            });
        }
        out.push(body.get(start..c.position()).unwrap_or(&[]));
    }
    Ok(out)
}

/// A 32-bit KerberosFlags BIT STRING (fewer or more bits are accepted; bits past 32 dropped).
pub fn flags32_of(data: &[u8], what: &'static str) -> Result<u32, DecodeError> {
    let body = whole(data, TAG_BIT_STRING, what)?;
    let Some((_unused, bits)) = body.split_first() else {
        return Err(DecodeError::Truncated {
            what,
            needed: 1,
            available: 0,
        });
    };
    let mut b = [0u8; 4];
    for (d, s) in b.iter_mut().zip(bits) {
        *d = *s;
    }
    Ok(u32::from_be_bytes(b))
}

/// An element's complete encoding (tag, length and contents) at the start of `data`, and the
/// rest.
pub fn split_element(data: &[u8]) -> Result<(&[u8], &[u8]), DecodeError> {
    let mut c = Cursor::new(data);
    asn1::read_tlv(&mut c)?;
    Ok((
        data.get(..c.position()).unwrap_or(&[]),
        data.get(c.position()..).unwrap_or(&[]),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn kerberos_time_round_trips() {
        for t in [0i64, 1_796_519_959, 951_782_400, 4_102_444_800, -86_400] {
            let s = format_time(t);
            assert_eq!(parse_time(s.as_bytes()), Ok(t), "{s}");
        }
        assert_eq!(format_time(1_796_519_959), "20261206011919Z");
        assert_eq!(parse_time(b"20261206011919.123Z"), Ok(1_796_519_959));
        assert!(parse_time(b"20261306011919Z").is_err());
        assert!(parse_time(b"2026120601191Z").is_err());
        assert!(parse_time(b"20261206011919+0100").is_err());
    }

    #[test]
    fn oids_encode_like_the_specs() {
        // RFC 1964 1.1.1: krb5 1.2.840.113554.1.2.2
        assert_eq!(
            oid(&[1, 2, 840, 113_554, 1, 2, 2]),
            [0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x12, 0x01, 0x02, 0x02]
        );
        // RFC 4178: SPNEGO 1.3.6.1.5.5.2
        assert_eq!(
            oid(&[1, 3, 6, 1, 5, 5, 2]),
            [0x06, 0x06, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x02]
        );
    }

    #[test]
    fn fields_refuse_duplicates_and_keep_order_free() {
        let body = [ctx(1, &int(5)), ctx(0, &int(7))].concat();
        let s = seq(&[&body]);
        let f = Fields::of_sequence(&s, "t").unwrap();
        assert_eq!(f.int(0, "a"), Ok(7));
        assert_eq!(f.int(1, "b"), Ok(5));
        assert!(f.req(2).is_err());
        let dup = seq(&[&ctx(1, &int(5)), &ctx(1, &int(5))]);
        assert!(Fields::of_sequence(&dup, "t").is_err());
        assert_eq!(flags32_of(&flags32(0x4081_0010), "f"), Ok(0x4081_0010));
    }
}
