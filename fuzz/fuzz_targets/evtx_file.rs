#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rdp_doctor::evidence::evtx::fuzz_evtx(data));
