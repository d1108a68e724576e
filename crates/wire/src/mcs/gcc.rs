//! GCC ([T.124]) as RDP uses it: the ConnectData / ConferenceCreateRequest /
//! ConferenceCreateResponse wrappers (PER) and the RDP user data blocks inside them
//! ([MS-RDPBCGR] 2.2.1.3 client data, 2.2.1.4 server data). Block fields are little-endian.

use super::per;
use crate::cursor::Cursor;
use crate::DecodeError;

/// User data block types ([MS-RDPBCGR] 2.2.1.3.1 / 2.2.1.4.1 TS_UD_HEADER).
pub mod block {
    pub const CS_CORE: u16 = 0xC001;
    pub const CS_SECURITY: u16 = 0xC002;
    pub const CS_NET: u16 = 0xC003;
    pub const CS_CLUSTER: u16 = 0xC004;
    pub const CS_MONITOR: u16 = 0xC005;
    pub const CS_MCS_MSGCHANNEL: u16 = 0xC006;
    pub const CS_MONITOR_EX: u16 = 0xC008;
    pub const CS_MULTITRANSPORT: u16 = 0xC00A;
    pub const SC_CORE: u16 = 0x0C01;
    pub const SC_SECURITY: u16 = 0x0C02;
    pub const SC_NET: u16 = 0x0C03;
    pub const SC_MCS_MSGCHANNEL: u16 = 0x0C04;
    pub const SC_MULTITRANSPORT: u16 = 0x0C08;
}

/// At most this many user data blocks are accepted in one PDU.
pub const MAX_BLOCKS: usize = 64;
/// Static virtual channels a client may request ([MS-RDPBCGR] 2.2.1.3.4: at most 31).
pub const MAX_CHANNELS: usize = 31;
/// serverRandomLen is 32 per [MS-RDPBCGR] 2.2.1.4.3; we keep up to this many bytes.
pub const MAX_SERVER_RANDOM: usize = 256;
/// The longest serverCertificate we keep (a proprietary certificate is ~184 bytes for a
/// 512-bit key; X.509 chains from Windows are a few KiB).
pub const MAX_SERVER_CERTIFICATE: usize = 16 * 1024;

/// H.221 non-standard keys that mark the user data as RDP's ([MS-RDPBCGR] 2.2.1.3 / 2.2.1.4).
pub const H221_CLIENT_KEY: [u8; 4] = *b"Duca";
pub const H221_SERVER_KEY: [u8; 4] = *b"McDn";

/// ConferenceCreateResponse nodeID and UserID lower bound ([T.124] UserID ::= DynamicChannelID
/// (1001..65535)).
pub const NODE_ID_MIN: u16 = 1001;

// ----------------------------------------------------------------------------------------
// Block framing

/// One TS_UD_HEADER-framed block: its type and body (without the 4-byte header).
struct RawBlock<'a> {
    ty: u16,
    body: &'a [u8],
}

fn split_blocks(data: &[u8]) -> Result<Vec<RawBlock<'_>>, DecodeError> {
    let mut c = Cursor::new(data);
    let mut out = Vec::new();
    while !c.is_empty() {
        if out.len() == MAX_BLOCKS {
            return Err(DecodeError::TooLarge {
                what: "GCC user data blocks",
                len: out.len() + 1,
                max: MAX_BLOCKS,
            });
        }
        let ty = c.u16_le("TS_UD_HEADER type")?;
        let len = usize::from(c.u16_le("TS_UD_HEADER length")?);
        if len < 4 {
            return Err(DecodeError::Invalid {
                what: "TS_UD_HEADER length",
                value: len as u64,
            });
        }
        let body = c.take(len - 4, "GCC user data block")?;
        out.push(RawBlock { ty, body });
    }
    Ok(out)
}

fn write_block(out: &mut Vec<u8>, ty: u16, body: &[u8]) -> Result<(), DecodeError> {
    let len = body.len() + 4;
    let len16 = u16::try_from(len).map_err(|_| DecodeError::TooLarge {
        what: "GCC user data block",
        len,
        max: usize::from(u16::MAX),
    })?;
    out.extend_from_slice(&ty.to_le_bytes());
    out.extend_from_slice(&len16.to_le_bytes());
    out.extend_from_slice(body);
    Ok(())
}

fn write_unknown_blocks(out: &mut Vec<u8>, blocks: &[(u16, usize)]) -> Result<(), DecodeError> {
    for &(ty, len) in blocks {
        if len < 4 {
            return Err(DecodeError::Invalid {
                what: "unknown block length",
                value: len as u64,
            });
        }
        write_block(out, ty, &vec![0u8; len - 4])?;
    }
    Ok(())
}

/// Stores a block's decoded value in its slot; a second block of the same type is refused
/// (servers and clients send each known block once, and a repeat would hide the first).
fn set_once<T>(
    slot: &mut Option<T>,
    ty: u16,
    decode: impl FnOnce() -> Result<T, DecodeError>,
) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(DecodeError::Invalid {
            what: "duplicate GCC user data block",
            value: u64::from(ty),
        });
    }
    *slot = Some(decode()?);
    Ok(())
}

/// Reads trailing optional fields in order: once one is missing, all later ones are too
/// ([MS-RDPBCGR] 2.2.1.3.2: an optional field may only be present when every field before it
/// is). A partial field at the end is ignored.
struct Tail<'a> {
    c: Cursor<'a>,
    done: bool,
}

impl<'a> Tail<'a> {
    fn new(rest: &'a [u8]) -> Self {
        Tail {
            c: Cursor::new(rest),
            done: false,
        }
    }

    fn bytes<const N: usize>(&mut self) -> Option<[u8; N]> {
        if self.done {
            return None;
        }
        match self.c.array::<N>("optional field") {
            Ok(a) => Some(a),
            Err(_) => {
                self.done = true;
                None
            }
        }
    }

    fn u8(&mut self) -> Option<u8> {
        self.bytes::<1>().map(|[b]| b)
    }

    fn u16(&mut self) -> Option<u16> {
        self.bytes::<2>().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.bytes::<4>().map(u32::from_le_bytes)
    }
}

/// Decodes a fixed-size UTF-16LE field: up to the first NUL, at most `units - 1` code units
/// (the last unit is the terminator). Invalid UTF-16 becomes U+FFFD.
fn utf16_field(bytes: &[u8], units: usize) -> String {
    let chars: Vec<u16> = bytes
        .chunks_exact(2)
        .take(units.saturating_sub(1))
        .map(|p| {
            u16::from_le_bytes([
                p.first().copied().unwrap_or(0),
                p.get(1).copied().unwrap_or(0),
            ])
        })
        .take_while(|&u| u != 0)
        .collect();
    String::from_utf16_lossy(&chars)
}

/// Encodes `s` into `units` UTF-16LE code units: at most `units - 1` of them (a surrogate pair
/// is never split), NUL-padded. Characters after an embedded NUL are dropped.
fn write_utf16_field(out: &mut Vec<u8>, s: &str, units: usize) {
    let mut enc: Vec<u16> = Vec::with_capacity(units);
    for ch in s.chars() {
        if ch == '\0' {
            break;
        }
        let mut buf = [0u16; 2];
        let part = ch.encode_utf16(&mut buf);
        if enc.len() + part.len() > units.saturating_sub(1) {
            break;
        }
        enc.extend_from_slice(part);
    }
    enc.resize(units, 0);
    for u in enc {
        out.extend_from_slice(&u.to_le_bytes());
    }
}

// ----------------------------------------------------------------------------------------
// Client data blocks

/// Client core data fields ([MS-RDPBCGR] 2.2.1.3.2 TS_UD_CS_CORE) and their well-known values.
pub mod cs_core {
    /// RNS_UD_COLOR_8BPP: colorDepth / postBeta2ColorDepth value clients send when
    /// highColorDepth carries the real depth.
    pub const RNS_UD_COLOR_8BPP: u16 = 0xCA01;
    /// RNS_UD_SAS_DEL: the only SASSequence value.
    pub const RNS_UD_SAS_DEL: u16 = 0xAA03;
    /// supportedColorDepths bits.
    pub const RNS_UD_24BPP_SUPPORT: u16 = 0x0001;
    pub const RNS_UD_16BPP_SUPPORT: u16 = 0x0002;
    pub const RNS_UD_15BPP_SUPPORT: u16 = 0x0004;
    pub const RNS_UD_32BPP_SUPPORT: u16 = 0x0008;
    /// earlyCapabilityFlags bits (client).
    pub const RNS_UD_CS_SUPPORT_ERRINFO_PDU: u16 = 0x0001;
    pub const RNS_UD_CS_WANT_32BPP_SESSION: u16 = 0x0002;
    pub const RNS_UD_CS_SUPPORT_STATUSINFO_PDU: u16 = 0x0004;
    pub const RNS_UD_CS_STRONG_ASYMMETRIC_KEYS: u16 = 0x0008;
    pub const RNS_UD_CS_RELATIVE_MOUSE_INPUT: u16 = 0x0010;
    pub const RNS_UD_CS_VALID_CONNECTION_TYPE: u16 = 0x0020;
    pub const RNS_UD_CS_SUPPORT_MONITOR_LAYOUT_PDU: u16 = 0x0040;
    pub const RNS_UD_CS_SUPPORT_NETCHAR_AUTODETECT: u16 = 0x0080;
    pub const RNS_UD_CS_SUPPORT_DYNVC_GFX_PROTOCOL: u16 = 0x0100;
    pub const RNS_UD_CS_SUPPORT_DYNAMIC_TIME_ZONE: u16 = 0x0200;
    pub const RNS_UD_CS_SUPPORT_HEARTBEAT_PDU: u16 = 0x0400;
    pub const RNS_UD_CS_SUPPORT_SKIP_CHANNELJOIN: u16 = 0x0800;
    /// connectionType CONNECTION_TYPE_LAN.
    pub const CONNECTION_TYPE_LAN: u8 = 0x06;
    /// keyboardType 4: IBM enhanced (101- or 102-key).
    pub const KEYBOARD_TYPE_IBM_ENHANCED: u32 = 4;
    /// The fixed part after the header: version .. imeFileName.
    pub const FIXED_LEN: usize = 128;
}

/// TS_UD_CS_CORE ([MS-RDPBCGR] 2.2.1.3.2). The optional tail fields are `Option`s; encoding
/// stops at the first `None` (a field can only be present when all before it are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCoreData {
    pub version: u32,
    pub desktop_width: u16,
    pub desktop_height: u16,
    pub color_depth: u16,
    pub sas_sequence: u16,
    pub keyboard_layout: u32,
    pub client_build: u32,
    /// clientName: at most 15 UTF-16 code units are sent.
    pub client_name: String,
    pub keyboard_type: u32,
    pub keyboard_sub_type: u32,
    pub keyboard_function_key: u32,
    /// imeFileName: at most 31 UTF-16 code units.
    pub ime_file_name: String,
    pub post_beta2_color_depth: Option<u16>,
    pub client_product_id: Option<u16>,
    pub serial_number: Option<u32>,
    pub high_color_depth: Option<u16>,
    pub supported_color_depths: Option<u16>,
    pub early_capability_flags: Option<u16>,
    /// clientDigProductId (64 bytes, UTF-16): at most 31 code units.
    pub client_dig_product_id: Option<String>,
    /// connectionType; pad1octet follows it on the wire.
    pub connection_type: Option<u8>,
    pub server_selected_protocol: Option<u32>,
    pub desktop_physical_width: Option<u32>,
    pub desktop_physical_height: Option<u32>,
    pub desktop_orientation: Option<u16>,
    pub desktop_scale_factor: Option<u32>,
    pub device_scale_factor: Option<u32>,
}

impl ClientCoreData {
    /// Modelled on mstsc at 1024x768: RDP 10.7, 8-bpp legacy fields with highColorDepth 24
    /// and 24/16/15 bpp supported, US keyboard (0x409, IBM enhanced, 12 function keys),
    /// error-info PDUs wanted (so a server can send Set Error Info), LAN connection type, and
    /// the protocol the server selected in the X.224 exchange.
    pub fn for_probe(selected_protocol: u32, client_name: &str) -> Self {
        use cs_core::*;
        ClientCoreData {
            version: super::names::RDP_VERSION_10_7,
            desktop_width: 1024,
            desktop_height: 768,
            color_depth: RNS_UD_COLOR_8BPP,
            sas_sequence: RNS_UD_SAS_DEL,
            keyboard_layout: 0x0000_0409,
            client_build: 22621,
            client_name: client_name.to_owned(),
            keyboard_type: KEYBOARD_TYPE_IBM_ENHANCED,
            keyboard_sub_type: 0,
            keyboard_function_key: 12,
            ime_file_name: String::new(),
            post_beta2_color_depth: Some(RNS_UD_COLOR_8BPP),
            client_product_id: Some(1),
            serial_number: Some(0),
            high_color_depth: Some(24),
            supported_color_depths: Some(
                RNS_UD_24BPP_SUPPORT | RNS_UD_16BPP_SUPPORT | RNS_UD_15BPP_SUPPORT,
            ),
            early_capability_flags: Some(
                RNS_UD_CS_SUPPORT_ERRINFO_PDU | RNS_UD_CS_VALID_CONNECTION_TYPE,
            ),
            client_dig_product_id: Some(String::new()),
            connection_type: Some(CONNECTION_TYPE_LAN),
            server_selected_protocol: Some(selected_protocol),
            desktop_physical_width: None,
            desktop_physical_height: None,
            desktop_orientation: None,
            desktop_scale_factor: None,
            device_scale_factor: None,
        }
    }

    fn encode_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.desktop_width.to_le_bytes());
        out.extend_from_slice(&self.desktop_height.to_le_bytes());
        out.extend_from_slice(&self.color_depth.to_le_bytes());
        out.extend_from_slice(&self.sas_sequence.to_le_bytes());
        out.extend_from_slice(&self.keyboard_layout.to_le_bytes());
        out.extend_from_slice(&self.client_build.to_le_bytes());
        write_utf16_field(out, &self.client_name, 16);
        out.extend_from_slice(&self.keyboard_type.to_le_bytes());
        out.extend_from_slice(&self.keyboard_sub_type.to_le_bytes());
        out.extend_from_slice(&self.keyboard_function_key.to_le_bytes());
        write_utf16_field(out, &self.ime_file_name, 32);
        'tail: {
            let Some(v) = self.post_beta2_color_depth else {
                break 'tail;
            };
            out.extend_from_slice(&v.to_le_bytes());
            let Some(v) = self.client_product_id else {
                break 'tail;
            };
            out.extend_from_slice(&v.to_le_bytes());
            let Some(v) = self.serial_number else {
                break 'tail;
            };
            out.extend_from_slice(&v.to_le_bytes());
            let Some(v) = self.high_color_depth else {
                break 'tail;
            };
            out.extend_from_slice(&v.to_le_bytes());
            let Some(v) = self.supported_color_depths else {
                break 'tail;
            };
            out.extend_from_slice(&v.to_le_bytes());
            let Some(v) = self.early_capability_flags else {
                break 'tail;
            };
            out.extend_from_slice(&v.to_le_bytes());
            let Some(v) = &self.client_dig_product_id else {
                break 'tail;
            };
            write_utf16_field(out, v, 32);
            let Some(v) = self.connection_type else {
                break 'tail;
            };
            out.extend_from_slice(&[v, 0]);
            let Some(v) = self.server_selected_protocol else {
                break 'tail;
            };
            out.extend_from_slice(&v.to_le_bytes());
            let Some(v) = self.desktop_physical_width else {
                break 'tail;
            };
            out.extend_from_slice(&v.to_le_bytes());
            let Some(v) = self.desktop_physical_height else {
                break 'tail;
            };
            out.extend_from_slice(&v.to_le_bytes());
            let Some(v) = self.desktop_orientation else {
                break 'tail;
            };
            out.extend_from_slice(&v.to_le_bytes());
            let Some(v) = self.desktop_scale_factor else {
                break 'tail;
            };
            out.extend_from_slice(&v.to_le_bytes());
            let Some(v) = self.device_scale_factor else {
                break 'tail;
            };
            out.extend_from_slice(&v.to_le_bytes());
        }
    }

    fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Cursor::new(body);
        let version = c.u32_le("TS_UD_CS_CORE version")?;
        let desktop_width = c.u16_le("TS_UD_CS_CORE desktopWidth")?;
        let desktop_height = c.u16_le("TS_UD_CS_CORE desktopHeight")?;
        let color_depth = c.u16_le("TS_UD_CS_CORE colorDepth")?;
        let sas_sequence = c.u16_le("TS_UD_CS_CORE SASSequence")?;
        let keyboard_layout = c.u32_le("TS_UD_CS_CORE keyboardLayout")?;
        let client_build = c.u32_le("TS_UD_CS_CORE clientBuild")?;
        let client_name = utf16_field(c.take(32, "TS_UD_CS_CORE clientName")?, 16);
        let keyboard_type = c.u32_le("TS_UD_CS_CORE keyboardType")?;
        let keyboard_sub_type = c.u32_le("TS_UD_CS_CORE keyboardSubType")?;
        let keyboard_function_key = c.u32_le("TS_UD_CS_CORE keyboardFunctionKey")?;
        let ime_file_name = utf16_field(c.take(64, "TS_UD_CS_CORE imeFileName")?, 32);
        let mut t = Tail::new(c.rest());
        let post_beta2_color_depth = t.u16();
        let client_product_id = t.u16();
        let serial_number = t.u32();
        let high_color_depth = t.u16();
        let supported_color_depths = t.u16();
        let early_capability_flags = t.u16();
        let client_dig_product_id = t.bytes::<64>().map(|b| utf16_field(&b, 32));
        let connection_type = t.u8();
        let _pad1octet = t.u8();
        let server_selected_protocol = t.u32();
        let desktop_physical_width = t.u32();
        let desktop_physical_height = t.u32();
        let desktop_orientation = t.u16();
        let desktop_scale_factor = t.u32();
        let device_scale_factor = t.u32();
        Ok(ClientCoreData {
            version,
            desktop_width,
            desktop_height,
            color_depth,
            sas_sequence,
            keyboard_layout,
            client_build,
            client_name,
            keyboard_type,
            keyboard_sub_type,
            keyboard_function_key,
            ime_file_name,
            post_beta2_color_depth,
            client_product_id,
            serial_number,
            high_color_depth,
            supported_color_depths,
            early_capability_flags,
            client_dig_product_id,
            connection_type,
            server_selected_protocol,
            desktop_physical_width,
            desktop_physical_height,
            desktop_orientation,
            desktop_scale_factor,
            device_scale_factor,
        })
    }
}

/// Encryption method bits ([MS-RDPBCGR] 2.2.1.3.3 encryptionMethods, 2.2.1.4.3
/// encryptionMethod).
pub mod encryption_method {
    pub const NONE: u32 = 0x0000_0000;
    pub const BIT_40: u32 = 0x0000_0001;
    pub const BIT_128: u32 = 0x0000_0002;
    pub const BIT_56: u32 = 0x0000_0008;
    pub const FIPS: u32 = 0x0000_0010;
    /// 40 | 128 | 56 | FIPS: what a client offers for Standard RDP Security.
    pub const ALL: u32 = BIT_40 | BIT_128 | BIT_56 | FIPS;
}

/// Encryption levels ([MS-RDPBCGR] 2.2.1.4.3 encryptionLevel).
pub mod encryption_level {
    pub const NONE: u32 = 0;
    pub const LOW: u32 = 1;
    pub const CLIENT_COMPATIBLE: u32 = 2;
    pub const HIGH: u32 = 3;
    pub const FIPS: u32 = 4;
}

/// TS_UD_CS_SEC ([MS-RDPBCGR] 2.2.1.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientSecurityData {
    pub encryption_methods: u32,
    /// extEncryptionMethods: only for the French locale, otherwise 0.
    pub ext_encryption_methods: u32,
}

/// One CHANNEL_DEF ([MS-RDPBCGR] 2.2.1.3.4.1): an ANSI name of at most 7 characters and
/// option flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelDef {
    pub name: String,
    pub options: u32,
}

/// TS_UD_CS_NET ([MS-RDPBCGR] 2.2.1.3.4).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientNetworkData {
    pub channels: Vec<ChannelDef>,
}

impl ClientNetworkData {
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), DecodeError> {
        if self.channels.len() > MAX_CHANNELS {
            return Err(DecodeError::TooLarge {
                what: "TS_UD_CS_NET channelCount",
                len: self.channels.len(),
                max: MAX_CHANNELS,
            });
        }
        out.extend_from_slice(&(self.channels.len() as u32).to_le_bytes());
        for ch in &self.channels {
            let name = ch.name.as_bytes();
            if name.len() > 7 || !name.iter().all(|b| b.is_ascii_graphic()) {
                return Err(DecodeError::Invalid {
                    what: "CHANNEL_DEF name (1-7 printable ASCII characters)",
                    value: name.len() as u64,
                });
            }
            let mut field = [0u8; 8];
            for (dst, src) in field.iter_mut().zip(name) {
                *dst = *src;
            }
            out.extend_from_slice(&field);
            out.extend_from_slice(&ch.options.to_le_bytes());
        }
        Ok(())
    }

    fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Cursor::new(body);
        let count = c.u32_le("TS_UD_CS_NET channelCount")? as usize;
        if count > MAX_CHANNELS {
            return Err(DecodeError::TooLarge {
                what: "TS_UD_CS_NET channelCount",
                len: count,
                max: MAX_CHANNELS,
            });
        }
        let mut channels = Vec::with_capacity(count);
        for _ in 0..count {
            let raw = c.take(8, "CHANNEL_DEF name")?;
            let name = raw
                .iter()
                .take(7)
                .take_while(|&&b| b != 0)
                .map(|&b| {
                    if b.is_ascii_graphic() {
                        char::from(b)
                    } else {
                        '?'
                    }
                })
                .collect();
            let options = c.u32_le("CHANNEL_DEF options")?;
            channels.push(ChannelDef { name, options });
        }
        Ok(ClientNetworkData { channels })
    }
}

/// TS_UD_CS_CLUSTER flags ([MS-RDPBCGR] 2.2.1.3.5).
pub mod cluster {
    pub const REDIRECTION_SUPPORTED: u32 = 0x0000_0001;
    pub const REDIRECTED_SESSIONID_FIELD_VALID: u32 = 0x0000_0002;
    pub const REDIRECTED_SMARTCARD: u32 = 0x0000_0040;
    /// ServerSessionRedirectionVersionMask (version - 1, shifted left by 2).
    pub const VERSION_MASK: u32 = 0x0000_003C;
    pub const REDIRECTION_VERSION4: u32 = 0x03;
}

/// TS_UD_CS_CLUSTER ([MS-RDPBCGR] 2.2.1.3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientClusterData {
    pub flags: u32,
    pub redirected_session_id: u32,
}

/// The client's GCC user data blocks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientGccData {
    pub core: Option<ClientCoreData>,
    pub security: Option<ClientSecurityData>,
    pub network: Option<ClientNetworkData>,
    pub cluster: Option<ClientClusterData>,
    /// TS_UD_CS_MCS_MSGCHANNEL flags (2.2.1.3.7).
    pub message_channel_flags: Option<u32>,
    /// TS_UD_CS_MULTITRANSPORT flags (2.2.1.3.8).
    pub multitransport_flags: Option<u32>,
    /// Blocks not decoded here (monitor data, ...): (type, length field incl. header).
    pub unknown_blocks: Vec<(u16, usize)>,
}

impl ClientGccData {
    /// Encodes core, cluster, security, network, then the optional ones ([MS-RDPBCGR] 2.2.1.3
    /// allows any order: each block is identified by its header).
    pub fn encode_blocks(&self) -> Result<Vec<u8>, DecodeError> {
        let mut out = Vec::new();
        if let Some(core) = &self.core {
            let mut body = Vec::new();
            core.encode_body(&mut body);
            write_block(&mut out, block::CS_CORE, &body)?;
        }
        if let Some(cl) = &self.cluster {
            let mut body = cl.flags.to_le_bytes().to_vec();
            body.extend_from_slice(&cl.redirected_session_id.to_le_bytes());
            write_block(&mut out, block::CS_CLUSTER, &body)?;
        }
        if let Some(sec) = &self.security {
            let mut body = sec.encryption_methods.to_le_bytes().to_vec();
            body.extend_from_slice(&sec.ext_encryption_methods.to_le_bytes());
            write_block(&mut out, block::CS_SECURITY, &body)?;
        }
        if let Some(net) = &self.network {
            let mut body = Vec::new();
            net.encode_body(&mut body)?;
            write_block(&mut out, block::CS_NET, &body)?;
        }
        if let Some(f) = self.message_channel_flags {
            write_block(&mut out, block::CS_MCS_MSGCHANNEL, &f.to_le_bytes())?;
        }
        if let Some(f) = self.multitransport_flags {
            write_block(&mut out, block::CS_MULTITRANSPORT, &f.to_le_bytes())?;
        }
        write_unknown_blocks(&mut out, &self.unknown_blocks)?;
        Ok(out)
    }

    /// Decodes the concatenated client blocks. Unknown block types are skipped and listed.
    pub fn decode_blocks(data: &[u8]) -> Result<Self, DecodeError> {
        let mut g = ClientGccData::default();
        for b in split_blocks(data)? {
            match b.ty {
                block::CS_CORE => {
                    set_once(&mut g.core, b.ty, || ClientCoreData::decode_body(b.body))?;
                }
                block::CS_SECURITY => {
                    set_once(&mut g.security, b.ty, || {
                        let mut c = Cursor::new(b.body);
                        let encryption_methods = c.u32_le("TS_UD_CS_SEC encryptionMethods")?;
                        let ext_encryption_methods =
                            c.u32_le("TS_UD_CS_SEC extEncryptionMethods").unwrap_or(0);
                        Ok(ClientSecurityData {
                            encryption_methods,
                            ext_encryption_methods,
                        })
                    })?;
                }
                block::CS_NET => {
                    set_once(&mut g.network, b.ty, || {
                        ClientNetworkData::decode_body(b.body)
                    })?;
                }
                block::CS_CLUSTER => {
                    set_once(&mut g.cluster, b.ty, || {
                        let mut c = Cursor::new(b.body);
                        Ok(ClientClusterData {
                            flags: c.u32_le("TS_UD_CS_CLUSTER Flags")?,
                            redirected_session_id: c
                                .u32_le("TS_UD_CS_CLUSTER RedirectedSessionID")?,
                        })
                    })?;
                }
                block::CS_MCS_MSGCHANNEL => {
                    set_once(&mut g.message_channel_flags, b.ty, || {
                        Cursor::new(b.body).u32_le("TS_UD_CS_MCS_MSGCHANNEL flags")
                    })?;
                }
                block::CS_MULTITRANSPORT => {
                    set_once(&mut g.multitransport_flags, b.ty, || {
                        Cursor::new(b.body).u32_le("TS_UD_CS_MULTITRANSPORT flags")
                    })?;
                }
                other => g.unknown_blocks.push((other, b.body.len() + 4)),
            }
        }
        Ok(g)
    }
}

// ----------------------------------------------------------------------------------------
// Server data blocks

/// Server earlyCapabilityFlags bits ([MS-RDPBCGR] 2.2.1.4.2).
pub mod sc_core {
    pub const RNS_UD_SC_EDGE_ACTIONS_SUPPORTED_V1: u32 = 0x0000_0001;
    pub const RNS_UD_SC_DYNAMIC_DST_SUPPORTED: u32 = 0x0000_0002;
    pub const RNS_UD_SC_EDGE_ACTIONS_SUPPORTED_V2: u32 = 0x0000_0004;
    pub const RNS_UD_SC_SKIP_CHANNELJOIN_SUPPORTED: u32 = 0x0000_0008;
}

/// TS_UD_SC_CORE ([MS-RDPBCGR] 2.2.1.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerCoreData {
    /// The server's RDP version (see [`super::rdp_version_name`]).
    pub version: u32,
    /// clientRequestedProtocols: what the server says the client asked for in the X.224
    /// request (optional field).
    pub client_requested_protocols: Option<u32>,
    /// earlyCapabilityFlags (optional field; present only with clientRequestedProtocols).
    pub early_capability_flags: Option<u32>,
}

impl ServerCoreData {
    fn encode_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.version.to_le_bytes());
        if let Some(p) = self.client_requested_protocols {
            out.extend_from_slice(&p.to_le_bytes());
            if let Some(f) = self.early_capability_flags {
                out.extend_from_slice(&f.to_le_bytes());
            }
        }
    }

    fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Cursor::new(body);
        let version = c.u32_le("TS_UD_SC_CORE version")?;
        let mut t = Tail::new(c.rest());
        Ok(ServerCoreData {
            version,
            client_requested_protocols: t.u32(),
            early_capability_flags: t.u32(),
        })
    }
}

/// TS_UD_SC_SEC1 ([MS-RDPBCGR] 2.2.1.4.3). With External Security (TLS, CredSSP) both values
/// are 0 and the random/certificate fields are absent; with Standard RDP Security the server
/// sends a 32-byte random and its certificate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerSecurityData {
    pub encryption_method: u32,
    pub encryption_level: u32,
    /// serverRandom (empty when absent).
    pub server_random: Vec<u8>,
    /// serverCertificate, raw (empty when absent); see [`super::ServerCertificate::decode`].
    pub server_certificate: Vec<u8>,
}

impl ServerSecurityData {
    /// What a server sends when TLS or CredSSP protect the connection: method 0, level 0.
    pub fn external() -> Self {
        ServerSecurityData::default()
    }

    /// Standard RDP Security: the chosen method and level, the server random (32 bytes) and
    /// the encoded server certificate (e.g. [`super::ProprietaryCertificate::encode`]).
    pub fn standard(
        encryption_method: u32,
        encryption_level: u32,
        server_random: Vec<u8>,
        server_certificate: Vec<u8>,
    ) -> Self {
        ServerSecurityData {
            encryption_method,
            encryption_level,
            server_random,
            server_certificate,
        }
    }

    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), DecodeError> {
        out.extend_from_slice(&self.encryption_method.to_le_bytes());
        out.extend_from_slice(&self.encryption_level.to_le_bytes());
        if self.server_random.is_empty() && self.server_certificate.is_empty() {
            return Ok(());
        }
        if self.server_random.len() > MAX_SERVER_RANDOM {
            return Err(DecodeError::TooLarge {
                what: "serverRandom",
                len: self.server_random.len(),
                max: MAX_SERVER_RANDOM,
            });
        }
        if self.server_certificate.len() > MAX_SERVER_CERTIFICATE {
            return Err(DecodeError::TooLarge {
                what: "serverCertificate",
                len: self.server_certificate.len(),
                max: MAX_SERVER_CERTIFICATE,
            });
        }
        out.extend_from_slice(&(self.server_random.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.server_certificate.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.server_random);
        out.extend_from_slice(&self.server_certificate);
        Ok(())
    }

    fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Cursor::new(body);
        let encryption_method = c.u32_le("TS_UD_SC_SEC1 encryptionMethod")?;
        let encryption_level = c.u32_le("TS_UD_SC_SEC1 encryptionLevel")?;
        let mut sec = ServerSecurityData {
            encryption_method,
            encryption_level,
            ..Default::default()
        };
        // The spec forbids the fields when method and level are 0; read them when present.
        if c.remaining() >= 8 {
            let random_len = c.u32_le("serverRandomLen")? as usize;
            let cert_len = c.u32_le("serverCertLen")? as usize;
            if random_len > MAX_SERVER_RANDOM {
                return Err(DecodeError::TooLarge {
                    what: "serverRandomLen",
                    len: random_len,
                    max: MAX_SERVER_RANDOM,
                });
            }
            if cert_len > MAX_SERVER_CERTIFICATE {
                return Err(DecodeError::TooLarge {
                    what: "serverCertLen",
                    len: cert_len,
                    max: MAX_SERVER_CERTIFICATE,
                });
            }
            sec.server_random = c.take(random_len, "serverRandom")?.to_vec();
            sec.server_certificate = c.take(cert_len, "serverCertificate")?.to_vec();
        }
        Ok(sec)
    }
}

/// TS_UD_SC_NET ([MS-RDPBCGR] 2.2.1.4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerNetworkData {
    /// MCSChannelId: the I/O channel (1003 on Windows and xrdp).
    pub io_channel: u16,
    /// One MCS channel id per channel the client requested, in request order.
    pub channel_ids: Vec<u16>,
}

impl ServerNetworkData {
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), DecodeError> {
        if self.channel_ids.len() > MAX_CHANNELS {
            return Err(DecodeError::TooLarge {
                what: "TS_UD_SC_NET channelCount",
                len: self.channel_ids.len(),
                max: MAX_CHANNELS,
            });
        }
        out.extend_from_slice(&self.io_channel.to_le_bytes());
        out.extend_from_slice(&(self.channel_ids.len() as u16).to_le_bytes());
        for id in &self.channel_ids {
            out.extend_from_slice(&id.to_le_bytes());
        }
        if self.channel_ids.len() % 2 == 1 {
            out.extend_from_slice(&[0, 0]);
        }
        Ok(())
    }

    fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Cursor::new(body);
        let io_channel = c.u16_le("TS_UD_SC_NET MCSChannelId")?;
        let count = usize::from(c.u16_le("TS_UD_SC_NET channelCount")?);
        if count > MAX_CHANNELS {
            return Err(DecodeError::TooLarge {
                what: "TS_UD_SC_NET channelCount",
                len: count,
                max: MAX_CHANNELS,
            });
        }
        let mut channel_ids = Vec::with_capacity(count);
        for _ in 0..count {
            channel_ids.push(c.u16_le("TS_UD_SC_NET channelIdArray")?);
        }
        // Pad (2 bytes when the count is odd) is not checked: some servers omit it.
        Ok(ServerNetworkData {
            io_channel,
            channel_ids,
        })
    }
}

/// The server's GCC user data blocks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerGccData {
    pub core: Option<ServerCoreData>,
    pub security: Option<ServerSecurityData>,
    pub network: Option<ServerNetworkData>,
    /// TS_UD_SC_MCS_MSGCHANNEL MCSChannelID (2.2.1.4.5).
    pub message_channel: Option<u16>,
    /// TS_UD_SC_MULTITRANSPORT flags (2.2.1.4.6).
    pub multitransport_flags: Option<u32>,
    /// Blocks of other types: (type, length field incl. header).
    pub unknown_blocks: Vec<(u16, usize)>,
}

impl ServerGccData {
    /// Encodes core, security, network, message channel, multitransport, unknown (zeroed).
    pub fn encode_blocks(&self) -> Result<Vec<u8>, DecodeError> {
        let mut out = Vec::new();
        if let Some(core) = &self.core {
            let mut body = Vec::new();
            core.encode_body(&mut body);
            write_block(&mut out, block::SC_CORE, &body)?;
        }
        if let Some(sec) = &self.security {
            let mut body = Vec::new();
            sec.encode_body(&mut body)?;
            write_block(&mut out, block::SC_SECURITY, &body)?;
        }
        if let Some(net) = &self.network {
            let mut body = Vec::new();
            net.encode_body(&mut body)?;
            write_block(&mut out, block::SC_NET, &body)?;
        }
        if let Some(ch) = self.message_channel {
            write_block(&mut out, block::SC_MCS_MSGCHANNEL, &ch.to_le_bytes())?;
        }
        if let Some(f) = self.multitransport_flags {
            write_block(&mut out, block::SC_MULTITRANSPORT, &f.to_le_bytes())?;
        }
        write_unknown_blocks(&mut out, &self.unknown_blocks)?;
        Ok(out)
    }

    /// Decodes the concatenated server blocks; unknown types are skipped and listed.
    pub fn decode_blocks(data: &[u8]) -> Result<Self, DecodeError> {
        let mut g = ServerGccData::default();
        for b in split_blocks(data)? {
            match b.ty {
                block::SC_CORE => {
                    set_once(&mut g.core, b.ty, || ServerCoreData::decode_body(b.body))?;
                }
                block::SC_SECURITY => {
                    set_once(&mut g.security, b.ty, || {
                        ServerSecurityData::decode_body(b.body)
                    })?;
                }
                block::SC_NET => {
                    set_once(&mut g.network, b.ty, || {
                        ServerNetworkData::decode_body(b.body)
                    })?;
                }
                block::SC_MCS_MSGCHANNEL => {
                    set_once(&mut g.message_channel, b.ty, || {
                        Cursor::new(b.body).u16_le("TS_UD_SC_MCS_MSGCHANNEL MCSChannelID")
                    })?;
                }
                block::SC_MULTITRANSPORT => {
                    set_once(&mut g.multitransport_flags, b.ty, || {
                        Cursor::new(b.body).u32_le("TS_UD_SC_MULTITRANSPORT flags")
                    })?;
                }
                other => g.unknown_blocks.push((other, b.body.len() + 4)),
            }
        }
        Ok(g)
    }
}

// ----------------------------------------------------------------------------------------
// T.124 wrappers

/// ConnectData + ConnectGCCPDU conferenceCreateRequest ([T.124] 8.7, [MS-RDPBCGR] 2.2.1.3):
/// object key T.124, CHOICE 0 with only `userData` present, conference name "1", one
/// h221NonStandard user data set keyed "Duca" carrying the client blocks.
pub fn encode_conference_create_request(blocks: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut pdu = vec![
        0x00, // ConnectGCCPDU CHOICE conferenceCreateRequest (0)
        0x08, // ConferenceCreateRequest preamble: only userData present
        0x00,
        0x10, // conferenceName numeric "1": length - 1 = 0, digit '1' packed in a nibble
        0x00, // lockedConference, listedConference, conductibleConference, terminationMethod
        0x01, // userData: one set
        0xC0, // value present, key CHOICE h221NonStandard
        0x00, // h221NonStandard length - 4
    ];
    pdu.extend_from_slice(&H221_CLIENT_KEY);
    per::write_length(&mut pdu, blocks.len(), "GCC user data")?;
    pdu.extend_from_slice(blocks);
    let mut out = Vec::with_capacity(pdu.len() + 10);
    per::write_t124_key(&mut out);
    per::write_length(&mut out, pdu.len(), "GCC connectPDU")?;
    out.extend_from_slice(&pdu);
    Ok(out)
}

/// Decodes a ConferenceCreateRequest and returns the client user data (block bytes).
pub fn decode_conference_create_request(data: &[u8]) -> Result<&[u8], DecodeError> {
    let mut c = Cursor::new(data);
    per::read_t124_key(&mut c)?;
    // connectPDU length: [MS-RDPBCGR] says to ignore it; we only require it to be readable.
    let _ = per::read_length(&mut c, "GCC connectPDU length")?;
    let choice = c.u8("ConnectGCCPDU choice")?;
    if choice != 0x00 {
        return Err(DecodeError::Invalid {
            what: "ConnectGCCPDU choice (expected conferenceCreateRequest)",
            value: u64::from(choice),
        });
    }
    let preamble = c.u8("ConferenceCreateRequest optional fields")?;
    if preamble != 0x08 {
        return Err(DecodeError::Invalid {
            what: "ConferenceCreateRequest optional fields (only userData supported)",
            value: u64::from(preamble),
        });
    }
    // conferenceName: NumericString SIZE(1..255), 4 bits per digit
    let digits = usize::from(c.u8("conferenceName length")?) + 1;
    c.skip(digits.div_ceil(2), "conferenceName")?;
    c.skip(1, "ConferenceCreateRequest flags")?;
    read_h221_user_data(&mut c, H221_CLIENT_KEY)
}

fn read_h221_user_data<'a>(c: &mut Cursor<'a>, key: [u8; 4]) -> Result<&'a [u8], DecodeError> {
    let sets = c.u8("GCC userData number of sets")?;
    if sets != 1 {
        return Err(DecodeError::Invalid {
            what: "GCC userData number of sets",
            value: u64::from(sets),
        });
    }
    let choice = c.u8("GCC userData key choice")?;
    if choice != 0xC0 {
        return Err(DecodeError::Invalid {
            what: "GCC userData key choice (expected h221NonStandard with value)",
            value: u64::from(choice),
        });
    }
    let key_len = usize::from(c.u8("h221NonStandard length")?) + 4;
    let got = c.take(key_len, "h221NonStandard key")?;
    if got != key {
        return Err(DecodeError::Invalid {
            what: "h221NonStandard key",
            value: got.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b)),
        });
    }
    per::read_octets(c, "GCC user data")
}

/// The T.124 fields of a ConferenceCreateResponse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConferenceCreateResponse {
    /// nodeID (Windows: 0x79F3 = 31219).
    pub node_id: u16,
    pub tag: u32,
    /// GCC result (0 = success).
    pub result: u8,
}

impl Default for ConferenceCreateResponse {
    /// The values Windows, xrdp and FreeRDP send.
    fn default() -> Self {
        ConferenceCreateResponse {
            node_id: 0x79F3,
            tag: 1,
            result: 0,
        }
    }
}

/// ConnectData + ConnectGCCPDU conferenceCreateResponse ([T.124] 8.7, [MS-RDPBCGR] 2.2.1.4).
pub fn encode_conference_create_response(
    resp: &ConferenceCreateResponse,
    blocks: &[u8],
) -> Result<Vec<u8>, DecodeError> {
    let mut pdu = vec![0x14]; // CHOICE conferenceCreateResponse (1), userData present
    per::write_u16_min(&mut pdu, resp.node_id, NODE_ID_MIN, "GCC nodeID")?;
    per::write_integer(&mut pdu, resp.tag);
    pdu.push(resp.result); // result ENUMERATED, one byte as every RDP stack writes it
    pdu.extend_from_slice(&[0x01, 0xC0, 0x00]);
    pdu.extend_from_slice(&H221_SERVER_KEY);
    per::write_length(&mut pdu, blocks.len(), "GCC user data")?;
    pdu.extend_from_slice(blocks);
    let mut out = Vec::with_capacity(pdu.len() + 10);
    per::write_t124_key(&mut out);
    per::write_length(&mut out, pdu.len(), "GCC connectPDU")?;
    out.extend_from_slice(&pdu);
    Ok(out)
}

/// Decodes a ConferenceCreateResponse: its T.124 fields and the server user data bytes.
pub fn decode_conference_create_response(
    data: &[u8],
) -> Result<(ConferenceCreateResponse, &[u8]), DecodeError> {
    let mut c = Cursor::new(data);
    per::read_t124_key(&mut c)?;
    // connectPDU length: "MUST be ignored by the client" ([MS-RDPBCGR] 2.2.1.4).
    let _ = per::read_length(&mut c, "GCC connectPDU length")?;
    let choice = c.u8("ConnectGCCPDU choice")?;
    if choice != 0x14 {
        return Err(DecodeError::Invalid {
            what: "ConnectGCCPDU choice (expected conferenceCreateResponse)",
            value: u64::from(choice),
        });
    }
    let node_id = per::read_u16_min(&mut c, NODE_ID_MIN, "GCC nodeID")?;
    let tag = per::read_integer(&mut c, "GCC tag")?;
    let result = c.u8("GCC result")?;
    let blocks = read_h221_user_data(&mut c, H221_SERVER_KEY)?;
    Ok((
        ConferenceCreateResponse {
            node_id,
            tag,
            result,
        },
        blocks,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_fields_truncate_and_round_trip() {
        let mut out = Vec::new();
        write_utf16_field(&mut out, "ABCDEFGHIJKLMNOPQRST", 16);
        assert_eq!(out.len(), 32);
        assert_eq!(utf16_field(&out, 16), "ABCDEFGHIJKLMNO");
        // a surrogate pair that would straddle the limit is dropped whole
        let mut out = Vec::new();
        write_utf16_field(&mut out, "ABCDEFGHIJKLMN\u{1F600}", 16);
        assert_eq!(utf16_field(&out, 16), "ABCDEFGHIJKLMN");
        // an unpaired surrogate decodes as U+FFFD and re-encodes stably
        let lone = [0x00, 0xD8, 0x41, 0x00];
        let s = utf16_field(&lone, 16);
        assert_eq!(s, "\u{FFFD}A");
        // no terminator: only 15 units are taken
        let full = [0x41u8, 0].repeat(16);
        assert_eq!(utf16_field(&full, 16).len(), 15);
    }

    #[test]
    fn block_framing_is_bounded() {
        assert!(split_blocks(&[0x01, 0x0C, 0x03, 0x00]).is_err()); // length 3 < 4
        assert!(split_blocks(&[0x01, 0x0C, 0x10, 0x00, 0, 0]).is_err()); // beyond the data
        assert!(split_blocks(&[0x01, 0x0C]).is_err());
        let many: Vec<u8> = [0x99u8, 0x99, 0x04, 0x00].repeat(MAX_BLOCKS + 1);
        assert!(matches!(
            split_blocks(&many),
            Err(DecodeError::TooLarge { .. })
        ));
        assert_eq!(split_blocks(&many[4..]).map(|v| v.len()), Ok(MAX_BLOCKS));
    }

    #[test]
    fn duplicate_known_blocks_are_refused() {
        let mut data = Vec::new();
        write_block(&mut data, block::SC_MCS_MSGCHANNEL, &[0xEC, 0x03]).expect("small");
        write_block(&mut data, block::SC_MCS_MSGCHANNEL, &[0xED, 0x03]).expect("small");
        assert!(ServerGccData::decode_blocks(&data).is_err());
    }

    #[test]
    fn client_core_tail_stops_at_first_absent_field() {
        let mut core = ClientCoreData::for_probe(1, "probe");
        core.early_capability_flags = None; // everything after it is dropped on the wire
        let mut body = Vec::new();
        core.encode_body(&mut body);
        assert_eq!(body.len(), cs_core::FIXED_LEN + 2 + 2 + 4 + 2 + 2);
        let back = ClientCoreData::decode_body(&body).expect("decodes");
        assert_eq!(back.supported_color_depths, core.supported_color_depths);
        assert_eq!(back.client_dig_product_id, None);
        assert_eq!(back.server_selected_protocol, None);
        // the full probe core round-trips
        let core = ClientCoreData::for_probe(1, "probe");
        let mut body = Vec::new();
        core.encode_body(&mut body);
        // up to serverSelectedProtocol: 128 + 2+2+4+2+2+2+64+1+1+4
        assert_eq!(body.len(), 212);
        assert_eq!(ClientCoreData::decode_body(&body), Ok(core));
    }

    #[test]
    fn channel_names_are_checked() {
        let net = ClientNetworkData {
            channels: vec![ChannelDef {
                name: "cliprdr!".into(),
                options: 0,
            }],
        };
        assert!(net.encode_body(&mut Vec::new()).is_err());
        let net = ClientNetworkData {
            channels: vec![
                ChannelDef {
                    name: "rdpdr".into(),
                    options: 0x8080_0000,
                },
                ChannelDef {
                    name: "cliprdr".into(),
                    options: 0xC0A0_0000,
                },
            ],
        };
        let mut body = Vec::new();
        net.encode_body(&mut body).expect("valid");
        assert_eq!(&body[..4], &[2, 0, 0, 0]);
        assert_eq!(&body[4..12], b"rdpdr\0\0\0");
        assert_eq!(ClientNetworkData::decode_body(&body), Ok(net));
        let too_many = [32u8, 0, 0, 0];
        assert!(ClientNetworkData::decode_body(&too_many).is_err());
    }
}
