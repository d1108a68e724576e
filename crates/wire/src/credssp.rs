//! CredSSP ([MS-CSSP]): the TSRequest envelope (2.2.1), TSCredentials / TSPasswordCreds
//! (2.2.1.2, 2.2.1.2.1), the public-key binding of 3.1.5 and the errorCode values servers put
//! in a TSRequest.
//!
//! ```text
//! TSRequest ::= SEQUENCE {
//!     version     [0] INTEGER,
//!     negoTokens  [1] NegoData OPTIONAL,        -- SEQUENCE OF SEQUENCE { negoToken [0] OCTET STRING }
//!     authInfo    [2] OCTET STRING OPTIONAL,
//!     pubKeyAuth  [3] OCTET STRING OPTIONAL,
//!     errorCode   [4] INTEGER OPTIONAL,         -- version >= 3
//!     clientNonce [5] OCTET STRING OPTIONAL }   -- version >= 5, 32 bytes
//! ```
//!
//! Versions 5 and 6 carry the CVE-2018-0886 fix: pubKeyAuth becomes SHA-256 over a magic
//! string, the client nonce and the server's SubjectPublicKey instead of the key itself.

use crate::asn1::{self, context, TAG_INTEGER, TAG_OCTET_STRING, TAG_SEQUENCE};
use crate::cursor::Cursor;
use crate::ntlm::{utf16le, SessionSecurity, UnsealError};
use crate::DecodeError;
use sha2::{Digest, Sha256};
use std::fmt;
use zeroize::Zeroizing;

/// The TSRequest version this implementation speaks (the newest, as FreeRDP and Windows 10+).
pub const VERSION_CURRENT: u32 = 6;
/// A TSRequest larger than this is refused (real ones are a few KiB).
pub const MAX_TS_REQUEST_LEN: usize = 64 * 1024;
/// At most this many negoTokens are decoded (peers send one).
pub const MAX_NEGO_TOKENS: usize = 16;
/// Length of clientNonce.
pub const NONCE_LEN: usize = 32;

/// [MS-CSSP] 2.2.1 TSRequest. `error_code` is kept raw: an NTSTATUS (0xC000006D) or an
/// HRESULT (0x80090302) is a negative INTEGER on the wire and decodes to the same u32.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TsRequest {
    pub version: u32,
    pub nego_tokens: Vec<Vec<u8>>,
    pub auth_info: Option<Vec<u8>>,
    pub pub_key_auth: Option<Vec<u8>>,
    pub error_code: Option<u32>,
    pub client_nonce: Option<[u8; NONCE_LEN]>,
}

impl TsRequest {
    /// A TSRequest carrying one NTLM token.
    pub fn with_token(version: u32, token: Vec<u8>) -> TsRequest {
        TsRequest {
            version,
            nego_tokens: vec![token],
            ..TsRequest::default()
        }
    }

    /// DER encoding of exactly the fields present (a server or a fault-injecting lab can emit
    /// any combination, e.g. version 3 with errorCode). Use [`TsRequest::adapted_to_peer`]
    /// first for the interoperable subset.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        let mut v = Vec::new();
        asn1::write_integer(&mut v, i64::from(self.version));
        asn1::write_explicit(&mut body, 0, &v);
        if !self.nego_tokens.is_empty() {
            let mut seq_of = Vec::new();
            for t in &self.nego_tokens {
                let mut os = Vec::new();
                asn1::write_tlv(&mut os, TAG_OCTET_STRING, t);
                let mut tagged = Vec::new();
                asn1::write_explicit(&mut tagged, 0, &os);
                asn1::write_tlv(&mut seq_of, TAG_SEQUENCE, &tagged);
            }
            let mut nego = Vec::new();
            asn1::write_tlv(&mut nego, TAG_SEQUENCE, &seq_of);
            asn1::write_explicit(&mut body, 1, &nego);
        }
        let octets = |body: &mut Vec<u8>, n: u8, data: &[u8]| {
            let mut os = Vec::new();
            asn1::write_tlv(&mut os, TAG_OCTET_STRING, data);
            asn1::write_explicit(body, n, &os);
        };
        if let Some(a) = &self.auth_info {
            octets(&mut body, 2, a);
        }
        if let Some(p) = &self.pub_key_auth {
            octets(&mut body, 3, p);
        }
        if let Some(e) = self.error_code {
            // Windows writes NTSTATUS as a signed 32-bit INTEGER (0xC000006D → 02 04 C0 00 00 6D).
            let mut i = Vec::new();
            asn1::write_integer(&mut i, i64::from(e as i32));
            asn1::write_explicit(&mut body, 4, &i);
        }
        if let Some(n) = &self.client_nonce {
            octets(&mut body, 5, n);
        }
        let mut out = Vec::with_capacity(asn1::tlv_len(body.len()));
        asn1::write_tlv(&mut out, TAG_SEQUENCE, &body);
        out
    }

    /// The message a careful peer sends to a peer of `peer_version`: no errorCode to a peer
    /// below version 3 or of exactly version 5 (sspi-rs and FreeRDP `nla.c` omit it for
    /// version 5, whose Windows parsers choke on it), no clientNonce below version 5.
    pub fn adapted_to_peer(&self, peer_version: u32) -> TsRequest {
        let mut r = self.clone();
        if peer_version < 3 || peer_version == 5 {
            r.error_code = None;
        }
        if peer_version < 5 {
            r.client_nonce = None;
        }
        r
    }

    /// Decodes one TSRequest that fills `data` exactly.
    pub fn decode(data: &[u8]) -> Result<TsRequest, DecodeError> {
        let (req, used) = TsRequest::decode_prefix(data)?;
        if used != data.len() {
            return Err(DecodeError::Invalid {
                what: "TSRequest trailing bytes",
                value: (data.len() - used) as u64,
            });
        }
        Ok(req)
    }

    /// Decodes the TSRequest at the start of `data`; returns it and the bytes it used.
    /// Unknown context fields (`[6]` and up) are skipped; fields may come in any order, but
    /// not twice.
    pub fn decode_prefix(data: &[u8]) -> Result<(TsRequest, usize), DecodeError> {
        let mut c = Cursor::new(data);
        let (tag, hdr, len) = asn1::read_header(&mut c)?;
        if tag != TAG_SEQUENCE {
            return Err(DecodeError::Invalid {
                what: "TSRequest tag",
                value: u64::from(tag),
            });
        }
        if hdr + len > MAX_TS_REQUEST_LEN {
            return Err(DecodeError::TooLarge {
                what: "TSRequest",
                len: hdr + len,
                max: MAX_TS_REQUEST_LEN,
            });
        }
        let body = c.take(len, "TSRequest contents")?;
        let mut b = Cursor::new(body);
        let mut version = None;
        let mut req = TsRequest::default();
        let mut seen = 0u32;
        while !b.is_empty() {
            let field = asn1::read_tlv(&mut b)?;
            let n = field.tag & 0x1F;
            if field.tag & 0xE0 != 0xA0 || n > 5 {
                continue; // not a field this version of the spec defines
            }
            if seen & (1 << n) != 0 {
                return Err(DecodeError::Invalid {
                    what: "TSRequest duplicate field",
                    value: u64::from(n),
                });
            }
            seen |= 1 << n;
            let mut f = Cursor::new(field.contents);
            match n {
                0 => {
                    let v = asn1::read_integer(&mut f, "TSRequest version")?;
                    version = Some(u32::try_from(v).map_err(|_| DecodeError::Invalid {
                        what: "TSRequest version",
                        value: v as u64,
                    })?);
                }
                1 => req.nego_tokens = decode_nego_data(&mut f)?,
                2 => {
                    req.auth_info =
                        Some(asn1::expect(&mut f, TAG_OCTET_STRING, "TSRequest authInfo")?.to_vec())
                }
                3 => {
                    req.pub_key_auth = Some(
                        asn1::expect(&mut f, TAG_OCTET_STRING, "TSRequest pubKeyAuth")?.to_vec(),
                    )
                }
                4 => {
                    let v = asn1::read_integer(&mut f, "TSRequest errorCode")?;
                    req.error_code = Some(integer_to_u32(v)?);
                }
                _ => {
                    let nonce = asn1::expect(&mut f, TAG_OCTET_STRING, "TSRequest clientNonce")?;
                    req.client_nonce = Some(<[u8; NONCE_LEN]>::try_from(nonce).map_err(|_| {
                        DecodeError::Invalid {
                            what: "TSRequest clientNonce length",
                            value: nonce.len() as u64,
                        }
                    })?);
                }
            }
        }
        req.version = version.ok_or(DecodeError::Truncated {
            what: "TSRequest version (missing)",
            needed: 1,
            available: 0,
        })?;
        Ok((req, c.position()))
    }

    /// The NTLM token, if the request carries exactly the first one peers use.
    pub fn first_token(&self) -> Option<&[u8]> {
        self.nego_tokens.first().map(Vec::as_slice)
    }
}

/// An INTEGER as a 32-bit code: negative values are the two's complement of an i32, positive
/// ones must fit a u32.
fn integer_to_u32(v: i64) -> Result<u32, DecodeError> {
    if let Ok(i) = i32::try_from(v) {
        return Ok(i as u32);
    }
    u32::try_from(v).map_err(|_| DecodeError::Invalid {
        what: "TSRequest errorCode",
        value: v as u64,
    })
}

fn decode_nego_data(f: &mut Cursor<'_>) -> Result<Vec<Vec<u8>>, DecodeError> {
    let seq_of = asn1::expect(f, TAG_SEQUENCE, "TSRequest negoTokens")?;
    let mut s = Cursor::new(seq_of);
    let mut out = Vec::new();
    while !s.is_empty() {
        let item = asn1::expect(&mut s, TAG_SEQUENCE, "NegoData item")?;
        if out.len() >= MAX_NEGO_TOKENS {
            return Err(DecodeError::TooLarge {
                what: "TSRequest negoTokens count",
                len: out.len() + 1,
                max: MAX_NEGO_TOKENS,
            });
        }
        let mut i = Cursor::new(item);
        let mut token = None;
        while !i.is_empty() {
            let t = asn1::read_tlv(&mut i)?;
            if t.tag == context(0) && token.is_none() {
                let mut o = Cursor::new(t.contents);
                token = Some(asn1::expect(&mut o, TAG_OCTET_STRING, "negoToken")?.to_vec());
            }
        }
        out.push(token.ok_or(DecodeError::Truncated {
            what: "negoToken (missing)",
            needed: 1,
            available: 0,
        })?);
    }
    Ok(out)
}

/// Whether a stream buffer holds a whole TSRequest yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameStatus {
    /// At least `needed` more bytes are required.
    Incomplete { needed: usize },
    /// The first `len` bytes are one TSRequest.
    Complete { len: usize },
    /// Not a TSRequest (wrong tag, indefinite or oversized length).
    Invalid(DecodeError),
}

/// Tells a stream reader whether `buf` starts with a whole DER TSRequest, capped at
/// [`MAX_TS_REQUEST_LEN`].
pub fn frame_status(buf: &[u8]) -> FrameStatus {
    let Some(&tag) = buf.first() else {
        return FrameStatus::Incomplete { needed: 2 };
    };
    if tag != TAG_SEQUENCE {
        return FrameStatus::Invalid(DecodeError::Invalid {
            what: "TSRequest tag",
            value: u64::from(tag),
        });
    }
    let Some(&first_len) = buf.get(1) else {
        return FrameStatus::Incomplete { needed: 1 };
    };
    let hdr = if first_len < 0x80 {
        2
    } else {
        2 + usize::from(first_len & 0x7F)
    };
    if first_len != 0x80 && first_len & 0x7F <= 4 && buf.len() < hdr {
        return FrameStatus::Incomplete {
            needed: hdr - buf.len(),
        };
    }
    match asn1::read_header(&mut Cursor::new(buf)) {
        Err(e) => FrameStatus::Invalid(e),
        Ok((_, hdr, len)) => {
            let total = hdr + len;
            if total > MAX_TS_REQUEST_LEN {
                FrameStatus::Invalid(DecodeError::TooLarge {
                    what: "TSRequest",
                    len: total,
                    max: MAX_TS_REQUEST_LEN,
                })
            } else if buf.len() >= total {
                FrameStatus::Complete { len: total }
            } else {
                FrameStatus::Incomplete {
                    needed: total - buf.len(),
                }
            }
        }
    }
}

/// The code in TSRequest.errorCode: an NTSTATUS or an SSPI HRESULT. Open: unknown values are
/// reported raw. Names per FreeRDP `winpr/include/winpr/nt.h` and `sspi.h` (docs/rdp-knowledge.md
/// §B5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    pub const STATUS_LOGON_FAILURE: ErrorCode = ErrorCode(0xC000_006D);
    pub const STATUS_WRONG_PASSWORD: ErrorCode = ErrorCode(0xC000_006A);
    pub const STATUS_NO_SUCH_USER: ErrorCode = ErrorCode(0xC000_0064);
    pub const STATUS_ACCOUNT_RESTRICTION: ErrorCode = ErrorCode(0xC000_006E);
    pub const STATUS_PASSWORD_EXPIRED: ErrorCode = ErrorCode(0xC000_0071);
    pub const STATUS_ACCOUNT_DISABLED: ErrorCode = ErrorCode(0xC000_0072);
    pub const STATUS_LOGON_TYPE_NOT_GRANTED: ErrorCode = ErrorCode(0xC000_015B);
    pub const STATUS_ACCOUNT_LOCKED_OUT: ErrorCode = ErrorCode(0xC000_0234);
    pub const STATUS_PASSWORD_MUST_CHANGE: ErrorCode = ErrorCode(0xC000_0224);
    pub const SEC_E_UNSUPPORTED_FUNCTION: ErrorCode = ErrorCode(0x8009_0302);

    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0xC000_006D => "STATUS_LOGON_FAILURE",
            0xC000_006A => "STATUS_WRONG_PASSWORD",
            0xC000_0064 => "STATUS_NO_SUCH_USER",
            0xC000_006E => "STATUS_ACCOUNT_RESTRICTION",
            0xC000_006F => "STATUS_INVALID_LOGON_HOURS",
            0xC000_0070 => "STATUS_INVALID_WORKSTATION",
            0xC000_0071 => "STATUS_PASSWORD_EXPIRED",
            0xC000_0072 => "STATUS_ACCOUNT_DISABLED",
            0xC000_015B => "STATUS_LOGON_TYPE_NOT_GRANTED",
            0xC000_0193 => "STATUS_ACCOUNT_EXPIRED",
            0xC000_0224 => "STATUS_PASSWORD_MUST_CHANGE",
            0xC000_0234 => "STATUS_ACCOUNT_LOCKED_OUT",
            0xC000_0022 => "STATUS_ACCESS_DENIED",
            0xC000_005E => "STATUS_NO_LOGON_SERVERS",
            0xC000_0133 => "STATUS_TIME_DIFFERENCE_AT_DC",
            0xC000_018C => "STATUS_TRUSTED_DOMAIN_FAILURE",
            0xC000_018D => "STATUS_TRUSTED_RELATIONSHIP_FAILURE",
            0xC000_0388 => "STATUS_DOWNGRADE_DETECTED",
            0xC000_0413 => "STATUS_AUTHENTICATION_FIREWALL_FAILED",
            0xC000_035B => "STATUS_BAD_BINDINGS",
            0x8009_0302 => "SEC_E_UNSUPPORTED_FUNCTION",
            0x8009_0303 => "SEC_E_TARGET_UNKNOWN",
            0x8009_0304 => "SEC_E_INTERNAL_ERROR",
            0x8009_0308 => "SEC_E_INVALID_TOKEN",
            0x8009_030C => "SEC_E_LOGON_DENIED",
            0x8009_030D => "SEC_E_UNKNOWN_CREDENTIALS",
            0x8009_030E => "SEC_E_NO_CREDENTIALS",
            0x8009_030F => "SEC_E_MESSAGE_ALTERED",
            0x8009_0311 => "SEC_E_NO_AUTHENTICATING_AUTHORITY",
            0x8009_0322 => "SEC_E_WRONG_PRINCIPAL",
            0x8009_0324 => "SEC_E_TIME_SKEW",
            0x8009_0346 => "SEC_E_BAD_BINDINGS",
            0x8009_0350 => "SEC_E_DOWNGRADE_DETECTED",
            _ => return None,
        })
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "0x{:08X} ({n})", self.0),
            None => write!(f, "0x{:08X}", self.0),
        }
    }
}

/// [MS-CSSP] 2.2.1.2 TSCredentials.credType for TSPasswordCreds.
pub const CRED_TYPE_PASSWORD: i64 = 1;

/// The credentials a client delegates ([MS-CSSP] 2.2.1.2.1 TSPasswordCreds), borrowed for the
/// moment of encoding. `Debug` redacts the password.
#[derive(Clone, Copy)]
pub struct TsPasswordCreds<'a> {
    pub domain: &'a str,
    pub user: &'a str,
    pub password: &'a str,
}

impl fmt::Debug for TsPasswordCreds<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsPasswordCreds")
            .field("domain", &self.domain)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

fn header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    asn1::write_len(out, len);
}

impl TsPasswordCreds<'_> {
    /// DER of `TSCredentials { credType 1, credentials OCTET STRING (TSPasswordCreds) }`, with
    /// strings in UTF-16LE. The buffer is sized exactly up front (no reallocation leaves a copy
    /// behind) and zeroized on drop, as is every intermediate.
    pub fn encode_ts_credentials(&self) -> Zeroizing<Vec<u8>> {
        let domain = Zeroizing::new(utf16le(self.domain));
        let user = Zeroizing::new(utf16le(self.user));
        let password = Zeroizing::new(utf16le(self.password));
        let os = |n: usize| asn1::tlv_len(n);
        let fields = [domain.as_slice(), user.as_slice(), password.as_slice()];
        let pw_body: usize = fields.iter().map(|f| asn1::tlv_len(os(f.len()))).sum();
        let pw_seq = asn1::tlv_len(pw_body);
        let cred_type = asn1::tlv_len(3); // [0] { 02 01 01 }
        let credentials = asn1::tlv_len(os(pw_seq));
        let outer_body = cred_type + credentials;
        let mut out = Zeroizing::new(Vec::with_capacity(asn1::tlv_len(outer_body)));
        header(&mut out, TAG_SEQUENCE, outer_body);
        header(&mut out, context(0), 3);
        out.extend_from_slice(&[TAG_INTEGER, 0x01, CRED_TYPE_PASSWORD as u8]);
        header(&mut out, context(1), os(pw_seq));
        header(&mut out, TAG_OCTET_STRING, pw_seq);
        header(&mut out, TAG_SEQUENCE, pw_body);
        for (n, f) in fields.iter().enumerate() {
            header(&mut out, context(n as u8), os(f.len()));
            header(&mut out, TAG_OCTET_STRING, f.len());
            out.extend_from_slice(f);
        }
        out
    }
}

/// Password credentials a server received. `Debug` redacts the password; it is zeroized on
/// drop.
#[derive(Clone, PartialEq, Eq)]
pub struct ReceivedPasswordCreds {
    pub domain: String,
    pub user: String,
    pub password: Zeroizing<String>,
}

impl fmt::Debug for ReceivedPasswordCreds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceivedPasswordCreds")
            .field("domain", &self.domain)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A decoded TSCredentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TsCredentials {
    Password(ReceivedPasswordCreds),
    /// Smart card (2), Remote Credential Guard (6) ...: credentials kept opaque, and zeroized.
    Other {
        cred_type: i64,
        credentials: Zeroizing<Vec<u8>>,
    },
}

/// UTF-16LE to a zeroizing String without reallocation (capacity is reserved for the worst
/// case, 3 UTF-8 bytes per UTF-16 unit).
fn secret_from_utf16le(b: &[u8]) -> Zeroizing<String> {
    let mut s = Zeroizing::new(String::with_capacity(b.len() / 2 * 3));
    let units = b.chunks_exact(2).map(|p| {
        u16::from_le_bytes([
            p.first().copied().unwrap_or(0),
            p.get(1).copied().unwrap_or(0),
        ])
    });
    for ch in char::decode_utf16(units) {
        s.push(ch.unwrap_or(char::REPLACEMENT_CHARACTER));
    }
    s
}

impl TsCredentials {
    /// Decodes TSCredentials (after [`SessionSecurity::unseal`] of authInfo).
    pub fn decode(data: &[u8]) -> Result<TsCredentials, DecodeError> {
        let mut c = Cursor::new(data);
        let body = asn1::expect(&mut c, TAG_SEQUENCE, "TSCredentials")?;
        let mut b = Cursor::new(body);
        let ct = asn1::expect(&mut b, context(0), "TSCredentials credType")?;
        let cred_type = asn1::read_integer(&mut Cursor::new(ct), "TSCredentials credType")?;
        let cr = asn1::expect(&mut b, context(1), "TSCredentials credentials")?;
        let creds = asn1::expect(
            &mut Cursor::new(cr),
            TAG_OCTET_STRING,
            "TSCredentials credentials",
        )?;
        if cred_type != CRED_TYPE_PASSWORD {
            return Ok(TsCredentials::Other {
                cred_type,
                credentials: Zeroizing::new(creds.to_vec()),
            });
        }
        let pw = asn1::expect(&mut Cursor::new(creds), TAG_SEQUENCE, "TSPasswordCreds")?;
        let mut p = Cursor::new(pw);
        let mut field = |n: u8, what: &'static str| -> Result<&[u8], DecodeError> {
            let inner = asn1::expect(&mut p, context(n), what)?;
            asn1::expect(&mut Cursor::new(inner), TAG_OCTET_STRING, what)
        };
        let domain = field(0, "TSPasswordCreds domainName")?;
        let user = field(1, "TSPasswordCreds userName")?;
        let password = field(2, "TSPasswordCreds password")?;
        Ok(TsCredentials::Password(ReceivedPasswordCreds {
            domain: crate::ntlm::from_utf16le(domain),
            user: crate::ntlm::from_utf16le(user),
            password: secret_from_utf16le(password),
        }))
    }
}

/// "CredSSP Client-To-Server Binding Hash\0" ([MS-CSSP] 3.1.5, version 5+).
pub const CLIENT_SERVER_HASH_MAGIC: &[u8] = b"CredSSP Client-To-Server Binding Hash\0";
/// "CredSSP Server-To-Client Binding Hash\0".
pub const SERVER_CLIENT_HASH_MAGIC: &[u8] = b"CredSSP Server-To-Client Binding Hash\0";

/// SHA-256(magic + nonce + SubjectPublicKey).
pub fn binding_hash(magic: &[u8], nonce: &[u8; NONCE_LEN], public_key: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(magic);
    h.update(nonce);
    h.update(public_key);
    h.finalize().into()
}

/// The confidentiality service CredSSP's pubKeyAuth and authInfo ride on ([MS-CSSP] 3.1.5:
/// "the SPNEGO confidentiality services"): NTLM sealing ([`SessionSecurity`]) or a Kerberos
/// RFC 4121 Wrap ([`crate::kerberos::gss::InitiatorContext`]). The binding logic is the same
/// for both.
pub trait Seal {
    fn seal(&mut self, msg: &[u8]) -> Vec<u8>;
    fn unseal(&mut self, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError>;
}

/// Why a sealed blob was refused, by package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealError {
    Ntlm(UnsealError),
    Kerberos(crate::kerberos::gss::WrapError),
}

impl fmt::Display for SealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SealError::Ntlm(e) => write!(f, "{e}"),
            SealError::Kerberos(e) => write!(f, "{e}"),
        }
    }
}

impl Seal for SessionSecurity {
    fn seal(&mut self, msg: &[u8]) -> Vec<u8> {
        SessionSecurity::seal(self, msg)
    }

    fn unseal(&mut self, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        SessionSecurity::unseal(self, blob).map_err(SealError::Ntlm)
    }
}

/// Why a pubKeyAuth or authInfo was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PubKeyAuthError {
    /// The sealed blob does not verify (wrong session keys).
    Unseal(SealError),
    /// It verifies but binds a different public key: a TLS man in the middle, or a peer that
    /// computed the other version's binding.
    Mismatch,
    /// Version 5+ without a clientNonce.
    MissingNonce,
    /// authInfo does not decode as TSCredentials.
    Malformed(DecodeError),
}

impl fmt::Display for PubKeyAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PubKeyAuthError::Unseal(e) => write!(f, "cannot unseal: {e}"),
            PubKeyAuthError::Mismatch => f.write_str("public key binding does not match"),
            PubKeyAuthError::MissingNonce => f.write_str("version 5+ without clientNonce"),
            PubKeyAuthError::Malformed(e) => write!(f, "malformed TSCredentials: {e}"),
        }
    }
}

impl std::error::Error for PubKeyAuthError {}

/// What the client binds for `version` ([MS-CSSP] 3.1.5): the hash for 5+, the raw key below.
fn client_binding(version: u32, nonce: &[u8; NONCE_LEN], public_key: &[u8]) -> Vec<u8> {
    if version >= 5 {
        binding_hash(CLIENT_SERVER_HASH_MAGIC, nonce, public_key).to_vec()
    } else {
        public_key.to_vec()
    }
}

/// What the server answers for `version`: the server-to-client hash for 5+, the public key
/// with its first byte incremented for 2-4.
fn server_binding(version: u32, nonce: &[u8; NONCE_LEN], public_key: &[u8]) -> Vec<u8> {
    if version >= 5 {
        binding_hash(SERVER_CLIENT_HASH_MAGIC, nonce, public_key).to_vec()
    } else {
        let mut k = public_key.to_vec();
        if let Some(b) = k.first_mut() {
            *b = b.wrapping_add(1);
        }
        k
    }
}

/// The client's pubKeyAuth: the sealed binding of the server's SubjectPublicKey (the BIT STRING
/// contents of the certificate's SubjectPublicKeyInfo, e.g. the DER RSAPublicKey). `version` is
/// the version both sides use, min(own, server's); `nonce` is the clientNonce sent in the same
/// TSRequest (ignored below 5).
pub fn client_pub_key_auth(
    session: &mut impl Seal,
    version: u32,
    nonce: &[u8; NONCE_LEN],
    server_public_key: &[u8],
) -> Vec<u8> {
    session.seal(&client_binding(version, nonce, server_public_key))
}

/// Checks the server's pubKeyAuth reply against the public key the client saw.
pub fn verify_server_pub_key_auth(
    session: &mut impl Seal,
    version: u32,
    nonce: &[u8; NONCE_LEN],
    server_public_key: &[u8],
    pub_key_auth: &[u8],
) -> Result<(), PubKeyAuthError> {
    let got = session
        .unseal(pub_key_auth)
        .map_err(PubKeyAuthError::Unseal)?;
    let want = server_binding(version, nonce, server_public_key);
    if crate::ntlm::ct_eq(&got, &want) {
        Ok(())
    } else {
        Err(PubKeyAuthError::Mismatch)
    }
}

/// Server side: checks the client's pubKeyAuth against the server's own public key. `version`
/// and `nonce` are those of the client's TSRequest.
pub fn verify_client_pub_key_auth(
    session: &mut impl Seal,
    version: u32,
    nonce: Option<&[u8; NONCE_LEN]>,
    own_public_key: &[u8],
    pub_key_auth: &[u8],
) -> Result<(), PubKeyAuthError> {
    let got = session
        .unseal(pub_key_auth)
        .map_err(PubKeyAuthError::Unseal)?;
    let want = if version >= 5 {
        client_binding(
            version,
            nonce.ok_or(PubKeyAuthError::MissingNonce)?,
            own_public_key,
        )
    } else {
        own_public_key.to_vec()
    };
    if crate::ntlm::ct_eq(&got, &want) {
        Ok(())
    } else {
        Err(PubKeyAuthError::Mismatch)
    }
}

/// Server side: the pubKeyAuth answer (its own sealing sequence number 0).
pub fn server_pub_key_auth(
    session: &mut impl Seal,
    version: u32,
    nonce: Option<&[u8; NONCE_LEN]>,
    own_public_key: &[u8],
) -> Vec<u8> {
    let zero = [0u8; NONCE_LEN];
    session.seal(&server_binding(
        version,
        nonce.unwrap_or(&zero),
        own_public_key,
    ))
}

/// The client's authInfo: sealed TSCredentials.
pub fn client_auth_info(session: &mut impl Seal, creds: &TsPasswordCreds<'_>) -> Vec<u8> {
    let plain = creds.encode_ts_credentials();
    session.seal(&plain)
}

/// Server side: unseals and decodes authInfo.
pub fn server_read_auth_info(
    session: &mut impl Seal,
    auth_info: &[u8],
) -> Result<TsCredentials, PubKeyAuthError> {
    let plain = session.unseal(auth_info).map_err(PubKeyAuthError::Unseal)?;
    TsCredentials::decode(&plain).map_err(PubKeyAuthError::Malformed)
}

/// The Early User Authorization Result PDU ([MS-RDPBCGR] 2.2.10.2): 4 bytes, little-endian,
/// sent by the server over TLS after CredSSP when PROTOCOL_HYBRID_EX was selected. Open: an
/// unknown value is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EarlyUserAuthResult(pub u32);

impl EarlyUserAuthResult {
    pub const AUTHZ_SUCCESS: EarlyUserAuthResult = EarlyUserAuthResult(0x0000_0000);
    /// The user may not log on remotely (no "Allow log on through Remote Desktop Services").
    pub const AUTHZ_ACCESS_DENIED: EarlyUserAuthResult = EarlyUserAuthResult(0x0000_0005);
    pub const LEN: usize = 4;

    pub fn encode(self) -> [u8; 4] {
        self.0.to_le_bytes()
    }

    /// Decodes the first four bytes of `data`.
    pub fn decode(data: &[u8]) -> Result<EarlyUserAuthResult, DecodeError> {
        Ok(EarlyUserAuthResult(
            Cursor::new(data).u32_le("Early User Authorization Result")?,
        ))
    }

    pub fn name(self) -> Option<&'static str> {
        match self.0 {
            0 => Some("AUTHZ_SUCCESS"),
            5 => Some("AUTHZ_ACCESS_DENIED"),
            _ => None,
        }
    }
}

/// Fuzz oracle: [`TsRequest::decode`] never panics; a decoded request re-encodes to bytes that
/// decode to the same value, and [`frame_status`] agrees that the input is one whole frame.
pub fn fuzz_ts_request(data: &[u8]) {
    let status = frame_status(data);
    if let Ok(v) = TsRequest::decode(data) {
        assert_eq!(
            status,
            FrameStatus::Complete { len: data.len() },
            "frame status"
        );
        let again = TsRequest::decode(&v.encode());
        assert_eq!(again.as_ref(), Ok(&v), "TSRequest round trip");
    }
    let _ = TsCredentials::decode(data);
}
