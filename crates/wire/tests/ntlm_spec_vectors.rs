//! [MS-NLMP] 4.2.4 "NTLMv2 Authentication" test vectors, with the common values of 4.2.1:
//! User "User", UserDom "Domain", Passwd "Password", server name "Server", workstation
//! "COMPUTER", RandomSessionKey 0x55 x 16, Time 0, ClientChallenge 0xaa x 8, ServerChallenge
//! 01 23 45 67 89 ab cd ef. Every expected value below is printed in the specification
//! (section given per test); none is computed by this crate.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use rdp_doctor_wire::ntlm::{
    self, av_id, lmv2_response, nt_hash, ntlmv2_client_challenge, ntlmv2_proof, ntowfv2, rc4k,
    seal_key, sign_key, verify_authenticate, Authenticate, AvPair, Challenge, Key16, Negotiate,
    NegotiateFlags, Role, SessionSecurity, Version,
};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn arr16(s: &str) -> [u8; 16] {
    hex(s).try_into().unwrap()
}

const SERVER_CHALLENGE: [u8; 8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
const CLIENT_CHALLENGE: [u8; 8] = [0xaa; 8];
const RANDOM_SESSION_KEY: [u8; 16] = [0x55; 16];

/// 4.2.4 "Challenge Flags": KEY_EXCH, 56, 128, VERSION, TARGET_INFO, EXTENDED_SESSIONSECURITY,
/// TARGET_TYPE_SERVER, ALWAYS_SIGN, NTLM, SEAL, SIGN, OEM, UNICODE = 33 82 8a e2.
const CHALLENGE_FLAGS: u32 = 0xE28A_8233;

/// 4.2.4.1.3 temp's ServerName: MsvAvNbDomainName "Domain", MsvAvNbComputerName "Server",
/// MsvAvEOL.
const TARGET_INFO: &str =
    "02000c00 44006f006d00610069006e00 01000c00 53006500720076006500720000000000";

/// 4.2.4.3 CHALLENGE_MESSAGE.
const SPEC_CHALLENGE: &str = "
    4e544c4d53535000 02000000        -- Signature, MessageType 2
    0c000c0038000000                 -- TargetNameFields: len 12 at 0x38
    33828ae2                         -- NegotiateFlags 0xE28A8233
    0123456789abcdef 0000000000000000 -- ServerChallenge, Reserved
    2400240044000000                 -- TargetInfoFields: len 36 at 0x44
    060070170000000f                 -- Version 6.0.6000, NTLMRevisionCurrent 15
    530065007200760065007200         -- TargetName \"Server\"
    02000c0044006f006d00610069006e00 01000c00530065007200760065007200 00000000";

/// 4.2.4.3 AUTHENTICATE_MESSAGE.
const SPEC_AUTHENTICATE: &str = "
    4e544c4d53535000 03000000
    180018006c000000   -- LmChallengeResponseFields: 24 at 0x6c
    5400540084000000   -- NtChallengeResponseFields: 84 at 0x84
    0c000c0048000000   -- DomainNameFields: 12 at 0x48
    0800080054000000   -- UserNameFields: 8 at 0x54
    100010005c000000   -- WorkstationFields: 16 at 0x5c
    10001000d8000000   -- EncryptedRandomSessionKeyFields: 16 at 0xd8
    358288e2           -- NegotiateFlags 0xE2888235
    0501280a0000000f   -- Version 5.1.2600 rev 15
    44006f006d00610069006e00                 -- \"Domain\"
    5500730065007200                         -- \"User\"
    43004f004d0050005500540045005200         -- \"COMPUTER\"
    86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa           -- LMv2 response (4.2.4.2.1)
    68cd0ab851e51c96aabc927bebef6a1c                           -- NTProofStr (4.2.4.2.2)
    0101000000000000 0000000000000000 aaaaaaaaaaaaaaaa 00000000 -- temp header
    02000c0044006f006d00610069006e00 01000c00530065007200760065007200 00000000 00000000
    c5dad2544fc9799094ce1ce90bc9d03e                           -- EncryptedRandomSessionKey";

/// Strips the `-- comments` of the annotated hex above.
fn annotated(s: &str) -> Vec<u8> {
    let mut out = String::new();
    for line in s.lines() {
        let code = line.split("--").next().unwrap_or("");
        out.push_str(code);
    }
    hex(&out)
}

fn spec_challenge() -> Vec<u8> {
    annotated(SPEC_CHALLENGE)
}

fn spec_authenticate() -> Vec<u8> {
    annotated(SPEC_AUTHENTICATE)
}

#[test]
fn nt_hash_of_password() {
    // 4.2.2.1.2 NTOWFv1(): MD4(UNICODE("Password")).
    assert_eq!(
        nt_hash("Password").as_bytes(),
        &arr16("a4f49c406510bdcab6824ee7c30fd852")
    );
}

#[test]
fn ntowfv2_4_2_4_1_1() {
    let k = ntowfv2(&nt_hash("Password"), "User", "Domain");
    assert_eq!(k.as_bytes(), &arr16("0c868a403bfd7a93a3001ef22ef02e3f"));
    // User is case-insensitive, domain is not.
    assert!(k.ct_eq(&ntowfv2(&nt_hash("Password"), "user", "Domain")));
    assert!(!k.ct_eq(&ntowfv2(&nt_hash("Password"), "User", "DOMAIN")));
}

#[test]
fn ntlmv2_response_and_session_base_key_4_2_4_1_2_to_4_2_4_2_3() {
    let rk = ntowfv2(&nt_hash("Password"), "User", "Domain");
    let temp = ntlmv2_client_challenge(0, &CLIENT_CHALLENGE, &hex(TARGET_INFO));
    // 4.2.4.1.3 temp.
    assert_eq!(
        temp,
        hex("0101000000000000 0000000000000000 aaaaaaaaaaaaaaaa 00000000
             02000c0044006f006d00610069006e00 01000c00530065007200760065007200 00000000 00000000")
    );
    let (proof, base) = ntlmv2_proof(&rk, &SERVER_CHALLENGE, &temp);
    // 4.2.4.2.2 NTLMv2 Response: NTProofStr.
    assert_eq!(proof, arr16("68cd0ab851e51c96aabc927bebef6a1c"));
    // 4.2.4.1.2 Session Base Key.
    assert_eq!(base.as_bytes(), &arr16("8de40ccadbc14a82f15cb0ad0de95ca3"));
    // 4.2.4.2.1 LMv2 Response.
    assert_eq!(
        lmv2_response(&rk, &SERVER_CHALLENGE, &CLIENT_CHALLENGE).to_vec(),
        hex("86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa")
    );
    // 4.2.4.2.3 Encrypted Session Key: RC4K(KeyExchangeKey = SessionBaseKey, RandomSessionKey).
    assert_eq!(
        rc4k(&base, &RANDOM_SESSION_KEY),
        hex("c5dad2544fc9799094ce1ce90bc9d03e")
    );
}

#[test]
fn keys_and_sealed_message_4_2_4_4() {
    let exported = Key16::from_bytes(RANDOM_SESSION_KEY);
    let flags = NegotiateFlags(CHALLENGE_FLAGS);
    // 4.2.4.4 GSS_WrapEx Examples: client sealing and signing keys.
    assert_eq!(
        seal_key(&exported, flags, Role::Client).as_bytes(),
        &arr16("59f600973cc4960a25480a7c196e4c58")
    );
    assert_eq!(
        sign_key(&exported, Role::Client).as_bytes(),
        &arr16("4788dc861b4782f35d43fd98fe1a2d39")
    );
    let mut client = SessionSecurity::new(Role::Client, flags, &exported);
    let plaintext = ntlm::utf16le("Plaintext");
    let out = client.seal(&plaintext);
    // Signature: Version 1, checksum 7f b3 8e c5 c5 5d 49 76 (RC4-encrypted under KEY_EXCH),
    // SeqNum 0; then the sealed "Plaintext".
    assert_eq!(out[..16], hex("01000000 7fb38ec5c55d4976 00000000")[..]);
    assert_eq!(out[16..], hex("54e50165bf1936dc996020c1811b0f06fb5f")[..]);

    // The server side of the same session opens it, and refuses it a second time (sequence
    // number) or with one bit flipped (checksum).
    let mut server = SessionSecurity::new(Role::Server, flags, &exported);
    assert_eq!(
        server.unseal(&out).unwrap().as_slice(),
        plaintext.as_slice()
    );
    let mut server2 = SessionSecurity::new(Role::Server, flags, &exported);
    let mut bad = out.clone();
    bad[20] ^= 1;
    assert_eq!(server2.unseal(&bad), Err(ntlm::UnsealError::BadChecksum));
}

#[test]
fn challenge_message_4_2_4_3_decodes_and_reencodes_identically() {
    let bytes = spec_challenge();
    assert_eq!(bytes.len(), 0x68);
    let c = Challenge::decode(&bytes).unwrap();
    assert_eq!(c.flags, NegotiateFlags(CHALLENGE_FLAGS));
    assert_eq!(c.target_name, "Server");
    assert_eq!(c.server_challenge, SERVER_CHALLENGE);
    assert_eq!(
        c.target_info,
        vec![
            AvPair::NbDomainName("Domain".into()),
            AvPair::NbComputerName("Server".into())
        ]
    );
    assert_eq!(c.av_string(av_id::NB_COMPUTER_NAME), Some("Server"));
    assert_eq!(
        c.version,
        Some(Version {
            major: 6,
            minor: 0,
            build: 6000,
            revision: 15
        })
    );
    assert_eq!(c.encode(), bytes);
}

#[test]
fn authenticate_message_4_2_4_3_decodes_reencodes_and_verifies_as_server() {
    let bytes = spec_authenticate();
    assert_eq!(bytes.len(), 0xE8);
    let a = Authenticate::decode(&bytes).unwrap();
    assert_eq!(a.flags, NegotiateFlags(0xE288_8235));
    assert_eq!(
        (a.domain.as_str(), a.user.as_str(), a.workstation.as_str()),
        ("Domain", "User", "COMPUTER")
    );
    assert_eq!(a.lm_response.len(), 24);
    assert_eq!(a.nt_response.len(), 84);
    assert_eq!(
        a.encrypted_session_key,
        hex("c5dad2544fc9799094ce1ce90bc9d03e")
    );
    assert_eq!(a.version.map(|v| v.to_string()), Some("5.1.2600".into()));
    assert_eq!(a.mic, None, "payload starts at 72: no MIC field");
    assert_eq!(a.encode(), bytes);
    let v2 = a.ntlmv2_response().unwrap();
    assert_eq!(v2.client_challenge, CLIENT_CHALLENGE);
    assert_eq!(v2.timestamp, 0);

    // As a server that sent the 4.2.4.3 CHALLENGE: the right password verifies (no MIC was
    // announced, so none is checked), the recovered ExportedSessionKey opens the 4.2.4.4
    // sealed message, a wrong password and an unknown user are told apart.
    let neg = Negotiate::modern_client().encode();
    let chal = spec_challenge();
    let mut ok = verify_authenticate(&neg, &chal, &bytes, |u, d| {
        (u == "User" && d == "Domain").then(|| nt_hash("Password"))
    })
    .unwrap();
    assert!(!ok.mic_verified);
    let sealed = hex("01000000 7fb38ec5c55d4976 00000000 54e50165bf1936dc996020c1811b0f06fb5f");
    assert_eq!(
        ok.session.unseal(&sealed).unwrap().as_slice(),
        ntlm::utf16le("Plaintext").as_slice()
    );
    assert_eq!(
        verify_authenticate(&neg, &chal, &bytes, |_, _| Some(nt_hash("password"))).unwrap_err(),
        ntlm::AuthError::WrongPassword
    );
    assert!(matches!(
        verify_authenticate(&neg, &chal, &bytes, |_, _| None).unwrap_err(),
        ntlm::AuthError::UnknownUser { .. }
    ));
}
