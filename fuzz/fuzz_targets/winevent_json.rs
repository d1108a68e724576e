#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rdp_doctor::evidence::winevent_json::fuzz_winevent_json(data));
