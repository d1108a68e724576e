//! MS-TSGU PDUs over an RD Gateway's HTTP channels, both sides: over a WebSocket (the client
//! masks, the server does not), over a legacy chunked IN channel, or raw in a legacy OUT body
//! ([MS-TSGU] 3.3.5.2). The probe reads with the client's rules and the lab with the server's;
//! the codecs are in `rdp_doctor_wire::gateway`.
//!
//! [`PduRx::next`] is cancel-safe (it only awaits a socket read, and keeps every byte read in
//! its own buffers), so a relay can `select!` on it.

use rdp_doctor_wire::gateway::chunked::{self, ChunkedDecoder};
use rdp_doctor_wire::gateway::tsgu::{self, Decoded, Pdu, PduReader};
use rdp_doctor_wire::gateway::websocket::{self, CloseBody, Message, Opcode, Role};
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

/// How PDUs travel on one direction of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Binary WebSocket messages, one PDU per message (IronRDP needs that).
    WebSocket,
    /// One PDU per chunk (a legacy IN channel).
    Chunked,
    /// PDUs back to back (a legacy OUT body).
    Raw,
}

/// What the next read produced.
#[derive(Debug)]
pub enum RxEvent {
    Pdu(Decoded),
    /// A WebSocket ping (the payload to echo).
    Ping(Vec<u8>),
    /// A WebSocket close frame.
    Close(CloseBody),
    /// The peer closed the connection (or ended the chunked body).
    Eof,
    Reset,
    Timeout,
    /// Bytes that break the framing or the PDU codec: what was wrong, and how many bytes
    /// were pending.
    Bad {
        why: String,
        pending: usize,
    },
}

pub type BoxRead = Box<dyn AsyncRead + Unpin + Send>;
pub type BoxWrite = Box<dyn AsyncWrite + Unpin + Send>;

/// The receiving side of a channel.
pub struct PduRx {
    r: BoxRead,
    framing: Framing,
    /// Who reads: a client expects unmasked frames, a server masked ones.
    role: Role,
    raw: Vec<u8>,
    chunked: ChunkedDecoder,
    ws: websocket::Reassembler,
    pdus: PduReader,
    /// Bytes received in all (for evidence).
    pub received: usize,
    /// Text frames dropped (a server reads none; clients drop them too).
    pub text_frames: usize,
}

/// Most bytes one read buffers before a PDU must come out of them.
const MAX_BUFFERED: usize = 256 * 1024;

impl PduRx {
    /// `initial`: bytes that already arrived after the HTTP head.
    pub fn new(r: BoxRead, framing: Framing, role: Role, initial: Vec<u8>) -> PduRx {
        PduRx {
            r,
            framing,
            role,
            raw: initial,
            chunked: ChunkedDecoder::new(),
            ws: websocket::Reassembler::new(tsgu::MAX_PDU),
            pdus: PduReader::new(tsgu::MAX_PDU),
            received: 0,
            text_frames: 0,
        }
    }

    /// The next PDU or event, waiting at most until `deadline`.
    pub async fn next(&mut self, deadline: Instant) -> RxEvent {
        loop {
            match self.pdus.next_pdu() {
                Ok(Some(d)) => return RxEvent::Pdu(d),
                Ok(None) => {}
                Err(e) => {
                    return RxEvent::Bad {
                        why: e.to_string(),
                        pending: self.pdus.pending().len(),
                    }
                }
            }
            let before = self.raw.len();
            if let Some(ev) = self.unframe() {
                return ev;
            }
            // unframe moved what it could into `pdus`: look for a PDU before reading more.
            if self.raw.len() != before {
                continue;
            }
            if self.framing == Framing::Chunked && self.chunked.is_done() {
                return RxEvent::Eof;
            }
            if self.raw.len() > MAX_BUFFERED {
                return RxEvent::Bad {
                    why: format!("{} bytes without a complete frame", self.raw.len()),
                    pending: self.raw.len(),
                };
            }
            let mut tmp = [0u8; 16 * 1024];
            match tokio::time::timeout_at(deadline, self.r.read(&mut tmp)).await {
                Err(_) => return RxEvent::Timeout,
                Ok(Ok(0)) => return RxEvent::Eof,
                Ok(Ok(n)) => {
                    self.received += n;
                    self.raw.extend_from_slice(tmp.get(..n).unwrap_or(&[]));
                }
                Ok(Err(e)) => {
                    return match crate::probe::net::io_end(&e) {
                        crate::probe::net::ReadEnd::Reset => RxEvent::Reset,
                        crate::probe::net::ReadEnd::Eof => RxEvent::Eof,
                        _ => RxEvent::Bad {
                            why: e.to_string(),
                            pending: 0,
                        },
                    }
                }
            }
        }
    }

    /// Moves bytes from `raw` through the framing into the PDU reader; returns an event the
    /// framing itself produced (a control frame, an error).
    fn unframe(&mut self) -> Option<RxEvent> {
        match self.framing {
            Framing::Raw => {
                self.pdus.push(&self.raw);
                self.raw.clear();
                None
            }
            Framing::Chunked => {
                let mut out = Vec::new();
                match self.chunked.feed(&self.raw, &mut out) {
                    Ok(n) => {
                        self.raw.drain(..n.min(self.raw.len()));
                        self.pdus.push(&out);
                        None
                    }
                    Err(e) => Some(RxEvent::Bad {
                        why: format!("chunked body: {e}"),
                        pending: self.raw.len(),
                    }),
                }
            }
            Framing::WebSocket => loop {
                let (frame, n) =
                    match websocket::decode_frame(&self.raw, websocket::MAX_FRAME_PAYLOAD) {
                        Ok(Some(x)) => x,
                        Ok(None) => return None,
                        Err(e) => {
                            return Some(RxEvent::Bad {
                                why: format!("WebSocket frame: {e}"),
                                pending: self.raw.len(),
                            })
                        }
                    };
                self.raw.drain(..n.min(self.raw.len()));
                if let Err(e) = websocket::check_role(&frame, self.role) {
                    return Some(RxEvent::Bad {
                        why: e.to_string(),
                        pending: self.raw.len(),
                    });
                }
                match self.ws.push(frame) {
                    Err(e) => {
                        return Some(RxEvent::Bad {
                            why: format!("WebSocket message: {e}"),
                            pending: self.raw.len(),
                        })
                    }
                    Ok(None) => {}
                    Ok(Some(Message::Control(f))) => match f.opcode {
                        Opcode::PING => return Some(RxEvent::Ping(f.payload)),
                        Opcode::CLOSE => {
                            return Some(RxEvent::Close(CloseBody::decode(&f.payload)))
                        }
                        Opcode::PONG => {}
                        other => {
                            return Some(RxEvent::Bad {
                                why: format!(
                                    "WebSocket frame with reserved opcode 0x{:X}",
                                    other.0
                                ),
                                pending: self.raw.len(),
                            })
                        }
                    },
                    Ok(Some(Message::Data { opcode, payload })) => {
                        if opcode == Opcode::BINARY {
                            self.pdus.push(&payload);
                            return None;
                        }
                        self.text_frames += 1;
                        if self.role == Role::Client {
                            return Some(RxEvent::Bad {
                                why: format!(
                                    "a WebSocket {} message where MS-TSGU PDUs travel in binary messages",
                                    opcode.name()
                                ),
                                pending: self.raw.len(),
                            });
                        }
                    }
                }
            },
        }
    }
}

/// The sending side of a channel.
pub struct PduTx {
    w: BoxWrite,
    framing: Framing,
    /// A client masks its WebSocket frames (RFC 6455 5.1).
    mask: bool,
    /// Bytes sent in all.
    pub sent: usize,
}

impl PduTx {
    pub fn new(w: BoxWrite, framing: Framing, role: Role) -> PduTx {
        PduTx {
            w,
            framing,
            mask: role == Role::Client,
            sent: 0,
        }
    }

    /// Sends one PDU, framed.
    pub async fn send(&mut self, pdu: &Pdu) -> io::Result<()> {
        let bytes = pdu
            .encode()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        self.send_bytes(&bytes).await
    }

    /// Sends bytes as one unit of the framing (one WebSocket message, one chunk), or raw.
    pub async fn send_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        let framed = match self.framing {
            Framing::WebSocket => websocket::encode_frame(
                true,
                Opcode::BINARY,
                bytes,
                self.mask.then(rand::random::<[u8; 4]>),
            ),
            Framing::Chunked => chunked::encode_chunk(bytes),
            Framing::Raw => bytes.to_vec(),
        };
        self.sent += framed.len();
        self.w.write_all(&framed).await?;
        self.w.flush().await
    }

    /// A WebSocket control frame (pong, close); nothing on other framings.
    pub async fn control(&mut self, opcode: Opcode, payload: &[u8]) -> io::Result<()> {
        if self.framing != Framing::WebSocket {
            return Ok(());
        }
        let f = websocket::encode_frame(true, opcode, payload, self.mask.then(rand::random));
        self.w.write_all(&f).await?;
        self.w.flush().await
    }

    /// Sends a frame as given (the lab's garbage faults).
    pub async fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.w.write_all(bytes).await?;
        self.w.flush().await
    }

    pub async fn shutdown(&mut self) {
        if self.framing == Framing::Chunked {
            let _ = self.w.write_all(chunked::LAST_CHUNK).await;
        }
        let _ = self.w.shutdown().await;
    }
}

/// A WebSocket frame as the lab sends it when a fault wants it malformed.
pub fn frame(opcode: Opcode, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    websocket::encode_frame(true, opcode, payload, mask)
}
