//! A small HTTP/1.1 server for the exporter, on tokio. Only what Prometheus needs: GET, a
//! request line and headers of at most `MAX_HEAD` bytes read within short per-phase
//! deadlines, no request body, one request per connection (`Connection: close`), a bounded
//! number of connections.
//!
//! Idle connections must not starve scrapes (issue 15: 200 idle connections held every slot
//! for the old 10 s head time-out, and 3 scrapes in 4 missed their time-out). So connections
//! still sending their head and requests already complete draw on two separate pools; when
//! the head pool is full a new connection sheds the oldest connection that has sent nothing
//! yet (else the oldest one), instead of waiting behind it; and the head has 2 s for its
//! first byte and 5 s in all.
//! Hand-written rather than hyper: about 200 lines whose every bound is visible, against a
//! dozen more crates in the build for features (bodies, keep-alive, HTTP/2) the exporter
//! does not use.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// Request line plus headers.
pub const MAX_HEAD: usize = 8 * 1024;
/// Headers per request.
const MAX_HEADERS: usize = 64;
/// Time allowed for the first byte of the request: Prometheus sends its head at once.
pub const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(2);
/// Time allowed for the whole request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed to write the response.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Raw query (after `?`), not decoded.
    pub query: String,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub extra_headers: Vec<(&'static str, String)>,
}

impl Response {
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        let mut b: String = body.into();
        if !b.ends_with('\n') {
            b.push('\n');
        }
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: b.into_bytes(),
            extra_headers: Vec::new(),
        }
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn metrics(body: String) -> Response {
        Response {
            status: 200,
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body: body.into_bytes(),
            extra_headers: Vec::new(),
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Why a request could not be read; each maps to a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadError {
    TooLarge,
    Malformed(&'static str),
    Timeout,
    /// The client went away: nothing to answer.
    Closed,
    /// Closed to make room for a newer connection while the pool was full.
    Shed,
}

impl HeadError {
    pub fn response(&self) -> Option<Response> {
        match self {
            HeadError::TooLarge => Some(Response::text(
                431,
                format!("request line and headers exceed {MAX_HEAD} bytes"),
            )),
            HeadError::Malformed(why) => Some(Response::text(400, format!("bad request: {why}"))),
            HeadError::Timeout => Some(Response::text(408, "request not received in time")),
            HeadError::Closed | HeadError::Shed => None,
        }
    }
}

/// Where the head ends (index after `\r\n\r\n`, or `\n\n`), if it is complete.
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Parses a complete request head. Pure: the fuzz oracle and the tests call it directly.
pub fn parse_head(head: &[u8]) -> Result<Request, HeadError> {
    let text = std::str::from_utf8(head).map_err(|_| HeadError::Malformed("not UTF-8"))?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let line = lines.next().ok_or(HeadError::Malformed("empty"))?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Malformed(
            "the request line is not METHOD TARGET VERSION",
        ));
    };
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(HeadError::Malformed("not HTTP/1.0 or HTTP/1.1"));
    }
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(HeadError::Malformed("bad method"));
    }
    if !target.starts_with('/') || target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(HeadError::Malformed("bad request target"));
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (target, ""),
    };
    let mut headers = Vec::new();
    for l in lines {
        if l.is_empty() {
            break;
        }
        if headers.len() >= MAX_HEADERS {
            return Err(HeadError::TooLarge);
        }
        let (n, v) = l
            .split_once(':')
            .ok_or(HeadError::Malformed("bad header line"))?;
        if n.is_empty() || n.bytes().any(|b| b <= b' ' || b == b':' || b >= 0x7f) {
            return Err(HeadError::Malformed("bad header name"));
        }
        headers.push((n.to_ascii_lowercase(), v.trim().to_string()));
    }
    let req = Request {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers,
    };
    let has_body = req
        .header("content-length")
        .is_some_and(|v| v.trim() != "0")
        || req.header("transfer-encoding").is_some();
    if has_body {
        return Err(HeadError::Malformed("request bodies are not accepted"));
    }
    Ok(req)
}

/// Reads one request head: at most `MAX_HEAD` bytes, the first byte within
/// `FIRST_BYTE_TIMEOUT` and the whole head within `HEAD_TIMEOUT`. `got_bytes` is set once the
/// client has sent anything (the shedding prefers connections that have not).
pub async fn read_request<R: AsyncRead + Unpin>(
    stream: &mut R,
    got_bytes: &AtomicBool,
) -> Result<Request, HeadError> {
    let mut buf = Vec::with_capacity(1024);
    let start = tokio::time::Instant::now();
    let head_deadline = start + HEAD_TIMEOUT;
    let first_deadline = start + FIRST_BYTE_TIMEOUT.min(HEAD_TIMEOUT);
    loop {
        if let Some(end) = head_end(&buf) {
            return parse_head(buf.get(..end).unwrap_or(&[]));
        }
        if buf.len() >= MAX_HEAD {
            return Err(HeadError::TooLarge);
        }
        let mut chunk = [0u8; 2048];
        let want = chunk.len().min(MAX_HEAD - buf.len());
        let slice = chunk.get_mut(..want).ok_or(HeadError::TooLarge)?;
        let deadline = if buf.is_empty() {
            first_deadline
        } else {
            head_deadline
        };
        match tokio::time::timeout_at(deadline, stream.read(slice)).await {
            // An idle connection that never spoke gets no answer: it is not a client.
            Err(_) if buf.is_empty() => return Err(HeadError::Closed),
            Err(_) => return Err(HeadError::Timeout),
            Ok(Ok(0)) | Ok(Err(_)) => {
                return Err(if buf.is_empty() {
                    HeadError::Closed
                } else {
                    HeadError::Malformed("the request ended early")
                })
            }
            Ok(Ok(n)) => {
                got_bytes.store(true, Ordering::Relaxed);
                buf.extend_from_slice(slice.get(..n).unwrap_or(&[]));
            }
        }
    }
}

/// A connection still sending its head.
struct Waiting {
    id: u64,
    since: tokio::time::Instant,
    got_bytes: Arc<AtomicBool>,
    shed: Arc<Notify>,
}

/// The connections still sending their heads, at most `limit`.
struct HeadPool {
    limit: usize,
    next_id: u64,
    waiting: Vec<Waiting>,
}

impl HeadPool {
    /// Admits a new connection; when the pool is full, first sheds the oldest connection that
    /// has sent nothing (else the oldest). Returns the new entry's id, flag and shed signal.
    fn admit(&mut self) -> (u64, Arc<AtomicBool>, Arc<Notify>) {
        if self.waiting.len() >= self.limit {
            let victim = self
                .waiting
                .iter()
                .enumerate()
                .min_by_key(|(_, w)| (w.got_bytes.load(Ordering::Relaxed), w.since))
                .map(|(i, _)| i);
            if let Some(i) = victim {
                let w = self.waiting.swap_remove(i);
                // notify_one keeps a permit, so a task not yet waiting still sees it.
                w.shed.notify_one();
            }
        }
        self.next_id += 1;
        let got_bytes = Arc::new(AtomicBool::new(false));
        let shed = Arc::new(Notify::new());
        self.waiting.push(Waiting {
            id: self.next_id,
            since: tokio::time::Instant::now(),
            got_bytes: got_bytes.clone(),
            shed: shed.clone(),
        });
        (self.next_id, got_bytes, shed)
    }

    fn leave(&mut self, id: u64) {
        if let Some(i) = self.waiting.iter().position(|w| w.id == id) {
            self.waiting.swap_remove(i);
        }
    }
}

/// The bytes of a response (head and body).
pub fn encode_response(r: &Response, head_only: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len()
    )
    .into_bytes();
    for (n, v) in &r.extra_headers {
        // Header values are ours; strip line breaks anyway.
        let v: String = v.chars().filter(|c| *c != '\r' && *c != '\n').collect();
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    if !head_only {
        out.extend_from_slice(&r.body);
    }
    out
}

/// Decodes `%XX` and `+` (as a space) in a query component.
pub fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| "a '%' escape is not two hex digits".to_string())?;
                out.push(hex);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "the query is not UTF-8".to_string())
}

/// Splits and decodes `a=1&b=2`. Repeated names are an error (which one would count?).
pub fn parse_query(q: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for part in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let k = percent_decode(k)?;
        let v = percent_decode(v)?;
        if out.iter().any(|(n, _)| *n == k) {
            return Err(format!(
                "parameter '{}' is given twice",
                crate::sanitize::escape(&k)
            ));
        }
        out.push((k, v));
    }
    Ok(out)
}

/// Accepts connections and answers each with `handler`. At most `max_connections` may be
/// sending their heads (a new one sheds an idle one rather than wait), and at most
/// `max_connections` complete requests are answered at once (beyond that: 503 at once), so
/// open connections stay below twice the limit.
pub async fn serve<H, F>(listener: TcpListener, max_connections: usize, handler: H)
where
    H: Fn(Request, SocketAddr) -> F + Send + Sync + 'static,
    F: Future<Output = Response> + Send + 'static,
{
    let handler = Arc::new(handler);
    let limit = max_connections.max(1);
    let heads = Arc::new(Mutex::new(HeadPool {
        limit,
        next_id: 0,
        waiting: Vec::new(),
    }));
    let answering = Arc::new(tokio::sync::Semaphore::new(limit));
    loop {
        let (mut stream, peer) = match listener.accept().await {
            Ok(v) => v,
            Err(_) => {
                // EMFILE and friends: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (id, got_bytes, shed) = match heads.lock() {
            Ok(mut p) => p.admit(),
            Err(_) => return,
        };
        let handler = handler.clone();
        let heads = heads.clone();
        let answering = answering.clone();
        tokio::spawn(async move {
            let read = tokio::select! {
                r = read_request(&mut stream, &got_bytes) => r,
                _ = shed.notified() => Err(HeadError::Shed),
            };
            if let Ok(mut p) = heads.lock() {
                p.leave(id);
            }
            let permit = match &read {
                Ok(_) => answering.try_acquire_owned().ok(),
                Err(_) => None,
            };
            let (resp, head_only) = match read {
                Ok(_) if permit.is_none() => (
                    Response::text(503, "too many requests in progress; try again"),
                    false,
                ),
                Ok(req) if req.method == "GET" || req.method == "HEAD" => {
                    let head_only = req.method == "HEAD";
                    (handler(req, peer).await, head_only)
                }
                Ok(_) => {
                    let mut r = Response::text(405, "only GET is served");
                    r.extra_headers.push(("Allow", "GET, HEAD".into()));
                    (r, false)
                }
                Err(e) => match e.response() {
                    Some(r) => (r, false),
                    None => return,
                },
            };
            let bytes = encode_response(&resp, head_only);
            let _ = tokio::time::timeout(WRITE_TIMEOUT, async {
                stream.write_all(&bytes).await?;
                stream.shutdown().await
            })
            .await;
            drop(permit);
        });
    }
}

/// Fuzz oracle: any bytes as a request head never panic; a parsed request has a path that
/// starts with '/', an upper-case method and at most `MAX_HEADERS` headers.
pub fn fuzz_parse_head(data: &[u8]) {
    if let Ok(r) = parse_head(data) {
        assert!(r.path.starts_with('/'));
        assert!(r.method.bytes().all(|b| b.is_ascii_uppercase()));
        assert!(r.headers.len() <= MAX_HEADERS);
    }
    let _ = head_end(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse_query(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_prometheus_scrape() {
        // What Prometheus 2.42 sends (captured here with a listening socket).
        let head = b"GET /probe?module=quick&target=127.0.0.1%3A44389 HTTP/1.1\r\n\
Host: 127.0.0.1:44101\r\n\
User-Agent: Prometheus/2.42.0\r\n\
Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n\
Accept-Encoding: gzip\r\n\
X-Prometheus-Scrape-Timeout-Seconds: 2\r\n\r\n";
        let r = parse_head(head).expect("valid");
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/probe");
        assert_eq!(r.header("x-prometheus-scrape-timeout-seconds"), Some("2"));
        let q = parse_query(&r.query).expect("query");
        assert_eq!(
            q,
            vec![
                ("module".to_string(), "quick".to_string()),
                ("target".to_string(), "127.0.0.1:44389".to_string())
            ]
        );
        assert_eq!(head_end(head), Some(head.len()));
    }

    #[test]
    fn refuses_what_it_does_not_serve() {
        let cases: [(&[u8], &str); 9] = [
            (b"GET /x\r\n\r\n", "METHOD TARGET VERSION"),
            (b"GET /x HTTP/2\r\n\r\n", "not HTTP"),
            (b"get /x HTTP/1.1\r\n\r\n", "bad method"),
            (b"GET x HTTP/1.1\r\n\r\n", "bad request target"),
            (b"GET /x HTTP/1.1\r\nNoColon\r\n\r\n", "bad header line"),
            (b"GET /x HTTP/1.1\r\nBad Name: v\r\n\r\n", "bad header name"),
            (b"POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\n", "bodies"),
            (
                b"GET /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                "bodies",
            ),
            (b"GET /\xff HTTP/1.1\r\n\r\n", "UTF-8"),
        ];
        for (bad, why) in cases {
            match parse_head(bad) {
                Err(HeadError::Malformed(w)) => assert!(w.contains(why), "{bad:?}: {w}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        let many = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            "X-A: 1\r\n".repeat(MAX_HEADERS + 1)
        );
        assert_eq!(parse_head(many.as_bytes()), Err(HeadError::TooLarge));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode("%5B%3A%3A1%5D%3A3389").expect("ok"),
            "[::1]:3389"
        );
        assert_eq!(percent_decode("a+b%2Bc").expect("ok"), "a b+c");
        assert!(percent_decode("%zz").is_err());
        assert!(percent_decode("%4").is_err());
        assert!(percent_decode("%ff").is_err());
        assert!(parse_query("a=1&a=2").expect_err("twice").contains("twice"));
        assert_eq!(parse_query("").expect("empty"), vec![]);
    }

    #[test]
    fn responses_are_framed_and_closed() {
        let r = Response::text(400, "bad target");
        let b = String::from_utf8(encode_response(&r, false)).expect("utf8");
        assert!(b.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(b.contains("Content-Length: 11\r\n"));
        assert!(b.contains("Connection: close\r\n"));
        assert!(b.ends_with("\r\n\r\nbad target\n"));
        let h = String::from_utf8(encode_response(&r, true)).expect("utf8");
        assert!(h.ends_with("\r\n\r\n"));
    }

    #[tokio::test]
    async fn a_full_pool_sheds_the_oldest_silent_connection_first() {
        let mut p = HeadPool {
            limit: 2,
            next_id: 0,
            waiting: Vec::new(),
        };
        let (a, a_bytes, a_shed) = p.admit();
        let (b, _, b_shed) = p.admit();
        // a has started its request; b is silent, so b goes although a is older
        a_bytes.store(true, Ordering::Relaxed);
        let (c, _, _) = p.admit();
        assert_eq!(p.waiting.len(), 2);
        assert!(p.waiting.iter().all(|w| w.id != b));
        let ten_ms = Duration::from_millis(10);
        let b_told = tokio::time::timeout(ten_ms, b_shed.notified()).await;
        assert!(b_told.is_ok(), "b was told to go");
        let a_told = tokio::time::timeout(ten_ms, a_shed.notified()).await;
        assert!(a_told.is_err(), "a keeps its slot");
        // with nobody silent but c, c goes next; then the oldest speaker
        let (_d, d_bytes, _) = p.admit();
        assert!(p.waiting.iter().all(|w| w.id != c));
        d_bytes.store(true, Ordering::Relaxed);
        let _ = p.admit();
        assert!(p.waiting.iter().all(|w| w.id != a));
    }

    #[tokio::test(start_paused = true)]
    async fn the_head_has_a_first_byte_and_a_whole_head_deadline() {
        // silent: closed without an answer after FIRST_BYTE_TIMEOUT
        let (_client, mut server) = tokio::io::duplex(64);
        let t0 = tokio::time::Instant::now();
        let r = read_request(&mut server, &AtomicBool::new(false)).await;
        assert_eq!(r, Err(HeadError::Closed));
        assert_eq!(t0.elapsed(), FIRST_BYTE_TIMEOUT);
        // a drip: 408 after HEAD_TIMEOUT, however often it sends a byte
        let (mut client, mut server) = tokio::io::duplex(64);
        tokio::spawn(async move {
            let _ = client.write_all(b"G").await;
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if client.write_all(b"E").await.is_err() {
                    return;
                }
            }
        });
        let t0 = tokio::time::Instant::now();
        let got = AtomicBool::new(false);
        let r = read_request(&mut server, &got).await;
        assert_eq!(r, Err(HeadError::Timeout));
        assert_eq!(t0.elapsed(), HEAD_TIMEOUT);
        assert!(got.load(Ordering::Relaxed));
    }

    #[test]
    fn the_fuzz_oracle_survives_odd_input() {
        for d in [
            &b""[..],
            b"\r\n\r\n",
            b"GET / HTTP/1.1\r\n:\r\n\r\n",
            b"GET /?%%%&=&==&%2 HTTP/1.1\n\n",
            &[0xff; 100],
        ] {
            fuzz_parse_head(d);
        }
    }
}
