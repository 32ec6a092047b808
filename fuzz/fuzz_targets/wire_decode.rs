//! libFuzzer's entry for the `wire_decode` target; what it checks is `sotay_fuzz::targets::wire_decode`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sotay_fuzz::targets::wire_decode(data));
