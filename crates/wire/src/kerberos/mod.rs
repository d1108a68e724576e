//! Kerberos V5 for the credentialed check and the KDC probe, all pure: messages (RFC 4120),
//! AES crypto (RFC 3961/3962), the GSS mechanism and its Wrap tokens (RFC 4121), SPNEGO
//! (RFC 4178). The runner owns every socket and the clock; it passes times, nonces and
//! confounders in.
//!
//! Client flow (each step a function here, the network between them in the runner):
//! [`as_req`] without pre-authentication → KRB-ERROR 25 with ETYPE-INFO2 (salt) and the KDC's
//! clock → [`crypto::Key::from_password`] → [`as_req`] with [`pa_enc_timestamp`] → [`open_kdc_rep`]
//! (usage 3) → [`tgs_req`] for `TERMSRV/host` → [`open_kdc_rep`] (usage 8) → [`ap_req_token`]
//! inside [`spnego::neg_token_init`] → the server's AP-REP, [`open_ap_rep`] → a
//! [`gss::InitiatorContext`] that seals pubKeyAuth and authInfo.

pub mod crypto;
pub mod der;
pub mod gss;
pub mod messages;
pub mod spnego;

use crate::DecodeError;
use crypto::{CryptoError, Key, BLOCK};
use messages::*;
use std::fmt;

/// The largest KDC reply accepted over TCP (RFC 4120 7.2.2 allows up to 2^31-1; a reply with
/// a large PAC stays well under [MS-KILE]'s 48 000-byte token limit).
pub const MAX_KDC_MESSAGE: usize = 64 * 1024;

/// Key usage numbers (RFC 4120 7.5.1).
pub mod key_usage {
    pub const AS_REQ_PA_ENC_TIMESTAMP: u32 = 1;
    pub const AS_REP_ENC_PART: u32 = 3;
    pub const TGS_REQ_AUTH_CKSUM: u32 = 6;
    pub const TGS_REQ_AUTH: u32 = 7;
    pub const TGS_REP_ENC_PART_SESSION: u32 = 8;
    pub const TGS_REP_ENC_PART_SUBKEY: u32 = 9;
    pub const AP_REQ_AUTH: u32 = 11;
    pub const AP_REP_ENC_PART: u32 = 12;
}

/// The name of a KRB-ERROR error-code (RFC 4120 7.5.9, RFC 6113 5.4.4 for 93).
pub fn error_name(code: i32) -> Option<&'static str> {
    Some(match code {
        0 => "KDC_ERR_NONE",
        1 => "KDC_ERR_NAME_EXP",
        2 => "KDC_ERR_SERVICE_EXP",
        3 => "KDC_ERR_BAD_PVNO",
        4 => "KDC_ERR_C_OLD_MAST_KVNO",
        5 => "KDC_ERR_S_OLD_MAST_KVNO",
        6 => "KDC_ERR_C_PRINCIPAL_UNKNOWN",
        7 => "KDC_ERR_S_PRINCIPAL_UNKNOWN",
        8 => "KDC_ERR_PRINCIPAL_NOT_UNIQUE",
        9 => "KDC_ERR_NULL_KEY",
        10 => "KDC_ERR_CANNOT_POSTDATE",
        11 => "KDC_ERR_NEVER_VALID",
        12 => "KDC_ERR_POLICY",
        13 => "KDC_ERR_BADOPTION",
        14 => "KDC_ERR_ETYPE_NOSUPP",
        15 => "KDC_ERR_SUMTYPE_NOSUPP",
        16 => "KDC_ERR_PADATA_TYPE_NOSUPP",
        17 => "KDC_ERR_TRTYPE_NOSUPP",
        18 => "KDC_ERR_CLIENT_REVOKED",
        19 => "KDC_ERR_SERVICE_REVOKED",
        20 => "KDC_ERR_TGT_REVOKED",
        21 => "KDC_ERR_CLIENT_NOTYET",
        22 => "KDC_ERR_SERVICE_NOTYET",
        23 => "KDC_ERR_KEY_EXPIRED",
        24 => "KDC_ERR_PREAUTH_FAILED",
        25 => "KDC_ERR_PREAUTH_REQUIRED",
        26 => "KDC_ERR_SERVER_NOMATCH",
        27 => "KDC_ERR_MUST_USE_USER2USER",
        28 => "KDC_ERR_PATH_NOT_ACCEPTED",
        29 => "KDC_ERR_SVC_UNAVAILABLE",
        31 => "KRB_AP_ERR_BAD_INTEGRITY",
        32 => "KRB_AP_ERR_TKT_EXPIRED",
        33 => "KRB_AP_ERR_TKT_NYV",
        34 => "KRB_AP_ERR_REPEAT",
        35 => "KRB_AP_ERR_NOT_US",
        36 => "KRB_AP_ERR_BADMATCH",
        37 => "KRB_AP_ERR_SKEW",
        38 => "KRB_AP_ERR_BADADDR",
        39 => "KRB_AP_ERR_BADVERSION",
        40 => "KRB_AP_ERR_MSG_TYPE",
        41 => "KRB_AP_ERR_MODIFIED",
        42 => "KRB_AP_ERR_BADORDER",
        44 => "KRB_AP_ERR_BADKEYVER",
        45 => "KRB_AP_ERR_NOKEY",
        46 => "KRB_AP_ERR_MUT_FAIL",
        47 => "KRB_AP_ERR_BADDIRECTION",
        48 => "KRB_AP_ERR_METHOD",
        49 => "KRB_AP_ERR_BADSEQ",
        50 => "KRB_AP_ERR_INAPP_CKSUM",
        51 => "KRB_AP_PATH_NOT_ACCEPTED",
        52 => "KRB_ERR_RESPONSE_TOO_BIG",
        60 => "KRB_ERR_GENERIC",
        61 => "KRB_ERR_FIELD_TOOLONG",
        62 => "KDC_ERR_CLIENT_NOT_TRUSTED",
        63 => "KDC_ERR_KDC_NOT_TRUSTED",
        64 => "KDC_ERR_INVALID_SIG",
        65 => "KDC_ERR_DH_KEY_PARAMETERS_NOT_ACCEPTED",
        66 => "KDC_ERR_CERTIFICATE_MISMATCH",
        67 => "KRB_AP_ERR_NO_TGT",
        68 => "KDC_ERR_WRONG_REALM",
        69 => "KRB_AP_ERR_USER_TO_USER_REQUIRED",
        70 => "KDC_ERR_CANT_VERIFY_CERTIFICATE",
        71 => "KDC_ERR_INVALID_CERTIFICATE",
        72 => "KDC_ERR_REVOKED_CERTIFICATE",
        73 => "KDC_ERR_REVOCATION_STATUS_UNKNOWN",
        74 => "KDC_ERR_REVOCATION_STATUS_UNAVAILABLE",
        75 => "KDC_ERR_CLIENT_NAME_MISMATCH",
        76 => "KDC_ERR_KDC_NAME_MISMATCH",
        93 => "KDC_ERR_UNKNOWN_CRITICAL_FAST_OPTIONS",
        _ => return None,
    })
}

/// A KDC's answer: a reply or an error (or something else).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KdcAnswer {
    Rep(KdcRep),
    Error(KrbError),
}

/// Decodes what a KDC sent back (without the TCP length prefix).
pub fn decode_kdc_answer(data: &[u8]) -> Result<KdcAnswer, DecodeError> {
    match data.first() {
        Some(0x7E) => KrbError::decode(data).map(KdcAnswer::Error),
        _ => KdcRep::decode(data).map(KdcAnswer::Rep),
    }
}

/// An AS-REQ for `user@realm` asking for `krbtgt/realm`, with `padata` (none for the first,
/// unauthenticated request; PA-ENC-TIMESTAMP and the KDC's cookie for the second).
pub fn as_req(
    user: &str,
    realm: &str,
    nonce: u32,
    till: i64,
    etypes: &[i32],
    padata: Vec<PaData>,
) -> Vec<u8> {
    KdcReq {
        msg_type: msg_type::AS_REQ,
        padata,
        body: KdcReqBody {
            kdc_options: kdc_options::AS_DEFAULT,
            cname: Some(PrincipalName::user(user)),
            realm: realm.to_string(),
            sname: PrincipalName::krbtgt(realm),
            till,
            nonce,
            etypes: etypes.to_vec(),
        },
    }
    .encode()
}

/// PA-ENC-TIMESTAMP (RFC 4120 5.2.7.2): `PA-ENC-TS-ENC` encrypted with the long-term key,
/// usage 1.
pub fn pa_enc_timestamp(key: &Key, unix: i64, usec: u32, confounder: &[u8; BLOCK]) -> PaData {
    let plain = pa_enc_ts_enc(unix, usec);
    let enc = EncryptedData {
        etype: key.etype(),
        kvno: None,
        cipher: key.encrypt(key_usage::AS_REQ_PA_ENC_TIMESTAMP, &plain, confounder),
    };
    PaData {
        pa_type: messages::pa_type::ENC_TIMESTAMP,
        value: enc.encode(),
    }
}

/// Why a KDC or AP reply could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    Decode(DecodeError),
    Crypto(CryptoError),
    /// The reply is for another request (nonce, or ctime/cusec of an AP-REP).
    Mismatch(&'static str),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Decode(e) => write!(f, "{e}"),
            OpenError::Crypto(e) => write!(f, "{e}"),
            OpenError::Mismatch(w) => write!(f, "{w} does not match our request"),
        }
    }
}

impl std::error::Error for OpenError {}

/// The session key and ticket a KDC reply delivers.
#[derive(Debug, Clone)]
pub struct Credential {
    pub ticket: Vec<u8>,
    pub session_key: Key,
    pub part: EncKdcRepPart,
}

/// Decrypts a KDC reply's enc-part with `key` and `usage` (3 for AS, 8 or 9 for TGS) and
/// checks its nonce.
pub fn open_kdc_rep(
    rep: &KdcRep,
    key: &Key,
    usage: u32,
    nonce: u32,
) -> Result<Credential, OpenError> {
    if rep.enc_part.etype != key.etype() {
        return Err(OpenError::Crypto(CryptoError::UnsupportedEtype(
            rep.enc_part.etype,
        )));
    }
    let plain = key
        .decrypt(usage, &rep.enc_part.cipher)
        .map_err(OpenError::Crypto)?;
    let part = EncKdcRepPart::decode(&plain).map_err(OpenError::Decode)?;
    if part.nonce != nonce {
        return Err(OpenError::Mismatch("the reply's nonce"));
    }
    let session_key = Key::new(part.key.keytype, &part.key.keyvalue).map_err(OpenError::Crypto)?;
    Ok(Credential {
        ticket: rep.ticket.clone(),
        session_key,
        part,
    })
}

/// Who the client is, and when (the runner's clock).
#[derive(Debug, Clone, Copy)]
pub struct ClientTime<'a> {
    pub user: &'a str,
    pub realm: &'a str,
    pub unix: i64,
    pub usec: u32,
}

/// A TGS-REQ for `service/host` with the TGT (RFC 4120 5.4.1): PA-TGS-REQ = AP-REQ whose
/// Authenticator (usage 7) carries a checksum over the request body (usage 6) and no subkey,
/// so the reply is sealed with the TGT session key (usage 8).
pub fn tgs_req(
    tgt: &Credential,
    who: ClientTime<'_>,
    sname: &PrincipalName,
    nonce: u32,
    till: i64,
    etypes: &[i32],
    confounder: &[u8; BLOCK],
) -> Vec<u8> {
    let body = KdcReqBody {
        kdc_options: kdc_options::TGS_DEFAULT,
        cname: None,
        realm: who.realm.to_string(),
        sname: sname.clone(),
        till,
        nonce,
        etypes: etypes.to_vec(),
    };
    let body_der = body.encode();
    let cksum = Checksum {
        cksumtype: tgt.session_key.checksum_type(),
        checksum: tgt
            .session_key
            .checksum(key_usage::TGS_REQ_AUTH_CKSUM, &body_der)
            .to_vec(),
    };
    let auth = Authenticator {
        crealm: who.realm.to_string(),
        cname: PrincipalName::user(who.user),
        cksum: Some(cksum),
        cusec: who.usec,
        ctime: who.unix,
        subkey: None,
        seq_number: None,
    };
    let enc = EncryptedData {
        etype: tgt.session_key.etype(),
        kvno: None,
        cipher: tgt
            .session_key
            .encrypt(key_usage::TGS_REQ_AUTH, &auth.encode(), confounder),
    };
    let ap = ap_req(0, &tgt.ticket, &enc);
    KdcReq {
        msg_type: msg_type::TGS_REQ,
        padata: vec![PaData {
            pa_type: messages::pa_type::TGS_REQ,
            value: ap,
        }],
        body,
    }
    .encode_with_body(&body_der)
}

/// The AP-REQ for the target inside its GSS framing (RFC 4121 4.1): mutual-required, a 0x8003
/// checksum with `gss_flags`, our `subkey` and initial sequence number, usage 11.
pub fn ap_req_token(
    service: &Credential,
    who: ClientTime<'_>,
    subkey: &Key,
    seq_number: u32,
    gss_flags: u32,
    confounder: &[u8; BLOCK],
) -> Vec<u8> {
    let auth = Authenticator {
        crealm: who.realm.to_string(),
        cname: PrincipalName::user(who.user),
        cksum: Some(gss::authenticator_checksum(gss_flags)),
        cusec: who.usec,
        ctime: who.unix,
        subkey: Some(EncryptionKey {
            keytype: subkey.etype(),
            keyvalue: zeroize::Zeroizing::new(subkey.as_bytes().to_vec()),
        }),
        seq_number: Some(seq_number),
    };
    let enc = EncryptedData {
        etype: service.session_key.etype(),
        kvno: None,
        cipher: service
            .session_key
            .encrypt(key_usage::AP_REQ_AUTH, &auth.encode(), confounder),
    };
    let ap = ap_req(AP_OPTION_MUTUAL_REQUIRED, &service.ticket, &enc);
    gss::krb5_token(gss::TOK_AP_REQ, &ap)
}

/// Opens the server's AP-REP (usage 12) and checks it echoes our Authenticator's time: the
/// mutual authentication of RFC 4120 3.2.5.
pub fn open_ap_rep(
    ap_rep: &[u8],
    session_key: &Key,
    who: ClientTime<'_>,
) -> Result<EncApRepPart, OpenError> {
    let enc = decode_ap_rep(ap_rep).map_err(OpenError::Decode)?;
    let plain = session_key
        .decrypt(key_usage::AP_REP_ENC_PART, &enc.cipher)
        .map_err(OpenError::Crypto)?;
    let part = EncApRepPart::decode(&plain).map_err(OpenError::Decode)?;
    if part.ctime != who.unix || part.cusec != who.usec {
        return Err(OpenError::Mismatch("the AP-REP's ctime/cusec"));
    }
    Ok(part)
}

/// Fuzz oracle: bytes a KDC sends (a TCP frame's payload or a UDP datagram). Every decoder
/// must not panic; a decoded KRB-ERROR or KDC-REP re-encodes to the same value.
#[allow(clippy::panic)]
pub fn fuzz_kdc_answer(data: &[u8]) {
    match decode_kdc_answer(data) {
        Ok(KdcAnswer::Error(e)) => {
            let again = KrbError::decode(&e.encode());
            assert_eq!(again.as_ref(), Ok(&e), "KRB-ERROR round trip");
            let _ = e.etype_info2();
            let _ = e.extended_status();
            let _ = e.method_data();
        }
        Ok(KdcAnswer::Rep(r)) => {
            let again = KdcRep::decode(&r.encode());
            assert_eq!(again.as_ref(), Ok(&r), "KDC-REP round trip");
            let _ = TicketInfo::decode(&r.ticket);
            // A fixed key: the MAC check must fail cleanly.
            if let Ok(k) = Key::new(17, &[0u8; 16]) {
                let _ = open_kdc_rep(&r, &k, 3, 0);
            }
        }
        Err(_) => {}
    }
    let _ = EncKdcRepPart::decode(data);
    let _ = EtypeInfo2Entry::decode_list(data);
    let _ = PaData::decode_list(data);
    let _ = TicketInfo::decode(data);
    let _ = kdc_frame_len(data);
}

/// Fuzz oracle: a server's negoToken in CredSSP (SPNEGO answer, krb5 GSS token, AP-REP, a
/// KRB-ERROR from the acceptor, a Wrap token).
pub fn fuzz_gss_token(data: &[u8]) {
    if let Ok(r) = spnego::NegTokenResp::decode(data) {
        assert_eq!(
            spnego::NegTokenResp::decode(&r.encode()).as_ref(),
            Ok(&r),
            "NegTokenResp round trip"
        );
    }
    let _ = spnego::NegTokenInit::decode(data);
    if let Ok(gss::Krb5Token::ApRep(b)) = gss::parse_krb5_token(data) {
        let _ = decode_ap_rep(b);
    }
    let _ = decode_ap_rep(data);
    let _ = EncApRepPart::decode(data);
    if let Ok(k) = Key::new(18, &[0u8; 32]) {
        let _ = gss::unwrap(&k, gss::usage::ACCEPTOR_SEAL, data);
        let _ = gss::verify_mic(&k, gss::usage::ACCEPTOR_SIGN, b"", data);
        let _ = open_ap_rep(
            data,
            &k,
            ClientTime {
                user: "u",
                realm: "R",
                unix: 0,
                usec: 0,
            },
        );
    }
}

/// Kerberos over TCP (RFC 4120 7.2.2): a 4-byte big-endian length, then the message. The high
/// bit is reserved (an extension the client did not ask for): refused, as is anything above
/// [`MAX_KDC_MESSAGE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KdcFrame {
    /// At least this many more bytes are needed.
    Incomplete(usize),
    /// The message is `buf[4..4 + len]`.
    Complete(usize),
    Invalid(DecodeError),
}

pub fn kdc_frame_len(buf: &[u8]) -> KdcFrame {
    let Some(h) = buf.get(..4) else {
        return KdcFrame::Incomplete(4 - buf.len());
    };
    let n = u32::from_be_bytes([
        h.first().copied().unwrap_or(0),
        h.get(1).copied().unwrap_or(0),
        h.get(2).copied().unwrap_or(0),
        h.get(3).copied().unwrap_or(0),
    ]);
    if n & 0x8000_0000 != 0 {
        return KdcFrame::Invalid(DecodeError::Invalid {
            what: "Kerberos TCP length (reserved high bit)",
            value: u64::from(n),
        });
    }
    let n = n as usize;
    if n > MAX_KDC_MESSAGE {
        return KdcFrame::Invalid(DecodeError::TooLarge {
            what: "Kerberos TCP message",
            len: n,
            max: MAX_KDC_MESSAGE,
        });
    }
    if buf.len() >= 4 + n {
        KdcFrame::Complete(n)
    } else {
        KdcFrame::Incomplete(4 + n - buf.len())
    }
}

/// `len(msg) | msg`, for sending over TCP.
pub fn tcp_frame(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + msg.len());
    out.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    out.extend_from_slice(msg);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use zeroize::Zeroizing;

    const NOW: i64 = 1_796_519_959;

    fn who() -> ClientTime<'static> {
        ClientTime {
            user: "alice",
            realm: "RDPDOC.TEST",
            unix: NOW,
            usec: 773_410,
        }
    }

    /// A KDC's reply to `req` made with the keys a test KDC holds.
    fn kdc_reply(
        key: &Key,
        usage: u32,
        nonce: u32,
        session: &[u8],
        app: u8,
        sname: PrincipalName,
    ) -> KdcRep {
        let part = EncKdcRepPart {
            key: EncryptionKey {
                keytype: 18,
                keyvalue: Zeroizing::new(session.to_vec()),
            },
            nonce,
            key_expiration: None,
            flags: 0,
            authtime: NOW,
            starttime: None,
            endtime: NOW + 36_000,
            renew_till: None,
            srealm: "RDPDOC.TEST".into(),
            sname: sname.clone(),
        };
        KdcRep {
            msg_type: if app == 25 { 11 } else { 13 },
            padata: vec![],
            crealm: "RDPDOC.TEST".into(),
            cname: PrincipalName::user("alice"),
            ticket: TicketInfo::encode(
                "RDPDOC.TEST",
                &sname,
                &EncryptedData {
                    etype: 18,
                    kvno: Some(2),
                    cipher: vec![0xAB; 64],
                },
            ),
            enc_part: EncryptedData {
                etype: key.etype(),
                kvno: Some(1),
                cipher: key.encrypt(usage, &part.encode(app), &[3; 16]),
            },
        }
    }

    #[test]
    fn the_whole_client_flow_against_a_scripted_kdc_and_server() {
        let user_key = Key::from_password(18, "Passw0rd!", b"RDPDOC.TESTalice", None).unwrap();
        // AS
        let pa = pa_enc_timestamp(&user_key, NOW, 773_410, &[1; 16]);
        let req = KdcReq::decode(&as_req(
            "alice",
            "RDPDOC.TEST",
            7,
            NOW + 36_000,
            &[18, 17],
            vec![pa],
        ))
        .unwrap();
        let ts = EncryptedData::decode(&req.padata[0].value).unwrap();
        let plain = user_key.decrypt(1, &ts.cipher).unwrap();
        assert_eq!(plain.as_slice(), pa_enc_ts_enc(NOW, 773_410));
        let as_rep = kdc_reply(
            &user_key,
            3,
            7,
            &[5; 32],
            25,
            PrincipalName::krbtgt("RDPDOC.TEST"),
        );
        let KdcAnswer::Rep(r) = decode_kdc_answer(&as_rep.encode()).unwrap() else {
            panic!("not a reply")
        };
        assert!(open_kdc_rep(&r, &user_key, 3, 8).is_err(), "nonce checked");
        let tgt = open_kdc_rep(&r, &user_key, 3, 7).unwrap();
        // TGS
        let spn = PrincipalName::service("TERMSRV", "localhost");
        let tgs = KdcReq::decode(&tgs_req(
            &tgt,
            who(),
            &spn,
            9,
            NOW + 36_000,
            &[18, 17],
            &[2; 16],
        ))
        .unwrap();
        assert_eq!(tgs.body.sname, spn);
        assert_eq!(tgs.padata[0].pa_type, 1);
        let tgs_rep = kdc_reply(&tgt.session_key, 8, 9, &[6; 32], 26, spn);
        let svc = open_kdc_rep(&tgs_rep, &tgt.session_key, 8, 9).unwrap();
        // AP
        let subkey = Key::new(18, &[8; 32]).unwrap();
        let token = ap_req_token(
            &svc,
            who(),
            &subkey,
            0x0ffc_2491,
            gss::ctx_flags::CREDSSP,
            &[4; 16],
        );
        let gss::Krb5Token::ApReq(ap) = gss::parse_krb5_token(&token).unwrap() else {
            panic!("not an AP-REQ")
        };
        assert_eq!(ap[0], 0x6E, "[APPLICATION 14]");
        let acceptor_subkey = EncryptionKey {
            keytype: 18,
            keyvalue: Zeroizing::new(vec![0x42; 32]),
        };
        let rep_part = EncApRepPart {
            ctime: NOW,
            cusec: 773_410,
            subkey: Some(acceptor_subkey),
            seq_number: Some(12),
        };
        let ap_rep = encode_ap_rep(&EncryptedData {
            etype: 18,
            kvno: None,
            cipher: svc.session_key.encrypt(12, &rep_part.encode(), &[5; 16]),
        });
        let opened = open_ap_rep(&ap_rep, &svc.session_key, who()).unwrap();
        assert_eq!(opened.seq_number, Some(12));
        let late = ClientTime { usec: 1, ..who() };
        assert_eq!(
            open_ap_rep(&ap_rep, &svc.session_key, late).unwrap_err(),
            OpenError::Mismatch("the AP-REP's ctime/cusec")
        );
    }

    #[test]
    fn tcp_framing_is_bounded() {
        assert_eq!(kdc_frame_len(&[0, 0]), KdcFrame::Incomplete(2));
        assert_eq!(kdc_frame_len(&[0, 0, 0, 2, 1]), KdcFrame::Incomplete(1));
        assert_eq!(kdc_frame_len(&[0, 0, 0, 2, 1, 2]), KdcFrame::Complete(2));
        assert!(matches!(
            kdc_frame_len(&[0x80, 0, 0, 1]),
            KdcFrame::Invalid(_)
        ));
        assert!(matches!(kdc_frame_len(&[0, 1, 0, 1]), KdcFrame::Invalid(_)));
        assert_eq!(tcp_frame(&[9, 9]), [0, 0, 0, 2, 9, 9]);
        assert_eq!(error_name(24), Some("KDC_ERR_PREAUTH_FAILED"));
        assert_eq!(error_name(43), None);
    }
}
