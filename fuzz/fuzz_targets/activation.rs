#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rdp_doctor_wire::activation::fuzz_activation(data));
