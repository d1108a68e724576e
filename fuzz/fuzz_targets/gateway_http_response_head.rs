#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rdp_doctor_wire::gateway::fuzz::http_response_head(data));
