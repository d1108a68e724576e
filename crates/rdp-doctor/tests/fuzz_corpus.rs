//! Replays the saved fuzz corpus of the application's parsers (`fuzz/corpus/<target>/*`) and the
//! crash regressions (`fuzz/regressions/<target>/*`) through their oracles on stable `cargo test`.
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
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for e in entries.flatten() {
            oracle(&std::fs::read(e.path()).expect("readable corpus file"));
            n += 1;
        }
    }
    n
}

macro_rules! corpus_test {
    ($name:ident, $target:literal, $oracle:path) => {
        #[test]
        fn $name() {
            assert!(replay($target, $oracle) > 0, "no corpus for {}", $target);
        }
    };
}

corpus_test!(rdpfile, "rdpfile", rdp_doctor::commands::fuzz_rdpfile);
corpus_test!(
    winevent_json,
    "winevent_json",
    rdp_doctor::evidence::winevent_json::fuzz_winevent_json
);
corpus_test!(
    text_utf8_reader,
    "text_utf8_reader",
    rdp_doctor::text::fuzz_utf8_reader
);
corpus_test!(
    evtx_file,
    "evtx_file",
    rdp_doctor::evidence::evtx::fuzz_evtx
);
corpus_test!(
    evtx_record_json,
    "evtx_record_json",
    rdp_doctor::evidence::evtx::fuzz_record_json
);
corpus_test!(
    http_head,
    "http_head",
    rdp_doctor::fleet::exporter::http::fuzz_parse_head
);
corpus_test!(
    explain_query,
    "explain_query",
    rdp_doctor::explain::fuzz_explain
);
