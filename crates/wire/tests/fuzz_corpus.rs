//! Replays the saved fuzz corpus (`fuzz/corpus/<target>/*`) and the crash regressions
//! (`fuzz/regressions/<target>/*`) through the oracles on stable `cargo test`.
#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::path::Path;

fn replay(target: &str, oracle: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut n = 0;
    for dir in ["corpus", "regressions"] {
        let d = root.join(dir).join(target);
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let data = std::fs::read(e.path()).expect("readable corpus file");
            oracle(&data);
            n += 1;
        }
    }
    n
}

macro_rules! corpus_test {
    ($name:ident, $target:literal, $oracle:path) => {
        #[test]
        fn $name() {
            let n = replay($target, $oracle);
            assert!(n > 0, "no corpus for {}: run fuzz/seed.sh", $target);
        }
    };
}

corpus_test!(
    x224_confirm,
    "x224_confirm",
    rdp_doctor_wire::oracles::x224_confirm
);
corpus_test!(
    x224_request,
    "x224_request",
    rdp_doctor_wire::oracles::x224_request
);
corpus_test!(
    tls_flight,
    "tls_flight",
    rdp_doctor_wire::oracles::tls_flight
);
corpus_test!(sniff, "sniff", rdp_doctor_wire::oracles::sniff);
corpus_test!(
    rdpeudp_datagram,
    "rdpeudp_datagram",
    rdp_doctor_wire::oracles::rdpeudp_datagram
);
corpus_test!(
    ts_request,
    "ts_request",
    rdp_doctor_wire::credssp::fuzz_ts_request
);
corpus_test!(
    ntlm_challenge,
    "ntlm_challenge",
    rdp_doctor_wire::ntlm::fuzz_challenge
);
corpus_test!(
    ntlm_authenticate,
    "ntlm_authenticate",
    rdp_doctor_wire::ntlm::fuzz_authenticate
);
corpus_test!(
    mcs_server,
    "mcs_server",
    rdp_doctor_wire::mcs::fuzz_server_pdus
);
corpus_test!(
    mcs_client,
    "mcs_client",
    rdp_doctor_wire::mcs::fuzz_client_pdus
);
corpus_test!(
    activation,
    "activation",
    rdp_doctor_wire::activation::fuzz_activation
);
corpus_test!(
    gateway_http_response_head,
    "gateway_http_response_head",
    rdp_doctor_wire::gateway::fuzz::http_response_head
);
corpus_test!(
    gateway_http_request_head,
    "gateway_http_request_head",
    rdp_doctor_wire::gateway::fuzz::http_request_head
);
corpus_test!(
    gateway_www_authenticate,
    "gateway_www_authenticate",
    rdp_doctor_wire::gateway::fuzz::www_authenticate
);
corpus_test!(
    gateway_chunked,
    "gateway_chunked",
    rdp_doctor_wire::gateway::fuzz::chunked_body
);
corpus_test!(
    gateway_websocket,
    "gateway_websocket",
    rdp_doctor_wire::gateway::fuzz::websocket_frames
);
corpus_test!(
    gateway_tsgu_server_pdus,
    "gateway_tsgu_server_pdus",
    rdp_doctor_wire::gateway::fuzz::tsgu_pdus
);
corpus_test!(
    gateway_tsgu_client_pdus,
    "gateway_tsgu_client_pdus",
    rdp_doctor_wire::gateway::fuzz::tsgu_pdus
);
corpus_test!(
    kdc_answer,
    "kdc_answer",
    rdp_doctor_wire::kerberos::fuzz_kdc_answer
);
corpus_test!(
    gss_token,
    "gss_token",
    rdp_doctor_wire::kerberos::fuzz_gss_token
);
corpus_test!(
    dns_response,
    "dns_response",
    rdp_doctor_wire::dns::fuzz_response
);
