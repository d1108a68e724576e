//! MCS ([T.125]) and GCC ([T.124]) as RDP uses them in the Basic Settings Exchange and just
//! after it: the Client MCS Connect Initial with its GCC Conference Create Request and client
//! data blocks ([MS-RDPBCGR] 2.2.1.3), the Server MCS Connect Response with the server data
//! blocks (2.2.1.4), the domain PDUs that follow (Erect Domain, Attach User, Channel Join,
//! Send Data, Disconnect Provider Ultimatum), and the Set Error Info PDU (2.2.5.1.1) a server
//! may send before it disconnects.
//!
//! Both directions are here: the probe encodes a Connect Initial and decodes what the server
//! answers; the lab server decodes the Connect Initial and encodes its answers.
//!
//! The functions work on the MCS PDU, i.e. the user data of an X.224 Data TPDU
//! (see [`crate::x224::decode`] / [`crate::x224::encode_data`] and [`crate::tpkt`]).
//!
//! ```
//! use rdp_doctor_wire::{mcs, tpkt, x224};
//! let ci = mcs::ClientConnectInitial::for_probe(1, "probe");
//! let frame = tpkt::encode(&x224::encode_data(&ci.encode()?))?;
//! assert_eq!(&frame[4..7], &[0x02, 0xF0, 0x80]);
//! # Ok::<(), rdp_doctor_wire::DecodeError>(())
//! ```

mod ber;
mod cert;
mod connect;
mod domain;
mod gcc;
mod names;
mod per;
mod share;

pub use cert::{
    CertificateKind, ProprietaryCertificate, RsaPublicKey, ServerCertificate, CERT_CHAIN_VERSION_1,
    CERT_CHAIN_VERSION_2,
};
pub use connect::{ClientConnectInitial, DomainParameters, ServerConnectResponse};
pub use domain::{
    choice, decode_domain_pdu, encode_attach_user_request, encode_channel_join_request,
    encode_disconnect_provider_ultimatum, encode_erect_domain_request, encode_send_data_indication,
    DisconnectReason, DomainPdu, SendData, BASE_CHANNEL_ID, IO_CHANNEL_ID, SERVER_CHANNEL_ID,
};
pub use gcc::{
    block, cluster, cs_core, encryption_level, encryption_method, sc_core, ChannelDef,
    ClientClusterData, ClientCoreData, ClientGccData, ClientNetworkData, ClientSecurityData,
    ConferenceCreateResponse, ServerCoreData, ServerGccData, ServerNetworkData, ServerSecurityData,
    MAX_BLOCKS, MAX_CHANNELS,
};
pub use names::{
    connect_result_name, encryption_level_name, encryption_method_names, rdp_version_name,
    RDP_VERSION_10_7,
};
pub use share::{
    decode_set_error_info, decode_share_control, decode_share_data, encode_share_data, pdu_type,
    set_error_info_pdu, ShareControlHeader, ShareDataHeader, PDUTYPE2_SET_ERROR_INFO_PDU,
    TS_PROTOCOL_VERSION,
};

/// Fuzz oracle for everything a server can send in the MCS phase. `data` is tried as a
/// Connect Response, as a domain PDU, as a server certificate and as a Set Error Info
/// payload; whatever decodes must re-encode, and the re-encoding must decode to the same
/// value. Never panics unless an invariant is broken.
pub fn fuzz_server_pdus(data: &[u8]) {
    if let Ok(resp) = ServerConnectResponse::decode(data) {
        let bytes = resp.encode();
        assert!(
            bytes.is_ok(),
            "decoded Connect Response must re-encode: {bytes:?}"
        );
        if let Ok(bytes) = bytes {
            assert_eq!(ServerConnectResponse::decode(&bytes), Ok(resp.clone()));
            assert_eq!(ServerConnectResponse::peek_result(&bytes), Ok(resp.result));
        }
        if let Some(sec) = &resp.gcc.security {
            if let Ok(cert) = ServerCertificate::decode(&sec.server_certificate) {
                assert_eq!(
                    cert.encode().map(|b| ServerCertificate::decode(&b)),
                    Ok(Ok(cert))
                );
            }
        }
    }
    fuzz_domain_pdu(data);
    if let Ok(cert) = ServerCertificate::decode(data) {
        let bytes = cert.encode();
        assert!(bytes.is_ok(), "decoded certificate must re-encode");
        if let Ok(bytes) = bytes {
            assert_eq!(ServerCertificate::decode(&bytes), Ok(cert));
        }
    }
    if let Ok((control, header, payload)) = decode_share_data(data) {
        let bytes = encode_share_data(
            header.share_id,
            control.pdu_source,
            header.pdu_type2,
            payload,
        );
        assert!(bytes.is_ok(), "decoded share data PDU must re-encode");
        if let Ok(bytes) = bytes {
            let again = decode_share_data(&bytes);
            assert!(again.is_ok());
            if let Ok((c2, h2, p2)) = again {
                assert_eq!(
                    (c2.pdu_source, h2.share_id, h2.pdu_type2, p2),
                    (
                        control.pdu_source,
                        header.share_id,
                        header.pdu_type2,
                        payload
                    )
                );
            }
        }
    }
    if let Ok(code) = decode_set_error_info(data) {
        // re-wrapped as a whole Send Data Indication, the same code comes back
        let pdu = set_error_info_pdu(code, 0, IO_CHANNEL_ID);
        let got = match decode_domain_pdu(&pdu) {
            Ok(DomainPdu::SendDataIndication(sd)) => decode_set_error_info(&sd.data).ok(),
            _ => None,
        };
        assert_eq!(got, Some(code));
    }
}

/// Fuzz oracle for what a client sends (the lab server's input): Connect Initial and the
/// domain PDUs, with the same re-encode invariant.
pub fn fuzz_client_pdus(data: &[u8]) {
    if let Ok(ci) = ClientConnectInitial::decode(data) {
        let bytes = ci.encode();
        assert!(
            bytes.is_ok(),
            "decoded Connect Initial must re-encode: {bytes:?}"
        );
        if let Ok(bytes) = bytes {
            assert_eq!(ClientConnectInitial::decode(&bytes), Ok(ci));
        }
    }
    fuzz_domain_pdu(data);
}

fn fuzz_domain_pdu(data: &[u8]) {
    if let Ok(pdu) = decode_domain_pdu(data) {
        if matches!(pdu, DomainPdu::Other { .. }) {
            return;
        }
        let bytes = pdu.encode();
        assert!(
            bytes.is_ok(),
            "decoded domain PDU must re-encode: {bytes:?}"
        );
        if let Ok(bytes) = bytes {
            assert_eq!(decode_domain_pdu(&bytes), Ok(pdu));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe_round_trip(selected: u32) {
        let ci = ClientConnectInitial::for_probe(selected, "rdp-doctor")
            .with_channels(&[("rdpdr", 0x8080_0000), ("rdpsnd", 0xC000_0000)]);
        let bytes = ci.encode().expect("encodes");
        assert_eq!(ClientConnectInitial::decode(&bytes), Ok(ci.clone()));
        assert_eq!(
            decode_domain_pdu(&bytes),
            Ok(DomainPdu::ConnectInitial(Box::new(ci)))
        );
        fuzz_client_pdus(&bytes);
    }

    #[test]
    fn probe_connect_initial_round_trips() {
        probe_round_trip(0);
        probe_round_trip(1);
        probe_round_trip(0x0B);
    }

    /// The first bytes of the probe's Connect Initial, field by field (BER, [T.125] 11.1).
    #[test]
    fn probe_connect_initial_layout() {
        let ci = ClientConnectInitial::for_probe(1, "probe");
        let b = ci.encode().expect("encodes");
        assert_eq!(&b[..2], &[0x7F, 0x65]); // APPLICATION 101
        let body_at = if b[2] & 0x80 != 0 {
            3 + usize::from(b[2] & 0x7F)
        } else {
            3
        };
        assert_eq!(
            &b[body_at..body_at + 9],
            &[
                0x04, 0x01, 0x01, // callingDomainSelector 01
                0x04, 0x01, 0x01, // calledDomainSelector 01
                0x01, 0x01, 0xFF, // upwardFlag TRUE
            ]
        );
        // targetParameters: 34, 2, 0, 1, 0, 1, 65535, 2
        assert_eq!(
            &b[body_at + 9..body_at + 37],
            &[
                0x30, 0x1A, 0x02, 0x01, 0x22, 0x02, 0x01, 0x02, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01,
                0x02, 0x01, 0x00, 0x02, 0x01, 0x01, 0x02, 0x03, 0x00, 0xFF, 0xFF, 0x02, 0x01, 0x02
            ]
        );
        // GCC: T.124 key, connectPDU, request choice, "1", one set, "Duca"
        let gcc_at = b
            .windows(7)
            .position(|w| w == [0x00, 0x05, 0x00, 0x14, 0x7C, 0x00, 0x01])
            .expect("T.124 OID present");
        assert_eq!(
            &b[gcc_at + 9..gcc_at + 21],
            &[0x00, 0x08, 0x00, 0x10, 0x00, 0x01, 0xC0, 0x00, b'D', b'u', b'c', b'a']
        );
        // CS_CORE first: 01 C0, length 216 (4 + 212), version 0x0008000C
        let core_at = gcc_at + 23;
        assert_eq!(
            &b[core_at..core_at + 8],
            &[0x01, 0xC0, 0xD8, 0x00, 0x0C, 0x00, 0x08, 0x00]
        );
    }

    #[test]
    fn security_offer_follows_the_protocol() {
        let rdp = ClientConnectInitial::for_probe(0, "x");
        let tls = ClientConnectInitial::for_probe(1, "x");
        assert_eq!(rdp.gcc.security.map(|s| s.encryption_methods), Some(0x1B));
        assert_eq!(tls.gcc.security.map(|s| s.encryption_methods), Some(0));
        let core = tls.gcc.core.expect("core");
        assert_eq!(core.server_selected_protocol, Some(1));
        assert_eq!(
            core.early_capability_flags
                .map(|f| f & cs_core::RNS_UD_CS_SUPPORT_ERRINFO_PDU),
            Some(1)
        );
    }

    #[test]
    fn lab_response_round_trips_both_securities() {
        let tls =
            ServerConnectResponse::for_lab(RDP_VERSION_10_7, 3, ServerSecurityData::external(), 2);
        let bytes = tls.encode().expect("encodes");
        assert_eq!(ServerConnectResponse::decode(&bytes), Ok(tls.clone()));
        fuzz_server_pdus(&bytes);
        let net = tls.gcc.network.expect("network");
        assert_eq!((net.io_channel, net.channel_ids), (1003, vec![1004, 1005]));

        let cert = ServerCertificate {
            temporary: false,
            kind: CertificateKind::Proprietary(ProprietaryCertificate::new(
                &[0x11; 64],
                65537,
                vec![0x22; 72],
            )),
        }
        .encode()
        .expect("encodes");
        let std = ServerConnectResponse::for_lab(
            0x0008_0004,
            0,
            ServerSecurityData::standard(
                encryption_method::BIT_128,
                encryption_level::HIGH,
                vec![0x33; 32],
                cert.clone(),
            ),
            0,
        );
        let bytes = std.encode().expect("encodes");
        let back = ServerConnectResponse::decode(&bytes).expect("decodes");
        assert_eq!(back, std);
        let sec = back.gcc.security.expect("security");
        assert_eq!(sec.server_random, vec![0x33; 32]);
        assert_eq!(
            ServerCertificate::decode(&sec.server_certificate).map(|c| c.rsa_bits()),
            Ok(Some(512))
        );
        fuzz_server_pdus(&bytes);
    }

    #[test]
    fn rejected_response_without_user_data() {
        let r = ServerConnectResponse {
            result: 8,
            called_connect_id: 0,
            domain_parameters: DomainParameters::SERVER_DEFAULT,
            conference: None,
            gcc: ServerGccData::default(),
        };
        let bytes = r.encode().expect("encodes");
        assert_eq!(ServerConnectResponse::decode(&bytes), Ok(r.clone()));
        assert_eq!(ServerConnectResponse::peek_result(&bytes), Ok(8));
        assert_eq!(ServerConnectResponse::peek_result(&bytes[..8]), Ok(8));
        assert_eq!(connect_result_name(8), Some("rt-parameters-unacceptable"));
        // userData left out altogether
        let cut = {
            let mut b = bytes.clone();
            b.truncate(b.len() - 2); // drop `04 00`
            b[2] -= 2;
            b
        };
        assert_eq!(ServerConnectResponse::decode(&cut), Ok(r.clone()));
        // gcc data without a conference cannot be encoded
        let mut bad = r;
        bad.gcc.message_channel = Some(1004);
        assert!(bad.encode().is_err());
    }
}
