//! CredSSP/NTLM exchanges captured here on 2026-11-25 (see `captures/README.md` for how):
//!
//! * `freerdp-2.11-shadow-nla/`: this crate as the *client* against a real FreeRDP 2.11.7
//!   shadow server (`/sec:nla`, SAM with labuser / LabPass1!). The server accepted the
//!   AUTHENTICATE and answered with a pubKeyAuth that [`credssp::verify_server_pub_key_auth`]
//!   accepts; with a wrong password it closed the connection without a TSRequest.
//! * `xfreerdp-2.11-client/`: a real xfreerdp 2.11.7 (`+auth-only /sec:nla`) as the client
//!   against a throwaway server built on this crate's server-side functions. xfreerdp accepted
//!   the server's pubKeyAuth (it went on to send its authInfo and then the MCS Connect
//!   Initial), for TSRequest version 6 and for version 3 (raw public-key binding).
//!
//! The client's "random" values in the shadow exchange were fixed so that the exchange replays:
//! ClientChallenge 0x11 x 8, ExportedSessionKey 0x22 x 16, clientNonce 0x33 x 32.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use rdp_doctor_wire::credssp::{
    self, frame_status, FrameStatus, TsCredentials, TsRequest, NONCE_LEN,
};
use rdp_doctor_wire::ntlm::{
    self, av_id, compute_authenticate, nt_hash, verify_authenticate, AuthError, AvPair, Challenge,
    ClientAuthInput, Key16, Negotiate, NegotiateFlags, Version,
};

const SHADOW: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/captures/freerdp-2.11-shadow-nla"
);
const XF: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/captures/xfreerdp-2.11-client"
);

fn read(dir: &str, name: &str) -> Vec<u8> {
    std::fs::read(format!("{dir}/{name}")).unwrap()
}

/// The NT hash in the lab SAM file (`winpr-hash -u labuser -p 'LabPass1!'`).
const LABUSER_NT_HASH: &str = "b34ee6ef4ac9d0614ce3148f144aaab2";

fn labuser(user: &str, _domain: &str) -> Option<Key16> {
    (user == "labuser").then(|| Key16::from_hex(LABUSER_NT_HASH).unwrap())
}

#[test]
fn lab_nt_hash_matches_winpr_hash() {
    assert!(nt_hash("LabPass1!").ct_eq(&Key16::from_hex(LABUSER_NT_HASH).unwrap()));
}

/// The shadow server's first TSRequest:
/// ```text
/// 30 81 9f                      TSRequest SEQUENCE, 159 bytes
///   a0 03 02 01 06              [0] version 6
///   a1 74 30 72 30 70 a0 6e 04 6c   [1] negoTokens: one 108-byte token
///     4e544c4d53535000 02000000     "NTLMSSP\0", CHALLENGE
///     0400 0400 38000000            TargetName: 4 bytes at 0x38 ("VM")
///     358288e2                      NegotiateFlags 0xE2888235
///     b4c904ef5d3bfc61              ServerChallenge
///     0000000000000000              Reserved
///     3000 3000 3c000000            TargetInfo: 48 bytes at 0x3c
///     0601b11d0000000f              Version 6.1.7601, NTLM revision 15
///     5600 4d00                     "VM"
///     0200 0400 "VM" 0100 0400 "VM" 0400 0400 "vm" 0300 0400 "vm"
///     0700 0800 8076662d237ddd01    MsvAvTimestamp 134401153930000000
///     0000 0000                     MsvAvEOL
///   a5 22 04 20 c4 0e 9c ..         [5] clientNonce: FreeRDP 2 sends its own 32 random bytes
/// ```
#[test]
fn shadow_challenge_tsrequest_decodes() {
    let bytes = read(SHADOW, "s1_tsrequest_challenge.bin");
    assert_eq!(frame_status(&bytes), FrameStatus::Complete { len: 162 });
    let req = TsRequest::decode(&bytes).unwrap();
    assert_eq!(req.version, 6, "FreeRDP 2.11 has the CVE-2018-0886 fix");
    assert_eq!(req.error_code, None);
    assert!(req.client_nonce.is_some());
    assert_eq!(req.encode(), bytes, "DER re-encodes byte for byte");

    let token = req.first_token().unwrap();
    let ch = Challenge::decode(token).unwrap();
    assert_eq!(ch.flags, NegotiateFlags(0xE288_8235));
    assert!(ch.flags.contains(NegotiateFlags::KEY_EXCH));
    assert_eq!(
        ch.target_name, "VM",
        "the shadow server reports the machine name"
    );
    assert_eq!(
        ch.server_challenge,
        [0xb4, 0xc9, 0x04, 0xef, 0x5d, 0x3b, 0xfc, 0x61]
    );
    assert_eq!(
        ch.target_info,
        vec![
            AvPair::NbDomainName("VM".into()),
            AvPair::NbComputerName("VM".into()),
            AvPair::DnsDomainName("vm".into()),
            AvPair::DnsComputerName("vm".into()),
            AvPair::Timestamp(134_401_153_930_000_000),
        ]
    );
    assert_eq!(ch.av_string(av_id::DNS_COMPUTER_NAME), Some("vm"));
    assert_eq!(ch.av_string(av_id::DNS_TREE_NAME), None);
    assert_eq!(
        ch.version,
        Some(Version {
            major: 6,
            minor: 1,
            build: 7601,
            revision: 15
        }),
        "FreeRDP announces Windows 7 SP1"
    );
    // Server clock: 2026-11-25T21:23:13Z, the moment of the capture.
    assert_eq!(
        ntlm::filetime_to_unix_seconds(ch.timestamp().unwrap()),
        1_795_641_793
    );
    assert_eq!(ch.encode(), token, "CHALLENGE re-encodes byte for byte");
}

fn shadow_client_input<'a>(
    negotiate: &'a [u8],
    challenge: &'a [u8],
    hash: &'a Key16,
    exported: &'a Key16,
) -> ClientAuthInput<'a> {
    ClientAuthInput {
        negotiate,
        challenge,
        user: "labuser",
        domain: "",
        workstation: "",
        nt_hash: hash,
        client_challenge: [0x11; 8],
        timestamp: 0,
        exported_session_key: exported,
        target_spn: Some("TERMSRV/localhost"),
        channel_bindings: None,
        version: Some(Version::WINDOWS_10),
    }
}

/// Replays the accepted exchange: the same inputs give the same AUTHENTICATE + pubKeyAuth
/// bytes that FreeRDP accepted, and the session they create verifies the server's answer.
#[test]
fn shadow_accepted_our_authenticate_and_its_pub_key_auth_verifies() {
    let c1 = TsRequest::decode(&read(SHADOW, "c1_tsrequest_negotiate.bin")).unwrap();
    let negotiate = c1.first_token().unwrap().to_vec();
    assert_eq!(negotiate, Negotiate::modern_client().encode());
    let s1 = TsRequest::decode(&read(SHADOW, "s1_tsrequest_challenge.bin")).unwrap();
    let challenge = s1.first_token().unwrap().to_vec();
    let spki = read(SHADOW, "server_subject_public_key.bin");
    assert_eq!(spki.len(), 270, "RSA-2048 RSAPublicKey DER");
    let nonce = [0x33u8; NONCE_LEN];

    let hash = nt_hash("LabPass1!");
    let exported = Key16::from_bytes([0x22; 16]);
    let mut out = compute_authenticate(&shadow_client_input(
        &negotiate, &challenge, &hash, &exported,
    ))
    .unwrap();
    let pka = credssp::client_pub_key_auth(&mut out.session, 6, &nonce, &spki);
    let c2 = TsRequest {
        version: 6,
        nego_tokens: vec![out.authenticate.clone()],
        pub_key_auth: Some(pka),
        client_nonce: Some(nonce),
        ..TsRequest::default()
    };
    assert_eq!(c2.encode(), read(SHADOW, "c2_tsrequest_authenticate.bin"));

    // 30 5d a0 03 02 01 06 a3 32 04 30 <16-byte signature, 32-byte sealed SHA-256>
    // a5 22 04 20 33..33: FreeRDP echoes the client's nonce.
    let s2 = TsRequest::decode(&read(SHADOW, "s2_tsrequest_pubkeyauth.bin")).unwrap();
    assert_eq!(s2.version, 6);
    assert_eq!(s2.client_nonce, Some(nonce));
    let server_pka = s2.pub_key_auth.unwrap();
    assert_eq!(server_pka.len(), 48);
    credssp::verify_server_pub_key_auth(&mut out.session, 6, &nonce, &spki, &server_pka).unwrap();

    // The same answer does not verify for another public key or under another password.
    let mut again = compute_authenticate(&shadow_client_input(
        &negotiate, &challenge, &hash, &exported,
    ))
    .unwrap();
    let _ = credssp::client_pub_key_auth(&mut again.session, 6, &nonce, &spki);
    let mut other_key = spki.clone();
    other_key[100] ^= 1;
    assert_eq!(
        credssp::verify_server_pub_key_auth(&mut again.session, 6, &nonce, &other_key, &server_pka),
        Err(credssp::PubKeyAuthError::Mismatch)
    );
    // Under key exchange the session keys come from the client's ExportedSessionKey, not from
    // the password: another key cannot open the server's answer.
    let other = Key16::from_bytes([0x23; 16]);
    let mut bad =
        compute_authenticate(&shadow_client_input(&negotiate, &challenge, &hash, &other)).unwrap();
    let _ = credssp::client_pub_key_auth(&mut bad.session, 6, &nonce, &spki);
    assert!(matches!(
        credssp::verify_server_pub_key_auth(&mut bad.session, 6, &nonce, &spki, &server_pka),
        Err(credssp::PubKeyAuthError::Unseal(credssp::SealError::Ntlm(
            ntlm::UnsealError::BadChecksum
        )))
    ));
}

/// Our server-side functions on the same captured bytes reproduce FreeRDP's own answer.
#[test]
fn server_side_reproduces_the_shadow_servers_pub_key_auth() {
    let negotiate = TsRequest::decode(&read(SHADOW, "c1_tsrequest_negotiate.bin")).unwrap();
    let challenge = TsRequest::decode(&read(SHADOW, "s1_tsrequest_challenge.bin")).unwrap();
    let c2 = TsRequest::decode(&read(SHADOW, "c2_tsrequest_authenticate.bin")).unwrap();
    let s2 = TsRequest::decode(&read(SHADOW, "s2_tsrequest_pubkeyauth.bin")).unwrap();
    let spki = read(SHADOW, "server_subject_public_key.bin");
    let mut ok = verify_authenticate(
        negotiate.first_token().unwrap(),
        challenge.first_token().unwrap(),
        c2.first_token().unwrap(),
        labuser,
    )
    .unwrap();
    assert!(ok.mic_verified);
    assert_eq!(ok.user, "labuser");
    credssp::verify_client_pub_key_auth(
        &mut ok.session,
        c2.version,
        c2.client_nonce.as_ref(),
        &spki,
        c2.pub_key_auth.as_deref().unwrap(),
    )
    .unwrap();
    let ours = credssp::server_pub_key_auth(&mut ok.session, 6, c2.client_nonce.as_ref(), &spki);
    assert_eq!(Some(ours), s2.pub_key_auth, "byte-identical to FreeRDP's");
}

/// xfreerdp 2.11.7's messages, verified by the server side of this crate.
#[test]
fn xfreerdp_authenticate_verifies_and_its_auth_info_decodes() {
    let c1 = TsRequest::decode(&read(XF, "c1_tsrequest_negotiate.bin")).unwrap();
    assert_eq!(c1.version, 6);
    assert!(
        c1.client_nonce.is_some(),
        "xfreerdp sends its nonce from the first message"
    );
    let negotiate = c1.first_token().unwrap().to_vec();
    let neg = Negotiate::decode(&negotiate).unwrap();
    assert_eq!(neg.flags, NegotiateFlags(0xE208_82B7));
    assert_eq!(neg.version.map(|v| v.to_string()), Some("6.1.7601".into()));

    let s1 = TsRequest::decode(&read(XF, "s1_tsrequest_challenge.bin")).unwrap();
    let challenge = s1.first_token().unwrap().to_vec();
    let ch = Challenge::decode(&challenge).unwrap();
    assert_eq!(ch.av_string(av_id::DNS_TREE_NAME), Some("lab.test"));

    let c2 = TsRequest::decode(&read(XF, "c2_tsrequest_authenticate.bin")).unwrap();
    assert_eq!(c2.client_nonce, c1.client_nonce);
    let auth = c2.first_token().unwrap().to_vec();
    let mut ok = verify_authenticate(&negotiate, &challenge, &auth, labuser).unwrap();
    assert!(ok.mic_verified);
    assert_eq!(
        (
            ok.user.as_str(),
            ok.domain.as_str(),
            ok.workstation.as_str()
        ),
        ("labuser", "", "vm")
    );
    assert!(ok
        .client_av_pairs
        .contains(&AvPair::TargetName("TERMSRV/127.0.0.1".into())));
    assert_eq!(
        Some(ok.client_timestamp),
        ch.timestamp(),
        "client copies the server clock"
    );
    let spki = read(SHADOW, "server_subject_public_key.bin");
    credssp::verify_client_pub_key_auth(
        &mut ok.session,
        6,
        c2.client_nonce.as_ref(),
        &spki,
        c2.pub_key_auth.as_deref().unwrap(),
    )
    .unwrap();
    let ours = credssp::server_pub_key_auth(&mut ok.session, 6, c2.client_nonce.as_ref(), &spki);
    let s2 = TsRequest::decode(&read(XF, "s2_tsrequest_pubkeyauth.bin")).unwrap();
    assert_eq!(Some(ours), s2.pub_key_auth);

    let c3 = TsRequest::decode(&read(XF, "c3_tsrequest_authinfo.bin")).unwrap();
    match credssp::server_read_auth_info(&mut ok.session, c3.auth_info.as_deref().unwrap()) {
        Ok(TsCredentials::Password(p)) => {
            assert_eq!((p.user.as_str(), p.domain.as_str()), ("labuser", ""));
            assert!(p.password.as_str() == "LabPass1!");
            assert!(!format!("{p:?}").contains("LabPass1!"));
        }
        other => panic!("{other:?}"),
    }

    // The same AUTHENTICATE under another account hash is a wrong password; an unknown name
    // is told apart.
    assert_eq!(
        verify_authenticate(&negotiate, &challenge, &auth, |_, _| Some(nt_hash("x"))).unwrap_err(),
        AuthError::WrongPassword
    );
    assert!(matches!(
        verify_authenticate(&negotiate, &challenge, &auth, |_, _| None),
        Err(AuthError::UnknownUser { .. })
    ));
}

/// Against a version-3 server xfreerdp binds the raw public key: pubKeyAuth is the 16-byte
/// signature plus the sealed 270-byte key (286 bytes).
#[test]
fn xfreerdp_v3_raw_public_key_binding() {
    let negotiate = TsRequest::decode(&read(XF, "v3_c1_tsrequest_negotiate.bin")).unwrap();
    let s1 = TsRequest::decode(&read(XF, "v3_s1_tsrequest_challenge.bin")).unwrap();
    assert_eq!(s1.version, 3);
    let c2 = TsRequest::decode(&read(XF, "v3_c2_tsrequest_authenticate.bin")).unwrap();
    let pka = c2.pub_key_auth.as_deref().unwrap();
    assert_eq!(pka.len(), 286);
    let mut ok = verify_authenticate(
        negotiate.first_token().unwrap(),
        s1.first_token().unwrap(),
        c2.first_token().unwrap(),
        labuser,
    )
    .unwrap();
    let spki = read(SHADOW, "server_subject_public_key.bin");
    let version = c2.version.min(s1.version);
    assert_eq!(version, 3);
    credssp::verify_client_pub_key_auth(&mut ok.session, version, None, &spki, pka).unwrap();
    // The server's answer: the public key with its first byte incremented, sealed.
    let ours = credssp::server_pub_key_auth(&mut ok.session, version, None, &spki);
    let s2 = TsRequest::decode(&read(XF, "v3_s2_tsrequest_pubkeyauth.bin")).unwrap();
    assert_eq!(s2.version, 3);
    assert_eq!(Some(ours), s2.pub_key_auth);
}

/// A version-3 server may send errorCode (the lab's "old server" fault):
/// `30 0d a0 03 02 01 03 a4 06 02 04 c0 00 00 6a`. xfreerdp 2.11 reported
/// `ERRCONNECT_WRONG_PASSWORD` for it too.
#[test]
fn version_3_error_code() {
    let bytes = read(XF, "v3_wrongpw_s2_tsrequest_errorcode.bin");
    let r = TsRequest::decode(&bytes).unwrap();
    assert_eq!((r.version, r.error_code), (3, Some(0xC000_006A)));
    assert_eq!(r.encode(), bytes);
    // A careful client would not echo an errorCode to a version-5 peer.
    assert_eq!(r.adapted_to_peer(5).error_code, None);
    assert_eq!(r.adapted_to_peer(3).error_code, Some(0xC000_006A));
}

/// The errorCode the throwaway server sent for a wrong password (xfreerdp 2.11 then reported
/// `ERRCONNECT_WRONG_PASSWORD [0x00020015]`, exit 154):
/// `30 0d a0 03 02 01 06 a4 06 02 04 c0 00 00 6a` - a negative INTEGER on the wire.
#[test]
fn error_code_is_a_negative_integer_on_the_wire() {
    let bytes = read(XF, "wrongpw_s2_tsrequest_errorcode.bin");
    let r = TsRequest::decode(&bytes).unwrap();
    assert_eq!(r.error_code, Some(0xC000_006A));
    assert_eq!(
        credssp::ErrorCode(0xC000_006A).to_string(),
        "0xC000006A (STATUS_WRONG_PASSWORD)"
    );
    assert_eq!(r.encode(), bytes);
}

#[test]
fn every_prefix_and_mutation_of_the_captures_is_handled() {
    for dir in [SHADOW, XF] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("bin") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            for n in 0..=bytes.len() {
                let p = &bytes[..n];
                credssp::fuzz_ts_request(p);
                ntlm::fuzz_challenge(p);
                ntlm::fuzz_authenticate(p);
                if path.to_string_lossy().contains("tsrequest") && n < bytes.len() {
                    assert!(
                        matches!(frame_status(p), FrameStatus::Incomplete { .. }),
                        "{path:?} prefix {n}"
                    );
                    assert!(TsRequest::decode(p).is_err());
                }
            }
            if let Ok(r) = TsRequest::decode(&bytes) {
                for t in &r.nego_tokens {
                    for n in 0..=t.len() {
                        ntlm::fuzz_challenge(&t[..n]);
                        ntlm::fuzz_authenticate(&t[..n]);
                    }
                    // Every single-byte corruption of the NTLM token.
                    for i in 0..t.len() {
                        let mut m = t.clone();
                        m[i] ^= 0xFF;
                        ntlm::fuzz_challenge(&m);
                        ntlm::fuzz_authenticate(&m);
                    }
                }
            }
            for i in 0..bytes.len() {
                let mut m = bytes.clone();
                m[i] ^= 0x80;
                credssp::fuzz_ts_request(&m);
            }
        }
    }
}
