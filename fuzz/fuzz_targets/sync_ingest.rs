//! libFuzzer's entry for the `sync_ingest` target; what it checks is `sotay_fuzz::targets::sync_ingest`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sotay_fuzz::targets::sync_ingest(data));
