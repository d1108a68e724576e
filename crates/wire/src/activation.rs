//! The connection sequence after the MCS channels are joined ([MS-RDPBCGR] 1.3.1.1 phases 7-10),
//! as it runs under Enhanced RDP Security (TLS / CredSSP): the Client Info PDU (2.2.1.11), the
//! licensing answer (2.2.1.12, [MS-RDPELE] 2.2.2.7), the Demand Active / Confirm Active PDUs
//! (2.2.1.13) with their capability sets (2.2.7), and the finalization PDUs (2.2.1.14-2.2.1.22).
//!
//! All of these travel in the userData of an MCS Send Data Request / Indication on the I/O
//! channel. The Client Info and licensing PDUs carry a Basic Security Header (2.2.8.1.1.2.1)
//! even under TLS; the share control PDUs that follow licensing do not (5.4.1: with Enhanced
//! RDP Security the securityHeader is absent). Standard RDP Security (RC4) is not handled here.
//!
//! The Client Info PDU can hold a password: [`ClientInfo`] keeps it in a zeroizing string,
//! redacts it from `Debug`, and encodes into a buffer sized exactly up front and zeroized on drop.

use crate::cursor::Cursor;
use crate::mcs::{decode_share_control, decode_share_data, encode_share_data, pdu_type};
use crate::DecodeError;
use std::fmt;
use zeroize::Zeroizing;

/// Basic Security Header flags ([MS-RDPBCGR] 2.2.8.1.1.2.1).
pub mod sec {
    pub const EXCHANGE_PKT: u16 = 0x0001;
    pub const TRANSPORT_REQ: u16 = 0x0002;
    pub const ENCRYPT: u16 = 0x0008;
    pub const INFO_PKT: u16 = 0x0040;
    pub const LICENSE_PKT: u16 = 0x0080;
    pub const REDIRECTION_PKT: u16 = 0x0400;
    pub const AUTODETECT_REQ: u16 = 0x1000;
    pub const HEARTBEAT: u16 = 0x4000;
}

/// TS_INFO_PACKET flags ([MS-RDPBCGR] 2.2.1.11.1.1).
pub mod info_flags {
    pub const MOUSE: u32 = 0x0000_0001;
    pub const DISABLECTRLALTDEL: u32 = 0x0000_0002;
    pub const AUTOLOGON: u32 = 0x0000_0008;
    pub const UNICODE: u32 = 0x0000_0010;
    pub const MAXIMIZESHELL: u32 = 0x0000_0020;
    pub const LOGONNOTIFY: u32 = 0x0000_0040;
    pub const ENABLEWINDOWSKEY: u32 = 0x0000_0100;
    pub const LOGONERRORS: u32 = 0x0001_0000;
    pub const MOUSE_HAS_WHEEL: u32 = 0x0002_0000;
}

/// The largest string field of TS_INFO_PACKET (RDP 5.1+: 512 bytes with the terminator).
pub const MAX_INFO_FIELD: usize = 512;
/// TS_EXTENDED_INFO_PACKET clientAddress limit (80 bytes with the terminator).
pub const MAX_CLIENT_ADDRESS: usize = 80;
/// TS_TIME_ZONE_INFORMATION is 172 bytes ([MS-RDPBCGR] 2.2.1.11.1.1.1.1).
pub const TIME_ZONE_LEN: usize = 172;

/// Reads the Basic Security Header at the start of `data`: (flags, flagsHi, rest).
pub fn decode_basic_security_header(data: &[u8]) -> Result<(u16, u16, &[u8]), DecodeError> {
    let mut c = Cursor::new(data);
    let flags = c.u16_le("securityHeader flags")?;
    let hi = c.u16_le("securityHeader flagsHi")?;
    Ok((flags, hi, c.rest()))
}

/// TS_EXTENDED_INFO_PACKET, up to cbAutoReconnectCookie (= 0) ([MS-RDPBCGR] 2.2.1.11.1.1.1).
/// The time zone is sent as 172 zero bytes (UTC, no names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtendedInfo {
    /// AF_INET (0x0002) or AF_INET6 (0x0017).
    pub address_family: u16,
    pub client_address: String,
    pub client_dir: String,
    pub session_id: u32,
    pub performance_flags: u32,
}

/// The Client Info PDU's TS_INFO_PACKET (Unicode strings). `Debug` redacts the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientInfo {
    pub code_page: u32,
    pub flags: u32,
    pub domain: String,
    pub user: String,
    pub password: Zeroizing<String>,
    pub alternate_shell: String,
    pub working_dir: String,
    pub extended: Option<ExtendedInfo>,
}

impl fmt::Debug for ClientInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientInfo")
            .field("code_page", &self.code_page)
            .field("flags", &format_args!("0x{:08X}", self.flags))
            .field("domain", &self.domain)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("password_len", &self.password.len())
            .field("alternate_shell", &self.alternate_shell)
            .field("working_dir", &self.working_dir)
            .field("extended", &self.extended)
            .finish()
    }
}

/// UTF-16LE code units of `s`, as bytes, into `out`.
fn put_utf16(out: &mut Vec<u8>, s: &str) {
    for u in s.encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
}

fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count() * 2
}

fn len16(n: usize, what: &'static str) -> Result<u16, DecodeError> {
    u16::try_from(n).map_err(|_| DecodeError::TooLarge {
        what,
        len: n,
        max: usize::from(u16::MAX),
    })
}

impl ClientInfo {
    /// What rdp-doctor sends: Unicode, mouse, Windows key, logon notifications and errors;
    /// `INFO_AUTOLOGON` when a password is given (the server then logs on with it instead of
    /// showing its logon screen). Extended info with AF_INET, the client address as typed,
    /// no client directory, performance flags for a probe (wallpaper, animations, themes off).
    pub fn for_probe(domain: &str, user: &str, password: Option<&str>) -> ClientInfo {
        use info_flags::*;
        let mut flags =
            MOUSE | DISABLECTRLALTDEL | UNICODE | MAXIMIZESHELL | ENABLEWINDOWSKEY | LOGONNOTIFY;
        flags |= LOGONERRORS | MOUSE_HAS_WHEEL;
        let mut pw = Zeroizing::new(String::new());
        if let Some(p) = password {
            flags |= AUTOLOGON;
            pw.reserve_exact(p.len());
            pw.push_str(p);
        }
        ClientInfo {
            code_page: 0,
            flags,
            domain: domain.to_owned(),
            user: user.to_owned(),
            password: pw,
            alternate_shell: String::new(),
            working_dir: String::new(),
            extended: Some(ExtendedInfo {
                address_family: 0x0002,
                client_address: "0.0.0.0".into(),
                client_dir: String::new(),
                session_id: 0,
                // PERF_DISABLE_WALLPAPER | FULLWINDOWDRAG | MENUANIMATIONS | THEMING
                performance_flags: 0x0000_000F,
            }),
        }
    }

    /// The Client Info PDU userData: a Basic Security Header with SEC_INFO_PKT, then
    /// TS_INFO_PACKET. Every string field is limited to [`MAX_INFO_FIELD`] bytes with its
    /// terminator. The buffer is allocated once at its final size and zeroized on drop.
    pub fn encode_pdu(&self) -> Result<Zeroizing<Vec<u8>>, DecodeError> {
        let fields = [
            (self.domain.as_str(), "Domain"),
            (self.user.as_str(), "UserName"),
            (self.password.as_str(), "Password"),
            (self.alternate_shell.as_str(), "AlternateShell"),
            (self.working_dir.as_str(), "WorkingDir"),
        ];
        let mut total = 4 + 18;
        for (s, what) in fields {
            let n = utf16_len(s);
            if n + 2 > MAX_INFO_FIELD {
                return Err(DecodeError::TooLarge {
                    what,
                    len: n + 2,
                    max: MAX_INFO_FIELD,
                });
            }
            total += n + 2;
        }
        if let Some(x) = &self.extended {
            let a = utf16_len(&x.client_address) + 2;
            let d = utf16_len(&x.client_dir) + 2;
            if a > MAX_CLIENT_ADDRESS || d > MAX_INFO_FIELD {
                return Err(DecodeError::TooLarge {
                    what: "TS_EXTENDED_INFO_PACKET string",
                    len: a.max(d),
                    max: MAX_CLIENT_ADDRESS,
                });
            }
            total += 4 + a + 2 + d + TIME_ZONE_LEN + 4 + 4 + 2;
        }
        let mut out = Zeroizing::new(Vec::with_capacity(total));
        out.extend_from_slice(&sec::INFO_PKT.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&self.code_page.to_le_bytes());
        out.extend_from_slice(&self.flags.to_le_bytes());
        // cbDomain .. cbWorkingDir: character bytes without the terminator
        for (s, what) in fields {
            out.extend_from_slice(&len16(utf16_len(s), what)?.to_le_bytes());
        }
        for (s, _) in fields {
            put_utf16(&mut out, s);
            out.extend_from_slice(&[0, 0]);
        }
        if let Some(x) = &self.extended {
            out.extend_from_slice(&x.address_family.to_le_bytes());
            // cbClientAddress / cbClientDir include the terminator (2.2.1.11.1.1.1)
            let a = utf16_len(&x.client_address) + 2;
            out.extend_from_slice(&len16(a, "cbClientAddress")?.to_le_bytes());
            put_utf16(&mut out, &x.client_address);
            out.extend_from_slice(&[0, 0]);
            let d = utf16_len(&x.client_dir) + 2;
            out.extend_from_slice(&len16(d, "cbClientDir")?.to_le_bytes());
            put_utf16(&mut out, &x.client_dir);
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&[0u8; TIME_ZONE_LEN]);
            out.extend_from_slice(&x.session_id.to_le_bytes());
            out.extend_from_slice(&x.performance_flags.to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes()); // cbAutoReconnectCookie
        }
        debug_assert_eq!(out.len(), total);
        Ok(out)
    }

    /// Decodes the Client Info PDU userData (what the lab server receives). The extended info
    /// is read when present; fields after cbAutoReconnectCookie are ignored.
    pub fn decode_pdu(data: &[u8]) -> Result<ClientInfo, DecodeError> {
        let (flags_sec, _, body) = decode_basic_security_header(data)?;
        if flags_sec & sec::INFO_PKT == 0 {
            return Err(DecodeError::Invalid {
                what: "Client Info securityHeader flags (SEC_INFO_PKT missing)",
                value: u64::from(flags_sec),
            });
        }
        if flags_sec & sec::ENCRYPT != 0 {
            return Err(DecodeError::Invalid {
                what: "Client Info securityHeader flags (encrypted: Standard RDP Security)",
                value: u64::from(flags_sec),
            });
        }
        let mut c = Cursor::new(body);
        let code_page = c.u32_le("TS_INFO_PACKET CodePage")?;
        let flags = c.u32_le("TS_INFO_PACKET flags")?;
        if flags & info_flags::UNICODE == 0 {
            return Err(DecodeError::Invalid {
                what: "TS_INFO_PACKET flags (INFO_UNICODE missing)",
                value: u64::from(flags),
            });
        }
        let mut lens = [0usize; 5];
        for l in &mut lens {
            *l = usize::from(c.u16_le("TS_INFO_PACKET cb field")?);
        }
        let mut strings: Vec<Zeroizing<String>> = Vec::with_capacity(5);
        for l in lens {
            // character bytes, then a 2-byte terminator
            strings.push(read_utf16(
                &mut c,
                l,
                2,
                MAX_INFO_FIELD,
                "TS_INFO_PACKET string",
            )?);
        }
        let extended = if c.remaining() >= 4 {
            let address_family = c.u16_le("clientAddressFamily")?;
            let a = usize::from(c.u16_le("cbClientAddress")?);
            let client_address =
                read_utf16(&mut c, a, 0, MAX_CLIENT_ADDRESS, "clientAddress")?.to_string();
            let d = usize::from(c.u16_le("cbClientDir")?);
            let client_dir = read_utf16(&mut c, d, 0, MAX_INFO_FIELD, "clientDir")?.to_string();
            c.take(TIME_ZONE_LEN, "clientTimeZone")?;
            let session_id = c.u32_le("clientSessionId")?;
            let performance_flags = c.u32_le("performanceFlags")?;
            Some(ExtendedInfo {
                address_family,
                client_address,
                client_dir,
                session_id,
                performance_flags,
            })
        } else {
            None
        };
        let mut it = strings.into_iter();
        let mut next = || it.next().unwrap_or_default();
        let domain = next().to_string();
        let user = next().to_string();
        let password = next();
        let alternate_shell = next().to_string();
        let working_dir = next().to_string();
        Ok(ClientInfo {
            code_page,
            flags,
            domain,
            user,
            password,
            alternate_shell,
            working_dir,
            extended,
        })
    }
}

/// Reads `len` bytes of UTF-16LE plus `terminator` more bytes (which must be zero); `len`
/// (with the terminator) may not exceed `max`. The text ends at the first NUL.
fn read_utf16(
    c: &mut Cursor<'_>,
    len: usize,
    terminator: usize,
    max: usize,
    what: &'static str,
) -> Result<Zeroizing<String>, DecodeError> {
    if len + terminator > max || len % 2 != 0 {
        return Err(DecodeError::Invalid {
            what,
            value: len as u64,
        });
    }
    let raw = c.take(len, what)?;
    let term = c.take(terminator, what)?;
    if term.iter().any(|b| *b != 0) {
        return Err(DecodeError::Invalid {
            what,
            value: len as u64,
        });
    }
    let mut s = Zeroizing::new(String::with_capacity(len / 2 * 3));
    let units = raw
        .chunks_exact(2)
        .map(|p| {
            u16::from_le_bytes([
                p.first().copied().unwrap_or(0),
                p.get(1).copied().unwrap_or(0),
            ])
        })
        .take_while(|u| *u != 0);
    for ch in char::decode_utf16(units) {
        s.push(ch.unwrap_or(char::REPLACEMENT_CHARACTER));
    }
    Ok(s)
}

/// Licensing ([MS-RDPBCGR] 2.2.1.12, [MS-RDPELE] 2.2.2): what a client needs to recognise.
pub mod license {
    use super::*;

    /// LICENSE_PREAMBLE bMsgType.
    pub const LICENSE_REQUEST: u8 = 0x01;
    pub const PLATFORM_CHALLENGE: u8 = 0x02;
    pub const NEW_LICENSE: u8 = 0x03;
    pub const UPGRADE_LICENSE: u8 = 0x04;
    pub const LICENSE_INFO: u8 = 0x12;
    pub const NEW_LICENSE_REQUEST: u8 = 0x13;
    pub const PLATFORM_CHALLENGE_RESPONSE: u8 = 0x15;
    pub const ERROR_ALERT: u8 = 0xFF;
    /// LICENSE_PREAMBLE flags: version 3.0 (RDP 5.0 and later).
    pub const PREAMBLE_VERSION_3_0: u8 = 0x03;
    /// LICENSE_ERROR_MESSAGE dwErrorCode.
    pub const ERR_INVALID_SERVER_CERTIFICATE: u32 = 0x01;
    pub const ERR_NO_LICENSE: u32 = 0x02;
    pub const ERR_INVALID_MAC: u32 = 0x03;
    pub const ERR_INVALID_SCOPE: u32 = 0x04;
    pub const ERR_NO_LICENSE_SERVER: u32 = 0x06;
    pub const STATUS_VALID_CLIENT: u32 = 0x07;
    pub const ERR_INVALID_CLIENT: u32 = 0x08;
    pub const ERR_INVALID_PRODUCTID: u32 = 0x0B;
    pub const ERR_INVALID_MESSAGE_LEN: u32 = 0x0C;
    /// dwStateTransition.
    pub const ST_TOTAL_ABORT: u32 = 0x01;
    pub const ST_NO_TRANSITION: u32 = 0x02;
    pub const ST_RESET_PHASE_TO_START: u32 = 0x03;
    pub const ST_RESEND_LAST_MESSAGE: u32 = 0x04;
    /// wBlobType of bbErrorInfo.
    pub const BB_ERROR_BLOB: u16 = 0x0004;

    /// LICENSE_ERROR_MESSAGE ([MS-RDPBCGR] 2.2.1.12.1.3).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct ErrorMessage {
        pub error_code: u32,
        pub state_transition: u32,
        pub blob_type: u16,
        pub blob_len: u16,
    }

    /// A licensing PDU (after its security header): the preamble and, for ERROR_ALERT, the
    /// error message. Other message types are recognised, not decoded.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct LicensePdu {
        pub msg_type: u8,
        pub flags: u8,
        pub msg_size: u16,
        pub error: Option<ErrorMessage>,
    }

    impl LicensePdu {
        /// Licensing is over: STATUS_VALID_CLIENT, or an error alert with ST_NO_TRANSITION
        /// (the rule FreeRDP and mstsc follow).
        pub fn completes_licensing(&self) -> bool {
            self.error.is_some_and(|e| {
                e.error_code == STATUS_VALID_CLIENT || e.state_transition == ST_NO_TRANSITION
            })
        }
    }

    pub fn msg_type_name(t: u8) -> Option<&'static str> {
        Some(match t {
            LICENSE_REQUEST => "LICENSE_REQUEST",
            PLATFORM_CHALLENGE => "PLATFORM_CHALLENGE",
            NEW_LICENSE => "NEW_LICENSE",
            UPGRADE_LICENSE => "UPGRADE_LICENSE",
            LICENSE_INFO => "LICENSE_INFO",
            NEW_LICENSE_REQUEST => "NEW_LICENSE_REQUEST",
            PLATFORM_CHALLENGE_RESPONSE => "PLATFORM_CHALLENGE_RESPONSE",
            ERROR_ALERT => "ERROR_ALERT",
            _ => return None,
        })
    }

    pub fn error_code_name(code: u32) -> Option<&'static str> {
        Some(match code {
            ERR_INVALID_SERVER_CERTIFICATE => "ERR_INVALID_SERVER_CERTIFICATE",
            ERR_NO_LICENSE => "ERR_NO_LICENSE",
            ERR_INVALID_MAC => "ERR_INVALID_MAC",
            ERR_INVALID_SCOPE => "ERR_INVALID_SCOPE",
            ERR_NO_LICENSE_SERVER => "ERR_NO_LICENSE_SERVER",
            STATUS_VALID_CLIENT => "STATUS_VALID_CLIENT",
            ERR_INVALID_CLIENT => "ERR_INVALID_CLIENT",
            ERR_INVALID_PRODUCTID => "ERR_INVALID_PRODUCTID",
            ERR_INVALID_MESSAGE_LEN => "ERR_INVALID_MESSAGE_LEN",
            _ => return None,
        })
    }

    /// Decodes the licensing PDU that follows the security header.
    pub fn decode(data: &[u8]) -> Result<LicensePdu, DecodeError> {
        let mut c = Cursor::new(data);
        let msg_type = c.u8("LICENSE_PREAMBLE bMsgType")?;
        let flags = c.u8("LICENSE_PREAMBLE flags")?;
        let msg_size = c.u16_le("LICENSE_PREAMBLE wMsgSize")?;
        if usize::from(msg_size) < 4 || usize::from(msg_size) > data.len() {
            return Err(DecodeError::Invalid {
                what: "LICENSE_PREAMBLE wMsgSize",
                value: u64::from(msg_size),
            });
        }
        let error = if msg_type == ERROR_ALERT {
            Some(ErrorMessage {
                error_code: c.u32_le("LICENSE_ERROR_MESSAGE dwErrorCode")?,
                state_transition: c.u32_le("LICENSE_ERROR_MESSAGE dwStateTransition")?,
                blob_type: c.u16_le("bbErrorInfo wBlobType")?,
                blob_len: c.u16_le("bbErrorInfo wBlobLen")?,
            })
        } else {
            None
        };
        Ok(LicensePdu {
            msg_type,
            flags,
            msg_size,
            error,
        })
    }

    /// Server License Error PDU ([MS-RDPBCGR] 2.2.1.12, example in 4.1.12 "valid client"):
    /// `80 00 00 00` SEC_LICENSE_PKT | `FF 03 10 00` ERROR_ALERT, version 3.0, 16 bytes |
    /// dwErrorCode | dwStateTransition | `04 00 00 00` BB_ERROR_BLOB, empty.
    pub fn encode_error_pdu(error_code: u32, state_transition: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(20);
        out.extend_from_slice(&sec::LICENSE_PKT.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&[ERROR_ALERT, PREAMBLE_VERSION_3_0]);
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(&error_code.to_le_bytes());
        out.extend_from_slice(&state_transition.to_le_bytes());
        out.extend_from_slice(&BB_ERROR_BLOB.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    /// The "valid client" alert a server without RD licensing sends.
    pub fn encode_valid_client_pdu() -> Vec<u8> {
        encode_error_pdu(STATUS_VALID_CLIENT, ST_NO_TRANSITION)
    }
}

/// Capability set types ([MS-RDPBCGR] 2.2.1.13.1.1.1).
pub mod cap {
    pub const GENERAL: u16 = 0x0001;
    pub const BITMAP: u16 = 0x0002;
    pub const ORDER: u16 = 0x0003;
    pub const BITMAPCACHE: u16 = 0x0004;
    pub const CONTROL: u16 = 0x0005;
    pub const ACTIVATION: u16 = 0x0007;
    pub const POINTER: u16 = 0x0008;
    pub const SHARE: u16 = 0x0009;
    pub const COLORCACHE: u16 = 0x000A;
    pub const SOUND: u16 = 0x000C;
    pub const INPUT: u16 = 0x000D;
    pub const FONT: u16 = 0x000E;
    pub const BRUSH: u16 = 0x000F;
    pub const GLYPHCACHE: u16 = 0x0010;
    pub const OFFSCREENCACHE: u16 = 0x0011;
    pub const BITMAPCACHE_HOSTSUPPORT: u16 = 0x0012;
    pub const BITMAPCACHE_REV2: u16 = 0x0013;
    pub const VIRTUALCHANNEL: u16 = 0x0014;
    pub const DRAWNINEGRIDCACHE: u16 = 0x0015;
    pub const DRAWGDIPLUS: u16 = 0x0016;
    pub const RAIL: u16 = 0x0017;
    pub const WINDOW: u16 = 0x0018;
    pub const COMPDESK: u16 = 0x0019;
    pub const MULTIFRAGMENTUPDATE: u16 = 0x001A;
    pub const LARGE_POINTER: u16 = 0x001B;
    pub const SURFACE_COMMANDS: u16 = 0x001C;
    pub const BITMAP_CODECS: u16 = 0x001D;
    pub const FRAME_ACKNOWLEDGE: u16 = 0x001E;

    pub fn name(kind: u16) -> Option<&'static str> {
        Some(match kind {
            GENERAL => "general",
            BITMAP => "bitmap",
            ORDER => "order",
            BITMAPCACHE => "bitmap-cache",
            CONTROL => "control",
            ACTIVATION => "activation",
            POINTER => "pointer",
            SHARE => "share",
            COLORCACHE => "color-cache",
            SOUND => "sound",
            INPUT => "input",
            FONT => "font",
            BRUSH => "brush",
            GLYPHCACHE => "glyph-cache",
            OFFSCREENCACHE => "offscreen-cache",
            BITMAPCACHE_HOSTSUPPORT => "bitmap-cache-host-support",
            BITMAPCACHE_REV2 => "bitmap-cache-rev2",
            VIRTUALCHANNEL => "virtual-channel",
            DRAWNINEGRIDCACHE => "draw-nine-grid-cache",
            DRAWGDIPLUS => "draw-gdiplus",
            RAIL => "rail",
            WINDOW => "window",
            COMPDESK => "desktop-composition",
            MULTIFRAGMENTUPDATE => "multifragment-update",
            LARGE_POINTER => "large-pointer",
            SURFACE_COMMANDS => "surface-commands",
            BITMAP_CODECS => "bitmap-codecs",
            FRAME_ACKNOWLEDGE => "frame-acknowledge",
            _ => return None,
        })
    }
}

/// One capability set: its type and the bytes after the 4-byte header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapabilitySet {
    pub kind: u16,
    pub data: Vec<u8>,
}

/// At most this many capability sets are decoded (Windows sends about 20).
pub const MAX_CAPABILITY_SETS: usize = 64;

/// Demand Active ([MS-RDPBCGR] 2.2.1.13.1) or Confirm Active (2.2.1.13.2): the same body, the
/// confirm with originatorId after shareId and without sessionId.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivePdu {
    pub pdu_source: u16,
    pub share_id: u32,
    /// Confirm Active only: the server channel id (1002).
    pub originator_id: Option<u16>,
    pub source_descriptor: Vec<u8>,
    pub capabilities: Vec<CapabilitySet>,
    /// Demand Active only (present since RDP 5.0).
    pub session_id: Option<u32>,
}

impl ActivePdu {
    pub fn is_confirm(&self) -> bool {
        self.originator_id.is_some()
    }

    /// The whole share control PDU (header included).
    pub fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        let caps_len: usize = 4 + self
            .capabilities
            .iter()
            .map(|c| 4 + c.data.len())
            .sum::<usize>();
        let body = 4
            + if self.originator_id.is_some() { 2 } else { 0 }
            + 4
            + self.source_descriptor.len()
            + caps_len
            + if self.session_id.is_some() { 4 } else { 0 };
        let total = len16(6 + body, "TS_SHARECONTROLHEADER totalLength")?;
        let kind = if self.originator_id.is_some() {
            pdu_type::CONFIRM_ACTIVE
        } else {
            pdu_type::DEMAND_ACTIVE
        };
        let mut out = Vec::with_capacity(usize::from(total));
        out.extend_from_slice(&total.to_le_bytes());
        out.extend_from_slice(&(kind | crate::mcs::TS_PROTOCOL_VERSION).to_le_bytes());
        out.extend_from_slice(&self.pdu_source.to_le_bytes());
        out.extend_from_slice(&self.share_id.to_le_bytes());
        if let Some(o) = self.originator_id {
            out.extend_from_slice(&o.to_le_bytes());
        }
        out.extend_from_slice(
            &len16(self.source_descriptor.len(), "lengthSourceDescriptor")?.to_le_bytes(),
        );
        out.extend_from_slice(&len16(caps_len, "lengthCombinedCapabilities")?.to_le_bytes());
        out.extend_from_slice(&self.source_descriptor);
        out.extend_from_slice(&len16(self.capabilities.len(), "numberCapabilities")?.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        for c in &self.capabilities {
            out.extend_from_slice(&c.kind.to_le_bytes());
            out.extend_from_slice(&len16(c.data.len() + 4, "lengthCapability")?.to_le_bytes());
            out.extend_from_slice(&c.data);
        }
        if let Some(s) = self.session_id {
            out.extend_from_slice(&s.to_le_bytes());
        }
        Ok(out)
    }

    /// Decodes a Demand Active or Confirm Active share control PDU.
    pub fn decode(data: &[u8]) -> Result<ActivePdu, DecodeError> {
        let (header, body) = decode_share_control(data)?;
        let confirm = match header.kind() {
            pdu_type::DEMAND_ACTIVE => false,
            pdu_type::CONFIRM_ACTIVE => true,
            _ => {
                return Err(DecodeError::Invalid {
                    what: "TS_SHARECONTROLHEADER pduType (expected Demand/Confirm Active)",
                    value: u64::from(header.pdu_type),
                })
            }
        };
        let mut c = Cursor::new(body);
        let share_id = c.u32_le("shareId")?;
        let originator_id = if confirm {
            Some(c.u16_le("originatorId")?)
        } else {
            None
        };
        let src_len = usize::from(c.u16_le("lengthSourceDescriptor")?);
        let caps_len = usize::from(c.u16_le("lengthCombinedCapabilities")?);
        let source_descriptor = c.take(src_len, "sourceDescriptor")?.to_vec();
        let caps = c.take(caps_len, "capabilitySets")?;
        let mut cc = Cursor::new(caps);
        let n = usize::from(cc.u16_le("numberCapabilities")?);
        let _pad = cc.u16_le("pad2Octets")?;
        if n > MAX_CAPABILITY_SETS {
            return Err(DecodeError::TooLarge {
                what: "numberCapabilities",
                len: n,
                max: MAX_CAPABILITY_SETS,
            });
        }
        let mut capabilities = Vec::with_capacity(n);
        for _ in 0..n {
            let kind = cc.u16_le("capabilitySetType")?;
            let len = usize::from(cc.u16_le("lengthCapability")?);
            if len < 4 {
                return Err(DecodeError::Invalid {
                    what: "lengthCapability",
                    value: len as u64,
                });
            }
            let data = cc.take(len - 4, "capability set data")?.to_vec();
            capabilities.push(CapabilitySet { kind, data });
        }
        let session_id = if !confirm && c.remaining() >= 4 {
            Some(c.u32_le("sessionId")?)
        } else {
            None
        };
        Ok(ActivePdu {
            pdu_source: header.pdu_source,
            share_id,
            originator_id,
            source_descriptor,
            capabilities,
            session_id,
        })
    }

    /// The Bitmap Capability Set's desktop size, when present.
    pub fn desktop_size(&self) -> Option<(u16, u16)> {
        let b = self.capabilities.iter().find(|c| c.kind == cap::BITMAP)?;
        let mut c = Cursor::new(&b.data);
        c.take(8, "bitmap").ok()?;
        Some((c.u16_le("w").ok()?, c.u16_le("h").ok()?))
    }
}

fn capability(kind: u16, build: impl FnOnce(&mut Vec<u8>)) -> CapabilitySet {
    let mut data = Vec::new();
    build(&mut data);
    CapabilitySet { kind, data }
}

/// The capability sets a plain Windows server announces, as the lab sends them: general,
/// bitmap (`width` x `height`, 24 bpp), order (no orders), pointer, input, virtual channel,
/// share, font, color cache, multifragment update ([MS-RDPBCGR] 2.2.7).
pub fn server_capabilities(width: u16, height: u16) -> Vec<CapabilitySet> {
    let le16 = |d: &mut Vec<u8>, v: u16| d.extend_from_slice(&v.to_le_bytes());
    let le32 = |d: &mut Vec<u8>, v: u32| d.extend_from_slice(&v.to_le_bytes());
    vec![
        // 2.2.7.1.1: OSMAJORTYPE_WINDOWS, OSMINORTYPE_WINDOWS_NT, TS_CAPS_PROTOCOLVERSION,
        // extraFlags FASTPATH_OUTPUT | LONG_CREDENTIALS | AUTORECONNECT | NO_BITMAP_COMPRESSION_HDR
        capability(cap::GENERAL, |d| {
            for v in [
                1u16,
                3,
                0x0200,
                0,
                0,
                0x0001 | 0x0004 | 0x0008 | 0x0400,
                0,
                0,
                0,
            ] {
                le16(d, v);
            }
            d.extend_from_slice(&[1, 1]); // refreshRectSupport, suppressOutputSupport
        }),
        // 2.2.7.1.2: 24 bpp preferred, 1/4/8 bpp receive, desktop size, resize allowed,
        // bitmap compression, multiple rectangles
        capability(cap::BITMAP, |d| {
            for v in [24u16, 1, 1, 1, width, height, 0, 1, 1] {
                le16(d, v);
            }
            d.extend_from_slice(&[0, 0]); // highColorFlags, drawingFlags
            le16(d, 1);
            le16(d, 0);
        }),
        // 2.2.7.1.3: no drawing orders supported; NEGOTIATEORDERSUPPORT | ZEROBOUNDSDELTASSUPPORT
        capability(cap::ORDER, |d| {
            d.extend_from_slice(&[0u8; 16]); // terminalDescriptor
            le32(d, 0);
            for v in [1u16, 20, 0, 1, 0, 0x0002 | 0x0008] {
                le16(d, v);
            }
            d.extend_from_slice(&[0u8; 32]); // orderSupport
            le16(d, 0); // textFlags
            le16(d, 0); // orderSupportExFlags
            le32(d, 0);
            le32(d, 230_400); // desktopSaveSize
            for v in [0u16, 0, 0, 0] {
                le16(d, v);
            }
        }),
        // 2.2.7.1.5: colour pointers, 25 cached
        capability(cap::POINTER, |d| {
            for v in [1u16, 25, 25] {
                le16(d, v);
            }
        }),
        // 2.2.7.1.6: scancodes, extended mouse, Unicode, fast-path input 2
        capability(cap::INPUT, |d| {
            le16(d, 0x0001 | 0x0004 | 0x0010 | 0x0020);
            le16(d, 0);
            le32(d, 0x0409);
            le32(d, 4);
            le32(d, 0);
            le32(d, 12);
            d.extend_from_slice(&[0u8; 64]);
        }),
        // 2.2.7.1.10: no compression, 1600-byte chunks
        capability(cap::VIRTUALCHANNEL, |d| {
            le32(d, 0);
            le32(d, 1600);
        }),
        // 2.2.7.2.4: nodeId = the server channel
        capability(cap::SHARE, |d| {
            le16(d, crate::mcs::SERVER_CHANNEL_ID);
            le16(d, 0);
        }),
        // 2.2.7.2.5: FONTSUPPORT_FONTLIST
        capability(cap::FONT, |d| {
            le16(d, 0x0001);
            le16(d, 0);
        }),
        // 2.2.7.1.? color table cache: 6 tables
        capability(cap::COLORCACHE, |d| {
            le16(d, 6);
            le16(d, 0);
        }),
        // 2.2.7.2.6: 64 KiB reassembly
        capability(cap::MULTIFRAGMENTUPDATE, |d| le32(d, 65_535)),
    ]
}

/// PDUTYPE2 values of the finalization phase ([MS-RDPBCGR] 2.2.8.1.1.1.2).
pub mod pdu_type2 {
    pub const CONTROL: u8 = 0x14;
    pub const SYNCHRONIZE: u8 = 0x1F;
    pub const FONTLIST: u8 = 0x27;
    pub const FONTMAP: u8 = 0x28;
    pub const BITMAPCACHE_PERSISTENT_LIST: u8 = 0x2B;
    pub const SET_ERROR_INFO: u8 = 0x2F;
    pub const STATUS_INFO: u8 = 0x36;
    pub const MONITOR_LAYOUT: u8 = 0x37;
    pub const SAVE_SESSION_INFO: u8 = 0x26;
}

/// Control PDU actions (2.2.1.15.1).
pub mod ctrl {
    pub const REQUEST_CONTROL: u16 = 0x0001;
    pub const GRANTED_CONTROL: u16 = 0x0002;
    pub const DETACH: u16 = 0x0003;
    pub const COOPERATE: u16 = 0x0004;
}

/// Synchronize PDU (2.2.1.14 / 2.2.1.19): SYNCMSGTYPE_SYNC and the target user.
pub fn synchronize_pdu(
    share_id: u32,
    source: u16,
    target_user: u16,
) -> Result<Vec<u8>, DecodeError> {
    let mut p = Vec::with_capacity(4);
    p.extend_from_slice(&1u16.to_le_bytes());
    p.extend_from_slice(&target_user.to_le_bytes());
    encode_share_data(share_id, source, pdu_type2::SYNCHRONIZE, &p)
}

/// Control PDU (2.2.1.15 / 2.2.1.16 / 2.2.1.20 / 2.2.1.21).
pub fn control_pdu(
    share_id: u32,
    source: u16,
    action: u16,
    grant_id: u16,
    control_id: u32,
) -> Result<Vec<u8>, DecodeError> {
    let mut p = Vec::with_capacity(8);
    p.extend_from_slice(&action.to_le_bytes());
    p.extend_from_slice(&grant_id.to_le_bytes());
    p.extend_from_slice(&control_id.to_le_bytes());
    encode_share_data(share_id, source, pdu_type2::CONTROL, &p)
}

/// Font List (2.2.1.18, client) or Font Map (2.2.1.22, server): no entries, first | last.
pub fn font_pdu(share_id: u32, source: u16, map: bool) -> Result<Vec<u8>, DecodeError> {
    let mut p = Vec::with_capacity(8);
    p.extend_from_slice(&0u16.to_le_bytes());
    p.extend_from_slice(&0u16.to_le_bytes());
    p.extend_from_slice(&0x0003u16.to_le_bytes());
    p.extend_from_slice(&(if map { 4u16 } else { 0x32 }).to_le_bytes());
    let t = if map {
        pdu_type2::FONTMAP
    } else {
        pdu_type2::FONTLIST
    };
    encode_share_data(share_id, source, t, &p)
}

/// What a client can receive on the I/O channel between the Client Info PDU and the end of the
/// capabilities exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerPdu {
    License(license::LicensePdu),
    /// A security-header PDU that is neither licensing nor a share PDU (auto-detect,
    /// heartbeat, an encrypted PDU).
    Security {
        flags: u16,
    },
    DemandActive(Box<ActivePdu>),
    SetErrorInfo(u32),
    /// Another Data PDU (pduType2 kept).
    Data {
        pdu_type2: u8,
    },
    DeactivateAll,
    /// Server Redirection PDU (pduType 0xA): a broker sends the client elsewhere.
    Redirect,
    /// Another share control pduType.
    Other {
        pdu_type: u16,
    },
}

/// Classifies the userData of a Send Data Indication. While `licensing` is true a PDU whose
/// first 4 bytes are a security header with SEC_LICENSE_PKT (or another flag only a security
/// header carries) is read as such; otherwise it is a share control PDU — the same rule as
/// FreeRDP's `license_recv`, which hands non-licensing PDUs on as share PDUs.
pub fn classify_server_pdu(data: &[u8], licensing: bool) -> Result<ServerPdu, DecodeError> {
    if licensing {
        let (flags, _, rest) = decode_basic_security_header(data)?;
        if flags & sec::LICENSE_PKT != 0 {
            if flags & sec::ENCRYPT != 0 {
                return Ok(ServerPdu::Security { flags });
            }
            return license::decode(rest).map(ServerPdu::License);
        }
        if flags & (sec::AUTODETECT_REQ | sec::HEARTBEAT | sec::ENCRYPT) != 0
            && decode_share_control(data).is_err()
        {
            return Ok(ServerPdu::Security { flags });
        }
    }
    let (header, _) = decode_share_control(data)?;
    Ok(match header.kind() {
        pdu_type::DEMAND_ACTIVE => ServerPdu::DemandActive(Box::new(ActivePdu::decode(data)?)),
        pdu_type::DEACTIVATE_ALL => ServerPdu::DeactivateAll,
        pdu_type::SERVER_REDIRECT => ServerPdu::Redirect,
        pdu_type::DATA => {
            let (_, dh, payload) = decode_share_data(data)?;
            if dh.pdu_type2 == pdu_type2::SET_ERROR_INFO {
                ServerPdu::SetErrorInfo(Cursor::new(payload).u32_le("errorInfo")?)
            } else {
                ServerPdu::Data {
                    pdu_type2: dh.pdu_type2,
                }
            }
        }
        other => ServerPdu::Other { pdu_type: other },
    })
}

/// Fuzz oracle for what a client reads in this phase and what the lab server reads: never
/// panics; a decoded Demand/Confirm Active re-encodes to the same value; a decoded Client
/// Info re-encodes to bytes that decode to the same value.
pub fn fuzz_activation(data: &[u8]) {
    for licensing in [true, false] {
        if let Ok(ServerPdu::DemandActive(d)) = classify_server_pdu(data, licensing) {
            let again = d.encode().map(|b| ActivePdu::decode(&b));
            assert_eq!(again, Ok(Ok((*d).clone())), "Demand Active round trip");
        }
    }
    if let Ok(a) = ActivePdu::decode(data) {
        let again = a.encode().map(|b| ActivePdu::decode(&b));
        assert_eq!(again, Ok(Ok(a)), "Active PDU round trip");
    }
    if let Ok(ci) = ClientInfo::decode_pdu(data) {
        if let Ok(bytes) = ci.encode_pdu() {
            let back = ClientInfo::decode_pdu(&bytes);
            assert_eq!(
                back.as_ref().map(|c| &c.user),
                Ok(&ci.user),
                "Client Info round trip"
            );
        }
    }
    let _ = license::decode(data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcs::{decode_share_data, SERVER_CHANNEL_ID};

    /// The valid-client alert, field by field ([MS-RDPBCGR] 4.1.12 shows the same 16-byte
    /// licensing body; FreeRDP's `license_send_valid_client_error_packet` and IronRDP's
    /// `LicensingErrorMessage::new_valid_client` build the same).
    #[test]
    fn valid_client_alert_layout() {
        let p = license::encode_valid_client_pdu();
        assert_eq!(
            p,
            [
                0x80, 0x00, 0x00, 0x00, // SEC_LICENSE_PKT, flagsHi 0
                0xFF, 0x03, 0x10, 0x00, // ERROR_ALERT, PREAMBLE_VERSION_3_0, wMsgSize 16
                0x07, 0x00, 0x00, 0x00, // STATUS_VALID_CLIENT
                0x02, 0x00, 0x00, 0x00, // ST_NO_TRANSITION
                0x04, 0x00, 0x00, 0x00, // BB_ERROR_BLOB, wBlobLen 0
            ]
        );
        let ServerPdu::License(l) = classify_server_pdu(&p, true).expect("decodes") else {
            panic!("not a licence PDU");
        };
        assert!(l.completes_licensing());
        assert_eq!(license::msg_type_name(l.msg_type), Some("ERROR_ALERT"));
        let no_cal =
            license::encode_error_pdu(license::ERR_NO_LICENSE_SERVER, license::ST_TOTAL_ABORT);
        let ServerPdu::License(l) = classify_server_pdu(&no_cal, true).expect("decodes") else {
            panic!("not a licence PDU");
        };
        assert!(!l.completes_licensing());
        assert_eq!(
            l.error.map(|e| license::error_code_name(e.error_code)),
            Some(Some("ERR_NO_LICENSE_SERVER"))
        );
        for n in 0..p.len() {
            assert!(classify_server_pdu(&p[..n], true).is_err(), "prefix {n}");
        }
    }

    /// Client Info as rdp-doctor sends it: security header `40 00 00 00`, CodePage 0, flags,
    /// five cb fields without terminators, the strings with terminators, then the extended
    /// info with byte counts that include the terminator.
    #[test]
    fn client_info_layout_and_round_trip() {
        let ci = ClientInfo::for_probe("LAB", "alice", Some("pw"));
        let b = ci.encode_pdu().expect("encodes");
        assert_eq!(&b[..4], &[0x40, 0x00, 0x00, 0x00]);
        assert_eq!(&b[4..8], &[0, 0, 0, 0]);
        let flags = u32::from_le_bytes([b[8], b[9], b[10], b[11]]);
        assert_ne!(flags & info_flags::AUTOLOGON, 0);
        assert_ne!(flags & info_flags::UNICODE, 0);
        // cbDomain 6, cbUserName 10, cbPassword 4, shell 0, dir 0
        assert_eq!(&b[12..22], &[6, 0, 10, 0, 4, 0, 0, 0, 0, 0]);
        assert_eq!(&b[22..30], &[b'L', 0, b'A', 0, b'B', 0, 0, 0]);
        let back = ClientInfo::decode_pdu(&b).expect("decodes");
        assert_eq!(back, ci);
        assert_eq!(back.password.as_str(), "pw");
        let dbg = format!("{back:?}");
        assert!(!dbg.contains("\"pw\""), "{dbg}");
        assert!(dbg.contains("<redacted>"));
        // no password: no INFO_AUTOLOGON, empty field
        let anon = ClientInfo::for_probe("", "bob", None);
        assert_eq!(anon.flags & info_flags::AUTOLOGON, 0);
        let b2 = anon.encode_pdu().expect("encodes");
        assert_eq!(ClientInfo::decode_pdu(&b2).expect("decodes"), anon);
        for n in 0..b2.len().min(220) {
            let _ = ClientInfo::decode_pdu(&b2[..n]);
        }
        // a field beyond 512 bytes is refused, not truncated
        let long = ClientInfo::for_probe("", &"u".repeat(300), None);
        assert!(long.encode_pdu().is_err());
    }

    #[test]
    fn demand_active_round_trip() {
        let d = ActivePdu {
            pdu_source: SERVER_CHANNEL_ID,
            share_id: 0x0001_03EA,
            originator_id: None,
            source_descriptor: b"RDP\0".to_vec(),
            capabilities: server_capabilities(1024, 768),
            session_id: Some(0),
        };
        let b = d.encode().expect("encodes");
        // totalLength, pduType DEMANDACTIVEPDU|v1 (0x11), pduSource 1002
        assert_eq!(u16::from_le_bytes([b[0], b[1]]) as usize, b.len());
        assert_eq!(&b[2..6], &[0x11, 0x00, 0xEA, 0x03]);
        assert_eq!(ActivePdu::decode(&b), Ok(d.clone()));
        assert_eq!(d.desktop_size(), Some((1024, 768)));
        // every capability set has its spec length
        let lens: Vec<(u16, usize)> = d
            .capabilities
            .iter()
            .map(|c| (c.kind, c.data.len() + 4))
            .collect();
        for (k, want) in [
            (cap::GENERAL, 24),
            (cap::BITMAP, 28),
            (cap::ORDER, 88),
            (cap::POINTER, 10),
            (cap::INPUT, 88),
            (cap::SHARE, 8),
            (cap::FONT, 8),
        ] {
            assert!(lens.contains(&(k, want)), "{:?} {want}", cap::name(k));
        }
        let ServerPdu::DemandActive(got) = classify_server_pdu(&b, false).expect("decodes") else {
            panic!("not a demand active");
        };
        assert_eq!(*got, d);
        // the same bytes during licensing are still a Demand Active (no SEC_LICENSE_PKT)
        assert!(matches!(
            classify_server_pdu(&b, true),
            Ok(ServerPdu::DemandActive(_))
        ));
        fuzz_activation(&b);
        let confirm = ActivePdu {
            originator_id: Some(SERVER_CHANNEL_ID),
            session_id: None,
            pdu_source: 1007,
            ..d
        };
        let cb = confirm.encode().expect("encodes");
        assert_eq!(ActivePdu::decode(&cb), Ok(confirm));
        fuzz_activation(&cb);
    }

    /// The oracle over every single-byte corruption and truncation of valid PDUs.
    #[test]
    fn oracle_survives_corruption() {
        let seeds = [
            ActivePdu {
                pdu_source: SERVER_CHANNEL_ID,
                share_id: 1,
                originator_id: None,
                source_descriptor: b"RDP\0".to_vec(),
                capabilities: server_capabilities(800, 600),
                session_id: Some(1),
            }
            .encode()
            .expect("encodes"),
            ClientInfo::for_probe("D", "u", Some("p"))
                .encode_pdu()
                .expect("encodes")
                .to_vec(),
            license::encode_valid_client_pdu(),
        ];
        for seed in seeds {
            for i in 0..seed.len() {
                for v in [0x00, 0x01, 0x7F, 0x80, 0xFF] {
                    let mut m = seed.clone();
                    m[i] = v;
                    fuzz_activation(&m);
                }
                fuzz_activation(&seed[..i]);
            }
        }
    }

    #[test]
    fn finalization_and_error_info() {
        let s = synchronize_pdu(1, SERVER_CHANNEL_ID, 1007).expect("fits");
        let (_, h, p) = decode_share_data(&s).expect("decodes");
        assert_eq!(
            (h.pdu_type2, p),
            (pdu_type2::SYNCHRONIZE, &[1, 0, 0xEF, 0x03][..])
        );
        let c = control_pdu(1, SERVER_CHANNEL_ID, ctrl::GRANTED_CONTROL, 1007, 1002).expect("fits");
        assert_eq!(
            classify_server_pdu(&c, false),
            Ok(ServerPdu::Data {
                pdu_type2: pdu_type2::CONTROL
            })
        );
        let m = font_pdu(1, SERVER_CHANNEL_ID, true).expect("fits");
        let (_, h, p) = decode_share_data(&m).expect("decodes");
        assert_eq!(
            (h.pdu_type2, p),
            (pdu_type2::FONTMAP, &[0, 0, 0, 0, 3, 0, 4, 0][..])
        );
        let e = crate::mcs::encode_share_data(
            0,
            SERVER_CHANNEL_ID,
            pdu_type2::SET_ERROR_INFO,
            &[0x0A, 0x01, 0, 0],
        )
        .expect("fits");
        assert_eq!(
            classify_server_pdu(&e, true),
            Ok(ServerPdu::SetErrorInfo(0x10A))
        );
        assert_eq!(
            classify_server_pdu(&e, false),
            Ok(ServerPdu::SetErrorInfo(0x10A))
        );
        // an auto-detect request during licensing is recognised, not misread
        let ad = [0x00, 0x10, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00];
        assert_eq!(
            classify_server_pdu(&ad, true),
            Ok(ServerPdu::Security {
                flags: sec::AUTODETECT_REQ
            })
        );
        assert!(classify_server_pdu(&[], true).is_err());
    }
}
