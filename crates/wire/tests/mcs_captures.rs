//! MCS / GCC decoding against bytes captured here from real servers on loopback
//! (see `tests/captures/README.md` for how each file was made).
//!
//! Every server answer below is a reply to a Connect Initial produced by
//! `ClientConnectInitial::for_probe` (the `probe-connect-initial-*.bin` files, which the first
//! test pins byte for byte to the encoder). That xrdp 0.9.21 and the FreeRDP 2.11 shadow server
//! answered with a successful Connect Response, and then with Attach User / Channel Join
//! confirms, shows that both accept the Connect Initial we encode.
#![allow(clippy::panic, clippy::indexing_slicing)]

use rdp_doctor_wire::mcs::{
    self, connect_result_name, encryption_level, encryption_level_name, encryption_method,
    encryption_method_names, rdp_version_name, CertificateKind, ClientConnectInitial,
    DisconnectReason, DomainParameters, DomainPdu, ServerCertificate, ServerConnectResponse,
};
use rdp_doctor_wire::DecodeError;

const PROBE_CI_TLS: &[u8] = include_bytes!("captures/probe-connect-initial-tls.bin");
const PROBE_CI_RDP: &[u8] = include_bytes!("captures/probe-connect-initial-rdp.bin");
const PROBE_CI_TLS_3CH: &[u8] = include_bytes!("captures/probe-connect-initial-tls-3ch.bin");

const XRDP_TLS: &[u8] = include_bytes!("captures/xrdp-tls-connect-response.bin");
const XRDP_RDP_HIGH: &[u8] = include_bytes!("captures/xrdp-rdp-high-connect-response.bin");
const XRDP_AUC: &[u8] = include_bytes!("captures/xrdp-tls-attach-user-confirm.bin");
const XRDP_JOIN_USER: &[u8] = include_bytes!("captures/xrdp-tls-join-user.bin");
const XRDP_JOIN_IO: &[u8] = include_bytes!("captures/xrdp-tls-join-io.bin");
const XRDP_RDSAAD_DPUM: &[u8] = include_bytes!("captures/xrdp-tls-rdsaad-dpum.bin");
const SHADOW_TLS: &[u8] = include_bytes!("captures/freerdp-shadow-tls-connect-response.bin");
const SHADOW_TLS_3CH: &[u8] =
    include_bytes!("captures/freerdp-shadow-tls-3ch-connect-response.bin");
const SHADOW_RDP: &[u8] = include_bytes!("captures/freerdp-shadow-rdp-connect-response.bin");
const SHADOW_AUC: &[u8] = include_bytes!("captures/freerdp-shadow-tls-attach-user-confirm.bin");
const SHADOW_JOIN_USER: &[u8] = include_bytes!("captures/freerdp-shadow-tls-join-user.bin");
const SHADOW_JOIN_IO: &[u8] = include_bytes!("captures/freerdp-shadow-tls-join-io.bin");

const CONNECT_RESPONSES: [(&str, &[u8]); 5] = [
    ("xrdp tls", XRDP_TLS),
    ("xrdp rdp high", XRDP_RDP_HIGH),
    ("shadow tls", SHADOW_TLS),
    ("shadow tls 3ch", SHADOW_TLS_3CH),
    ("shadow rdp", SHADOW_RDP),
];

const DOMAIN_PDUS: [(&str, &[u8]); 7] = [
    ("xrdp auc", XRDP_AUC),
    ("xrdp join user", XRDP_JOIN_USER),
    ("xrdp join io", XRDP_JOIN_IO),
    ("xrdp dpum", XRDP_RDSAAD_DPUM),
    ("shadow auc", SHADOW_AUC),
    ("shadow join user", SHADOW_JOIN_USER),
    ("shadow join io", SHADOW_JOIN_IO),
];

/// The Connect Initials the servers were sent are exactly what the encoder produces today.
#[test]
fn probe_connect_initials_are_the_bytes_the_servers_received() {
    let tls = ClientConnectInitial::for_probe(1, "rdp-doctor");
    assert_eq!(tls.encode().expect("encodes"), PROBE_CI_TLS);
    let rdp = ClientConnectInitial::for_probe(0, "rdp-doctor");
    assert_eq!(rdp.encode().expect("encodes"), PROBE_CI_RDP);
    let three = ClientConnectInitial::for_probe(1, "rdp-doctor").with_channels(&[
        ("rdpdr", 0x8080_0000),
        ("rdpsnd", 0xC000_0000),
        ("cliprdr", 0xC0A0_0000),
    ]);
    assert_eq!(three.encode().expect("encodes"), PROBE_CI_TLS_3CH);
    // and the lab server side reads them back
    assert_eq!(ClientConnectInitial::decode(PROBE_CI_TLS), Ok(tls));
    assert_eq!(ClientConnectInitial::decode(PROBE_CI_RDP), Ok(rdp));
    let back = ClientConnectInitial::decode(PROBE_CI_TLS_3CH).expect("decodes");
    let names: Vec<_> = back
        .gcc
        .network
        .expect("network data")
        .channels
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["rdpdr", "rdpsnd", "cliprdr"]);
}

/// The probe's Connect Initial, field by field where it matters to the server.
#[test]
fn probe_connect_initial_fields() {
    let ci = ClientConnectInitial::decode(PROBE_CI_RDP).expect("decodes");
    assert_eq!(ci.target_parameters, DomainParameters::CLIENT_TARGET);
    let core = ci.gcc.core.expect("core");
    assert_eq!(core.version, 0x0008_000C);
    assert_eq!((core.desktop_width, core.desktop_height), (1024, 768));
    assert_eq!(core.keyboard_layout, 0x409);
    assert_eq!(core.client_name, "rdp-doctor");
    assert_eq!(core.high_color_depth, Some(24));
    assert_eq!(core.early_capability_flags, Some(0x0021)); // ERRINFO_PDU | VALID_CONNECTION_TYPE
    assert_eq!(core.server_selected_protocol, Some(0));
    let sec = ci.gcc.security.expect("security");
    assert_eq!(sec.encryption_methods, 0x1B);
    assert_eq!(ci.gcc.cluster.map(|c| c.flags), Some(0x0D));
    assert!(ci.gcc.unknown_blocks.is_empty());
}

/// xrdp 0.9.21, `security_layer=tls`, asked for SSL|HYBRID (selected SSL).
/// Captured on loopback (94 bytes):
/// ```text
/// 7F 66 5B                       Connect-Response, length 91
///   0A 01 00                     result rt-successful
///   02 01 00                     calledConnectId 0
///   30 1A 02 01 16 02 01 03 02 01 00 02 01 01 02 01 00 02 01 01 02 03 00 FF F8 02 01 02
///                                domainParameters 22, 3, 0, 1, 0, 1, 65528, 2
///   04 37                        userData, 55 bytes
///     00 05 00 14 7C 00 01       T.124 key
///     2A                         connectPDU length 42 (wrong: 47 bytes follow; clients ignore it)
///     14 76 0A 01 01 00          conferenceCreateResponse, nodeID 0x79F3, tag 1, result 0
///     01 C0 00 4D 63 44 6E       one set, h221NonStandard "McDn"
///     80 20                      user data, 32 bytes
///       01 0C 0C 00 04 00 08 00 03 00 00 00          SC_CORE 0x00080004, requested 3
///       03 0C 08 00 EB 03 00 00                      SC_NET I/O 1003, 0 channels
///       02 0C 0C 00 00 00 00 00 00 00 00 00          SC_SECURITY method 0, level 0
/// ```
#[test]
fn xrdp_tls_connect_response() {
    let r = ServerConnectResponse::decode(XRDP_TLS).expect("decodes");
    assert_eq!(r.result, 0);
    assert_eq!(connect_result_name(r.result), Some("rt-successful"));
    assert_eq!(r.called_connect_id, 0);
    assert_eq!(
        r.domain_parameters,
        DomainParameters {
            max_channel_ids: 22,
            max_user_ids: 3,
            max_token_ids: 0,
            num_priorities: 1,
            min_throughput: 0,
            max_height: 1,
            max_mcs_pdu_size: 65528,
            protocol_version: 2,
        }
    );
    let conf = r.conference.expect("conference");
    assert_eq!((conf.node_id, conf.tag, conf.result), (0x79F3, 1, 0));
    let core = r.gcc.core.expect("core");
    assert_eq!(core.version, 0x0008_0004);
    assert_eq!(rdp_version_name(core.version), Some("RDP 5.0-8.1"));
    assert_eq!(core.client_requested_protocols, Some(3));
    assert_eq!(core.early_capability_flags, None); // xrdp sends a 12-byte SC_CORE
    let sec = r.gcc.security.expect("security");
    assert_eq!((sec.encryption_method, sec.encryption_level), (0, 0));
    assert!(sec.server_random.is_empty() && sec.server_certificate.is_empty());
    let net = r.gcc.network.expect("network");
    assert_eq!(net.io_channel, 1003);
    assert!(net.channel_ids.is_empty());
    assert_eq!(r.gcc.message_channel, None);
    assert_eq!(r.gcc.multitransport_flags, None);
    assert!(r.gcc.unknown_blocks.is_empty());
    // xrdp's connectPDU length byte really is wrong, which is why it is ignored
    assert_eq!(XRDP_TLS[0x2E], 0x2A);
    assert_eq!(XRDP_TLS.len() - 0x2F, 0x2F);
}

/// xrdp 0.9.21, `security_layer=rdp`, `crypt_level=high`, asked for PROTOCOL_RDP.
/// Captured on loopback (514 bytes). The SC_SECURITY block (0x1AC bytes):
/// ```text
/// 02 0C AC 01                    SC_SECURITY, length 428
/// 02 00 00 00                    encryptionMethod 128BIT_ENCRYPTION_FLAG
/// 03 00 00 00                    encryptionLevel ENCRYPTION_LEVEL_HIGH
/// 20 00 00 00 78 01 00 00        serverRandomLen 32, serverCertLen 376
/// F9 61 8C DC ...                serverRandom (32 bytes)
/// 01 00 00 00                    dwVersion CERT_CHAIN_VERSION_1 (proprietary, permanent)
/// 01 00 00 00 01 00 00 00        SIGNATURE_ALG_RSA, KEY_EXCHANGE_ALG_RSA
/// 06 00 1C 01                    BB_RSA_KEY_BLOB, 284 bytes
/// 52 53 41 31 08 01 00 00 00 08 00 00 FF 00 00 00 01 00 01 00
///                                "RSA1", keylen 264, bitlen 2048, datalen 255, e 65537
/// ... 264-byte modulus ...
/// 08 00 48 00 ...                BB_RSA_SIGNATURE_BLOB, 72 bytes
/// ```
#[test]
fn xrdp_standard_security_connect_response() {
    let r = ServerConnectResponse::decode(XRDP_RDP_HIGH).expect("decodes");
    assert_eq!(r.result, 0);
    let core = r.gcc.core.expect("core");
    assert_eq!(core.version, 0x0008_0004);
    assert_eq!(core.client_requested_protocols, Some(0));
    let sec = r.gcc.security.expect("security");
    assert_eq!(sec.encryption_method, encryption_method::BIT_128);
    assert_eq!(
        encryption_method_names(sec.encryption_method),
        ["128BIT_ENCRYPTION_FLAG"]
    );
    assert_eq!(sec.encryption_level, encryption_level::HIGH);
    assert_eq!(
        encryption_level_name(sec.encryption_level),
        Some("ENCRYPTION_LEVEL_HIGH")
    );
    assert_eq!(sec.server_random.len(), 32);
    assert_eq!(&sec.server_random[..4], &[0xF9, 0x61, 0x8C, 0xDC]);
    assert_eq!(sec.server_certificate.len(), 376);
    let cert = ServerCertificate::decode(&sec.server_certificate).expect("certificate");
    assert!(!cert.temporary);
    assert_eq!(cert.rsa_bits(), Some(2048));
    let CertificateKind::Proprietary(p) = &cert.kind else {
        panic!("expected a proprietary certificate, got {cert:?}");
    };
    assert_eq!((p.sig_alg_id, p.key_alg_id), (1, 1));
    assert_eq!(p.public_key.exponent, 65537);
    assert_eq!(p.public_key.data_len, 255);
    assert_eq!(p.public_key.modulus.len(), 264);
    assert_eq!(&p.public_key.modulus[256..], &[0u8; 8]);
    assert_eq!(p.signature.len(), 72);
    // the lab can rebuild the same certificate bytes from the decoded parts
    assert_eq!(cert.encode().expect("encodes"), sec.server_certificate);
    let net = r.gcc.network.expect("network");
    assert_eq!((net.io_channel, net.channel_ids.len()), (1003, 0));
}

/// FreeRDP 2.11 `freerdp-shadow-cli /sec:tls`, asked for SSL|HYBRID (selected SSL).
/// Captured on loopback (97 bytes). User data (36 bytes):
/// ```text
/// 01 0C 10 00 0C 00 08 00 03 00 00 00 00 00 00 00  SC_CORE 0x0008000C, requested 3, early 0
/// 03 0C 08 00 EB 03 00 00                          SC_NET I/O 1003, 0 channels
/// 02 0C 0C 00 00 00 00 00 00 00 00 00              SC_SECURITY method 0, level 0
/// ```
#[test]
fn freerdp_shadow_tls_connect_response() {
    let r = ServerConnectResponse::decode(SHADOW_TLS).expect("decodes");
    assert_eq!(r.result, 0);
    assert_eq!(r.domain_parameters, DomainParameters::SERVER_DEFAULT);
    let core = r.gcc.core.expect("core");
    assert_eq!(core.version, 0x0008_000C);
    assert_eq!(rdp_version_name(core.version), Some("RDP 10.7"));
    assert_eq!(core.client_requested_protocols, Some(3));
    assert_eq!(core.early_capability_flags, Some(0));
    let sec = r.gcc.security.expect("security");
    assert_eq!((sec.encryption_method, sec.encryption_level), (0, 0));
    assert_eq!(
        encryption_level_name(sec.encryption_level),
        Some("ENCRYPTION_LEVEL_NONE")
    );
    let net = r.gcc.network.expect("network");
    assert_eq!((net.io_channel, net.channel_ids), (1003, vec![]));
}

/// The same shadow server, sent the Connect Initial with rdpdr, rdpsnd and cliprdr: one id
/// per channel in request order, and the 2-byte pad after an odd count.
/// `03 0C 10 00 EB 03 03 00 EC 03 ED 03 EE 03 00 00`.
#[test]
fn freerdp_shadow_channel_ids() {
    let r = ServerConnectResponse::decode(SHADOW_TLS_3CH).expect("decodes");
    let net = r.gcc.network.expect("network");
    assert_eq!(net.io_channel, 1003);
    assert_eq!(net.channel_ids, [1004, 1005, 1006]);
}

/// `freerdp-shadow-cli /sec:rdp`, asked for PROTOCOL_RDP: Standard RDP Security is selected
/// but the server answers encryption method 0 / level NONE and no certificate - a plaintext
/// session, which is what a diagnosis must call out.
#[test]
fn freerdp_shadow_rdp_without_encryption() {
    let r = ServerConnectResponse::decode(SHADOW_RDP).expect("decodes");
    let core = r.gcc.core.expect("core");
    assert_eq!(core.client_requested_protocols, Some(0));
    let sec = r.gcc.security.expect("security");
    assert_eq!((sec.encryption_method, sec.encryption_level), (0, 0));
    assert_eq!(encryption_method_names(0), ["ENCRYPTION_METHOD_NONE"]);
    assert!(sec.server_certificate.is_empty());
}

/// Attach User Confirm and Channel Join Confirms captured after the Connect Responses above
/// (the probe sent `04 01 00 01 00` Erect Domain, `28` Attach User, `38 ...` Channel Join
/// for the user channel, then for 1003):
/// xrdp `2E 00 00 01` (user 1002), `3E 00 00 01 03 EA 03 EA`, `3E 00 00 01 03 EB 03 EB`;
/// shadow `2E 00 00 03` (user 1004), `3E 00 00 03 03 EC 03 EC`, `3E 00 00 03 03 EB 03 EB`.
#[test]
fn attach_user_and_channel_join_confirms() {
    assert_eq!(
        mcs::encode_erect_domain_request(),
        [0x04, 0x01, 0x00, 0x01, 0x00]
    );
    assert_eq!(mcs::encode_attach_user_request(), [0x28]);
    for (auc, join_user, join_io, user) in [
        (XRDP_AUC, XRDP_JOIN_USER, XRDP_JOIN_IO, 1002u16),
        (SHADOW_AUC, SHADOW_JOIN_USER, SHADOW_JOIN_IO, 1004),
    ] {
        assert_eq!(
            mcs::decode_domain_pdu(auc),
            Ok(DomainPdu::AttachUserConfirm {
                result: 0,
                initiator: Some(user)
            })
        );
        assert_eq!(
            mcs::decode_domain_pdu(join_user),
            Ok(DomainPdu::ChannelJoinConfirm {
                result: 0,
                initiator: user,
                requested: user,
                channel_id: Some(user),
            })
        );
        assert_eq!(
            mcs::decode_domain_pdu(join_io),
            Ok(DomainPdu::ChannelJoinConfirm {
                result: 0,
                initiator: user,
                requested: 1003,
                channel_id: Some(1003),
            })
        );
        // what the capture script sent is what the encoder produces
        assert_eq!(
            mcs::encode_channel_join_request(user, 1003).expect("encodes")[1..3],
            (user - 1001).to_be_bytes()
        );
    }
}

/// xrdp 0.9.21 (`security_layer=tls`) answers an X.224 Connection Request for PROTOCOL_RDSAAD
/// with an X.224 Data TPDU holding `21 80`: Disconnect Provider Ultimatum, rn-user-requested.
#[test]
fn xrdp_denies_rdsaad_with_a_dpum() {
    assert_eq!(XRDP_RDSAAD_DPUM, [0x21, 0x80]);
    let pdu = mcs::decode_domain_pdu(XRDP_RDSAAD_DPUM).expect("decodes");
    assert_eq!(
        pdu,
        DomainPdu::DisconnectProviderUltimatum {
            reason: DisconnectReason::USER_REQUESTED
        }
    );
    assert_eq!(
        DisconnectReason::USER_REQUESTED.name(),
        Some("rn-user-requested")
    );
    assert_eq!(pdu.encode().expect("encodes"), XRDP_RDSAAD_DPUM);
}

/// Every capture decodes through the dispatcher too, and survives the fuzz oracles.
#[test]
fn captures_through_the_dispatcher_and_oracles() {
    for (name, bytes) in CONNECT_RESPONSES {
        match mcs::decode_domain_pdu(bytes) {
            Ok(DomainPdu::ConnectResponse(r)) => {
                assert_eq!(Ok(*r), ServerConnectResponse::decode(bytes), "{name}")
            }
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(ServerConnectResponse::peek_result(bytes), Ok(0), "{name}");
        mcs::fuzz_server_pdus(bytes);
    }
    for (_, bytes) in DOMAIN_PDUS {
        mcs::fuzz_server_pdus(bytes);
    }
    for bytes in [PROBE_CI_TLS, PROBE_CI_RDP, PROBE_CI_TLS_3CH] {
        mcs::fuzz_client_pdus(bytes);
    }
}

/// Every strict prefix of a real capture is an error, never a panic and never a value.
#[test]
fn every_prefix_of_a_capture_is_an_error() {
    for (name, bytes) in CONNECT_RESPONSES {
        for n in 0..bytes.len() {
            let got = ServerConnectResponse::decode(&bytes[..n]);
            assert!(got.is_err(), "{name}: prefix {n} decoded: {got:?}");
            assert!(mcs::decode_domain_pdu(&bytes[..n]).is_err(), "{name} {n}");
            mcs::fuzz_server_pdus(&bytes[..n]);
        }
    }
    for (name, bytes) in DOMAIN_PDUS {
        for n in 0..bytes.len() {
            assert!(
                mcs::decode_domain_pdu(&bytes[..n]).is_err(),
                "{name}: prefix {n}"
            );
        }
    }
    for bytes in [PROBE_CI_TLS, PROBE_CI_RDP, PROBE_CI_TLS_3CH] {
        for n in 0..bytes.len() {
            assert!(
                ClientConnectInitial::decode(&bytes[..n]).is_err(),
                "prefix {n}"
            );
            mcs::fuzz_client_pdus(&bytes[..n]);
        }
    }
    assert!(matches!(
        ServerConnectResponse::decode(&XRDP_TLS[..40]),
        Err(DecodeError::Truncated { .. })
    ));
}

/// A small deterministic PRNG (xorshift64*) so mutation runs are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(5) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            2 => {
                let i = rng.below(v.len() + 1);
                v.insert(i, rng.next() as u8);
            }
            3 if !v.is_empty() => {
                let i = rng.below(v.len());
                v.remove(i);
            }
            _ if !v.is_empty() => {
                // interesting values at length positions
                let i = rng.below(v.len());
                v[i] = [0x00, 0x7F, 0x80, 0x81, 0x82, 0xFF][rng.below(6)];
            }
            _ => {}
        }
    }
    v
}

/// Random mutations of every capture: decoders return values or errors, the oracles hold.
#[test]
fn mutated_captures_never_panic() {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut decoded = 0usize;
    let all: Vec<&[u8]> = CONNECT_RESPONSES
        .iter()
        .chain(DOMAIN_PDUS.iter())
        .map(|(_, b)| *b)
        .chain([PROBE_CI_TLS, PROBE_CI_RDP, PROBE_CI_TLS_3CH])
        .collect();
    for bytes in all {
        for _ in 0..3000 {
            let m = mutate(&mut rng, bytes);
            if ServerConnectResponse::decode(&m).is_ok() {
                decoded += 1;
            }
            let _ = ClientConnectInitial::decode(&m);
            mcs::fuzz_server_pdus(&m);
            mcs::fuzz_client_pdus(&m);
        }
    }
    // mutations in padding and values keep many responses decodable: the oracle ran on them
    assert!(decoded > 100, "only {decoded} mutated responses decoded");
}

/// Pure garbage of every short length, and a few long runs.
#[test]
fn garbage_never_panics() {
    let mut rng = Rng(42);
    for len in 0..64 {
        for _ in 0..200 {
            let g: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            mcs::fuzz_server_pdus(&g);
            mcs::fuzz_client_pdus(&g);
        }
    }
    for b in [0x00u8, 0x7F, 0xFF, 0x68, 0x30, 0x04] {
        let g = vec![b; 70_000];
        assert!(ServerConnectResponse::decode(&g).is_err());
        assert!(mcs::decode_domain_pdu(&g).is_err());
        mcs::fuzz_server_pdus(&g);
    }
}
