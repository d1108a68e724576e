#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rdp_doctor_wire::oracles::sniff(data));
