#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rdp_doctor::commands::fuzz_rdpfile(data));
