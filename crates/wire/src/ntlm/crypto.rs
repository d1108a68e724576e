//! NTLMv2 cryptography ([MS-NLMP] 3.3.2, 3.4, 3.1.5.1.2) as pure functions: the caller passes
//! in every random value (client challenge, exported session key) and the time.
//!
//! Secrets (NT hash, response key, session keys, RC4 state) live in types whose `Debug` prints
//! `<redacted>` and whose memory is zeroized on drop.

use super::flags::NegotiateFlags;
use super::messages::{
    av_flags, encode_av_pairs, find_av_flags, utf16le, Authenticate, AvPair, Challenge, Negotiate,
    NtlmV2Response, Version, AUTHENTICATE_HEADER_WITH_MIC, AUTHENTICATE_MIC_OFFSET,
};
use crate::DecodeError;
use hmac::digest::generic_array::GenericArray;
use hmac::{Hmac, Mac};
use md4::{Digest, Md4};
use md5::Md5;
use rc4::consts::U16;
use rc4::{KeyInit, Rc4, StreamCipher};
use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// A 16-byte secret: an NT hash, an NTOWFv2 response key, a session or derived key.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Key16([u8; 16]);

impl Key16 {
    pub fn from_bytes(b: [u8; 16]) -> Key16 {
        Key16(b)
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Parses 32 hex digits (the NThash column of a FreeRDP SAM file).
    pub fn from_hex(s: &str) -> Option<Key16> {
        let s = s.trim().as_bytes();
        if s.len() != 32 {
            return None;
        }
        let mut out = [0u8; 16];
        for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
            let hi = hex_digit(*pair.first()?)?;
            let lo = hex_digit(*pair.get(1)?)?;
            *o = hi << 4 | lo;
        }
        Some(Key16(out))
    }

    /// Constant-time comparison.
    pub fn ct_eq(&self, other: &Key16) -> bool {
        ct_eq(&self.0, &other.0)
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Debug for Key16 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key16(<redacted>)")
    }
}

/// Compares two byte strings without an early exit on the first difference.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// HMAC_MD5 ([MS-NLMP] 6, RFC 2104) over the concatenation of `parts`.
pub fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    // RFC 2104 2: a key longer than the block is hashed first; a shorter one is padded with
    // zeros to the block size (64 for MD5), which is exactly what `KeyInit::new` takes.
    let mut block = Zeroizing::new([0u8; 64]);
    let hashed;
    let key = if key.len() > 64 {
        hashed = Md5::digest(key);
        hashed.as_slice()
    } else {
        key
    };
    for (dst, src) in block.iter_mut().zip(key) {
        *dst = *src;
    }
    let mut mac = <Hmac<Md5> as KeyInit>::new(GenericArray::from_slice(block.as_slice()));
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// RC4K ([MS-NLMP] 6): one-shot RC4 with a fresh key.
pub fn rc4k(key: &Key16, data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    let mut c = Rc4::<U16>::new(&GenericArray::from(*key.as_bytes()));
    c.apply_keystream(&mut out);
    out
}

/// The NT hash: MD4 of the UTF-16LE password ([MS-NLMP] 3.3.1 NTOWFv1, also the input of
/// NTOWFv2).
pub fn nt_hash(password: &str) -> Key16 {
    let bytes = Zeroizing::new(utf16le(password));
    Key16(Md4::digest(bytes.as_slice()).into())
}

/// NTOWFv2 ([MS-NLMP] 3.3.2): HMAC_MD5(NT hash, UNICODE(Uppercase(User) + UserDom)). The user
/// name is case-insensitive, the domain is not.
pub fn ntowfv2(nt_hash: &Key16, user: &str, domain: &str) -> Key16 {
    let mut ud = user.to_uppercase();
    ud.push_str(domain);
    Key16(hmac_md5(nt_hash.as_bytes(), &[&utf16le(&ud)]))
}

/// The NTLMv2_CLIENT_CHALLENGE (`temp` in [MS-NLMP] 3.3.2): Responserversion 1,
/// HiResponserversion 1, Z(6), Time, ClientChallenge, Z(4), ServerName (an AV_PAIR list with
/// its MsvAvEOL), Z(4).
pub fn ntlmv2_client_challenge(
    timestamp: u64,
    client_challenge: &[u8; 8],
    target_info: &[u8],
) -> Vec<u8> {
    let mut t = Vec::with_capacity(32 + target_info.len());
    t.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 0]);
    t.extend_from_slice(&timestamp.to_le_bytes());
    t.extend_from_slice(client_challenge);
    t.extend_from_slice(&[0; 4]);
    t.extend_from_slice(target_info);
    t.extend_from_slice(&[0; 4]);
    t
}

/// NTProofStr = HMAC_MD5(ResponseKeyNT, ServerChallenge + temp) and
/// SessionBaseKey = HMAC_MD5(ResponseKeyNT, NTProofStr) ([MS-NLMP] 3.3.2).
pub fn ntlmv2_proof(
    response_key_nt: &Key16,
    server_challenge: &[u8; 8],
    temp: &[u8],
) -> ([u8; 16], Key16) {
    let proof = hmac_md5(response_key_nt.as_bytes(), &[server_challenge, temp]);
    let base = Key16(hmac_md5(response_key_nt.as_bytes(), &[&proof]));
    (proof, base)
}

/// LMv2 response ([MS-NLMP] 3.3.2): HMAC_MD5(ResponseKeyLM, ServerChallenge + ClientChallenge)
/// followed by ClientChallenge. ResponseKeyLM equals ResponseKeyNT in NTLMv2.
pub fn lmv2_response(
    response_key: &Key16,
    server_challenge: &[u8; 8],
    client_challenge: &[u8; 8],
) -> [u8; 24] {
    let h = hmac_md5(
        response_key.as_bytes(),
        &[server_challenge, client_challenge],
    );
    let mut out = [0u8; 24];
    for (o, b) in out.iter_mut().zip(h.iter().chain(client_challenge.iter())) {
        *o = *b;
    }
    out
}

/// Which end of the session a key or a [`SessionSecurity`] belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}

const CLIENT_SIGN_MAGIC: &[u8] = b"session key to client-to-server signing key magic constant\0";
const SERVER_SIGN_MAGIC: &[u8] = b"session key to server-to-client signing key magic constant\0";
const CLIENT_SEAL_MAGIC: &[u8] = b"session key to client-to-server sealing key magic constant\0";
const SERVER_SEAL_MAGIC: &[u8] = b"session key to server-to-client sealing key magic constant\0";

/// SIGNKEY ([MS-NLMP] 3.4.5.2) with extended session security: the key that signs messages
/// *sent by* `sender`.
pub fn sign_key(exported_session_key: &Key16, sender: Role) -> Key16 {
    let magic = match sender {
        Role::Client => CLIENT_SIGN_MAGIC,
        Role::Server => SERVER_SIGN_MAGIC,
    };
    Key16(md5(&[exported_session_key.as_bytes(), magic]))
}

/// SEALKEY ([MS-NLMP] 3.4.5.3) with extended session security: the key that seals messages
/// *sent by* `sender`, weakened to 56 or 40 bits when 128-bit was not negotiated.
pub fn seal_key(exported_session_key: &Key16, flags: NegotiateFlags, sender: Role) -> Key16 {
    let k = exported_session_key.as_bytes();
    let n = if flags.contains(NegotiateFlags::NEGOTIATE_128) {
        16
    } else if flags.contains(NegotiateFlags::NEGOTIATE_56) {
        7
    } else {
        5
    };
    let magic = match sender {
        Role::Client => CLIENT_SEAL_MAGIC,
        Role::Server => SERVER_SEAL_MAGIC,
    };
    Key16(md5(&[k.get(..n).unwrap_or(k), magic]))
}

/// One direction of a session: its signing key, RC4 state and sequence number.
struct Direction {
    sign_key: Key16,
    rc4: Rc4<U16>,
    seq: u32,
}

impl Direction {
    fn new(exported: &Key16, flags: NegotiateFlags, sender: Role) -> Direction {
        let seal = seal_key(exported, flags, sender);
        Direction {
            sign_key: sign_key(exported, sender),
            rc4: Rc4::<U16>::new(&GenericArray::from(*seal.as_bytes())),
            seq: 0,
        }
    }

    /// The 8-byte checksum of [MS-NLMP] 3.4.4.2 (MAC with extended session security),
    /// RC4-encrypted with the sealing handle when key exchange was negotiated.
    fn checksum(&mut self, flags: NegotiateFlags, seq: u32, plaintext: &[u8]) -> [u8; 8] {
        let h = hmac_md5(self.sign_key.as_bytes(), &[&seq.to_le_bytes(), plaintext]);
        let mut c = [0u8; 8];
        for (o, b) in c.iter_mut().zip(h.iter()) {
            *o = *b;
        }
        if flags.contains(NegotiateFlags::KEY_EXCH) {
            self.rc4.apply_keystream(&mut c);
        }
        c
    }
}

/// Length of an NTLMSSP_MESSAGE_SIGNATURE ([MS-NLMP] 2.2.2.9.2).
pub const SIGNATURE_LEN: usize = 16;

/// Why a sealed message was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnsealError {
    /// Shorter than the 16-byte signature.
    Truncated { len: usize },
    /// The signature's Version is not 1.
    BadVersion(u32),
    /// The signature's SeqNum is not the next expected one.
    BadSequence { expected: u32, got: u32 },
    /// The checksum does not match: wrong keys, or the message was altered
    /// (SEC_E_MESSAGE_ALTERED).
    BadChecksum,
}

impl fmt::Display for UnsealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnsealError::Truncated { len } => {
                write!(
                    f,
                    "sealed message of {len} bytes is shorter than its signature"
                )
            }
            UnsealError::BadVersion(v) => write!(f, "message signature version {v} (expected 1)"),
            UnsealError::BadSequence { expected, got } => {
                write!(f, "message sequence number {got} (expected {expected})")
            }
            UnsealError::BadChecksum => f.write_str("message signature does not verify"),
        }
    }
}

impl std::error::Error for UnsealError {}

/// NTLM session security after authentication ([MS-NLMP] 3.4): sealing (RC4) and signing
/// (HMAC_MD5 + sequence number) in both directions, connection-oriented, with extended session
/// security. A CredSSP client seals pubKeyAuth (seq 0) and authInfo (seq 1); the server seals
/// its pubKeyAuth reply (its own seq 0).
pub struct SessionSecurity {
    role: Role,
    flags: NegotiateFlags,
    send: Direction,
    recv: Direction,
}

impl fmt::Debug for SessionSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionSecurity")
            .field("role", &self.role)
            .field("flags", &self.flags)
            .field("send_seq", &self.send.seq)
            .field("recv_seq", &self.recv.seq)
            .field("keys", &"<redacted>")
            .finish()
    }
}

impl SessionSecurity {
    /// Derives the four keys from the ExportedSessionKey ([MS-NLMP] 3.4.5).
    pub fn new(role: Role, flags: NegotiateFlags, exported_session_key: &Key16) -> Self {
        let peer = match role {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        };
        SessionSecurity {
            role,
            flags,
            send: Direction::new(exported_session_key, flags, role),
            recv: Direction::new(exported_session_key, flags, peer),
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn flags(&self) -> NegotiateFlags {
        self.flags
    }

    /// GSS_WrapEx ([MS-NLMP] 3.4.3 SEAL): returns the 16-byte signature followed by the sealed
    /// message, the layout CredSSP puts in pubKeyAuth and authInfo.
    pub fn seal(&mut self, msg: &[u8]) -> Vec<u8> {
        let seq = self.send.seq;
        let mut sealed = msg.to_vec();
        self.send.rc4.apply_keystream(&mut sealed);
        let checksum = self.send.checksum(self.flags, seq, msg);
        let mut out = Vec::with_capacity(SIGNATURE_LEN + msg.len());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&checksum);
        out.extend_from_slice(&seq.to_le_bytes());
        out.extend_from_slice(&sealed);
        self.send.seq = seq.wrapping_add(1);
        out
    }

    /// GSS_UnwrapEx: checks and removes the signature, returns the plaintext. After an error
    /// the session is out of step and must not be used further.
    pub fn unseal(&mut self, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, UnsealError> {
        let (sig, body) = match (blob.get(..SIGNATURE_LEN), blob.get(SIGNATURE_LEN..)) {
            (Some(s), Some(b)) => (s, b),
            _ => return Err(UnsealError::Truncated { len: blob.len() }),
        };
        let word = |r: std::ops::Range<usize>| -> u32 {
            let mut b = [0u8; 4];
            for (o, v) in b.iter_mut().zip(sig.get(r).unwrap_or(&[])) {
                *o = *v;
            }
            u32::from_le_bytes(b)
        };
        let version = word(0..4);
        let got_seq = word(12..16);
        let expected_seq = self.recv.seq;
        let mut plain = Zeroizing::new(body.to_vec());
        self.recv.rc4.apply_keystream(&mut plain);
        let checksum = self.recv.checksum(self.flags, expected_seq, &plain);
        self.recv.seq = expected_seq.wrapping_add(1);
        if version != 1 {
            return Err(UnsealError::BadVersion(version));
        }
        if got_seq != expected_seq {
            return Err(UnsealError::BadSequence {
                expected: expected_seq,
                got: got_seq,
            });
        }
        if !ct_eq(&checksum, sig.get(4..12).unwrap_or(&[])) {
            return Err(UnsealError::BadChecksum);
        }
        Ok(plain)
    }
}

/// Why an NTLM exchange failed, from either end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// One of the three messages does not decode.
    Malformed {
        message: &'static str,
        error: DecodeError,
    },
    /// The negotiated flags lack NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY, which this
    /// implementation requires for session security.
    NoExtendedSessionSecurity,
    /// An anonymous AUTHENTICATE (empty user and NT response).
    Anonymous,
    /// A 24-byte NtChallengeResponse: NTLMv1, refused.
    NtlmV1,
    /// The server has no account of that name (STATUS_NO_SUCH_USER as a SubStatus).
    UnknownUser { user: String, domain: String },
    /// NTProofStr does not verify: the password is wrong (STATUS_WRONG_PASSWORD).
    WrongPassword,
    /// MsvAvFlags announces a MIC but the message has no room for one.
    MicMissing,
    /// The MIC does not verify: a message was altered, or the key exchange went wrong.
    BadMic,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Malformed { message, error } => write!(f, "malformed {message}: {error}"),
            AuthError::NoExtendedSessionSecurity => {
                f.write_str("extended session security was not negotiated")
            }
            AuthError::Anonymous => f.write_str("anonymous authentication"),
            AuthError::NtlmV1 => f.write_str("NTLMv1 response (24 bytes) refused"),
            AuthError::UnknownUser { user, domain } => {
                write!(f, "no such user {domain:?}\\{user:?}")
            }
            AuthError::WrongPassword => {
                f.write_str("NTLMv2 proof does not verify (wrong password)")
            }
            AuthError::MicMissing => f.write_str("MIC announced but absent"),
            AuthError::BadMic => f.write_str("MIC does not verify"),
        }
    }
}

impl std::error::Error for AuthError {}

fn malformed(message: &'static str) -> impl Fn(DecodeError) -> AuthError {
    move |error| AuthError::Malformed { message, error }
}

/// Everything a client needs to answer a CHALLENGE. The random values and the time are passed
/// in; `Debug` redacts the secrets.
pub struct ClientAuthInput<'a> {
    /// The NEGOTIATE_MESSAGE exactly as sent (it is covered by the MIC).
    pub negotiate: &'a [u8],
    /// The CHALLENGE_MESSAGE exactly as received.
    pub challenge: &'a [u8],
    pub user: &'a str,
    pub domain: &'a str,
    pub workstation: &'a str,
    /// [`nt_hash`] of the password.
    pub nt_hash: &'a Key16,
    /// 8 random bytes.
    pub client_challenge: [u8; 8],
    /// FILETIME to use when the CHALLENGE carries no MsvAvTimestamp (current clients copy the
    /// server's timestamp, and so does this function).
    pub timestamp: u64,
    /// 16 random bytes: the ExportedSessionKey sent encrypted under key exchange.
    pub exported_session_key: &'a Key16,
    /// MsvAvTargetName, e.g. `TERMSRV/host` (what mstsc sends); `None` leaves it out.
    pub target_spn: Option<&'a str>,
    /// MsvAvChannelBindings; `None` sends 16 zero bytes (no channel binding, as mstsc does in
    /// CredSSP, which binds the TLS key through pubKeyAuth instead).
    pub channel_bindings: Option<[u8; 16]>,
    /// The VERSION to announce; `None` clears NTLMSSP_NEGOTIATE_VERSION.
    pub version: Option<Version>,
}

impl fmt::Debug for ClientAuthInput<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAuthInput")
            .field("user", &self.user)
            .field("domain", &self.domain)
            .field("workstation", &self.workstation)
            .field("nt_hash", &"<redacted>")
            .field("exported_session_key", &"<redacted>")
            .field("timestamp", &self.timestamp)
            .field("target_spn", &self.target_spn)
            .finish_non_exhaustive()
    }
}

/// The client's AUTHENTICATE_MESSAGE and the session it established.
#[derive(Debug)]
pub struct ClientAuthOutput {
    pub authenticate: Vec<u8>,
    pub flags: NegotiateFlags,
    pub session: SessionSecurity,
}

/// Computes the client's AUTHENTICATE_MESSAGE ([MS-NLMP] 3.1.5.1.2): an NTLMv2 response over
/// the server's target info with MsvAvFlags (MIC present), channel bindings and target name
/// added, LmChallengeResponse Z(24) when the server sent a timestamp (LMv2 otherwise), the
/// ExportedSessionKey encrypted with the KeyExchangeKey (= SessionBaseKey in NTLMv2), and the
/// MIC over NEGOTIATE | CHALLENGE | AUTHENTICATE.
pub fn compute_authenticate(input: &ClientAuthInput<'_>) -> Result<ClientAuthOutput, AuthError> {
    let neg = Negotiate::decode(input.negotiate).map_err(malformed("NEGOTIATE_MESSAGE"))?;
    let chal = Challenge::decode(input.challenge).map_err(malformed("CHALLENGE_MESSAGE"))?;
    let mut flags = neg.flags.intersection(chal.flags);
    flags = match input.version {
        Some(_) => flags.union(NegotiateFlags::VERSION),
        None => NegotiateFlags(flags.0 & !NegotiateFlags::VERSION.0),
    };
    if !flags.contains(NegotiateFlags::EXTENDED_SESSIONSECURITY) {
        return Err(AuthError::NoExtendedSessionSecurity);
    }

    let server_timestamp = chal.timestamp();
    let timestamp = server_timestamp.unwrap_or(input.timestamp);
    let mut pairs: Vec<AvPair> = chal
        .target_info
        .iter()
        .filter(|p| {
            !matches!(
                p,
                AvPair::Flags(_)
                    | AvPair::ChannelBindings(_)
                    | AvPair::TargetName(_)
                    | AvPair::SingleHost(_)
            )
        })
        .cloned()
        .collect();
    let server_av_flags = find_av_flags(&chal.target_info).unwrap_or(0);
    pairs.push(AvPair::Flags(server_av_flags | av_flags::MIC_PRESENT));
    pairs.push(AvPair::ChannelBindings(
        input.channel_bindings.unwrap_or([0; 16]),
    ));
    if let Some(spn) = input.target_spn {
        pairs.push(AvPair::TargetName(spn.to_string()));
    }
    let temp =
        ntlmv2_client_challenge(timestamp, &input.client_challenge, &encode_av_pairs(&pairs));
    let response_key = ntowfv2(input.nt_hash, input.user, input.domain);
    let (proof, session_base_key) = ntlmv2_proof(&response_key, &chal.server_challenge, &temp);
    let mut nt_response = proof.to_vec();
    nt_response.extend_from_slice(&temp);
    let lm_response = match server_timestamp {
        Some(_) => vec![0u8; 24],
        None => lmv2_response(
            &response_key,
            &chal.server_challenge,
            &input.client_challenge,
        )
        .to_vec(),
    };

    // KXKEY for NTLMv2 is the SessionBaseKey ([MS-NLMP] 3.4.5.1).
    let (exported, encrypted_session_key) = if flags.contains(NegotiateFlags::KEY_EXCH) {
        (
            input.exported_session_key.clone(),
            rc4k(&session_base_key, input.exported_session_key.as_bytes()),
        )
    } else {
        (session_base_key.clone(), Vec::new())
    };

    let msg = Authenticate {
        flags,
        lm_response,
        nt_response,
        domain: input.domain.to_string(),
        user: input.user.to_string(),
        workstation: input.workstation.to_string(),
        encrypted_session_key,
        version: input.version,
        mic: Some([0; 16]),
    };
    let mut authenticate = msg.encode();
    let mic = hmac_md5(
        exported.as_bytes(),
        &[input.negotiate, input.challenge, &authenticate],
    );
    if let Some(slot) = authenticate.get_mut(AUTHENTICATE_MIC_OFFSET..AUTHENTICATE_HEADER_WITH_MIC)
    {
        slot.copy_from_slice(&mic);
    }
    Ok(ClientAuthOutput {
        authenticate,
        flags,
        session: SessionSecurity::new(Role::Client, flags, &exported),
    })
}

/// What a server learns from a verified AUTHENTICATE_MESSAGE.
#[derive(Debug)]
pub struct ServerAuthOutput {
    pub user: String,
    pub domain: String,
    pub workstation: String,
    pub flags: NegotiateFlags,
    pub client_version: Option<Version>,
    /// The client's target info copy (MsvAvFlags, channel bindings, SPN ...).
    pub client_av_pairs: Vec<AvPair>,
    /// The client's FILETIME from the NTLMv2 response.
    pub client_timestamp: u64,
    /// Whether a MIC was announced and verified.
    pub mic_verified: bool,
    pub session: SessionSecurity,
}

/// Verifies a client's AUTHENTICATE_MESSAGE as a server ([MS-NLMP] 3.2.5.1.2): looks the user
/// up (`lookup(user, domain)` returns the account's NT hash), checks NTProofStr, recovers the
/// ExportedSessionKey, and checks the MIC when MsvAvFlags announces one. `negotiate` and
/// `challenge` are the exact bytes received and sent.
pub fn verify_authenticate<F>(
    negotiate: &[u8],
    challenge: &[u8],
    authenticate: &[u8],
    lookup: F,
) -> Result<ServerAuthOutput, AuthError>
where
    F: FnOnce(&str, &str) -> Option<Key16>,
{
    let chal = Challenge::decode(challenge).map_err(malformed("CHALLENGE_MESSAGE"))?;
    let auth = Authenticate::decode(authenticate).map_err(malformed("AUTHENTICATE_MESSAGE"))?;
    if auth.user.is_empty() && auth.nt_response.is_empty() {
        return Err(AuthError::Anonymous);
    }
    if auth.nt_response.len() == 24 {
        return Err(AuthError::NtlmV1);
    }
    let v2 = NtlmV2Response::decode(&auth.nt_response).map_err(malformed("NTLMv2_RESPONSE"))?;
    let flags = auth.flags;
    if !flags.contains(NegotiateFlags::EXTENDED_SESSIONSECURITY) {
        return Err(AuthError::NoExtendedSessionSecurity);
    }
    let nt = lookup(&auth.user, &auth.domain).ok_or_else(|| AuthError::UnknownUser {
        user: auth.user.clone(),
        domain: auth.domain.clone(),
    })?;
    let response_key = ntowfv2(&nt, &auth.user, &auth.domain);
    let temp = auth.nt_response.get(16..).unwrap_or(&[]);
    let (proof, session_base_key) = ntlmv2_proof(&response_key, &chal.server_challenge, temp);
    if !ct_eq(&proof, &v2.nt_proof_str) {
        return Err(AuthError::WrongPassword);
    }
    let exported = if flags.contains(NegotiateFlags::KEY_EXCH) {
        let enc = <[u8; 16]>::try_from(auth.encrypted_session_key.as_slice()).map_err(|_| {
            AuthError::Malformed {
                message: "AUTHENTICATE_MESSAGE",
                error: DecodeError::Invalid {
                    what: "EncryptedRandomSessionKey length",
                    value: auth.encrypted_session_key.len() as u64,
                },
            }
        })?;
        let mut dec = rc4k(&session_base_key, &enc);
        let mut k = [0u8; 16];
        for (o, b) in k.iter_mut().zip(dec.iter()) {
            *o = *b;
        }
        dec.zeroize();
        Key16(k)
    } else {
        session_base_key.clone()
    };
    let announced = find_av_flags(&v2.av_pairs).unwrap_or(0) & av_flags::MIC_PRESENT != 0;
    if announced {
        let Some(mic) = auth.mic else {
            return Err(AuthError::MicMissing);
        };
        let mut zeroed = authenticate.to_vec();
        if let Some(slot) = zeroed.get_mut(AUTHENTICATE_MIC_OFFSET..AUTHENTICATE_HEADER_WITH_MIC) {
            slot.fill(0);
        }
        let expected = hmac_md5(exported.as_bytes(), &[negotiate, challenge, &zeroed]);
        if !ct_eq(&expected, &mic) {
            return Err(AuthError::BadMic);
        }
    }
    Ok(ServerAuthOutput {
        user: auth.user,
        domain: auth.domain,
        workstation: auth.workstation,
        flags,
        client_version: auth.version,
        client_av_pairs: v2.av_pairs,
        client_timestamp: v2.timestamp,
        mic_verified: announced,
        session: SessionSecurity::new(Role::Server, flags, &exported),
    })
}
