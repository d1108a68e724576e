#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rdp_doctor::text::fuzz_utf8_reader(data));
