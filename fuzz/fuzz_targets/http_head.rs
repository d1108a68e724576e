#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rdp_doctor::fleet::exporter::http::fuzz_parse_head(data));
