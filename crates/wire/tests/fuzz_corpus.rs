//! Replays the saved fuzz corpus (`fuzz/corpus/<target>/*`) and the crash regressions
//! (`fuzz/regressions/<target>/*`) through the oracles on stable `cargo test`.
#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

use rdp_doctor_wire::{activation, credssp, dns, gateway, kerberos, mcs, ntlm, oracles};
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

/// One test per fuzz target, named after it: replays its corpus and regressions through the
/// oracle and fails when the corpus is missing.
macro_rules! corpus_tests {
    ($($target:ident => $oracle:path,)*) => {$(
        #[test]
        fn $target() {
            let n = replay(stringify!($target), $oracle);
            assert!(n > 0, "no corpus for {}: run fuzz/seed.sh", stringify!($target));
        }
    )*};
}

corpus_tests! {
    x224_confirm => oracles::x224_confirm,
    x224_request => oracles::x224_request,
    tls_flight => oracles::tls_flight,
    sniff => oracles::sniff,
    rdpeudp_datagram => oracles::rdpeudp_datagram,
    ts_request => credssp::fuzz_ts_request,
    ntlm_challenge => ntlm::fuzz_challenge,
    ntlm_authenticate => ntlm::fuzz_authenticate,
    mcs_server => mcs::fuzz_server_pdus,
    mcs_client => mcs::fuzz_client_pdus,
    activation => activation::fuzz_activation,
    gateway_http_response_head => gateway::fuzz::http_response_head,
    gateway_http_request_head => gateway::fuzz::http_request_head,
    gateway_www_authenticate => gateway::fuzz::www_authenticate,
    gateway_chunked => gateway::fuzz::chunked_body,
    gateway_websocket => gateway::fuzz::websocket_frames,
    gateway_tsgu_server_pdus => gateway::fuzz::tsgu_pdus,
    gateway_tsgu_client_pdus => gateway::fuzz::tsgu_pdus,
    kdc_answer => kerberos::fuzz_kdc_answer,
    gss_token => kerberos::fuzz_gss_token,
    dns_response => dns::fuzz_response,
}
