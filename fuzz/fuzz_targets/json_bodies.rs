//! libFuzzer's entry for the `json_bodies` target; what it checks is `sotay_fuzz::targets::json_bodies`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sotay_fuzz::targets::json_bodies(data));
