//! libFuzzer's entry for the `query_params` target; what it checks is `sotay_fuzz::targets::query_params`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sotay_fuzz::targets::query_params(data));
