//! NTLM messages ([MS-NLMP] 2.2.1): NEGOTIATE_MESSAGE (2.2.1.1), CHALLENGE_MESSAGE (2.2.1.2),
//! AUTHENTICATE_MESSAGE (2.2.1.3), with AV_PAIR (2.2.2.1), VERSION (2.2.2.10) and the
//! NTLMv2_RESPONSE / NTLMv2_CLIENT_CHALLENGE structures (2.2.2.8, 2.2.2.7).
//!
//! All integers are little-endian. Variable fields are `(Len u16, MaxLen u16, BufferOffset u32)`
//! triplets pointing into the message; every offset and length is checked against the message.

use super::flags::NegotiateFlags;
use crate::cursor::Cursor;
use crate::DecodeError;
use std::fmt;

/// `Signature` of every NTLM message: "NTLMSSP\0".
pub const SIGNATURE: [u8; 8] = *b"NTLMSSP\0";
pub const MESSAGE_NEGOTIATE: u32 = 1;
pub const MESSAGE_CHALLENGE: u32 = 2;
pub const MESSAGE_AUTHENTICATE: u32 = 3;

/// An NTLM message's fields can only address 64 KiB (u16 lengths); a message larger than
/// this is refused outright.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

/// Offset of the MIC in an AUTHENTICATE_MESSAGE that carries one ([MS-NLMP] 2.2.1.3:
/// 8 signature + 4 type + 6 field triplets of 8 + 4 flags + 8 version = 72).
pub const AUTHENTICATE_MIC_OFFSET: usize = 72;
/// Header length of an AUTHENTICATE_MESSAGE with version and MIC.
pub const AUTHENTICATE_HEADER_WITH_MIC: usize = 88;

/// [MS-NLMP] 2.2.2.10 VERSION: the sender's OS version and the NTLM revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Version {
    pub major: u8,
    pub minor: u8,
    pub build: u16,
    /// `NTLMRevisionCurrent`: 0x0F (NTLMSSP_REVISION_W2K3) on every system since XP SP2.
    pub revision: u8,
}

impl Version {
    pub const NTLMSSP_REVISION_W2K3: u8 = 0x0F;
    /// What a current Windows 10/11 client sends (10.0.19041, revision 15).
    pub const WINDOWS_10: Version = Version {
        major: 10,
        minor: 0,
        build: 19041,
        revision: Version::NTLMSSP_REVISION_W2K3,
    };

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.major);
        out.push(self.minor);
        out.extend_from_slice(&self.build.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0]);
        out.push(self.revision);
    }

    pub fn decode(c: &mut Cursor<'_>) -> Result<Self, DecodeError> {
        let major = c.u8("VERSION ProductMajorVersion")?;
        let minor = c.u8("VERSION ProductMinorVersion")?;
        let build = c.u16_le("VERSION ProductBuild")?;
        c.skip(3, "VERSION Reserved")?;
        let revision = c.u8("VERSION NTLMRevisionCurrent")?;
        Ok(Version {
            major,
            minor,
            build,
            revision,
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.build)
    }
}

/// AV_PAIR `AvId` values ([MS-NLMP] 2.2.2.1).
pub mod av_id {
    pub const EOL: u16 = 0x0000;
    pub const NB_COMPUTER_NAME: u16 = 0x0001;
    pub const NB_DOMAIN_NAME: u16 = 0x0002;
    pub const DNS_COMPUTER_NAME: u16 = 0x0003;
    pub const DNS_DOMAIN_NAME: u16 = 0x0004;
    pub const DNS_TREE_NAME: u16 = 0x0005;
    pub const FLAGS: u16 = 0x0006;
    pub const TIMESTAMP: u16 = 0x0007;
    pub const SINGLE_HOST: u16 = 0x0008;
    pub const TARGET_NAME: u16 = 0x0009;
    pub const CHANNEL_BINDINGS: u16 = 0x000A;
}

/// MsvAvFlags bits ([MS-NLMP] 2.2.2.1).
pub mod av_flags {
    /// The server's authentication is constrained.
    pub const ACCOUNT_AUTHENTICATION_CONSTRAINED: u32 = 0x0000_0001;
    /// The client provides a MIC in the AUTHENTICATE_MESSAGE.
    pub const MIC_PRESENT: u32 = 0x0000_0002;
    /// The client-supplied target name (SPN) came from an untrusted source.
    pub const UNTRUSTED_SPN_SOURCE: u32 = 0x0000_0004;
}

/// One AV_PAIR of a target info list ([MS-NLMP] 2.2.2.1). String values are UTF-16LE on the
/// wire. A known id with a value of the wrong size decodes as [`AvPair::Other`], so nothing is
/// lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AvPair {
    /// MsvAvEOL: the list terminator. Decoded lists never contain it; the encoder stops at it
    /// and always writes one at the end.
    Eol,
    NbComputerName(String),
    NbDomainName(String),
    DnsComputerName(String),
    DnsDomainName(String),
    DnsTreeName(String),
    /// MsvAvFlags, see [`av_flags`].
    Flags(u32),
    /// MsvAvTimestamp: a FILETIME (100 ns ticks since 1601-01-01 UTC), the server's clock.
    Timestamp(u64),
    /// MsvAvSingleHost: a Single_Host_Data structure (2.2.2.2), kept raw.
    SingleHost(Vec<u8>),
    /// MsvAvTargetName: the SPN the client used, e.g. `TERMSRV/host`.
    TargetName(String),
    /// MsvAvChannelBindings: MD5 of a gss_channel_bindings_struct.
    ChannelBindings([u8; 16]),
    Other {
        id: u16,
        value: Vec<u8>,
    },
}

impl AvPair {
    pub fn id(&self) -> u16 {
        match self {
            AvPair::Eol => av_id::EOL,
            AvPair::NbComputerName(_) => av_id::NB_COMPUTER_NAME,
            AvPair::NbDomainName(_) => av_id::NB_DOMAIN_NAME,
            AvPair::DnsComputerName(_) => av_id::DNS_COMPUTER_NAME,
            AvPair::DnsDomainName(_) => av_id::DNS_DOMAIN_NAME,
            AvPair::DnsTreeName(_) => av_id::DNS_TREE_NAME,
            AvPair::Flags(_) => av_id::FLAGS,
            AvPair::Timestamp(_) => av_id::TIMESTAMP,
            AvPair::SingleHost(_) => av_id::SINGLE_HOST,
            AvPair::TargetName(_) => av_id::TARGET_NAME,
            AvPair::ChannelBindings(_) => av_id::CHANNEL_BINDINGS,
            AvPair::Other { id, .. } => *id,
        }
    }

    fn value_bytes(&self) -> Vec<u8> {
        match self {
            AvPair::Eol => Vec::new(),
            AvPair::NbComputerName(s)
            | AvPair::NbDomainName(s)
            | AvPair::DnsComputerName(s)
            | AvPair::DnsDomainName(s)
            | AvPair::DnsTreeName(s)
            | AvPair::TargetName(s) => utf16le(s),
            AvPair::Flags(v) => v.to_le_bytes().to_vec(),
            AvPair::Timestamp(v) => v.to_le_bytes().to_vec(),
            AvPair::SingleHost(v) => v.clone(),
            AvPair::ChannelBindings(v) => v.to_vec(),
            AvPair::Other { value, .. } => value.clone(),
        }
    }

    fn from_raw(id: u16, value: &[u8]) -> AvPair {
        let other = || AvPair::Other {
            id,
            value: value.to_vec(),
        };
        match id {
            av_id::NB_COMPUTER_NAME => AvPair::NbComputerName(from_utf16le(value)),
            av_id::NB_DOMAIN_NAME => AvPair::NbDomainName(from_utf16le(value)),
            av_id::DNS_COMPUTER_NAME => AvPair::DnsComputerName(from_utf16le(value)),
            av_id::DNS_DOMAIN_NAME => AvPair::DnsDomainName(from_utf16le(value)),
            av_id::DNS_TREE_NAME => AvPair::DnsTreeName(from_utf16le(value)),
            av_id::TARGET_NAME => AvPair::TargetName(from_utf16le(value)),
            av_id::FLAGS => match <[u8; 4]>::try_from(value) {
                Ok(b) => AvPair::Flags(u32::from_le_bytes(b)),
                Err(_) => other(),
            },
            av_id::TIMESTAMP => match <[u8; 8]>::try_from(value) {
                Ok(b) => AvPair::Timestamp(u64::from_le_bytes(b)),
                Err(_) => other(),
            },
            av_id::SINGLE_HOST => AvPair::SingleHost(value.to_vec()),
            av_id::CHANNEL_BINDINGS => match <[u8; 16]>::try_from(value) {
                Ok(b) => AvPair::ChannelBindings(b),
                Err(_) => other(),
            },
            _ => other(),
        }
    }
}

/// At most this many AV pairs are decoded from one list (a real list has about ten).
pub const MAX_AV_PAIRS: usize = 256;

/// Decodes a target info list up to its MsvAvEOL. A list that ends without MsvAvEOL is
/// accepted (the values before the end are kept); a pair running past the end is an error.
pub fn decode_av_pairs(data: &[u8]) -> Result<Vec<AvPair>, DecodeError> {
    let mut c = Cursor::new(data);
    let mut out = Vec::new();
    while !c.is_empty() {
        let id = c.u16_le("AV_PAIR AvId")?;
        let len = c.u16_le("AV_PAIR AvLen")?;
        let value = c.take(usize::from(len), "AV_PAIR Value")?;
        if id == av_id::EOL {
            break;
        }
        if out.len() >= MAX_AV_PAIRS {
            return Err(DecodeError::TooLarge {
                what: "AV_PAIR list",
                len: out.len() + 1,
                max: MAX_AV_PAIRS,
            });
        }
        out.push(AvPair::from_raw(id, value));
    }
    Ok(out)
}

/// Encodes a target info list, stopping at the first [`AvPair::Eol`], and terminates it with
/// MsvAvEOL. Values longer than 65 535 bytes are truncated to what the u16 length can say.
pub fn encode_av_pairs(pairs: &[AvPair]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in pairs {
        if matches!(p, AvPair::Eol) {
            break;
        }
        let v = p.value_bytes();
        let len = v.len().min(usize::from(u16::MAX));
        out.extend_from_slice(&p.id().to_le_bytes());
        out.extend_from_slice(&(len as u16).to_le_bytes());
        out.extend_from_slice(v.get(..len).unwrap_or(&[]));
    }
    out.extend_from_slice(&[0, 0, 0, 0]);
    out
}

/// UTF-16LE bytes of a string ([MS-NLMP] strings with NTLMSSP_NEGOTIATE_UNICODE).
pub fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

/// Decodes UTF-16LE; unpaired surrogates become U+FFFD and an odd trailing byte is dropped.
pub fn from_utf16le(b: &[u8]) -> String {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|p| {
            u16::from_le_bytes([
                p.first().copied().unwrap_or(0),
                p.get(1).copied().unwrap_or(0),
            ])
        })
        .collect();
    String::from_utf16_lossy(&units)
}

/// Decodes an OEM string (no UNICODE flag) as Latin-1, so every byte survives.
fn from_oem(b: &[u8]) -> String {
    b.iter().map(|&c| char::from(c)).collect()
}

fn to_oem(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

fn decode_string(unicode: bool, b: &[u8]) -> String {
    if unicode {
        from_utf16le(b)
    } else {
        from_oem(b)
    }
}

fn encode_string(unicode: bool, s: &str) -> Vec<u8> {
    if unicode {
        utf16le(s)
    } else {
        to_oem(s)
    }
}

/// FILETIME ticks between 1601-01-01 and 1970-01-01.
pub const FILETIME_UNIX_EPOCH: u64 = 116_444_736_000_000_000;

/// FILETIME (100 ns since 1601) to Unix seconds (floor). Times before 1970 are negative.
pub fn filetime_to_unix_seconds(ft: u64) -> i64 {
    let ticks = i128::from(ft) - i128::from(FILETIME_UNIX_EPOCH);
    ticks.div_euclid(10_000_000) as i64
}

/// Unix seconds to FILETIME; clamps to the FILETIME range.
pub fn unix_seconds_to_filetime(secs: i64) -> u64 {
    let ticks = i128::from(secs) * 10_000_000 + i128::from(FILETIME_UNIX_EPOCH);
    ticks.clamp(0, i128::from(u64::MAX)) as u64
}

/// One `(Len, MaxLen, BufferOffset)` triplet.
#[derive(Debug, Clone, Copy)]
struct Field {
    len: u16,
    offset: u32,
}

impl Field {
    fn read(c: &mut Cursor<'_>, what: &'static str) -> Result<Field, DecodeError> {
        let len = c.u16_le(what)?;
        let _max = c.u16_le(what)?;
        let offset = c.u32_le(what)?;
        Ok(Field { len, offset })
    }

    /// The bytes the field points at, checked against the message.
    fn slice<'a>(&self, msg: &'a [u8], what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.len == 0 {
            return Ok(&[]);
        }
        let start = self.offset as usize;
        let end = start.saturating_add(usize::from(self.len));
        msg.get(start..end).ok_or(DecodeError::Truncated {
            what,
            needed: end,
            available: msg.len(),
        })
    }

    /// Where a non-empty field starts (to find where the fixed header ends).
    fn start(&self) -> Option<usize> {
        (self.len > 0).then_some(self.offset as usize)
    }
}

/// The length of the fixed header: the lowest offset of a non-empty payload field, or the
/// whole message when every field is empty.
fn header_room(msg_len: usize, fields: &[Field]) -> usize {
    fields
        .iter()
        .filter_map(Field::start)
        .min()
        .unwrap_or(msg_len)
        .min(msg_len)
}

/// Builds a message: fixed header, then payload fields appended in order with their triplets
/// patched in.
struct Builder {
    out: Vec<u8>,
}

impl Builder {
    fn new(msg_type: u32) -> Builder {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(&SIGNATURE);
        out.extend_from_slice(&msg_type.to_le_bytes());
        Builder { out }
    }

    /// Reserves a field triplet and returns its position.
    fn field(&mut self) -> usize {
        let at = self.out.len();
        self.out.extend_from_slice(&[0; 8]);
        at
    }

    /// Appends `data` as the payload of the field reserved at `at`.
    fn payload(&mut self, at: usize, data: &[u8]) {
        let len = data.len().min(usize::from(u16::MAX)) as u16;
        let offset = self.out.len() as u32;
        let mut triplet = [0u8; 8];
        triplet[..2].copy_from_slice(&len.to_le_bytes());
        triplet[2..4].copy_from_slice(&len.to_le_bytes());
        triplet[4..].copy_from_slice(&offset.to_le_bytes());
        if let Some(slot) = self.out.get_mut(at..at + 8) {
            slot.copy_from_slice(&triplet);
        }
        self.out
            .extend_from_slice(data.get(..usize::from(len)).unwrap_or(&[]));
    }
}

fn check_header(
    c: &mut Cursor<'_>,
    msg_len: usize,
    expected: u32,
    what: &'static str,
) -> Result<(), DecodeError> {
    if msg_len > MAX_MESSAGE_LEN {
        return Err(DecodeError::TooLarge {
            what,
            len: msg_len,
            max: MAX_MESSAGE_LEN,
        });
    }
    let sig = c.array::<8>("NTLM Signature")?;
    if sig != SIGNATURE {
        return Err(DecodeError::Invalid {
            what: "NTLM Signature",
            value: u64::from_be_bytes(sig),
        });
    }
    let ty = c.u32_le("NTLM MessageType")?;
    if ty != expected {
        return Err(DecodeError::Invalid {
            what: "NTLM MessageType",
            value: u64::from(ty),
        });
    }
    Ok(())
}

/// The NTLM message type of `data` (1, 2 or 3), if it starts with the NTLM signature.
pub fn message_type(data: &[u8]) -> Option<u32> {
    let mut c = Cursor::new(data);
    (c.array::<8>("sig").ok()? == SIGNATURE).then_some(())?;
    c.u32_le("type").ok()
}

/// [MS-NLMP] 2.2.1.1 NEGOTIATE_MESSAGE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiate {
    pub flags: NegotiateFlags,
    /// DomainName, OEM bytes (only meaningful with NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED).
    pub domain: Vec<u8>,
    /// Workstation, OEM bytes (only with NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED).
    pub workstation: Vec<u8>,
    /// Present iff NTLMSSP_NEGOTIATE_VERSION is set and the header has room for it.
    pub version: Option<Version>,
}

impl Negotiate {
    /// The flags of a current client: Unicode, request target, sign, seal, NTLM, always sign,
    /// extended session security, version, 128-bit, key exchange, 56-bit (0xE2088235; FreeRDP
    /// 2 sends the same set, Windows adds OEM).
    pub const CLIENT_FLAGS: NegotiateFlags = NegotiateFlags(
        NegotiateFlags::UNICODE.0
            | NegotiateFlags::REQUEST_TARGET.0
            | NegotiateFlags::SIGN.0
            | NegotiateFlags::SEAL.0
            | NegotiateFlags::NTLM.0
            | NegotiateFlags::ALWAYS_SIGN.0
            | NegotiateFlags::EXTENDED_SESSIONSECURITY.0
            | NegotiateFlags::VERSION.0
            | NegotiateFlags::NEGOTIATE_128.0
            | NegotiateFlags::KEY_EXCH.0
            | NegotiateFlags::NEGOTIATE_56.0,
    );

    /// A NEGOTIATE as a modern client sends it (no domain or workstation, version 10.0).
    pub fn modern_client() -> Negotiate {
        Negotiate {
            flags: Negotiate::CLIENT_FLAGS,
            domain: Vec::new(),
            workstation: Vec::new(),
            version: Some(Version::WINDOWS_10),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut b = Builder::new(MESSAGE_NEGOTIATE);
        b.out.extend_from_slice(&self.flags.0.to_le_bytes());
        let domain = b.field();
        let ws = b.field();
        if let Some(v) = self.version {
            v.encode(&mut b.out);
        }
        b.payload(domain, &self.domain);
        b.payload(ws, &self.workstation);
        b.out
    }

    pub fn decode(data: &[u8]) -> Result<Negotiate, DecodeError> {
        let mut c = Cursor::new(data);
        check_header(&mut c, data.len(), MESSAGE_NEGOTIATE, "NEGOTIATE_MESSAGE")?;
        let flags = NegotiateFlags(c.u32_le("NEGOTIATE NegotiateFlags")?);
        // Very old clients stop after the flags (16-byte messages).
        let (dfield, wfield) = if c.remaining() >= 16 {
            (
                Field::read(&mut c, "NEGOTIATE DomainNameFields")?,
                Field::read(&mut c, "NEGOTIATE WorkstationFields")?,
            )
        } else {
            (Field { len: 0, offset: 0 }, Field { len: 0, offset: 0 })
        };
        let room = header_room(data.len(), &[dfield, wfield]);
        let version = if flags.contains(NegotiateFlags::VERSION) && room >= 40 {
            Some(Version::decode(&mut c)?)
        } else {
            None
        };
        Ok(Negotiate {
            flags,
            domain: dfield.slice(data, "NEGOTIATE DomainName")?.to_vec(),
            workstation: wfield.slice(data, "NEGOTIATE Workstation")?.to_vec(),
            version,
        })
    }
}

/// [MS-NLMP] 2.2.1.2 CHALLENGE_MESSAGE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub flags: NegotiateFlags,
    /// TargetName (the server's NetBIOS domain or computer name), decoded per the UNICODE flag.
    pub target_name: String,
    pub server_challenge: [u8; 8],
    /// TargetInfo, without its MsvAvEOL.
    pub target_info: Vec<AvPair>,
    /// Present iff NTLMSSP_NEGOTIATE_VERSION is set and the header has room for it.
    pub version: Option<Version>,
}

impl Challenge {
    pub fn encode(&self) -> Vec<u8> {
        let unicode = self.flags.contains(NegotiateFlags::UNICODE);
        let mut b = Builder::new(MESSAGE_CHALLENGE);
        let name = b.field();
        b.out.extend_from_slice(&self.flags.0.to_le_bytes());
        b.out.extend_from_slice(&self.server_challenge);
        b.out.extend_from_slice(&[0; 8]);
        let info = b.field();
        if let Some(v) = self.version {
            v.encode(&mut b.out);
        }
        b.payload(name, &encode_string(unicode, &self.target_name));
        b.payload(info, &encode_av_pairs(&self.target_info));
        b.out
    }

    pub fn decode(data: &[u8]) -> Result<Challenge, DecodeError> {
        let mut c = Cursor::new(data);
        check_header(&mut c, data.len(), MESSAGE_CHALLENGE, "CHALLENGE_MESSAGE")?;
        let name_f = Field::read(&mut c, "CHALLENGE TargetNameFields")?;
        let flags = NegotiateFlags(c.u32_le("CHALLENGE NegotiateFlags")?);
        let server_challenge = c.array::<8>("CHALLENGE ServerChallenge")?;
        // NTLMv1-era servers end the message here (32 bytes, no target info).
        let mut fields = vec![name_f];
        let info_f = if header_room(data.len(), &fields) >= 48 {
            c.skip(8, "CHALLENGE Reserved")?;
            let f = Field::read(&mut c, "CHALLENGE TargetInfoFields")?;
            fields.push(f);
            Some(f)
        } else {
            None
        };
        let version = if flags.contains(NegotiateFlags::VERSION)
            && info_f.is_some()
            && header_room(data.len(), &fields) >= 56
        {
            Some(Version::decode(&mut c)?)
        } else {
            None
        };
        let unicode = flags.contains(NegotiateFlags::UNICODE);
        let target_name = decode_string(unicode, name_f.slice(data, "CHALLENGE TargetName")?);
        let target_info = match info_f {
            Some(f) => decode_av_pairs(f.slice(data, "CHALLENGE TargetInfo")?)?,
            None => Vec::new(),
        };
        Ok(Challenge {
            flags,
            target_name,
            server_challenge,
            target_info,
            version,
        })
    }

    /// MsvAvTimestamp, the server's clock as FILETIME.
    pub fn timestamp(&self) -> Option<u64> {
        find_timestamp(&self.target_info)
    }

    /// The first string of a given kind, e.g. `challenge.av_string(av_id::DNS_COMPUTER_NAME)`.
    pub fn av_string(&self, id: u16) -> Option<&str> {
        self.target_info.iter().find_map(|p| match p {
            AvPair::NbComputerName(s)
            | AvPair::NbDomainName(s)
            | AvPair::DnsComputerName(s)
            | AvPair::DnsDomainName(s)
            | AvPair::DnsTreeName(s)
            | AvPair::TargetName(s)
                if p.id() == id =>
            {
                Some(s.as_str())
            }
            _ => None,
        })
    }
}

pub(crate) fn find_timestamp(pairs: &[AvPair]) -> Option<u64> {
    pairs.iter().find_map(|p| match p {
        AvPair::Timestamp(t) => Some(*t),
        _ => None,
    })
}

pub(crate) fn find_av_flags(pairs: &[AvPair]) -> Option<u32> {
    pairs.iter().find_map(|p| match p {
        AvPair::Flags(f) => Some(*f),
        _ => None,
    })
}

/// [MS-NLMP] 2.2.1.3 AUTHENTICATE_MESSAGE.
#[derive(Clone, PartialEq, Eq)]
pub struct Authenticate {
    pub flags: NegotiateFlags,
    pub lm_response: Vec<u8>,
    /// NtChallengeResponse: 24 bytes for NTLMv1, an NTLMv2_RESPONSE otherwise.
    pub nt_response: Vec<u8>,
    pub domain: String,
    pub user: String,
    pub workstation: String,
    /// EncryptedRandomSessionKey (16 bytes with NTLMSSP_NEGOTIATE_KEY_EXCH, else empty).
    pub encrypted_session_key: Vec<u8>,
    /// Present iff NTLMSSP_NEGOTIATE_VERSION is set and the header has room for it.
    pub version: Option<Version>,
    /// Present iff the header has room for it (payload starts at or after offset 88).
    pub mic: Option<[u8; 16]>,
}

/// The response and session key fields are not secrets by themselves, but they are material for
/// offline password guessing: Debug shows only their lengths.
impl fmt::Debug for Authenticate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticate")
            .field("flags", &self.flags)
            .field("lm_response_len", &self.lm_response.len())
            .field("nt_response_len", &self.nt_response.len())
            .field("domain", &self.domain)
            .field("user", &self.user)
            .field("workstation", &self.workstation)
            .field(
                "encrypted_session_key_len",
                &self.encrypted_session_key.len(),
            )
            .field("version", &self.version)
            .field("mic_present", &self.mic.is_some())
            .finish()
    }
}

impl Authenticate {
    /// Encodes the message; the payload order is domain, user, workstation, LM, NT, session
    /// key (as Windows and the [MS-NLMP] 4.2.4.3 example lay it out). The MIC, if any, is
    /// written as given; [`Authenticate::encode`] with `mic: Some([0; 16])` gives the bytes the
    /// MIC is computed over.
    pub fn encode(&self) -> Vec<u8> {
        let unicode = self.flags.contains(NegotiateFlags::UNICODE);
        let mut b = Builder::new(MESSAGE_AUTHENTICATE);
        let lm = b.field();
        let nt = b.field();
        let dom = b.field();
        let user = b.field();
        let ws = b.field();
        let key = b.field();
        b.out.extend_from_slice(&self.flags.0.to_le_bytes());
        if self.version.is_some() || self.mic.is_some() {
            match self.version {
                Some(v) => v.encode(&mut b.out),
                None => b.out.extend_from_slice(&[0; 8]),
            }
        }
        if let Some(mic) = self.mic {
            b.out.extend_from_slice(&mic);
        }
        b.payload(dom, &encode_string(unicode, &self.domain));
        b.payload(user, &encode_string(unicode, &self.user));
        b.payload(ws, &encode_string(unicode, &self.workstation));
        b.payload(lm, &self.lm_response);
        b.payload(nt, &self.nt_response);
        b.payload(key, &self.encrypted_session_key);
        b.out
    }

    pub fn decode(data: &[u8]) -> Result<Authenticate, DecodeError> {
        let mut c = Cursor::new(data);
        check_header(
            &mut c,
            data.len(),
            MESSAGE_AUTHENTICATE,
            "AUTHENTICATE_MESSAGE",
        )?;
        let lm = Field::read(&mut c, "AUTHENTICATE LmChallengeResponseFields")?;
        let nt = Field::read(&mut c, "AUTHENTICATE NtChallengeResponseFields")?;
        let dom = Field::read(&mut c, "AUTHENTICATE DomainNameFields")?;
        let user = Field::read(&mut c, "AUTHENTICATE UserNameFields")?;
        let ws = Field::read(&mut c, "AUTHENTICATE WorkstationFields")?;
        let key = Field::read(&mut c, "AUTHENTICATE EncryptedRandomSessionKeyFields")?;
        let flags = NegotiateFlags(c.u32_le("AUTHENTICATE NegotiateFlags")?);
        let room = header_room(data.len(), &[lm, nt, dom, user, ws, key]);
        let version = if room >= AUTHENTICATE_MIC_OFFSET {
            let v = Version::decode(&mut c)?;
            flags.contains(NegotiateFlags::VERSION).then_some(v)
        } else {
            None
        };
        let mic = if room >= AUTHENTICATE_HEADER_WITH_MIC {
            Some(c.array::<16>("AUTHENTICATE MIC")?)
        } else {
            None
        };
        let unicode = flags.contains(NegotiateFlags::UNICODE);
        Ok(Authenticate {
            flags,
            lm_response: lm.slice(data, "AUTHENTICATE LmChallengeResponse")?.to_vec(),
            nt_response: nt.slice(data, "AUTHENTICATE NtChallengeResponse")?.to_vec(),
            domain: decode_string(unicode, dom.slice(data, "AUTHENTICATE DomainName")?),
            user: decode_string(unicode, user.slice(data, "AUTHENTICATE UserName")?),
            workstation: decode_string(unicode, ws.slice(data, "AUTHENTICATE Workstation")?),
            encrypted_session_key: key
                .slice(data, "AUTHENTICATE EncryptedRandomSessionKey")?
                .to_vec(),
            version,
            mic,
        })
    }

    /// The NTLMv2 response inside `nt_response`, if it is one.
    pub fn ntlmv2_response(&self) -> Result<NtlmV2Response, DecodeError> {
        NtlmV2Response::decode(&self.nt_response)
    }
}

/// [MS-NLMP] 2.2.2.8 NTLMv2_RESPONSE with its 2.2.2.7 NTLMv2_CLIENT_CHALLENGE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NtlmV2Response {
    pub nt_proof_str: [u8; 16],
    pub resp_type: u8,
    pub hi_resp_type: u8,
    /// The client's FILETIME (copied from the server's MsvAvTimestamp by current clients).
    pub timestamp: u64,
    pub client_challenge: [u8; 8],
    /// The client's copy of the target info, with what it added (MsvAvFlags, channel bindings,
    /// target name).
    pub av_pairs: Vec<AvPair>,
}

impl NtlmV2Response {
    pub fn decode(nt_response: &[u8]) -> Result<NtlmV2Response, DecodeError> {
        let mut c = Cursor::new(nt_response);
        let nt_proof_str = c.array::<16>("NTLMv2_RESPONSE Response")?;
        let resp_type = c.u8("NTLMv2_CLIENT_CHALLENGE RespType")?;
        let hi_resp_type = c.u8("NTLMv2_CLIENT_CHALLENGE HiRespType")?;
        c.skip(6, "NTLMv2_CLIENT_CHALLENGE Reserved")?;
        let timestamp = c.u64_le("NTLMv2_CLIENT_CHALLENGE TimeStamp")?;
        let client_challenge = c.array::<8>("NTLMv2_CLIENT_CHALLENGE ChallengeFromClient")?;
        c.skip(4, "NTLMv2_CLIENT_CHALLENGE Reserved3")?;
        let av_pairs = decode_av_pairs(c.rest())?;
        Ok(NtlmV2Response {
            nt_proof_str,
            resp_type,
            hi_resp_type,
            timestamp,
            client_challenge,
            av_pairs,
        })
    }
}

/// Fuzz oracle for [`Challenge::decode`]: never panics; a decoded value re-encodes to bytes
/// that decode to the same value.
pub fn fuzz_challenge(data: &[u8]) {
    if let Ok(v) = Challenge::decode(data) {
        let again = Challenge::decode(&v.encode());
        assert_eq!(again.as_ref(), Ok(&v), "CHALLENGE round trip");
    }
    let _ = Negotiate::decode(data).map(|v| {
        assert_eq!(
            Negotiate::decode(&v.encode()).as_ref(),
            Ok(&v),
            "NEGOTIATE round trip"
        );
    });
}

/// Fuzz oracle for [`Authenticate::decode`] and the NTLMv2 response inside it.
pub fn fuzz_authenticate(data: &[u8]) {
    if let Ok(v) = Authenticate::decode(data) {
        let again = Authenticate::decode(&v.encode());
        assert_eq!(again.as_ref(), Ok(&v), "AUTHENTICATE round trip");
        let _ = v.ntlmv2_response();
    }
    let _ = NtlmV2Response::decode(data);
}
