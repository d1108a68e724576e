//! The MS-TSGU HTTP transport PDUs ([MS-TSGU] 2.2.10), both directions: the probe encodes the
//! client's and decodes the server's, the lab the reverse. Every integer is little-endian;
//! every PDU starts with HTTP_PACKET_HEADER (2.2.10.9): packetType u16, reserved u16,
//! packetLength u32 (the whole PDU, header included).
//!
//! Lenient where real peers differ, strict where a length could hurt: unknown packet types,
//! unknown flag bits and non-zero reserved fields survive decoding (reported raw); a
//! packetLength beyond the caller's cap, or a field that runs past the PDU, is an error.
//! HTTP_UNICODE_STRING values keep their bytes; [`UnicodeString::text`] drops one trailing
//! UTF-16 NUL (FreeRDP and IronRDP count it in cbLen).

use crate::cursor::Cursor;
use crate::DecodeError;

pub const HEADER_LEN: usize = 8;
/// Largest PDU a reader accepts by default: a DATA PDU carries at most 65 535 bytes.
pub const MAX_PDU: usize = 0x1_0000 + 16;

/// HTTP_PACKET_TYPE ([MS-TSGU] 2.2.5.3.3); unknown values are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PacketType(pub u16);

impl PacketType {
    pub const HANDSHAKE_REQUEST: PacketType = PacketType(0x01);
    pub const HANDSHAKE_RESPONSE: PacketType = PacketType(0x02);
    pub const EXTENDED_AUTH_MSG: PacketType = PacketType(0x03);
    pub const TUNNEL_CREATE: PacketType = PacketType(0x04);
    pub const TUNNEL_RESPONSE: PacketType = PacketType(0x05);
    pub const TUNNEL_AUTH: PacketType = PacketType(0x06);
    pub const TUNNEL_AUTH_RESPONSE: PacketType = PacketType(0x07);
    pub const CHANNEL_CREATE: PacketType = PacketType(0x08);
    pub const CHANNEL_RESPONSE: PacketType = PacketType(0x09);
    pub const DATA: PacketType = PacketType(0x0A);
    pub const SERVICE_MESSAGE: PacketType = PacketType(0x0B);
    pub const REAUTH_MESSAGE: PacketType = PacketType(0x0C);
    pub const KEEPALIVE: PacketType = PacketType(0x0D);
    pub const CLOSE_CHANNEL: PacketType = PacketType(0x10);
    pub const CLOSE_CHANNEL_RESPONSE: PacketType = PacketType(0x11);

    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x01 => "HANDSHAKE_REQUEST",
            0x02 => "HANDSHAKE_RESPONSE",
            0x03 => "EXTENDED_AUTH_MSG",
            0x04 => "TUNNEL_CREATE",
            0x05 => "TUNNEL_RESPONSE",
            0x06 => "TUNNEL_AUTH",
            0x07 => "TUNNEL_AUTH_RESPONSE",
            0x08 => "CHANNEL_CREATE",
            0x09 => "CHANNEL_RESPONSE",
            0x0A => "DATA",
            0x0B => "SERVICE_MESSAGE",
            0x0C => "REAUTH_MESSAGE",
            0x0D => "KEEPALIVE",
            0x10 => "CLOSE_CHANNEL",
            0x11 => "CLOSE_CHANNEL_RESPONSE",
            _ => return None,
        })
    }

    /// `TUNNEL_RESPONSE`, or `0x00EE` for an unknown type.
    pub fn label(self) -> String {
        match self.name() {
            Some(n) => n.to_string(),
            None => format!("0x{:04X}", self.0),
        }
    }
}

/// HTTP_EXTENDED_AUTH ([MS-TSGU] 2.2.5.3.2) bits.
pub mod ext_auth {
    pub const NONE: u16 = 0x0000;
    pub const SC: u16 = 0x0001;
    pub const PAA: u16 = 0x0002;
    pub const SSPI_NTLM: u16 = 0x0004;
    /// Not in the specification: FreeRDP 3's bearer-token mode.
    pub const BEARER: u16 = 0x0008;
    pub const NAMES: &[(u16, &str)] = &[
        (SC, "SC"),
        (PAA, "PAA"),
        (SSPI_NTLM, "SSPI_NTLM"),
        (BEARER, "BEARER"),
    ];
}

/// HTTP_CAPABILITY_TYPE ([MS-TSGU] 2.2.5.3.4) bits.
pub mod caps {
    pub const QUAR_SOH: u32 = 0x01;
    pub const IDLE_TIMEOUT: u32 = 0x02;
    pub const MESSAGING_CONSENT_SIGN: u32 = 0x04;
    pub const MESSAGING_SERVICE_MSG: u32 = 0x08;
    pub const REAUTH: u32 = 0x10;
    pub const UDP_TRANSPORT: u32 = 0x20;
    /// What FreeRDP 2 and 3 offer in TUNNEL_CREATE.
    pub const FREERDP: u32 = QUAR_SOH | MESSAGING_CONSENT_SIGN | MESSAGING_SERVICE_MSG;
    pub const NAMES: &[(u32, &str)] = &[
        (QUAR_SOH, "QUAR_SOH"),
        (IDLE_TIMEOUT, "IDLE_TIMEOUT"),
        (MESSAGING_CONSENT_SIGN, "MESSAGING_CONSENT_SIGN"),
        (MESSAGING_SERVICE_MSG, "MESSAGING_SERVICE_MSG"),
        (REAUTH, "REAUTH"),
        (UDP_TRANSPORT, "UDP_TRANSPORT"),
    ];
}

/// redirFlags of TUNNEL_AUTH_RESPONSE ([MS-TSGU] 2.2.10.16).
pub mod redir {
    pub const ENABLE_ALL: u32 = 0x8000_0000;
    pub const DISABLE_ALL: u32 = 0x4000_0000;
    pub const DISABLE_DRIVE: u32 = 0x01;
    pub const DISABLE_PRINTER: u32 = 0x02;
    pub const DISABLE_PORT: u32 = 0x04;
    pub const DISABLE_CLIPBOARD: u32 = 0x08;
    pub const DISABLE_PNP: u32 = 0x10;
    pub const NAMES: &[(u32, &str)] = &[
        (ENABLE_ALL, "ENABLE_ALL"),
        (DISABLE_ALL, "DISABLE_ALL"),
        (DISABLE_DRIVE, "DISABLE_DRIVE"),
        (DISABLE_PRINTER, "DISABLE_PRINTER"),
        (DISABLE_PORT, "DISABLE_PORT"),
        (DISABLE_CLIPBOARD, "DISABLE_CLIPBOARD"),
        (DISABLE_PNP, "DISABLE_PNP"),
    ];
}

/// `A|B|0x40` for a flag set: known names, then the unknown bits raw.
pub fn flag_names<T>(value: T, names: &[(T, &str)]) -> Vec<String>
where
    T: Copy + std::ops::BitAnd<Output = T> + std::ops::Not<Output = T> + PartialEq + Default,
    T: std::fmt::UpperHex,
{
    let mut out = Vec::new();
    let mut rest = value;
    for &(bit, name) in names {
        if value & bit == bit && bit != T::default() {
            out.push(name.to_string());
            rest = rest & !bit;
        }
    }
    if rest != T::default() {
        out.push(format!("0x{rest:X}"));
    }
    out
}

/// HTTP_UNICODE_STRING ([MS-TSGU] 2.2.10.22): cbLen u16 + UTF-16LE bytes, kept raw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnicodeString(pub Vec<u8>);

impl UnicodeString {
    /// `s` as UTF-16LE, with a terminating NUL counted in cbLen (as FreeRDP, IronRDP and
    /// Windows clients send names and cookies).
    pub fn with_nul(s: &str) -> UnicodeString {
        let mut v: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
        v.extend_from_slice(&[0, 0]);
        UnicodeString(v)
    }

    /// `s` as UTF-16LE without a NUL.
    pub fn plain(s: &str) -> UnicodeString {
        UnicodeString(s.encode_utf16().flat_map(u16::to_le_bytes).collect())
    }

    /// The text, one trailing NUL dropped, invalid UTF-16 replaced; an odd last byte ignored.
    pub fn text(&self) -> String {
        let units: Vec<u16> = self
            .0
            .chunks_exact(2)
            .map(|c| match c {
                [a, b] => u16::from_le_bytes([*a, *b]),
                _ => 0,
            })
            .collect();
        let units = units.strip_suffix(&[0]).unwrap_or(&units);
        String::from_utf16_lossy(units)
    }

    fn decode(c: &mut Cursor<'_>, what: &'static str) -> Result<UnicodeString, DecodeError> {
        let n = c.u16_le(what)?;
        Ok(UnicodeString(c.take(usize::from(n), what)?.to_vec()))
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), DecodeError> {
        put_blob(out, &self.0, "HTTP_UNICODE_STRING")
    }
}

fn put_blob(out: &mut Vec<u8>, b: &[u8], what: &'static str) -> Result<(), DecodeError> {
    let n = u16::try_from(b.len()).map_err(|_| DecodeError::TooLarge {
        what,
        len: b.len(),
        max: usize::from(u16::MAX),
    })?;
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(b);
    Ok(())
}

fn blob(c: &mut Cursor<'_>, what: &'static str) -> Result<Vec<u8>, DecodeError> {
    let n = c.u16_le(what)?;
    Ok(c.take(usize::from(n), what)?.to_vec())
}

/// HTTP_HANDSHAKE_REQUEST_PACKET (2.2.10.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeRequest {
    pub ver_major: u8,
    pub ver_minor: u8,
    /// MUST be 0.
    pub client_version: u16,
    pub extended_auth: u16,
}

impl HandshakeRequest {
    /// Version 1.0 with the given extended authentication (0: plain HTTP authentication).
    pub fn v1(extended_auth: u16) -> HandshakeRequest {
        HandshakeRequest {
            ver_major: 1,
            ver_minor: 0,
            client_version: 0,
            extended_auth,
        }
    }
}

/// HTTP_HANDSHAKE_RESPONSE_PACKET (2.2.10.11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeResponse {
    pub error_code: u32,
    pub ver_major: u8,
    pub ver_minor: u8,
    pub server_version: u16,
    /// The extended authentication methods the server supports.
    pub extended_auth: u16,
}

/// HTTP_EXTENDED_AUTH_PACKET (2.2.10.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtendedAuth {
    pub error_code: u32,
    pub blob: Vec<u8>,
}

/// HTTP_TUNNEL_PACKET (2.2.10.18) with its optional part (2.2.10.19).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelCreate {
    pub caps: u32,
    pub fields_present: u16,
    pub reserved: u16,
    /// Present when fieldsPresent has 0x2 (REAUTH); placed first.
    pub reauth_context: Option<u64>,
    /// Present when fieldsPresent has 0x1 (PAA_COOKIE).
    pub paa_cookie: Option<Vec<u8>>,
}

pub mod tunnel_create_fields {
    pub const PAA_COOKIE: u16 = 0x1;
    pub const REAUTH: u16 = 0x2;
}

impl TunnelCreate {
    /// A tunnel request with `caps`, and a PAA cookie (the access token as UTF-16LE with a NUL,
    /// as FreeRDP sends `gatewayaccesstoken`) when given.
    pub fn new(caps: u32, paa_token: Option<&str>) -> TunnelCreate {
        TunnelCreate {
            caps,
            fields_present: if paa_token.is_some() {
                tunnel_create_fields::PAA_COOKIE
            } else {
                0
            },
            reserved: 0,
            reauth_context: None,
            paa_cookie: paa_token.map(|t| UnicodeString::with_nul(t).0),
        }
    }
}

/// HTTP_TUNNEL_RESPONSE (2.2.10.20) with its optional part (2.2.10.21).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelResponse {
    pub server_version: u16,
    pub status: u32,
    pub fields_present: u16,
    pub reserved: u16,
    pub tunnel_id: Option<u32>,
    pub caps: Option<u32>,
    /// SOH_REQ: the nonce (a GUID, 16 bytes per the specification) and the server certificate.
    pub soh_nonce: Option<[u8; 16]>,
    pub soh_server_cert: Option<UnicodeString>,
    pub consent_message: Option<UnicodeString>,
    /// Optional fields that could not be placed (peers disagree on the SOH nonce length):
    /// how many bytes were left unread.
    pub unparsed: usize,
}

pub mod tunnel_response_fields {
    pub const TUNNEL_ID: u16 = 0x01;
    pub const CAPS: u16 = 0x02;
    pub const SOH_REQ: u16 = 0x04;
    pub const CONSENT_MSG: u16 = 0x10;
}

/// HTTP_TUNNEL_AUTH_PACKET (2.2.10.14/15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelAuth {
    pub fields_present: u16,
    pub client_name: UnicodeString,
    pub statement_of_health: Option<Vec<u8>>,
}

/// HTTP_TUNNEL_AUTH_RESPONSE (2.2.10.16/17).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelAuthResponse {
    pub error_code: u32,
    pub fields_present: u16,
    pub reserved: u16,
    pub redir_flags: Option<u32>,
    /// Minutes.
    pub idle_timeout: Option<u32>,
    pub soh_response: Option<Vec<u8>>,
}

pub mod tunnel_auth_response_fields {
    pub const REDIR_FLAGS: u16 = 0x1;
    pub const IDLE_TIMEOUT: u16 = 0x2;
    pub const SOH_RESPONSE: u16 = 0x4;
}

/// HTTP_CHANNEL_PACKET (2.2.10.2/3): the target names, tried in order, and the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelCreate {
    pub resources: Vec<UnicodeString>,
    pub alt_resources: Vec<UnicodeString>,
    pub port: u16,
    /// MUST be 3 (RDP).
    pub protocol: u16,
}

impl ChannelCreate {
    /// One target name, as FreeRDP and mstsc send it (UTF-16LE with a NUL), protocol 3.
    pub fn to(host: &str, port: u16) -> ChannelCreate {
        ChannelCreate {
            resources: vec![UnicodeString::with_nul(host)],
            alt_resources: Vec::new(),
            port,
            protocol: 3,
        }
    }
}

/// HTTP_CHANNEL_RESPONSE (2.2.10.4/5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelResponse {
    pub error_code: u32,
    pub fields_present: u16,
    pub reserved: u16,
    pub channel_id: Option<u32>,
    pub udp_port: Option<u16>,
    pub authn_cookie: Option<Vec<u8>>,
}

pub mod channel_response_fields {
    pub const CHANNELID: u16 = 0x1;
    pub const AUTHNCOOKIE: u16 = 0x2;
    pub const UDPPORT: u16 = 0x4;
}

/// Every PDU; `Unknown` keeps a packet type we do not know with its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pdu {
    HandshakeRequest(HandshakeRequest),
    HandshakeResponse(HandshakeResponse),
    ExtendedAuth(ExtendedAuth),
    TunnelCreate(TunnelCreate),
    TunnelResponse(TunnelResponse),
    TunnelAuth(TunnelAuth),
    TunnelAuthResponse(TunnelAuthResponse),
    ChannelCreate(ChannelCreate),
    ChannelResponse(ChannelResponse),
    /// HTTP_DATA_PACKET: cbDataLen u16 + data.
    Data(Vec<u8>),
    /// HTTP_SERVICE_MESSAGE (2.2.10.13).
    ServiceMessage(UnicodeString),
    /// HTTP_REAUTH_MESSAGE (2.2.10.12).
    Reauth(u64),
    Keepalive,
    /// HTTP_CLOSE_PACKET (2.2.10.23): statusCode.
    CloseChannel(u32),
    CloseChannelResponse(u32),
    Unknown {
        packet_type: PacketType,
        body: Vec<u8>,
    },
}

impl Pdu {
    pub fn packet_type(&self) -> PacketType {
        match self {
            Pdu::HandshakeRequest(_) => PacketType::HANDSHAKE_REQUEST,
            Pdu::HandshakeResponse(_) => PacketType::HANDSHAKE_RESPONSE,
            Pdu::ExtendedAuth(_) => PacketType::EXTENDED_AUTH_MSG,
            Pdu::TunnelCreate(_) => PacketType::TUNNEL_CREATE,
            Pdu::TunnelResponse(_) => PacketType::TUNNEL_RESPONSE,
            Pdu::TunnelAuth(_) => PacketType::TUNNEL_AUTH,
            Pdu::TunnelAuthResponse(_) => PacketType::TUNNEL_AUTH_RESPONSE,
            Pdu::ChannelCreate(_) => PacketType::CHANNEL_CREATE,
            Pdu::ChannelResponse(_) => PacketType::CHANNEL_RESPONSE,
            Pdu::Data(_) => PacketType::DATA,
            Pdu::ServiceMessage(_) => PacketType::SERVICE_MESSAGE,
            Pdu::Reauth(_) => PacketType::REAUTH_MESSAGE,
            Pdu::Keepalive => PacketType::KEEPALIVE,
            Pdu::CloseChannel(_) => PacketType::CLOSE_CHANNEL,
            Pdu::CloseChannelResponse(_) => PacketType::CLOSE_CHANNEL_RESPONSE,
            Pdu::Unknown { packet_type, .. } => *packet_type,
        }
    }

    /// The whole PDU, header included.
    pub fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        let mut b = Vec::new();
        match self {
            Pdu::HandshakeRequest(p) => {
                b.push(p.ver_major);
                b.push(p.ver_minor);
                b.extend_from_slice(&p.client_version.to_le_bytes());
                b.extend_from_slice(&p.extended_auth.to_le_bytes());
            }
            Pdu::HandshakeResponse(p) => {
                b.extend_from_slice(&p.error_code.to_le_bytes());
                b.push(p.ver_major);
                b.push(p.ver_minor);
                b.extend_from_slice(&p.server_version.to_le_bytes());
                b.extend_from_slice(&p.extended_auth.to_le_bytes());
            }
            Pdu::ExtendedAuth(p) => {
                b.extend_from_slice(&p.error_code.to_le_bytes());
                put_blob(&mut b, &p.blob, "EXTENDED_AUTH blob")?;
            }
            Pdu::TunnelCreate(p) => {
                b.extend_from_slice(&p.caps.to_le_bytes());
                b.extend_from_slice(&p.fields_present.to_le_bytes());
                b.extend_from_slice(&p.reserved.to_le_bytes());
                if let Some(r) = p.reauth_context {
                    b.extend_from_slice(&r.to_le_bytes());
                }
                if let Some(c) = &p.paa_cookie {
                    put_blob(&mut b, c, "PAA cookie")?;
                }
            }
            Pdu::TunnelResponse(p) => {
                b.extend_from_slice(&p.server_version.to_le_bytes());
                b.extend_from_slice(&p.status.to_le_bytes());
                b.extend_from_slice(&p.fields_present.to_le_bytes());
                b.extend_from_slice(&p.reserved.to_le_bytes());
                if let Some(v) = p.tunnel_id {
                    b.extend_from_slice(&v.to_le_bytes());
                }
                if let Some(v) = p.caps {
                    b.extend_from_slice(&v.to_le_bytes());
                }
                if let (Some(n), Some(c)) = (&p.soh_nonce, &p.soh_server_cert) {
                    b.extend_from_slice(n);
                    c.encode(&mut b)?;
                }
                if let Some(m) = &p.consent_message {
                    m.encode(&mut b)?;
                }
            }
            Pdu::TunnelAuth(p) => {
                b.extend_from_slice(&p.fields_present.to_le_bytes());
                p.client_name.encode(&mut b)?;
                if let Some(s) = &p.statement_of_health {
                    put_blob(&mut b, s, "statement of health")?;
                }
            }
            Pdu::TunnelAuthResponse(p) => {
                b.extend_from_slice(&p.error_code.to_le_bytes());
                b.extend_from_slice(&p.fields_present.to_le_bytes());
                b.extend_from_slice(&p.reserved.to_le_bytes());
                if let Some(v) = p.redir_flags {
                    b.extend_from_slice(&v.to_le_bytes());
                }
                if let Some(v) = p.idle_timeout {
                    b.extend_from_slice(&v.to_le_bytes());
                }
                if let Some(s) = &p.soh_response {
                    put_blob(&mut b, s, "SoH response")?;
                }
            }
            Pdu::ChannelCreate(p) => {
                let n = u8::try_from(p.resources.len()).map_err(|_| DecodeError::TooLarge {
                    what: "numResources",
                    len: p.resources.len(),
                    max: 255,
                })?;
                let a = u8::try_from(p.alt_resources.len()).map_err(|_| DecodeError::TooLarge {
                    what: "numAltResources",
                    len: p.alt_resources.len(),
                    max: 255,
                })?;
                b.push(n);
                b.push(a);
                b.extend_from_slice(&p.port.to_le_bytes());
                b.extend_from_slice(&p.protocol.to_le_bytes());
                for r in p.resources.iter().chain(&p.alt_resources) {
                    r.encode(&mut b)?;
                }
            }
            Pdu::ChannelResponse(p) => {
                b.extend_from_slice(&p.error_code.to_le_bytes());
                b.extend_from_slice(&p.fields_present.to_le_bytes());
                b.extend_from_slice(&p.reserved.to_le_bytes());
                if let Some(v) = p.channel_id {
                    b.extend_from_slice(&v.to_le_bytes());
                }
                if let Some(v) = p.udp_port {
                    b.extend_from_slice(&v.to_le_bytes());
                }
                if let Some(c) = &p.authn_cookie {
                    put_blob(&mut b, c, "authnCookie")?;
                }
            }
            Pdu::Data(d) => put_blob(&mut b, d, "DATA")?,
            Pdu::ServiceMessage(m) => m.encode(&mut b)?,
            Pdu::Reauth(v) => b.extend_from_slice(&v.to_le_bytes()),
            Pdu::Keepalive => {}
            Pdu::CloseChannel(s) | Pdu::CloseChannelResponse(s) => {
                b.extend_from_slice(&s.to_le_bytes())
            }
            Pdu::Unknown { body, .. } => b.extend_from_slice(body),
        }
        let total = b.len() + HEADER_LEN;
        let len = u32::try_from(total).map_err(|_| DecodeError::TooLarge {
            what: "packetLength",
            len: total,
            max: u32::MAX as usize,
        })?;
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&self.packet_type().0.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&b);
        Ok(out)
    }
}

/// How far the bytes so far go towards one PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameStatus {
    /// At least `needed` bytes in all are needed (8 until the header is complete).
    Incomplete { needed: usize },
    /// One PDU of `len` bytes is complete.
    Complete { len: usize },
    /// packetLength below the header size or above the cap.
    Invalid(DecodeError),
}

/// Splits a byte stream into PDUs by packetLength, refusing lengths above `max`.
pub fn frame_status(buf: &[u8], max: usize) -> FrameStatus {
    let Some(&[_, _, _, _, a, b, c, d]) = buf.get(..HEADER_LEN) else {
        return FrameStatus::Incomplete { needed: HEADER_LEN };
    };
    let len = u32::from_le_bytes([a, b, c, d]) as usize;
    if len < HEADER_LEN {
        return FrameStatus::Invalid(DecodeError::Invalid {
            what: "packetLength (below the 8-byte header)",
            value: len as u64,
        });
    }
    if len > max {
        return FrameStatus::Invalid(DecodeError::TooLarge {
            what: "packetLength",
            len,
            max,
        });
    }
    if buf.len() < len {
        FrameStatus::Incomplete { needed: len }
    } else {
        FrameStatus::Complete { len }
    }
}

/// One decoded PDU and what the decoder noticed about its framing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub pdu: Pdu,
    /// packetLength.
    pub len: usize,
    /// The header's reserved field (0 in every known sender).
    pub header_reserved: u16,
    /// Bytes inside packetLength after the last field.
    pub trailing: usize,
}

/// Decodes one complete PDU from the start of `buf` (use [`frame_status`] first on a stream).
pub fn decode(buf: &[u8], max: usize) -> Result<Decoded, DecodeError> {
    let len = match frame_status(buf, max) {
        FrameStatus::Complete { len } => len,
        FrameStatus::Incomplete { needed } => {
            return Err(DecodeError::Truncated {
                what: "MS-TSGU PDU",
                needed,
                available: buf.len(),
            })
        }
        FrameStatus::Invalid(e) => return Err(e),
    };
    let mut hc = Cursor::new(buf.get(..len).unwrap_or(&[]));
    let packet_type = PacketType(hc.u16_le("packetType")?);
    let header_reserved = hc.u16_le("reserved")?;
    hc.skip(4, "packetLength")?;
    let mut c = Cursor::new(hc.rest());
    let pdu = match packet_type {
        PacketType::HANDSHAKE_REQUEST => Pdu::HandshakeRequest(HandshakeRequest {
            ver_major: c.u8("verMajor")?,
            ver_minor: c.u8("verMinor")?,
            client_version: c.u16_le("clientVersion")?,
            extended_auth: c.u16_le("extendedAuth")?,
        }),
        PacketType::HANDSHAKE_RESPONSE => Pdu::HandshakeResponse(HandshakeResponse {
            error_code: c.u32_le("errorCode")?,
            ver_major: c.u8("verMajor")?,
            ver_minor: c.u8("verMinor")?,
            server_version: c.u16_le("serverVersion")?,
            extended_auth: c.u16_le("extendedAuth")?,
        }),
        PacketType::EXTENDED_AUTH_MSG => Pdu::ExtendedAuth(ExtendedAuth {
            error_code: c.u32_le("errorCode")?,
            blob: blob(&mut c, "authBlob")?,
        }),
        PacketType::TUNNEL_CREATE => {
            let caps = c.u32_le("capsFlags")?;
            let fields_present = c.u16_le("fieldsPresent")?;
            let reserved = c.u16_le("reserved")?;
            let reauth_context = if fields_present & tunnel_create_fields::REAUTH != 0 {
                Some(c.u64_le("reauthTunnelContext")?)
            } else {
                None
            };
            let paa_cookie = if fields_present & tunnel_create_fields::PAA_COOKIE != 0 {
                Some(blob(&mut c, "PAACookie")?)
            } else {
                None
            };
            Pdu::TunnelCreate(TunnelCreate {
                caps,
                fields_present,
                reserved,
                reauth_context,
                paa_cookie,
            })
        }
        PacketType::TUNNEL_RESPONSE => Pdu::TunnelResponse(tunnel_response(&mut c)?),
        PacketType::TUNNEL_AUTH => {
            let fields_present = c.u16_le("fieldsPresent")?;
            let client_name = UnicodeString::decode(&mut c, "clientName")?;
            let statement_of_health = if fields_present & 0x1 != 0 {
                Some(blob(&mut c, "statementOfHealth")?)
            } else {
                None
            };
            Pdu::TunnelAuth(TunnelAuth {
                fields_present,
                client_name,
                statement_of_health,
            })
        }
        PacketType::TUNNEL_AUTH_RESPONSE => {
            use tunnel_auth_response_fields as f;
            let error_code = c.u32_le("errorCode")?;
            let fields_present = c.u16_le("fieldsPresent")?;
            let reserved = c.u16_le("reserved")?;
            let redir_flags = (fields_present & f::REDIR_FLAGS != 0)
                .then(|| c.u32_le("redirFlags"))
                .transpose()?;
            let idle_timeout = (fields_present & f::IDLE_TIMEOUT != 0)
                .then(|| c.u32_le("idleTimeout"))
                .transpose()?;
            let soh_response = (fields_present & f::SOH_RESPONSE != 0)
                .then(|| blob(&mut c, "SoHResponse"))
                .transpose()?;
            Pdu::TunnelAuthResponse(TunnelAuthResponse {
                error_code,
                fields_present,
                reserved,
                redir_flags,
                idle_timeout,
                soh_response,
            })
        }
        PacketType::CHANNEL_CREATE => {
            let n = c.u8("numResources")?;
            let a = c.u8("numAltResources")?;
            let port = c.u16_le("port")?;
            let protocol = c.u16_le("protocol")?;
            let mut resources = Vec::with_capacity(usize::from(n));
            for _ in 0..n {
                resources.push(UnicodeString::decode(&mut c, "resourceName")?);
            }
            let mut alt_resources = Vec::with_capacity(usize::from(a));
            for _ in 0..a {
                alt_resources.push(UnicodeString::decode(&mut c, "altResourceName")?);
            }
            Pdu::ChannelCreate(ChannelCreate {
                resources,
                alt_resources,
                port,
                protocol,
            })
        }
        PacketType::CHANNEL_RESPONSE => {
            use channel_response_fields as f;
            let error_code = c.u32_le("errorCode")?;
            let fields_present = c.u16_le("fieldsPresent")?;
            let reserved = c.u16_le("reserved")?;
            // [MS-TSGU] 2.2.10.5: channelId, udpPort, authnCookie, in this order.
            let channel_id = (fields_present & f::CHANNELID != 0)
                .then(|| c.u32_le("channelId"))
                .transpose()?;
            let udp_port = (fields_present & f::UDPPORT != 0)
                .then(|| c.u16_le("udpPort"))
                .transpose()?;
            let authn_cookie = (fields_present & f::AUTHNCOOKIE != 0)
                .then(|| blob(&mut c, "authnCookie"))
                .transpose()?;
            Pdu::ChannelResponse(ChannelResponse {
                error_code,
                fields_present,
                reserved,
                channel_id,
                udp_port,
                authn_cookie,
            })
        }
        PacketType::DATA => Pdu::Data(blob(&mut c, "DATA")?),
        PacketType::SERVICE_MESSAGE => {
            Pdu::ServiceMessage(UnicodeString::decode(&mut c, "message")?)
        }
        PacketType::REAUTH_MESSAGE => Pdu::Reauth(c.u64_le("reauthTunnelContext")?),
        PacketType::KEEPALIVE => Pdu::Keepalive,
        PacketType::CLOSE_CHANNEL => Pdu::CloseChannel(c.u32_le("statusCode")?),
        PacketType::CLOSE_CHANNEL_RESPONSE => Pdu::CloseChannelResponse(c.u32_le("statusCode")?),
        other => {
            let body = c.rest().to_vec();
            c.skip(body.len(), "body")?;
            Pdu::Unknown {
                packet_type: other,
                body,
            }
        }
    };
    Ok(Decoded {
        pdu,
        len,
        header_reserved,
        trailing: c.remaining(),
    })
}

fn tunnel_response(c: &mut Cursor<'_>) -> Result<TunnelResponse, DecodeError> {
    use tunnel_response_fields as f;
    let mut r = TunnelResponse {
        server_version: c.u16_le("serverVersion")?,
        status: c.u32_le("statusCode")?,
        fields_present: c.u16_le("fieldsPresent")?,
        reserved: c.u16_le("reserved")?,
        tunnel_id: None,
        caps: None,
        soh_nonce: None,
        soh_server_cert: None,
        consent_message: None,
        unparsed: 0,
    };
    // A peer with a short optional part (a status-only error answer) is still read.
    if r.fields_present & f::TUNNEL_ID != 0 {
        r.tunnel_id = Some(c.u32_le("tunnelId")?);
    }
    if r.fields_present & f::CAPS != 0 {
        r.caps = Some(c.u32_le("capsFlags")?);
    }
    if r.fields_present & f::SOH_REQ != 0 {
        // FreeRDP skips 20 bytes here and IronRDP reads 2; the specification says a 16-byte
        // nonce. Parse per specification; when that does not fit, keep what is left unread.
        let mut probe = c.clone();
        let ok = probe
            .array::<16>("nonce")
            .and_then(|n| UnicodeString::decode(&mut probe, "serverCert").map(|s| (n, s)));
        match ok {
            Ok((n, s)) => {
                *c = probe;
                r.soh_nonce = Some(n);
                r.soh_server_cert = Some(s);
            }
            Err(_) => {
                r.unparsed = c.remaining();
                c.skip(c.remaining(), "SOH_REQ")?;
                return Ok(r);
            }
        }
    }
    if r.fields_present & f::CONSENT_MSG != 0 {
        r.consent_message = Some(UnicodeString::decode(c, "consentMsg")?);
    }
    Ok(r)
}

/// A PDU stream reader: feed bytes, take PDUs. Keeps at most one PDU's worth plus the bytes of
/// one read.
#[derive(Debug, Clone)]
pub struct PduReader {
    buf: Vec<u8>,
    max: usize,
}

impl PduReader {
    pub fn new(max: usize) -> PduReader {
        PduReader {
            buf: Vec::new(),
            max,
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held but not yet returned as a PDU.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// The next complete PDU, `Ok(None)` when more bytes are needed.
    pub fn next_pdu(&mut self) -> Result<Option<Decoded>, DecodeError> {
        match frame_status(&self.buf, self.max) {
            FrameStatus::Incomplete { .. } => Ok(None),
            FrameStatus::Invalid(e) => Err(e),
            FrameStatus::Complete { len } => {
                let d = decode(&self.buf, self.max)?;
                self.buf.drain(..len);
                Ok(Some(d))
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn round_trip(p: Pdu) -> Vec<u8> {
        let wire = p.encode().unwrap();
        let d = decode(&wire, MAX_PDU).unwrap();
        assert_eq!(d.pdu, p);
        assert_eq!(d.len, wire.len());
        assert_eq!(d.trailing, 0);
        wire
    }

    #[test]
    fn freerdp2_handshake_request_without_a_token() {
        let wire = round_trip(Pdu::HandshakeRequest(HandshakeRequest::v1(0)));
        #[rustfmt::skip]
        assert_eq!(wire, [
            0x01, 0x00,             // packetType HANDSHAKE_REQUEST
            0x00, 0x00,             // reserved
            0x0e, 0x00, 0x00, 0x00, // packetLength 14
            0x01,                   // verMajor 1
            0x00,                   // verMinor 0
            0x00, 0x00,             // clientVersion 0
            0x00, 0x00,             // extendedAuth NONE
        ]);
    }

    #[test]
    fn a_windows_handshake_response() {
        // Values a Windows gateway sent (FreeRDP issue #7492's log): ver 1.0, extAuth SC|PAA|SSPI_NTLM.
        #[rustfmt::skip]
        let wire = [
            0x02, 0x00, 0x00, 0x00, // HANDSHAKE_RESPONSE, reserved
            0x12, 0x00, 0x00, 0x00, // packetLength 18
            0x00, 0x00, 0x00, 0x00, // errorCode S_OK
            0x01, 0x00,             // verMajor 1, verMinor 0
            0x00, 0x00,             // serverVersion 0
            0x07, 0x00,             // extendedAuth 0x0007
        ];
        let d = decode(&wire, MAX_PDU).unwrap();
        let Pdu::HandshakeResponse(h) = &d.pdu else {
            panic!()
        };
        assert_eq!((h.error_code, h.ver_major, h.extended_auth), (0, 1, 7));
        assert_eq!(
            flag_names(h.extended_auth, ext_auth::NAMES),
            ["SC", "PAA", "SSPI_NTLM"]
        );
        assert_eq!(d.pdu.encode().unwrap(), wire);
    }

    #[test]
    fn tunnel_create_with_a_paa_cookie() {
        let p = Pdu::TunnelCreate(TunnelCreate::new(caps::FREERDP, Some("tok")));
        let wire = round_trip(p);
        #[rustfmt::skip]
        assert_eq!(wire, [
            0x04, 0x00, 0x00, 0x00, 0x1a, 0x00, 0x00, 0x00, // TUNNEL_CREATE, length 26
            0x0d, 0x00, 0x00, 0x00,                         // capsFlags QUAR_SOH|CONSENT_SIGN|SERVICE_MSG
            0x01, 0x00,                                     // fieldsPresent PAA_COOKIE
            0x00, 0x00,                                     // reserved
            0x08, 0x00,                                     // cbLen 8: "tok" + NUL in UTF-16LE
            b't', 0, b'o', 0, b'k', 0, 0, 0,
        ]);
    }

    #[test]
    fn tunnel_response_as_windows_sends_it_and_with_a_consent_message() {
        #[rustfmt::skip]
        let wire = [
            0x05, 0x00, 0x00, 0x00, 0x1a, 0x00, 0x00, 0x00, // TUNNEL_RESPONSE, length 26
            0x00, 0x00,                                     // serverVersion
            0x00, 0x00, 0x00, 0x00,                         // statusCode S_OK
            0x03, 0x00,                                     // fieldsPresent TUNNEL_ID|CAPS
            0x00, 0x00,                                     // reserved
            0x0a, 0x00, 0x00, 0x00,                         // tunnelId 10
            0x0d, 0x00, 0x00, 0x00,                         // caps 0x0D (#7492)
        ];
        let d = decode(&wire, MAX_PDU).unwrap();
        let Pdu::TunnelResponse(r) = d.pdu else {
            panic!()
        };
        assert_eq!((r.tunnel_id, r.caps, r.status), (Some(10), Some(0x0d), 0));
        let with_consent = Pdu::TunnelResponse(TunnelResponse {
            fields_present: 0x13,
            consent_message: Some(UnicodeString::plain("Authorized use only")),
            ..r
        });
        let wire = round_trip(with_consent.clone());
        let Pdu::TunnelResponse(r2) = decode(&wire, MAX_PDU).unwrap().pdu else {
            panic!()
        };
        assert_eq!(r2.consent_message.unwrap().text(), "Authorized use only");
    }

    #[test]
    fn an_soh_request_that_does_not_fit_is_kept_unparsed() {
        // fieldsPresent SOH_REQ with only 6 bytes after the fixed part.
        let mut wire = vec![0x05, 0, 0, 0, 24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x04, 0, 0, 0];
        wire.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
        let Pdu::TunnelResponse(r) = decode(&wire, MAX_PDU).unwrap().pdu else {
            panic!()
        };
        assert_eq!(r.unparsed, 6);
        assert_eq!(r.soh_nonce, None);
    }

    #[test]
    fn tunnel_auth_channel_create_and_responses() {
        round_trip(Pdu::TunnelAuth(TunnelAuth {
            fields_present: 0,
            client_name: UnicodeString::with_nul("WS01"),
            statement_of_health: None,
        }));
        round_trip(Pdu::TunnelAuthResponse(TunnelAuthResponse {
            error_code: 0,
            fields_present: 3,
            reserved: 0,
            redir_flags: Some(redir::ENABLE_ALL),
            idle_timeout: Some(30),
            soh_response: None,
        }));
        let wire = round_trip(Pdu::ChannelCreate(ChannelCreate::to("srv", 3389)));
        #[rustfmt::skip]
        assert_eq!(wire, [
            0x08, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00, // CHANNEL_CREATE, length 24
            0x01,                                           // numResources 1
            0x00,                                           // numAltResources 0
            0x3d, 0x0d,                                     // port 3389
            0x03, 0x00,                                     // protocol 3
            0x08, 0x00, b's', 0, b'r', 0, b'v', 0, 0, 0,    // "srv" + NUL
        ]);
        // A Server 2012 R2 RAP denial (FreeRDP issue #5069).
        #[rustfmt::skip]
        let rap = [
            0x09, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, // CHANNEL_RESPONSE, length 16
            0xda, 0x59, 0x07, 0x80,                         // errorCode 0x800759DA
            0x00, 0x00, 0x00, 0x00,                         // fieldsPresent, reserved
        ];
        let Pdu::ChannelResponse(c) = decode(&rap, MAX_PDU).unwrap().pdu else {
            panic!()
        };
        assert_eq!(c.error_code, 0x8007_59DA);
        round_trip(Pdu::ChannelResponse(ChannelResponse {
            error_code: 0,
            fields_present: 7,
            reserved: 0,
            channel_id: Some(1),
            udp_port: Some(3391),
            authn_cookie: Some(vec![1, 2, 3]),
        }));
    }

    #[test]
    fn data_keepalive_close_and_unknown() {
        round_trip(Pdu::Data(vec![3, 0, 0, 19]));
        let ka = round_trip(Pdu::Keepalive);
        assert_eq!(ka, [0x0d, 0, 0, 0, 8, 0, 0, 0]);
        round_trip(Pdu::CloseChannel(0x8007_59F6));
        round_trip(Pdu::CloseChannelResponse(0));
        round_trip(Pdu::Reauth(0x1122_3344_5566_7788));
        round_trip(Pdu::ServiceMessage(UnicodeString::with_nul(
            "maintenance at 22:00",
        )));
        round_trip(Pdu::ExtendedAuth(ExtendedAuth {
            error_code: 0,
            blob: vec![9; 40],
        }));
        round_trip(Pdu::Unknown {
            packet_type: PacketType(0xEE),
            body: vec![1, 2],
        });
        assert!(Pdu::Data(vec![0; 70_000]).encode().is_err());
    }

    #[test]
    fn framing_is_bounded() {
        assert_eq!(
            frame_status(&[1, 0], MAX_PDU),
            FrameStatus::Incomplete { needed: 8 }
        );
        assert!(matches!(
            frame_status(&[1, 0, 0, 0, 4, 0, 0, 0], MAX_PDU),
            FrameStatus::Invalid(_)
        ));
        assert!(matches!(
            frame_status(&[1, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f], MAX_PDU),
            FrameStatus::Invalid(DecodeError::TooLarge { .. })
        ));
        // A HANDSHAKE_RESPONSE whose packetLength says 10: its fields run past the PDU.
        assert!(decode(&[2, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0], MAX_PDU).is_err());
        // Trailing bytes inside packetLength are counted, not refused.
        let d = decode(&[0x0d, 0, 0, 0, 10, 0, 0, 0, 1, 2], MAX_PDU).unwrap();
        assert_eq!(d.trailing, 2);
        let mut r = PduReader::new(MAX_PDU);
        let mut two = Pdu::Keepalive.encode().unwrap();
        two.extend(Pdu::CloseChannel(5).encode().unwrap());
        r.push(&two[..5]);
        assert_eq!(r.next_pdu().unwrap(), None);
        r.push(&two[5..]);
        assert_eq!(r.next_pdu().unwrap().unwrap().pdu, Pdu::Keepalive);
        assert_eq!(r.next_pdu().unwrap().unwrap().pdu, Pdu::CloseChannel(5));
        assert_eq!(r.next_pdu().unwrap(), None);
    }

    #[test]
    fn unicode_strings() {
        assert_eq!(UnicodeString::with_nul("gw").text(), "gw");
        assert_eq!(UnicodeString(vec![b'a', 0, b'b']).text(), "a");
        assert_eq!(flag_names(0x41u32, caps::NAMES), ["QUAR_SOH", "0x40"]);
    }
}
