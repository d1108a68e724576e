//! Fuzz oracles: library functions the cargo-fuzz targets (`fuzz/`) call, and that `cargo test`
//! replays over the saved corpus (`tests/fuzz_corpus.rs`). Each decodes arbitrary bytes, must
//! never panic, and checks an invariant where one exists (decode -> encode -> decode is stable).
//! A broken invariant panics on purpose: that is how the fuzzer reports it.
#![allow(clippy::panic, clippy::expect_used)]

use crate::cursor::Cursor;
use crate::nego::{NegOutcome, NegRequest};
use crate::{rdpeudp, tls, tpkt, x224};

/// Server bytes where an X.224 Connection Confirm is expected.
pub fn x224_confirm(data: &[u8]) {
    let _ = tpkt::frame_status(data);
    if let Ok((payload, _)) = tpkt::split_frame(data) {
        if let Ok(x224::Tpdu::ConnectionConfirm(cc)) = x224::decode(payload) {
            let again = cc.encode();
            match x224::decode(&again) {
                Ok(x224::Tpdu::ConnectionConfirm(cc2)) => assert_eq!(cc.nego, cc2.nego),
                other => panic!("re-encoded confirm does not decode: {other:?}"),
            }
        }
    }
    let _ = x224::decode(data);
    let _ = NegOutcome::decode(&mut Cursor::new(data));
}

/// Client bytes the lab server parses (Connection Request).
pub fn x224_request(data: &[u8]) {
    if let Ok(x224::Tpdu::ConnectionRequest(cr)) = x224::decode(data) {
        if let Ok(again) = cr.encode() {
            match x224::decode(&again) {
                Ok(x224::Tpdu::ConnectionRequest(cr2)) => {
                    assert_eq!(cr.nego, cr2.nego);
                    assert_eq!(cr.correlation_id, cr2.correlation_id);
                }
                other => panic!("re-encoded request does not decode: {other:?}"),
            }
        }
    }
    let _ = NegRequest::decode(&mut Cursor::new(data));
}

/// A server's TLS handshake bytes.
pub fn tls_flight(data: &[u8]) {
    let f = tls::analyze_server_flight(data);
    assert!(f.complete_record_bytes <= data.len());
    assert!(f.records.len() <= tls::MAX_RECORDS);
}

/// The answer of a listener that is not RDP (banner, HTTP, TLS identification probes).
pub fn sniff(data: &[u8]) {
    use crate::sniff;
    for text in [
        match sniff::banner(data) {
            Some(
                sniff::Banner::Ssh { line }
                | sniff::Banner::Greeting220 { line }
                | sniff::Banner::MailOk { line },
            ) => Some(line),
            Some(sniff::Banner::Vnc { version }) => Some(version),
            None => None,
        },
        sniff::http_answer(data).map(|a| a.status_line),
        sniff::http_answer(data).and_then(|a| a.server),
    ]
    .into_iter()
    .flatten()
    {
        assert!(text.chars().count() <= sniff::MAX_TEXT);
    }
    let _ = sniff::tls_answer(data);
}

/// An RDP-UDP datagram.
pub fn rdpeudp_datagram(data: &[u8]) {
    if let Ok(s) = rdpeudp::Syn::decode(data) {
        let again = s.encode();
        let s2 = rdpeudp::Syn::decode(&again).expect("an encoded SYN decodes");
        assert_eq!(s.initial_sequence_number, s2.initial_sequence_number);
        assert_eq!(s.synex, s2.synex);
    }
}
