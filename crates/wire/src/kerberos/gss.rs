//! The Kerberos GSS-API mechanism (RFC 4121) as CredSSP uses it: the framing of the first
//! tokens (RFC 2743 3.1: `60 len OID TOK_ID message`), the authenticator checksum 0x8003
//! (RFC 4121 4.1.1), and the per-message Wrap and MIC tokens (RFC 4121 4.2.6) that carry
//! pubKeyAuth and authInfo ([MS-CSSP] 3.1.5, [MS-KILE] 3.4.5.4).

use super::crypto::{CryptoError, Key, BLOCK, MAC_LEN};
use super::der;
use super::messages::Checksum;
use crate::credssp::{Seal, SealError};
use crate::DecodeError;
use std::fmt;
use zeroize::Zeroizing;

/// 1.2.840.113554.1.2.2, the Kerberos V5 mechanism (RFC 1964 1).
pub const OID_KRB5: [u8; 11] = [
    0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x12, 0x01, 0x02, 0x02,
];
/// 1.2.840.48018.1.2.2, Microsoft's "truncated" alias ([MS-KILE] 3.1.1.7).
pub const OID_MS_KRB5: [u8; 11] = [
    0x06, 0x09, 0x2A, 0x86, 0x48, 0x82, 0xF7, 0x12, 0x01, 0x02, 0x02,
];
/// 1.3.6.1.4.1.311.2.2.10, NTLM ([MS-NLMP]).
pub const OID_NTLM: [u8; 12] = [
    0x06, 0x0A, 0x2B, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0A,
];

/// TOK_ID values of the first tokens (RFC 4121 4.1).
pub const TOK_AP_REQ: [u8; 2] = [0x01, 0x00];
pub const TOK_AP_REP: [u8; 2] = [0x02, 0x00];
pub const TOK_ERROR: [u8; 2] = [0x03, 0x00];
/// TOK_ID of a MIC and a Wrap token (RFC 4121 4.2.6).
pub const TOK_MIC: [u8; 2] = [0x04, 0x04];
pub const TOK_WRAP: [u8; 2] = [0x05, 0x04];

/// The checksum type of the GSS authenticator checksum (RFC 4121 4.1.1).
pub const CKSUM_GSS: i32 = 0x8003;

/// GSS context flags in the 0x8003 checksum (RFC 4121 4.1.1.1).
pub mod ctx_flags {
    pub const DELEG: u32 = 1;
    pub const MUTUAL: u32 = 2;
    pub const REPLAY: u32 = 4;
    pub const SEQUENCE: u32 = 8;
    pub const CONF: u32 = 16;
    pub const INTEG: u32 = 32;
    /// What CredSSP asks for: mutual authentication, replay and sequence detection,
    /// confidentiality and integrity (no delegation of a TGT).
    pub const CREDSSP: u32 = MUTUAL | REPLAY | SEQUENCE | CONF | INTEG;
}

/// Wrap/MIC token flags (RFC 4121 4.2.2).
pub mod token_flags {
    pub const SENT_BY_ACCEPTOR: u8 = 0x01;
    pub const SEALED: u8 = 0x02;
    pub const ACCEPTOR_SUBKEY: u8 = 0x04;
}

/// Key usages of per-message tokens (RFC 4121 2).
pub mod usage {
    pub const ACCEPTOR_SEAL: u32 = 22;
    pub const ACCEPTOR_SIGN: u32 = 23;
    pub const INITIATOR_SEAL: u32 = 24;
    pub const INITIATOR_SIGN: u32 = 25;
}

/// The right-rotation count CredSSP uses: [MS-KILE] 3.4.5.4.1, "28 if encryption is requested"
/// (16-byte header copy + 12-byte MAC), with EC 0. FreeRDP 3 refuses any other layout.
pub const CREDSSP_RRC: u16 = 28;

/// The authenticator checksum of type 0x8003: `Lgth` = 16 (LE), `Bnd` = 16 zero bytes (no
/// channel bindings: CredSSP binds the TLS key through pubKeyAuth), `Flags` (LE).
pub fn authenticator_checksum(flags: u32) -> Checksum {
    let mut v = Vec::with_capacity(24);
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&[0u8; 16]);
    v.extend_from_slice(&flags.to_le_bytes());
    Checksum {
        cksumtype: CKSUM_GSS,
        checksum: v,
    }
}

/// `InitialContextToken ::= [APPLICATION 0] IMPLICIT SEQUENCE { thisMech OID, innerToken }`
/// (RFC 2743 3.1); `mech` is the OID's complete DER.
pub fn initial_token(mech: &[u8], inner: &[&[u8]]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = vec![mech];
    parts.extend_from_slice(inner);
    der::tlv(der::TAG_GSS_INITIAL, &parts)
}

/// A Kerberos mechanism token: `60 len krb5-OID TOK_ID message`.
pub fn krb5_token(tok_id: [u8; 2], message: &[u8]) -> Vec<u8> {
    initial_token(&OID_KRB5, &[&tok_id, message])
}

/// The mechanism OID (complete DER) and the inner token of an InitialContextToken filling
/// `data`.
pub fn split_initial(data: &[u8]) -> Result<(&[u8], &[u8]), DecodeError> {
    let body = der::whole(data, der::TAG_GSS_INITIAL, "GSS InitialContextToken")?;
    let (oid, rest) = der::split_element(body)?;
    if oid.first() != Some(&der::TAG_OID) {
        return Err(DecodeError::Invalid {
            what: "GSS InitialContextToken mechanism",
            value: u64::from(oid.first().copied().unwrap_or(0)),
        });
    }
    Ok((oid, rest))
}

/// A Kerberos mechanism token as a server may answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Krb5Token<'a> {
    ApReq(&'a [u8]),
    ApRep(&'a [u8]),
    /// A KRB-ERROR from the acceptor (its clock, a stale key ...).
    Error(&'a [u8]),
    Other {
        tok_id: [u8; 2],
        body: &'a [u8],
    },
}

/// Parses `60 len OID TOK_ID message` with the Kerberos OID (either spelling).
pub fn parse_krb5_token(data: &[u8]) -> Result<Krb5Token<'_>, DecodeError> {
    let (oid, rest) = split_initial(data)?;
    if oid != OID_KRB5 && oid != OID_MS_KRB5 {
        return Err(DecodeError::Invalid {
            what: "GSS token mechanism (not Kerberos)",
            value: oid.len() as u64,
        });
    }
    let tok = rest.get(..2).ok_or(DecodeError::Truncated {
        what: "GSS TOK_ID",
        needed: 2,
        available: rest.len(),
    })?;
    let body = rest.get(2..).unwrap_or(&[]);
    Ok(
        match [
            tok.first().copied().unwrap_or(0),
            tok.get(1).copied().unwrap_or(0),
        ] {
            TOK_AP_REQ => Krb5Token::ApReq(body),
            TOK_AP_REP => Krb5Token::ApRep(body),
            TOK_ERROR => Krb5Token::Error(body),
            tok_id => Krb5Token::Other { tok_id, body },
        },
    )
}

/// Why a Wrap or MIC token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WrapError {
    /// Shorter than its 16-byte header (or header + checksum).
    Truncated(usize),
    /// Not `05 04` / `04 04`, or a filler that is not 0xFF.
    BadHeader,
    /// A Wrap token without the Sealed flag (rdp-doctor asks for confidentiality).
    NotSealed,
    /// The direction flag says the token came from our side.
    WrongDirection,
    /// Decryption or checksum failed (wrong key, wrong usage, altered).
    Crypto(CryptoError),
    /// The encrypted copy of the header does not match the header.
    HeaderMismatch,
}

impl fmt::Display for WrapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WrapError::Truncated(n) => write!(f, "a {n}-byte token is too short"),
            WrapError::BadHeader => f.write_str("not an RFC 4121 token header"),
            WrapError::NotSealed => f.write_str("a Wrap token without confidentiality"),
            WrapError::WrongDirection => f.write_str("the token claims to come from our side"),
            WrapError::Crypto(e) => write!(f, "{e}"),
            WrapError::HeaderMismatch => f.write_str("the encrypted header copy does not match"),
        }
    }
}

impl std::error::Error for WrapError {}

/// The 16-byte header of a Wrap token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrapHeader {
    pub flags: u8,
    pub ec: u16,
    pub rrc: u16,
    pub seq: u64,
}

impl WrapHeader {
    fn bytes(&self, rrc: u16) -> [u8; 16] {
        let mut h = [0u8; 16];
        h[0] = TOK_WRAP[0];
        h[1] = TOK_WRAP[1];
        h[2] = self.flags;
        h[3] = 0xFF;
        h[4..6].copy_from_slice(&self.ec.to_be_bytes());
        h[6..8].copy_from_slice(&rrc.to_be_bytes());
        h[8..16].copy_from_slice(&self.seq.to_be_bytes());
        h
    }

    fn parse(token: &[u8]) -> Result<WrapHeader, WrapError> {
        let h = token.get(..16).ok_or(WrapError::Truncated(token.len()))?;
        let b = |i: usize| h.get(i).copied().unwrap_or(0);
        if [b(0), b(1)] != TOK_WRAP || b(3) != 0xFF {
            return Err(WrapError::BadHeader);
        }
        let mut seq = [0u8; 8];
        seq.copy_from_slice(h.get(8..16).unwrap_or(&[0; 8]));
        Ok(WrapHeader {
            flags: b(2),
            ec: u16::from_be_bytes([b(4), b(5)]),
            rrc: u16::from_be_bytes([b(6), b(7)]),
            seq: u64::from_be_bytes(seq),
        })
    }
}

/// A confidential Wrap token (RFC 4121 4.2.4, 4.2.5): `header | rotate_right(E(plain | filler
/// | header with RRC 0), rrc)`. The filler is `ec` zero bytes.
pub fn wrap(
    key: &Key,
    usage: u32,
    header: WrapHeader,
    plain: &[u8],
    confounder: &[u8; BLOCK],
) -> Vec<u8> {
    let mut data = Zeroizing::new(Vec::with_capacity(
        plain.len() + usize::from(header.ec) + 16,
    ));
    data.extend_from_slice(plain);
    data.extend(std::iter::repeat_n(0u8, usize::from(header.ec)));
    data.extend_from_slice(&header.bytes(0));
    let mut c = key.encrypt(usage, &data, confounder);
    if !c.is_empty() {
        let r = usize::from(header.rrc) % c.len();
        c.rotate_right(r);
    }
    let mut out = header.bytes(header.rrc).to_vec();
    out.extend_from_slice(&c);
    out
}

/// Decrypts a confidential Wrap token; any RRC and EC are accepted (RFC 4121 4.2.5). Returns
/// its header and the plaintext without the filler.
pub fn unwrap(
    key: &Key,
    usage: u32,
    token: &[u8],
) -> Result<(WrapHeader, Zeroizing<Vec<u8>>), WrapError> {
    let header = WrapHeader::parse(token)?;
    if header.flags & token_flags::SEALED == 0 {
        return Err(WrapError::NotSealed);
    }
    let body = token.get(16..).unwrap_or(&[]);
    if body.is_empty() {
        return Err(WrapError::Truncated(token.len()));
    }
    // [MS-KILE] 3.4.5.4.1: Windows rotates by RRC + EC in DCE style; try RRC first.
    let mut last = WrapError::Truncated(token.len());
    let mut counts = vec![usize::from(header.rrc)];
    if header.ec != 0 {
        counts.push(usize::from(header.rrc) + usize::from(header.ec));
    }
    for count in counts {
        let mut c = body.to_vec();
        let len = c.len();
        c.rotate_left(count % len);
        match key.decrypt(usage, &c) {
            Ok(p) => {
                let ec = usize::from(header.ec);
                let Some(data_len) = p.len().checked_sub(16 + ec) else {
                    return Err(WrapError::Truncated(token.len()));
                };
                let copy = p.get(data_len + ec..).unwrap_or(&[]);
                let want = header.bytes(0);
                // The copy's RRC field is 0 on the wire (RFC 4121 4.2.4); accept the
                // sender's RRC too.
                let mut want_rrc = want;
                want_rrc[6..8].copy_from_slice(&header.rrc.to_be_bytes());
                if copy != want && copy != want_rrc {
                    return Err(WrapError::HeaderMismatch);
                }
                return Ok((
                    header,
                    Zeroizing::new(p.get(..data_len).unwrap_or(&[]).to_vec()),
                ));
            }
            Err(e) => last = WrapError::Crypto(e),
        }
    }
    Err(last)
}

fn mic_header(flags: u8, seq: u64) -> [u8; 16] {
    let mut h = [0xFFu8; 16];
    h[0] = TOK_MIC[0];
    h[1] = TOK_MIC[1];
    h[2] = flags;
    h[8..16].copy_from_slice(&seq.to_be_bytes());
    h
}

/// A MIC token (RFC 4121 4.2.6.1): `header | HMAC-SHA1-96(Kc, data | header)`.
pub fn get_mic(key: &Key, usage: u32, flags: u8, seq: u64, data: &[u8]) -> Vec<u8> {
    let h = mic_header(flags, seq);
    let mut m = data.to_vec();
    m.extend_from_slice(&h);
    let mut out = h.to_vec();
    out.extend_from_slice(&key.checksum(usage, &m));
    out
}

/// Verifies a MIC token over `data`; returns its flags and sequence number.
pub fn verify_mic(
    key: &Key,
    usage: u32,
    data: &[u8],
    token: &[u8],
) -> Result<(u8, u64), WrapError> {
    if token.len() != 16 + MAC_LEN {
        return Err(WrapError::Truncated(token.len()));
    }
    let h = token.get(..16).ok_or(WrapError::Truncated(token.len()))?;
    if h.get(..2) != Some(&TOK_MIC[..]) || h.get(3..8) != Some(&[0xFF; 5][..]) {
        return Err(WrapError::BadHeader);
    }
    let mut m = data.to_vec();
    m.extend_from_slice(h);
    if !crate::ntlm::ct_eq(&key.checksum(usage, &m), token.get(16..).unwrap_or(&[])) {
        return Err(WrapError::Crypto(CryptoError::Integrity));
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(h.get(8..16).unwrap_or(&[0; 8]));
    Ok((h.get(2).copied().unwrap_or(0), u64::from_be_bytes(seq)))
}

/// The initiator's side of an established Kerberos GSS context, as CredSSP needs it: Wrap
/// with the context key (the acceptor's subkey when its AP-REP carried one, RFC 4121 2),
/// EC 0 and RRC 28, and Unwrap of the acceptor's tokens. The confounders come from the caller
/// (the codecs hold no randomness).
pub struct InitiatorContext {
    key: Key,
    acceptor_subkey: bool,
    send_seq: u64,
    confounder: Box<dyn FnMut() -> [u8; BLOCK] + Send>,
}

impl fmt::Debug for InitiatorContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "InitiatorContext({:?}, acceptor subkey {}, seq {})",
            self.key, self.acceptor_subkey, self.send_seq
        )
    }
}

impl InitiatorContext {
    /// `send_seq` is the seq-number of our Authenticator.
    pub fn new(
        key: Key,
        acceptor_subkey: bool,
        send_seq: u32,
        confounder: Box<dyn FnMut() -> [u8; BLOCK] + Send>,
    ) -> InitiatorContext {
        InitiatorContext {
            key,
            acceptor_subkey,
            send_seq: u64::from(send_seq),
            confounder,
        }
    }

    pub fn key(&self) -> &Key {
        &self.key
    }

    fn flags(&self) -> u8 {
        if self.acceptor_subkey {
            token_flags::ACCEPTOR_SUBKEY
        } else {
            0
        }
    }

    /// Our MIC over `data` (usage 25), e.g. SPNEGO's mechListMIC.
    pub fn mic(&mut self, data: &[u8]) -> Vec<u8> {
        let t = get_mic(
            &self.key,
            usage::INITIATOR_SIGN,
            self.flags(),
            self.send_seq,
            data,
        );
        self.send_seq = self.send_seq.wrapping_add(1);
        t
    }

    /// Checks the acceptor's MIC over `data` (usage 23).
    pub fn verify_acceptor_mic(&self, data: &[u8], token: &[u8]) -> Result<(), WrapError> {
        let (flags, _) = verify_mic(&self.key, usage::ACCEPTOR_SIGN, data, token)?;
        if flags & token_flags::SENT_BY_ACCEPTOR == 0 {
            return Err(WrapError::WrongDirection);
        }
        Ok(())
    }
}

impl Seal for InitiatorContext {
    fn seal(&mut self, msg: &[u8]) -> Vec<u8> {
        let header = WrapHeader {
            flags: token_flags::SEALED | self.flags(),
            ec: 0,
            rrc: CREDSSP_RRC,
            seq: self.send_seq,
        };
        self.send_seq = self.send_seq.wrapping_add(1);
        let conf = (self.confounder)();
        wrap(&self.key, usage::INITIATOR_SEAL, header, msg, &conf)
    }

    fn unseal(&mut self, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let (h, plain) =
            unwrap(&self.key, usage::ACCEPTOR_SEAL, blob).map_err(SealError::Kerberos)?;
        if h.flags & token_flags::SENT_BY_ACCEPTOR == 0 {
            return Err(SealError::Kerberos(WrapError::WrongDirection));
        }
        Ok(plain)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// pubKeyAuth as MIT GSSAPI (`gss_wrap_iov`, header buffer only) wrapped it for
    /// freerdp-shadow-cli3 3.10.3, which accepted it: AES-256 acceptor subkey, flags 0x06
    /// (sealed, acceptor subkey), EC 0, RRC 28, SND_SEQ 0x0ffc2491; the plaintext is the
    /// client binding hash.
    const KEY: &str = "899e0da303fe054c6913475c744b7a9bcf4ec3624736ae0d8a2e365822d38bf9";
    const HASH: &str = "3d2e86464f14afda7d316fccc1805260e3fe1118fe24dd8300c150c60c0d917b";
    const TOKEN: &str = "050406ff0000001c000000000ffc2491 22d05847f2ff6bdb018e7020771beae3ec2fa31249ffc9ac1c2492d1eaab2bf05c843ede54603f23d13217bd242ba7c75de76950545fc7887e9d9549c41206cc104dc4570d62555ac99056a3";

    #[test]
    fn unwraps_mits_credssp_pub_key_auth() {
        let key = Key::new(18, &hex(KEY)).unwrap();
        let token = hex(TOKEN);
        assert_eq!(token.len(), 92, "pubKeyAuth with a 32-byte hash: len + 60");
        let (h, plain) = unwrap(&key, usage::INITIATOR_SEAL, &token).unwrap();
        assert_eq!(
            h,
            WrapHeader {
                flags: 0x06,
                ec: 0,
                rrc: 28,
                seq: 0x0ffc_2491
            }
        );
        assert_eq!(plain.as_slice(), hex(HASH));
        // the acceptor's usage does not decrypt it
        assert!(unwrap(&key, usage::ACCEPTOR_SEAL, &token).is_err());
    }

    #[test]
    fn our_wrap_has_the_layout_freerdp_requires() {
        let key = Key::new(18, &hex(KEY)).unwrap();
        let mut ctx = InitiatorContext::new(key.clone(), true, 0x0ffc_2491, Box::new(|| [7u8; 16]));
        let t = ctx.seal(&hex(HASH));
        assert_eq!(t.len(), 92);
        assert_eq!(&t[..16], &hex(TOKEN)[..16], "same header as MIT's");
        let (_, plain) = unwrap(&key, usage::INITIATOR_SEAL, &t).unwrap();
        assert_eq!(plain.as_slice(), hex(HASH));
        // the next token carries the next sequence number
        let t2 = ctx.seal(b"x");
        assert_eq!(&t2[8..16], &0x0ffc_2492u64.to_be_bytes());
    }

    #[test]
    fn acceptor_tokens_unseal_and_ours_are_refused() {
        let key = Key::new(17, &[3u8; 16]).unwrap();
        let from_acceptor = wrap(
            &key,
            usage::ACCEPTOR_SEAL,
            WrapHeader {
                flags: 0x07,
                ec: 0,
                rrc: 0,
                seq: 99,
            },
            b"server binding",
            &[1; 16],
        );
        let mut ctx = InitiatorContext::new(key.clone(), true, 1, Box::new(|| [0u8; 16]));
        assert_eq!(
            ctx.unseal(&from_acceptor).unwrap().as_slice(),
            b"server binding"
        );
        let mut other = InitiatorContext::new(key, true, 1, Box::new(|| [0u8; 16]));
        let ours = other.seal(b"x");
        assert!(ctx.unseal(&ours).is_err());
        assert!(ctx.unseal(&[0x05, 0x04]).is_err());
    }

    #[test]
    fn ec_filler_and_rotation_round_trip() {
        let key = Key::new(18, &[9u8; 32]).unwrap();
        for (ec, rrc) in [(0u16, 0u16), (16, 28), (3, 200), (0, 28)] {
            let h = WrapHeader {
                flags: 0x03,
                ec,
                rrc,
                seq: 5,
            };
            let t = wrap(&key, 22, h, b"hello", &[2; 16]);
            let (h2, p) = unwrap(&key, 22, &t).unwrap();
            assert_eq!((h2, p.as_slice()), (h, &b"hello"[..]));
        }
    }

    #[test]
    fn mic_round_trips_and_detects_changes() {
        let key = Key::new(18, &[4u8; 32]).unwrap();
        let t = get_mic(&key, usage::ACCEPTOR_SIGN, 0x05, 7, b"mechTypes");
        assert_eq!(t.len(), 28);
        assert_eq!(
            verify_mic(&key, usage::ACCEPTOR_SIGN, b"mechTypes", &t),
            Ok((0x05, 7))
        );
        assert!(verify_mic(&key, usage::ACCEPTOR_SIGN, b"mechtypes", &t).is_err());
        let ctx = InitiatorContext::new(key, true, 1, Box::new(|| [0u8; 16]));
        assert!(ctx.verify_acceptor_mic(b"mechTypes", &t).is_ok());
    }

    #[test]
    fn first_tokens_parse() {
        let t = krb5_token(TOK_AP_REP, &[0x6F, 0x00]);
        assert_eq!(&t[..4], &[0x60, 0x0F, 0x06, 0x09]);
        assert_eq!(parse_krb5_token(&t), Ok(Krb5Token::ApRep(&[0x6F, 0x00])));
        let e = initial_token(&OID_MS_KRB5, &[&TOK_ERROR, &[0x7E, 0x00]]);
        assert_eq!(parse_krb5_token(&e), Ok(Krb5Token::Error(&[0x7E, 0x00])));
        let n = initial_token(&OID_NTLM, &[b"NTLMSSP\0"]);
        assert!(parse_krb5_token(&n).is_err());
        assert!(parse_krb5_token(&[0u8; 64]).is_err());
        let c = authenticator_checksum(ctx_flags::CREDSSP);
        assert_eq!(c.checksum.len(), 24);
        assert_eq!(&c.checksum[20..], &0x3Eu32.to_le_bytes());
    }
}
