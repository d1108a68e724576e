//! A read-only look at the bytes a server sent during a TLS handshake ([RFC 8446] 5.1 records,
//! 6 alerts, 4.1.3 ServerHello; [RFC 5246] for TLS 1.2).
//!
//! The TLS engine (rustls) owns the handshake; this module only classifies what arrived, so a
//! report can say "the server sent 1 383 bytes of its first flight, then nothing", "the server
//! answered with alert 70 (protocol_version)" or "the server chose TLS 1.0".

use crate::cursor::Cursor;

pub const CONTENT_CHANGE_CIPHER_SPEC: u8 = 20;
pub const CONTENT_ALERT: u8 = 21;
pub const CONTENT_HANDSHAKE: u8 = 22;
pub const CONTENT_APPLICATION_DATA: u8 = 23;

pub const HANDSHAKE_SERVER_HELLO: u8 = 2;
pub const HANDSHAKE_CERTIFICATE: u8 = 11;
pub const HANDSHAKE_SERVER_HELLO_DONE: u8 = 14;

/// Records beyond this count are not itemised (their bytes are still counted).
pub const MAX_RECORDS: usize = 64;
/// The largest record length [RFC 8446] 5.2 allows for a ciphertext record.
pub const MAX_RECORD_LEN: usize = (1 << 14) + 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alert {
    pub level: u8,
    pub description: u8,
}

impl Alert {
    pub fn description_name(&self) -> &'static str {
        alert_name(self.description)
    }
}

/// The IANA name of a TLS alert description.
pub fn alert_name(d: u8) -> &'static str {
    match d {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        40 => "handshake_failure",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        109 => "missing_extension",
        110 => "unsupported_extension",
        112 => "unrecognized_name",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => "unknown",
    }
}

/// The name of a TLS protocol version number.
pub fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSLv3".into(),
        0x0301 => "TLSv1.0".into(),
        0x0302 => "TLSv1.1".into(),
        0x0303 => "TLSv1.2".into(),
        0x0304 => "TLSv1.3".into(),
        other => format!("0x{other:04X}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerHello {
    /// `legacy_version` (the negotiated version up to TLS 1.2).
    pub legacy_version: u16,
    /// The `supported_versions` extension's choice (TLS 1.3).
    pub selected_version: Option<u16>,
    pub cipher_suite: u16,
}

impl ServerHello {
    pub fn version(&self) -> u16 {
        self.selected_version.unwrap_or(self.legacy_version)
    }
}

/// A summary of a server's handshake bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerFlight {
    pub total_bytes: usize,
    /// Bytes that form complete records.
    pub complete_record_bytes: usize,
    /// (content type, length) of each complete record, at most [`MAX_RECORDS`].
    pub records: Vec<(u8, usize)>,
    pub alert: Option<Alert>,
    pub server_hello: Option<ServerHello>,
    /// Plain handshake message types seen (before encryption starts).
    pub handshake_types: Vec<u8>,
    /// The bytes do not start like a TLS record at all (e.g. a TPKT frame or text).
    pub not_tls: bool,
}

/// Classifies a server's handshake bytes. Never fails: what cannot be parsed is counted.
pub fn analyze_server_flight(bytes: &[u8]) -> ServerFlight {
    let mut out = ServerFlight {
        total_bytes: bytes.len(),
        ..ServerFlight::default()
    };
    let mut c = Cursor::new(bytes);
    let mut first = true;
    while c.remaining() >= 5 {
        let Ok(hdr) = c.array::<5>("TLS record header") else {
            break;
        };
        let [ty, major, _minor, hi, lo] = hdr;
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        let plausible = (20..=24).contains(&ty) && major == 3 && len <= MAX_RECORD_LEN;
        if !plausible {
            if first {
                out.not_tls = true;
            }
            break;
        }
        first = false;
        let Ok(body) = c.take(len, "TLS record body") else {
            break;
        };
        out.complete_record_bytes += 5 + len;
        if out.records.len() < MAX_RECORDS {
            out.records.push((ty, len));
        }
        match ty {
            CONTENT_ALERT if body.len() >= 2 => {
                out.alert = Some(Alert {
                    level: body.first().copied().unwrap_or(0),
                    description: body.get(1).copied().unwrap_or(0),
                });
            }
            CONTENT_HANDSHAKE => scan_handshake(body, &mut out),
            _ => {}
        }
    }
    if first && !bytes.is_empty() && bytes.len() < 5 {
        // Too short to judge; only flag what is clearly not a record type.
        if let Some(&b) = bytes.first() {
            out.not_tls = !(20..=24).contains(&b);
        }
    }
    out
}

fn scan_handshake(body: &[u8], out: &mut ServerFlight) {
    let mut c = Cursor::new(body);
    while c.remaining() >= 4 {
        let Ok(ty) = c.u8("handshake type") else {
            break;
        };
        let Ok(len3) = c.array::<3>("handshake length") else {
            break;
        };
        let len = (usize::from(len3[0]) << 16) | (usize::from(len3[1]) << 8) | usize::from(len3[2]);
        if out.handshake_types.len() < MAX_RECORDS {
            out.handshake_types.push(ty);
        }
        let Ok(msg) = c.take(len, "handshake body") else {
            // Message continues in the next record; the type is all we need.
            if ty == HANDSHAKE_SERVER_HELLO && out.server_hello.is_none() {
                out.server_hello = parse_server_hello(c.rest());
            }
            break;
        };
        if ty == HANDSHAKE_SERVER_HELLO && out.server_hello.is_none() {
            out.server_hello = parse_server_hello(msg);
        }
    }
}

fn parse_server_hello(msg: &[u8]) -> Option<ServerHello> {
    let mut c = Cursor::new(msg);
    let legacy_version = c.u16_be("legacy_version").ok()?;
    c.skip(32, "random").ok()?;
    let sid_len = usize::from(c.u8("session id length").ok()?);
    c.skip(sid_len, "session id").ok()?;
    let cipher_suite = c.u16_be("cipher suite").ok()?;
    let mut hello = ServerHello {
        legacy_version,
        selected_version: None,
        cipher_suite,
    };
    if c.skip(1, "compression").is_err() {
        return Some(hello);
    }
    let Ok(ext_len) = c.u16_be("extensions length") else {
        return Some(hello);
    };
    let Ok(exts) = c.take(usize::from(ext_len), "extensions") else {
        return Some(hello);
    };
    let mut e = Cursor::new(exts);
    while e.remaining() >= 4 {
        let (Ok(ty), Ok(len)) = (e.u16_be("ext type"), e.u16_be("ext len")) else {
            break;
        };
        let Ok(data) = e.take(usize::from(len), "ext data") else {
            break;
        };
        if ty == 0x002b && data.len() == 2 {
            hello.selected_version = Some(u16::from_be_bytes([
                data.first().copied().unwrap_or(0),
                data.get(1).copied().unwrap_or(0),
            ]));
        }
    }
    Some(hello)
}

/// Encodes a plaintext alert record (used by the lab server to refuse a handshake the way a
/// server without a usable key or protocol does).
pub fn encode_alert(level: u8, description: u8) -> [u8; 7] {
    [CONTENT_ALERT, 3, 3, 0, 2, level, description]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_alert() {
        let f = analyze_server_flight(&encode_alert(2, 70));
        assert_eq!(
            f.alert,
            Some(Alert {
                level: 2,
                description: 70
            })
        );
        assert_eq!(
            f.alert.map(|a| a.description_name()),
            Some("protocol_version")
        );
        assert!(!f.not_tls);
    }

    #[test]
    fn flags_non_tls_answers() {
        assert!(analyze_server_flight(b"HTTP/1.1 400 Bad Request\r\n").not_tls);
        assert!(analyze_server_flight(&[3, 0, 0, 11, 6, 0xD0]).not_tls);
    }

    #[test]
    fn partial_flight_is_counted() {
        // A ServerHello record header announcing 1 378 bytes, with only 100 present.
        let mut b = vec![22, 3, 3, 0x05, 0x62];
        b.extend(std::iter::repeat_n(0u8, 100));
        let f = analyze_server_flight(&b);
        assert_eq!(f.total_bytes, 105);
        assert_eq!(f.complete_record_bytes, 0);
        assert!(!f.not_tls);
    }

    #[test]
    fn finds_tls13_server_hello() {
        // ServerHello: version 0303, random, sid len 0, suite 1302, compression 0,
        // extensions: supported_versions 0304.
        let mut hello = vec![0x03, 0x03];
        hello.extend([0u8; 32]);
        hello.extend([
            0x00, 0x13, 0x02, 0x00, 0x00, 0x06, 0x00, 0x2b, 0x00, 0x02, 0x03, 0x04,
        ]);
        let mut hs = vec![2, 0, 0, hello.len() as u8];
        hs.extend(&hello);
        let mut rec = vec![22, 3, 3, 0, hs.len() as u8];
        rec.extend(&hs);
        let f = analyze_server_flight(&rec);
        let sh = f.server_hello.expect("server hello");
        assert_eq!(sh.version(), 0x0304);
        assert_eq!(sh.cipher_suite, 0x1302);
        assert_eq!(version_name(sh.version()), "TLSv1.3");
    }
}
