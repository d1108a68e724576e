//! HTTP/1.1 message heads (RFC 9112) as an RD Gateway and its clients write them: request and
//! response heads both ways (the probe writes requests and reads responses, the lab the
//! reverse), the body-framing decision, and the authentication header grammar (RFC 9110 11.6).
//!
//! Bounded: a head is at most [`MAX_HEAD`] bytes, [`MAX_HEADERS`] fields, lines of at most
//! [`MAX_LINE`] bytes. Field names are kept as sent, in order; lookups are case-insensitive.
//! Values are kept as text (bytes that are not UTF-8 are replaced, not rejected: a gateway's
//! odd header is evidence, not a reason to stop reading).

use crate::DecodeError;

/// Largest head accepted (request or response line, fields, the blank line).
pub const MAX_HEAD: usize = 16 * 1024;
/// Most header fields in one head.
pub const MAX_HEADERS: usize = 100;
/// Longest single line of a head.
pub const MAX_LINE: usize = 8 * 1024;

/// Where the head of a message ends, as far as the bytes so far tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadStatus {
    /// No blank line yet, and nothing that rules out HTTP.
    Incomplete,
    /// The head is `len` bytes long, the blank line included; the body starts after it.
    Complete { len: usize },
    /// The first bytes cannot start an HTTP message of the expected kind.
    NotHttp,
    /// No blank line within [`MAX_HEAD`] bytes.
    TooLarge,
}

/// Finds the end of a response head (`HTTP/` must start it).
pub fn response_head_status(buf: &[u8]) -> HeadStatus {
    let prefix = b"HTTP/";
    let n = buf.len().min(prefix.len());
    if buf.get(..n) != prefix.get(..n) {
        return HeadStatus::NotHttp;
    }
    head_end(buf)
}

/// Finds the end of a request head (a method token, then a space, must start it).
pub fn request_head_status(buf: &[u8]) -> HeadStatus {
    for (i, &b) in buf.iter().enumerate().take(64) {
        if b == b' ' {
            if i == 0 {
                return HeadStatus::NotHttp;
            }
            return head_end(buf);
        }
        if !is_tchar(b) {
            return HeadStatus::NotHttp;
        }
    }
    if buf.len() >= 64 {
        return HeadStatus::NotHttp;
    }
    HeadStatus::Incomplete
}

/// The blank line that ends a head: CRLF CRLF, or (tolerated, RFC 9112 2.2) LF LF.
fn head_end(buf: &[u8]) -> HeadStatus {
    let limit = buf.len().min(MAX_HEAD);
    let window = buf.get(..limit).unwrap_or(buf);
    let mut i = 0;
    while i < window.len() {
        if window.get(i) == Some(&b'\n') {
            match window.get(i + 1) {
                Some(b'\n') => return HeadStatus::Complete { len: i + 2 },
                Some(b'\r') if window.get(i + 2) == Some(&b'\n') => {
                    return HeadStatus::Complete { len: i + 3 }
                }
                _ => {}
            }
        }
        i += 1;
    }
    if buf.len() >= MAX_HEAD {
        HeadStatus::TooLarge
    } else {
        HeadStatus::Incomplete
    }
}

/// RFC 9110 5.6.2 token characters.
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// One header field as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// The fields of a head, in the order sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<Header>);

impl Headers {
    pub fn new() -> Headers {
        Headers(Vec::new())
    }

    /// Appends a field (builder style).
    pub fn with(mut self, name: &str, value: &str) -> Headers {
        self.push(name, value);
        self
    }

    pub fn push(&mut self, name: &str, value: &str) {
        self.0.push(Header {
            name: name.to_string(),
            value: value.to_string(),
        });
    }

    /// The first value of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Whether any value of `name`, read as a comma-separated list, holds `token`
    /// (case-insensitive): `Connection: keep-alive, Upgrade` has `upgrade`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name)
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    fn encode(&self, out: &mut Vec<u8>) {
        for h in &self.0 {
            out.extend_from_slice(h.name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(h.value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// How the body after a head is delimited (RFC 9112 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body (1xx, 204, 304, a request without length).
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// A response without length: the body runs until the connection closes (an RD Gateway's
    /// legacy OUT channel is such a body, MS-TSGU 3.3.5.1).
    UntilClose,
}

/// A response's status line and fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// `HTTP/1.1` or `HTTP/1.0` as sent.
    pub version: String,
    pub status: u16,
    /// The reason phrase, kept (an RPC proxy's `RPC Error: 6ba` lives there).
    pub reason: String,
    pub headers: Headers,
}

/// A request's line and fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    pub target: String,
    pub version: String,
    pub headers: Headers,
}

fn lines(head: &[u8]) -> Result<Vec<&[u8]>, DecodeError> {
    if head.len() > MAX_HEAD {
        return Err(DecodeError::TooLarge {
            what: "HTTP head",
            len: head.len(),
            max: MAX_HEAD,
        });
    }
    let mut out = Vec::new();
    for raw in head.split(|&b| b == b'\n') {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.len() > MAX_LINE {
            return Err(DecodeError::TooLarge {
                what: "HTTP head line",
                len: line.len(),
                max: MAX_LINE,
            });
        }
        out.push(line);
    }
    // Everything after the first empty line is not head.
    if let Some(end) = out.iter().position(|l| l.is_empty()) {
        out.truncate(end);
    }
    Ok(out)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn parse_fields(lines: &[&[u8]]) -> Result<Headers, DecodeError> {
    let mut h = Headers::new();
    for line in lines {
        if h.0.len() >= MAX_HEADERS {
            return Err(DecodeError::TooLarge {
                what: "HTTP header fields",
                len: lines.len(),
                max: MAX_HEADERS,
            });
        }
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            // obs-fold (RFC 9112 5.2): continue the previous value.
            match h.0.last_mut() {
                Some(last) => {
                    let more = text(line);
                    let more = more.trim();
                    if !last.value.is_empty() && !more.is_empty() {
                        last.value.push(' ');
                    }
                    last.value.push_str(more);
                    continue;
                }
                None => {
                    return Err(DecodeError::Invalid {
                        what: "HTTP header continuation without a field",
                        value: 0,
                    })
                }
            }
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(DecodeError::Invalid {
                what: "HTTP header field without a colon",
                value: line.len() as u64,
            })?;
        let (name, value) = line.split_at(colon);
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(DecodeError::Invalid {
                what: "HTTP header field name",
                value: name.len() as u64,
            });
        }
        h.push(&text(name), text(value.get(1..).unwrap_or(&[])).trim());
    }
    Ok(h)
}

impl ResponseHead {
    /// Parses a complete head (as [`response_head_status`] delimited it).
    pub fn parse(head: &[u8]) -> Result<ResponseHead, DecodeError> {
        let lines = lines(head)?;
        let (first, rest) = lines.split_first().ok_or(DecodeError::Truncated {
            what: "HTTP status line",
            needed: 1,
            available: 0,
        })?;
        let first = text(first);
        let mut parts = first.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        if !version.starts_with("HTTP/") {
            return Err(DecodeError::Invalid {
                what: "HTTP version",
                value: version.len() as u64,
            });
        }
        let code = parts.next().unwrap_or_default();
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DecodeError::Invalid {
                what: "HTTP status code",
                value: code.len() as u64,
            });
        }
        let status = code.parse::<u16>().map_err(|_| DecodeError::Invalid {
            what: "HTTP status code",
            value: 0,
        })?;
        Ok(ResponseHead {
            version: version.to_string(),
            status,
            reason: parts.next().unwrap_or_default().to_string(),
            headers: parse_fields(rest)?,
        })
    }

    /// The head as bytes. A reason phrase is always written (FreeRDP's status-line parser
    /// needs two spaces); an empty one becomes the standard phrase.
    pub fn encode(&self) -> Vec<u8> {
        let reason = if self.reason.is_empty() {
            reason_phrase(self.status)
        } else {
            &self.reason
        };
        let mut out = format!("{} {} {}\r\n", self.version, self.status, reason).into_bytes();
        self.headers.encode(&mut out);
        out.extend_from_slice(b"\r\n");
        out
    }

    /// How the body is delimited, for a response to a request that was not HEAD.
    pub fn framing(&self) -> Result<BodyFraming, DecodeError> {
        if (100..200).contains(&self.status) || self.status == 204 || self.status == 304 {
            return Ok(BodyFraming::None);
        }
        match message_framing(&self.headers)? {
            Some(f) => Ok(f),
            None => Ok(BodyFraming::UntilClose),
        }
    }
}

impl RequestHead {
    pub fn parse(head: &[u8]) -> Result<RequestHead, DecodeError> {
        let lines = lines(head)?;
        let (first, rest) = lines.split_first().ok_or(DecodeError::Truncated {
            what: "HTTP request line",
            needed: 1,
            available: 0,
        })?;
        let first = text(first);
        let mut parts = first.split(' ');
        let (Some(method), Some(target), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(DecodeError::Invalid {
                what: "HTTP request line",
                value: first.len() as u64,
            });
        };
        if method.is_empty() || !method.bytes().all(is_tchar) {
            return Err(DecodeError::Invalid {
                what: "HTTP method",
                value: method.len() as u64,
            });
        }
        if !version.starts_with("HTTP/") || target.is_empty() {
            return Err(DecodeError::Invalid {
                what: "HTTP request line",
                value: first.len() as u64,
            });
        }
        Ok(RequestHead {
            method: method.to_string(),
            target: target.to_string(),
            version: version.to_string(),
            headers: parse_fields(rest)?,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = format!("{} {} {}\r\n", self.method, self.target, self.version).into_bytes();
        self.headers.encode(&mut out);
        out.extend_from_slice(b"\r\n");
        out
    }

    /// How the request body is delimited (no length: no body).
    pub fn framing(&self) -> Result<BodyFraming, DecodeError> {
        Ok(message_framing(&self.headers)?.unwrap_or(BodyFraming::None))
    }
}

/// Transfer-Encoding chunked wins over Content-Length (RFC 9112 6.3 item 3); two different
/// lengths are an error (item 5).
fn message_framing(h: &Headers) -> Result<Option<BodyFraming>, DecodeError> {
    if h.get("transfer-encoding").is_some() {
        let last = h
            .get_all("transfer-encoding")
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .last()
            .unwrap_or("");
        if last.eq_ignore_ascii_case("chunked") {
            return Ok(Some(BodyFraming::Chunked));
        }
        return Ok(None);
    }
    let mut len: Option<u64> = None;
    for v in h.get_all("content-length").flat_map(|v| v.split(',')) {
        let v = v.trim();
        if v.is_empty() || v.len() > 19 || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DecodeError::Invalid {
                what: "Content-Length",
                value: v.len() as u64,
            });
        }
        let n = v.parse::<u64>().map_err(|_| DecodeError::Invalid {
            what: "Content-Length",
            value: 0,
        })?;
        if len.is_some_and(|l| l != n) {
            return Err(DecodeError::Invalid {
                what: "Content-Length (two different values)",
                value: n,
            });
        }
        len = Some(n);
    }
    Ok(len.map(BodyFraming::Length))
}

/// The standard reason phrase (RFC 9110 15) for the codes a gateway answers with.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// One authentication challenge (`WWW-Authenticate`, RFC 9110 11.6.1): a scheme with either
/// a token68 (`NTLM TlRMTVNT...`) or parameters (`Basic realm="gw"`), or nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub token: Option<String>,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    pub fn is(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }
}

/// Most challenges read from one response.
pub const MAX_CHALLENGES: usize = 32;

/// Reads every challenge of every `WWW-Authenticate` value given (servers send one per line,
/// or several in one comma-separated value).
pub fn parse_challenges<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    for v in values {
        for item in split_list(v) {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            if let (Some(cur), Some((k, val))) = (out.last_mut(), auth_param(item)) {
                if !item.contains(' ') || item.find(' ') > item.find('=') {
                    cur.params.push((k, val));
                    continue;
                }
            }
            if out.len() >= MAX_CHALLENGES {
                return out;
            }
            let (scheme, rest) = match item.split_once(' ') {
                Some((s, r)) => (s, r.trim()),
                None => (item, ""),
            };
            if scheme.is_empty() || !scheme.bytes().all(is_tchar) {
                continue;
            }
            let mut c = Challenge {
                scheme: scheme.to_string(),
                token: None,
                params: Vec::new(),
            };
            if is_token68(rest) {
                c.token = Some(rest.to_string());
            } else if let Some(p) = auth_param(rest) {
                c.params.push(p);
            }
            out.push(c);
        }
    }
    out
}

/// Parses an `Authorization` value: scheme and token68 (or the raw rest).
pub fn parse_authorization(v: &str) -> Option<(String, Option<String>)> {
    let v = v.trim();
    let (scheme, rest) = match v.split_once(' ') {
        Some((s, r)) => (s, r.trim()),
        None => (v, ""),
    };
    if scheme.is_empty() || !scheme.bytes().all(is_tchar) {
        return None;
    }
    Some((
        scheme.to_string(),
        (!rest.is_empty()).then(|| rest.to_string()),
    ))
}

fn is_token68(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// `name=value` or `name="quoted"`.
fn auth_param(s: &str) -> Option<(String, String)> {
    let (k, v) = s.split_once('=')?;
    let k = k.trim();
    if k.is_empty() || !k.bytes().all(is_tchar) {
        return None;
    }
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    let v = match v.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
        Some(q) => q.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => v.to_string(),
    };
    Some((k.to_string(), v))
}

/// Splits a comma-separated list, keeping commas inside quoted strings.
fn split_list(v: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in v.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(v.get(start..i).unwrap_or(""));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(v.get(start..).unwrap_or(""));
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// A 401 as an IIS-fronted RD Gateway sends it (the schemes of FreeRDP issue #4781's log).
    const IIS_401: &[u8] = b"HTTP/1.1 401 Unauthorized\r\n\
Content-Type: text/plain\r\n\
Server: Microsoft-IIS/10.0\r\n\
WWW-Authenticate: Negotiate\r\n\
WWW-Authenticate: NTLM\r\n\
WWW-Authenticate: Basic realm=\"gw.example.com\"\r\n\
Content-Length: 13\r\n\
\r\n\
Unauthorized.";

    #[test]
    fn an_iis_401_gives_three_schemes_and_a_13_byte_body() {
        let len = match response_head_status(IIS_401) {
            HeadStatus::Complete { len } => len,
            other => panic!("{other:?}"),
        };
        assert_eq!(&IIS_401[len..], b"Unauthorized.");
        let h = ResponseHead::parse(&IIS_401[..len]).unwrap();
        assert_eq!((h.version.as_str(), h.status), ("HTTP/1.1", 401));
        assert_eq!(h.reason, "Unauthorized");
        assert_eq!(h.framing(), Ok(BodyFraming::Length(13)));
        let c = parse_challenges(h.headers.get_all("www-authenticate"));
        let schemes: Vec<_> = c.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["Negotiate", "NTLM", "Basic"]);
        assert_eq!(
            c[2].params,
            [("realm".to_string(), "gw.example.com".to_string())]
        );
    }

    #[test]
    fn challenges_in_one_line_with_params_and_tokens() {
        let c = parse_challenges([
            "Negotiate, NTLM TlRMTVNTUAACAAAA==, Basic realm=\"a, b\", charset=\"UTF-8\"",
        ]);
        assert_eq!(c.len(), 3);
        assert_eq!(c[1].token.as_deref(), Some("TlRMTVNTUAACAAAA=="));
        assert_eq!(c[2].params.len(), 2);
        assert_eq!(c[2].params[0].1, "a, b");
        assert!(parse_challenges(["", " , "]).is_empty());
    }

    #[test]
    fn the_rpc_proxy_reason_phrase_is_kept() {
        // [MS-RPCH] 2.1.2.1.3: the error travels in the reason phrase of an HTTP/1.0 line.
        let h = ResponseHead::parse(b"HTTP/1.0 503 RPC Error: 6ba\r\n\r\n").unwrap();
        assert_eq!(h.status, 503);
        assert_eq!(h.reason, "RPC Error: 6ba");
        assert_eq!(h.framing(), Ok(BodyFraming::UntilClose));
    }

    #[test]
    fn a_freerdp_request_head_parses() {
        // FreeRDP 2.11 http_request_write order, legacy OUT channel, first NTLM leg.
        let req = b"RDG_OUT_DATA /remoteDesktopGateway/ HTTP/1.1\r\n\
Cache-Control: no-cache\r\n\
Pragma: no-cache\r\n\
Accept: */*\r\n\
User-Agent: MS-RDGateway/1.0\r\n\
Host: 127.0.0.1\r\n\
Connection: Keep-Alive\r\n\
RDG-Connection-Id: {1b9f9c16-3b8c-4e2f-9a4e-2c6c0b3c5a11}\r\n\
Content-Length: 0\r\n\
Authorization: NTLM TlRMTVNTUAABAAAAB4IIog==\r\n\r\n";
        let HeadStatus::Complete { len } = request_head_status(req) else {
            panic!()
        };
        assert_eq!(len, req.len());
        let r = RequestHead::parse(req).unwrap();
        assert_eq!(r.method, "RDG_OUT_DATA");
        assert_eq!(r.target, "/remoteDesktopGateway/");
        assert_eq!(r.framing(), Ok(BodyFraming::Length(0)));
        let (scheme, tok) = parse_authorization(r.headers.get("authorization").unwrap()).unwrap();
        assert_eq!(scheme, "NTLM");
        assert_eq!(tok.as_deref(), Some("TlRMTVNTUAABAAAAB4IIog=="));
        assert_eq!(RequestHead::parse(&r.encode()).unwrap(), r);
    }

    #[test]
    fn chunked_wins_and_conflicting_lengths_are_refused() {
        let h = ResponseHead::parse(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        )
        .unwrap();
        assert_eq!(h.framing(), Ok(BodyFraming::Chunked));
        let h = ResponseHead::parse(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        )
        .unwrap();
        assert!(h.framing().is_err());
        let h = ResponseHead::parse(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n").unwrap();
        assert_eq!(h.framing(), Ok(BodyFraming::None));
        assert!(h.headers.has_token("connection", "upgrade"));
    }

    #[test]
    fn not_http_and_limits() {
        assert_eq!(
            response_head_status(b"\x03\x00\x00\x13"),
            HeadStatus::NotHttp
        );
        assert_eq!(response_head_status(b"\x16\x03\x01"), HeadStatus::NotHttp);
        assert_eq!(response_head_status(b"HTT"), HeadStatus::Incomplete);
        assert_eq!(
            request_head_status(b"\x16\x03\x01\x02"),
            HeadStatus::NotHttp
        );
        assert_eq!(
            response_head_status(b"HTTP/1.1 200 OK\n\nbody"),
            HeadStatus::Complete { len: 17 }
        );
        let mut big = b"HTTP/1.1 200 OK\r\n".to_vec();
        big.resize(MAX_HEAD + 10, b'a');
        assert_eq!(response_head_status(&big), HeadStatus::TooLarge);
        assert!(ResponseHead::parse(b"HTTP/1.1 20 OK\r\n\r\n").is_err());
        assert!(ResponseHead::parse(b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n").is_err());
    }

    #[test]
    fn an_encoded_response_always_has_a_reason() {
        let h = ResponseHead {
            version: "HTTP/1.1".into(),
            status: 200,
            reason: String::new(),
            headers: Headers::new().with("Content-Length", "0"),
        };
        assert_eq!(h.encode(), b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    }
}
