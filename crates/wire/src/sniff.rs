//! What a listener that is not RDP speaks, from the first bytes it sends: the answers to the
//! identification probes the runner makes when the X.224 request got silence or garbage.
//!
//! * a banner the server sends unprompted: SSH ([RFC 4253] 4.2 `SSH-protoversion-...`), VNC
//!   ([RFC 6143] 7.1.1 `RFB 003.008\n`), SMTP ([RFC 5321] 4.2 `220 ...`), FTP ([RFC 959] 4.2
//!   `220 ...`), POP3 (`+OK`, [RFC 1939] 4), IMAP (`* OK`, [RFC 9051] 7.1.1);
//! * the answer to an HTTP/1.0 request line: the status line and the `Server` field
//!   ([RFC 9112] 4, [RFC 9110] 10.2.4);
//! * the answer to a TLS ClientHello: a handshake record that starts with a ServerHello, or an
//!   alert ([RFC 8446] 5.1, 6).
//!
//! Pure and bounded: every function looks at most at [`MAX_SNIFF`] bytes and returns text cut
//! to [`MAX_TEXT`] characters, not yet escaped (the renderers escape).

use crate::tls;

/// The most bytes any function here looks at.
pub const MAX_SNIFF: usize = 4096;
/// The longest text (banner line, status line, Server value) returned, in characters.
pub const MAX_TEXT: usize = 120;

/// A service recognised from a banner it sent first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Banner {
    /// `SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3`: the whole identification line.
    Ssh { line: String },
    /// `RFB 003.008`: the protocol version of a VNC server.
    Vnc { version: String },
    /// `220 ...`: an SMTP or FTP greeting (the two share the code), the whole line.
    Greeting220 { line: String },
    /// `+OK ...` (POP3) or `* OK ...` (IMAP).
    MailOk { line: String },
}

/// The first line of `bytes` (up to CR or LF), if it is text (no NUL; other control
/// characters are kept for the renderers to escape); cut to [`MAX_TEXT`].
fn first_line(bytes: &[u8]) -> Option<String> {
    let bytes = bytes.get(..MAX_SNIFF).unwrap_or(bytes);
    let end = bytes
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(bytes.len());
    let line = bytes.get(..end)?;
    if line.is_empty() || line.contains(&0) {
        return None;
    }
    Some(
        String::from_utf8_lossy(line)
            .chars()
            .take(MAX_TEXT)
            .collect(),
    )
}

/// Recognises a banner a server sent before the client said anything.
pub fn banner(bytes: &[u8]) -> Option<Banner> {
    if bytes.starts_with(b"RFB ") {
        // "RFB xxx.yyy\n": 12 bytes, digits and a dot.
        let v = bytes.get(4..11)?;
        let ok = v.iter().enumerate().all(|(i, &b)| {
            if i == 3 {
                b == b'.'
            } else {
                b.is_ascii_digit()
            }
        });
        return ok.then(|| Banner::Vnc {
            version: String::from_utf8_lossy(v).into_owned(),
        });
    }
    let line = first_line(bytes)?;
    if line.starts_with("SSH-") {
        return Some(Banner::Ssh { line });
    }
    if line.starts_with("220 ") || line.starts_with("220-") || line == "220" {
        return Some(Banner::Greeting220 { line });
    }
    if line.starts_with("+OK") || line.starts_with("* OK") {
        return Some(Banner::MailOk { line });
    }
    None
}

/// An HTTP server's answer: its status line and `Server` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    /// `HTTP/1.0 501 Unsupported method ('...')`, cut to [`MAX_TEXT`].
    pub status_line: String,
    pub status: u16,
    /// The `Server` field, when it arrived within the bytes read.
    pub server: Option<String>,
}

/// Recognises the start of an HTTP response: `HTTP/x.y NNN ...`. The head need not be
/// complete: the status line and whatever header lines arrived are enough.
pub fn http_answer(bytes: &[u8]) -> Option<HttpAnswer> {
    let bytes = bytes.get(..MAX_SNIFF).unwrap_or(bytes);
    if !bytes.starts_with(b"HTTP/") {
        return None;
    }
    let status_line = first_line(bytes)?;
    let code = status_line.split(' ').nth(1)?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let status = code.parse().ok()?;
    // Header lines up to the blank line; a line cut by the read limit is ignored.
    let mut server = None;
    let mut rest = bytes;
    while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
        let line = rest.get(..nl).unwrap_or(&[]);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        rest = rest.get(nl + 1..).unwrap_or(&[]);
        if line.is_empty() {
            break;
        }
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            let (name, value) = line.split_at(colon);
            if name.eq_ignore_ascii_case(b"server") {
                let v = value.get(1..).unwrap_or(&[]);
                let text = String::from_utf8_lossy(v);
                server = Some(text.trim().chars().take(MAX_TEXT).collect());
            }
        }
    }
    Some(HttpAnswer {
        status_line,
        status,
        server,
    })
}

/// A TLS server's answer to a ClientHello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsAnswer {
    /// A handshake record that carries a ServerHello: the version it chose.
    ServerHello { version: u16 },
    /// An alert record (the server speaks TLS, and refused this hello).
    Alert { level: u8, description: u8 },
}

/// Recognises a TLS server's first record.
pub fn tls_answer(bytes: &[u8]) -> Option<TlsAnswer> {
    let bytes = bytes.get(..MAX_SNIFF).unwrap_or(bytes);
    let f = tls::analyze_server_flight(bytes);
    if f.not_tls {
        return None;
    }
    if let Some(sh) = f.server_hello {
        return Some(TlsAnswer::ServerHello {
            version: sh.version(),
        });
    }
    if let Some(a) = f.alert {
        return Some(TlsAnswer::Alert {
            level: a.level,
            description: a.description,
        });
    }
    // A partial first record is still recognisable: type 22 (handshake) with version 3.x and
    // a ServerHello message type, or an alert header.
    match bytes {
        [tls::CONTENT_HANDSHAKE, 3, _, _, _, tls::HANDSHAKE_SERVER_HELLO, _, _, _, maj, min, ..] => {
            Some(TlsAnswer::ServerHello {
                version: u16::from_be_bytes([*maj, *min]),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn banners_of_real_servers() {
        // OpenSSH 9.2 on Debian 12: identification string, CR LF.
        assert_eq!(
            banner(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"),
            Some(Banner::Ssh {
                line: "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3".into()
            })
        );
        // RFB ProtocolVersion, 12 bytes.
        assert_eq!(
            banner(b"RFB 003.008\n"),
            Some(Banner::Vnc {
                version: "003.008".into()
            })
        );
        assert_eq!(banner(b"RFB 00x.008\n"), None);
        assert_eq!(
            banner(b"220 mail.example ESMTP Postfix (Debian/GNU)\r\n"),
            Some(Banner::Greeting220 {
                line: "220 mail.example ESMTP Postfix (Debian/GNU)".into()
            })
        );
        assert!(matches!(
            banner(b"* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n"),
            Some(Banner::MailOk { .. })
        ));
        // A TPKT frame, control bytes, nothing: no banner.
        assert_eq!(banner(&[3, 0, 0, 19, 14, 0xd0]), None);
        assert_eq!(banner(b"SSH-\x00\r\n"), None);
        assert_eq!(banner(b""), None);
        // A long line is cut, never the whole buffer.
        let long = [b"SSH-2.0-".as_slice(), &[b'a'; 5000]].concat();
        match banner(&long) {
            Some(Banner::Ssh { line }) => assert_eq!(line.len(), MAX_TEXT),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn http_answers() {
        // python3 -m http.server (Debian 12, Python 3.11) to "GET / HTTP/1.0".
        let a = http_answer(
            b"HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.2\r\nDate: Sun, 06 Dec 2026 05:00:00 GMT\r\nContent-type: text/html\r\n\r\n<!DOCTYPE",
        )
        .unwrap();
        assert_eq!(a.status, 200);
        assert_eq!(a.status_line, "HTTP/1.0 200 OK");
        assert_eq!(a.server.as_deref(), Some("SimpleHTTP/0.6 Python/3.11.2"));
        // The head cut before the Server line: the status line alone.
        let a = http_answer(b"HTTP/1.1 400 Bad Request\r\nContent-Le").unwrap();
        assert_eq!((a.status, a.server), (400, None));
        assert_eq!(http_answer(b"HTTP/1.1 4x0 Bad\r\n"), None);
        assert_eq!(http_answer(b"SSH-2.0-x\r\n"), None);
    }

    #[test]
    fn tls_answers() {
        // A TLS 1.2 ServerHello header (record + handshake header + legacy_version).
        let sh = [22, 3, 3, 0, 0x4a, 2, 0, 0, 0x46, 3, 3, 0, 0];
        assert_eq!(
            tls_answer(&sh),
            Some(TlsAnswer::ServerHello { version: 0x0303 })
        );
        // alert(2) protocol_version(70), as a TLS 1.3-only server sends to an SSLv3 hello.
        assert_eq!(
            tls_answer(&[21, 3, 1, 0, 2, 2, 70]),
            Some(TlsAnswer::Alert {
                level: 2,
                description: 70
            })
        );
        assert_eq!(tls_answer(b"HTTP/1.0 400 Bad\r\n"), None);
        assert_eq!(tls_answer(&[3, 0, 0, 19]), None);
    }
}
