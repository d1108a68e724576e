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

/// One test per fuzz target, named after it: replays its corpus and regressions through the
/// oracle and fails when the corpus is missing.
macro_rules! corpus_tests {
    ($($target:ident => $oracle:path,)*) => {$(
        #[test]
        fn $target() {
            let n = replay(stringify!($target), $oracle);
            assert!(n > 0, "no corpus for {}", stringify!($target));
        }
    )*};
}

corpus_tests! {
    rdpfile => rdp_doctor::commands::fuzz_rdpfile,
    winevent_json => rdp_doctor::evidence::winevent_json::fuzz_winevent_json,
    text_utf8_reader => rdp_doctor::text::fuzz_utf8_reader,
    evtx_file => rdp_doctor::evidence::evtx::fuzz_evtx,
    evtx_record_json => rdp_doctor::evidence::evtx::fuzz_record_json,
    http_head => rdp_doctor::fleet::exporter::http::fuzz_parse_head,
    explain_query => rdp_doctor::explain::fuzz_explain,
}
