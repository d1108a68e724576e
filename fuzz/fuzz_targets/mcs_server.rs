#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rdp_doctor_wire::mcs::fuzz_server_pdus(data));
