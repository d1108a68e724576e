//! Both ends of CredSSP/NTLM built from this crate against each other, the codecs' edge cases,
//! secret redaction, and garbage input through the fuzz oracles.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use rdp_doctor_wire::credssp::{
    self, frame_status, ErrorCode, FrameStatus, PubKeyAuthError, TsCredentials, TsPasswordCreds,
    TsRequest,
};
use rdp_doctor_wire::ntlm::{
    self, av_flags, compute_authenticate, decode_av_pairs, encode_av_pairs, nt_hash,
    server_challenge, verify_authenticate, AuthError, Authenticate, AvPair, Challenge,
    ClientAuthInput, Key16, Negotiate, NegotiateFlags, TargetNames, UnsealError, Version,
};
use rdp_doctor_wire::DecodeError;

const PASSWORD: &str = "S3cret-Pässword!";

fn names() -> TargetNames {
    TargetNames {
        nb_computer: Some("LABSRV".into()),
        nb_domain: Some("LAB".into()),
        dns_computer: Some("labsrv.lab.test".into()),
        dns_domain: Some("lab.test".into()),
        dns_tree: None,
    }
}

struct Exchange {
    negotiate: Vec<u8>,
    challenge: Vec<u8>,
    client: ntlm::ClientAuthOutput,
}

fn exchange(password: &str, timestamp: Option<u64>) -> Exchange {
    let neg = Negotiate::modern_client();
    let negotiate = neg.encode();
    let challenge = server_challenge(
        &neg,
        [7; 8],
        &names(),
        timestamp,
        Some(Version {
            major: 10,
            minor: 0,
            build: 20348,
            revision: 15,
        }),
    )
    .encode();
    let hash = nt_hash(password);
    let exported = Key16::from_bytes([0x42; 16]);
    let client = compute_authenticate(&ClientAuthInput {
        negotiate: &negotiate,
        challenge: &challenge,
        user: "Alice",
        domain: "LAB",
        workstation: "WS1",
        nt_hash: &hash,
        client_challenge: [9; 8],
        timestamp: 133_000_000_000_000_000,
        exported_session_key: &exported,
        target_spn: Some("TERMSRV/labsrv.lab.test"),
        channel_bindings: None,
        version: Some(Version::WINDOWS_10),
    })
    .unwrap();
    Exchange {
        negotiate,
        challenge,
        client,
    }
}

fn alice(user: &str, domain: &str) -> Option<Key16> {
    (user.eq_ignore_ascii_case("alice") && domain == "LAB").then(|| nt_hash(PASSWORD))
}

#[test]
fn client_and_server_agree_and_exchange_sealed_messages() {
    let mut x = exchange(PASSWORD, Some(133_500_000_000_000_000));
    let mut server =
        verify_authenticate(&x.negotiate, &x.challenge, &x.client.authenticate, alice).unwrap();
    assert!(server.mic_verified);
    assert_eq!(
        (
            server.user.as_str(),
            server.domain.as_str(),
            server.workstation.as_str()
        ),
        ("Alice", "LAB", "WS1")
    );
    assert_eq!(
        server.client_timestamp, 133_500_000_000_000_000,
        "server clock copied"
    );
    assert!(server
        .client_av_pairs
        .contains(&AvPair::Flags(av_flags::MIC_PRESENT)));
    assert!(server
        .client_av_pairs
        .contains(&AvPair::ChannelBindings([0; 16])));
    let auth = Authenticate::decode(&x.client.authenticate).unwrap();
    assert_eq!(
        auth.lm_response,
        vec![0; 24],
        "Z(24) when the server sent a timestamp"
    );
    assert!(auth.mic.is_some());
    assert_eq!(auth.encode(), x.client.authenticate);

    for i in 0..3u8 {
        let m = vec![i; 40 + usize::from(i)];
        let sealed = x.client.session.seal(&m);
        assert_ne!(&sealed[16..], &m[..]);
        assert_eq!(server.session.unseal(&sealed).unwrap().as_slice(), &m[..]);
        let back = server.session.seal(&m);
        assert_ne!(back, sealed, "each direction has its own keys");
        assert_eq!(x.client.session.unseal(&back).unwrap().as_slice(), &m[..]);
    }
    // A replayed message is out of sequence; a short one is refused.
    let sealed = x.client.session.seal(b"once");
    assert!(server.session.unseal(&sealed).is_ok());
    let mut fresh = exchange(PASSWORD, Some(133_500_000_000_000_000));
    let mut server2 = verify_authenticate(
        &fresh.negotiate,
        &fresh.challenge,
        &fresh.client.authenticate,
        alice,
    )
    .unwrap();
    let first = fresh.client.session.seal(b"one");
    let second = fresh.client.session.seal(b"two");
    assert_eq!(
        server2.session.unseal(&second),
        Err(UnsealError::BadSequence {
            expected: 0,
            got: 1
        })
    );
    let _ = first;
    assert_eq!(
        server2.session.unseal(&[1, 0, 0, 0]),
        Err(UnsealError::Truncated { len: 4 })
    );
}

#[test]
fn server_tells_failures_apart() {
    let x = exchange("not the password", Some(1));
    assert_eq!(
        verify_authenticate(&x.negotiate, &x.challenge, &x.client.authenticate, alice).unwrap_err(),
        AuthError::WrongPassword
    );
    let x = exchange(PASSWORD, Some(1));
    assert_eq!(
        verify_authenticate(
            &x.negotiate,
            &x.challenge,
            &x.client.authenticate,
            |_, _| None
        )
        .unwrap_err(),
        AuthError::UnknownUser {
            user: "Alice".into(),
            domain: "LAB".into()
        }
    );
    // The MIC covers the NEGOTIATE: a man in the middle that changed its flags is caught.
    let mut neg = x.negotiate.clone();
    neg[12] ^= 0x20;
    assert_eq!(
        verify_authenticate(&neg, &x.challenge, &x.client.authenticate, alice).unwrap_err(),
        AuthError::BadMic
    );
    let mut auth = x.client.authenticate.clone();
    auth[ntlm::AUTHENTICATE_MIC_OFFSET] ^= 1;
    assert_eq!(
        verify_authenticate(&x.negotiate, &x.challenge, &auth, alice).unwrap_err(),
        AuthError::BadMic
    );
    // MsvAvFlags announces a MIC, the message has no room for it.
    let mut a = Authenticate::decode(&x.client.authenticate).unwrap();
    a.mic = None;
    assert_eq!(
        verify_authenticate(&x.negotiate, &x.challenge, &a.encode(), alice).unwrap_err(),
        AuthError::MicMissing
    );
    // NTLMv1 and anonymous are refused.
    a.nt_response = vec![0; 24];
    assert_eq!(
        verify_authenticate(&x.negotiate, &x.challenge, &a.encode(), alice).unwrap_err(),
        AuthError::NtlmV1
    );
    a.nt_response.clear();
    a.user.clear();
    assert_eq!(
        verify_authenticate(&x.negotiate, &x.challenge, &a.encode(), alice).unwrap_err(),
        AuthError::Anonymous
    );
    assert!(matches!(
        verify_authenticate(&x.negotiate, &x.challenge, b"NTLMSSP\0", alice).unwrap_err(),
        AuthError::Malformed { .. }
    ));
}

#[test]
fn without_server_timestamp_the_client_sends_lmv2_and_its_own_time() {
    let x = exchange(PASSWORD, None);
    let a = Authenticate::decode(&x.client.authenticate).unwrap();
    assert_ne!(a.lm_response, vec![0; 24]);
    assert_eq!(
        &a.lm_response[16..],
        &[9; 8],
        "LMv2 ends with the client challenge"
    );
    assert_eq!(
        a.ntlmv2_response().unwrap().timestamp,
        133_000_000_000_000_000
    );
    assert!(verify_authenticate(&x.negotiate, &x.challenge, &x.client.authenticate, alice).is_ok());
}

#[test]
fn server_challenge_layout() {
    let neg = Negotiate::modern_client();
    let c = server_challenge(&neg, [1; 8], &names(), Some(5), None);
    assert!(c.flags.contains(NegotiateFlags::TARGET_INFO));
    assert!(c.flags.contains(NegotiateFlags::TARGET_TYPE_SERVER));
    assert!(c.flags.contains(NegotiateFlags::KEY_EXCH));
    assert!(
        !c.flags.contains(NegotiateFlags::VERSION),
        "no version, no flag"
    );
    assert_eq!(c.target_name, "LAB");
    assert_eq!(
        c.target_info,
        vec![
            AvPair::NbDomainName("LAB".into()),
            AvPair::NbComputerName("LABSRV".into()),
            AvPair::DnsDomainName("lab.test".into()),
            AvPair::DnsComputerName("labsrv.lab.test".into()),
            AvPair::Timestamp(5),
        ]
    );
    assert_eq!(Challenge::decode(&c.encode()).unwrap(), c);
    // A client without Unicode gets OEM strings.
    let mut oem = Negotiate::modern_client();
    oem.flags = NegotiateFlags(oem.flags.0 & !NegotiateFlags::UNICODE.0 | NegotiateFlags::OEM.0);
    let c = server_challenge(&oem, [1; 8], &names(), None, None);
    assert!(!c.flags.contains(NegotiateFlags::UNICODE));
    let bytes = c.encode();
    assert!(bytes.windows(3).any(|w| w == b"LAB"));
    assert_eq!(Challenge::decode(&bytes).unwrap().target_name, "LAB");
}

#[test]
fn av_pairs_edge_cases() {
    // A timestamp of the wrong size is kept raw; a list may end without MsvAvEOL.
    let raw = [7, 0, 4, 0, 1, 2, 3, 4, 6, 0, 4, 0, 2, 0, 0, 0];
    assert_eq!(
        decode_av_pairs(&raw).unwrap(),
        vec![
            AvPair::Other {
                id: 7,
                value: vec![1, 2, 3, 4]
            },
            AvPair::Flags(2)
        ]
    );
    // Pairs after MsvAvEOL are ignored; a pair running past the end is an error.
    assert_eq!(decode_av_pairs(&[0, 0, 0, 0, 6, 0, 4, 0]).unwrap(), vec![]);
    assert!(decode_av_pairs(&[1, 0, 10, 0, b'a', 0]).is_err());
    // The encoder stops at an explicit Eol and always terminates.
    let enc = encode_av_pairs(&[
        AvPair::NbComputerName("A".into()),
        AvPair::Eol,
        AvPair::Flags(1),
    ]);
    assert_eq!(enc, [1, 0, 2, 0, b'A', 0, 0, 0, 0, 0]);
    // More pairs than the cap.
    let many: Vec<u8> = std::iter::repeat_n([9u8, 0, 0, 0], 300).flatten().collect();
    assert!(matches!(
        decode_av_pairs(&many),
        Err(DecodeError::TooLarge { .. })
    ));
}

#[test]
fn filetime_conversions() {
    assert_eq!(ntlm::filetime_to_unix_seconds(ntlm::FILETIME_UNIX_EPOCH), 0);
    assert_eq!(
        ntlm::filetime_to_unix_seconds(ntlm::FILETIME_UNIX_EPOCH - 1),
        -1
    );
    assert_eq!(ntlm::filetime_to_unix_seconds(0), -11_644_473_600);
    assert_eq!(
        ntlm::unix_seconds_to_filetime(1_795_641_793),
        134_401_153_930_000_000
    );
    assert_eq!(ntlm::unix_seconds_to_filetime(i64::MIN), 0);
    assert_eq!(ntlm::unix_seconds_to_filetime(i64::MAX), u64::MAX);
    assert_eq!(ntlm::filetime_to_unix_seconds(u64::MAX), 1_833_029_933_770);
}

#[test]
fn flags_names_keep_unknown_bits() {
    let f = NegotiateFlags(0xE208_8235 | 0x0000_0100);
    let names = f.names();
    assert!(names.contains(&"KEY_EXCH".to_string()));
    assert!(names.contains(&"0x00000100".to_string()));
    assert_eq!(f.to_string(), "0xE2088335");
}

#[test]
fn ts_request_all_fields_round_trip_and_error_code_sign() {
    let r = TsRequest {
        version: 6,
        nego_tokens: vec![vec![1, 2, 3], vec![0; 200]],
        auth_info: Some(vec![4; 5]),
        pub_key_auth: Some(vec![5; 300]),
        error_code: Some(0xC000_006D),
        client_nonce: Some([6; 32]),
    };
    let b = r.encode();
    // errorCode as Windows writes it: [4] { INTEGER 4 bytes C0 00 00 6D }.
    assert!(b
        .windows(8)
        .any(|w| w == [0xa4, 0x06, 0x02, 0x04, 0xc0, 0x00, 0x00, 0x6d]));
    assert_eq!(TsRequest::decode(&b).unwrap(), r);
    assert_eq!(frame_status(&b), FrameStatus::Complete { len: b.len() });
    // The positive 5-octet form some encoders use decodes to the same code.
    let positive = [
        0x30, 0x0e, 0xa0, 0x03, 0x02, 0x01, 0x03, 0xa4, 0x07, 0x02, 0x05, 0x00, 0xc0, 0x00, 0x00,
        0x6d,
    ];
    let p = TsRequest::decode(&positive).unwrap();
    assert_eq!((p.version, p.error_code), (3, Some(0xC000_006D)));
    assert_eq!(
        ErrorCode(p.error_code.unwrap()).to_string(),
        "0xC000006D (STATUS_LOGON_FAILURE)"
    );
    assert_eq!(ErrorCode(0x1234).name(), None);
}

#[test]
fn ts_request_decoder_tolerance_and_strictness() {
    // Fields out of order and an unknown [6] field are accepted.
    let b = [
        0x30, 0x0c, 0xa6, 0x03, 0x02, 0x01, 0x09, 0xa0, 0x03, 0x02, 0x01, 0x02, 0x05, 0x00,
    ];
    assert_eq!(TsRequest::decode(&b).unwrap().version, 2);
    let dup = [
        0x30, 0x0a, 0xa0, 0x03, 0x02, 0x01, 0x02, 0xa0, 0x03, 0x02, 0x01, 0x02,
    ];
    assert!(TsRequest::decode(&dup).is_err());
    let no_version = [0x30, 0x05, 0xa4, 0x03, 0x02, 0x01, 0x01];
    assert!(TsRequest::decode(&no_version).is_err());
    let negative_version = [0x30, 0x05, 0xa0, 0x03, 0x02, 0x01, 0xff];
    assert!(TsRequest::decode(&negative_version).is_err());
    let short_nonce = [
        0x30, 0x0b, 0xa0, 0x03, 0x02, 0x01, 0x06, 0xa5, 0x04, 0x04, 0x02, 1, 2,
    ];
    assert!(TsRequest::decode(&short_nonce).is_err());
    let mut trailing = TsRequest::with_token(6, vec![1]).encode();
    let (r, used) = TsRequest::decode_prefix(&[trailing.as_slice(), &[0, 0]].concat()).unwrap();
    assert_eq!((r.version, used), (6, trailing.len()));
    trailing.push(0);
    assert!(TsRequest::decode(&trailing).is_err());
}

#[test]
fn frame_status_cases() {
    assert_eq!(frame_status(&[]), FrameStatus::Incomplete { needed: 2 });
    assert_eq!(frame_status(&[0x30]), FrameStatus::Incomplete { needed: 1 });
    assert_eq!(
        frame_status(&[0x30, 0x82, 0x01]),
        FrameStatus::Incomplete { needed: 1 }
    );
    assert_eq!(
        frame_status(&[0x30, 0x82, 0x01, 0x00]),
        FrameStatus::Incomplete { needed: 256 }
    );
    assert_eq!(
        frame_status(&[0x30, 0x00]),
        FrameStatus::Complete { len: 2 }
    );
    assert!(matches!(
        frame_status(&[0x31, 0x00]),
        FrameStatus::Invalid(_)
    ));
    assert!(matches!(
        frame_status(&[0x30, 0x80]),
        FrameStatus::Invalid(_)
    ));
    assert!(matches!(
        frame_status(&[0x30, 0x85]),
        FrameStatus::Invalid(_)
    ));
    // 64 KiB + 1: over the cap.
    assert!(matches!(
        frame_status(&[0x30, 0x83, 0x01, 0x00, 0x00]),
        FrameStatus::Invalid(DecodeError::TooLarge { .. })
    ));
}

#[test]
fn early_user_auth_result() {
    use credssp::EarlyUserAuthResult as R;
    assert_eq!(R::decode(&[5, 0, 0, 0]), Ok(R::AUTHZ_ACCESS_DENIED));
    assert_eq!(R::AUTHZ_ACCESS_DENIED.name(), Some("AUTHZ_ACCESS_DENIED"));
    assert_eq!(R::decode(&[0, 0, 0, 1]).unwrap().name(), None);
    assert_eq!(R(0x0100_0000).encode(), [0, 0, 0, 1]);
    assert!(R::decode(&[0, 0, 0]).is_err());
}

#[test]
fn adapted_to_peer_follows_the_interop_quirks() {
    let r = TsRequest {
        version: 6,
        error_code: Some(0xC000_006D),
        client_nonce: Some([1; 32]),
        ..TsRequest::default()
    };
    let kept = |v: u32| {
        let a = r.adapted_to_peer(v);
        (a.error_code.is_some(), a.client_nonce.is_some())
    };
    assert_eq!(kept(2), (false, false));
    assert_eq!(kept(3), (true, false));
    assert_eq!(kept(4), (true, false));
    assert_eq!(kept(5), (false, true));
    assert_eq!(kept(6), (true, true));
}

#[test]
fn ts_credentials_exact_bytes_and_round_trip() {
    let creds = TsPasswordCreds {
        domain: "D",
        user: "U",
        password: "P",
    };
    let b = creds.encode_ts_credentials();
    assert_eq!(
        b.as_slice(),
        [
            0x30, 0x1d, // TSCredentials
            0xa0, 0x03, 0x02, 0x01, 0x01, // credType 1 (password)
            0xa1, 0x16, 0x04, 0x14, // credentials OCTET STRING
            0x30, 0x12, // TSPasswordCreds
            0xa0, 0x04, 0x04, 0x02, 0x44, 0x00, // domainName "D"
            0xa1, 0x04, 0x04, 0x02, 0x55, 0x00, // userName "U"
            0xa2, 0x04, 0x04, 0x02, 0x50, 0x00, // password "P"
        ]
    );
    // Long values take long-form lengths; the exact-size buffer still comes out right.
    let long_pw = "p".repeat(300);
    let long = TsPasswordCreds {
        domain: "LAB",
        user: "someone",
        password: &long_pw,
    };
    let b = long.encode_ts_credentials();
    match TsCredentials::decode(&b).unwrap() {
        TsCredentials::Password(p) => {
            assert_eq!((p.domain.as_str(), p.user.as_str()), ("LAB", "someone"));
            assert_eq!(p.password.as_str(), long_pw);
            assert!(!format!("{p:?}").contains("ppp"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{long:?}").contains("ppp"));
    // Another credType is kept opaque.
    let sc = [
        0x30, 0x0b, 0xa0, 0x03, 0x02, 0x01, 0x02, 0xa1, 0x04, 0x04, 0x02, 0xaa, 0xbb,
    ];
    assert!(matches!(
        TsCredentials::decode(&sc).unwrap(),
        TsCredentials::Other { cred_type: 2, .. }
    ));
}

#[test]
fn pub_key_auth_both_versions_and_both_ends() {
    let spki = (0..270u32).map(|i| i as u8).collect::<Vec<u8>>();
    for version in [2u32, 3, 4, 5, 6] {
        let mut x = exchange(PASSWORD, Some(1));
        let mut s =
            verify_authenticate(&x.negotiate, &x.challenge, &x.client.authenticate, alice).unwrap();
        let nonce = [version as u8; 32];
        let pka = credssp::client_pub_key_auth(&mut x.client.session, version, &nonce, &spki);
        let expected_len = if version >= 5 { 16 + 32 } else { 16 + 270 };
        assert_eq!(pka.len(), expected_len, "v{version}");
        credssp::verify_client_pub_key_auth(&mut s.session, version, Some(&nonce), &spki, &pka)
            .unwrap();
        let answer = credssp::server_pub_key_auth(&mut s.session, version, Some(&nonce), &spki);
        credssp::verify_server_pub_key_auth(&mut x.client.session, version, &nonce, &spki, &answer)
            .unwrap();
        // authInfo after that.
        let creds = TsPasswordCreds {
            domain: "LAB",
            user: "Alice",
            password: PASSWORD,
        };
        let ai = credssp::client_auth_info(&mut x.client.session, &creds);
        match credssp::server_read_auth_info(&mut s.session, &ai).unwrap() {
            TsCredentials::Password(p) => assert_eq!(p.password.as_str(), PASSWORD),
            other => panic!("{other:?}"),
        }
    }
    // A server behind a TLS interceptor sees another key.
    let mut x = exchange(PASSWORD, Some(1));
    let mut s =
        verify_authenticate(&x.negotiate, &x.challenge, &x.client.authenticate, alice).unwrap();
    let nonce = [0; 32];
    let pka = credssp::client_pub_key_auth(&mut x.client.session, 6, &nonce, &spki);
    let mut other = spki.clone();
    other[0] ^= 1;
    assert_eq!(
        credssp::verify_client_pub_key_auth(&mut s.session, 6, Some(&nonce), &other, &pka),
        Err(PubKeyAuthError::Mismatch)
    );
    assert_eq!(
        credssp::verify_client_pub_key_auth(&mut s.session, 6, None, &spki, &pka),
        Err(PubKeyAuthError::Unseal(credssp::SealError::Ntlm(
            UnsealError::BadSequence {
                expected: 1,
                got: 0
            }
        )))
    );
}

#[test]
fn secrets_do_not_show_in_debug() {
    let x = exchange(PASSWORD, Some(1));
    let hash = nt_hash(PASSWORD);
    let hex: String = hash.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let dbg_hash = format!("{hash:?}");
    assert_eq!(dbg_hash, "Key16(<redacted>)");
    let exported = Key16::from_bytes([0x42; 16]);
    let input = ClientAuthInput {
        negotiate: &x.negotiate,
        challenge: &x.challenge,
        user: "Alice",
        domain: "LAB",
        workstation: "",
        nt_hash: &hash,
        client_challenge: [0; 8],
        timestamp: 0,
        exported_session_key: &exported,
        target_spn: None,
        channel_bindings: None,
        version: None,
    };
    let s = verify_authenticate(&x.negotiate, &x.challenge, &x.client.authenticate, alice).unwrap();
    for text in [
        format!("{input:?}"),
        format!("{:?}", x.client),
        format!("{s:?}"),
        format!(
            "{:?}",
            Authenticate::decode(&x.client.authenticate).unwrap()
        ),
    ] {
        assert!(!text.contains(PASSWORD), "{text}");
        assert!(!text.contains(&hex), "{text}");
        assert!(
            !text.contains("66, 66, 66"),
            "exported key 0x42 leaked: {text}"
        );
    }
    assert!(Key16::from_hex("zz").is_none());
    assert!(Key16::from_hex("b34ee6ef4ac9d0614ce3148f144aaabg").is_none());
}

/// Deterministic pseudo-random garbage (xorshift) and structured mutations through every oracle.
#[test]
fn garbage_never_panics() {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let x = exchange(PASSWORD, Some(1));
    let seeds = [
        x.negotiate.clone(),
        x.challenge.clone(),
        x.client.authenticate.clone(),
        TsRequest::with_token(6, x.client.authenticate.clone()).encode(),
    ];
    for _ in 0..3000 {
        let len = (next() % 300) as usize;
        let mut data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if next() % 2 == 0 {
            // Start with a plausible prefix so the decoders get past the signature / tag.
            let seed = &seeds[(next() % seeds.len() as u64) as usize];
            let mut m = seed.clone();
            for _ in 0..(1 + next() % 4) {
                let i = (next() as usize) % m.len();
                m[i] = next() as u8;
            }
            m.truncate((next() as usize) % (m.len() + 1));
            data = m;
        }
        credssp::fuzz_ts_request(&data);
        ntlm::fuzz_challenge(&data);
        ntlm::fuzz_authenticate(&data);
        let _ = frame_status(&data);
        let _ = verify_authenticate(&x.negotiate, &x.challenge, &data, alice);
    }
}
