//! HTTP/1.1 chunked transfer coding (RFC 9112 7.1): an incremental decoder (the lab reads a
//! legacy IN channel with it, the probe a chunked OUT body) and the encoder. A legacy RD
//! Gateway IN channel carries one MS-TSGU PDU per chunk (MS-TSGU 3.3.5.2), sizes in hex,
//! upper case for FreeRDP 2's control PDUs and lower case for its DATA PDUs.

use crate::DecodeError;

/// Largest chunk accepted: an MS-TSGU PDU is at most 64 KiB + header; 1 MiB is generous.
pub const MAX_CHUNK: usize = 0x10_0000;
/// Longest chunk-size line (size, extensions, CRLF).
pub const MAX_SIZE_LINE: usize = 1024;
/// Most bytes of trailer fields after the last chunk.
pub const MAX_TRAILER: usize = 8 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Reading a chunk-size line; bytes so far.
    Size(Vec<u8>),
    /// Reading chunk data; bytes left.
    Data(usize),
    /// After the data: the CRLF (`seen_cr` once the CR arrived).
    DataEnd {
        seen_cr: bool,
    },
    /// After the last chunk: trailer lines until an empty one.
    Trailer {
        line: usize,
        total: usize,
    },
    Done,
}

/// Decodes a chunked body fed in pieces of any size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkedDecoder {
    state: State,
    /// Chunks completed so far.
    pub chunks: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder::new()
    }
}

impl ChunkedDecoder {
    pub fn new() -> ChunkedDecoder {
        ChunkedDecoder {
            state: State::Size(Vec::new()),
            chunks: 0,
        }
    }

    /// Whether the last chunk and the trailer have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes as much of `input` as possible, appending chunk data to `out`. Returns how many
    /// bytes of `input` it consumed: all of them, unless the body ended (the rest belongs to
    /// the next message).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, DecodeError> {
        let mut i = 0;
        while i < input.len() {
            let Some(&b) = input.get(i) else { break };
            match &mut self.state {
                State::Done => return Ok(i),
                State::Size(line) => {
                    i += 1;
                    if b != b'\n' {
                        if line.len() >= MAX_SIZE_LINE {
                            return Err(DecodeError::TooLarge {
                                what: "chunk-size line",
                                len: line.len() + 1,
                                max: MAX_SIZE_LINE,
                            });
                        }
                        line.push(b);
                        continue;
                    }
                    let size = parse_size(line)?;
                    self.state = if size == 0 {
                        State::Trailer { line: 0, total: 0 }
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(left) => {
                    let n = (*left).min(input.len() - i);
                    out.extend_from_slice(input.get(i..i + n).unwrap_or(&[]));
                    i += n;
                    *left -= n;
                    if *left == 0 {
                        self.state = State::DataEnd { seen_cr: false };
                    }
                }
                State::DataEnd { seen_cr } => {
                    i += 1;
                    match b {
                        b'\r' if !*seen_cr => *seen_cr = true,
                        b'\n' => {
                            self.chunks += 1;
                            self.state = State::Size(Vec::new());
                        }
                        _ => {
                            return Err(DecodeError::Invalid {
                                what: "chunk data not followed by CRLF",
                                value: u64::from(b),
                            })
                        }
                    }
                }
                State::Trailer { line, total } => {
                    i += 1;
                    *total += 1;
                    if *total > MAX_TRAILER {
                        return Err(DecodeError::TooLarge {
                            what: "chunked trailer",
                            len: *total,
                            max: MAX_TRAILER,
                        });
                    }
                    match b {
                        b'\n' if *line == 0 => self.state = State::Done,
                        b'\n' => *line = 0,
                        b'\r' => {}
                        _ => *line += 1,
                    }
                }
            }
        }
        Ok(i)
    }
}

/// `1A3;ext=1\r` -> 0x1A3 (extensions ignored, RFC 9112 7.1.1).
fn parse_size(line: &[u8]) -> Result<usize, DecodeError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let hex = line
        .split(|&b| b == b';')
        .next()
        .unwrap_or(&[])
        .trim_ascii();
    if hex.is_empty() || hex.len() > 8 || !hex.iter().all(u8::is_ascii_hexdigit) {
        return Err(DecodeError::Invalid {
            what: "chunk size",
            value: hex.len() as u64,
        });
    }
    let size = hex.iter().fold(0usize, |acc, &b| {
        let d = (b as char).to_digit(16).unwrap_or(0) as usize;
        acc.saturating_mul(16).saturating_add(d)
    });
    if size > MAX_CHUNK {
        return Err(DecodeError::TooLarge {
            what: "chunk",
            len: size,
            max: MAX_CHUNK,
        });
    }
    Ok(size)
}

/// One chunk: `<len hex>\r\n<data>\r\n`. Empty data would end the body: encode nothing.
pub fn encode_chunk(data: &[u8]) -> Vec<u8> {
    if data.is_empty() {
        return Vec::new();
    }
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// The last chunk and an empty trailer.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_freerdp2_in_channel_decodes_in_any_split() {
        // FreeRDP 2 writes control PDUs with upper-case sizes: a 14-byte HANDSHAKE_REQUEST
        // ("E"), then a DATA PDU with a lower-case size ("1a" = 26 bytes, bytes 0x00..0x19).
        let mut body =
            b"E\r\n\x01\x00\x00\x00\x0e\x00\x00\x00\x01\x00\x00\x00\x00\x00\r\n".to_vec();
        body.extend_from_slice(b"1a\r\n");
        body.extend((0u8..26).collect::<Vec<_>>());
        body.extend_from_slice(b"\r\n0\r\n\r\nNEXT");
        let end = body.len() - 4;
        for split in 1..=end {
            let mut d = ChunkedDecoder::new();
            let mut out = Vec::new();
            let a = d.feed(&body[..split], &mut out).unwrap();
            assert_eq!(a, split);
            let b = d.feed(&body[split..], &mut out).unwrap();
            assert!(d.is_done());
            assert_eq!(split + b, end, "the rest is the next message");
            assert_eq!(out.len(), 14 + 26);
            assert_eq!(d.chunks, 2);
        }
    }

    #[test]
    fn extensions_bare_lf_and_trailers() {
        let mut d = ChunkedDecoder::new();
        let mut out = Vec::new();
        d.feed(b"3;name=v\nabc\n0\nX-T: 1\n\n", &mut out).unwrap();
        assert!(d.is_done());
        assert_eq!(out, b"abc");
    }

    #[test]
    fn bad_sizes_are_refused() {
        for bad in [&b"zz\r\n"[..], b"\r\n", b"123456789\r\n", b"200000\r\n"] {
            let mut d = ChunkedDecoder::new();
            assert!(d.feed(bad, &mut Vec::new()).is_err(), "{bad:?}");
        }
        let mut d = ChunkedDecoder::new();
        assert!(d.feed(b"1\r\nab", &mut Vec::new()).is_err());
        let mut d = ChunkedDecoder::new();
        assert!(d.feed(&[b'1'; MAX_SIZE_LINE + 1], &mut Vec::new()).is_err());
    }

    #[test]
    fn encode_round_trips() {
        let mut wire = encode_chunk(b"hello");
        assert_eq!(wire, b"5\r\nhello\r\n");
        wire.extend_from_slice(&encode_chunk(&[0u8; 300]));
        wire.extend_from_slice(LAST_CHUNK);
        let mut d = ChunkedDecoder::new();
        let mut out = Vec::new();
        assert_eq!(d.feed(&wire, &mut out).unwrap(), wire.len());
        assert!(d.is_done());
        assert_eq!(out.len(), 305);
        assert!(encode_chunk(b"").is_empty());
    }
}
